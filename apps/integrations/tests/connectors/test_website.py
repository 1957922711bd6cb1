"""The website connector: the connect check against the sandbox site, the HMAC scheme, the order schema, and
orders arriving through the real inbound webhook endpoint (store, then process).

The shared ConnectorContract is not mixed in: it is built around pulling (fetch_orders, pushes), which a
site that posts its orders and pulls its feed does not do. What the contract checks that applies here (the
descriptor, the connect check, auth and 5xx errors, signatures good and tampered, malformed bodies kept
with a clear error) is checked below.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core import checks

from apps.integrations.connectors import website
from apps.integrations.connectors.base import Capability, ConnectionContext, ListingDraft, OrderStatus
from apps.integrations.connectors.errors import PermanentError, TransientError
from apps.integrations.connectors.registry import get_connector_class
from apps.integrations.http import HttpClient
from apps.integrations.models import WebhookEvent
from apps.integrations.tests.test_webhooks import meta
from apps.orders.models import Order
from apps.sandbox.http import clear_forced_faults, force_faults
from apps.sandbox.platforms import website as site_sandbox
from tests.factories import make_connection, make_shg

pytestmark = pytest.mark.django_db

SECRET = "whsec_test-signing-secret-0123456789abcdef"
EXAMPLE = Path(settings.BASE_DIR) / "docs" / "website" / "order.example.json"


def example_order(**changes) -> dict:
    document = json.loads(EXAMPLE.read_text())
    document.update(changes)
    return document


def signed_headers(body: bytes, *, secret: str = SECRET, event: str = "order.created", delivery: str = "d-1",
                   timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {"X-Haat-Event": event, "X-Haat-Delivery": delivery, "X-Haat-Timestamp": str(timestamp),
            "X-Haat-Signature": website.sign(secret=secret, timestamp=timestamp, body=body)}


def connector_for(config: dict | None = None, credentials: dict | None = None, saved: list | None = None):
    context = ConnectionContext(connection_id="t", credentials=dict(credentials or {}), config=dict(config or {}),
                                save_credentials=(saved.append if saved is not None else lambda c: None))
    return website.WebsiteConnector(context, http=HttpClient(connection_key="t", max_retries=0))


# --- description --------------------------------------------------------------------------------------------------


def test_declares_only_what_a_site_that_posts_and_pulls_does():
    cls = get_connector_class("website")
    assert cls is website.WebsiteConnector
    assert cls.capabilities == frozenset({Capability.WEBHOOKS, Capability.LISTING_CREATE})
    for capability in (Capability.ORDERS, Capability.PRODUCTS, Capability.STOCK_PUSH, Capability.PRICE_PUSH,
                       Capability.FULFILMENT_PUSH):
        assert not cls.supports(capability)
    assert [f.name for f in cls.credential_fields] == ["site_url"]
    assert cls.credential_fields[0].stored_in == "config" and not cls.credential_fields[0].secret
    errors = [e for e in checks.run_checks() if "Website" in e.msg]
    assert not errors


# --- the connect check ---------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("sandbox_http")
def test_connect_check_reads_the_site_and_makes_both_keys_once(sandbox_base):
    account = site_sandbox.create_demo_account("sakhi-site", "Sakhi Crafts")
    saved: list[dict] = []
    home = site_sandbox.site_home(account, sandbox_base)
    connector = connector_for({"site_url": home + "/"}, saved=saved)
    info = connector.test_connection()
    assert info == {"external_account_id": home, "display_name": "Sakhi Crafts"}
    assert len(saved) == 1
    keys = saved[0]
    assert keys["signing_secret"].startswith("whsec_") and keys["feed_key"].startswith("hfk_")
    assert len(keys["signing_secret"]) > 40 and keys["keys_shown"] == "no"
    # "Test connection" later: the keys the site holds are kept.
    again = connector_for({"site_url": home}, credentials=keys, saved=saved)
    again.test_connection()
    assert len(saved) == 1


@pytest.mark.usefixtures("sandbox_http")
def test_a_site_that_is_not_there_or_is_down_gives_typed_errors(sandbox_base):
    account = site_sandbox.create_demo_account("down-site", "Down")
    with pytest.raises(PermanentError):
        connector_for({"site_url": f"{sandbox_base}/website/no-such-site"}).test_connection()
    force_faults("error")
    try:
        with pytest.raises(TransientError):
            connector_for({"site_url": site_sandbox.site_home(account, sandbox_base)}).test_connection()
    finally:
        clear_forced_faults()
    with pytest.raises(ValueError, match="https://"):
        connector_for({"site_url": "ftp://example.in"}).test_connection()


def test_site_urls_are_normalized():
    assert website.normalize_site_url(" HTTPS://Shop.Example.IN/store/?x=1 ") == "https://shop.example.in/store"
    with pytest.raises(ValueError):
        website.normalize_site_url("shop.example.in")


# --- signatures ---------------------------------------------------------------------------------------------------


def test_a_signature_over_timestamp_and_body_verifies():
    body = json.dumps(example_order()).encode()
    assert website.WebsiteConnector.verify_webhook(body=body, headers=signed_headers(body), secret=SECRET)


@pytest.mark.parametrize("case", ["tampered body", "other secret", "stale", "future", "no timestamp", "no signature",
                                  "timestamp not a number", "signature of another timestamp", "no secret"])
def test_bad_signatures_are_refused(case):
    body = json.dumps(example_order()).encode()
    now = int(time.time())
    headers, secret = signed_headers(body, timestamp=now), SECRET
    if case == "tampered body":
        body = body.replace(b"1820.00", b"18.00")
    elif case == "other secret":
        headers = signed_headers(body, secret="whsec_someone-else")
    elif case == "stale":
        headers = signed_headers(body, timestamp=now - 6 * 60)
    elif case == "future":
        headers = signed_headers(body, timestamp=now + 6 * 60)
    elif case == "no timestamp":
        headers.pop("X-Haat-Timestamp")
    elif case == "no signature":
        headers.pop("X-Haat-Signature")
    elif case == "timestamp not a number":
        headers["X-Haat-Timestamp"] = "yesterday"
    elif case == "signature of another timestamp":
        headers["X-Haat-Timestamp"] = str(now - 1)
    elif case == "no secret":
        secret = ""
    assert not website.WebsiteConnector.verify_webhook(body=body, headers=headers, secret=secret)


# --- the order schema -------------------------------------------------------------------------------------------


def test_the_example_order_parses_to_exact_money():
    body = json.dumps(example_order()).encode()
    message = connector_for().parse_webhook(body=body, headers=signed_headers(body, delivery="abc"))
    assert message.delivery_id == "abc" and message.topic == "order.created"
    (order,) = message.orders
    assert order.external_id == "WEB-10042" and order.number == "10042"
    assert order.status == OrderStatus.UNSHIPPED and order.currency == "INR"
    assert order.total == Decimal("1820.00") and isinstance(order.total, Decimal)
    assert order.placed_at.utcoffset() is not None and order.updated_at > order.placed_at
    assert [(ln.sku, ln.quantity, ln.unit_price) for ln in order.lines] == [
        ("HAAT-0001", 1, Decimal("1450.00")), ("HAAT-0003", 2, Decimal("185.00"))]
    assert order.buyer_name == "Anita Sharma" and order.shipping_address["city"] == "Pune"


def test_a_bad_order_names_every_error():
    document = example_order(status="paid", currency="inr", total=1820.5, surprise=True)
    del document["created_at"]
    document["lines"][0]["quantity"] = 0
    document["lines"][1]["unit_price"] = "185.005"
    body = json.dumps(document).encode()
    with pytest.raises(PermanentError) as caught:
        connector_for().parse_webhook(body=body, headers=signed_headers(body))
    message = caught.value.message
    assert "7 error(s)" in message, message
    for expected in ("(order): 'created_at' is a required property", "Additional properties are not allowed",
                     "status: 'paid' is not one of", "currency: 'inr' does not match", "total: 1820.5 is not of type",
                     "lines/0/quantity: 0 is less than the minimum of 1", "lines/1/unit_price: '185.005' does not match"):
        assert expected in message, expected
    assert caught.value.raw == body.decode()


def test_unknown_events_and_repeated_line_ids_are_refused():
    body = json.dumps(example_order()).encode()
    with pytest.raises(PermanentError, match="X-Haat-Event"):
        connector_for().parse_webhook(body=body, headers=signed_headers(body, event="order.deleted"))
    document = example_order()
    document["lines"][1]["id"] = document["lines"][0]["id"]
    body = json.dumps(document).encode()
    with pytest.raises(PermanentError, match="unique"):
        connector_for().parse_webhook(body=body, headers=signed_headers(body))


def test_a_listing_is_live_in_the_feed_at_once():
    result = connector_for().create_listing(ListingDraft(sku="HAAT-0001", title="Saree", description="", currency="INR",
                                                         price=Decimal("1450"), quantity=3))
    assert result.ok and result.state == "live" and result.external_refs == {"sku": "HAAT-0001"}


# --- through the inbound endpoint -----------------------------------------------------------------------------------


@pytest.fixture
def site_connection():
    return make_connection(make_shg(name="Annapoorna SHG"), platform="website", display_name="Annapoorna website",
                           external_account_id="https://annapoorna.example.in",
                           credentials={"signing_secret": SECRET, "feed_key": "hfk_key", "keys_shown": "yes"},
                           config={"site_url": "https://annapoorna.example.in"})


@pytest.fixture
def post(client, django_capture_on_commit_callbacks):
    def send(connection, body: bytes, headers: dict[str, str]):
        with django_capture_on_commit_callbacks(execute=True):
            return client.generic("POST", f"/webhooks/website/{connection.uuid}/", data=body,
                                  content_type="application/json", **meta(headers))

    return send


def test_a_signed_order_is_stored_then_upserted(site_connection, post):
    body = json.dumps(example_order()).encode()
    response = post(site_connection, body, signed_headers(body, delivery="site-1"))
    assert response.status_code == 200 and response.content == b"accepted"
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.PROCESSED and event.topic == "order.created"
    assert event.delivery_id == "site-1" and event.resource_id == "WEB-10042"
    order = Order.objects.get(connection=site_connection, external_id="WEB-10042")
    assert order.currency == "INR" and order.total == Decimal("1820.00") and order.lines.count() == 2
    # The same delivery again (the site retried): acknowledged, not processed twice.
    again = post(site_connection, body, signed_headers(body, delivery="site-1"))
    assert again.status_code == 200 and again.content == b"duplicate"
    assert WebhookEvent.objects.count() == 1 and Order.objects.count() == 1


def test_a_later_copy_updates_the_order(site_connection, post):
    body = json.dumps(example_order()).encode()
    post(site_connection, body, signed_headers(body, delivery="site-1"))
    cancelled = json.dumps(example_order(status="cancelled", updated_at="2026-11-23T11:00:00+05:30")).encode()
    response = post(site_connection, cancelled, signed_headers(cancelled, event="order.updated", delivery="site-2"))
    assert response.status_code == 200
    assert Order.objects.get(external_id="WEB-10042").status == Order.Status.CANCELLED


def test_bad_signatures_and_replays_are_refused_and_nothing_is_stored(site_connection, post):
    body = json.dumps(example_order()).encode()
    assert post(site_connection, body, signed_headers(body, secret="whsec_wrong")).status_code == 401
    replay = signed_headers(body, timestamp=int(time.time()) - 3600)
    assert post(site_connection, body, replay).status_code == 401
    assert not WebhookEvent.objects.exists() and not Order.objects.exists()


def test_a_body_against_the_schema_is_kept_as_failed_with_every_error(site_connection, post):
    document = example_order(currency="rupees")
    document["lines"][0]["quantity"] = -2
    body = json.dumps(document).encode()
    response = post(site_connection, body, signed_headers(body, delivery="bad-1"))
    assert response.status_code == 200  # stored: the site must not retry what will never pass
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.FAILED and event.next_attempt_at is None
    assert "currency: 'rupees' does not match" in event.last_error
    assert "lines/0/quantity: -2 is less than the minimum of 1" in event.last_error
    assert bytes(event.body) == body and not Order.objects.exists()


def test_deliveries_to_a_disconnected_site_are_refused(site_connection, post):
    from apps.integrations.services import connection_disconnect

    connection_disconnect(connection=site_connection)
    body = json.dumps(example_order()).encode()
    assert post(site_connection, body, signed_headers(body)).status_code == 401
