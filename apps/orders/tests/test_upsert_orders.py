"""orders.services.upsert_orders: bulk, idempotent, fixed query count, writes only what changed, events in
the same transaction."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection as db_connection
from django.db import transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.catalog.models import Variant
from apps.catalog.services import product_create
from apps.events.models import Event
from apps.integrations.connectors.base import OrderStatus
from apps.integrations.tests.sync_fakes import make_order
from apps.orders.models import Order, OrderLine
from apps.orders.services import InvalidOrderData, orderlines_map_variants, upsert_orders
from tests.factories import make_connection, make_shg

pytestmark = pytest.mark.django_db


@pytest.fixture
def connection():
    return make_connection(make_shg(), platform="fakeshop")


BASE = timezone.now() - timedelta(days=1)


def page(n: int, *, start: int = 0, base=BASE, **kwargs):
    return [make_order(f"O-{i}", updated_at=base + timedelta(seconds=i),
                       lines=[(f"O-{i}-1", "SKU-A", 1, "100.00"), (f"O-{i}-2", "SKU-B", 2, "50.00"),
                              (f"O-{i}-3", "SKU-C", 3, "10.00")], **kwargs)
            for i in range(start, start + n)]


def writes(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]


def test_creates_orders_lines_and_events(connection):
    result = upsert_orders(connection=connection, orders=page(3))
    assert (result.created, result.updated, result.unchanged) == (3, 0, 0)
    assert Order.objects.filter(connection=connection).count() == 3
    order = Order.objects.get(external_id="O-1")
    assert order.shg_id == connection.shg_id and order.status == "unshipped" and order.total == Decimal("230.00")
    assert order.raw["marketplace_id"] == "FAKE-IN" and order.shipping_address["city"] == "Pune"
    assert order.remote_updated_at is not None and order.content_hash
    assert sorted(order.lines.values_list("external_id", "sku", "quantity")) == [
        ("O-1-1", "SKU-A", 1), ("O-1-2", "SKU-B", 2), ("O-1-3", "SKU-C", 3)]
    events = Event.objects.filter(type="order.created")
    assert events.count() == 3
    payload = events.get(payload__external_id="O-1").payload
    assert payload["order_id"] == order.pk and payload["lines"][0]["sku"] == "SKU-A"
    assert "buyer_name" not in payload and "shipping_address" not in payload  # personal data stays behind the API


def prepared(conn, size: int, kind: str):
    """The page to measure: new orders, changed copies of stored ones, or unchanged copies."""
    orders = page(size)
    if kind == "create":
        return orders
    upsert_orders(connection=conn, orders=orders)
    if kind == "unchanged":
        return page(size)
    later = timezone.now()
    return [make_order(o.external_id, updated_at=later, status=OrderStatus.SHIPPED,
                       lines=[(o.lines[0].external_id, "SKU-A", 5, "100.00"), (f"{o.external_id}-new", "SKU-D", 1, "1.00")])
            for o in orders]


@pytest.mark.parametrize("kind", ["create", "update", "unchanged"])
def test_query_count_of_a_page_is_the_same_for_10_and_500_orders(connection, django_assert_num_queries, kind):
    small_page = prepared(connection, 10, kind)
    with CaptureQueriesContext(db_connection) as captured:
        upsert_orders(connection=connection, orders=small_page)
    other = make_connection(connection.shg, platform="fakeshop")
    large_page = prepared(other, 500, kind)
    with django_assert_num_queries(len(captured)):
        result = upsert_orders(connection=other, orders=large_page)
    assert {"create": result.created, "update": result.updated, "unchanged": result.unchanged}[kind] == 500
    if kind == "unchanged":
        assert len(captured) == 3, "an unchanged page is one read (inside its savepoint)"


def test_reupserting_unchanged_orders_writes_nothing(connection):
    orders = page(20)
    upsert_orders(connection=connection, orders=orders)
    stamps = dict(Order.objects.values_list("external_id", "updated_at"))
    events = Event.objects.count()
    with CaptureQueriesContext(db_connection) as captured:
        result = upsert_orders(connection=connection, orders=page(20))
    assert (result.created, result.updated, result.unchanged) == (0, 0, 20)
    assert writes(captured) == []
    assert dict(Order.objects.values_list("external_id", "updated_at")) == stamps
    assert Event.objects.count() == events


def test_a_changed_order_updates_only_that_order(connection):
    upsert_orders(connection=connection, orders=page(5))
    stamps = dict(Order.objects.values_list("external_id", "updated_at"))
    changed = page(5)
    changed[2] = make_order("O-2", updated_at=timezone.now(), status=OrderStatus.SHIPPED,
                            lines=[("O-2-1", "SKU-A", 1, "100.00"), ("O-2-2", "SKU-B", 2, "50.00"),
                                   ("O-2-3", "SKU-C", 3, "10.00")])
    result = upsert_orders(connection=connection, orders=changed)
    assert (result.created, result.updated, result.unchanged) == (0, 1, 4)
    after = dict(Order.objects.values_list("external_id", "updated_at"))
    assert [eid for eid in after if after[eid] != stamps[eid]] == ["O-2"]
    assert Order.objects.get(external_id="O-2").status == "shipped"
    event = Event.objects.get(type="order.updated")
    assert event.payload["previous_status"] == "unshipped" and event.payload["status"] == "shipped"
    assert not Event.objects.filter(type="order.cancelled").exists()


def test_cancellation_emits_order_cancelled(connection):
    upsert_orders(connection=connection, orders=page(2))
    upsert_orders(connection=connection, orders=[make_order("O-1", updated_at=timezone.now(),
                                                            status=OrderStatus.CANCELLED)])
    cancelled = Event.objects.get(type="order.cancelled")
    assert cancelled.payload["external_id"] == "O-1" and cancelled.payload["previous_status"] == "unshipped"
    # Seen again, still cancelled: no second cancellation.
    upsert_orders(connection=connection, orders=[make_order("O-1", updated_at=timezone.now() + timedelta(seconds=1),
                                                            status=OrderStatus.CANCELLED, buyer="Changed")])
    assert Event.objects.filter(type="order.cancelled").count() == 1


def test_lines_are_replaced_keeping_the_ids_of_lines_that_stay(connection):
    upsert_orders(connection=connection, orders=[make_order("X", lines=[("L1", "SKU-A", 1, "10.00"),
                                                                         ("L2", "SKU-B", 1, "20.00"),
                                                                         ("L3", "SKU-C", 1, "30.00")])])
    ids = dict(OrderLine.objects.values_list("external_id", "id"))
    result = upsert_orders(connection=connection, orders=[make_order(
        "X", updated_at=timezone.now() + timedelta(minutes=1),
        lines=[("L1", "SKU-A", 1, "10.00"), ("L2", "SKU-B", 4, "20.00"), ("L4", "SKU-D", 2, "5.00")])])
    assert result.updated == 1
    lines = {ln.external_id: ln for ln in OrderLine.objects.filter(order__external_id="X")}
    assert set(lines) == {"L1", "L2", "L4"}
    assert lines["L1"].id == ids["L1"] and lines["L2"].id == ids["L2"]
    assert lines["L2"].quantity == 4 and lines["L4"].sku == "SKU-D"


def test_an_older_copy_never_overwrites_a_newer_one(connection):
    now = timezone.now()
    upsert_orders(connection=connection, orders=[make_order("S", updated_at=now, status=OrderStatus.SHIPPED)])
    result = upsert_orders(connection=connection, orders=[make_order("S", updated_at=now - timedelta(minutes=5),
                                                                     status=OrderStatus.UNSHIPPED)])
    assert (result.updated, result.stale) == (0, 1)
    assert Order.objects.get(external_id="S").status == "shipped"


def test_an_order_listed_twice_in_a_page_is_stored_once_as_its_newest_copy(connection):
    now = timezone.now()
    result = upsert_orders(connection=connection, orders=[
        make_order("D", updated_at=now, status=OrderStatus.SHIPPED),
        make_order("D", updated_at=now - timedelta(minutes=1), status=OrderStatus.UNSHIPPED),
    ])
    assert result.created == 1
    assert Order.objects.get(external_id="D").status == "shipped"


def test_same_external_id_on_two_connections_are_two_orders(connection):
    other = make_connection(connection.shg, platform="fakeshop")
    upsert_orders(connection=connection, orders=page(1))
    upsert_orders(connection=other, orders=page(1))
    assert Order.objects.filter(external_id="O-0").count() == 2


def test_lines_map_to_variants_by_sku_of_the_same_shg(connection):
    product_create(shg=connection.shg, title="Saree", variants=[{"sku": "SKU-A", "price": Decimal("100")}])
    product_create(shg=make_shg(), title="Elsewhere", variants=[{"sku": "SKU-B", "price": Decimal("50")}])
    upsert_orders(connection=connection, orders=page(1))
    lines = {ln.sku: ln.variant_id for ln in OrderLine.objects.all()}
    assert lines["SKU-A"] == Variant.objects.get(shg=connection.shg, sku="SKU-A").pk
    assert lines["SKU-B"] is None and lines["SKU-C"] is None
    product_create(shg=connection.shg, title="Stole", variants=[{"sku": "SKU-C"}])
    assert orderlines_map_variants(shg_id=connection.shg_id) == 1
    assert OrderLine.objects.get(sku="SKU-C").variant.sku == "SKU-C"


def test_events_roll_back_with_the_orders(connection):
    with pytest.raises(RuntimeError), transaction.atomic():
        upsert_orders(connection=connection, orders=page(3))
        assert Event.objects.count() == 3
        raise RuntimeError("the page's transaction fails after the upsert")
    assert Order.objects.count() == 0 and Event.objects.count() == 0


def test_invalid_orders_are_named_and_nothing_is_written(connection):
    good = page(2)
    bad = make_order("BAD")
    bad.currency = "rupees"
    bad.lines[0].quantity = -1
    naive = make_order("NAIVE")
    naive.updated_at = naive.updated_at.replace(tzinfo=None)
    with pytest.raises(InvalidOrderData) as info:
        upsert_orders(connection=connection, orders=[*good, bad, naive])
    message = str(info.value)
    assert "order BAD: currency" in message and "quantity" in message and "order NAIVE: updated_at" in message
    assert Order.objects.count() == 0 and OrderLine.objects.count() == 0 and Event.objects.count() == 0


def test_an_empty_page_reads_nothing(connection, django_assert_num_queries):
    with django_assert_num_queries(2):  # the savepoint and its release
        assert upsert_orders(connection=connection, orders=[]).written == 0
