"""Listings (create -> pending/live/error), prices (validated, pushed in batches) and the channel import."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError

from apps.catalog.models import ChannelProduct, Listing
from apps.catalog.services import (
    channel_product_map,
    channel_products_store,
    listing_create,
    listing_price_set,
    listing_publish,
    product_create,
    variant_price_set,
)
from apps.events.models import Event
from apps.integrations.connectors.base import ProductData
from apps.inventory.tests.stock_fakes import StockFakeConnector, stock_fake_fixture  # noqa: F401  (fixture)
from tests.factories import make_connection, make_shg

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(stock_fake):
    cache.clear()
    shg = make_shg()
    variant = product_create(shg=shg, title="Lac bangles", variants=[{"sku": "BANGLE-1", "price": "250", "mrp": "300"}]
                             ).variants.get()
    return shg, variant, make_connection(shg, platform="stockfake")


def test_listing_goes_draft_pending_and_error_with_the_channels_message(setup):
    shg, variant, channel = setup
    listing = listing_create(variant=variant, connection=channel)
    assert listing.state == Listing.State.DRAFT
    listing = listing_publish(listing=listing)
    assert listing.state == Listing.State.PENDING and listing.external_id == "P-BANGLE-1"
    StockFakeConnector.refuse_skus.add("BANGLE-2")
    other = product_create(shg=shg, title="Bangles 2", variants=[{"sku": "BANGLE-2", "price": "10"}]).variants.get()
    refused = listing_publish(listing=listing_create(variant=other, connection=channel))
    assert refused.state == Listing.State.ERROR and "Brand not approved" in refused.last_error
    states = [e.payload["state"] for e in Event.objects.filter(type="listing.updated").order_by("occurred_at")]
    assert states[-1] == "error" and "pending" in states


def test_listing_refuses_a_channel_without_listing_creation_or_another_currency(setup):
    shg, variant, _channel = setup
    fake = make_connection(shg, platform="woocommerce")
    fake.config = {"currency": "USD"}
    fake.save()
    with pytest.raises(ValidationError, match="USD"):
        listing_create(variant=variant, connection=fake)


def test_prices_validated_and_pushed_in_batches(setup, django_capture_on_commit_callbacks):
    shg, variant, channel = setup
    Listing.objects.create(variant=variant, connection=channel, shg=shg, state=Listing.State.LIVE)
    with pytest.raises(ValidationError):
        variant_price_set(variant=variant, price=Decimal("400"), mrp=Decimal("300"))
    with django_capture_on_commit_callbacks(execute=True):
        assert variant_price_set(variant=variant, price=Decimal("275"), mrp=Decimal("300"))
    (_cid, updates), = StockFakeConnector.price_calls
    assert [(u.sku, u.price, u.mrp, u.currency) for u in updates] == [("BANGLE-1", Decimal("275.00"), Decimal("300.00"), "INR")]
    assert Event.objects.filter(type="price.changed", payload__sku="BANGLE-1").exists()
    listing = Listing.objects.get()
    with pytest.raises(ValidationError):
        listing_price_set(listing=listing, price=Decimal("500"), mrp=Decimal("450"))
    with django_capture_on_commit_callbacks(execute=True):
        listing_price_set(listing=listing, price=Decimal("260"), mrp=None)
    assert StockFakeConnector.price_calls[-1][1][0].price == Decimal("260")
    listing.refresh_from_db()
    assert listing.last_pushed_price == Decimal("260") and not listing.price_dirty


def test_channel_import_matches_creates_and_lists_unmatched(setup):
    _shg, variant, channel = setup
    items = [ProductData(external_id="p1", sku="BANGLE-1", title="Bangles", external_refs={"product_id": "p1"}),
             ProductData(external_id="p2", sku="POT-1", title="Terracotta pot", price=Decimal("99")),
             ProductData(external_id="p3", sku="", title="Unlabelled scarf")]
    result = channel_products_store(connection=channel, items=items, currency="INR")
    assert (result.created, result.matched, result.listings, result.unmatched) == (1, 1, 2, 1)
    assert set(Listing.objects.values_list("variant__sku", flat=True)) == {"BANGLE-1", "POT-1"}
    unmatched = ChannelProduct.objects.get()
    listing = channel_product_map(channel_product=unmatched, variant=variant)
    assert listing.external_id == "p3" and ChannelProduct.objects.get().mapped_to == variant
    again = channel_products_store(connection=channel, items=items, currency="INR")
    assert again.created == 0 and Listing.objects.count() == 2


def test_prices_are_pushed_in_batches_of_100(setup):
    from apps.catalog.tasks import push_prices_for_connection

    shg, _variant, channel = setup
    product = product_create(shg=shg, title="Diyas", variants=[{"sku": f"DIYA-{n:03d}", "price": "40"} for n in range(150)])
    Listing.objects.bulk_create([Listing(variant=v, connection=channel, shg=shg, state=Listing.State.LIVE, price_dirty=True)
                                 for v in product.variants.all()])
    assert push_prices_for_connection(channel.pk) == {"pushed": 150, "failed": 0}
    assert [len(updates) for _cid, updates in StockFakeConnector.price_calls] == [100, 50]
    assert not Listing.objects.filter(price_dirty=True).exists()
    assert set(Listing.objects.values_list("last_pushed_price", flat=True)) == {Decimal("40.00")}
