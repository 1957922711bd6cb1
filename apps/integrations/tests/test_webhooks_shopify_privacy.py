"""Shopify's app/uninstalled and mandatory privacy topics: what Haat does for each (docs/webhooks.md)."""

from __future__ import annotations

import json

import pytest
from django.core import mail

from apps.accounts.models import Membership
from apps.events import relay
from apps.events.models import Event
from apps.integrations.models import Connection, WebhookEvent
from apps.integrations.tests.test_webhooks import SHOP, fixture, meta, shopify_headers
from apps.orders.models import Order
from tests.factories import make_connection, make_shg, make_user

pytestmark = pytest.mark.django_db

APP_URL = "/webhooks/shopify/"


@pytest.fixture
def shop():
    shg = make_shg(name="Sakhi SHG")
    make_user("asha", shg=shg, role=Membership.Role.COORDINATOR, email="asha@example.in")
    return make_connection(shg, platform="shopify", display_name="Sakhi Crafts", external_account_id=SHOP,
                           credentials={"access_token": "shpat_" + "b" * 32},
                           config={"shop": SHOP, "webhook_ids": ["gid://shopify/WebhookSubscription/1"]})


@pytest.fixture
def send(client, django_capture_on_commit_callbacks):
    def post(path: str, body: bytes, headers: dict[str, str]):
        with django_capture_on_commit_callbacks(execute=True):
            return client.generic("POST", path, data=body, content_type="application/json", **meta(headers))

    return post


@pytest.fixture
def with_orders(shop, send):
    """Two orders of the shop, received by webhook: the one the customer asks about and another."""
    first = fixture("shopify", "orders__create")
    send(f"/webhooks/shopify/{shop.uuid}/", first, shopify_headers(first, "orders/create"))
    other = json.loads(first)
    other.update(id=5100000001002, name="#1002", customer={"id": 1, "first_name": "Ravi", "last_name": "Das"},
                 shipping_address={"name": "Ravi Das", "address1": "4 Civil Lines", "city": "Patna", "zip": "800001"})
    other_body = json.dumps(other).encode()
    send(f"/webhooks/shopify/{shop.uuid}/", other_body, shopify_headers(other_body, "orders/create"))
    assert Order.objects.filter(connection=shop).count() == 2
    return shop


def test_uninstall_disables_the_connection_and_tells_the_coordinator(shop, send, settings,
                                                                     django_capture_on_commit_callbacks):
    settings.EVENT_BUS_URL = ""
    body = fixture("shopify", "app__uninstalled")
    assert send(f"/webhooks/shopify/{shop.uuid}/", body, shopify_headers(body, "app/uninstalled")).status_code == 200
    shop.refresh_from_db()
    assert shop.status == Connection.Status.DISABLED and shop.credentials == {} and shop.next_sync_at is None
    assert "webhook_ids" not in shop.config and "uninstalled" in shop.last_error
    event = Event.objects.get(type="connection.disabled")
    assert event.payload["reason"] == "app_uninstalled" and event.connection_id == shop.pk
    with django_capture_on_commit_callbacks(execute=True):
        relay.relay_pending()
    assert [m.to for m in mail.outbox] == [["asha@example.in"]]
    assert "uninstalled" in mail.outbox[0].body
    # Shopify may repeat it: the second copy changes nothing and tells nobody again.
    again = shopify_headers(body, "app/uninstalled")
    send(f"/webhooks/shopify/{shop.uuid}/", body, again)
    assert Event.objects.filter(type="connection.disabled").count() == 1


def test_data_request_sends_what_haat_holds_to_the_coordinators(with_orders, send):
    body = fixture("shopify", "customers__data_request")
    response = send(APP_URL, body, shopify_headers(body, "customers/data_request"))
    assert response.status_code == 200
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["asha@example.in"] and "data request" in message.subject.lower()
    assert "#1001" in message.body and "Anita Sharma" in message.body and "411001" in message.body
    assert "#1002" not in message.body and "Ravi" not in message.body  # only the orders asked about
    stored = WebhookEvent.objects.get(topic="customers/data_request")
    assert stored.status == WebhookEvent.Status.PROCESSED
    assert bytes(stored.body) == b"" and stored.redacted_at is not None  # the request names the customer


def test_customer_redact_erases_the_customers_personal_data_only(with_orders, send):
    body = fixture("shopify", "customers__redact")
    assert send(APP_URL, body, shopify_headers(body, "customers/redact")).status_code == 200
    redacted = Order.objects.get(external_id="5100000001001")
    assert redacted.buyer_name == "" and redacted.shipping_address == {}
    raw_text = json.dumps(redacted.raw)
    assert "anita" not in raw_text.lower() and "MG Road" not in raw_text and "+9198" not in raw_text
    assert redacted.raw["line_items"][0]["sku"] == "HAAT-0001" and str(redacted.total) == "1630.00"
    untouched = Order.objects.get(external_id="5100000001002")
    assert untouched.buyer_name == "Ravi Das"
    order_events = WebhookEvent.objects.filter(topic="orders/create")
    erased = order_events.get(resource_id="5100000001001")
    assert bytes(erased.body) == b"" and erased.redacted_at is not None and erased.headers == {}
    assert bytes(order_events.get(resource_id="5100000001002").body) != b""
    request = WebhookEvent.objects.get(topic="customers/redact")
    assert request.status == WebhookEvent.Status.PROCESSED and bytes(request.body) == b""


def test_shop_redact_erases_every_buyers_data_and_the_credentials(with_orders, send):
    body = fixture("shopify", "shop__redact")
    assert send(APP_URL, body, shopify_headers(body, "shop/redact")).status_code == 200
    shop = Connection.objects.get(pk=with_orders.pk)
    assert shop.credentials == {} and shop.status == Connection.Status.DISABLED
    assert set(Order.objects.filter(connection=shop).values_list("buyer_name", flat=True)) == {""}
    assert Order.objects.filter(connection=shop).count() == 2  # the SHG's sales records stay
    assert not WebhookEvent.objects.exclude(body=b"").exists()


def test_privacy_topics_at_the_app_address_are_verified(with_orders, send):
    body = fixture("shopify", "customers__redact")
    assert send(APP_URL, body, shopify_headers(body, "customers/redact", secret="forged")).status_code == 401
    headers = shopify_headers(body, "customers/redact")
    del headers["X-Shopify-Webhook-Id"]
    assert send(APP_URL, body, headers).status_code == 400
    assert Order.objects.get(external_id="5100000001001").buyer_name == "Anita Sharma"


def test_privacy_request_for_a_shop_haat_never_connected_is_acknowledged(send):
    body = fixture("shopify", "shop__redact")
    response = send(APP_URL, body, shopify_headers(body, "shop/redact", shop="unknown.myshopify.com"))
    assert response.status_code == 200 and not WebhookEvent.objects.exists()


def test_a_repeated_privacy_request_is_not_processed_twice(with_orders, send):
    body = fixture("shopify", "customers__data_request")
    headers = shopify_headers(body, "customers/data_request")
    send(APP_URL, body, headers)
    assert send(APP_URL, body, headers).content == b"duplicate"
    assert len(mail.outbox) == 1
