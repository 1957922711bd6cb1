"""The WebhookEvent admin: the log with filters and search, the raw body shown, signatures masked, Replay."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse

from apps.integrations import webhooks
from apps.integrations.models import WebhookEvent
from apps.integrations.tests.test_webhooks import SHOP, fixture, meta, shopify_headers
from apps.orders.models import Order
from tests.factories import make_connection, make_shg

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    return make_connection(make_shg(), platform="shopify", external_account_id=SHOP,
                           credentials={"access_token": "shpat_" + "c" * 32}, config={"shop": SHOP})


@pytest.fixture
def failed_event(shop, client, monkeypatch, django_capture_on_commit_callbacks):
    def down(**kwargs):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(webhooks, "upsert_orders", down)
    body = fixture("shopify", "orders__create")
    with django_capture_on_commit_callbacks(execute=True):
        client.generic("POST", f"/webhooks/shopify/{shop.uuid}/", data=body, content_type="application/json",
                       **meta(shopify_headers(body, "orders/create", webhook_id="wh-123")))
    monkeypatch.undo()
    return WebhookEvent.objects.get()


@pytest.fixture
def staff_client(client):
    client.force_login(get_user_model().objects.create_superuser("staff", "staff@example.in", "pw-12345-long"))
    return client


def test_the_log_lists_filters_and_searches(staff_client, failed_event):
    changelist = reverse("admin:integrations_webhookevent_changelist")
    page = staff_client.get(changelist, {"status": "failed"}).content.decode()
    assert "5100000001001" in page and "database is locked" in page  # resource id and error columns
    assert "5100000001001" in staff_client.get(changelist, {"q": "wh-123"}).content.decode()
    assert "5100000001001" not in staff_client.get(changelist, {"q": "no-such-delivery"}).content.decode()
    assert "5100000001001" not in staff_client.get(changelist, {"status": "processed"}).content.decode()


def test_the_detail_shows_the_body_and_masks_the_signature(staff_client, failed_event):
    page = staff_client.get(reverse("admin:integrations_webhookevent_change", args=[failed_event.pk])).content.decode()
    assert "Anita Sharma" in page and "HAAT-0001" in page  # the raw body, pretty-printed
    signature = failed_event.headers["X-Shopify-Hmac-Sha256"]
    assert signature not in page and "X-Shopify-Shop-Domain" in page


def test_replay_processes_again(staff_client, failed_event, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("admin:integrations_webhookevent_changelist"),
                                     {"action": "replay", "_selected_action": [failed_event.pk]})
    assert response.status_code == 302
    failed_event.refresh_from_db()
    assert failed_event.status == WebhookEvent.Status.PROCESSED
    assert Order.objects.filter(external_id="5100000001001").exists()


def test_replay_needs_the_change_permission(client, failed_event):
    viewer = get_user_model().objects.create_user("viewer", password="pw-12345-long", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_webhookevent"))
    client.force_login(viewer)
    changelist = reverse("admin:integrations_webhookevent_changelist")
    assert client.get(changelist).status_code == 200
    client.post(changelist, {"action": "replay", "_selected_action": [failed_event.pk]})
    failed_event.refresh_from_db()
    assert failed_event.status == WebhookEvent.Status.FAILED


def test_events_cannot_be_added_or_edited(staff_client, failed_event):
    assert staff_client.get(reverse("admin:integrations_webhookevent_add")).status_code == 403
    body = bytes(failed_event.body)
    staff_client.post(reverse("admin:integrations_webhookevent_change", args=[failed_event.pk]), {"topic": "x"})
    failed_event.refresh_from_db()
    assert failed_event.topic == "orders/create" and bytes(failed_event.body) == body
