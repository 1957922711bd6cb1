"""The Yandex Market connector against the in-process Yandex Market sandbox: the shared contract, Yandex's
own cases, and every request and answer of a full session checked against Yandex's official OpenAPI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from apps.integrations.connectors.base import (
    AuthKind,
    Capability,
    ConnectionContext,
    FulfilmentData,
    FulfilmentLine,
    OrderStatus,
    PriceUpdate,
    StockUpdate,
)
from apps.integrations.connectors.errors import AuthError, PermanentError, RateLimited
from apps.integrations.connectors.yandex_market import YandexMarketConnector
from apps.integrations.tests.connectors import yandex_market_spec as spec
from apps.integrations.tests.contract import ConnectorContract, collect_orders, collect_products, sandbox_context
from apps.sandbox import dataset
from apps.sandbox.http import force_faults
from apps.sandbox.platforms import yandex_market as sandbox
from apps.sandbox.transport import sandbox_session

BASE = "http://testserver/sandbox"


def make_connector(account, *, credentials=None, config=None) -> YandexMarketConnector:
    return YandexMarketConnector(sandbox_context(sandbox, account, connection_id=f"ym-test-{account.pk}", credentials=credentials,
                                                 config=config))


class TestYandexMarketConnectorContract(ConnectorContract):
    platform = "yandex_market"
    sandbox = sandbox
    connector_class = YandexMarketConnector
    wrong_credentials = {"api_key": "ACMA:not-the-key:0000"}

    def make_account(self):
        return sandbox.create_demo_account("21000001", "Contract SHG shop")


@pytest.fixture
def account(db):
    return sandbox.create_demo_account("21000002", "Lakshmi SHG shop")


@pytest.fixture
def connector(account, sandbox_http):
    return make_connector(account)


def long_ago():
    return timezone.now() - timedelta(days=40)


def truth_orders(account) -> dict[str, dict]:
    return {o.key: o.data for o in dataset.objects(account, "order")}


# --- description ---------------------------------------------------------------------------------------------


def test_descriptor_is_truthful():
    assert YandexMarketConnector.auth_kind == AuthKind.API_KEY
    assert YandexMarketConnector.capabilities == {Capability.ORDERS, Capability.PRODUCTS, Capability.STOCK_PUSH,
                                                  Capability.PRICE_PUSH, Capability.FULFILMENT_PUSH,
                                                  Capability.WEBHOOKS}
    # API notifications are unsigned: verified by source address and campaign (test_webhooks_notifications.py).
    assert not YandexMarketConnector.verify_webhook(body=b"{}", headers={}, secret="anything")
    assert {f.name for f in YandexMarketConnector.credential_fields if f.secret} == {"api_key"}
    assert {f.name: f.stored_in for f in YandexMarketConnector.credential_fields}["campaign_id"] == "config"
    assert YandexMarketConnector.default_currency == "RUB"


# --- connect ---------------------------------------------------------------------------------------------------


def test_test_connection_names_the_campaign_and_business(connector, account):
    info = connector.test_connection()
    assert info["external_account_id"] == str(account.settings["campaign_id"])
    assert info["business_id"] == account.settings["business_id"]
    assert info["placement_type"] == "DBS"


def test_a_campaign_the_key_does_not_open_is_refused(account, sandbox_http):
    connector = make_connector(account, config={"campaign_id": "123"})
    with pytest.raises(PermanentError, match="does not open campaign 123"):
        connector.test_connection()


def test_a_wrong_business_id_is_refused(account, sandbox_http):
    connector = make_connector(account, config={"business_id": "1"})
    with pytest.raises(PermanentError, match="belongs to business"):
        connector.test_connection()


def test_revoked_key_is_an_auth_error_without_the_key_in_it(account, sandbox_http):
    sandbox.revoke_key(account)
    connector = make_connector(account)
    with pytest.raises(AuthError) as info:
        connector.fetch_orders(since=long_ago())
    key = account.secrets["api_key"]
    assert key not in info.value.message and key not in (info.value.raw or "")
    assert "UNAUTHORIZED" in info.value.message


def test_business_id_is_read_from_the_campaign_when_not_configured(account, sandbox_http):
    config = sandbox.connection_config(account, BASE)
    del config["business_id"]
    connector = YandexMarketConnector(ConnectionContext(connection_id="x", credentials=sandbox.connection_credentials(
        account), config=config))
    orders, _pages = collect_orders(connector, since=long_ago())
    assert len(orders) == len(truth_orders(account))
    assert connector.http.stats.by_operation["campaigns"] == 1  # read once per connector, not per page


# --- orders ----------------------------------------------------------------------------------------------------


def test_orders_page_with_page_token_and_limit_is_capped(account, sandbox_http):
    connector = make_connector(account, config={"page_size": 7})
    orders, pages = collect_orders(connector, since=long_ago())
    assert {o.external_id for o in orders} == set(truth_orders(account))
    assert pages == -(-len(orders) // 7)
    wide = make_connector(account, config={"page_size": 500})
    assert len(wide.fetch_orders(since=long_ago()).items) == 50  # Yandex's maximum


def test_cursor_pins_the_window_and_resumes(account, sandbox_http):
    connector = make_connector(account, config={"page_size": 10})
    first = connector.fetch_orders(since=long_ago())
    state = json.loads(first.next_cursor)
    assert state["token"] and state["since"] and state["until"]
    rest, cursor = [], first.next_cursor
    fresh = make_connector(account, config={"page_size": 10})
    while cursor:
        page = fresh.fetch_orders(since=timezone.now(), cursor=cursor)  # `since` is ignored once a cursor exists
        rest.extend(page.items)
        cursor = page.next_cursor
    assert {o.external_id for o in first.items + rest} == set(truth_orders(account))


def test_money_is_exact_and_plus_points_count_toward_the_total(connector, account):
    orders, _ = collect_orders(connector, since=long_ago())
    truth = truth_orders(account)
    with_plus = [o for o in orders if any("cashback" in (ln.raw.get("prices") or {}) for ln in o.lines)]
    assert with_plus, "the sandbox pays some orders partly with Plus points"
    for order in orders:
        assert order.currency == "RUB"  # Yandex says RUR
        assert order.total == Decimal(truth[order.external_id]["total"])
        assert sum(ln.unit_price * ln.quantity for ln in order.lines) == order.total
        assert order.shipping_address["city"]
        assert order.raw_status.split("/")[0] in {"UNPAID", "PROCESSING", "DELIVERY", "DELIVERED", "CANCELLED", "RETURNED"}


def test_an_order_without_items_prices_or_dates_is_a_clear_permanent_error(connector):
    with pytest.raises(PermanentError, match="creationDate") as info:
        connector._order({"orderId": 5, "status": "PROCESSING", "items": []})
    assert info.value.raw
    with pytest.raises(PermanentError, match="unknown status"):
        connector._order({"orderId": 5, "status": "TELEPORTED", "creationDate": "2026-11-01T10:00:00+03:00",
                          "items": []})


def test_420_enhance_your_calm_is_retried_then_raised(connector):
    force_faults("429", 1)
    connector.fetch_orders(since=long_ago())
    assert connector.http.stats.rate_limited == 1
    connector.http.max_retries = 1
    force_faults("429", 5)
    with pytest.raises(RateLimited) as info:
        connector.fetch_orders(since=long_ago())
    assert info.value.status_code == 420


# --- products, stock, prices -------------------------------------------------------------------------------------


def test_products_carry_price_crossed_out_price_and_market_sku(connector, account):
    products = collect_products(connector)
    truth = {o.key: o.data for o in dataset.objects(account, "product")}
    assert {p.sku for p in products} == set(truth)
    for product in products:
        assert product.price == Decimal(truth[product.sku]["price"]) and product.currency == "RUB"
        assert product.mrp is None or product.mrp == product.mrp.to_integral_value()
        assert product.external_refs["market_sku"].isdigit()


def test_stock_push_is_one_call_and_bad_rows_are_refused_before_it(connector, account):
    skus = sorted(o.key for o in dataset.objects(account, "product"))[:3]
    results = connector.push_stock([StockUpdate(skus[0], 5), StockUpdate(skus[1], -1), StockUpdate(skus[2], 0),
                                    StockUpdate(skus[0], 9)])
    assert [r.ok for r in results] == [True, False, True, False]
    assert connector.http.stats.by_operation["stocks"] == 1
    truth = {o.key: o.data["quantity"] for o in dataset.objects(account, "product")}
    assert (truth[skus[0]], truth[skus[2]]) == (5, 0)


def test_a_refused_stock_batch_fails_its_skus_and_changes_nothing(connector, account):
    sku = sorted(o.key for o in dataset.objects(account, "product"))[0]
    before = {o.key: o.data["quantity"] for o in dataset.objects(account, "product")}
    results = connector.push_stock([StockUpdate(sku, 3), StockUpdate("NOT-A-SKU", 4)])
    assert [r.ok for r in results] == [False, False]
    assert "NOT-A-SKU" in results[0].error
    assert {o.key: o.data["quantity"] for o in dataset.objects(account, "product")} == before


def test_prices_go_to_the_business_with_the_crossed_out_price(connector, account):
    sku = sorted(o.key for o in dataset.objects(account, "product"))[1]
    results = connector.push_prices([PriceUpdate(sku, Decimal("990.50"), "RUB", mrp=Decimal("1200"))])
    assert results[0].ok, results
    truth = dataset.objects(account, "product").get(key=sku).data
    assert (truth["price"], truth["mrp"]) == ("990.50", "1200.00")


@pytest.mark.parametrize(("price", "currency", "mrp", "words"), [
    (Decimal("100"), "INR", None, "sells in RUB"),
    (Decimal("0"), "RUB", None, "positive"),
    (Decimal("10.001"), "RUB", None, "two decimals"),
    (Decimal("100"), "RUB", Decimal("102"), "5% to 99%"),
    (Decimal("100"), "RUB", Decimal("150.5"), "whole number"),
])
def test_prices_yandex_would_refuse_are_refused_before_any_call(connector, price, currency, mrp, words):
    results = connector.push_prices([PriceUpdate("HAAT-0001", price, currency, mrp=mrp)])
    assert not results[0].ok and words in results[0].error
    assert connector.http.stats.requests == 0


# --- fulfilment ----------------------------------------------------------------------------------------------------


def _unshipped(connector):
    orders, _ = collect_orders(connector, since=long_ago())
    return next(o for o in orders if o.status == OrderStatus.UNSHIPPED)


def test_dbs_fulfilment_sends_ready_to_ship_track_code_then_delivery(connector, account):
    order = _unshipped(connector)
    result = connector.push_fulfilment(FulfilmentData(
        order_external_id=order.external_id, carrier="Boxberry", tracking_number="BB123", shipped_at=datetime.now(UTC),
        lines=[FulfilmentLine(ln.external_id, ln.quantity) for ln in order.lines], order_raw=order.raw))
    assert result.ok, result
    neutral = truth_orders(account)[order.external_id]
    assert neutral["status"] == "shipped" and neutral["ym"]["status"] == "DELIVERY"
    assert neutral["ym"]["tracks"] == [{"trackCode": "BB123", "deliveryServiceId": sandbox.OWN_DELIVERY_SERVICE}]
    assert connector._order(sandbox.render_order(account, neutral)).status == OrderStatus.SHIPPED


def test_fbs_fulfilment_only_marks_the_order_ready_to_ship(db, sandbox_http):
    account = sandbox.create_demo_account("21000003", "FBS shop", placement="FBS")
    connector = make_connector(account)
    order = _unshipped(connector)
    result = connector.push_fulfilment(FulfilmentData(
        order_external_id=order.external_id, carrier="", tracking_number="IGNORED", shipped_at=datetime.now(UTC),
        order_raw=order.raw))
    assert result.ok, result
    neutral = truth_orders(account)[order.external_id]
    assert neutral["ym"]["status"] == "PROCESSING" and neutral["ym"]["substatus"] == "READY_TO_SHIP"
    assert "tracks" not in neutral["ym"] and neutral["status"] == "unshipped"


def test_fulfilment_reads_the_order_fresh_and_refuses_a_delivered_one(connector):
    orders, _ = collect_orders(connector, since=long_ago())
    order = next(o for o in orders if o.status == OrderStatus.DELIVERED)
    before = dict(connector.http.stats.by_operation)
    stale = {**order.raw, "status": "PROCESSING", "substatus": "STARTED"}  # what Haat stored may be behind
    result = connector.push_fulfilment(FulfilmentData(order.external_id, "x", "y", datetime.now(UTC), order_raw=stale))
    assert not result.ok and "DELIVERED" in result.error
    assert connector.http.stats.by_operation["orders"] == before["orders"] + 1  # the one fresh read
    assert "order_status" not in connector.http.stats.by_operation


def test_an_order_of_another_campaign_is_not_shipped(connector):
    result = connector.push_fulfilment(FulfilmentData("999999999", "x", "y", datetime.now(UTC)))
    assert not result.ok and "no order 999999999" in result.error


def test_a_status_change_yandex_refuses_raises_with_its_words(connector, account, monkeypatch):
    """The order moved on between Haat's read and its write: Yandex's refusal comes back whole."""
    order = next(o for o in truth_orders(account).values() if o["status"] == "delivered")
    monkeypatch.setattr(connector, "_current_order",
                        lambda order_id: {"status": "PROCESSING", "substatus": "STARTED", "programType": "DBS"})
    with pytest.raises(PermanentError, match="STATUS_NOT_ALLOWED"):
        connector.push_fulfilment(FulfilmentData(order["id"], "x", "", datetime.now(UTC)))


# --- the official spec ----------------------------------------------------------------------------------------------


@pytest.fixture
def recorded(monkeypatch):
    """Every request the connector sends and every answer the sandbox gives, kept for the spec checks."""
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


def test_every_request_and_answer_matches_the_official_spec(db, recorded):
    reason = spec.skip_reason()
    if reason:
        pytest.skip(reason)
    account = sandbox.create_demo_account("21000004", "Spec SHG shop")
    connector = make_connector(account, config={"page_size": 20})
    connector.test_connection()
    orders, _ = collect_orders(connector, since=long_ago())
    products = collect_products(connector)
    connector.push_stock([StockUpdate(products[0].sku, 4)])
    connector.push_stock([StockUpdate("NOT-A-SKU", 4)])  # a 400 answer
    connector.push_prices([PriceUpdate(products[0].sku, Decimal("99.90"), "RUB", mrp=Decimal("120"))])
    order = next(o for o in orders if o.status == OrderStatus.UNSHIPPED)
    connector.push_fulfilment(FulfilmentData(order.external_id, "Boxberry", "BB1", datetime.now(UTC), order_raw=order.raw))
    force_faults("429", 1)
    connector.fetch_orders(since=long_ago())  # a 420 answer, then the retry
    bad = make_connector(account, credentials={"api_key": "nope"})
    with pytest.raises(AuthError):
        bad.test_connection()  # a 401 answer
    problems = []
    operations_seen = set()
    for prepared, response in recorded:
        url = urlsplit(prepared.url)
        where = url.path.removeprefix("/sandbox/yandex_market")
        body = json.loads(prepared.body) if prepared.body else None
        operations_seen.add((prepared.method, response.status_code))
        problems += [f"request {prepared.method} {where}: {p}"
                     for p in spec.request_errors(prepared.method, where, parse_qs(url.query), body)]
        problems += [f"answer {response.status_code} to {prepared.method} {where}: {p}"
                     for p in spec.response_errors(prepared.method, where, response.status_code, response.json())]
        assert prepared.headers.get("Api-Key"), "every call authenticates with the Api-Key header"
    assert not problems, "\n".join(problems[:20])
    assert {420, 401, 400} <= {status for _m, status in operations_seen}
    assert len(recorded) >= 10


def test_the_spec_check_catches_invented_fields_and_wrong_types():
    """The check above can fail: an answer or a request off the official schema is reported."""
    reason = spec.skip_reason()
    if reason:
        pytest.skip(reason)
    answer = {"campaigns": [{"id": "1", "business": {"id": 2, "name": "x"}, "nickname": "y"}]}
    problems = spec.response_errors("GET", "/v2/campaigns", 200, answer)
    assert any("nickname" in p for p in problems) and any("'1' is not of type 'integer'" in p for p in problems)
    request = {"skus": [{"sku": "A", "items": [{"count": 1, "warehouse": 5}]}]}
    assert spec.request_errors("PUT", "/v2/campaigns/1/offers/stocks", {}, request) == [
        "body/skus/0/items/0/warehouse: not in the spec"]
    assert spec.request_errors("GET", "/v2/campaigns", {"offset": ["1"]}, None) == ["unknown query parameter offset"]


# --- the sandbox's demo button ---------------------------------------------------------------------------------------


def test_demo_order_button_places_an_order_the_next_poll_sees(account, connector, client):
    start = timezone.now() - timedelta(seconds=2)
    sku = sorted(o.key for o in dataset.objects(account, "product"))[0]
    response = client.post("/sandbox/yandex_market/_sandbox/orders", data={"account_id": account.account_id,
                                                                          "skus": [{"sku": sku, "quantity": 2}]},
                           content_type="application/json")
    assert response.status_code == 201
    placed = response.json()
    assert placed["status"] == "PROCESSING" and placed["substatus"] == "STARTED"
    assert [o.external_id for o in collect_orders(connector, since=start)[0]] == [str(placed["orderId"])]
    bad = client.post("/sandbox/yandex_market/_sandbox/orders", data={"account_id": account.account_id,
                                                                     "skus": [{"sku": "NOPE", "quantity": 1}]},
                      content_type="application/json")
    assert bad.status_code == 400 and bad.json()["errors"][0]["code"] == "BAD_REQUEST"
