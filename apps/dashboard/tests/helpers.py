"""Hand-made orders for the dashboard tests: exact amounts at exact local times, written in one bulk insert."""

from datetime import datetime
from decimal import Decimal
from itertools import count
from zoneinfo import ZoneInfo

from apps.orders.models import Order
from apps.orders.services import daily_totals_rebuild

IST = ZoneInfo("Asia/Kolkata")
_ids = count(1)


def at(day: int, hour: int = 12, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=IST)


def order(connection, placed_at: datetime, total: str, *, status: str = Order.Status.UNSHIPPED, currency: str = "INR",
          channel: str = Order.Channel.MERCHANT) -> Order:
    n = next(_ids)
    return Order(connection=connection, shg_id=connection.shg_id, external_id=f"T-{n}", number=f"#{n}", status=status,
                 placed_at=placed_at, currency=currency, total=Decimal(total), fulfilment_channel=channel)


def add(*orders: Order) -> list[Order]:
    """Insert the orders and bring the overview's daily totals up to date, as `upsert_orders` would."""
    created = Order.objects.bulk_create(orders)
    daily_totals_rebuild(connection_ids={o.connection_id for o in orders})
    return created
