"""Listings through the API: create on a channel that accepts listings (and not on one that does not), publish
to the real WooCommerce sandbox, price overrides validated and pushed, stock limits re-pushed, filters,
updated_since and pages in constant queries. Product and variant PATCHes (validated, price.changed)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.catalog.models import Listing, Product, Variant
from apps.catalog.services import product_create
from apps.events.models import Event
from apps.inventory.tests.stock_fakes import StockFakeConnector, stock_fake_fixture  # noqa: F401  (fixture)
from apps.sandbox import dataset
from tests.api.conftest import assert_error
from tests.api.test_connections import connect
from tests.factories import make_connection, make_org, make_shg

LISTINGS = "/api/v1/listings/"


@pytest.fixture
def catalog(partner, stock_fake):
    shg = partner["shg"]
    variant = product_create(shg=shg, title="Lac bangles", variants=[{"sku": "BANGLE-1", "price": "250", "mrp": "300"}]
                             ).variants.get()
    return {"variant": variant, "fake": make_connection(shg, platform="stockfake", display_name="Fake channel")}


def test_create_draft_then_publish(api, catalog):
    body = {"variant": catalog["variant"].pk, "connection": catalog["fake"].pk, "price_override": "240.00"}
    response = api.post(LISTINGS, body, format="json")
    assert response.status_code == 201, response.content
    listing = response.json()
    assert (listing["state"], listing["sku"], listing["price"], listing["mrp"], listing["currency"]) == \
        ("draft", "BANGLE-1", "240.00", "300.00", "INR")
    published = api.post(f"{LISTINGS}{listing['id']}/publish/").json()
    assert published["state"] == "pending" and published["external_id"] == "P-BANGLE-1"
    assert published["last_pushed_price"] == "240.00"
    assert_error(api.post(f"{LISTINGS}{listing['id']}/publish/"), 409)  # already on the channel
    assert_error(api.post(LISTINGS, body, format="json"), 400)  # one listing per variant and channel


def test_create_refusals_name_their_fields(api, partner, catalog):
    woo_usd = make_connection(partner["shg"], platform="woocommerce", config={"currency": "USD"})
    amazon_other = make_connection(make_shg(make_org("Else")), platform="amazon")
    variant = catalog["variant"]
    assert_error(api.post(LISTINGS, {"variant": variant.pk, "connection": woo_usd.pk}, format="json"), 400,
                 {"price_override"})  # the channel sells in USD, the variant is priced in INR
    assert_error(api.post(LISTINGS, {"variant": variant.pk, "connection": amazon_other.pk}, format="json"), 400,
                 {"connection"})  # another tenant's channel is not found
    assert_error(api.post(LISTINGS, {"variant": variant.pk, "connection": catalog["fake"].pk,
                                     "price_override": "400.00"}, format="json"), 400, {"mrp_override"})
    assert not Listing.objects.exists()


def test_channel_without_listing_creation_is_refused(api, partner, catalog):
    flipkart = make_connection(partner["shg"], platform="flipkart")
    assert_error(api.post(LISTINGS, {"variant": catalog["variant"].pk, "connection": flipkart.pk}, format="json"),
                 400, {"connection"})


def test_publish_to_the_woocommerce_sandbox(api, partner, woo):
    connection_id = connect(api, partner, woo).json()["id"]
    variant = product_create(shg=partner["shg"], title="Bamboo basket", description="Woven by hand.",
                             variants=[{"sku": "BASKET-API-1", "price": "300", "mrp": "350"}]).variants.get()
    response = api.post(LISTINGS, {"variant": variant.pk, "connection": connection_id, "publish": True}, format="json")
    assert response.status_code == 201, response.content
    listing = response.json()
    assert listing["state"] == "live" and listing["external_refs"]["product_id"], listing
    stored = {row.data["sku"]: row.data for row in dataset.objects(woo["account"], "product")}
    assert stored["BASKET-API-1"]["price"] == "300.00" and stored["BASKET-API-1"]["mrp"] == "350.00"


def test_price_override_is_validated_published_and_pushed(api, catalog, django_capture_on_commit_callbacks):
    listing = Listing.objects.create(variant=catalog["variant"], connection=catalog["fake"], shg=catalog["variant"].shg,
                                     state=Listing.State.LIVE)
    url = f"{LISTINGS}{listing.pk}/"
    assert_error(api.patch(url, {"price_override": "500.00", "mrp_override": "450.00"}, format="json"), 400,
                 {"mrp_override"})
    assert_error(api.patch(url, {"stock_buffer": -1}, format="json"), 400, {"stock_buffer"})
    assert_error(api.patch(url, {"channel_sku": "NEW"}, format="json"), 400, {"channel_sku"})  # live: frozen
    with django_capture_on_commit_callbacks(execute=True):
        response = api.patch(url, {"price_override": "260.00"}, format="json")
    assert response.status_code == 200 and response.json()["price"] == "260.00"
    (_cid, updates), = StockFakeConnector.price_calls
    assert [(u.sku, u.price, u.mrp) for u in updates] == [("BANGLE-1", Decimal("260.00"), Decimal("300.00"))]
    event = Event.objects.filter(type="price.changed").latest("occurred_at")
    assert event.payload["listing_id"] == listing.pk and event.payload["price"] == "260.00"
    assert api.get(url).json()["last_pushed_price"] == "260.00"


def test_buffer_change_and_push_resend_the_quantity(api, catalog, django_capture_on_commit_callbacks):
    from apps.inventory.services import stock_adjust

    variant = catalog["variant"]
    listing = Listing.objects.create(variant=variant, connection=catalog["fake"], shg=variant.shg,
                                     state=Listing.State.LIVE)
    with django_capture_on_commit_callbacks(execute=True):
        stock_adjust(variant=variant, kind="receipt", delta=10)
    StockFakeConnector.stock_calls.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert api.patch(f"{LISTINGS}{listing.pk}/", {"stock_buffer": 3, "stock_max": 5}, format="json").status_code == 200
    assert [u.quantity for _cid, updates in StockFakeConnector.stock_calls for u in updates] == [5]
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{LISTINGS}{listing.pk}/push/")
    assert response.status_code == 202 and response.json() == {"stock": True, "price": True}
    assert [u.quantity for _cid, updates in StockFakeConnector.stock_calls for u in updates] == [5, 5]
    draft = Listing.objects.create(variant=product_create(shg=variant.shg, title="x", variants=[{"sku": "X-1"}])
                                   .variants.get(), connection=catalog["fake"], shg=variant.shg)
    assert_error(api.post(f"{LISTINGS}{draft.pk}/push/"), 409)


def test_filters_updated_since_and_constant_queries(api, partner, catalog, django_assert_max_num_queries):
    shg = partner["shg"]
    product = product_create(shg=shg, title="Many", variants=[{"sku": f"M-{n}", "price": "10"} for n in range(25)])
    channels = [catalog["fake"], make_connection(partner["served"], platform="stockfake")]
    rows = [Listing(variant=v, connection=channels[0], shg=shg, state=Listing.State.LIVE) for v in product.variants.all()]
    Listing.objects.bulk_create(rows)
    Listing.objects.update(updated_at=timezone.now() - timedelta(days=1))
    seen, url = [], f"{LISTINGS}?page_size=10"
    while url:
        with django_assert_max_num_queries(4):  # token, its last use, the page (variant and connection joined)
            body = api.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert len(seen) == 25
    since = (timezone.now() - timedelta(minutes=1)).isoformat()
    assert api.get(LISTINGS, {"updated_since": since}).json()["results"] == []
    changed = Listing.objects.filter(variant__sku="M-3").get()
    changed.state = Listing.State.ERROR
    changed.save()
    assert [r["sku"] for r in api.get(LISTINGS, {"updated_since": since}).json()["results"]] == ["M-3"]
    assert [r["sku"] for r in api.get(LISTINGS, {"state": "error", "channel": "stockfake"}).json()["results"]] == ["M-3"]
    assert_error(api.get(LISTINGS, {"state": "lost"}), 400, {"state"})
    assert_error(api.get(LISTINGS, {"updated_since": "yesterday"}), 400, {"updated_since"})


def test_variant_patch_validates_and_publishes_price_changed(api, partner, catalog, django_capture_on_commit_callbacks):
    variant = catalog["variant"]
    Listing.objects.create(variant=variant, connection=catalog["fake"], shg=variant.shg, state=Listing.State.LIVE)
    url = f"/api/v1/variants/{variant.pk}/"
    assert_error(api.patch(url, {"price": "400.00"}, format="json"), 400, {"mrp"})  # MRP 300 below the price
    assert_error(api.patch(url, {"sku": "RENAMED"}, format="json"), 400, {"sku"})
    assert_error(api.patch(url, {"currency": "USD"}, format="json"), 400, {"currency"})  # listed on an INR channel
    assert_error(api.patch(url, {"barcode": "12"}, format="json"), 400, {"barcode"})
    with django_capture_on_commit_callbacks(execute=True):
        response = api.patch(url, {"price": "280.00", "weight_grams": 120}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["price"], response.json()["weight_grams"]) == ("280.00", 120)
    assert Event.objects.filter(type="price.changed", payload__sku="BANGLE-1", payload__price="280.00").exists()
    assert StockFakeConnector.price_calls[-1][1][0].price == Decimal("280.00")
    variant.refresh_from_db()
    assert (variant.sku, variant.price, variant.currency) == ("BANGLE-1", Decimal("280.00"), "INR")


def test_product_patch(api, partner, catalog):
    product = catalog["variant"].product
    url = f"/api/v1/products/{product.pk}/"
    assert_error(api.patch(url, {"hsn_code": "12"}, format="json"), 400, {"hsn_code"})
    assert_error(api.patch(url, {"images": ["not a url"]}, format="json"), 400, {"images.0"})
    response = api.patch(url, {"title": "Lac bangles, set of 6", "attributes": {"material": "lac"}}, format="json")
    assert response.status_code == 200 and response.json()["title"] == "Lac bangles, set of 6"
    assert Product.objects.get().attributes == {"material": "lac"}
    assert api.put(url, {"title": "x"}, format="json").status_code == 405
    other = product_create(shg=make_shg(make_org("Else")), title="Theirs", variants=[{"sku": "T-1"}])
    assert_error(api.patch(f"/api/v1/products/{other.pk}/", {"title": "Mine now"}, format="json"), 404)
    assert_error(api.patch(f"/api/v1/variants/{other.variants.get().pk}/", {"price": "1.00"}, format="json"), 404)
    assert Product.objects.get(pk=other.pk).title == "Theirs" and Variant.objects.get(sku="T-1").price is None
