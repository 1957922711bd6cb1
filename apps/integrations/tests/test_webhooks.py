"""The inbound endpoint with Shopify deliveries: verify -> store -> 200 -> process through upsert_orders.

Deliveries are built from the JSON fixtures in fixtures/webhooks/shopify/ (named by topic) and signed
the way Shopify signs them; the real Shopify connector verifies and parses them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from apps.catalog.models import Variant
from apps.events.models import Event
from apps.integrations import webhook_tasks, webhooks
from apps.integrations.models import Connection, WebhookEvent
from apps.orders.models import Order
from tests.factories import make_connection, make_shg

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures" / "webhooks"
SHOP = "sakhi-crafts.myshopify.com"


def fixture(platform: str, name: str) -> bytes:
    return (FIXTURES / platform / f"{name}.json").read_bytes()


def shopify_headers(body: bytes, topic: str, *, webhook_id: str | None = None, shop: str = SHOP,
                    secret: str | None = None) -> dict[str, str]:
    digest = hmac.new((secret or settings.SHOPIFY_CLIENT_SECRET).encode(), body, hashlib.sha256).digest()
    return {
        "X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Shop-Domain": shop, "X-Shopify-API-Version": "2025-01",
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()), "X-Shopify-Event-Id": str(uuid.uuid4()),
        "X-Shopify-Triggered-At": "2026-11-20T10:00:05.123Z",
    }


def meta(headers: dict[str, str]) -> dict[str, str]:
    return {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}


def url(connection: Connection, platform: str | None = None) -> str:
    return f"/webhooks/{platform or connection.platform}/{connection.uuid}/"


@pytest.fixture
def shop():
    return make_connection(make_shg(name="Sakhi SHG"), platform="shopify", display_name="Sakhi Crafts",
                           external_account_id=SHOP, credentials={"access_token": "shpat_" + "a" * 32},
                           config={"shop": SHOP, "currency": "INR"})


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    """POST a delivery as the platform does; the processing task runs inline once the request commits."""

    def send(connection, body: bytes, headers: dict[str, str], *, platform: str | None = None,
             content_type: str = "application/json"):
        with django_capture_on_commit_callbacks(execute=True):
            return client.generic("POST", url(connection, platform), data=body, content_type=content_type,
                                  **meta(headers))

    return send


# --- accepted deliveries --------------------------------------------------------------------------------------


def test_an_order_is_stored_raw_then_upserted_like_a_poll(shop, deliver):
    body = fixture("shopify", "orders__create")
    headers = shopify_headers(body, "orders/create", webhook_id="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
    response = deliver(shop, body, headers)
    assert response.status_code == 200 and response.content == b"accepted"
    event = WebhookEvent.objects.get()
    assert bytes(event.body) == body  # byte for byte, as signed
    assert event.delivery_id == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043" and event.topic == "orders/create"
    assert event.resource_id == "5100000001001" and event.platform == "shopify"
    assert event.headers["X-Shopify-Shop-Domain"] == SHOP and event.body_sha256 == hashlib.sha256(body).hexdigest()
    assert event.status == WebhookEvent.Status.PROCESSED and event.attempts == 1 and event.processed_at
    order = Order.objects.get(connection=shop, external_id="5100000001001")
    assert order.number == "#1001" and order.status == Order.Status.UNSHIPPED and str(order.total) == "1630.00"
    assert sorted(order.lines.values_list("sku", "quantity")) == [("HAAT-0001", 1), ("HAAT-0003", 1)]
    assert Event.objects.filter(type="order.created", connection=shop).count() == 1


def test_a_cancellation_updates_the_order_and_emits_order_cancelled(shop, deliver):
    create = fixture("shopify", "orders__create")
    deliver(shop, create, shopify_headers(create, "orders/create"))
    cancel = fixture("shopify", "orders__cancelled")
    assert deliver(shop, cancel, shopify_headers(cancel, "orders/cancelled")).status_code == 200
    assert Order.objects.get(external_id="5100000001001").status == Order.Status.CANCELLED
    assert list(Event.objects.filter(connection=shop).order_by("occurred_at").values_list("type", flat=True)) == [
        "order.created", "order.updated", "order.cancelled"]


def test_a_late_older_delivery_does_not_undo_a_newer_one(shop, deliver):
    cancel = fixture("shopify", "orders__cancelled")
    deliver(shop, cancel, shopify_headers(cancel, "orders/cancelled"))
    older = fixture("shopify", "orders__create")  # arrives last, was sent first
    deliver(shop, older, shopify_headers(older, "orders/updated"))
    assert Order.objects.get(external_id="5100000001001").status == Order.Status.CANCELLED
    assert WebhookEvent.objects.filter(status=WebhookEvent.Status.PROCESSED).count() == 2


def test_a_retried_delivery_is_answered_200_and_not_processed_again(shop, deliver, monkeypatch):
    calls = []
    original = webhooks.upsert_orders
    monkeypatch.setattr(webhooks, "upsert_orders", lambda **kw: calls.append(kw) or original(**kw))
    body = fixture("shopify", "orders__create")
    headers = shopify_headers(body, "orders/create")
    assert deliver(shop, body, headers).content == b"accepted"
    retry = deliver(shop, body, headers)
    assert retry.status_code == 200 and retry.content == b"duplicate"
    assert WebhookEvent.objects.count() == 1 and len(calls) == 1


def test_the_same_delivery_id_with_another_body_is_another_delivery(shop, deliver):
    # WooCommerce derives delivery ids from the webhook id and the second: two events can share one.
    first = fixture("shopify", "orders__create")
    second = fixture("shopify", "orders__cancelled")
    deliver(shop, first, shopify_headers(first, "orders/create", webhook_id="same-id"))
    assert deliver(shop, second, shopify_headers(second, "orders/updated", webhook_id="same-id")).content == b"accepted"
    assert WebhookEvent.objects.count() == 2


def test_products_update_the_catalog_and_emit_listing_updated(shop, deliver):
    body = fixture("shopify", "products__update")
    assert deliver(shop, body, shopify_headers(body, "products/update")).status_code == 200
    variant = Variant.objects.get(shg=shop.shg, sku="SAKHI-TRAY-01")
    assert str(variant.price) == "420.00"
    event = Event.objects.get(type="listing.updated")
    assert event.payload["action"] == "updated" and event.payload["listings"][0]["sku"] == "SAKHI-TRAY-01"
    gone = fixture("shopify", "products__delete")
    deliver(shop, gone, shopify_headers(gone, "products/delete"))
    deleted = Event.objects.filter(type="listing.updated").order_by("-occurred_at").first()
    assert deleted.payload["action"] == "deleted" and deleted.payload["listings"] == [{"external_id": "8100000001024"}]


def test_a_topic_haat_does_not_use_is_stored_and_ignored(shop, deliver):
    body = b'{"id": 1, "email": "x@example.in"}'
    assert deliver(shop, body, shopify_headers(body, "customers/create")).status_code == 200
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.IGNORED


# --- refused deliveries ----------------------------------------------------------------------------------------


def test_a_bad_signature_is_401_counted_and_logged_without_the_body(shop, deliver, caplog):
    body = fixture("shopify", "orders__create")
    headers = shopify_headers(body, "orders/create", secret="not-the-app-secret")
    before = webhooks.bad_signature_count(shop.uuid)
    with caplog.at_level(logging.INFO):
        response = deliver(shop, body, headers)
    assert response.status_code == 401 and response.content == b"bad signature"
    assert not WebhookEvent.objects.exists() and not Order.objects.exists()
    assert webhooks.bad_signature_count(shop.uuid) == before + 1
    assert "bad signature" in caplog.text and str(shop.uuid) in caplog.text
    assert "anita" not in caplog.text.lower() and headers["X-Shopify-Hmac-Sha256"] not in caplog.text


def test_a_tampered_body_is_refused(shop, deliver):
    body = fixture("shopify", "orders__create")
    headers = shopify_headers(body, "orders/create")
    tampered = body.replace(b'"1630.00"', b'"1.00"')
    assert deliver(shop, tampered, headers).status_code == 401
    assert not WebhookEvent.objects.exists()


def test_a_missing_signature_is_401(shop, deliver):
    body = fixture("shopify", "orders__create")
    headers = shopify_headers(body, "orders/create")
    del headers["X-Shopify-Hmac-Sha256"]
    assert deliver(shop, body, headers).status_code == 401


def test_signatures_are_compared_in_constant_time(shop, deliver, monkeypatch):
    compared = []
    original = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: compared.append(1) or original(a, b))
    body = fixture("shopify", "orders__create")
    deliver(shop, body, shopify_headers(body, "orders/create", secret="wrong"))
    assert compared, "the signature check must go through hmac.compare_digest"


def test_a_signed_delivery_from_another_shop_is_refused(shop, deliver):
    body = fixture("shopify", "orders__create")
    assert deliver(shop, body, shopify_headers(body, "orders/create", shop="other.myshopify.com")).status_code == 401
    assert not WebhookEvent.objects.exists()


def test_unknown_connection_or_platform_is_404(shop, client, deliver):
    body = fixture("shopify", "orders__create")
    headers = shopify_headers(body, "orders/create")
    stranger = Connection(uuid=uuid.uuid4(), platform="shopify")
    assert deliver(stranger, body, headers).status_code == 404
    assert deliver(shop, body, headers, platform="woocommerce").status_code == 404  # uuid of another platform
    assert deliver(shop, body, headers, platform="amazon").status_code == 404  # no webhooks there
    assert deliver(shop, body, headers, platform="nosuchplatform").status_code == 404
    assert client.get(url(shop)).status_code == 405
    assert not WebhookEvent.objects.exists()


def test_a_signed_delivery_without_its_id_is_400(shop, deliver):
    body = fixture("shopify", "orders__create")
    headers = shopify_headers(body, "orders/create")
    del headers["X-Shopify-Webhook-Id"]
    assert deliver(shop, body, headers).status_code == 400


def test_a_signed_body_that_is_not_json_is_kept_as_failed_and_acknowledged(shop, deliver):
    body = b'{"id": 5100000001001, "line_items": [ truncated'
    response = deliver(shop, body, shopify_headers(body, "orders/create"))
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.FAILED and "not JSON" in event.last_error
    assert event.next_attempt_at is None and event.attempts == 0  # not retried: it would never parse
    assert bytes(event.body) == body


def test_a_delivery_the_connector_cannot_read_fails_for_good(shop, deliver):
    body = json.dumps({"id": 1, "line_items": [{"id": 2}]}).encode()  # no created_at, currency, quantity...
    assert deliver(shop, body, shopify_headers(body, "orders/create")).status_code == 200
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.FAILED and event.next_attempt_at is None
    assert event.last_error.startswith("Cannot read the delivery")


# --- failures, retries, replay ------------------------------------------------------------------------------------


def test_processing_failures_are_kept_retried_with_backoff_and_replayable(shop, deliver, monkeypatch):
    def down(**kwargs):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(webhooks, "upsert_orders", down)
    body = fixture("shopify", "orders__create")
    response = deliver(shop, body, shopify_headers(body, "orders/create"))
    assert response.status_code == 200  # stored first: the platform is never asked to resend
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.FAILED and "database is locked" in event.last_error
    first_wait = event.next_attempt_at - timezone.now()
    assert timedelta(seconds=50) < first_wait <= webhooks.RETRY_DELAYS[0]
    # Not due yet: the sweep leaves it alone.
    assert event.pk not in webhook_tasks.due_webhook_event_ids()
    WebhookEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert webhook_tasks.due_webhook_event_ids() == [event.pk]
    webhook_tasks.process_webhook_event(event.pk)
    event.refresh_from_db()
    assert event.attempts == 2 and event.next_attempt_at - timezone.now() > webhooks.RETRY_DELAYS[0]
    # After the last delay it stays failed until someone replays it.
    WebhookEvent.objects.filter(pk=event.pk).update(attempts=len(webhooks.RETRY_DELAYS),
                                                    next_attempt_at=timezone.now())
    webhook_tasks.process_webhook_event(event.pk)
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.FAILED and event.next_attempt_at is None
    assert webhook_tasks.due_webhook_event_ids() == []
    monkeypatch.undo()
    assert webhooks.webhook_events_replay(event_ids=[event.pk]) == 1
    webhook_tasks.process_webhook_event(event.pk)
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.PROCESSED and event.attempts == 1 and event.last_error == ""
    assert Order.objects.filter(external_id="5100000001001").exists()


def test_a_lost_enqueue_is_picked_up_by_the_sweep(shop, client, monkeypatch):
    def broker_down(event_id):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(webhook_tasks, "enqueue_webhook_event", broker_down)
    body = fixture("shopify", "orders__create")
    response = client.generic("POST", url(shop), data=body, content_type="application/json",
                              **meta(shopify_headers(body, "orders/create")))
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.RECEIVED
    assert webhook_tasks.due_webhook_event_ids() == []  # its task may still be on its way
    WebhookEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - webhooks.ENQUEUE_GRACE
                                                    - timedelta(seconds=1))
    assert webhook_tasks.due_webhook_event_ids() == [event.pk]


def test_two_workers_never_process_one_delivery(shop, deliver, monkeypatch):
    monkeypatch.setattr(webhooks, "_enqueue_after_commit", lambda event_id: None)
    body = fixture("shopify", "orders__create")
    deliver(shop, body, shopify_headers(body, "orders/create"))
    event = WebhookEvent.objects.get()
    assert webhooks.webhook_event_claim(event_id=event.pk)
    assert not webhooks.webhook_event_claim(event_id=event.pk)  # held under its lease
    assert webhook_tasks.process_webhook_event(event.pk) == "skipped"
    # The worker died: once the lease expires the delivery can be taken again.
    WebhookEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert webhook_tasks.process_webhook_event(event.pk) == WebhookEvent.Status.PROCESSED


def test_deliveries_to_a_disconnected_connection_change_nothing(shop, deliver):
    Connection.objects.filter(pk=shop.pk).update(status=Connection.Status.DISABLED)
    body = fixture("shopify", "orders__create")
    assert deliver(shop, body, shopify_headers(body, "orders/create")).status_code == 200
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.IGNORED
    assert not Order.objects.exists()


def test_old_processed_deliveries_are_purged_failed_ones_kept(shop, deliver, monkeypatch, settings):
    body = fixture("shopify", "orders__create")
    deliver(shop, body, shopify_headers(body, "orders/create"))
    bad = b"not json"
    deliver(shop, bad, shopify_headers(bad, "orders/create"))
    WebhookEvent.objects.update(received_at=timezone.now() - timedelta(days=settings.WEBHOOK_RETENTION_DAYS + 1))
    assert webhook_tasks.purge_old_webhook_events() == 1
    assert list(WebhookEvent.objects.values_list("status", flat=True)) == [WebhookEvent.Status.FAILED]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_copies_of_one_delivery_store_one_row(settings):
    """Two workers receive the same delivery at the same instant: the unique constraint, not a read before
    the insert, decides; both answer 200 and one row exists. Needs real concurrent connections (PostgreSQL)."""
    import threading

    from django.db import connection as db_connection
    from django.db import connections

    if db_connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL")
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    settings.Q_BROKER_URL = ""
    shop = make_connection(make_shg(), platform="shopify", external_account_id=SHOP,
                           credentials={"access_token": "shpat_" + "d" * 32}, config={"shop": SHOP})
    body = fixture("shopify", "orders__create")
    headers = shopify_headers(body, "orders/create")
    barrier = threading.Barrier(4)
    answers = []

    def worker():
        try:
            barrier.wait()
            answers.append(webhooks.webhook_receive(platform="shopify", connection_uuid=shop.uuid, body=body,
                                                    headers=headers))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [200] * 4
    assert sorted(a.detail for a in answers) == ["accepted"] + ["duplicate"] * 3
    assert WebhookEvent.objects.filter(connection=shop).count() == 1
