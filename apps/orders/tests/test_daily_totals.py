"""The overview's daily totals: upsert_orders adds each page's changes (one statement whatever the page size),
always equal to a rebuild from the orders; local days in the project's time zone; the nightly heal."""

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.integrations.connectors.base import OrderStatus
from apps.integrations.tests.sync_fakes import make_order
from apps.orders.models import DailyOrderTotal, Order
from apps.orders.services import daily_totals_rebuild, local_day, upsert_orders
from tests.factories import make_connection, make_shg

pytestmark = pytest.mark.django_db

IST = ZoneInfo("Asia/Kolkata")


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=IST)


D1, D2 = date(2026, 11, 20), date(2026, 11, 21)


@pytest.fixture
def connection():
    return make_connection(make_shg(), platform="fakeshop")


def order(external_id: str, placed_at: datetime, total: str, *, status=OrderStatus.UNSHIPPED, currency="INR",
          updated_at: datetime | None = None):
    return replace(make_order(external_id, placed_at=placed_at, updated_at=updated_at or placed_at + timedelta(hours=1),
                              total=total, status=status), currency=currency)


def totals(connection) -> dict[tuple[date, str], tuple[int, Decimal]]:
    """(orders, revenue) per day and currency, leaving out rows a change brought back to nothing."""
    return {(t.day, t.currency): (t.orders, t.revenue)
            for t in DailyOrderTotal.objects.filter(connection=connection) if t.orders or t.revenue or t.to_ship}


def to_ship(connection) -> dict[date, int]:
    return {t.day: t.to_ship for t in DailyOrderTotal.objects.filter(connection=connection) if t.to_ship}


def test_new_orders_are_counted_on_their_local_day_per_currency(connection):
    upsert_orders(connection=connection, orders=[
        order("A", at(D1, 10), "100.00"), order("B", at(D1, 23, 59), "50.50"),
        # 00:30 in India is still the 20th in UTC: it belongs to the 21st.
        order("C", at(D2, 0, 30), "10.00"), order("D", at(D2, 9), "7.00", currency="USD"),
    ])
    assert totals(connection) == {(D1, "INR"): (2, Decimal("150.50")), (D2, "INR"): (1, Decimal("10.00")),
                                  (D2, "USD"): (1, Decimal("7.00"))}
    assert DailyOrderTotal.objects.filter(connection=connection).values_list("shg_id", flat=True).distinct().get() \
        == connection.shg_id


def test_a_cancelled_order_leaves_the_totals_and_a_returned_one_keeps_its_count_only(connection):
    upsert_orders(connection=connection, orders=[order("A", at(D1), "100.00"), order("B", at(D1), "40.00")])
    later = at(D1, 20)
    upsert_orders(connection=connection, orders=[
        order("A", at(D1), "100.00", status=OrderStatus.CANCELLED, updated_at=later),
        order("B", at(D1), "40.00", status=OrderStatus.RETURNED, updated_at=later),
    ])
    assert totals(connection) == {(D1, "INR"): (1, Decimal("0"))}


def test_a_day_with_only_cancelled_orders_adds_up_to_nothing(connection):
    upsert_orders(connection=connection, orders=[order("A", at(D1), "100.00")])
    assert to_ship(connection) == {D1: 1}
    upsert_orders(connection=connection, orders=[order("A", at(D1), "100.00", status=OrderStatus.CANCELLED,
                                                       updated_at=at(D1, 20))])
    assert totals(connection) == {} and to_ship(connection) == {}


def test_shipping_an_order_takes_it_off_the_days_to_ship(connection):
    upsert_orders(connection=connection, orders=[order("A", at(D1), "100.00"), order("B", at(D2), "5.00")])
    upsert_orders(connection=connection, orders=[order("A", at(D1), "100.00", status=OrderStatus.SHIPPED,
                                                       updated_at=at(D1, 20))])
    assert to_ship(connection) == {D2: 1}
    assert totals(connection)[(D1, "INR")] == (1, Decimal("100.00"))


def test_an_order_moved_to_another_day_leaves_its_old_day(connection):
    upsert_orders(connection=connection, orders=[order("A", at(D1), "100.00"), order("B", at(D1), "5.00")])
    upsert_orders(connection=connection, orders=[order("A", at(D2), "120.00", updated_at=at(D2, 20))])
    assert totals(connection) == {(D1, "INR"): (1, Decimal("5.00")), (D2, "INR"): (1, Decimal("120.00"))}


def test_unchanged_and_stale_orders_leave_the_totals_alone(connection):
    upsert_orders(connection=connection, orders=[order("A", at(D1), "100.00", updated_at=at(D1, 20))])
    before = totals(connection)
    with CaptureQueriesContext(db_connection) as captured:  # nothing is written or recomputed
        upsert_orders(connection=connection, orders=[order("A", at(D1), "100.00", updated_at=at(D1, 20))])
    assert not [q for q in captured.captured_queries if "daily" in q["sql"].lower()]
    upsert_orders(connection=connection, orders=[order("A", at(D1), "999.00", updated_at=at(D1, 13))])  # older
    assert totals(connection) == before


def test_totals_of_other_connections_are_untouched(connection):
    other = make_connection(connection.shg, platform="fakeshop", external_account_id="other-store")
    upsert_orders(connection=other, orders=[order("X", at(D1), "1.00")])
    upsert_orders(connection=connection, orders=[order("A", at(D1), "100.00")])
    assert totals(other) == {(D1, "INR"): (1, Decimal("1.00"))}


def test_a_backfill_over_months_equals_a_rebuild(connection):
    """Pages spanning more than one aggregation span (31 days), days with several currencies and statuses."""
    start = date(2026, 6, 1)
    statuses = [OrderStatus.UNSHIPPED, OrderStatus.DELIVERED, OrderStatus.CANCELLED, OrderStatus.RETURNED]
    orders = [order(f"O-{n}", at(start + timedelta(days=(n * 7) % 150), hour=n % 24), f"{n}.25",
                    status=statuses[n % 4], currency="USD" if n % 5 == 0 else "INR") for n in range(120)]
    for first in range(0, 120, 40):
        upsert_orders(connection=connection, orders=orders[first:first + 40])
    kept = totals(connection)
    assert len({day for day, _currency in kept}) > 31
    assert sum(n for n, _revenue in kept.values()) == 90  # every order but the 30 cancelled
    daily_totals_rebuild(connection_ids=[connection.pk])
    assert totals(connection) == kept


def test_rebuild_matches_the_orders_table(connection):
    Order.objects.bulk_create([
        Order(connection=connection, shg_id=connection.shg_id, external_id=f"B-{n}", placed_at=at(D1, n),
              currency="INR", total=Decimal("10.00"), status=Order.Status.SHIPPED) for n in range(5)
    ])
    DailyOrderTotal.objects.create(connection=connection, shg_id=connection.shg_id, day=D2, currency="INR", orders=9,
                                   revenue=Decimal("1"))  # a row no order supports: the rebuild drops it
    assert daily_totals_rebuild() == 1
    assert totals(connection) == {(D1, "INR"): (5, Decimal("50.00"))}


def test_the_management_command_rebuilds_one_connection(connection):
    other = make_connection(connection.shg, platform="fakeshop", external_account_id="other-store")
    for target in (connection, other):
        Order.objects.create(connection=target, shg_id=target.shg_id, external_id="B-1", placed_at=at(D1),
                             currency="INR", total=Decimal("10.00"))
    out = StringIO()
    call_command("rebuild_daily_totals", "--connection", str(connection.pk), stdout=out)
    assert "1 daily totals written" in out.getvalue()
    assert totals(connection) == {(D1, "INR"): (1, Decimal("10.00"))}
    assert totals(other) == {}


def test_a_page_changes_the_totals_in_one_statement_for_5_and_200_orders(connection):
    other = make_connection(connection.shg, platform="fakeshop", external_account_id="other-store")
    for target, n in ((connection, 5), (other, 200)):
        with CaptureQueriesContext(db_connection) as captured:
            upsert_orders(connection=target, orders=[order(f"O-{i}", at(D1 + timedelta(days=i % 3), i % 24), "1.00")
                                                     for i in range(n)])
        assert len([q for q in captured.captured_queries if "daily" in q["sql"].lower()]) == 1
        assert sum(n for n, _revenue in totals(target).values()) == n


def test_concurrent_looking_pages_add_up(connection):
    """Two pages adding to the same day (as a webhook and a sync do) both count: the database adds."""
    upsert_orders(connection=connection, orders=[order("A", at(D1, 9), "10.00")])
    upsert_orders(connection=connection, orders=[order("B", at(D1, 10), "20.00")])
    assert totals(connection) == {(D1, "INR"): (2, Decimal("30.00"))}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_pages_written_at_the_same_instant_both_count():
    """Eight pages of one connection and day committed concurrently (webhooks during a sync): the database adds
    each page's change, so none is lost. Needs real concurrent connections (PostgreSQL)."""
    import threading

    from django.db import connections

    if db_connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL")
    target = make_connection(make_shg(), platform="fakeshop")
    barrier = threading.Barrier(8)
    errors = []

    def worker(n: int):
        try:
            pages = [order(f"P{n}-{i}", at(D1, 9 + i), "2.50") for i in range(5)]
            barrier.wait()
            upsert_orders(connection=target, orders=pages)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert totals(target) == {(D1, "INR"): (40, Decimal("100.00"))}
    assert to_ship(target) == {D1: 40}


def test_the_nightly_heal_recomputes_recent_days_only(connection, settings):
    from apps.orders.tasks import daily_totals_heal

    today = local_day(timezone.now())
    Order.objects.create(connection=connection, shg_id=connection.shg_id, external_id="X-1",
                         placed_at=timezone.now(), currency="INR", total=Decimal("12.00"))  # around upsert_orders
    DailyOrderTotal.objects.create(connection=connection, shg_id=connection.shg_id, day=today - timedelta(days=10),
                                   currency="INR", orders=4, revenue=Decimal("9"))  # old: left alone
    assert daily_totals_heal() == 1
    assert totals(connection) == {(today, "INR"): (1, Decimal("12.00")),
                                  (today - timedelta(days=10), "INR"): (4, Decimal("9.00"))}


def test_local_day_uses_the_project_time_zone(settings):
    instant = datetime(2026, 11, 20, 19, 0, tzinfo=ZoneInfo("UTC"))
    assert local_day(instant) == date(2026, 11, 21)  # 00:30 in India
    settings.TIME_ZONE = "America/New_York"
    assert local_day(instant) == date(2026, 11, 20)
