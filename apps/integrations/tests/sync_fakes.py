"""A tiny test-only platform and its connector, for the sync engine's and the orders' tests.

`FakePlatform` holds orders like a real platform does (changing `updated_at` on every change) and
answers `fetch_orders(since, cursor)` with pages in ascending update order, offset-paged. Tests steer
it: page size, an exception to raise on the n-th call, fulfilment answers. The `fake_platform` fixture
registers the connector under the slug "fakeshop" for the duration of a test; import
`fake_platform_fixture` (and `unsorted_fake_platform_fixture`) into a test module to use them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from apps.integrations.connectors import registry
from apps.integrations.connectors.base import (
    AuthKind,
    Capability,
    ConnectionContext,
    Connector,
    CredentialField,
    FulfilmentChannel,
    FulfilmentData,
    FulfilmentResult,
    OrderData,
    OrderLineData,
    OrderStatus,
    Page,
    ProductData,
)

SLUG = "fakeshop"


def make_order(external_id: str, *, updated_at: datetime | None = None, status: OrderStatus = OrderStatus.UNSHIPPED,
               lines: list[tuple[str, str, int, str]] | None = None, total: str | None = None,
               channel: FulfilmentChannel = FulfilmentChannel.MERCHANT, placed_at: datetime | None = None,
               buyer: str = "Anita Sharma") -> OrderData:
    """An order as a connector returns it; `lines` are (line id, sku, quantity, unit price)."""
    updated_at = updated_at or timezone.now()
    lines = lines if lines is not None else [(f"{external_id}-1", "SKU-1", 1, "100.00")]
    line_data = [OrderLineData(external_id=lid, sku=sku, title=f"Item {sku}", quantity=qty, unit_price=Decimal(price))
                 for lid, sku, qty, price in lines]
    computed = sum((ln.unit_price * ln.quantity for ln in line_data), Decimal("0"))
    return OrderData(
        external_id=external_id, status=status, raw_status=status.value.upper(),
        placed_at=placed_at or updated_at - timedelta(hours=1), updated_at=updated_at, currency="INR",
        total=Decimal(total) if total is not None else computed, lines=line_data, fulfilment_channel=channel,
        buyer_name=buyer, shipping_address={"city": "Pune", "postcode": "411001"}, number=f"#{external_id}",
        raw={"id": external_id, "status": status.value, "marketplace_id": "FAKE-IN"},
    )


@dataclass
class FakePlatform:
    orders: dict[str, OrderData] = field(default_factory=dict)
    products: list[ProductData] = field(default_factory=list)
    page_size: int = 10
    calls: list[dict[str, Any]] = field(default_factory=list)
    # Called before answering the n-th fetch_orders call (1-based): raise to fail, or change data.
    on_call: dict[int, Callable[[], None]] = field(default_factory=dict)
    fulfilment_answers: list[Any] = field(default_factory=list)
    pushed: list[FulfilmentData] = field(default_factory=list)

    def put(self, *orders: OrderData) -> None:
        for order in orders:
            self.orders[order.external_id] = order

    def change(self, external_id: str, *, at: datetime | None = None, **changes: Any) -> OrderData:
        """Change an order the way a platform does: new content and a new updated_at."""
        order = replace(self.orders[external_id], updated_at=at or timezone.now(), **changes)
        self.orders[external_id] = order
        return order

    def fetch(self, since: datetime, cursor: str | None) -> Page[OrderData]:
        self.calls.append({"since": since, "cursor": cursor})
        hook = self.on_call.get(len(self.calls))
        if hook is not None:
            hook()
        matching = sorted((o for o in self.orders.values() if o.updated_at > since),
                          key=lambda o: (o.updated_at, o.external_id))
        offset = int(cursor or 0)
        items = matching[offset: offset + self.page_size]
        more = offset + self.page_size < len(matching)
        return Page(items=items, next_cursor=str(offset + self.page_size) if more else None)


class FakeShopConnector(Connector):
    slug = SLUG
    name = "Fake shop"
    auth_kind = AuthKind.API_KEY
    capabilities = frozenset({Capability.ORDERS, Capability.PRODUCTS, Capability.FULFILMENT_PUSH})
    credential_fields = (CredentialField("api_key", "API key", secret=True),)
    orders_sorted_by_update = True
    platform: FakePlatform = FakePlatform()

    @classmethod
    def default_base_url(cls, context: ConnectionContext) -> str:
        return "https://fakeshop.example.test/api"

    def test_connection(self) -> dict[str, Any]:
        return {"name": "Fake shop"}

    def fetch_orders(self, *, since: datetime, cursor: str | None = None) -> Page[OrderData]:
        self.http.stats.count("orders")  # one request per page, as a real platform call would count
        return self.platform.fetch(since, cursor)

    def fetch_products(self, *, cursor: str | None = None) -> Page[ProductData]:
        self.http.stats.count("products")
        offset = int(cursor or 0)
        items = self.platform.products[offset: offset + self.platform.page_size]
        more = offset + self.platform.page_size < len(self.platform.products)
        return Page(items=items, next_cursor=str(offset + self.platform.page_size) if more else None)

    def push_fulfilment(self, fulfilment: FulfilmentData) -> FulfilmentResult:
        self.http.stats.count("fulfilment")
        self.platform.pushed.append(fulfilment)
        answer = self.platform.fulfilment_answers.pop(0) if self.platform.fulfilment_answers else FulfilmentResult(
            ok=True, external_id=f"SHIP-{len(self.platform.pushed)}")
        if isinstance(answer, BaseException):
            raise answer
        return answer


class OrdersOnlyFakeShopConnector(FakeShopConnector):
    """A platform that offers its orders but not its product list."""

    capabilities = frozenset({Capability.ORDERS})


class UnsortedFakeShopConnector(FakeShopConnector):
    """The same platform, but the connector does not promise ascending update order across pages."""

    orders_sorted_by_update = False


@pytest.fixture(name="fake_platform")
def fake_platform_fixture(monkeypatch):
    """Register the fake connector as platform "fakeshop" (sorted pages) and give the test its platform."""
    platform = FakePlatform()
    monkeypatch.setattr(FakeShopConnector, "platform", platform)
    monkeypatch.setitem(registry.CONNECTOR_PATHS, SLUG, "apps.integrations.tests.sync_fakes.FakeShopConnector")
    registry.get_connector_class.cache_clear()
    yield platform
    registry.get_connector_class.cache_clear()


@pytest.fixture(name="unsorted_fake_platform")
def unsorted_fake_platform_fixture(monkeypatch, fake_platform):
    """The fake platform behind a connector that does not promise ascending update order."""
    monkeypatch.setitem(registry.CONNECTOR_PATHS, SLUG, "apps.integrations.tests.sync_fakes.UnsortedFakeShopConnector")
    registry.get_connector_class.cache_clear()
    return fake_platform
