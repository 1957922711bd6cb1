"""A channel that records the stock and prices pushed to it, registered as platform "stockfake" for a test."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from apps.integrations.connectors import registry
from apps.integrations.connectors.base import (
    AuthKind,
    Capability,
    ConnectionContext,
    Connector,
    ListingDraft,
    ListingResult,
    PriceUpdate,
    PushResult,
    StockUpdate,
)

SLUG = "stockfake"


class StockFakeConnector(Connector):
    slug = SLUG
    name = "Stock fake"
    auth_kind = AuthKind.API_KEY
    capabilities = frozenset({Capability.STOCK_PUSH, Capability.PRICE_PUSH, Capability.LISTING_CREATE})
    # Every instance appends here: (connection id, [StockUpdate...]) per call.
    stock_calls: list[tuple[str, list[StockUpdate]]] = []
    price_calls: list[tuple[str, list[PriceUpdate]]] = []
    refuse_skus: set[str] = set()

    @classmethod
    def default_base_url(cls, context: ConnectionContext) -> str:
        return "https://stockfake.invalid"

    def test_connection(self) -> dict[str, Any]:
        return {}

    def push_stock(self, updates: Sequence[StockUpdate]) -> list[PushResult]:
        self.stock_calls.append((str(self.context.connection_id), list(updates)))
        return [PushResult(sku=u.sku, ok=u.sku not in self.refuse_skus, error="SKU refused" if u.sku in self.refuse_skus
                           else "") for u in updates]

    def create_listing(self, draft: ListingDraft) -> ListingResult:
        if draft.sku in self.refuse_skus:
            return ListingResult(ok=False, state="rejected", error="Brand not approved for this category [8541]")
        return ListingResult(ok=True, state="pending", external_refs={"product_id": f"P-{draft.sku}"})

    def push_prices(self, updates: Sequence[PriceUpdate]) -> list[PushResult]:
        self.price_calls.append((str(self.context.connection_id), list(updates)))
        return [PushResult(sku=u.sku, ok=True) for u in updates]


@pytest.fixture(name="stock_fake")
def stock_fake_fixture(monkeypatch):
    monkeypatch.setattr(StockFakeConnector, "stock_calls", [])
    monkeypatch.setattr(StockFakeConnector, "price_calls", [])
    monkeypatch.setattr(StockFakeConnector, "refuse_skus", set())
    monkeypatch.setitem(registry.CONNECTOR_PATHS, SLUG, "apps.inventory.tests.stock_fakes.StockFakeConnector")
    registry.get_connector_class.cache_clear()
    yield StockFakeConnector
    registry.get_connector_class.cache_clear()
