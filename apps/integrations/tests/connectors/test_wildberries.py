"""The Wildberries connector against the in-process WB sandbox (one sub-path per API host)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.integrations import services
from apps.integrations.connectors.base import (
    Capability,
    ConnectionContext,
    FulfilmentData,
    OrderStatus,
    PriceUpdate,
    StockUpdate,
)
from apps.integrations.connectors.errors import AuthError, RateLimited
from apps.integrations.connectors.wildberries import WildberriesConnector
from apps.integrations.models import SyncRun
from apps.integrations.sync import sync_connection
from apps.integrations.tests.contract import ConnectorContract, collect_orders, sandbox_context
from apps.orders.models import Order
from apps.sandbox import dataset
from apps.sandbox.http import force_faults
from apps.sandbox.platforms import wildberries as sandbox
from tests.factories import make_shg

BASE = "http://testserver/sandbox"


def make_connector(account, *, credentials=None, config=None) -> WildberriesConnector:
    return WildberriesConnector(sandbox_context(sandbox, account, connection_id=f"wb-test-{account.pk}", credentials=credentials,
                                                config=config))


def long_ago():
    return timezone.now() - timedelta(days=40)


def neutral(account, uid):
    return dataset.objects(account, "order").get(key=uid.split("_", 1)[0]).data


class TestWildberriesConnectorContract(ConnectorContract):
    platform = "wildberries"
    sandbox = sandbox
    connector_class = WildberriesConnector
    wrong_credentials = {"token": "not-the-token"}

    def make_account(self):
        return sandbox.create_demo_account("wb-contract", "Contract Seller SHG")

    def external_order_id(self, neutral):
        return sandbox.order_uid(neutral["id"])

    def expected_status(self, neutral):
        # WB holds no order back for review: a pending checkout is simply waiting to be assembled.
        return OrderStatus.UNSHIPPED if neutral["status"] == "pending" else OrderStatus(neutral["status"])

    def test_orders_are_normalized(self, connector, account):
        """The contract's check, except updated_at: WB stamps no update time, so it is the creation time."""
        orders, _ = collect_orders(connector, since=long_ago())
        truth = {self.external_order_id(o): o for o in self.truth_orders(account).values()}
        assert len(orders) == len(truth)
        for order in orders:
            expected = truth[order.external_id]
            assert order.status == self.expected_status(expected), (order.external_id, order.raw_status)
            assert order.total == Decimal(expected["total"]) and order.currency == "RUB"
            assert order.placed_at == order.updated_at == dataset.parse_iso(expected["created_at"])
            assert sorted((ln.sku, ln.quantity, ln.unit_price) for ln in order.lines) == sorted(
                (ln["sku"], ln["quantity"], Decimal(ln["unit_price"])) for ln in expected["lines"])
            assert sum(len(ln.raw["order_ids"]) for ln in order.lines) == sum(ln["quantity"] for ln in expected["lines"])

    def test_push_prices(self, connector, account):
        """WB prices are whole rubles and discounts whole percents: 120 off 150 is 20 %."""
        sku = sorted(self.truth_products(account))[0]
        [result] = connector.push_prices([PriceUpdate(sku=sku, price=Decimal("120"), currency="RUB", mrp=Decimal("150"),
                                                      external_refs=self._refs(connector, sku))])
        assert result.ok, result
        truth = self.truth_products(account)[sku]
        assert (Decimal(truth["price"]), Decimal(truth["mrp"])) == (Decimal("120"), Decimal("150"))

    def test_push_fulfilment(self, connector, account):
        """WB has no tracking numbers: the order's tasks go into a supply handed to WB; its id is recorded."""
        orders, _ = collect_orders(connector, since=long_ago())
        order = next(o for o in orders if o.status == OrderStatus.UNSHIPPED)
        result = connector.push_fulfilment(FulfilmentData(order_external_id=order.external_id, carrier="",
                                                          tracking_number="", shipped_at=datetime.now(UTC),
                                                          order_raw=order.raw))
        assert result.ok and result.external_id.startswith("WB-GI-"), result
        truth = neutral(account, order.external_id)
        assert truth["status"] == "shipped" and truth["tracking"]["number"] == result.external_id
        again = connector.push_fulfilment(FulfilmentData(order_external_id=order.external_id, carrier="",
                                                         tracking_number="", shipped_at=datetime.now(UTC),
                                                         order_raw=order.raw))
        assert not again.ok and "waiting" in again.error


@pytest.fixture
def account(db):
    return sandbox.create_demo_account("wb-seller", "Jeevika SHG")


@pytest.fixture
def connector(account, sandbox_http):
    return make_connector(account)


def test_descriptor_declares_no_webhooks():
    assert not WildberriesConnector.supports(Capability.WEBHOOKS)
    assert {f.name for f in WildberriesConnector.credential_fields if f.secret} == {"token"}


def test_hosts_come_from_config_or_production(account):
    sandboxed = make_connector(account)
    assert sandboxed._host("prices") == f"{BASE}/wildberries/discounts-prices-api"
    only_root = WildberriesConnector(ConnectionContext(connection_id="x", credentials={},
                                                       config={"base_url": f"{BASE}/wildberries"}))
    assert only_root._host("content") == f"{BASE}/wildberries/content-api"
    production = WildberriesConnector(ConnectionContext(connection_id="x", credentials={}, config={}))
    assert production._host("marketplace") == "https://marketplace-api.wildberries.ru"


def test_bad_token_is_auth_error_without_the_token(account, sandbox_http):
    with pytest.raises(AuthError) as info:
        make_connector(account, credentials={"token": "leaky-secret"}).test_connection()
    assert info.value.status_code == 401 and "leaky-secret" not in (info.value.raw or "")


def test_429_reads_x_ratelimit_retry(connector):
    connector.http.max_retries = 1
    force_faults("429", 2)
    with pytest.raises(RateLimited) as info:
        connector.test_connection()
    assert info.value.retry_after == 1.0 and connector.http.stats.rate_limited == 2


def test_small_pages_keep_each_checkout_whole(account, sandbox_http):
    connector = make_connector(account, config={"page_size": 3})
    orders, pages = collect_orders(connector, since=long_ago())
    assert len(orders) == len({o.external_id for o in orders}) == dataset.objects(account, "order").count()
    assert pages > 10
    for order in orders:
        expected = neutral(account, order.external_id)
        assert sum(ln.quantity for ln in order.lines) == sum(ln["quantity"] for ln in expected["lines"])


def test_new_order_comes_back_with_one_task_per_unit(account, connector):
    sku = dataset.objects(account, "product").order_by("key").first().key
    placed = sandbox.create_order(account, skus=[(sku, 3)])
    orders, _ = collect_orders(connector, since=timezone.now() - timedelta(hours=1))
    [order] = [o for o in orders if o.external_id == sandbox.order_uid(placed["id"])]
    assert order.status == OrderStatus.UNSHIPPED and [(ln.sku, ln.quantity) for ln in order.lines] == [(sku, 3)]
    assert len(order.lines[0].raw["order_ids"]) == 3


def test_products_carry_wb_ids_prices_and_stock(account, connector):
    page = connector.fetch_products()
    assert page.next_cursor is None and len(page.items) == dataset.objects(account, "product").count()
    for product in page.items:
        truth = dataset.objects(account, "product").get(key=product.sku).data
        assert (product.price, product.mrp, product.quantity) == (Decimal(truth["price"]), Decimal(truth["mrp"]),
                                                                  truth["quantity"])
        assert product.external_refs["nm_id"] == str(sandbox.nm_id(truth)) and product.barcode == truth["barcode"]


def test_stock_push_409_fails_only_named_items_and_bad_input_is_refused(account, connector):
    products = {p.sku: p for p in connector.fetch_products().items}
    sku = sorted(products)[0]
    results = connector.push_stock([StockUpdate(sku=sku, quantity=-2),
                                    StockUpdate(sku=sku, quantity=11, external_refs=products[sku].external_refs)])
    assert [r.ok for r in results] == [False, True]
    assert dataset.objects(account, "product").get(key=sku).data["quantity"] == 11
    results = connector.push_stock([StockUpdate(sku=sku, quantity=5, external_refs=products[sku].external_refs),
                                    StockUpdate(sku="GHOST", quantity=1, external_refs={"barcode": "000"})])
    assert [r.ok for r in results] == [False, False] and "NotFound" in results[1].error
    assert dataset.objects(account, "product").get(key=sku).data["quantity"] == 11, "a refused request changes nothing"


def test_prices_must_be_whole_rubles_and_percents(account, connector):
    sku = dataset.objects(account, "product").order_by("key").first().key
    results = connector.push_prices([
        PriceUpdate(sku=sku, price=Decimal("99.50"), currency="RUB"),
        PriceUpdate(sku=sku, price=Decimal("100"), currency="RUB", mrp=Decimal("150")),
        PriceUpdate(sku=sku, price=Decimal("100"), currency="USD"),
    ])
    assert not any(r.ok for r in results) and connector.http.stats.requests == 0
    assert "whole percents" in results[1].error


def test_connect_then_sync(account, sandbox_http):
    shg = make_shg()
    connection = services.connection_connect_api_key(shg=shg, platform="wildberries",
                                                     values=sandbox.connection_credentials(account))
    assert connection.external_account_id == account.settings["sid"]
    run = sync_connection(connection_id=connection.pk, since=long_ago())
    assert run.status == SyncRun.Status.SUCCESS, run.error
    assert Order.objects.filter(connection=connection).count() == dataset.objects(account, "order").count()
