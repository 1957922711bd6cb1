"""The inbound endpoint with WooCommerce deliveries: the per-connection secret, the ping, delivery-id reuse."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from apps.catalog.models import Variant
from apps.events.models import Event
from apps.integrations import webhooks
from apps.integrations.models import WebhookEvent
from apps.integrations.tests.test_webhooks import fixture, meta
from apps.orders.models import Order
from tests.factories import make_connection, make_shg

pytestmark = pytest.mark.django_db

SECRET = "n8Jw2r0V8p3kq0hFZlJgk9cXbqL3QwzT1mYx5s7u9aQ"
STORE = "https://sakhi-store.example.in"


def woo_headers(body: bytes, topic: str, *, delivery_id: str = "3f1b2c9a8d7e6f5a4b3c2d1e0f9a8b7c",
                secret: str = SECRET, webhook_id: str = "12") -> dict[str, str]:
    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    resource, _, event = topic.partition(".")
    return {"X-WC-Webhook-Source": STORE + "/", "X-WC-Webhook-Topic": topic, "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event, "X-WC-Webhook-Signature": signature, "X-WC-Webhook-ID": webhook_id,
            "X-WC-Webhook-Delivery-ID": delivery_id, "User-Agent": "WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)"}


@pytest.fixture
def store():
    return make_connection(make_shg(name="Sakhi SHG"), platform="woocommerce", display_name="Sakhi Store",
                           external_account_id=STORE,
                           credentials={"consumer_key": "ck_" + "1" * 40, "consumer_secret": "cs_" + "2" * 40,
                                        "webhook_secret": SECRET},
                           config={"store_url": STORE, "webhook_ids": ["12", "13", "14"]})


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    def send(connection, body: bytes, headers: dict[str, str], content_type: str = "application/json"):
        with django_capture_on_commit_callbacks(execute=True):
            return client.generic("POST", f"/webhooks/woocommerce/{connection.uuid}/", data=body,
                                  content_type=content_type, **meta(headers))

    return send


def test_the_creation_ping_is_answered_200_and_not_stored(store, deliver):
    response = deliver(store, b"webhook_id=12", {"User-Agent": "WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)"},
                       content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200 and response.content == b"pong"
    assert not WebhookEvent.objects.exists()


def test_an_order_signed_with_the_connection_secret_is_upserted(store, deliver):
    body = fixture("woocommerce", "order__created")
    response = deliver(store, body, woo_headers(body, "order.created"))
    assert response.status_code == 200 and response.content == b"accepted"
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.PROCESSED and event.resource_id == "7301"
    order = Order.objects.get(connection=store, external_id="7301")
    assert order.status == Order.Status.UNSHIPPED and str(order.total) == "1100.00" and order.buyer_name == "Ravi Iyer"
    assert Event.objects.filter(type="order.created").count() == 1


def test_a_signature_made_with_another_secret_is_refused(store, deliver):
    body = fixture("woocommerce", "order__created")
    assert deliver(store, body, woo_headers(body, "order.created", secret="another-stores-secret")).status_code == 401
    assert not WebhookEvent.objects.exists() and webhooks.bad_signature_count(store.uuid) >= 1


def test_without_a_registered_secret_nothing_verifies(store, deliver):
    store.credentials = {k: v for k, v in store.credentials.items() if k != "webhook_secret"}
    store.save()
    body = fixture("woocommerce", "order__created")
    assert deliver(store, body, woo_headers(body, "order.created")).status_code == 401


def test_two_changes_in_one_second_share_a_delivery_id_and_are_both_processed(store, deliver):
    created = fixture("woocommerce", "order__created")
    updated = json.loads(created)
    updated.update(status="completed", date_modified_gmt="2026-11-20T10:00:04")
    updated["line_items"][0]["quantity"] = 2
    updated["line_items"][0]["total"] = "2200.00"
    updated["total"] = "2200.00"
    updated_body = json.dumps(updated).encode()
    assert deliver(store, created, woo_headers(created, "order.created")).content == b"accepted"
    assert deliver(store, updated_body, woo_headers(updated_body, "order.updated")).content == b"accepted"
    assert deliver(store, updated_body, woo_headers(updated_body, "order.updated")).content == b"duplicate"
    assert WebhookEvent.objects.count() == 2
    assert Order.objects.get(external_id="7301").status == Order.Status.SHIPPED


def test_a_simple_product_is_imported(store, deliver):
    body = fixture("woocommerce", "product__updated")
    assert deliver(store, body, woo_headers(body, "product.updated")).status_code == 200
    variant = Variant.objects.get(shg=store.shg, sku="SAKHI-KURTA-01")
    assert str(variant.price) == "1100.00"
    assert Event.objects.get(type="listing.updated").payload["listings"][0]["sku"] == "SAKHI-KURTA-01"


def test_a_variable_product_queues_a_products_sync(store, deliver, monkeypatch):
    queued = []
    monkeypatch.setattr(webhooks, "enqueue_sync", lambda **kwargs: queued.append(kwargs))
    payload = json.loads(fixture("woocommerce", "product__updated"))
    payload.update(type="variable", variations=[301, 302], sku="")
    body = json.dumps(payload).encode()
    assert deliver(store, body, woo_headers(body, "product.updated")).status_code == 200
    assert [(q["connection"].pk, q["stream"]) for q in queued] == [(store.pk, "products")]
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED
