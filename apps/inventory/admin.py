from django.contrib import admin

from apps.inventory.models import MarketplaceStock, StockItem, StockLocation, StockMovement, StockReservation


@admin.register(StockLocation)
class StockLocationAdmin(admin.ModelAdmin):
    list_display = ["name", "shg", "is_default"]
    list_filter = ["is_default"]
    search_fields = ["name", "shg__name"]


class MovementInline(admin.TabularInline):
    model = StockMovement
    extra = 0
    can_delete = False
    fields = ["created_at", "kind", "on_hand_delta", "reserved_delta", "on_hand_after", "reserved_after", "reason",
              "order_line_id"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False  # the ledger is written by services only


@admin.register(StockItem)
class StockItemAdmin(admin.ModelAdmin):
    list_display = ["variant", "location", "on_hand", "reserved", "available", "updated_at"]
    search_fields = ["variant__sku"]
    list_select_related = ["variant", "location"]
    readonly_fields = ["variant", "location", "on_hand", "reserved"]
    inlines = [MovementInline]

    def has_add_permission(self, request):
        return False


@admin.register(StockMovement)
class StockMovementAdmin(admin.ModelAdmin):
    list_display = ["created_at", "item", "kind", "on_hand_delta", "reserved_delta", "reason"]
    list_filter = ["kind"]
    search_fields = ["item__variant__sku", "reason"]
    list_select_related = ["item"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(StockReservation)
class StockReservationAdmin(admin.ModelAdmin):
    list_display = ["order", "item", "quantity", "oversold", "state", "updated_at"]
    list_filter = ["state"]
    search_fields = ["order__external_id", "item__variant__sku"]
    list_select_related = ["order", "item"]
    readonly_fields = ["order", "order_line", "item", "quantity", "oversold", "state"]


@admin.register(MarketplaceStock)
class MarketplaceStockAdmin(admin.ModelAdmin):
    list_display = ["sku", "connection", "quantity", "fetched_at"]
    search_fields = ["sku"]
    list_select_related = ["connection"]
