"""The BigCommerce connector against the in-process sandbox store: the shared contract, then what is BigCommerce's own
(v2 orders whose lines and address are separate reads, 204 on an empty page, same-second keyset paging, v3
catalogue with stock on variants or products, all-or-nothing batches, rate-limit headers, unsigned webhooks
authenticated by a secret header)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.integrations import services
from apps.integrations.connectors.base import (
    Capability,
    FulfilmentData,
    FulfilmentLine,
    OrderStatus,
    PriceUpdate,
    StockUpdate,
)
from apps.integrations.connectors.bigcommerce import SECRET_HEADER, BigCommerceConnector, normalize_store_hash
from apps.integrations.connectors.errors import AuthError, PermanentError, RateLimited
from apps.integrations.tests.connectors.magento_specs import RecordingAdapter
from apps.integrations.tests.contract import ConnectorContract, collect_orders, collect_products, unpaced_connector
from apps.sandbox import dataset
from apps.sandbox.http import clear_forced_faults
from apps.sandbox.platforms import bigcommerce as store
from tests.factories import make_org, make_shg

CALLBACK = "http://testserver/webhooks/bigcommerce/5f0c7a52-7c07-4a38-8f3c-2c2b5d1f0e11/"


def connector_for(account, base: str, *, recorder: bool = False, **options) -> BigCommerceConnector:
    return unpaced_connector(BigCommerceConnector, store, account, base, recorder=RecordingAdapter if recorder else None,
                             **options)


class TestBigCommerceConnectorContract(ConnectorContract):
    platform = "bigcommerce"

    def make_account(self):
        # The store's 150 requests per 30 s would be used up by the suite's tests in one window: a bigger plan.
        return store.configure(store.create_demo_account("contractbc", "Contract Store"), quota=100_000)

    def make_connector(self, account, base, *, bad_credentials=False):
        extra = {"access_token": "x" * 31} if bad_credentials else {}
        return connector_for(account, base, page_size=self.page_size, credentials=extra)


@pytest.fixture
def account(db):
    account = store.configure(store.create_demo_account("shgbc", "SHG Store"), quota=100_000)
    yield account
    clear_forced_faults()


@pytest.fixture
def bc(account, sandbox_http, sandbox_base):
    return connector_for(account, sandbox_base, page_size=10, recorder=True)


def truth(account) -> dict[str, dict]:
    return {row.key: row.data for row in dataset.objects(account, "order")}


def products(account) -> dict[str, dict]:
    return {row.key: row.data for row in dataset.objects(account, "product")}


def calls(bc, fragment: str, method: str = "GET") -> list:
    return [x for x in bc.http.recorder.exchanges if x[0] == method and fragment in x[1].split("?")[0]]


# --- orders ------------------------------------------------------------------------------------------------------


def test_orders_are_read_with_lines_and_address(account, bc):
    page = bc.fetch_orders(since=timezone.now() - timedelta(days=40))
    assert len(page.items) == 10
    order = page.items[0]
    neutral = truth(account)[order.external_id]
    assert order.shipping_address["city"] == neutral["address"]["city"]
    assert order.buyer_name == neutral["buyer"]["name"]
    assert sum(ln.unit_price * ln.quantity for ln in order.lines) == order.total == Decimal(neutral["total"])
    assert len(calls(bc, "/products")) == 10 and len(calls(bc, "/shipping_addresses")) == 10
    listing = calls(bc, "/v2/orders")[0][1]
    assert "sort=date_modified%3Aasc" in listing and "min_date_modified=" in listing


def test_an_empty_page_is_204_and_ends_paging(account, bc):
    page = bc.fetch_orders(since=timezone.now() + timedelta(days=1))
    assert page.items == [] and page.next_cursor is None
    assert calls(bc, "/v2/orders")[-1][3] == 204


def test_paging_loses_nothing_when_orders_change_between_pages(account, bc):
    since = timezone.now() - timedelta(days=40)
    before = set(truth(account))
    first = bc.fetch_orders(since=since)
    seen = [o.external_id for o in first.items]
    for order_id in (seen[0], seen[3], sorted(before - set(seen))[0]):
        dataset.order_update(account, order_id, status="shipped")
    got, cursor = list(seen), first.next_cursor
    while cursor:
        page = bc.fetch_orders(since=since, cursor=cursor)
        got += [o.external_id for o in page.items]
        cursor = page.next_cursor
    assert before <= set(got)
    assert {oid for oid in got if got.count(oid) > 1} <= {seen[0], seen[3]}


def test_more_orders_changed_in_one_second_than_fit_a_page(account, bc):
    rows = list(dataset.objects(account, "order").order_by("key"))[:25]
    same_second = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    for row in rows:
        row.data["updated_at"] = dataset.iso(same_second)
        row.updated_at = same_second
    dataset.SandboxObject.objects.bulk_update(rows, ["data", "updated_at"])
    orders, _ = collect_orders(bc, since=same_second - timedelta(minutes=1))
    ids = [o.external_id for o in orders]
    assert len(ids) == len(set(ids)) and {row.key for row in rows} <= set(ids)


def test_status_ids(bc):
    assert bc._status({"status_id": 11}) == OrderStatus.UNSHIPPED
    assert bc._status({"status_id": 10}) == OrderStatus.DELIVERED
    assert bc._status({"status_id": 14, "items_shipped": 3, "items_total": 3}) == OrderStatus.SHIPPED
    assert bc._status({"status_id": 14, "items_shipped": 1, "items_total": 3}) == OrderStatus.UNSHIPPED


def test_a_malformed_order_line_is_a_clear_error(bc):
    with pytest.raises(PermanentError, match="without a quantity"):
        bc._order({"id": 1, "status_id": 11}, [{"id": 5, "quantity": "2"}], {})


# --- auth and limits ---------------------------------------------------------------------------------------------


def test_a_missing_scope_needs_reauthorisation(account, bc):
    store.set_scopes(account, ["store_v2_information"])
    with pytest.raises(AuthError, match=r"required scope.*Orders \(modify\)"):
        bc.test_connection()


def test_a_deleted_api_account_needs_reauthorisation(account, bc):
    bc.test_connection()
    store.revoke_token(account)
    with pytest.raises(AuthError, match="invalid or has been revoked"):
        bc.fetch_products()


def test_rate_limit_headers_and_the_store_quota(account, bc):
    response = bc._call("GET", "/v2/store")
    assert response.headers["X-Rate-Limit-Requests-Quota"] == "100000"
    assert int(response.headers["X-Rate-Limit-Requests-Left"]) < 100_000
    assert 0 < int(response.headers["X-Rate-Limit-Time-Reset-Ms"]) <= 30_000
    store.configure(account, quota=1)
    bc.http.max_retries = 1
    with pytest.raises(RateLimited) as info:
        bc._call("GET", "/v2/store")
    assert info.value.retry_after is not None and 0 < info.value.retry_after <= 30
    assert bc.http.stats.rate_limited == 2, "the 429 was retried once after the reset time"


def test_an_exhausted_quota_is_waited_out_before_the_next_call(account, bc, monkeypatch):
    slept = []
    monkeypatch.setattr("apps.integrations.connectors.bigcommerce.time.sleep", slept.append)
    response = bc._call("GET", "/v2/store")
    used = 100_000 - int(response.headers["X-Rate-Limit-Requests-Left"])
    store.configure(account, quota=used + 1)
    bc._call("GET", "/v2/store")
    assert len(slept) == 1 and 0 < slept[0] <= 0.05 and bc.http.stats.rate_limited == 0


def test_store_hash_from_a_pasted_api_path():
    assert normalize_store_hash("https://api.bigcommerce.com/stores/abc123/v3/") == "abc123"
    with pytest.raises(ValueError):
        normalize_store_hash("my store")


def test_connect_with_the_form_values(account, sandbox_http):
    shg = make_shg(make_org())
    connection = services.connection_connect_api_key(shg=shg, platform="bigcommerce", values={
        "store_hash": f"https://api.bigcommerce.com/stores/{account.account_id}/v3/",
        "access_token": account.secrets["access_token"]})
    assert connection.external_account_id == account.account_id
    assert connection.config["base_url"].endswith(f"/bigcommerce/stores/{account.account_id}")


# --- catalogue, stock, prices --------------------------------------------------------------------------------------


def test_products_are_one_per_sellable_sku(account, bc):
    items = collect_products(bc)
    by_sku = {p.sku: p for p in items}
    assert set(by_sku) == set(products(account))
    variant_level = [p for p in items if p.external_refs["level"] == "variant"]
    product_level = [p for p in items if p.external_refs["level"] == "product"]
    assert variant_level and product_level
    assert all(p.currency == "USD" and p.mrp and p.mrp >= p.price for p in items)
    assert all(p.quantity == products(account)[p.sku]["quantity"] for p in items)


def test_stock_goes_to_variants_or_products_in_batches(account, bc):
    items = collect_products(bc)
    variant = next(p for p in items if p.external_refs["level"] == "variant")
    product = next(p for p in items if p.external_refs["level"] == "product")
    results = bc.push_stock([StockUpdate(sku=variant.sku, quantity=3, external_refs=variant.external_refs),
                             StockUpdate(sku=product.sku, quantity=4, external_refs=product.external_refs),
                             StockUpdate(sku="NO-SUCH", quantity=1)])
    assert [r.ok for r in results] == [True, True, False]
    assert products(account)[variant.sku]["quantity"] == 3 and products(account)[product.sku]["quantity"] == 4
    assert len(calls(bc, "/v3/catalog/variants", "PUT")) == 1 and len(calls(bc, "/v3/catalog/products", "PUT")) == 1


def test_a_refused_item_fails_alone(account, bc):
    items = [p for p in collect_products(bc) if p.external_refs["level"] == "variant"][:2]
    broken = {**items[0].external_refs, "variant_id": "999999"}
    results = bc.push_stock([StockUpdate(sku=items[0].sku, quantity=5, external_refs=broken),
                             StockUpdate(sku=items[1].sku, quantity=6, external_refs=items[1].external_refs)])
    assert [r.ok for r in results] == [False, True]
    assert "variant not found" in results[0].error
    assert products(account)[items[1].sku]["quantity"] == 6


def test_prices_with_mrp_as_retail_price(account, bc):
    sku = sorted(products(account))[0]
    results = bc.push_prices([PriceUpdate(sku=sku, price=Decimal("19.99"), mrp=Decimal("24.50"), currency="USD"),
                              PriceUpdate(sku=sku, price=Decimal("19.99"), currency="INR")])
    assert [r.ok for r in results] == [True, False] and "sells in USD" in results[1].error
    assert products(account)[sku]["price"] == "19.99" and products(account)[sku]["mrp"] == "24.50"
    sent = json.loads(calls(bc, "/v3/catalog/", "PUT")[-1][2])
    assert sent[0]["price"] == 19.99 and sent[0]["retail_price"] == 24.5


# --- fulfilment ------------------------------------------------------------------------------------------------------


def test_fulfilment_makes_one_shipment_and_partial_stays_to_ship(account, bc):
    orders, _ = collect_orders(bc, since=timezone.now() - timedelta(days=40))
    order = next(o for o in orders if o.status == OrderStatus.UNSHIPPED and len(o.lines) > 1)
    line = order.lines[0]
    data = FulfilmentData(order_external_id=order.external_id, carrier="Delhivery", tracking_number="DL1",
                          shipped_at=datetime.now(UTC), lines=[FulfilmentLine(line.external_id, line.quantity)])
    first, again = bc.push_fulfilment(data), bc.push_fulfilment(data)
    assert first.ok and again.ok and first.external_id == again.external_id
    shipment = dataset.objects(account, "shipment").get().data
    assert shipment["tracking_carrier"] == "delhivery" and shipment["shipping_provider"] == ""
    raw = bc._json(bc._call("GET", f"/v2/orders/{order.external_id}"), dict)
    assert raw["status_id"] == 3 and bc._status(raw) == OrderStatus.UNSHIPPED
    rest = bc.push_fulfilment(FulfilmentData(order_external_id=order.external_id, carrier="UPS", tracking_number="1Z",
                                             shipped_at=datetime.now(UTC)))
    assert rest.ok and truth(account)[order.external_id]["status"] == "shipped"


def test_fulfilment_refusals(account, bc):
    orders, _ = collect_orders(bc, since=timezone.now() - timedelta(days=40))
    cancelled = next(o for o in orders if o.status == OrderStatus.CANCELLED)
    result = bc.push_fulfilment(FulfilmentData(order_external_id=cancelled.external_id, carrier="DHL",
                                               tracking_number="X", shipped_at=datetime.now(UTC)))
    assert not result.ok and "Cancelled" in result.error
    shipped = next(o for o in orders if o.status == OrderStatus.SHIPPED)
    result = bc.push_fulfilment(FulfilmentData(order_external_id=shipped.external_id, carrier="DHL",
                                               tracking_number="Y", shipped_at=datetime.now(UTC)))
    assert not result.ok and "already shipped" in result.error
    assert not dataset.objects(account, "shipment").exists()


# --- webhooks -------------------------------------------------------------------------------------------------------


def test_webhooks_register_once_with_the_secret_header(account, bc):
    first = bc.register_webhooks(callback_url=CALLBACK, secret="s3cret")
    again = bc.register_webhooks(callback_url=CALLBACK, secret="n3w")
    assert first == again and len(first) == 2
    hooks = [row.data for row in dataset.objects(account, "hook")]
    assert {h["scope"] for h in hooks} == {"store/order/created", "store/order/updated"}
    assert all(h["headers"] == {SECRET_HEADER: "n3w"} for h in hooks)
    bc.unregister_webhooks(webhook_ids=first)
    bc.unregister_webhooks(webhook_ids=first)  # already gone is fine
    assert not dataset.objects(account, "hook").exists()


def test_an_http_destination_elsewhere_is_refused(account, bc):
    with pytest.raises(PermanentError, match="https URL on port 443"):
        bc.register_webhooks(callback_url="http://shop.example.in/hook", secret="s")


def test_a_delivery_is_verified_and_becomes_the_fetched_order(account, bc, monkeypatch):
    bc.register_webhooks(callback_url=CALLBACK, secret="s3cret")
    sent = []
    monkeypatch.setattr("apps.sandbox.http.deliver_webhook", lambda url, body, headers: sent.append((body, headers)) or 200)
    order = store.create_order(account)
    body, headers = sent[0]
    assert BigCommerceConnector.verify_webhook(body=body, headers=headers, secret="s3cret")
    assert not BigCommerceConnector.verify_webhook(body=body, headers=headers, secret="other")
    assert not BigCommerceConnector.verify_webhook(body=body, headers={}, secret="s3cret")
    message = bc.parse_webhook(body=body, headers=headers)
    assert message.topic == "store/order/created" and message.delivery_id == json.loads(body)["hash"]
    assert [o.external_id for o in message.orders] == [order["id"]]
    assert message.orders[0].status == OrderStatus.UNSHIPPED and message.orders[0].lines
    assert BigCommerceConnector.delivery_key(body) == (message.delivery_id, "store/order/created")


def test_a_delivery_of_another_store_is_refused(account, bc):
    body = json.dumps({"scope": "store/order/created", "data": {"type": "order", "id": 101},
                       "hash": "h", "producer": "stores/other1"}).encode()
    with pytest.raises(PermanentError, match="another store"):
        bc.parse_webhook(body=body, headers={})


def test_capabilities():
    assert BigCommerceConnector.supports(Capability.WEBHOOKS)
    assert not BigCommerceConnector.supports(Capability.LISTING_CREATE)


# --- through the inbound endpoint ---------------------------------------------------------------------------------


def test_deliveries_go_through_the_inbound_endpoint(account, sandbox_http, client, django_capture_on_commit_callbacks,
                                                     monkeypatch):
    from apps.integrations import webhooks
    from apps.integrations.models import WebhookEvent
    from apps.orders.models import Order

    shg = make_shg(make_org())
    connection = services.connection_connect_api_key(shg=shg, platform="bigcommerce", values={
        "store_hash": account.account_id, "access_token": account.secrets["access_token"]})
    outcome = webhooks.webhooks_register(connection)
    assert len(outcome.registered) == 2
    answers = []

    def deliver(url, body, headers):
        path = "/" + url.split("://", 1)[1].split("/", 1)[1]
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k.lower() != "content-type"}
        with django_capture_on_commit_callbacks(execute=True):
            answers.append(client.generic("POST", path, data=body, content_type="application/json", **extra))
        return answers[-1].status_code

    monkeypatch.setattr("apps.sandbox.http.deliver_webhook", deliver)
    order = store.create_order(account)
    assert [a.status_code for a in answers] == [200]
    event = WebhookEvent.objects.get(connection=connection)
    assert event.topic == "store/order/created" and event.status == WebhookEvent.Status.PROCESSED
    assert SECRET_HEADER.lower() not in {k.lower() for k in (event.headers or {})}, "the secret is never stored"
    assert Order.objects.filter(connection=connection, external_id=order["id"]).exists()
    forged = client.generic("POST", f"/webhooks/bigcommerce/{connection.uuid}/", data=b'{"data": {}}',
                            content_type="application/json", HTTP_X_HAAT_WEBHOOK_SECRET="guess")
    assert forged.status_code == 401
