"""Reads of orders, always scoped by tenancy, with keyset ("cursor") pagination for long lists.

Offset pagination gets slower the deeper one goes and shifts when new orders arrive; a cursor of the
last row's (placed_at, id) reads an index range and is stable.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch, Q, QuerySet

from apps.accounts.selectors import Principal, editable_shg_ids, scope_by_shg
from apps.orders.models import Fulfilment, Order, OrderLine

PAGE_SIZE = 50


class BadCursor(ValueError):
    pass


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
    raw = f"{order.placed_at.isoformat()}|{order.pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, pk = raw.partition("|")
        placed_at = datetime.fromisoformat(stamp)
        if placed_at.tzinfo is None:
            raise ValueError
        return placed_at, int(pk)
    except (ValueError, UnicodeDecodeError):
        raise BadCursor("This page link is not valid.") from None


def order_page(queryset: QuerySet[Order], *, cursor: str | None, size: int = PAGE_SIZE) -> OrderPage:
    """One page of an ordered (-placed_at, -id) queryset after `cursor`; raises BadCursor."""
    if cursor:
        placed_at, pk = decode_cursor(cursor)
        # The redundant `placed_at <= x` gives the planner an index range; the OR alone makes it scan.
        queryset = queryset.filter(Q(placed_at__lt=placed_at) | Q(placed_at=placed_at, id__lt=pk), placed_at__lte=placed_at)
    rows = list(queryset[: size + 1])
    next_cursor = encode_cursor(rows[size - 1]) if len(rows) > size else None
    return OrderPage(orders=rows[:size], next_cursor=next_cursor)


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
