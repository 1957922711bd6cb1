"""Reservations on order arrival, release, shipment, oversell flagging, the ledger audit and propagation."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError

from apps.catalog.models import Listing
from apps.catalog.services import product_create
from apps.events.models import Event
from apps.integrations.connectors.base import FulfilmentChannel, OrderStatus
from apps.integrations.tests.sync_fakes import make_order
from apps.inventory.models import StockItem, StockMovement, StockReservation
from apps.inventory.services import available_by_variant, push_quantity, stock_adjust, stock_audit
from apps.inventory.tests.stock_fakes import StockFakeConnector, stock_fake_fixture  # noqa: F401  (fixture)
from apps.orders.services import upsert_orders
from tests.factories import make_connection, make_shg

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()


@pytest.fixture
def shop(stock_fake):
    shg = make_shg()
    variant = product_create(shg=shg, title="Madhubani saree", variants=[{"sku": "SAREE-1", "price": "900"}]).variants.get()
    channels = [make_connection(shg, platform="stockfake") for _ in range(3)]
    Listing.objects.bulk_create([Listing(variant=variant, connection=c, shg=shg, state=Listing.State.LIVE,
                                         external_refs={"id": f"ext-{c.pk}"}) for c in channels])
    return shg, variant, channels


def order(eid: str, qty: int = 1, status: OrderStatus = OrderStatus.UNSHIPPED, **kwargs):
    return make_order(eid, status=status, lines=[(f"{eid}-1", "SAREE-1", qty, "900.00")], **kwargs)


def test_order_reserves_and_pushes_to_the_other_channels(shop, django_capture_on_commit_callbacks):
    _shg, variant, (origin, other1, other2) = shop
    stock_adjust(variant=variant, kind=StockMovement.Kind.RECEIPT, delta=5, reason="first batch")
    StockFake = StockFakeConnector
    StockFake.stock_calls.clear()
    with django_capture_on_commit_callbacks(execute=True):
        upsert_orders(connection=origin, orders=[order("A-1", qty=2)])
    assert available_by_variant(variant_ids={variant.pk})[variant.pk] == {"on_hand": 5, "reserved": 2, "available": 3}
    pushed = {cid: [(u.sku, u.quantity, u.external_refs["id"]) for u in updates] for cid, updates in StockFake.stock_calls}
    assert pushed == {str(other1.pk): [("SAREE-1", 3, f"ext-{other1.pk}")],
                      str(other2.pk): [("SAREE-1", 3, f"ext-{other2.pk}")]}  # not the origin: it sold the units itself
    listing = Listing.objects.get(connection=other1)
    assert listing.last_pushed_quantity == 3 and not listing.stock_dirty and listing.last_error == ""
    event = Event.objects.filter(type="inventory.updated").latest("occurred_at")
    assert event.payload["available"] == 3 and event.connection_id == origin.pk


def test_buffer_and_maximum_per_channel(shop, django_capture_on_commit_callbacks):
    _shg, variant, (a, b, c) = shop
    Listing.objects.filter(connection=b).update(stock_buffer=2)
    c.config = {"stock_max": 4}
    c.save()
    StockFake = StockFakeConnector
    with django_capture_on_commit_callbacks(execute=True):
        stock_adjust(variant=variant, kind=StockMovement.Kind.RECEIPT, delta=10)
    quantities = {cid: updates[0].quantity for cid, updates in StockFake.stock_calls}
    assert quantities == {str(a.pk): 10, str(b.pk): 8, str(c.pk): 4}
    assert push_quantity(available=1, buffer=2, maximum=None) == 0


def test_pushes_coalesce_to_the_latest_value(shop, django_capture_on_commit_callbacks, monkeypatch):
    _shg, variant, (origin, other1, other2) = shop
    queued = []
    monkeypatch.setattr("apps.inventory.tasks.async_task", lambda func, *args, **kw: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        stock_adjust(variant=variant, kind=StockMovement.Kind.RECEIPT, delta=3)
    with django_capture_on_commit_callbacks(execute=True):
        upsert_orders(connection=origin, orders=[order("A-1"), order("A-2")])
    with django_capture_on_commit_callbacks(execute=True):
        upsert_orders(connection=origin, orders=[order("A-3")])
    # Three changes, but one queued push per channel: the flag and the cache key coalesce them.
    assert sorted(queued) == sorted([(origin.pk,), (other1.pk,), (other2.pk,)])
    from apps.inventory.tasks import push_stock_for_connection

    StockFake = StockFakeConnector
    assert push_stock_for_connection(other1.pk) == {"pushed": 1, "failed": 0}
    assert [(u.sku, u.quantity) for _cid, updates in StockFake.stock_calls for u in updates] == [("SAREE-1", 0)]
    assert push_stock_for_connection(other1.pk) == {"pushed": 0, "failed": 0}  # nothing dirty any more


def test_cancel_releases_and_ship_consumes(shop):
    _shg, variant, (origin, *_rest) = shop
    stock_adjust(variant=variant, kind=StockMovement.Kind.RECEIPT, delta=4)
    upsert_orders(connection=origin, orders=[order("A-1", qty=1), order("A-2", qty=2)])
    item = StockItem.objects.get(variant=variant)
    assert (item.on_hand, item.reserved) == (4, 3)
    upsert_orders(connection=origin, orders=[order("A-1", qty=1, status=OrderStatus.CANCELLED)])
    upsert_orders(connection=origin, orders=[order("A-2", qty=2, status=OrderStatus.SHIPPED)])
    item.refresh_from_db()
    assert (item.on_hand, item.reserved) == (2, 0)
    assert sorted(StockReservation.objects.values_list("state", flat=True)) == ["released", "shipped"]
    # Replaying the same pages changes nothing: idempotent.
    upsert_orders(connection=origin, orders=[order("A-2", qty=2, status=OrderStatus.SHIPPED)])
    item.refresh_from_db()
    assert (item.on_hand, item.reserved) == (2, 0)
    kinds = list(item.movements.order_by("id").values_list("kind", "on_hand_delta", "reserved_delta"))
    assert kinds[0] == ("receipt", 4, 0) and kinds[3:] == [("release", 0, -1), ("shipment", -2, -2)]
    assert sorted(kinds[1:3]) == [("reservation", 0, 1), ("reservation", 0, 2)]
    assert stock_audit(item=item) == {"on_hand": 2, "reserved": 0, "ok": True}


def test_last_unit_reserved_once_the_other_line_flagged_oversold(shop):
    _shg, variant, (a, b, _c) = shop
    stock_adjust(variant=variant, kind=StockMovement.Kind.RECEIPT, delta=1)
    upsert_orders(connection=a, orders=[order("A-1")])
    upsert_orders(connection=b, orders=[order("B-1", qty=2)])
    item = StockItem.objects.get(variant=variant)
    assert (item.on_hand, item.reserved) == (1, 1)
    flagged = StockReservation.objects.get(order__external_id="B-1")
    assert (flagged.quantity, flagged.oversold) == (0, 2)
    # Stock arrives; the next update of the order reserves what it can.
    stock_adjust(variant=variant, kind=StockMovement.Kind.RECEIPT, delta=1)
    upsert_orders(connection=b, orders=[order("B-1", qty=2, total="1801.00")])
    flagged.refresh_from_db()
    assert (flagged.quantity, flagged.oversold) == (1, 1)


def test_marketplace_fulfilled_orders_do_not_touch_stock(shop):
    _shg, variant, (a, *_rest) = shop
    stock_adjust(variant=variant, kind=StockMovement.Kind.RECEIPT, delta=2)
    upsert_orders(connection=a, orders=[order("FBA-1", channel=FulfilmentChannel.MARKETPLACE)])
    assert StockItem.objects.get(variant=variant).reserved == 0


def test_removed_line_releases_its_reservation(shop):
    _shg, variant, (a, *_rest) = shop
    stock_adjust(variant=variant, kind=StockMovement.Kind.RECEIPT, delta=3)
    upsert_orders(connection=a, orders=[make_order("A-1", lines=[("L1", "SAREE-1", 2, "900.00")])])
    upsert_orders(connection=a, orders=[make_order("A-1", lines=[("L2", "SAREE-1", 1, "900.00")])])
    item = StockItem.objects.get(variant=variant)
    assert item.reserved == 1 and stock_audit(item=item)["ok"]


def test_adjustments_need_a_reason_and_never_go_below_reserved(shop):
    _shg, variant, (a, *_rest) = shop
    with pytest.raises(ValidationError, match="reason"):
        stock_adjust(variant=variant, delta=-1)
    stock_adjust(variant=variant, kind=StockMovement.Kind.RECEIPT, delta=2)
    upsert_orders(connection=a, orders=[order("A-1", qty=2)])
    with pytest.raises(ValidationError, match="reserved"):
        stock_adjust(variant=variant, count=1, reason="count")
    stock_adjust(variant=variant, count=5, reason="stock take")
    item = StockItem.objects.get(variant=variant)
    assert (item.on_hand, item.reserved) == (5, 2)
    assert item.movements.get(kind="adjustment").reason == "stock take"


def test_reservation_queries_do_not_grow_with_the_page(stock_fake, django_assert_max_num_queries):
    from django.db import connection as db_connection
    from django.test.utils import CaptureQueriesContext

    shg = make_shg()
    skus = [f"SKU-{i}" for i in range(30)]
    product_create(shg=shg, title="Many", variants=[{"sku": sku} for sku in skus])
    for variant in shg.variants.all():
        stock_adjust(variant=variant, kind=StockMovement.Kind.RECEIPT, delta=5)
    a, b = make_connection(shg, platform="stockfake"), make_connection(shg, platform="stockfake")

    def orders(prefix, n):
        return [make_order(f"{prefix}-{i}", lines=[(f"{prefix}-{i}-{j}", skus[(i + j) % 30], 1, "10.00") for j in range(3)])
                for i in range(n)]

    with CaptureQueriesContext(db_connection) as small:
        upsert_orders(connection=a, orders=orders("A", 3))
    with django_assert_max_num_queries(len(small.captured_queries)):
        # 20 orders (60 lines) stay inside one SQLite insert batch; beyond that Django splits bulk inserts by
        # SQLite's parameter limit (one statement per ~100 rows), never per row.
        upsert_orders(connection=b, orders=orders("B", 20))
    assert StockReservation.objects.count() == 69
