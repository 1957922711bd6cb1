import json

from django.contrib import admin
from django.utils.html import format_html

import apps.events.admin_webhooks  # noqa: F401  (registers the partner webhook admins)
from apps.events.models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """Events are facts: staff read them and may queue one for redelivery, never edit them."""

    list_display = ["type", "occurred_at", "shg", "connection", "schema_version", "dispatched_at", "attempts"]
    list_filter = ["type", ("dispatched_at", admin.EmptyFieldListFilter), "schema_version"]
    search_fields = ["id", "type", "shg__name"]
    date_hierarchy = "occurred_at"
    list_select_related = ["shg", "connection"]
    readonly_fields = ["id", "type", "occurred_at", "shg", "connection", "schema_version", "pretty_payload",
                       "dispatched_at", "attempts", "last_error"]
    exclude = ["payload"]
    actions = ["redeliver"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="payload")
    def pretty_payload(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, ensure_ascii=False))

    @admin.action(description="Queue for redelivery")
    def redeliver(self, request, queryset):
        count = queryset.exclude(dispatched_at=None).update(dispatched_at=None, attempts=0, last_error="")
        self.message_user(request, f"{count} event(s) queued for redelivery.")
