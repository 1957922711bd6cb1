"""Marketplace-held stock (Amazon FBA) read from the FBA inventory API, shown apart and never pushed; oversold
order lines resolved by later stock (a receipt, a count up, a cancellation), oldest order first."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from apps.catalog.models import Listing
from apps.catalog.services import listings_import_from_channel, product_create
from apps.events.models import Event
from apps.integrations.connectors.base import OrderStatus
from apps.integrations.tests.sync_fakes import make_order
from apps.inventory.models import MarketplaceStock, StockItem, StockReservation
from apps.inventory.services import available_by_variant, marketplace_stock_refresh, stock_adjust, stock_audit
from apps.inventory.tests.stock_fakes import StockFakeConnector, stock_fake_fixture  # noqa: F401  (fixture)
from apps.orders.services import upsert_orders
from apps.sandbox import dataset
from apps.sandbox.platforms import amazon as amazon_sandbox
from tests.factories import make_connection, make_shg

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()


# --- Amazon FBA --------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("sandbox_http")
def test_fba_stock_is_read_from_amazon_shown_apart_and_never_pushed(sandbox_base, stock_fake,
                                                                     django_capture_on_commit_callbacks):
    account = amazon_sandbox.create_demo_account("A2HAATFBATEST", "FBA test seller")
    account.settings["marketplace_fulfilment"] = True
    account.save(update_fields=["settings"])
    dataset.ensure_seeded(account)
    shg = make_shg()
    amazon = make_connection(shg, platform="amazon", external_account_id=account.account_id,
                             credentials=amazon_sandbox.connection_credentials(account),
                             config=amazon_sandbox.connection_config(account, sandbox_base))
    listings_import_from_channel(connection=amazon)
    expected = {}
    for row in dataset.objects(account, "product"):
        quantities = amazon_sandbox.fba_quantities(account, row.key)
        if quantities is not None:
            expected[row.key] = quantities["fulfillable"]
    assert expected, "the sandbox seller has FBA SKUs"

    assert marketplace_stock_refresh(connection=amazon) == len(expected)
    stored = {row.sku: row for row in MarketplaceStock.objects.filter(connection=amazon).select_related("variant")}
    assert {sku: row.quantity for sku, row in stored.items()} == expected
    assert all(row.variant is not None and row.variant.sku == sku for sku, row in stored.items())

    # Apart: the SHG's own count knows nothing of it, and the FBA offer is never given a quantity.
    sku = next(iter(expected))
    variant = stored[sku].variant
    fba_listing = Listing.objects.get(connection=amazon, variant=variant)
    fba_listing.fulfilled_by_marketplace = True
    fba_listing.save()
    other = make_connection(shg, platform="stockfake")
    Listing.objects.create(variant=variant, connection=other, shg=shg, state=Listing.State.LIVE)
    with django_capture_on_commit_callbacks(execute=True):
        stock_adjust(variant=variant, kind="receipt", delta=3)
    assert available_by_variant(variant_ids={variant.pk})[variant.pk]["on_hand"] == 3
    fba_listing.refresh_from_db()
    assert not fba_listing.stock_dirty and fba_listing.last_pushed_at is None
    assert [(u.sku, u.quantity) for _c, updates in StockFakeConnector.stock_calls for u in updates] == [(sku, 3)]

    # A refresh replaces the snapshot: a SKU Amazon no longer holds disappears.
    MarketplaceStock.objects.create(connection=amazon, sku="GONE-1", quantity=9, fetched_at=stored[sku].fetched_at)
    marketplace_stock_refresh(connection=amazon)
    assert not MarketplaceStock.objects.filter(sku="GONE-1").exists()


def test_a_channel_without_fba_refuses_the_refresh(stock_fake):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="does not report"):
        marketplace_stock_refresh(connection=make_connection(make_shg(), platform="stockfake"))


# --- oversold lines -----------------------------------------------------------------------------------------------


@pytest.fixture
def shop(stock_fake):
    shg = make_shg()
    variant = product_create(shg=shg, title="Terracotta lamp", variants=[{"sku": "LAMP-1", "price": "300"}]).variants.get()
    channels = [make_connection(shg, platform="stockfake") for _ in range(2)]
    Listing.objects.bulk_create([Listing(variant=variant, connection=c, shg=shg, state=Listing.State.LIVE)
                                 for c in channels])
    return variant, channels


def lamp_order(eid: str, qty: int, status=OrderStatus.UNSHIPPED):
    return make_order(eid, status=status, lines=[(f"{eid}-1", "LAMP-1", qty, "300.00")])


def reservation(eid: str) -> StockReservation:
    return StockReservation.objects.get(order__external_id=eid)


def test_a_receipt_lets_oversold_lines_reserve_oldest_first(shop, django_capture_on_commit_callbacks):
    variant, (amazon, flipkart) = shop
    stock_adjust(variant=variant, kind="receipt", delta=1)
    upsert_orders(connection=amazon, orders=[lamp_order("A-1", 1)])
    upsert_orders(connection=flipkart, orders=[lamp_order("F-1", 2)])
    upsert_orders(connection=amazon, orders=[lamp_order("A-2", 1)])
    assert [(reservation(e).quantity, reservation(e).oversold) for e in ("A-1", "F-1", "A-2")] == [(1, 0), (0, 2), (0, 1)]

    events_before = Event.objects.filter(type="inventory.updated").count()
    StockFakeConnector.stock_calls.clear()
    with django_capture_on_commit_callbacks(execute=True):
        item = stock_adjust(variant=variant, kind="receipt", delta=2)
    # The older order (F-1) takes both units; A-2, newer, is still short.
    assert [(reservation(e).quantity, reservation(e).oversold) for e in ("F-1", "A-2")] == [(2, 0), (0, 1)]
    assert (item.on_hand, item.reserved) == (3, 3)
    assert Event.objects.filter(type="inventory.updated").count() == events_before + 1  # one change, one event
    assert {u.quantity for _c, updates in StockFakeConnector.stock_calls for u in updates} == {0}

    with django_capture_on_commit_callbacks(execute=True):
        stock_adjust(variant=variant, count=6, reason="found a carton")
    assert (reservation("A-2").quantity, reservation("A-2").oversold) == (1, 0)
    assert available_by_variant(variant_ids={variant.pk})[variant.pk] == {"on_hand": 6, "reserved": 4, "available": 2}
    assert not StockReservation.objects.filter(oversold__gt=0).exists()
    assert stock_audit(item=StockItem.objects.get(variant=variant))["ok"]


def test_a_cancellation_gives_its_units_to_an_oversold_line(shop):
    variant, (amazon, flipkart) = shop
    stock_adjust(variant=variant, kind="receipt", delta=2)
    upsert_orders(connection=amazon, orders=[lamp_order("A-1", 2)])
    upsert_orders(connection=flipkart, orders=[lamp_order("F-1", 1)])
    assert reservation("F-1").oversold == 1
    upsert_orders(connection=amazon, orders=[lamp_order("A-1", 2, status=OrderStatus.CANCELLED)])
    assert reservation("A-1").state == StockReservation.State.RELEASED
    assert (reservation("F-1").quantity, reservation("F-1").oversold) == (1, 0)
    assert available_by_variant(variant_ids={variant.pk})[variant.pk] == {"on_hand": 2, "reserved": 1, "available": 1}
    assert stock_audit(item=StockItem.objects.get(variant=variant))["ok"]
