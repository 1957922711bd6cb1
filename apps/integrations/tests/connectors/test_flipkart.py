"""The Flipkart connector against the in-process Flipkart sandbox: the shared contract plus Flipkart's own cases."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.integrations import services
from apps.integrations.connectors.base import (
    AuthKind,
    Capability,
    FulfilmentData,
    FulfilmentLine,
    OrderStatus,
    PriceUpdate,
    StockUpdate,
)
from apps.integrations.connectors.errors import AuthError, NotSupported, PermanentError
from apps.integrations.connectors.flipkart import FlipkartConnector
from apps.integrations.connectors.registry import build_connector
from apps.integrations.tests.contract import ConnectorContract, collect_orders, collect_products, sandbox_context
from apps.sandbox import dataset
from apps.sandbox.http import force_faults
from apps.sandbox.platforms import flipkart as sandbox
from tests.factories import make_shg

BASE = "http://testserver/sandbox"


def make_connector(account, *, credentials=None, config=None, saved=None) -> FlipkartConnector:
    return FlipkartConnector(sandbox_context(sandbox, account, connection_id=f"fk-test-{account.pk}", credentials=credentials,
                                             config=config,
                                             save_credentials=(saved.append if saved is not None else (lambda creds: None))))


class TestFlipkartConnectorContract(ConnectorContract):
    platform = "flipkart"
    sandbox = sandbox
    connector_class = FlipkartConnector
    wrong_credentials = {"app_secret": "not-the-secret"}

    def make_account(self):
        return sandbox.create_demo_account("fk-contract-seller", "Contract Seller SHG")

    def external_order_id(self, neutral):
        return sandbox.flipkart_order_id(neutral["id"])

    def test_push_prices(self, connector, account):
        """Overrides the contract's 123.45: Flipkart prices are whole rupees (int32 in Listings v3), so the
        same check runs with 123; test_fractional_price_is_refused_before_any_call covers 123.45."""
        sku = sorted(self.truth_products(account))[0]
        results = connector.push_prices([PriceUpdate(sku=sku, price=Decimal("123"), currency="INR", mrp=Decimal("150"),
                                                     external_refs=self._refs(connector, sku))])
        assert results[0].ok, results
        truth = self.truth_products(account)[sku]
        assert (Decimal(truth["price"]), Decimal(truth["mrp"])) == (Decimal("123"), Decimal("150"))


@pytest.fixture
def account(db):
    return sandbox.create_demo_account("fk-seller", "Lakshmi SHG")


@pytest.fixture
def connector(account, sandbox_http):
    return make_connector(account)


def truth_orders(account) -> dict[str, dict]:
    return {sandbox.flipkart_order_id(o.data["id"]): o.data for o in dataset.objects(account, "order")}


def long_ago():
    return timezone.now() - timedelta(days=40)


# --- description ---------------------------------------------------------------------------------------------------


def test_descriptor_is_truthful():
    assert FlipkartConnector.auth_kind == AuthKind.API_KEY
    assert FlipkartConnector.capabilities == {Capability.ORDERS, Capability.PRODUCTS, Capability.STOCK_PUSH,
                                              Capability.PRICE_PUSH, Capability.FULFILMENT_PUSH}
    assert not FlipkartConnector.orders_sorted_by_update
    secret_fields = {f.name for f in FlipkartConnector.credential_fields if f.secret}
    assert secret_fields == {"app_secret"}
    assert {f.name: f.stored_in for f in FlipkartConnector.credential_fields}["location_id"] == "config"


def test_no_oauth_consent_flow():
    """Self-access applications use client credentials: there is no consent URL to send a seller to."""
    with pytest.raises(NotSupported):
        FlipkartConnector.authorization_url(state="s", redirect_uri="https://haat.example/cb", params={}, config={})


# --- pagination ---------------------------------------------------------------------------------------------------------


def test_orders_page_through_next_page_url_in_every_stream(account, sandbox_http):
    connector = make_connector(account, config={"page_size": 4})
    orders, pages = collect_orders(connector, since=long_ago())
    assert {o.external_id for o in orders} == set(truth_orders(account))
    assert len(orders) == len({o.external_id for o in orders})
    assert pages >= len(orders) // 4
    # The first page of each stream is a POST; the rest follow nextPageUrl with GET.
    assert connector.http.stats.by_operation["shipments_search"] > 5


def test_page_size_is_capped_at_flipkarts_maximum(account, sandbox_http):
    connector = make_connector(account, config={"page_size": 500})
    page = connector.fetch_orders(since=long_ago())
    assert len({line.raw["orderItemId"] for o in page.items for line in o.lines}) > 0
    assert len(page.items) <= 20


def test_cursor_resumes_where_it_stopped(account, sandbox_http):
    connector = make_connector(account, config={"page_size": 5})
    first = connector.fetch_orders(since=long_ago())
    fresh = make_connector(account, config={"page_size": 5})
    rest, cursor = [], first.next_cursor
    while cursor:
        page = fresh.fetch_orders(since=timezone.now(), cursor=cursor)  # `since` is ignored once a cursor exists
        rest.extend(page.items)
        cursor = page.next_cursor
    assert {o.external_id for o in first.items + rest} == set(truth_orders(account))


def test_unreadable_cursor_is_a_clear_error(connector):
    with pytest.raises(ValueError, match="cursor"):
        connector.fetch_orders(since=long_ago(), cursor="not json")


# --- what an order is -----------------------------------------------------------------------------------------------


def test_split_order_comes_back_whole_with_address(account, connector):
    split = [o for o in truth_orders(account).values() if len(sandbox.shipment_groups(account, o)) == 2]
    assert split, "the sandbox splits some multi-line orders into two shipments"
    orders = {o.external_id: o for o in collect_orders(connector, since=long_ago())[0]}
    for neutral in split:
        order = orders[sandbox.flipkart_order_id(neutral["id"])]
        assert len(order.raw["shipments"]) == 2
        assert sorted(line.sku for line in order.lines) == sorted(line["sku"] for line in neutral["lines"])
        assert order.buyer_name == neutral["buyer"]["name"]
        assert order.shipping_address["postcode"] == neutral["address"]["postcode"]
        assert order.shipping_address["city"] == neutral["address"]["city"]


def test_hold_is_pending_and_cancelled_keeps_value(account, connector):
    orders = {o.external_id: o for o in collect_orders(connector, since=long_ago())[0]}
    for order_id, neutral in truth_orders(account).items():
        if neutral["status"] == "pending":
            assert orders[order_id].status == OrderStatus.PENDING and "hold" in orders[order_id].raw_status
        if neutral["status"] == "cancelled":
            assert orders[order_id].total == Decimal(neutral["total"])


# --- rate limits and faults ------------------------------------------------------------------------------------------


def test_429_waits_for_retry_after(connector, monkeypatch, settings):
    settings.HTTP_MAX_BACKOFF = 30
    slept = []
    monkeypatch.setattr(time, "sleep", slept.append)
    connector.test_connection()
    force_faults("429", 1)
    connector.fetch_orders(since=timezone.now() - timedelta(days=1))
    assert connector.http.stats.rate_limited == 1
    assert float(sandbox.RETRY_AFTER_SECONDS) in slept


def test_malformed_body_is_permanent_and_keeps_raw(connector):
    connector.test_connection()  # the token is cached: the truncated answer is the shipment search
    force_faults("truncate", 1)
    with pytest.raises(PermanentError) as info:
        connector.fetch_orders(since=long_ago())
    assert info.value.raw and info.value.raw.startswith('{"hasMore"')


def test_unusable_order_item_is_permanent_with_the_payload_kept(account, connector):
    row = dataset.objects(account, "order").order_by("key").first()
    row.data["lines"][0]["quantity"] = 0
    row.save(update_fields=["data"])
    with pytest.raises(PermanentError) as info:
        collect_orders(connector, since=long_ago())
    assert "quantity" in info.value.message and '"quantity": 0' in info.value.raw


def test_next_page_url_stays_on_the_api_host(connector):
    expected = f"{BASE}/flipkart/sellers/v3/shipments/filter?next_token=a"
    assert connector._next_url("/v3/shipments/filter?next_token=a") == expected
    assert connector._next_url("/sellers/v3/shipments/filter?next_token=a") == expected
    with pytest.raises(PermanentError):
        connector._next_url("https://elsewhere.example/v3/shipments/filter?next_token=a")


# --- tokens ------------------------------------------------------------------------------------------------------------


def test_token_is_cached_and_persisted(account, sandbox_http):
    saved = []
    connector = make_connector(account, saved=saved)
    info = connector.test_connection()
    assert info["external_account_id"] == account.secrets["app_id"] and info["token_reused"] is False
    assert saved and saved[-1]["access_token"] and saved[-1]["app_secret"] == account.secrets["app_secret"]
    expires = datetime.fromisoformat(saved[-1]["access_token_expires_at"])
    assert expires - datetime.now(UTC) > timedelta(days=59)
    again = make_connector(account, credentials=saved[-1])
    again.fetch_orders(since=timezone.now() - timedelta(hours=1))
    assert "token" not in again.http.stats.by_operation


def test_token_near_expiry_is_renewed_before_calling(account, sandbox_http):
    first = []
    make_connector(account, saved=first).test_connection()
    stale = {**first[-1], "access_token_expires_at": (datetime.now(UTC) + timedelta(minutes=1)).isoformat()}
    saved = []
    connector = make_connector(account, credentials=stale, saved=saved)
    connector.test_connection()
    assert connector.http.stats.by_operation["token"] == 1
    assert saved[-1]["access_token"] != stale["access_token"]


def test_expired_token_gets_a_new_one_on_401(account, sandbox_http):
    saved = []
    connector = make_connector(account, saved=saved)
    connector.test_connection()
    old = saved[-1]["access_token"]
    sandbox.expire_token(account, old)
    orders = connector.fetch_orders(since=long_ago()).items
    assert orders
    assert saved[-1]["access_token"] != old
    assert connector.http.stats.by_operation["token"] == 2


def test_revoked_token_is_replaced_while_the_application_lives(account, sandbox_http):
    saved = []
    connector = make_connector(account, saved=saved)
    connector.test_connection()
    sandbox.revoke_token(account)
    connector.test_connection()
    assert len({c["access_token"] for c in saved}) == 2


def test_revoked_application_needs_reauth_without_leaking_secrets(account, sandbox_http):
    saved = []
    connector = make_connector(account, saved=saved)
    connector.test_connection()
    token = saved[-1]["access_token"]
    sandbox.revoke_application(account)
    with pytest.raises(AuthError) as info:
        connector.fetch_orders(since=long_ago())
    error = info.value
    assert error.status_code == 401 and "Bad credentials" in error.message
    for secret in (token, account.secrets["app_secret"]):
        assert secret not in error.message and secret not in (error.raw or "")


def test_api_access_withdrawn_is_auth_error_after_no_refresh_loop(account, sandbox_http):
    connector = make_connector(account)
    sandbox.suspend_api_access(account)
    with pytest.raises(AuthError) as info:
        connector.test_connection()
    assert info.value.status_code == 403
    assert connector.http.stats.by_operation["token"] == 1


def test_missing_credentials_are_auth_error(account, sandbox_http):
    with pytest.raises(AuthError, match="missing"):
        make_connector(account, credentials={}).test_connection()


# --- products, stock, prices -------------------------------------------------------------------------------------------


def test_products_carry_fsn_and_location(account, connector):
    products = collect_products(connector)
    assert len(products) == dataset.objects(account, "product").count()
    for product in products:
        assert product.external_refs["product_id"] and product.external_refs["location_id"] == account.settings["location_id"]
        assert product.price == product.price.to_integral_value() and product.mrp >= product.price
        assert isinstance(product.quantity, int)


def test_listing_search_pages(account, sandbox_http):
    account.settings["listing_page_size"] = 5
    account.save(update_fields=["settings"])
    connector = make_connector(account)
    assert len(collect_products(connector)) == dataset.objects(account, "product").count()
    assert connector.http.stats.by_operation["listings_search"] == 5


def test_stock_push_without_refs_reads_listings_and_chunks_by_ten(account, connector):
    skus = sorted(dataset.objects(account, "product").values_list("key", flat=True))[:12]
    results = connector.push_stock([StockUpdate(sku=sku, quantity=n) for n, sku in enumerate(skus)])
    assert all(r.ok for r in results), results
    assert connector.http.stats.by_operation["listings_update"] == 2
    assert connector.http.stats.by_operation["listings_get"] == 2
    truth = {o.key: o.data["quantity"] for o in dataset.objects(account, "product")}
    assert [truth[sku] for sku in skus] == list(range(12))


def test_stock_push_reports_per_sku(account, connector):
    sku = dataset.objects(account, "product").order_by("key").first().key
    results = connector.push_stock([StockUpdate(sku="NO-SUCH-SKU", quantity=1), StockUpdate(sku=sku, quantity=-1),
                                    StockUpdate(sku=sku, quantity=3)])
    assert [r.ok for r in results] == [False, False, True]
    assert "no listing" in results[0].error.lower() and "at least 0" in results[1].error


def test_stock_push_at_an_unknown_location_is_refused(account, sandbox_http):
    connector = make_connector(account, config={"location_id": "LOCnowhere"})
    sku = dataset.objects(account, "product").order_by("key").first().key
    [result] = connector.push_stock([StockUpdate(sku=sku, quantity=3)])
    assert not result.ok and "LOCnowhere" in result.error


def test_fractional_price_is_refused_before_any_call(account, connector):
    sku = dataset.objects(account, "product").order_by("key").first().key
    [result] = connector.push_prices([PriceUpdate(sku=sku, price=Decimal("123.45"), currency="INR", mrp=Decimal("150"))])
    assert not result.ok and "whole rupees" in result.error
    assert connector.http.stats.requests == 0


def test_price_push_keeps_listing_mrp_when_none_given(account, connector):
    row = dataset.objects(account, "product").order_by("key").first()
    mrp = Decimal(row.data["mrp"])
    [result] = connector.push_prices([PriceUpdate(sku=row.key, price=mrp - 1, currency="INR")])
    assert result.ok, result
    row.refresh_from_db()
    assert (Decimal(row.data["price"]), Decimal(row.data["mrp"])) == (mrp - 1, mrp)


def test_price_above_listing_mrp_is_refused(account, connector):
    row = dataset.objects(account, "product").order_by("key").first()
    [result] = connector.push_prices([PriceUpdate(sku=row.key, price=Decimal(row.data["mrp"]) + 10, currency="INR")])
    assert not result.ok and "MRP" in result.error


def test_price_in_another_currency_is_refused(account, connector):
    [result] = connector.push_prices([PriceUpdate(sku="X", price=Decimal("10"), currency="USD")])
    assert not result.ok and "INR" in result.error


# --- fulfilment -----------------------------------------------------------------------------------------------------


def _unshipped(account, *, split: bool):
    for order_id, neutral in sorted(truth_orders(account).items()):
        if neutral["status"] == "unshipped" and (len(sandbox.shipment_groups(account, neutral)) == 2) == split:
            return order_id, neutral
    raise AssertionError("no such order in the sandbox data")


def _fulfilment(order_id, lines, carrier="India Post", number="EK123456789IN"):
    return FulfilmentData(order_external_id=order_id, carrier=carrier, tracking_number=number,
                          shipped_at=datetime.now(UTC),
                          lines=[FulfilmentLine(sandbox.order_item_id(ln["id"]), ln["quantity"]) for ln in lines])


def test_split_order_ships_shipment_by_shipment(account, connector):
    order_id, neutral = _unshipped(account, split=True)
    first, rest = sandbox.shipment_groups(account, neutral)
    result = connector.push_fulfilment(_fulfilment(order_id, first))
    assert result.ok, result
    assert truth_orders(account)[order_id]["status"] == "unshipped"
    orders, _pages = collect_orders(connector, since=long_ago())
    assert [o.status for o in orders if o.external_id == order_id] == [OrderStatus.UNSHIPPED]  # once, not twice
    result = connector.push_fulfilment(_fulfilment(order_id, rest, number="EK000000001IN"))
    assert result.ok, result
    after = truth_orders(account)[order_id]
    assert after["status"] == "shipped" and after["tracking"] == {"carrier": "India Post", "number": "EK000000001IN",
                                                                  "url": ""}


def test_part_of_a_shipment_cannot_ship(account, connector):
    order_id, neutral = _unshipped(account, split=True)
    _first, rest = sandbox.shipment_groups(account, neutral)
    result = connector.push_fulfilment(_fulfilment(order_id, rest[:1]))
    assert not result.ok and "whole" in result.error
    assert truth_orders(account)[order_id]["status"] == "unshipped"


def test_shipping_twice_is_refused(account, connector):
    order_id, neutral = _unshipped(account, split=False)
    assert connector.push_fulfilment(_fulfilment(order_id, neutral["lines"])).ok
    again = connector.push_fulfilment(_fulfilment(order_id, neutral["lines"]))
    assert not again.ok and "already" in again.error


def test_standard_fulfilment_tracking_belongs_to_flipkart(db, sandbox_http):
    account = sandbox.create_demo_account("fk-standard", "Standard fulfilment SHG")
    account.settings["shipment_type"] = "NORMAL"
    account.save(update_fields=["settings"])
    connector = make_connector(account)
    order_id, neutral = _unshipped(account, split=False)
    result = connector.push_fulfilment(_fulfilment(order_id, neutral["lines"]))
    assert not result.ok and "logistics partner" in result.error
    assert "self_ship_dispatch" not in connector.http.stats.by_operation


def test_dispatch_refusal_carries_flipkarts_message(account, connector, monkeypatch):
    order_id, neutral = _unshipped(account, split=False)
    original = connector._call

    def backdated(method, url, **kwargs):
        if url.endswith("selfShip/dispatch"):
            kwargs["json"]["shipments"][0]["tentativeDeliveryDate"] = "2001-01-01T10:00:00+05:30"
        return original(method, url, **kwargs)

    monkeypatch.setattr(connector, "_call", backdated)
    result = connector.push_fulfilment(_fulfilment(order_id, neutral["lines"]))
    assert not result.ok and "Tentative Delivery Date" in result.error
    assert json.dumps(result.raw)


def test_a_new_order_is_seen_on_the_next_poll(account, connector):
    since = timezone.now() - timedelta(seconds=5)
    sku = dataset.objects(account, "product").order_by("key").first().key
    neutral = sandbox.create_order(account, skus=[(sku, 2)])
    orders, _pages = collect_orders(connector, since=since)
    [order] = [o for o in orders if o.external_id == sandbox.flipkart_order_id(neutral["id"])]
    assert order.status == OrderStatus.UNSHIPPED and [(ln.sku, ln.quantity) for ln in order.lines] == [(sku, 2)]


# --- through the connect service, as the API-key form runs it ---------------------------------------------------


def test_connect_form_path_saves_the_token_and_tests_live(account, sandbox_http):
    shg = make_shg()
    values = sandbox.connection_credentials(account)
    connection = services.connection_connect_api_key(shg=shg, platform="flipkart", values=values)
    assert connection.status == "active" and connection.external_account_id == account.secrets["app_id"]
    assert connection.config["base_url"] == f"{BASE}/flipkart"
    assert connection.credentials["access_token"] and connection.credentials["app_secret"] == values["app_secret"]
    again = services.connection_connect_api_key(shg=shg, platform="flipkart", values=values)
    assert again.pk == connection.pk
    connection.refresh_from_db()
    sandbox.expire_token(account)
    connector = build_connector(connection)
    assert connector.fetch_orders(since=long_ago()).items
    connection.refresh_from_db()
    assert connection.credentials["access_token"] == connector.context.credentials["access_token"]
    with pytest.raises(services.ConnectFailed, match="Bad credentials"):
        services.connection_connect_api_key(shg=shg, platform="flipkart", values={**values, "app_secret": "nope"})
    sandbox.revoke_application(account)
    outcome = services.connection_test(connection=connection)
    connection.refresh_from_db()
    assert not outcome.ok and connection.status == "needs_reauth"
    assert values["app_secret"] not in connection.last_error
