"""Partner webhook subscriptions: who gets which event, signed deliveries, retries, the log (HTTP with `responses`)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
import time
from datetime import timedelta

import pytest
import requests
import responses
from django.core.exceptions import ValidationError
from django.db import connection as db_connection
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Organization
from apps.events import relay, subscriptions
from apps.events.models import PartnerWebhookSubscription, WebhookDelivery
from apps.events.services import publish
from tests.factories import make_connection, make_org, make_shg

pytestmark = pytest.mark.django_db

URL = "https://partner.example/haat-hook"


@pytest.fixture
def shg():
    return make_shg(name="Sakhi SHG")


@pytest.fixture
def connection(shg):
    return make_connection(shg, platform="shopify")


@pytest.fixture
def partner(shg):
    org = make_org("Logistics Partner", kind=Organization.Kind.PARTNER)
    org.served_shgs.add(shg)
    return org


def event_for(connection, event_type="order.created", payload=None):
    with transaction.atomic():
        return publish(type=event_type, shg=connection.shg, connection=connection,
                       payload=payload or {"order_id": 7, "external_id": "450789469", "total": "1450.00"})


def relay_now(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return relay.relay_pending()


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    # Written from the documented scheme, independently of subscriptions.sign.
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


# --- subscriptions --------------------------------------------------------------------------------------------


def test_create_returns_the_secret_once_and_stores_it_encrypted(partner):
    subscription, secret = subscriptions.subscription_create(organization=partner, url=URL,
                                                             event_types=["order.created", "order.cancelled"])
    assert secret.startswith("whsec_") and len(secret) > 40
    assert PartnerWebhookSubscription.objects.get(pk=subscription.pk).secret == secret
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM events_partnerwebhooksubscription WHERE id = %s", [subscription.pk])
        stored = cursor.fetchone()[0]
    assert secret not in stored


@pytest.mark.parametrize("url", ["http://partner.example/hook", "ftp://partner.example/", "not a url", ""])
def test_only_https_endpoints(partner, url, settings):
    settings.DEBUG, settings.SANDBOX = False, False
    with pytest.raises(ValidationError):
        subscriptions.subscription_create(organization=partner, url=url, event_types=["order.created"])
    assert not PartnerWebhookSubscription.objects.exists()


def test_local_http_receiver_allowed_only_for_development(partner, settings):
    settings.DEBUG, settings.SANDBOX = False, False
    with pytest.raises(ValidationError):
        subscriptions.subscription_create(organization=partner, url="http://127.0.0.1:9000/h", event_types=["*"])
    settings.SANDBOX = True
    subscription, _ = subscriptions.subscription_create(organization=partner, url="http://127.0.0.1:9000/h",
                                                        event_types=["*"])
    assert subscription.pk


@pytest.mark.parametrize("types", [[], ["order.shipped"], "order.created", [1]])
def test_event_types_must_be_known(partner, types):
    with pytest.raises(ValidationError):
        subscriptions.subscription_create(organization=partner, url=URL, event_types=types)


# --- fan-out ----------------------------------------------------------------------------------------------------


def test_fan_out_reaches_only_organizations_that_see_the_shg_and_want_the_type(connection, partner,
                                                                               django_capture_on_commit_callbacks):
    federation_sub, _ = subscriptions.subscription_create(organization=connection.shg.federation, url=URL,
                                                          event_types=["*"])
    partner_sub, _ = subscriptions.subscription_create(organization=partner, url=URL + "/p",
                                                       event_types=["order.cancelled"])
    stranger = make_org("Unrelated Partner", kind=Organization.Kind.PARTNER)
    subscriptions.subscription_create(organization=stranger, url=URL + "/x", event_types=["*"])
    inactive, _ = subscriptions.subscription_create(organization=partner, url=URL + "/off", event_types=["*"])
    PartnerWebhookSubscription.objects.filter(pk=inactive.pk).update(is_active=False)
    created = event_for(connection, "order.created")
    cancelled = event_for(connection, "order.cancelled")
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, URL, status=200)
        mock.add(responses.POST, URL + "/p", status=200)
        relay_now(django_capture_on_commit_callbacks)
    pairs = set(WebhookDelivery.objects.values_list("subscription_id", "event_id"))
    assert pairs == {(federation_sub.pk, created.pk), (federation_sub.pk, cancelled.pk), (partner_sub.pk, cancelled.pk)}
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {WebhookDelivery.Status.DELIVERED}


def test_fan_out_twice_sends_once(connection, partner):
    subscriptions.subscription_create(organization=partner, url=URL, event_types=["*"])
    event = event_for(connection)
    with transaction.atomic():
        first = subscriptions.deliveries_fan_out(events=[event])
        second = subscriptions.deliveries_fan_out(events=[event])
    assert len(first) == 1 and first == second
    assert WebhookDelivery.objects.count() == 1


# --- sending ------------------------------------------------------------------------------------------------------


@pytest.fixture
def delivery(connection, partner):
    _subscription, secret = subscriptions.subscription_create(organization=partner, url=URL, event_types=["*"])
    event = event_for(connection)
    with transaction.atomic():
        (delivery_id,) = subscriptions.deliveries_fan_out(events=[event])
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    delivery.secret = secret
    return delivery


@responses.activate
def test_delivery_is_signed_over_timestamp_and_body(delivery):
    responses.add(responses.POST, URL, status=204)
    before = int(time.time())
    assert subscriptions.deliver(delivery.pk) == WebhookDelivery.Status.DELIVERED
    request = responses.calls[0].request
    body = request.body if isinstance(request.body, bytes) else request.body.encode()
    timestamp = request.headers["X-Haat-Timestamp"]
    assert before <= int(timestamp) <= int(time.time())
    assert request.headers["X-Haat-Signature"] == expected_signature(delivery.secret, timestamp, body)
    assert subscriptions.verify_signature(secret=delivery.secret, timestamp=timestamp, body=body,
                                          signature=request.headers["X-Haat-Signature"])
    envelope = json.loads(body)
    assert envelope["id"] == str(delivery.event_id) and envelope["type"] == "order.created"
    assert envelope["payload"]["external_id"] == "450789469"
    assert request.headers["X-Haat-Event-Id"] == str(delivery.event_id)
    assert request.headers["Content-Type"] == "application/json"
    stored = WebhookDelivery.objects.get(pk=delivery.pk)
    assert stored.response_code == 204 and stored.attempts == 1 and stored.delivered_at is not None


def test_receivers_refuse_tampered_bodies_and_old_timestamps():
    body, secret = b'{"id":"1"}', "whsec_test"
    now = int(time.time())
    signature = subscriptions.sign(secret=secret, timestamp=now, body=body)
    assert subscriptions.verify_signature(secret=secret, timestamp=str(now), body=body, signature=signature)
    assert not subscriptions.verify_signature(secret=secret, timestamp=str(now), body=body + b" ", signature=signature)
    assert not subscriptions.verify_signature(secret="whsec_other", timestamp=str(now), body=body, signature=signature)
    old = now - subscriptions.SIGNATURE_TOLERANCE - 1
    old_signature = subscriptions.sign(secret=secret, timestamp=old, body=body)
    assert not subscriptions.verify_signature(secret=secret, timestamp=str(old), body=body, signature=old_signature)
    assert not subscriptions.verify_signature(secret=secret, timestamp="soon", body=body, signature=signature)


@responses.activate
def test_failures_are_retried_with_growing_delays_then_given_up(delivery):
    responses.add(responses.POST, URL, status=503, body="upstream busy")
    delays = []
    for _ in range(len(subscriptions.RETRY_DELAYS)):
        before = timezone.now()
        assert subscriptions.deliver(delivery.pk) == WebhookDelivery.Status.RETRYING
        stored = WebhookDelivery.objects.get(pk=delivery.pk)
        assert stored.response_code == 503 and stored.response_body == "upstream busy" and stored.error == "HTTP 503"
        delays.append(stored.next_attempt_at - before)
        # Not due yet: a second worker cannot send it early.
        assert subscriptions.deliver(delivery.pk) == "not-claimed"
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert all(later > earlier for earlier, later in itertools.pairwise(delays))
    assert delays[0] >= timedelta(minutes=1) - timedelta(seconds=5)
    assert subscriptions.deliver(delivery.pk) == WebhookDelivery.Status.FAILED
    stored = WebhookDelivery.objects.get(pk=delivery.pk)
    assert stored.attempts == len(subscriptions.RETRY_DELAYS) + 1 and stored.next_attempt_at is None
    assert len(responses.calls) == len(subscriptions.RETRY_DELAYS) + 1


@responses.activate
def test_connection_errors_are_retried(delivery):
    responses.add(responses.POST, URL, body=requests.ConnectionError("refused"))
    assert subscriptions.deliver(delivery.pk) == WebhookDelivery.Status.RETRYING
    assert WebhookDelivery.objects.get(pk=delivery.pk).error == "ConnectionError calling the endpoint"


@responses.activate
def test_redirects_are_not_followed(delivery):
    responses.add(responses.POST, URL, status=301, headers={"Location": "http://169.254.169.254/"})
    assert subscriptions.deliver(delivery.pk) == WebhookDelivery.Status.RETRYING
    assert len(responses.calls) == 1


@responses.activate
def test_gone_switches_the_subscription_off(delivery):
    responses.add(responses.POST, URL, status=410)
    assert subscriptions.deliver(delivery.pk) == WebhookDelivery.Status.FAILED
    subscription = PartnerWebhookSubscription.objects.get(pk=delivery.subscription_id)
    assert not subscription.is_active and "410" in subscription.disabled_reason


@responses.activate
def test_sweep_picks_due_and_lost_deliveries(delivery, monkeypatch):
    sent = []
    monkeypatch.setattr(subscriptions, "enqueue_delivery", sent.append)
    assert subscriptions.retry_due_deliveries() == 0  # just created: its own task is on its way
    WebhookDelivery.objects.filter(pk=delivery.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert subscriptions.retry_due_deliveries() == 1 and sent == [delivery.pk]
    # A worker died while sending: its lease expires and the delivery is due again.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=WebhookDelivery.Status.SENDING,
                                                          next_attempt_at=timezone.now() - timedelta(seconds=1))
    responses.add(responses.POST, URL, status=200)
    assert subscriptions.deliver(delivery.pk) == WebhookDelivery.Status.DELIVERED


@responses.activate
def test_retry_now_starts_a_fresh_series(delivery, django_capture_on_commit_callbacks):
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=WebhookDelivery.Status.FAILED, attempts=8)
    responses.add(responses.POST, URL, status=200)
    with django_capture_on_commit_callbacks(execute=True):
        assert subscriptions.deliveries_retry_now(delivery_ids=[delivery.pk]) == 1
    stored = WebhookDelivery.objects.get(pk=delivery.pk)
    assert stored.status == WebhookDelivery.Status.DELIVERED and stored.attempts == 1


@responses.activate
def test_secret_never_logged_or_stored_in_the_log(delivery, caplog):
    responses.add(responses.POST, URL, status=500, body="no")
    with caplog.at_level(logging.DEBUG):
        subscriptions.deliver(delivery.pk)
    stored = WebhookDelivery.objects.get(pk=delivery.pk)
    assert delivery.secret not in caplog.text
    assert delivery.secret not in stored.error + stored.response_body
