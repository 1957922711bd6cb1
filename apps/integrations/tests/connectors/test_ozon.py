"""The Ozon connector against the in-process Ozon sandbox: the shared contract plus Ozon's own cases."""

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
from apps.integrations.connectors.errors import AuthError, PermanentError
from apps.integrations.connectors.ozon import OzonConnector
from apps.integrations.models import SyncRun
from apps.integrations.sync import sync_connection
from apps.integrations.tests.contract import ConnectorContract, collect_orders, sandbox_context
from apps.orders.models import Order
from apps.sandbox import dataset
from apps.sandbox.http import force_faults
from apps.sandbox.platforms import ozon as sandbox
from tests.factories import make_shg

BASE = "http://testserver/sandbox"
CLIENT_ID = "2184417"


def make_connector(account, *, credentials=None, config=None) -> OzonConnector:
    return OzonConnector(sandbox_context(sandbox, account, connection_id=f"ozon-test-{account.pk}", credentials=credentials,
                                         config=config))


def long_ago():
    return timezone.now() - timedelta(days=40)


class TestOzonConnectorContract(ConnectorContract):
    platform = "ozon"
    sandbox = sandbox
    connector_class = OzonConnector
    wrong_credentials = {"api_key": "not-the-key"}

    def make_account(self):
        return sandbox.create_demo_account("3090001", "Contract Seller SHG")

    def external_order_id(self, neutral):
        return sandbox.posting_number(neutral["id"])

    def expected_status(self, neutral):
        # FBS postings have no returned status: Ozon's returns API tracks returns, the posting stays delivered.
        return OrderStatus.DELIVERED if neutral["status"] == "returned" else OrderStatus(neutral["status"])

    def test_orders_are_normalized(self, connector, account):
        """The contract's check, except updated_at: Ozon gives a posting no updated stamp, so it is the latest
        date the posting carries (in process, or handed to delivery)."""
        orders, _ = collect_orders(connector, since=long_ago())
        truth = {self.external_order_id(o): o for o in self.truth_orders(account).values()}
        assert len(orders) == len(truth)
        for order in orders:
            expected = truth[order.external_id]
            assert order.status == self.expected_status(expected), (order.external_id, order.raw_status)
            assert order.total == Decimal(expected["total"]) and order.currency == "RUB"
            assert order.placed_at == dataset.parse_iso(expected["created_at"])
            in_delivery = expected["status"] in ("shipped", "delivered", "returned")
            assert order.updated_at == dataset.parse_iso(expected["updated_at" if in_delivery else "created_at"])
            assert sorted((ln.sku, ln.quantity, ln.unit_price) for ln in order.lines) == sorted(
                (ln["sku"], ln["quantity"], Decimal(ln["unit_price"])) for ln in expected["lines"])
            assert order.number == sandbox.order_number(expected["id"])
            assert order.buyer_name == expected["buyer"]["name"]
            assert order.shipping_address["city"] == expected["address"]["city"]


@pytest.fixture
def account(db):
    return sandbox.create_demo_account(CLIENT_ID, "Sakhi SHG")


@pytest.fixture
def connector(account, sandbox_http):
    return make_connector(account)


def unshipped(connector):
    orders, _ = collect_orders(connector, since=long_ago())
    return next(o for o in orders if o.status == OrderStatus.UNSHIPPED)


# --- description -------------------------------------------------------------------------------------------------


def test_descriptor_declares_only_what_ozon_has():
    assert OzonConnector.capabilities == {Capability.ORDERS, Capability.PRODUCTS, Capability.STOCK_PUSH,
                                          Capability.PRICE_PUSH, Capability.FULFILMENT_PUSH, Capability.WEBHOOKS}
    # Push notifications are unsigned: verified by source address and seller_id (test_webhooks_notifications.py).
    assert not OzonConnector.verify_webhook(body=b"{}", headers={}, secret="anything")
    assert {f.name for f in OzonConnector.credential_fields if f.secret} == {"api_key"}
    assert OzonConnector.default_currency == "RUB"


def test_missing_headers_and_wrong_key_are_auth_errors(account, sandbox_http):
    with pytest.raises(AuthError) as info:
        make_connector(account, credentials={"client_id": CLIENT_ID, "api_key": "wrong"}).test_connection()
    assert info.value.status_code == 403 and "Invalid Api-Key" in info.value.message
    assert "wrong" not in (info.value.raw or "")
    with pytest.raises(AuthError):
        make_connector(account, credentials={"client_id": CLIENT_ID}).test_connection()


# --- orders ----------------------------------------------------------------------------------------------------------


def test_postings_page_with_ozons_cursor(account, sandbox_http):
    connector = make_connector(account, config={"page_size": 7})
    orders, pages = collect_orders(connector, since=long_ago())
    assert len(orders) == dataset.objects(account, "order").count() and pages == -(-len(orders) // 7)
    assert len({o.external_id for o in orders}) == len(orders)


def test_incremental_window_is_by_status_change(account, connector):
    since = timezone.now() - timedelta(days=1)
    orders, _ = collect_orders(connector, since=since)
    expected = {sandbox.posting_number(o.key) for o in dataset.objects(account, "order")
                if dataset.parse_iso(o.data["updated_at"]) >= since}
    assert {o.external_id for o in orders} == expected
    neutral = sandbox.create_order(account, skus=[(dataset.objects(account, "product").first().key, 2)])
    orders, _ = collect_orders(connector, since=since)
    [new] = [o for o in orders if o.external_id == sandbox.posting_number(neutral["id"])]
    assert new.status == OrderStatus.UNSHIPPED and new.lines[0].quantity == 2


def test_unreadable_cursor_is_refused(connector):
    with pytest.raises(ValueError, match="cursor"):
        connector.fetch_orders(since=long_ago(), cursor="not json")


def test_posting_without_price_is_permanent_and_keeps_raw(connector, monkeypatch):
    original = sandbox.render_posting

    def broken(account, order, products):
        posting = original(account, order, products)
        posting["products"][0]["price"] = {"amount": "", "currency": "RUB"}
        return posting

    monkeypatch.setattr(sandbox, "render_posting", broken)
    with pytest.raises(PermanentError) as info:
        connector.fetch_orders(since=long_ago())
    assert "posting_number" in info.value.raw


def test_posting_paid_late_without_in_process_at_still_syncs(account, connector, monkeypatch):
    original = sandbox.render_posting

    def late(account_, order, products):
        posting = original(account_, order, products)
        posting["in_process_at"] = None
        return posting

    monkeypatch.setattr(sandbox, "render_posting", late)
    orders, _ = collect_orders(connector, since=long_ago())
    assert orders and all(o.placed_at == datetime.fromisoformat(o.raw["shipment_date"].replace("Z", "+00:00"))
                          for o in orders)


# --- products and pushes ---------------------------------------------------------------------------------------------


def test_products_carry_ozon_ids_and_rubles(account, connector):
    page = connector.fetch_products()
    assert page.next_cursor is None and len(page.items) == dataset.objects(account, "product").count()
    product = page.items[0]
    truth = dataset.objects(account, "product").get(key=product.sku).data
    assert product.currency == "RUB" and product.price == Decimal(truth["price"])
    assert product.mrp == Decimal(truth["mrp"]) and product.quantity == truth["quantity"]
    assert product.external_refs["product_id"] == str(sandbox.product_id(truth))


def test_stock_push_refuses_bad_input_and_reports_unknown_offers(account, connector):
    sku = dataset.objects(account, "product").order_by("key").first().key
    results = connector.push_stock([StockUpdate(sku=sku, quantity=-1), StockUpdate(sku="NO-SUCH", quantity=3),
                                    StockUpdate(sku=sku, quantity=4)])
    assert [r.ok for r in results] == [False, False, True]
    assert "NOT_FOUND" in results[1].error
    assert dataset.objects(account, "product").get(key=sku).data["quantity"] == 4


def test_stock_push_to_a_warehouse_ozon_does_not_know_calls_nothing(account, sandbox_http):
    connector = make_connector(account, config={"warehouse_id": "123"})
    sku = dataset.objects(account, "product").first().key
    before = dataset.objects(account, "product").get(key=sku).data["quantity"]
    [result] = connector.push_stock([StockUpdate(sku=sku, quantity=before + 5)])
    assert not result.ok and "no FBS warehouse 123" in result.error
    assert connector.http.stats.by_operation.get("stocks") is None
    assert dataset.objects(account, "product").get(key=sku).data["quantity"] == before


def test_price_push_validates_before_calling(account, connector):
    sku = dataset.objects(account, "product").order_by("key").first().key
    results = connector.push_prices([
        PriceUpdate(sku=sku, price=Decimal("10"), currency="INR"),
        PriceUpdate(sku=sku, price=Decimal("10.001"), currency="RUB"),
        PriceUpdate(sku=sku, price=Decimal("200"), currency="RUB", mrp=Decimal("150")),
    ])
    assert not any(r.ok for r in results) and connector.http.stats.requests == 0
    [result] = connector.push_prices([PriceUpdate(sku=sku, price=Decimal("99.90"), currency="RUB")])
    assert result.ok
    assert dataset.objects(account, "product").get(key=sku).data["price"] == "99.90"


# --- fulfilment ----------------------------------------------------------------------------------------------------------


def test_fulfilment_packs_then_sets_tracking_and_refuses_twice(account, connector):
    order = unshipped(connector)
    partial = FulfilmentData(order_external_id=order.external_id, carrier="СДЭК", tracking_number="1234567890",
                             shipped_at=datetime.now(UTC), lines=[FulfilmentLine(order.lines[0].external_id, 99)])
    result = connector.push_fulfilment(partial)
    assert not result.ok and "whole" in result.error
    whole = FulfilmentData(order_external_id=order.external_id, carrier="СДЭК", tracking_number="1234567890",
                           shipped_at=datetime.now(UTC))
    assert connector.push_fulfilment(whole).ok
    neutral = dataset.objects(account, "order").get(key=sandbox.neutral_id_of(order.external_id)).data
    assert neutral["status"] == "shipped" and neutral["tracking"]["number"] == "1234567890"
    again = connector.push_fulfilment(FulfilmentData(order_external_id=order.external_id, carrier="СДЭК",
                                                     tracking_number="NEW-1", shipped_at=datetime.now(UTC)))
    assert again.ok, "a packed posting only gets its tracking number replaced"
    cancelled = next(o for o in collect_orders(connector, since=long_ago())[0] if o.status == OrderStatus.CANCELLED)
    refused = connector.push_fulfilment(FulfilmentData(order_external_id=cancelled.external_id, carrier="x",
                                                       tracking_number="1", shipped_at=datetime.now(UTC)))
    assert not refused.ok and "cancelled" in refused.error


def test_unknown_posting_is_a_permanent_error(connector):
    with pytest.raises(PermanentError) as info:
        connector.push_fulfilment(FulfilmentData(order_external_id="1-2-3", carrier="x", tracking_number="1",
                                                 shipped_at=datetime.now(UTC)))
    assert info.value.status_code == 404 and json.loads(info.value.raw)["code"] == 5


# --- through the connect service and a sync -------------------------------------------------------------------------


def test_connect_then_sync_pulls_every_posting(account, sandbox_http):
    shg = make_shg()
    values = {**sandbox.connection_credentials(account)}
    connection = services.connection_connect_api_key(shg=shg, platform="ozon", values=values)
    assert connection.status == "active" and connection.external_account_id == CLIENT_ID
    assert connection.config["base_url"] == f"{BASE}/ozon"
    with pytest.raises(services.ConnectFailed):
        services.connection_connect_api_key(shg=shg, platform="ozon", values={**values, "api_key": "nope"})
    force_faults("429", 1)
    run = sync_connection(connection_id=connection.pk, since=long_ago())
    assert run.status == SyncRun.Status.SUCCESS, run.error
    assert Order.objects.filter(connection=connection).count() == dataset.objects(account, "order").count()
    assert set(Order.objects.filter(connection=connection).values_list("currency", flat=True)) == {"RUB"}
