"""End to end against the WooCommerce sandbox: import its products as listings, sell on another channel, and
the store receives the new quantity through the real connector (batched REST writes)."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from apps.catalog.models import Listing, Variant
from apps.catalog.services import listings_import_from_channel
from apps.integrations.tests.sync_fakes import make_order
from apps.inventory.models import StockMovement
from apps.inventory.services import stock_adjust
from apps.orders.services import upsert_orders
from apps.sandbox import dataset
from apps.sandbox.http import clear_forced_faults
from apps.sandbox.platforms import woocommerce as store
from tests.factories import make_connection, make_shg

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_http")]


@pytest.fixture
def account(db):
    account = store.create_demo_account("inventory-store", "Inventory Store")
    yield account
    clear_forced_faults()


def test_sale_elsewhere_reaches_the_woocommerce_store(account, sandbox_base, django_capture_on_commit_callbacks):
    cache.clear()
    shg = make_shg()
    woo = make_connection(shg, platform="woocommerce", credentials=store.connection_credentials(account),
                          config=store.connection_config(account, sandbox_base))
    result = listings_import_from_channel(connection=woo)
    assert result.listings > 0 and result.created == result.listings
    sku, product = next((row.data["sku"], row.data) for row in dataset.objects(account, "product")
                        if row.data["category"] not in store.VARIABLE_CATEGORIES)
    variant = Variant.objects.get(shg=shg, sku=sku)
    assert Listing.objects.get(variant=variant, connection=woo).external_refs == {"product_id": product["id"]}
    other = make_connection(shg, platform="shopify")
    with django_capture_on_commit_callbacks(execute=True):
        stock_adjust(variant=variant, kind=StockMovement.Kind.RECEIPT, delta=7)
    with django_capture_on_commit_callbacks(execute=True):
        upsert_orders(connection=other, orders=[make_order("S-1", lines=[("S-1-1", sku, 2, "100.00")])])
    stored = {row.data["sku"]: row.data for row in dataset.objects(account, "product")}
    assert stored[sku]["quantity"] == 5
    listing = Listing.objects.get(variant=variant, connection=woo)
    assert listing.last_pushed_quantity == 5 and listing.last_error == ""
