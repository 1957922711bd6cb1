"""The shared connector test suite: every connector's test file mixes this in and supplies a sandbox account.

A subclass sets `platform` and implements `make_account()` and either `make_connector(account, base,
bad_credentials=False)` or, for a connector built from its sandbox module's credentials and config alone,
the attributes `connector_class`, `sandbox` and `wrong_credentials`. The tests run the connector unchanged
against the in-process sandbox and compare what it returns with the sandbox's ground truth
(apps/sandbox/dataset.py's neutral shapes). `sandbox_context` builds the same context for a file's own tests.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest
from django.utils import timezone

from apps.integrations.connectors.base import (
    AuthKind,
    Capability,
    ConnectionContext,
    Connector,
    FulfilmentData,
    FulfilmentLine,
    OrderData,
    OrderStatus,
    PriceUpdate,
    StockUpdate,
)
from apps.integrations.connectors.errors import AuthError, PermanentError, RateLimited
from apps.integrations.connectors.registry import get_connector_class
from apps.integrations.http import HttpClient
from apps.sandbox import dataset
from apps.sandbox.http import clear_forced_faults, force_faults
from apps.sandbox.models import SandboxAccount
from apps.sandbox.transport import SANDBOX_TEST_ORIGIN, sandbox_session

SANDBOX_BASE = SANDBOX_TEST_ORIGIN + "/sandbox"


def sandbox_context(sandbox: ModuleType, account: SandboxAccount, *, connection_id: str, base: str = SANDBOX_BASE,
                    credentials: dict | None = None, config: dict | None = None, **context) -> ConnectionContext:
    """A connection to a sandbox account as the demo makes it: the sandbox module's credentials (or `credentials`
    instead) and its config for `base` updated by `config`; other ConnectionContext fields pass through."""
    return ConnectionContext(
        connection_id=connection_id,
        credentials=credentials if credentials is not None else sandbox.connection_credentials(account),
        config={**sandbox.connection_config(account, base), **(config or {})},
        **context,
    )


def unpaced_connector(connector_class: type[Connector], sandbox: ModuleType, account: SandboxAccount, base: str, *,
                      page_size: int = 25, recorder: Callable[[Any], Any] | None = None, credentials: dict | None = None,
                      **config) -> Connector:
    """A store connector on the in-process sandbox, `credentials` merged over the sandbox's, without its own pacing.

    The pacing (rate_limits) is the HTTP layer's, tested in test_http.py: here it would only slow the suite. The
    platform's 429s are still answered and honoured. `recorder(session)` keeps every exchange, for spec checks.
    """
    context = sandbox_context(sandbox, account, connection_id=f"test-{account.account_id}", base=base,
                              credentials={**sandbox.connection_credentials(account), **(credentials or {})},
                              config={"page_size": page_size, **config})
    session = sandbox_session()
    http = HttpClient(connection_key=context.connection_id, rate_limits={}, session=session)
    if recorder is not None:
        http.recorder = recorder(session)
    return connector_class(context, http=http)


def collect_orders(connector: Connector, since: datetime) -> tuple[list[OrderData], int]:
    orders: list[OrderData] = []
    cursor, pages = None, 0
    while True:
        page = connector.fetch_orders(since=since, cursor=cursor)
        pages += 1
        orders.extend(page.items)
        cursor = page.next_cursor
        if not cursor:
            return orders, pages
        assert pages < 500, "fetch_orders never stops paging"


def collect_products(connector: Connector):
    products, cursor, pages = [], None, 0
    while True:
        page = connector.fetch_products(cursor=cursor)
        pages += 1
        products.extend(page.items)
        cursor = page.next_cursor
        if not cursor:
            return products
        assert pages < 500


@pytest.mark.django_db
@pytest.mark.usefixtures("sandbox_http")
class ConnectorContract:
    platform: str
    page_size: int = 25  # passed as config["page_size"] so 60 sandbox orders span several pages

    # --- supplied by each connector's test class -------------------------------------------------------------

    def make_account(self) -> SandboxAccount:
        raise NotImplementedError

    connector_class: type[Connector]
    sandbox: ModuleType  # apps.sandbox.platforms.<slug>: connection_credentials(account), connection_config(account, base)
    wrong_credentials: dict  # merged over the sandbox's credentials for the bad-credentials test

    def make_connector(self, account: SandboxAccount, base: str, *, bad_credentials: bool = False) -> Connector:
        credentials = {**self.sandbox.connection_credentials(account), **(self.wrong_credentials if bad_credentials else {})}
        return self.connector_class(sandbox_context(self.sandbox, account, connection_id=f"contract-{account.pk}", base=base,
                                                    credentials=credentials, config={"page_size": self.page_size}))

    # --- fixtures ------------------------------------------------------------------------------------------

    @pytest.fixture
    def account(self) -> SandboxAccount:
        account = self.make_account()
        dataset.ensure_seeded(account)
        yield account
        clear_forced_faults()

    @pytest.fixture
    def connector(self, account, sandbox_base) -> Connector:
        return self.make_connector(account, sandbox_base)

    def truth_orders(self, account) -> dict[str, dict]:
        return {o.data["id"]: o.data for o in dataset.objects(account, "order")}

    def truth_products(self, account) -> dict[str, dict]:
        return {o.data["sku"]: o.data for o in dataset.objects(account, "product")}

    def external_order_id(self, neutral: dict) -> str:
        """How the connector's OrderData.external_id relates to the sandbox's neutral id (override if it differs)."""
        return neutral["id"]

    def expected_status(self, neutral: dict) -> OrderStatus:
        """The normalized status a neutral sandbox order must come back as (override where a platform
        has no word for a status, e.g. folds `returned` into another)."""
        return OrderStatus(neutral["status"])

    # --- description ---------------------------------------------------------------------------------------

    def test_descriptor(self, connector):
        cls = type(connector)
        assert get_connector_class(self.platform) is cls
        assert cls.slug == self.platform and cls.name
        assert cls.auth_kind in AuthKind
        assert Capability.ORDERS in cls.capabilities
        if cls.auth_kind == AuthKind.API_KEY:
            assert cls.credential_fields, "API-key connectors describe their form fields"

    # --- auth ----------------------------------------------------------------------------------------------

    def test_test_connection_succeeds(self, connector):
        info = connector.test_connection()
        assert isinstance(info, dict) and info

    def test_bad_credentials_raise_auth_error(self, account, sandbox_base):
        connector = self.make_connector(account, sandbox_base, bad_credentials=True)
        with pytest.raises(AuthError):
            connector.test_connection()

    # --- orders ----------------------------------------------------------------------------------------------

    def test_fetch_orders_pages_to_the_end(self, connector, account):
        orders, pages = collect_orders(connector, since=timezone.now() - timedelta(days=40))
        ids = [o.external_id for o in orders]
        assert len(ids) == len(set(ids)), "an order came back twice"
        expected = {self.external_order_id(o) for o in self.truth_orders(account).values()}
        assert set(ids) == expected
        assert pages > 1, "the sandbox data must span several pages in this test"

    def test_orders_are_normalized(self, connector, account):
        orders, _ = collect_orders(connector, since=timezone.now() - timedelta(days=40))
        truth = {self.external_order_id(o): o for o in self.truth_orders(account).values()}
        for order in orders:
            expected = truth[order.external_id]
            assert isinstance(order.status, OrderStatus)
            assert order.status == self.expected_status(expected), (order.external_id, order.raw_status)
            assert order.raw_status
            assert isinstance(order.total, Decimal) and order.total == Decimal(expected["total"])
            assert order.currency == expected["currency"]
            assert order.placed_at.tzinfo is not None and order.updated_at.tzinfo is not None
            assert order.updated_at == dataset.parse_iso(expected["updated_at"])
            assert order.lines, "orders come with their lines"
            assert sorted((ln.sku, ln.quantity) for ln in order.lines) == sorted(
                (ln["sku"], ln["quantity"]) for ln in expected["lines"])
            for line in order.lines:
                assert isinstance(line.quantity, int) and isinstance(line.unit_price, Decimal)
                assert line.external_id
            assert order.raw

    def test_fetch_orders_is_incremental(self, connector, account):
        truth = self.truth_orders(account).values()
        stamps = sorted(dataset.parse_iso(o["updated_at"]) for o in truth)
        since = stamps[len(stamps) // 2]
        orders, _ = collect_orders(connector, since=since)
        expected = {self.external_order_id(o) for o in truth if dataset.parse_iso(o["updated_at"]) > since}
        got = {o.external_id for o in orders}
        assert expected <= got, "every order updated after `since` is returned"
        assert len(got) < len(stamps), "orders updated long before `since` are not"

    # --- failures --------------------------------------------------------------------------------------------

    def test_rate_limit_is_retried(self, connector):
        force_faults("429", 1)
        connector.test_connection()
        assert connector.http.stats.rate_limited == 1
        assert connector.http.stats.retries >= 1

    def test_persistent_rate_limit_raises(self, connector):
        connector.http.max_retries = 2
        force_faults("429", 10)
        with pytest.raises(RateLimited):
            connector.fetch_orders(since=timezone.now() - timedelta(days=1))

    def test_server_error_is_retried(self, connector):
        force_faults("error", 1)
        connector.fetch_orders(since=timezone.now() - timedelta(days=2))
        assert connector.http.stats.retries == 1

    def test_malformed_body_is_permanent_and_keeps_raw(self, connector):
        force_faults("truncate", 1)
        with pytest.raises(PermanentError) as info:
            connector.fetch_orders(since=timezone.now() - timedelta(days=40))
        assert info.value.raw

    # --- products and pushes ----------------------------------------------------------------------------------

    def test_fetch_products(self, connector, account):
        if not connector.supports(Capability.PRODUCTS):
            pytest.skip("no products capability")
        products = collect_products(connector)
        assert {p.sku for p in products} == set(self.truth_products(account))
        for product in products:
            assert product.external_id and product.title
            assert product.price is None or isinstance(product.price, Decimal)

    def _refs(self, connector, sku):
        if connector.supports(Capability.PRODUCTS):
            return {p.sku: p.external_refs for p in collect_products(connector)}[sku]
        return {}

    def test_push_stock(self, connector, account):
        if not connector.supports(Capability.STOCK_PUSH):
            pytest.skip("no stock push")
        skus = sorted(self.truth_products(account))[:2]
        updates = [StockUpdate(sku=sku, quantity=7 + n, external_refs=self._refs(connector, sku)) for n, sku in enumerate(skus)]
        results = connector.push_stock(updates)
        assert [r.ok for r in results] == [True, True], results
        truth = self.truth_products(account)
        assert [truth[sku]["quantity"] for sku in skus] == [7, 8]

    def test_push_prices(self, connector, account):
        if not connector.supports(Capability.PRICE_PUSH):
            pytest.skip("no price push")
        sku = sorted(self.truth_products(account))[0]
        currency = self.truth_products(account)[sku]["currency"]
        results = connector.push_prices([PriceUpdate(sku=sku, price=Decimal("123.45"), currency=currency,
                                                     mrp=Decimal("150.00"), external_refs=self._refs(connector, sku))])
        assert results[0].ok, results
        assert Decimal(self.truth_products(account)[sku]["price"]) == Decimal("123.45")

    def test_push_fulfilment(self, connector, account):
        if not connector.supports(Capability.FULFILMENT_PUSH):
            pytest.skip("no fulfilment push")
        orders, _ = collect_orders(connector, since=timezone.now() - timedelta(days=40))
        order = next(o for o in orders if o.status == OrderStatus.UNSHIPPED and o.fulfilment_channel == "merchant")
        result = connector.push_fulfilment(FulfilmentData(
            order_external_id=order.external_id, carrier="India Post", tracking_number="EK123456789IN",
            shipped_at=datetime.now(UTC), lines=[FulfilmentLine(ln.external_id, ln.quantity) for ln in order.lines],
            order_raw=order.raw,
        ))
        assert result.ok, result
        neutral = next(o for o in self.truth_orders(account).values() if self.external_order_id(o) == order.external_id)
        assert neutral["status"] == "shipped"
        assert neutral["tracking"]["number"] == "EK123456789IN"
