"""Inventory through the API: stock per SKU and location, adjustments with a reason (validated, written to the
ledger, pushed), "push now", the ledger and marketplace-held stock; filters, updated_since, constant queries.

And the issue's "done when", end to end: a partner connects a WooCommerce store, imports its listings, subscribes
to inventory.updated, adjusts stock, and the store receives the new quantity while the partner's own URL receives
the signed event.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import responses
from django.utils import timezone

from apps.catalog.models import Listing
from apps.catalog.services import product_create
from apps.events.models import WebhookDelivery
from apps.events.relay import relay_pending
from apps.events.subscriptions import verify_signature
from apps.inventory.models import MarketplaceStock, StockItem, StockLocation, StockMovement
from apps.inventory.services import stock_adjust
from apps.inventory.tests.stock_fakes import StockFakeConnector, stock_fake_fixture  # noqa: F401  (fixture)
from apps.sandbox import dataset
from tests.api.conftest import assert_error
from tests.api.test_connections import connect
from tests.factories import make_connection, make_org, make_shg

INVENTORY = "/api/v1/inventory/"
ADJUST = "/api/v1/inventory/adjust/"


@pytest.fixture
def stock(partner, stock_fake):
    shg = partner["shg"]
    variants = list(product_create(shg=shg, title="Pickles", variants=[
        {"sku": "MANGO-1", "price": "120"}, {"sku": "LIME-1", "price": "110"}]).variants.order_by("sku"))
    lime, mango = variants
    fake = make_connection(shg, platform="stockfake")
    Listing.objects.bulk_create([Listing(variant=v, connection=fake, shg=shg, state=Listing.State.LIVE) for v in variants])
    stock_adjust(variant=mango, kind="receipt", delta=10)
    return {"mango": mango, "lime": lime, "fake": fake}


def test_read_on_hand_reserved_available_per_sku_and_location(api, partner, stock):
    store_room = StockLocation.objects.create(shg=partner["shg"], name="Store room")
    stock_adjust(variant=stock["mango"], kind="receipt", delta=4, location=store_room)
    StockItem.objects.filter(location=store_room).update(reserved=1)
    rows = api.get(INVENTORY, {"sku": "MANGO-1"}).json()["results"]
    assert [(r["location"]["name"], r["on_hand"], r["reserved"], r["available"]) for r in rows] == \
        [("Main store", 10, 0, 10), ("Store room", 4, 1, 3)]
    assert rows[0]["shg"] == partner["shg"].pk and rows[0]["variant"] == stock["mango"].pk
    assert [r["sku"] for r in api.get(INVENTORY, {"available_below": 5}).json()["results"]] == ["MANGO-1"]
    assert api.get(INVENTORY, {"location": store_room.pk}).json()["results"][0]["on_hand"] == 4


def test_adjust_writes_the_ledger_and_pushes(api, stock, django_capture_on_commit_callbacks):
    StockFakeConnector.stock_calls.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(ADJUST, {"variant": stock["mango"].pk, "count": 7, "reason": "monthly count"},
                            format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["sku"], body["on_hand"], body["available"]) == ("MANGO-1", 7, 7)
    movement = StockMovement.objects.filter(kind="adjustment").get()
    assert (movement.on_hand_delta, movement.on_hand_after, movement.reason) == (-3, 7, "monthly count")
    assert [(u.sku, u.quantity) for _c, updates in StockFakeConnector.stock_calls for u in updates] == [("MANGO-1", 7)]
    ledger = api.get("/api/v1/stock-movements/", {"item": body["id"]}).json()["results"]
    assert [(m["kind"], m["on_hand_delta"], m["reason"]) for m in ledger] == [("adjustment", -3, "monthly count"),
                                                                              ("receipt", 10, "")]
    assert len(api.get("/api/v1/stock-movements/", {"kind": "receipt"}).json()["results"]) == 1


def test_adjust_errors_name_each_field_and_change_nothing(api, partner, stock):
    mango = stock["mango"].pk
    assert_error(api.post(ADJUST, {"variant": mango, "delta": -2}, format="json"), 400, {"reason"})
    assert_error(api.post(ADJUST, {"variant": mango, "reason": "x"}, format="json"), 400, {"delta"})
    assert_error(api.post(ADJUST, {"variant": mango, "delta": 1, "count": 3, "reason": "x"}, format="json"), 400,
                 {"count"})
    assert_error(api.post(ADJUST, {"variant": mango, "kind": "receipt", "delta": 0}, format="json"), 400, {"delta"})
    assert_error(api.post(ADJUST, {"variant": mango, "kind": "shipment", "delta": 1}, format="json"), 400, {"kind"})
    assert_error(api.post(ADJUST, {"variant": mango, "delta": -11, "reason": "lost"}, format="json"), 400)
    other_shg = make_shg(make_org("Else"))
    theirs = product_create(shg=other_shg, title="Theirs", variants=[{"sku": "T-1"}]).variants.get()
    assert_error(api.post(ADJUST, {"variant": theirs.pk, "kind": "receipt", "delta": 5}, format="json"), 400,
                 {"variant"})
    their_room = StockLocation.objects.create(shg=other_shg, name="Theirs")
    assert_error(api.post(ADJUST, {"variant": mango, "kind": "receipt", "delta": 5, "location": their_room.pk},
                          format="json"), 400, {"location"})
    served_room = StockLocation.objects.create(shg=partner["served"], name="Served SHG's room")
    assert_error(api.post(ADJUST, {"variant": mango, "kind": "receipt", "delta": 5, "location": served_room.pk},
                          format="json"), 400, {"location"})
    assert StockMovement.objects.count() == 1 and StockItem.objects.get(variant_id=mango).on_hand == 10


def test_count_below_reserved_is_refused(api, stock):
    StockItem.objects.filter(variant=stock["mango"]).update(reserved=6)
    body = assert_error(api.post(ADJUST, {"variant": stock["mango"].pk, "count": 5, "reason": "count"},
                                 format="json"), 400, {"count"})
    assert "reserved" in body["errors"][0]["message"]


def test_push_now(api, stock, django_capture_on_commit_callbacks):
    StockFakeConnector.stock_calls.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/inventory/push/", {}, format="json")
    assert response.status_code == 202 and response.json() == {"listings": 2}
    pushed = sorted((u.sku, u.quantity) for _c, updates in StockFakeConnector.stock_calls for u in updates)
    assert pushed == [("LIME-1", 0), ("MANGO-1", 10)]
    response = api.post("/api/v1/inventory/push/", {"variants": [stock["lime"].pk],
                                                    "connections": [stock["fake"].pk]}, format="json")
    assert response.json() == {"listings": 1}
    theirs = make_connection(make_shg(make_org("Else")), platform="stockfake")
    assert_error(api.post("/api/v1/inventory/push/", {"connections": [theirs.pk]}, format="json"), 400,
                 {"connections"})


def test_updated_since_and_constant_queries(api, partner, stock, django_assert_max_num_queries):
    variants = product_create(shg=partner["shg"], title="Many", variants=[{"sku": f"M-{n}"} for n in range(24)])
    for variant in variants.variants.all():
        stock_adjust(variant=variant, kind="receipt", delta=1)
    StockItem.objects.update(updated_at=timezone.now() - timedelta(days=1))
    seen, url = 0, f"{INVENTORY}?page_size=10"
    while url:
        with django_assert_max_num_queries(4):  # token, its last use, the page (variant and location joined)
            body = api.get(url).json()
        seen += len(body["results"])
        url = body["next"]
    assert seen == 25
    since = (timezone.now() - timedelta(minutes=1)).isoformat()
    assert api.get(INVENTORY, {"updated_since": since}).json()["results"] == []
    stock_adjust(variant=stock["mango"], kind="receipt", delta=1)
    assert [r["sku"] for r in api.get(INVENTORY, {"updated_since": since}).json()["results"]] == ["MANGO-1"]
    with django_assert_max_num_queries(4):
        assert len(api.get("/api/v1/stock-movements/", {"page_size": 50}).json()["results"]) == 26


def test_marketplace_stock_is_read_apart(api, partner, stock):
    amazon = make_connection(partner["shg"], platform="amazon")
    MarketplaceStock.objects.create(connection=amazon, variant=stock["mango"], sku="MANGO-1", quantity=40,
                                    fetched_at=timezone.now())
    rows = api.get("/api/v1/marketplace-stock/").json()["results"]
    assert [(r["sku"], r["quantity"], r["connection"]) for r in rows] == [("MANGO-1", 40, amazon.pk)]
    # Never added to the SHG's own count.
    assert api.get(INVENTORY, {"sku": "MANGO-1"}).json()["results"][0]["on_hand"] == 10


def test_oversold_lines_are_listed_and_a_receipt_resolves_them(api, partner, stock, django_assert_max_num_queries):
    from apps.integrations.tests.sync_fakes import make_order
    from apps.orders.services import upsert_orders

    other = make_connection(partner["shg"], platform="stockfake")
    upsert_orders(connection=stock["fake"], orders=[make_order("A-1", lines=[("A-1-1", "MANGO-1", 8, "120.00")])])
    upsert_orders(connection=other, orders=[make_order(f"B-{n}", lines=[(f"B-{n}-1", "MANGO-1", 3, "120.00")])
                                            for n in range(3)])
    with django_assert_max_num_queries(4):
        rows = api.get("/api/v1/oversold-lines/", {"sku": "MANGO-1"}).json()["results"]
    assert sorted((r["reserved"], r["oversold"], r["connection"]) for r in rows) == \
        [(0, 3, other.pk), (0, 3, other.pk), (2, 1, other.pk)]  # 10 on hand: A-1 holds 8, B-0 the last 2
    response = api.post(ADJUST, {"variant": stock["mango"].pk, "kind": "receipt", "delta": 6}, format="json")
    assert (response.json()["on_hand"], response.json()["reserved"]) == (16, 16)
    rows = api.get("/api/v1/oversold-lines/").json()["results"]
    assert [(r["reserved"], r["oversold"]) for r in rows] == [(2, 1)]  # the newest order is the one still short


PARTNER_URL = "https://partner.example.org/haat"


@responses.activate
def test_done_when_partner_adjusts_stock_and_receives_the_signed_event(api, partner, woo,
                                                                      django_capture_on_commit_callbacks):
    responses.add(responses.POST, PARTNER_URL, body="ok", status=200)
    connection_id = connect(api, partner, woo).json()["id"]
    imported = api.post(f"/api/v1/connections/{connection_id}/import-listings/")
    assert imported.status_code == 200 and imported.json()["listings"] > 0, imported.content
    store = {row.data["sku"]: row.data for row in dataset.objects(woo["account"], "product")}
    listing = next(row for row in api.get("/api/v1/listings/", {"connection": connection_id, "page_size": 200})
                   .json()["results"] if row["sku"] in store and store[row["sku"]].get("type", "simple") == "simple")
    created = api.post("/api/v1/webhook-subscriptions/", {"url": PARTNER_URL, "event_types": ["inventory.updated"]},
                       format="json").json()

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(ADJUST, {"variant": listing["variant"], "kind": "receipt", "delta": 7}, format="json")
    assert response.status_code == 200, response.content
    store = {row.data["sku"]: row.data for row in dataset.objects(woo["account"], "product")}
    assert store[listing["sku"]]["quantity"] == 7  # the store got the new quantity through the real connector
    assert api.get(f"/api/v1/listings/{listing['id']}/").json()["last_pushed_quantity"] == 7

    with django_capture_on_commit_callbacks(execute=True):
        relay_pending()  # the worker's scheduled relay: outbox -> partner deliveries -> signed POSTs
    calls = [call for call in responses.calls if call.request.url == PARTNER_URL]
    assert len(calls) == 1, [c.request.url for c in responses.calls]
    request = calls[0].request
    envelope = json.loads(request.body)
    assert envelope["type"] == "inventory.updated"
    assert envelope["payload"]["sku"] == listing["sku"] and envelope["payload"]["available"] == 7, envelope
    assert verify_signature(secret=created["secret"], timestamp=request.headers["X-Haat-Timestamp"], body=request.body,
                            signature=request.headers["X-Haat-Signature"])
    assert not verify_signature(secret="whsec_wrong", timestamp=request.headers["X-Haat-Timestamp"], body=request.body,
                                signature=request.headers["X-Haat-Signature"])
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.DELIVERED


def test_import_listings_of_a_connection_with_an_unusable_stored_address_is_a_409_not_a_500(api, partner):
    connection = make_connection(partner["shg"], platform="woocommerce", config={})  # no store_url kept
    response = api.post(f"/api/v1/connections/{connection.pk}/import-listings/")
    body = assert_error(response, 409)
    assert "stored address is not usable" in body["detail"] and "connect it again" in body["detail"]
