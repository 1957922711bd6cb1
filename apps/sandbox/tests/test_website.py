"""The sandbox shop site end to end: connected through the real connect form, it posts signed orders to Haat's
webhook endpoint and reads Haat's feed; and the example client of docs/website/ against a live server."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from apps.accounts.models import Membership
from apps.catalog.models import Listing, Product, Variant
from apps.catalog.services import listing_create, listing_publish
from apps.integrations.models import Connection, WebhookEvent
from apps.inventory.models import StockItem
from apps.inventory.services import default_location
from apps.orders.models import Order
from apps.sandbox import dataset
from apps.sandbox.platforms import website as site_sandbox
from apps.sandbox.transport import SANDBOX_TEST_ORIGIN, sandbox_session
from tests.factories import make_connection, make_org, make_shg, make_user

CLIENT = Path(settings.BASE_DIR) / "docs" / "website" / "haat_client.py"
EXAMPLE = Path(settings.BASE_DIR) / "docs" / "website" / "order.example.json"


@pytest.fixture
def tenant(db):
    federation = make_org("Kerala Federation")
    shg = make_shg(federation, name="Annapoorna Unit")
    return {"shg": shg, "coordinator": make_user(organization=federation, role=Membership.Role.COORDINATOR)}


def catalog(shg, skus: list[str], *, on_hand: int = 12) -> list[Variant]:
    location = default_location(shg_id=shg.pk)
    variants = []
    for sku in skus:
        product = Product.objects.create(shg=shg, title=f"Product {sku}")
        variant = Variant.objects.create(product=product, shg=shg, sku=sku, price=Decimal("180.00"),
                                         mrp=Decimal("200.00"))
        StockItem.objects.create(variant=variant, location=location, on_hand=on_hand)
        variants.append(variant)
    return variants


@pytest.mark.django_db
@pytest.mark.usefixtures("sandbox_http")
def test_connect_then_orders_and_feed_flow(client, tenant, sandbox_base, webhook_inbox,
                                           django_capture_on_commit_callbacks):
    account = site_sandbox.create_demo_account("annapoorna-site", "Annapoorna Foods")
    home = site_sandbox.site_home(account, sandbox_base)
    client.force_login(tenant["coordinator"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("integrations:connect", args=[tenant["shg"].pk, "website"]),
                               {"site_url": home})
    connection = Connection.objects.get(platform="website")
    assert response.status_code == 302 and connection.status == Connection.Status.ACTIVE
    assert connection.display_name == "Annapoorna Foods" and connection.external_account_id == home
    assert connection.credentials["signing_secret"].startswith("whsec_")
    assert set(connection.credentials) == {"signing_secret", "feed_key", "keys_shown"}  # nothing registered, nothing else
    assert connection.config["webhook_url"].endswith(f"/webhooks/website/{connection.uuid}/")
    shown = client.post(reverse("feeds:website_keys", args=[connection.pk]), {"action": "reveal"})
    assert connection.credentials["feed_key"].encode() in shown.content

    # The owner pastes what the Keys page shows into the site.
    site = SANDBOX_TEST_ORIGIN  # Haat as the in-process session serves it
    site_sandbox.configure_haat(
        account, webhook_url=f"{site}/webhooks/website/{connection.uuid}/",
        feed_url=f"{site}{reverse('feeds:products_json', args=[connection.uuid])}",
        signing_secret=connection.credentials["signing_secret"], feed_key=connection.credentials["feed_key"])

    skus = sorted(p.key for p in dataset.objects(account, "product"))[:3]
    variants = catalog(tenant["shg"], skus)
    for variant in variants[:2]:
        listing_publish(listing=listing_create(variant=variant, connection=connection))
    assert set(Listing.objects.filter(connection=connection).values_list("state", flat=True)) == {"live"}

    items = site_sandbox.read_feed(account, session=sandbox_session(), limit=1)
    assert [item["sku"] for item in items] == skus[:2] and {item["quantity"] for item in items} == {12}
    row = dataset.objects(account, "product").get(key=skus[0])
    assert row.data["quantity"] == 12 and row.data["price"] == "180.00"

    with django_capture_on_commit_callbacks(execute=True):
        order = site_sandbox.create_order(account, skus=[(skus[0], 2)])
    assert order["delivery"]["status"] == 200 and webhook_inbox[-1]["status"] == 200
    stored = Order.objects.get(connection=connection, external_id=order["id"])
    assert stored.total == Decimal(order["total"]) and stored.lines.get().variant_id == variants[0].pk
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED
    # Haat reserved the units: the feed the site reads next says so.
    items = site_sandbox.read_feed(account, session=sandbox_session())
    assert {item["sku"]: item["quantity"] for item in items} == {skus[0]: 10, skus[1]: 12}

    with django_capture_on_commit_callbacks(execute=True):
        site_sandbox.update_order(account, order["id"], status="cancelled")
    stored.refresh_from_db()
    assert stored.status == Order.Status.CANCELLED


@pytest.mark.django_db
@pytest.mark.usefixtures("sandbox_http")
def test_the_demo_site_finds_its_connection_until_configured(tenant, sandbox_base, webhook_inbox, monkeypatch):
    monkeypatch.setattr(settings, "SANDBOX_ROOT_URL", sandbox_base)
    account = site_sandbox.create_demo_account("demo-site", "Demo Site")
    with pytest.raises(ValueError, match="not connected"):
        site_sandbox.create_order(account)
    connection = make_connection(tenant["shg"], platform="website", external_account_id=site_sandbox.site_home(
        account, sandbox_base), credentials={"signing_secret": "whsec_demo", "feed_key": "hfk_demo"})
    order = site_sandbox.create_order(account)
    assert order["delivery"]["status"] == 200
    assert webhook_inbox[-1]["url"].endswith(f"/webhooks/website/{connection.uuid}/")


@pytest.mark.django_db
def test_the_site_pages(client):
    account = site_sandbox.create_demo_account("page-site", "Page Site")
    home = client.get("/sandbox/website/page-site/")
    assert home.status_code == 200 and b"<title>Page Site</title>" in home.content
    assert client.get("/sandbox/website/nobody/").status_code == 404
    assert client.post("/sandbox/website/page-site/_sandbox/orders", "[]", content_type="application/json").status_code == 400
    bad = client.post("/sandbox/website/page-site/_sandbox/haat", json.dumps({"password": "x"}),
                      content_type="application/json")
    assert bad.status_code == 400 and "Unknown settings" in bad.json()["error"]
    ok = client.post("/sandbox/website/page-site/_sandbox/haat", json.dumps({"webhook_url": "http://h/w"}),
                     content_type="application/json")
    assert ok.status_code == 200
    account.refresh_from_db()
    assert account.settings["haat"] == {"webhook_url": "http://h/w"}


@pytest.mark.django_db
def test_checkout_refuses_what_the_site_cannot_sell(tenant):
    account = site_sandbox.create_demo_account("stock-site", "Stock Site")
    sku = dataset.objects(account, "product").order_by("key").first().key
    with pytest.raises(ValueError, match="No product"):
        site_sandbox.create_order(account, skus=[("NOPE", 1)])
    with pytest.raises(ValueError, match="at least 1"):
        site_sandbox.create_order(account, skus=[(sku, 0)])
    with pytest.raises(ValueError, match="left"):
        site_sandbox.create_order(account, skus=[(sku, 10_000)])


# --- the example client, as a site would run it --------------------------------------------------------------------


def run_client(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-I", str(CLIENT), *args], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", **(env or {})}, check=False)


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_the_example_client_posts_an_order_and_reads_the_feed(live_server, tmp_path):
    shg = make_shg(make_org("Live Federation"), name="Live SHG")
    connection = make_connection(shg, platform="website", external_account_id="https://live.example.in",
                                 credentials={"signing_secret": "whsec_live-secret", "feed_key": "hfk_live-key"},
                                 config={"site_url": "https://live.example.in"})
    variants = catalog(shg, ["HAAT-0001", "HAAT-0003"], on_hand=9)
    for variant in variants:
        Listing.objects.create(variant=variant, connection=connection, shg=shg, state=Listing.State.LIVE)
    webhook = f"{live_server.url}/webhooks/website/{connection.uuid}/"

    posted = run_client("post-order", "--url", webhook, str(EXAMPLE), env={"HAAT_SIGNING_SECRET": "whsec_live-secret"})
    assert posted.returncode == 0 and posted.stdout.startswith("200 accepted"), posted.stdout + posted.stderr
    order = Order.objects.get(connection=connection, external_id="WEB-10042")
    assert order.total == Decimal("1820.00") and order.lines.count() == 2

    wrong = run_client("post-order", "--url", webhook, "--secret", "whsec_guess", "--delivery-id", "x-2", str(EXAMPLE))
    assert wrong.returncode == 1 and wrong.stdout.startswith("401")

    feed_url = f"{live_server.url}/feeds/{connection.uuid}/products.json?limit=1"
    feed = run_client("feed", "--url", feed_url, "--key", "hfk_live-key")
    assert feed.returncode == 0, feed.stderr
    items = {item["sku"]: item["quantity"] for item in json.loads(feed.stdout)}
    assert items == {"HAAT-0001": 8, "HAAT-0003": 7}  # 9 on hand less what the order reserved
    csv_feed = run_client("feed", "--url", feed_url.replace(".json?limit=1", ".csv"), env={"HAAT_FEED_KEY": "hfk_live-key"})
    assert csv_feed.returncode == 0 and csv_feed.stdout.splitlines()[0].startswith("sku,title,price")
    assert len(csv_feed.stdout.splitlines()) == 3
    refused = run_client("feed", "--url", feed_url, "--key", "hfk_wrong")
    assert refused.returncode == 1 and refused.stderr.startswith("404")
