"""The Uzum Market connector against the in-process Uzum sandbox: the shared contract plus Uzum's own cases."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from apps.integrations.connectors.base import (
    AuthKind,
    Capability,
    OrderStatus,
    PriceUpdate,
    StockUpdate,
)
from apps.integrations.connectors.errors import AuthError, NotSupported, PermanentError, RateLimited
from apps.integrations.connectors.uzum import UzumConnector
from apps.integrations.tests.contract import ConnectorContract, collect_orders, collect_products, sandbox_context
from apps.sandbox import dataset
from apps.sandbox.http import force_faults
from apps.sandbox.platforms import uzum as sandbox
from apps.sandbox.transport import sandbox_session

BASE = "http://testserver/sandbox"


def make_connector(account, *, credentials=None, config=None) -> UzumConnector:
    return UzumConnector(sandbox_context(sandbox, account, connection_id=f"uz-test-{account.pk}", credentials=credentials,
                                         config=config))


class TestUzumConnectorContract(ConnectorContract):
    platform = "uzum"
    sandbox = sandbox
    connector_class = UzumConnector
    wrong_credentials = {"api_token": "not-the-token"}

    def make_account(self):
        return sandbox.create_demo_account("41001", "Contract SHG shop")

    def expected_status(self, neutral):
        """Uzum lists an order once it is paid and waiting for the seller: a neutral pending order is CREATED."""
        return OrderStatus.UNSHIPPED if neutral["status"] == "pending" else OrderStatus(neutral["status"])

    def test_push_prices(self, connector, account):
        """Overrides the contract's 123.45: Uzum prices are whole sums; the fractional case is refused below."""
        sku = sorted(self.truth_products(account))[0]
        results = connector.push_prices([PriceUpdate(sku=sku, price=Decimal("12300"), currency="UZS",
                                                     mrp=Decimal("15000"), external_refs=self._refs(connector, sku))])
        assert results[0].ok, results
        truth = self.truth_products(account)[sku]
        assert (Decimal(truth["price"]), Decimal(truth["mrp"])) == (Decimal("12300"), Decimal("15000"))


@pytest.fixture
def account(db):
    return sandbox.create_demo_account("41002", "Lakshmi SHG shop")


@pytest.fixture
def connector(account, sandbox_http):
    return make_connector(account)


def long_ago():
    return timezone.now() - timedelta(days=40)


def truth_orders(account) -> dict[str, dict]:
    return {o.key: o.data for o in dataset.objects(account, "order")}


def truth_products(account) -> dict[str, dict]:
    return {o.key: o.data for o in dataset.objects(account, "product")}


@pytest.fixture
def recorded(monkeypatch):
    calls = []

    def session():
        inner = sandbox_session()
        original = inner.send

        def send(prepared, **kwargs):
            response = original(prepared, **kwargs)
            calls.append((prepared, response))
            return response

        inner.send = send
        return inner

    monkeypatch.setattr("apps.integrations.http.new_session", session)
    return calls


# --- description -------------------------------------------------------------------------------------------------


def test_descriptor_declares_only_what_uzum_was_verified_to_have():
    assert UzumConnector.auth_kind == AuthKind.API_KEY
    assert UzumConnector.capabilities == {Capability.ORDERS, Capability.PRODUCTS, Capability.STOCK_PUSH,
                                          Capability.PRICE_PUSH}
    assert {f.name for f in UzumConnector.credential_fields if f.secret} == {"api_token"}
    assert {f.name: f.stored_in for f in UzumConnector.credential_fields}["shop_id"] == "config"
    assert UzumConnector.default_currency == "UZS"


def test_fulfilment_and_webhooks_are_not_offered(account):
    connector = make_connector(account)
    with pytest.raises(NotSupported):
        connector.push_fulfilment(None)
    with pytest.raises(NotSupported):
        connector.register_webhooks(callback_url="https://haat.example/wh", secret="s")


# --- auth ------------------------------------------------------------------------------------------------------------


def test_the_raw_token_is_sent_without_bearer(account, recorded):
    connector = make_connector(account, credentials={"api_token": "Bearer " + account.secrets["api_token"]})
    info = connector.test_connection()
    assert info["external_account_id"] == str(account.settings["shop_id"])
    assert info["display_name"] == account.name
    assert recorded[0][0].headers["Authorization"] == account.secrets["api_token"]


def test_a_shop_the_token_does_not_open_is_refused(account, sandbox_http):
    with pytest.raises(PermanentError, match="does not open Uzum shop 99"):
        make_connector(account, config={"shop_id": "99"}).test_connection()


def test_revoked_token_is_an_auth_error_without_the_token(account, sandbox_http):
    sandbox.revoke_token(account)
    with pytest.raises(AuthError) as info:
        make_connector(account).fetch_orders(since=long_ago())
    assert "forbidden-001" in info.value.message
    assert account.secrets["api_token"] not in info.value.message + (info.value.raw or "")


# --- orders ------------------------------------------------------------------------------------------------------------


def test_orders_page_with_shop_ids_window_and_size(account, recorded):
    connector = make_connector(account, config={"page_size": 7})
    orders, pages = collect_orders(connector, since=long_ago())
    assert {o.external_id for o in orders} == set(truth_orders(account))
    assert pages == -(-len(orders) // 7)
    query = parse_qs(urlsplit(recorded[0][0].url).query)
    assert query["shopIds"] == [str(account.settings["shop_id"])] and query["size"] == ["7"]
    assert int(query["dateTo"][0]) - int(query["dateFrom"][0]) >= 70 * 86400 * 1000  # 40 days + 30 of look-back
    wide = make_connector(account, config={"page_size": 500})
    assert len(wide.fetch_orders(since=long_ago()).items) == 50  # Uzum's maximum


def test_cursor_pins_the_window(account, sandbox_http):
    connector = make_connector(account, config={"page_size": 10})
    first = connector.fetch_orders(since=long_ago())
    state = json.loads(first.next_cursor)
    assert state["page"] == 1 and state["to"] > state["from"]
    rest, cursor = [], first.next_cursor
    fresh = make_connector(account, config={"page_size": 10})
    while cursor:
        page = fresh.fetch_orders(since=timezone.now(), cursor=cursor)  # `since` is ignored once a cursor exists
        rest.extend(page.items)
        cursor = page.next_cursor
    assert {o.external_id for o in first.items + rest} == set(truth_orders(account))


def test_updated_at_is_the_latest_status_date_and_money_is_whole_sums(connector, account):
    orders, _ = collect_orders(connector, since=long_ago())
    truth = truth_orders(account)
    for order in orders:
        assert order.currency == "UZS" and order.total == order.total.to_integral_value()
        assert sum(ln.unit_price * ln.quantity for ln in order.lines) == order.total
        assert order.updated_at == dataset.parse_iso(truth[order.external_id]["updated_at"])
        assert order.buyer_name == truth[order.external_id]["buyer"]["name"]
    assert {o.raw_status for o in orders} >= {"DELIVERING", "COMPLETED", "CANCELED"}


def test_a_new_order_is_seen_by_the_next_incremental_poll(connector, account):
    start = timezone.now() - timedelta(seconds=2)
    order = sandbox.create_order(account, skus=[(sorted(truth_products(account))[0], 2)])
    orders, _ = collect_orders(connector, since=start)
    assert [o.external_id for o in orders] == [order["id"]]
    assert orders[0].status == OrderStatus.UNSHIPPED and orders[0].raw_status == "CREATED"


def test_an_order_with_a_fractional_price_is_a_clear_permanent_error(connector):
    bad = {"id": 5, "status": "CREATED", "dateCreated": "2026-11-01T10:00:00+05:00", "price": 10.5, "orderItems": []}
    with pytest.raises(PermanentError, match="order price") as info:
        connector._order(bad)
    assert info.value.raw
    with pytest.raises(PermanentError, match="unknown status"):
        connector._order({**bad, "price": 10, "status": "TELEPORTED"})


def test_dateto_before_datefrom_is_uzums_own_400(connector):
    cursor = json.dumps({"since": 2, "from": 5, "to": 1, "page": 0})
    with pytest.raises(PermanentError, match="seller-order-12"):
        connector.fetch_orders(since=long_ago(), cursor=cursor)


def test_429_is_retried_and_then_raised(connector):
    force_faults("429", 1)
    connector.fetch_products()
    assert connector.http.stats.rate_limited == 1
    connector.http.max_retries = 1
    force_faults("429", 5)
    with pytest.raises(RateLimited):
        connector.fetch_products()


# --- products, stock, prices ---------------------------------------------------------------------------------------------


def test_products_are_skus_with_uzum_ids(connector, account):
    products = collect_products(connector)
    truth = truth_products(account)
    assert {p.sku for p in products} == set(truth)
    for product in products:
        assert product.price == Decimal(truth[product.sku]["price"]) and product.currency == "UZS"
        assert product.quantity == truth[product.sku]["quantity"]
        assert product.external_refs["sku_id"].isdigit() and product.external_refs["product_id"].isdigit()


def test_stock_push_reads_missing_ids_once_and_sends_one_batch(connector, account):
    skus = sorted(truth_products(account))[:3]
    results = connector.push_stock([StockUpdate(skus[0], 4), StockUpdate(skus[1], -2), StockUpdate(skus[2], 0),
                                    StockUpdate("NOT-A-SKU", 1)])
    assert [r.ok for r in results] == [True, False, True, False]
    assert "no SKU" in results[3].error
    truth = truth_products(account)
    assert (truth[skus[0]]["quantity"], truth[skus[2]]["quantity"]) == (4, 0)


def test_a_refused_stock_batch_fails_its_skus_and_changes_nothing(connector, account):
    sku = sorted(truth_products(account))[0]
    refs = {p.sku: p.external_refs for p in collect_products(connector)}[sku]
    before = {k: v["quantity"] for k, v in truth_products(account).items()}
    results = connector.push_stock([StockUpdate(sku, 9, external_refs={**refs, "barcode": "1"})])
    assert not results[0].ok and "storage-service-05" in results[0].error
    assert {k: v["quantity"] for k, v in truth_products(account).items()} == before


@pytest.mark.parametrize(("price", "currency", "mrp", "words"), [
    (Decimal("100"), "RUB", None, "UZS only"),
    (Decimal("100.50"), "UZS", None, "whole sums"),
    (Decimal("0"), "UZS", None, "from 1"),
    (Decimal("200"), "UZS", Decimal("150"), "below the selling price"),
])
def test_prices_uzum_would_refuse_are_refused_before_any_call(connector, price, currency, mrp, words):
    results = connector.push_prices([PriceUpdate("HAAT-0001", price, currency, mrp=mrp)])
    assert not results[0].ok and words in results[0].error
    assert connector.http.stats.requests == 0


def test_prices_go_per_product_with_full_and_sell_price(account, recorded):
    connector = make_connector(account)
    skus = sorted(truth_products(account))[:2]
    refs = {p.sku: p.external_refs for p in collect_products(connector)}
    recorded.clear()
    results = connector.push_prices([PriceUpdate(skus[0], Decimal("50000"), "UZS", external_refs=refs[skus[0]]),
                                     PriceUpdate(skus[1], Decimal("70000"), "UZS", mrp=Decimal("90000"),
                                                 external_refs=refs[skus[1]])])
    assert [r.ok for r in results] == [True, True]
    bodies = [json.loads(p.body) for p, _r in recorded]
    assert len(bodies) == 2  # one product per call, as Uzum's request carries one productId
    assert bodies[0]["skuList"][0] == {"skuId": int(refs[skus[0]]["sku_id"]), "fullPrice": 50000, "sellPrice": 50000,
                                       "skuTitle": refs[skus[0]]["sku_title"]}
    truth = truth_products(account)
    assert (truth[skus[1]]["price"], truth[skus[1]]["mrp"]) == ("70000.00", "90000.00")


def test_demo_order_button_places_an_order(account, client):
    sku = sorted(truth_products(account))[1]
    response = client.post("/sandbox/uzum/_sandbox/orders", data={"account_id": account.account_id,
                                                                  "skus": [{"sku": sku, "quantity": 3}]},
                           content_type="application/json")
    assert response.status_code == 201
    placed = response.json()["payload"]
    assert placed["status"] == "CREATED" and placed["orderItems"][0]["amount"] == 3
    assert placed["price"] == int(Decimal(truth_products(account)[sku]["price"])) * 3
    missing = client.post("/sandbox/uzum/_sandbox/orders", data={"account_id": "nope"}, content_type="application/json")
    assert missing.status_code == 404
