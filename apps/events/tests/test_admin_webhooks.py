"""The partner webhook admin: the secret shown once after creation or rotation, the delivery log and "Retry now"."""

from __future__ import annotations

import pytest
import responses
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse

from apps.accounts.models import Organization
from apps.events import subscriptions
from apps.events.models import PartnerWebhookSubscription, WebhookDelivery
from apps.events.services import publish
from tests.factories import make_connection, make_org, make_shg

pytestmark = pytest.mark.django_db

URL = "https://partner.example/hook"


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("staff", "staff@example.in", "pw-12345-long")
    client.force_login(user)
    return client


@pytest.fixture
def partner():
    return make_org("Analytics Partner", kind=Organization.Kind.PARTNER)


def test_creating_a_subscription_shows_its_secret_once(staff_client, partner):
    response = staff_client.post(reverse("admin:events_partnerwebhooksubscription_add"), {
        "organization": partner.pk, "url": URL, "event_types": ["order.created", "order.cancelled"],
        "description": "dispatch board", "is_active": "on",
    })
    assert response.status_code == 200, response.content[:500]
    subscription = PartnerWebhookSubscription.objects.get()
    assert subscription.event_types == ["order.cancelled", "order.created"]
    page = response.content.decode()
    assert subscription.secret in page and "no-store" in response["Cache-Control"]
    change = staff_client.get(reverse("admin:events_partnerwebhooksubscription_change", args=[subscription.pk]))
    listing = staff_client.get(reverse("admin:events_partnerwebhooksubscription_changelist"))
    assert subscription.secret not in change.content.decode() + listing.content.decode()


def test_the_admin_refuses_plain_http_and_unknown_types(staff_client, partner, settings):
    settings.DEBUG, settings.SANDBOX = False, False
    response = staff_client.post(reverse("admin:events_partnerwebhooksubscription_add"), {
        "organization": partner.pk, "url": "http://partner.example/hook", "event_types": ["order.created"],
        "is_active": "on",
    })
    assert response.status_code == 200 and "https://" in response.content.decode()
    assert not PartnerWebhookSubscription.objects.exists()


def test_rotating_shows_the_new_secret_and_the_old_one_stops_working(staff_client, partner):
    subscription, old = subscriptions.subscription_create(organization=partner, url=URL, event_types=["*"])
    response = staff_client.post(reverse("admin:events_partnerwebhooksubscription_changelist"),
                                 {"action": "rotate_secret", "_selected_action": [subscription.pk]})
    new = PartnerWebhookSubscription.objects.get(pk=subscription.pk).secret
    assert new != old and new in response.content.decode() and old not in response.content.decode()


@responses.activate
def test_delivery_log_and_retry_now(staff_client, partner):
    shg = make_shg()
    partner.served_shgs.add(shg)
    subscription, _ = subscriptions.subscription_create(organization=partner, url=URL, event_types=["*"])
    with transaction.atomic():
        event = publish(type="order.created", shg=shg, connection=make_connection(shg), payload={"order_id": 1})
        (delivery_id,) = subscriptions.deliveries_fan_out(events=[event])
    responses.add(responses.POST, URL, status=500, body="partner down")
    subscriptions.deliver(delivery_id)
    listing = staff_client.get(reverse("admin:events_webhookdelivery_changelist"), {"status": "retrying"})
    assert listing.status_code == 200 and "order.created" in listing.content.decode()
    detail = staff_client.get(reverse("admin:events_webhookdelivery_change", args=[delivery_id]))
    assert "partner down" in detail.content.decode() and subscription.secret not in detail.content.decode()
    responses.replace(responses.POST, URL, status=200)
    staff_client.post(reverse("admin:events_webhookdelivery_changelist"),
                      {"action": "retry_now", "_selected_action": [delivery_id]})
    # The task runs inline in the test settings once the admin's transaction commits.
    subscriptions.deliver(delivery_id)
    assert WebhookDelivery.objects.get(pk=delivery_id).status == WebhookDelivery.Status.DELIVERED
