import json

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from apps.orders.models import Fulfilment, Order, OrderLine
from apps.orders.services import fulfilment_retry


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    fields = ["external_id", "sku", "title", "quantity", "unit_price", "variant"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class FulfilmentInline(admin.TabularInline):
    model = Fulfilment
    extra = 0
    fields = ["carrier", "tracking_number", "shipped_at", "push_state", "attempts", "last_error"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """Orders are the platforms' records, written by the sync: staff read them here, they do not edit them."""

    list_display = ["display_number", "connection", "shg", "status", "raw_status", "total", "currency", "placed_at",
                    "fulfilment_channel"]
    list_filter = ["status", "fulfilment_channel", "connection__platform", "shg"]
    search_fields = ["external_id", "number", "buyer_name", "lines__sku"]
    date_hierarchy = "placed_at"
    list_select_related = ["connection", "shg"]
    readonly_fields = ["connection", "shg", "external_id", "number", "status", "raw_status", "placed_at",
                       "remote_updated_at", "currency", "total", "buyer_name", "shipping_address",
                       "fulfilment_channel", "pretty_raw", "content_hash", "created_at", "updated_at"]
    exclude = ["raw"]
    inlines = [OrderLineInline, FulfilmentInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="raw")
    def pretty_raw(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.raw, indent=2, ensure_ascii=False))


@admin.register(Fulfilment)
class FulfilmentAdmin(admin.ModelAdmin):
    list_display = ["order", "carrier", "tracking_number", "shipped_at", "push_state", "attempts", "next_attempt_at",
                    "pushed_at"]
    list_filter = ["push_state", "order__connection__platform"]
    search_fields = ["tracking_number", "order__external_id", "order__number"]
    list_select_related = ["order", "order__connection"]
    # Read-only: tracking is added on the order page (merchant-fulfilled only) and pushed by its task.
    readonly_fields = [field.name for field in Fulfilment._meta.fields]
    actions = ["retry_push"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Retry the push to the channel")
    def retry_push(self, request, queryset):
        done = 0
        for fulfilment in queryset.select_related("order"):
            try:
                fulfilment_retry(fulfilment=fulfilment)
                done += 1
            except ValidationError as exc:
                self.message_user(request, f"{fulfilment}: {' '.join(exc.messages)}", level=messages.WARNING)
        self.message_user(request, f"{done} push(es) queued again.")
