"""The WooCommerce connector against the in-process sandbox store: the shared contract, then what is WooCommerce's
own (keyset paging while orders change, API keys that cannot expire but can be deleted, batches, the Shipment
Tracking extension, webhooks signed per subscription)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests
from django.utils import timezone

from apps.integrations import services
from apps.integrations.connectors.base import (
    ConnectionContext,
    FulfilmentData,
    FulfilmentLine,
    ListingDraft,
    OrderStatus,
    PriceUpdate,
    StockUpdate,
)
from apps.integrations.connectors.errors import AuthError, NotSupported, PermanentError
from apps.integrations.connectors.woocommerce import WooCommerceConnector, normalize_store_url
from apps.integrations.models import Connection
from apps.integrations.tests.contract import ConnectorContract, collect_orders, collect_products
from apps.sandbox import dataset
from apps.sandbox.http import clear_forced_faults, force_faults
from apps.sandbox.platforms import woocommerce as store
from tests.factories import make_org, make_shg

WRONG_SECRET = "cs_" + "0" * 40
CALLBACK = "http://testserver/webhooks/woocommerce/5f0c7a52-7c07-4a38-8f3c-2c2b5d1f0e11/"


def connector_for(account, base: str, *, page_size: int = 25, **credentials) -> WooCommerceConnector:
    context = ConnectionContext(connection_id=f"test-{account.account_id}",
                                credentials={**store.connection_credentials(account), **credentials},
                                config={**store.connection_config(account, base), "page_size": page_size})
    return WooCommerceConnector(context)


class TestWooCommerceConnectorContract(ConnectorContract):
    platform = "woocommerce"

    def make_account(self):
        return store.create_demo_account("contract-store", "Contract Store")

    def make_connector(self, account, base, *, bad_credentials=False):
        extra = {"consumer_secret": WRONG_SECRET} if bad_credentials else {}
        return connector_for(account, base, page_size=self.page_size, **extra)

    def expected_status(self, neutral):
        # WooCommerce core has no "delivered": a shop marks an order completed when it ships and Woo never
        # learns of the delivery, so a delivered order reads "completed" -> shipped. (A store with a plugin
        # that registers `delivered` reads as delivered: see test_delivered_status_of_a_plugin.)
        if neutral["status"] == "delivered":
            return OrderStatus.SHIPPED
        return OrderStatus(neutral["status"])


@pytest.fixture
def account(db):
    account = store.create_demo_account("shg-store", "SHG Store")
    yield account
    clear_forced_faults()


@pytest.fixture
def woo(account, sandbox_http, sandbox_base):
    return connector_for(account, sandbox_base, page_size=10)


def truth(account) -> dict[str, dict]:
    return {row.key: row.data for row in dataset.objects(account, "order")}


def products(account) -> dict[str, dict]:
    return {row.key: row.data for row in dataset.objects(account, "product")}


# --- orders: keyset paging -----------------------------------------------------------------------------------------


def test_paging_loses_nothing_when_orders_change_between_pages(account, woo):
    since = timezone.now() - timedelta(days=40)
    before = set(truth(account))
    first = woo.fetch_orders(since=since)
    assert len(first.items) == 10 and first.next_cursor
    # While Haat reads, the shop edits two orders it already returned and one it has not reached yet.
    seen = [o.external_id for o in first.items]
    for order_id in (seen[0], seen[3], sorted(before - set(seen))[0]):
        dataset.order_update(account, order_id, status="shipped")
    got = [o.external_id for o in first.items]
    cursor = first.next_cursor
    while cursor:
        page = woo.fetch_orders(since=since, cursor=cursor)
        got += [o.external_id for o in page.items]
        cursor = page.next_cursor
    assert before <= set(got), f"orders skipped: {before - set(got)}"
    # The edited ones come again with their new state; nothing else twice.
    twice = {oid for oid in got if got.count(oid) > 1}
    assert twice <= {seen[0], seen[3]}
    stamps = [o.updated_at for o in first.items]
    assert stamps == sorted(stamps)


def test_more_orders_changed_in_one_second_than_fit_a_page(account, woo):
    rows = list(dataset.objects(account, "order").order_by("key"))[:25]
    same_second = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    for row in rows:
        row.data["updated_at"] = dataset.iso(same_second)
        row.updated_at = same_second
    dataset.SandboxObject.objects.bulk_update(rows, ["data", "updated_at"])
    orders, pages = collect_orders(woo, since=same_second - timedelta(seconds=1))
    ids = [o.external_id for o in orders]
    assert len(ids) == len(set(ids))
    assert {r.key for r in rows} <= set(ids)
    assert pages >= 3


def test_since_is_sent_without_an_offset_and_as_gmt(account, woo, monkeypatch):
    sent = []
    original = woo.http.request

    def spy(method, url, **kwargs):
        sent.append(kwargs.get("params") or {})
        return original(method, url, **kwargs)

    monkeypatch.setattr(woo.http, "request", spy)
    woo.fetch_orders(since=datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC))
    assert sent[0]["modified_after"] == "2026-01-02T03:04:05"
    assert sent[0]["dates_are_gmt"] == "true" and sent[0]["orderby"] == "modified" and sent[0]["order"] == "asc"


def test_delivered_status_of_a_plugin(account, woo):
    store.configure(account, delivered_status=True)
    orders, _ = collect_orders(woo, since=timezone.now() - timedelta(days=40))
    delivered = [o for o in orders if truth(account)[o.external_id]["status"] == "delivered"]
    assert delivered and all(o.status == OrderStatus.DELIVERED and o.raw_status == "delivered" for o in delivered)


def test_status_map_of_the_connection_overrides(account, sandbox_base, sandbox_http):
    woo = connector_for(account, sandbox_base)
    woo.context.config["status_map"] = {"completed": "delivered"}
    orders, _ = collect_orders(woo, since=timezone.now() - timedelta(days=40))
    assert {o.status for o in orders if o.raw_status == "completed"} == {OrderStatus.DELIVERED}


def test_order_fields(account, woo):
    orders, _ = collect_orders(woo, since=timezone.now() - timedelta(days=40))
    order = orders[0]
    neutral = truth(account)[order.external_id]
    assert order.number == neutral["id"]
    assert order.buyer_name == neutral["buyer"]["name"]
    assert order.shipping_address["city"] == neutral["address"]["city"]
    assert order.placed_at == dataset.parse_iso(neutral["created_at"])
    assert sum(line.unit_price * line.quantity for line in order.lines) == order.total


# --- failures ---------------------------------------------------------------------------------------------------------


def test_rate_limit_waits_for_retry_after(woo, monkeypatch, settings):
    settings.HTTP_MAX_BACKOFF = 30
    slept = []
    monkeypatch.setattr(time, "sleep", lambda seconds: slept.append(seconds))
    force_faults("429", 1)
    woo.fetch_orders(since=timezone.now() - timedelta(days=1))
    assert woo.http.stats.rate_limited == 1 and woo.http.stats.retries == 1
    assert float(store.RETRY_AFTER_SECONDS) in slept


def test_keys_do_not_expire_so_there_is_nothing_to_refresh(woo):
    with pytest.raises(NotSupported):
        woo.refresh()
    assert woo.test_connection()["external_account_id"]


def test_deleted_key_is_an_auth_error_with_woocommerces_words(account, woo):
    store.revoke_key(account)
    with pytest.raises(AuthError) as info:
        woo.fetch_orders(since=timezone.now() - timedelta(days=1))
    assert "Sorry, you cannot list resources." in info.value.message
    assert "woocommerce_rest_cannot_view" in info.value.message and info.value.status_code == 401
    assert account.secrets["consumer_key"] not in info.value.message


def test_rotated_key_refuses_the_old_one(account, woo):
    store.rotate_key(account)
    with pytest.raises(AuthError):
        woo.test_connection()


def test_wrong_secret_is_named_and_never_echoed(account, sandbox_base, sandbox_http):
    woo = connector_for(account, sandbox_base, consumer_secret=WRONG_SECRET)
    with pytest.raises(AuthError) as info:
        woo.test_connection()
    assert "Consumer secret is invalid." in info.value.message
    assert WRONG_SECRET not in info.value.message and WRONG_SECRET not in (info.value.raw or "")


def test_read_only_key_is_refused_at_connect(account, woo):
    store.set_key_permissions(account, "read")
    woo.fetch_orders(since=timezone.now() - timedelta(days=1))  # reading still works
    with pytest.raises(AuthError) as info:
        woo.test_connection()
    assert "does not have write permissions" in info.value.message


def test_malformed_key_is_refused_before_any_call(account, sandbox_base, sandbox_http):
    woo = connector_for(account, sandbox_base, consumer_key="not-a-key")
    with pytest.raises(AuthError) as info:
        woo.test_connection()
    assert woo.http.stats.requests == 0 and "ck_" in info.value.message


def test_revoked_key_sets_needs_reauth(account, sandbox_base, sandbox_http):
    shg = make_shg(make_org())
    connection = Connection.objects.create(
        shg=shg, platform="woocommerce", display_name="Store", status=Connection.Status.ACTIVE,
        credentials=store.connection_credentials(account), config=store.connection_config(account, sandbox_base),
        external_account_id="testserver/sandbox/woocommerce/shg-store")
    assert services.connection_test(connection=connection).ok
    store.revoke_key(account)
    outcome = services.connection_test(connection=connection)
    connection.refresh_from_db()
    assert not outcome.ok and connection.status == Connection.Status.NEEDS_REAUTH
    assert "Sorry, you cannot list resources." in connection.last_error
    assert account.secrets["consumer_secret"] not in connection.last_error


def test_truncated_body_is_permanent_and_kept(woo):
    force_faults("truncate", 1)
    with pytest.raises(PermanentError) as info:
        woo.fetch_products()
    assert info.value.raw and not info.value.raw.rstrip().endswith("]")


def test_server_error_message_is_words_not_html(woo, settings):
    woo.http.max_retries = 0
    force_faults("error", 1)
    with pytest.raises(Exception) as info:
        woo.test_connection()
    assert "critical error" in info.value.message and "<p>" not in info.value.message


# --- store address ----------------------------------------------------------------------------------------------------


def test_store_address_must_be_https(settings):
    assert normalize_store_url("Shop.Example.in/") == "https://shop.example.in"
    assert normalize_store_url("https://example.in/shop/wp-json/wc/v3") == "https://example.in/shop"
    with pytest.raises(ValueError, match="HTTPS"):
        normalize_store_url("http://shop.example.in")
    with pytest.raises(ValueError):
        normalize_store_url("https://user:pw@shop.example.in")
    assert normalize_store_url("http://testserver/sandbox/woocommerce/demo") == "http://testserver/sandbox/woocommerce/demo"
    settings.SANDBOX = False
    with pytest.raises(ValueError, match="HTTPS"):
        normalize_store_url("http://testserver/sandbox/woocommerce/demo")


def test_connect_form_values_reach_the_sandbox_store(account, sandbox_http):
    shg = make_shg(make_org())
    values = {**store.connection_credentials(account),
              "store_url": store.connection_config(account, services.sandbox_root())["store_url"]}
    connection = services.connection_connect_api_key(shg=shg, platform="woocommerce", values=values)
    assert connection.status == Connection.Status.ACTIVE
    assert connection.external_account_id == "testserver/sandbox/woocommerce/shg-store"
    assert connection.config["store_url"] == values["store_url"]
    assert set(connection.credentials) == {"consumer_key", "consumer_secret"}


def test_connect_refuses_plain_http_outside_the_sandbox(account, sandbox_http):
    shg = make_shg(make_org())
    values = {**store.connection_credentials(account), "store_url": "http://shop.example.in"}
    with pytest.raises(services.ConnectFailed, match="HTTPS"):
        services.connection_connect_api_key(shg=shg, platform="woocommerce", values=values)
    assert not Connection.objects.exists()


# --- products, stock and prices -----------------------------------------------------------------------------------------


def test_variable_products_come_as_their_variations(account, woo):
    items = collect_products(woo)
    by_sku = {p.sku: p for p in items}
    variable = [p for p in products(account).values() if p["category"] in store.VARIABLE_CATEGORIES]
    assert variable
    for neutral in variable:
        product = by_sku[neutral["sku"]]
        assert product.external_refs == {"product_id": neutral["id"], "variation_id": neutral["variant_id"]}
        assert product.title.endswith(store.SIZE_OPTION)
    simple = next(p for p in products(account).values() if p["category"] not in store.VARIABLE_CATEGORIES)
    assert by_sku[simple["sku"]].external_refs == {"product_id": simple["id"]}
    assert by_sku[simple["sku"]].price == Decimal(simple["price"]) and by_sku[simple["sku"]].mrp == Decimal(simple["mrp"])
    assert by_sku[simple["sku"]].quantity == simple["quantity"] and by_sku[simple["sku"]].currency == "INR"


def test_stock_push_finds_skus_without_refs(account, woo):
    variation = next(p for p in products(account).values() if p["category"] in store.VARIABLE_CATEGORIES)
    simple = next(p for p in products(account).values() if p["category"] not in store.VARIABLE_CATEGORIES)
    results = woo.push_stock([StockUpdate(variation["sku"], 3), StockUpdate(simple["sku"], 0),
                              StockUpdate("NO-SUCH-SKU", 1), StockUpdate(simple["sku"], -2)])
    assert [r.ok for r in results] == [True, True, False, False]
    assert "No product" in results[2].error and "at least 0" in results[3].error
    after = products(account)
    assert after[variation["sku"]]["quantity"] == 3 and after[simple["sku"]]["quantity"] == 0


def test_stock_push_reports_per_item_errors(account, woo):
    simple = next(p for p in products(account).values() if p["category"] not in store.VARIABLE_CATEGORIES)
    results = woo.push_stock([StockUpdate(simple["sku"], 5, {"product_id": simple["id"]}),
                              StockUpdate("GONE", 5, {"product_id": "999999"})])
    assert results[0].ok and not results[1].ok
    assert "Invalid ID." in results[1].error and "woocommerce_rest_product_invalid_id" in results[1].error
    assert products(account)[simple["sku"]]["quantity"] == 5


def test_stock_push_batches_by_a_hundred(account, woo, monkeypatch):
    simple = next(p for p in products(account).values() if p["category"] not in store.VARIABLE_CATEGORIES)
    calls = []
    original = woo.http.request

    def spy(method, url, **kwargs):
        if url.endswith("/products/batch"):
            calls.append(len(kwargs["json"]["update"]))
        return original(method, url, **kwargs)

    monkeypatch.setattr(woo.http, "request", spy)
    results = woo.push_stock([StockUpdate(simple["sku"], n, {"product_id": simple["id"]}) for n in range(150)])
    assert calls == [100, 50] and all(r.ok for r in results)
    assert products(account)[simple["sku"]]["quantity"] == 149


def test_price_push_without_mrp_ends_the_sale(account, woo):
    variation = next(p for p in products(account).values() if p["category"] in store.VARIABLE_CATEGORIES)
    [result] = woo.push_prices([PriceUpdate(variation["sku"], Decimal("99.5"), "INR")])
    assert result.ok and result.raw["regular_price"] == "99.50" and result.raw["sale_price"] == ""
    assert products(account)[variation["sku"]]["price"] == "99.50"


def test_price_push_refuses_bad_input(account, woo):
    sku = sorted(products(account))[0]
    results = woo.push_prices([PriceUpdate(sku, Decimal("10"), "USD"), PriceUpdate(sku, Decimal("10"), "INR", mrp=Decimal("9")),
                               PriceUpdate(sku, Decimal("0"), "INR")])
    assert [r.ok for r in results] == [False, False, False]
    assert "INR" in results[0].error and "MRP" in results[1].error and "positive" in results[2].error
    assert products(account)[sku]["price"] != "10.00"


def test_create_listing_then_it_is_a_product(account, woo):
    draft = ListingDraft(sku="SHG-NEW-1", title="Bamboo basket", description="Woven by hand.", price=Decimal("300"),
                         mrp=Decimal("350"), currency="INR", quantity=4, barcode="8901234567890")
    result = woo.create_listing(draft)
    assert result.ok and result.state == "active" and result.external_refs["product_id"]
    created = products(account)["SHG-NEW-1"]
    assert created["price"] == "300.00" and created["mrp"] == "350.00" and created["quantity"] == 4
    listed = {p.sku: p for p in collect_products(woo)}["SHG-NEW-1"]
    assert listed.external_refs == result.external_refs and listed.barcode == "8901234567890"
    again = woo.create_listing(draft)
    assert not again.ok and "already" in again.error and again.external_refs == result.external_refs


def test_create_listing_refuses_another_currency(woo):
    draft = ListingDraft(sku="X-1", title="X", description="", price=Decimal("1"), currency="USD", quantity=1)
    result = woo.create_listing(draft)
    assert not result.ok and "INR" in result.error


# --- fulfilment -------------------------------------------------------------------------------------------------------


def _unshipped(woo, account):
    orders, _ = collect_orders(woo, since=timezone.now() - timedelta(days=40))
    return next(o for o in orders if o.raw_status == "processing")


def _fulfilment(order, **extra):
    return FulfilmentData(order_external_id=order.external_id, carrier="India Post", tracking_number="EK123456789IN",
                          shipped_at=datetime.now(UTC), order_raw=order.raw, **extra)


def test_fulfilment_with_shipment_tracking_is_idempotent(account, woo):
    order = _unshipped(woo, account)
    first = woo.push_fulfilment(_fulfilment(order))
    second = woo.push_fulfilment(_fulfilment(order))
    assert first.ok and second.ok and first.external_id == second.external_id
    trackings = [row.data for row in dataset.objects(account, "tracking")]
    assert len(trackings) == 1 and trackings[0]["tracking_provider"] == "India Post"
    neutral = truth(account)[order.external_id]
    assert neutral["status"] == "shipped" and neutral["tracking"]["carrier"] == "India Post"
    assert not dataset.objects(account, "order_note").exists()


def test_fulfilment_without_the_extension_writes_a_customer_note(account, woo):
    store.configure(account, shipment_tracking=False)
    order = _unshipped(woo, account)
    result = woo.push_fulfilment(_fulfilment(order, tracking_url="https://track.example.in/EK123456789IN"))
    assert result.ok
    [note] = [row.data for row in dataset.objects(account, "order_note")]
    assert note["customer_note"] is True and "EK123456789IN" in note["note"] and "India Post" in note["note"]
    assert truth(account)[order.external_id]["status"] == "shipped"
    assert woo.push_fulfilment(_fulfilment(order)).ok
    assert dataset.objects(account, "order_note").count() == 1


def test_fulfilment_of_part_of_an_order_is_refused(account, woo):
    order = _unshipped(woo, account)
    line = order.lines[0]
    partial = _fulfilment(order, lines=[FulfilmentLine(line.external_id, line.quantity + 1)])
    result = woo.push_fulfilment(partial)
    assert not result.ok and "whole orders" in result.error
    assert truth(account)[order.external_id]["status"] == "unshipped"


def test_fulfilment_of_a_cancelled_order_is_refused(account, woo):
    orders, _ = collect_orders(woo, since=timezone.now() - timedelta(days=40))
    cancelled = next(o for o in orders if o.raw_status == "cancelled")
    result = woo.push_fulfilment(_fulfilment(cancelled))
    assert not result.ok and "cancelled" in result.error


# --- webhooks ---------------------------------------------------------------------------------------------------------


def test_webhooks_register_ping_deliver_and_unregister(account, woo, webhook_inbox):
    secret = "haat-webhook-secret-0123456789"
    ids = woo.register_webhooks(callback_url=CALLBACK, secret=secret)
    assert len(ids) == 3
    pings = [d for d in webhook_inbox if d["body"].startswith(b"webhook_id=")]
    assert len(pings) == 3 and all(woo.verify_webhook(body=p["body"], headers=p["headers"], secret="") for p in pings)
    assert woo.parse_webhook(body=pings[0]["body"], headers=pings[0]["headers"]).action == "ping"
    # Registering again reuses the subscriptions.
    assert woo.register_webhooks(callback_url=CALLBACK, secret=secret) == ids

    webhook_inbox.clear()
    neutral = store.create_order(account)
    [delivery] = webhook_inbox
    headers, body = delivery["headers"], delivery["body"]
    assert headers["X-WC-Webhook-Topic"] == "order.created" and headers["X-WC-Webhook-ID"] in ids
    assert woo.verify_webhook(body=body, headers=headers, secret=secret)
    assert not woo.verify_webhook(body=body + b" ", headers=headers, secret=secret)
    assert not woo.verify_webhook(body=body, headers=headers, secret="another-secret")
    message = woo.parse_webhook(body=body, headers=headers)
    assert message.topic == "order.created" and message.delivery_id == headers["X-WC-Webhook-Delivery-ID"]
    assert [o.external_id for o in message.orders] == [neutral["id"]]
    assert message.orders[0].status == OrderStatus.UNSHIPPED

    woo.unregister_webhooks(webhook_ids=ids)
    assert not dataset.objects(account, "webhook").exists()
    woo.unregister_webhooks(webhook_ids=ids)  # already gone: fine


def test_signature_is_over_the_exact_body(woo):
    body = b'{"id":1,"link":"https:\\/\\/shop.example.in\\/"}'
    signature = base64.b64encode(hmac.new(b"s3cret", body, hashlib.sha256).digest()).decode()
    headers = {"x-wc-webhook-signature": signature, "X-WC-Webhook-Topic": "order.updated"}
    assert woo.verify_webhook(body=body, headers=headers, secret="s3cret")
    reencoded = json.dumps(json.loads(body), separators=(",", ":")).encode()
    assert not woo.verify_webhook(body=reencoded, headers=headers, secret="s3cret")
    assert not woo.verify_webhook(body=b"webhook_id=12", headers={"X-WC-Webhook-Topic": "order.updated"}, secret="s")


def test_register_failure_removes_what_it_made(account, woo, webhook_inbox):
    original = woo._call
    calls = {"posts": 0}

    def flaky(method, path, **kwargs):
        if method == "POST" and path == "/webhooks":
            calls["posts"] += 1
            if calls["posts"] == 2:
                raise PermanentError("refused")
        return original(method, path, **kwargs)

    woo._call = flaky
    with pytest.raises(PermanentError):
        woo.register_webhooks(callback_url=CALLBACK, secret="s")
    assert not dataset.objects(account, "webhook").exists()


def test_product_webhook_parses_simple_and_flags_variable(account, woo):
    rows = {row.key: row for row in dataset.objects(account, "product")}
    api = store.Store(account, "http://testserver/sandbox")
    simple = next(r for r in rows.values() if r.data["category"] not in store.VARIABLE_CATEGORIES)
    variable = next(r for r in rows.values() if r.data["category"] in store.VARIABLE_CATEGORIES)
    headers = {"X-WC-Webhook-Topic": "product.updated", "X-WC-Webhook-Delivery-ID": "d1"}
    message = woo.parse_webhook(body=store.php_json(api.render_product(simple)), headers=headers)
    assert [p.sku for p in message.products] == [simple.key]
    message = woo.parse_webhook(body=store.php_json(api.render_product(variable)), headers=headers)
    assert message.products == [] and message.action == "variations_changed"
    with pytest.raises(PermanentError) as info:
        woo.parse_webhook(body=b"{not json", headers=headers)
    assert info.value.raw == "{not json"


def test_stock_kept_by_the_parent_is_pushed_to_the_parent(woo, monkeypatch):
    parent = {"id": 1001, "name": "Saree", "type": "variable", "manage_stock": True, "stock_quantity": 9}
    variation = {"id": 5001, "name": "Saree", "sku": "S-RED", "manage_stock": "parent", "stock_quantity": 9,
                 "price": "10.00", "regular_price": "12.00", "attributes": [{"name": "Colour", "option": "Red"}]}
    product = WooCommerceConnector._product(variation, "INR", parent=parent)
    assert product.title == "Saree - Red" and product.quantity == 9 and product.mrp == Decimal("12.00")
    assert product.external_refs == {"product_id": "1001", "variation_id": "5001", "stock_owner": "parent"}
    paths = []

    def answer(method, path, **kwargs):
        paths.append(path)
        response = requests.Response()
        response.status_code, response.url = 200, f"https://shop.example.in/wp-json/wc/v3{path}"
        response._content = json.dumps({"update": [{"id": item["id"]} for item in kwargs["json_body"]["update"]]}).encode()
        return response

    monkeypatch.setattr(woo, "_call", answer)
    monkeypatch.setattr(woo, "_currency", "INR")
    assert woo.push_stock([StockUpdate("S-RED", 4, product.external_refs)])[0].ok
    assert woo.push_prices([PriceUpdate("S-RED", Decimal("11"), "INR", external_refs=product.external_refs)])[0].ok
    assert paths == ["/products/batch", "/products/1001/variations/batch"]
