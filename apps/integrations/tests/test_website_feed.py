"""The website channel's feed (key-authenticated, paged, streamed) and its Keys page (shown once, rotatable)."""

from __future__ import annotations

import csv
import io
import json
import time
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.accounts.models import Membership
from apps.catalog.models import Listing, Product, Variant
from apps.integrations import feeds
from apps.integrations.connectors import website
from apps.integrations.models import Connection, WebhookEvent
from apps.integrations.tests.test_webhooks import meta
from apps.inventory.models import StockItem
from apps.inventory.services import default_location, push_quantity
from tests.factories import make_connection, make_org, make_shg, make_user

pytestmark = pytest.mark.django_db

FEED_KEY = "hfk_feed-key-of-site-a-0123456789"
SECRET = "whsec_signing-secret-of-site-a-0123"


@pytest.fixture
def shg():
    return make_shg(make_org("Deccan Federation"), name="Sakhi SHG")


@pytest.fixture
def site(shg):
    return make_connection(shg, platform="website", display_name="Sakhi website",
                           external_account_id="https://sakhi.example.in",
                           credentials={"signing_secret": SECRET, "feed_key": FEED_KEY, "keys_shown": "no"},
                           config={"site_url": "https://sakhi.example.in"})


def add_listings(shg, connection, count: int, *, on_hand: int = 10, reserved: int = 0, **listing_fields) -> list[Listing]:
    location = default_location(shg_id=shg.pk)
    listings = []
    start = Variant.objects.filter(shg=shg).count()
    for n in range(start, start + count):
        product = Product.objects.create(shg=shg, title=f"Product {n:03d}")
        variant = Variant.objects.create(product=product, shg=shg, sku=f"SKU-{n:03d}", price=Decimal("100.00") + n,
                                         mrp=Decimal("150.00") + n)
        StockItem.objects.create(variant=variant, location=location, on_hand=on_hand, reserved=reserved)
        listings.append(Listing.objects.create(variant=variant, connection=connection, shg=shg,
                                               state=Listing.State.LIVE, **listing_fields))
    return listings


def get_feed(client, connection, suffix="products.json", key=FEED_KEY, **params):
    url = reverse(f"feeds:{suffix.replace('.', '_')}", kwargs={"connection_uuid": connection.uuid})
    headers = {"HTTP_X_HAAT_FEED_KEY": key} if key is not None else {}
    return client.get(url, params, **headers)


# --- what the feed says ----------------------------------------------------------------------------------------


def test_quantities_are_computed_as_a_stock_push_computes_them(client, shg, site):
    site.config = {**site.config, "stock_buffer": 2, "stock_max": 20}
    site.save()
    _plain, own_buffer, capped = add_listings(shg, site, 3, on_hand=30, reserved=5)
    Listing.objects.filter(pk=own_buffer.pk).update(stock_buffer=10, stock_max=None)
    Listing.objects.filter(pk=capped.pk).update(stock_max=4, price_override=Decimal("99.50"))
    (draft,) = add_listings(shg, site, 1)
    Listing.objects.filter(pk=draft.pk).update(state=Listing.State.DRAFT)
    (delisted,) = add_listings(shg, site, 1)
    Listing.objects.filter(pk=delisted.pk).update(state=Listing.State.DELISTED)
    other_channel = make_connection(shg, platform="woocommerce")
    add_listings(shg, other_channel, 1)

    body = get_feed(client, site).json()
    items = {item["sku"]: item for item in body["items"]}
    assert set(items) == {"SKU-000", "SKU-001", "SKU-002"}
    # available 25: the connection's buffer 2 and cap 20; the listing's own buffer 10 (cap 20 from the connection);
    # the listing's own cap 4.
    assert items["SKU-000"]["quantity"] == push_quantity(available=25, buffer=2, maximum=20) == 20
    assert items["SKU-001"]["quantity"] == push_quantity(available=25, buffer=10, maximum=20) == 15
    assert items["SKU-002"]["quantity"] == 4
    assert items["SKU-000"] | {"updated_at": ""} == {"sku": "SKU-000", "title": "Product 000", "price": "100.00",
                                                      "mrp": "150.00", "currency": "INR", "quantity": 20,
                                                      "state": "live", "updated_at": ""}
    assert items["SKU-002"]["price"] == "99.50"
    assert body["next_cursor"] is None and body["connection"] == str(site.uuid)


def test_stock_that_runs_out_shows_zero_never_negative(client, shg, site):
    (listing,) = add_listings(shg, site, 1, on_hand=3, reserved=3)
    Listing.objects.filter(pk=listing.pk).update(stock_buffer=5)
    assert get_feed(client, site).json()["items"][0]["quantity"] == 0


def test_pages_follow_the_cursor_to_the_end_in_constant_queries(client, shg, site, django_assert_max_num_queries):
    add_listings(shg, site, 7)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        with django_assert_max_num_queries(3):  # the connection, the listings, the stock totals
            body = get_feed(client, site, **params).json()
        seen += [item["sku"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            break
        assert body["next"].endswith(f"?cursor={cursor}&limit=3")
    assert pages == 3 and seen == [f"SKU-{n:03d}" for n in range(7)]
    add_listings(shg, site, 60)
    with django_assert_max_num_queries(3):
        assert len(get_feed(client, site, limit=1000).json()["items"]) == 67


def test_the_csv_is_streamed_page_by_page(client, shg, site, monkeypatch, django_assert_max_num_queries):
    add_listings(shg, site, 5)
    calls = []
    original = feeds.feed_page

    def spy(**kwargs):
        calls.append(kwargs)
        return original(**{**kwargs, "limit": 2})

    monkeypatch.setattr(feeds, "feed_page", spy)
    response = get_feed(client, site, "products.csv")
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == list(feeds.CSV_COLUMNS)
    assert [row[0] for row in rows[1:]] == [f"SKU-{n:03d}" for n in range(5)]
    assert rows[1][2:6] == ["100.00", "150.00", "INR", "10"]
    assert len(calls) == 3, "read in pages, never the whole catalog at once"


def test_bad_cursors_and_limits_are_400(client, site):
    assert get_feed(client, site, cursor="not-a-cursor").status_code == 400
    assert get_feed(client, site, limit="0").status_code == 400
    assert get_feed(client, site, limit="5000").status_code == 400
    assert "limit" in get_feed(client, site, limit="x").json()["error"]


# --- who may read it ---------------------------------------------------------------------------------------------


def test_only_the_connections_own_key_opens_its_feed(client, shg, site):
    add_listings(shg, site, 1)
    other = make_connection(make_shg(make_org("Other Federation")), platform="website",
                            credentials={"signing_secret": "whsec_b", "feed_key": "hfk_other-sites-key"},
                            external_account_id="https://other.example.in")
    assert get_feed(client, site).status_code == 200
    for key in (None, "", "hfk_wrong", "hfk_other-sites-key", FEED_KEY + "x"):
        response = get_feed(client, site, key=key)
        assert response.status_code == 404 and b"SKU-000" not in response.content
    assert get_feed(client, other, key=FEED_KEY).status_code == 404
    for suffix in ("products.json", "products.csv"):
        url = reverse(f"feeds:{suffix.replace('.', '_')}", kwargs={"connection_uuid": site.uuid})
        assert client.post(url).status_code == 404  # no key: nothing said about the feed
        assert client.post(url, HTTP_X_HAAT_FEED_KEY=FEED_KEY).status_code == 405
    woo = make_connection(shg, platform="woocommerce", credentials={"feed_key": FEED_KEY})
    assert get_feed(client, woo).status_code == 404


def test_a_disconnected_site_has_no_feed(client, shg, site):
    from apps.integrations.services import connection_disconnect

    connection_disconnect(connection=site)
    assert get_feed(client, site).status_code == 404


# --- the Keys page -----------------------------------------------------------------------------------------------


@pytest.fixture
def coordinator(shg):
    return make_user("asha", organization=shg.federation, role=Membership.Role.COORDINATOR)


def keys_url(connection) -> str:
    return reverse("feeds:website_keys", kwargs={"connection_pk": connection.pk})


def test_the_keys_made_at_connect_are_shown_exactly_once(client, site, coordinator):
    client.force_login(coordinator)
    page = client.get(keys_url(site))
    assert page.status_code == 200 and page["Cache-Control"].startswith("max-age=0")
    assert SECRET.encode() not in page.content and FEED_KEY.encode() not in page.content
    assert f"/webhooks/website/{site.uuid}/".encode() in page.content
    assert f"/feeds/{site.uuid}/products.json".encode() in page.content
    shown = client.post(keys_url(site), {"action": "reveal"})
    assert shown.status_code == 200 and SECRET.encode() in shown.content and FEED_KEY.encode() in shown.content
    again = client.post(keys_url(site), {"action": "reveal"}, follow=True)
    assert SECRET.encode() not in again.content and b"already shown" in again.content
    assert SECRET.encode() not in client.get(keys_url(site)).content


def test_rotating_the_feed_key_retires_the_old_one_at_once(client, shg, site, coordinator):
    add_listings(shg, site, 1)
    client.force_login(coordinator)
    response = client.post(keys_url(site), {"action": "rotate_feed"})
    site.refresh_from_db()
    new_key = site.credentials["feed_key"]
    assert new_key != FEED_KEY and new_key.encode() in response.content
    assert site.credentials["signing_secret"] == SECRET and SECRET.encode() not in response.content
    assert get_feed(client, site, key=FEED_KEY).status_code == 404
    assert get_feed(client, site, key=new_key).status_code == 200


def test_rotating_the_signing_secret_refuses_orders_signed_with_the_old_one(client, site, coordinator):
    client.force_login(coordinator)
    client.post(keys_url(site), {"action": "rotate_signing"})
    site.refresh_from_db()
    new_secret = site.credentials["signing_secret"]
    assert new_secret != SECRET and site.credentials["feed_key"] == FEED_KEY
    body = json.dumps({"id": "1"}).encode()
    url = f"/webhooks/website/{site.uuid}/"

    def headers(secret):
        now = int(time.time())
        return meta({"X-Haat-Event": "order.created", "X-Haat-Delivery": f"d-{secret[-4:]}",
                     "X-Haat-Timestamp": str(now), "X-Haat-Signature": website.sign(secret=secret, timestamp=now,
                                                                                    body=body)})

    assert client.generic("POST", url, body, content_type="application/json", **headers(SECRET)).status_code == 401
    assert client.generic("POST", url, body, content_type="application/json", **headers(new_secret)).status_code == 200
    assert WebhookEvent.objects.count() == 1


def test_viewers_may_not_see_or_rotate_and_other_tenants_get_404(client, shg, site):
    viewer = make_user("viewer", organization=shg.federation, role=Membership.Role.VIEWER)
    client.force_login(viewer)
    assert client.get(keys_url(site)).status_code == 403
    assert client.post(keys_url(site), {"action": "rotate_both"}).status_code == 403
    outsider = make_user("outsider", organization=make_org("Elsewhere"), role=Membership.Role.ORG_ADMIN)
    client.force_login(outsider)
    assert client.get(keys_url(site)).status_code == 404
    assert client.post(keys_url(site), {"action": "reveal"}).status_code == 404
    site.refresh_from_db()
    assert site.credentials["feed_key"] == FEED_KEY and site.credentials["keys_shown"] == "no"


def test_only_website_connections_have_a_keys_page(client, shg, coordinator):
    client.force_login(coordinator)
    woo = make_connection(shg, platform="woocommerce")
    assert client.get(keys_url(woo)).status_code == 404


def test_a_disconnected_site_cannot_rotate(client, site, coordinator):
    site.status = Connection.Status.DISABLED
    site.save()
    client.force_login(coordinator)
    response = client.post(keys_url(site), {"action": "rotate_both"}, follow=True)
    assert b"disconnected" in response.content
    site.refresh_from_db()
    assert site.credentials["feed_key"] == FEED_KEY


def test_the_channel_page_links_to_the_keys_page_for_editors(client, site, coordinator):
    client.force_login(coordinator)
    page = client.get(reverse("integrations:detail", args=[site.pk]))
    assert keys_url(site).encode() in page.content
