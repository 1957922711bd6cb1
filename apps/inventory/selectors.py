"""Reads of stock for the pages and the API: items with totals, oversold lines, marketplace-held stock."""

from django.db.models import QuerySet

from apps.accounts.selectors import Principal, scope_by_shg
from apps.inventory.models import MarketplaceStock, StockItem, StockMovement, StockReservation


def stock_items(*, principal: Principal) -> QuerySet[StockItem]:
    return (scope_by_shg(StockItem.objects.all(), principal, "variant__shg")
            .select_related("variant", "variant__product", "location").order_by("variant__sku", "location__name"))


def oversold_reservations(*, principal: Principal) -> QuerySet[StockReservation]:
    """Order lines the stock could not cover: the coordinator decides (restock, cancel on the channel)."""
    return (scope_by_shg(StockReservation.objects.filter(oversold__gt=0, state=StockReservation.State.ACTIVE),
                         principal, "order__shg")
            .select_related("order", "order__connection", "item__variant").order_by("-created_at"))


def marketplace_stock(*, principal: Principal) -> QuerySet[MarketplaceStock]:
    return scope_by_shg(MarketplaceStock.objects.all(), principal, "connection__shg").select_related("connection", "variant")


def movements(*, principal: Principal, item_id: int) -> QuerySet[StockMovement]:
    return scope_by_shg(StockMovement.objects.filter(item_id=item_id), principal, "item__variant__shg")


def stock_item_list(*, principal: Principal) -> QuerySet[StockItem]:
    """Stock items for the partner API: variant and location joined, no product (one query a page)."""
    return scope_by_shg(StockItem.objects.all(), principal, "variant__shg").select_related("variant", "location")
