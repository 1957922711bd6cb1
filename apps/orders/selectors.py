"""Reads of orders, always scoped by tenancy, with keyset ("cursor") pagination for long lists.

Pages are keyset pages on (placed_at, id) (apps.core.keyset).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet

from apps.accounts.selectors import Principal, editable_shg_ids, scope_by_shg
from apps.core import keyset
from apps.core.keyset import BadCursor  # noqa: F401  (the views catch it from here)
from apps.orders.models import Fulfilment, Order, OrderLine

PAGE_SIZE = 50


@dataclass
class OrderPage:
    orders: list[Order]
    next_cursor: str | None


def orders_for(principal: Principal) -> QuerySet[Order]:
    return scope_by_shg(Order.objects.all(), principal)


def order_list(*, principal: Principal, queryset: QuerySet[Order] | None = None) -> QuerySet[Order]:
    base = queryset if queryset is not None else orders_for(principal)
    # Lists never show the platform's raw document nor use the connection's keys: not read, not decrypted.
    return (base.select_related("connection", "shg").defer("raw", "connection__credentials")
            .order_by("-placed_at", "-id"))


def encode_cursor(order: Order) -> str:
    return keyset.encode_cursor(order.placed_at, order.pk)


def order_page(queryset: QuerySet[Order], *, cursor: str | None, size: int = PAGE_SIZE) -> OrderPage:
    """One page of an ordered (-placed_at, -id) queryset after `cursor`; raises BadCursor."""
    rows, next_cursor = keyset.keyset_page(queryset, field="placed_at", cursor=cursor, size=size)
    return OrderPage(orders=rows, next_cursor=next_cursor)


def order_detail(*, principal: Principal, pk: int) -> Order:
    """The order with its lines and fulfilments if the principal may see it; raises Order.DoesNotExist."""
    return (orders_for(principal)
            .select_related("connection", "shg")
            .prefetch_related(Prefetch("lines", queryset=OrderLine.objects.select_related("variant", "variant__product")),
                              "fulfilments")
            .get(pk=pk))


def fulfilment_for(*, principal: Principal, pk: int) -> Fulfilment:
    return scope_by_shg(Fulfilment.objects.select_related("order", "order__connection"), principal,
                        shg_field="order__shg").get(pk=pk)


def can_edit_order(user, order: Order) -> bool:
    return order.shg_id in editable_shg_ids(user)
