"""Partner webhook subscriptions: fan events out to partners' URLs, signed, retried with backoff, logged.

A delivery is a row (`WebhookDelivery`, unique per subscription and event) written when the relay
dispatches the event, then POSTed by a django-q2 task. The body is the relay's envelope; the request
carries

    X-Haat-Timestamp: <unix seconds>
    X-Haat-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the subscription's secret>

so a receiver verifies the sender and refuses old timestamps (replays); docs/events.md has the snippet.
A 2xx answer is success; anything else, a timeout or a refused connection is retried after
RETRY_DELAYS, then the delivery is failed and staff can retry it from the admin. An endpoint that
answers 410 Gone has its subscription switched off.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django_q.tasks import async_task

from apps.accounts.models import SHG, Organization
from apps.core.logging import redact
from apps.events.models import Event, PartnerWebhookSubscription, WebhookDelivery
from apps.events.types import EVENT_TYPES

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
SIGNATURE_PREFIX = "sha256="
TIMESTAMP_HEADER = "X-Haat-Timestamp"
SIGNATURE_HEADER = "X-Haat-Signature"
# How old a timestamp a receiver should accept; also what `verify_signature` uses by default.
SIGNATURE_TOLERANCE = 300
RETRY_DELAYS = [timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
                timedelta(hours=6), timedelta(hours=12), timedelta(hours=24)]
# A delivery claimed this long ago without an outcome was lost with its worker: it may be sent again.
SENDING_LEASE = timedelta(minutes=5)
# A pending delivery whose task has not started after this long is enqueued again by the sweeper.
ENQUEUE_GRACE = timedelta(minutes=2)
CONNECT_TIMEOUT, READ_TIMEOUT = 5, 10
RESPONSE_EXCERPT = 1000
SWEEP_BATCH = 500


# --- signing ----------------------------------------------------------------------------------------------------


def sign(*, secret: str, timestamp: int, body: bytes) -> str:
    """The X-Haat-Signature value for a body sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + mac


def verify_signature(*, secret: str, timestamp: str, body: bytes, signature: str, now: float | None = None,
                     tolerance: int = SIGNATURE_TOLERANCE) -> bool:
    """What a receiver does (Python): a fresh timestamp and a matching signature, compared in constant time."""
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret=secret, timestamp=sent, body=body), signature or "")


# --- subscriptions ------------------------------------------------------------------------------------------------


def validate_event_types(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValidationError('List the event types to send, e.g. ["order.created"], or ["*"].', code="required")
    unknown = sorted({v for v in value if v != "*" and v not in EVENT_TYPES})
    if unknown:
        raise ValidationError(f"Unknown event type(s): {', '.join(unknown)}. Known: {', '.join(EVENT_TYPES)}.",
                              code="unknown")
    return sorted(set(value))


def validate_url(url: str) -> str:
    """HTTPS only (plain HTTP to this machine is allowed in DEBUG or with the sandbox on, for local receivers)."""
    parts = urlsplit(url or "")
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return url
    local = host == "localhost" or _is_loopback(host)
    if parts.scheme == "http" and local and (settings.DEBUG or settings.SANDBOX):
        return url
    raise ValidationError("The endpoint must be an https:// URL.", code="https")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


@transaction.atomic
def subscription_create(*, organization: Organization, url: str, event_types: list[str],
                        description: str = "") -> tuple[PartnerWebhookSubscription, str]:
    """Create a subscription; returns it and its signing secret, which is shown this once."""
    errors: dict[str, list[str]] = {}
    for name, validate, value in (("url", validate_url, url), ("event_types", validate_event_types, event_types)):
        try:
            validate(value)
        except ValidationError as exc:
            errors[name] = exc.messages
    if errors:
        raise ValidationError(errors)
    secret = new_secret()
    subscription = PartnerWebhookSubscription(organization=organization, url=url,
                                              event_types=validate_event_types(event_types),
                                              description=description, secret=secret)
    subscription.full_clean()
    subscription.save()
    return subscription, secret


def subscription_rotate_secret(*, subscription: PartnerWebhookSubscription) -> str:
    """A new signing secret, effective for the next attempt; returned to be shown once."""
    secret = new_secret()
    subscription.secret = secret
    subscription.save(update_fields=["secret", "updated_at"])
    return secret


# --- fan-out ------------------------------------------------------------------------------------------------------


def _organizations_by_shg(shg_ids: set[int]) -> dict[int, set[int]]:
    """Which organizations may see each SHG: its federation and the partners that serve it."""
    seeing: dict[int, set[int]] = defaultdict(set)
    for shg_id, federation_id in SHG.objects.filter(id__in=shg_ids).values_list("id", "federation_id"):
        seeing[shg_id].add(federation_id)
    served = SHG.partner_organizations.through.objects.filter(shg_id__in=shg_ids)
    for shg_id, organization_id in served.values_list("shg_id", "organization_id"):
        seeing[shg_id].add(organization_id)
    return seeing


def deliveries_fan_out(*, events: list[Event]) -> list[int]:
    """Write a delivery for every active subscription that wants each event and may see its SHG.

    Idempotent (unique per subscription and event). Returns the ids of the deliveries now pending for these
    events; their tasks are queued once the caller's transaction commits (and by the sweep if that is lost).
    """
    if not events:
        return []
    subscriptions = list(PartnerWebhookSubscription.objects.filter(is_active=True))
    if not subscriptions:
        return []
    seeing = _organizations_by_shg({event.shg_id for event in events})
    rows = [
        WebhookDelivery(subscription=subscription, event=event, next_attempt_at=None)
        for event in events for subscription in subscriptions
        if subscription.organization_id in seeing.get(event.shg_id, ()) and subscription.wants(event.type)
    ]
    if not rows:
        return []
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    ids = list(WebhookDelivery.objects.filter(event_id__in=[event.pk for event in events],
                                              status=WebhookDelivery.Status.PENDING).values_list("id", flat=True))
    transaction.on_commit(lambda: [enqueue_delivery(delivery_id) for delivery_id in ids])
    return ids


# --- sending ------------------------------------------------------------------------------------------------------


def enqueue_delivery(delivery_id: int) -> None:
    async_task("apps.events.subscriptions.deliver", delivery_id, task_name=f"partner-webhook-{delivery_id}",
               group="partner-webhooks")


def delivery_claim(*, delivery_id: int) -> bool:
    """Take the right to send (one conditional UPDATE), so two workers never send one delivery at once."""
    now = timezone.now()
    ready = Q(status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.RETRYING]) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    lost = Q(status=WebhookDelivery.Status.SENDING, next_attempt_at__lte=now)
    return bool(WebhookDelivery.objects.filter(ready | lost, pk=delivery_id).update(
        status=WebhookDelivery.Status.SENDING, attempts=F("attempts") + 1, last_attempt_at=now,
        next_attempt_at=now + SENDING_LEASE,
    ))


@dataclass
class Attempt:
    ok: bool
    status_code: int | None = None
    body: str = ""
    error: str = ""
    gone: bool = False


def new_session() -> requests.Session:
    """The HTTP session for partner deliveries (tests may replace it)."""
    session = requests.Session()
    session.headers["User-Agent"] = "Haat-Webhooks/1.0"
    return session


def _post(delivery: WebhookDelivery) -> Attempt:
    from apps.events.relay import envelope_json

    body = envelope_json(delivery.event)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret=delivery.subscription.secret, timestamp=timestamp, body=body),
        "X-Haat-Event-Id": str(delivery.event_id),
        "X-Haat-Event-Type": delivery.event.type,
        "X-Haat-Delivery-Id": str(delivery.pk),
    }
    try:
        response = new_session().post(delivery.subscription.url, data=body, headers=headers,
                                      timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), allow_redirects=False)
    except requests.RequestException as exc:
        return Attempt(ok=False, error=f"{type(exc).__name__} calling the endpoint")
    excerpt = redact(response.text[:RESPONSE_EXCERPT]) if response.content else ""
    ok = 200 <= response.status_code < 300
    return Attempt(ok=ok, status_code=response.status_code, body=excerpt, gone=response.status_code == 410,
                   error="" if ok else f"HTTP {response.status_code}")


def deliver(delivery_id: int) -> str:
    """The task body: send one delivery and record the outcome; returns the new status."""
    if not delivery_claim(delivery_id=delivery_id):
        return "not-claimed"
    delivery = WebhookDelivery.objects.select_related(
        "subscription", "event", "event__shg", "event__connection").get(pk=delivery_id)
    if not delivery.subscription.is_active:
        _finish(delivery, WebhookDelivery.Status.FAILED, error="The subscription is switched off.")
        return WebhookDelivery.Status.FAILED
    attempt = _post(delivery)
    if attempt.ok:
        _finish(delivery, WebhookDelivery.Status.DELIVERED, attempt=attempt)
        return WebhookDelivery.Status.DELIVERED
    if attempt.gone:
        PartnerWebhookSubscription.objects.filter(pk=delivery.subscription_id).update(
            is_active=False, disabled_reason="The endpoint answered 410 Gone.", updated_at=timezone.now())
        _finish(delivery, WebhookDelivery.Status.FAILED, attempt=attempt)
        return WebhookDelivery.Status.FAILED
    if delivery.attempts <= len(RETRY_DELAYS):
        _finish(delivery, WebhookDelivery.Status.RETRYING, attempt=attempt,
                next_attempt_at=timezone.now() + RETRY_DELAYS[delivery.attempts - 1])
        return WebhookDelivery.Status.RETRYING
    _finish(delivery, WebhookDelivery.Status.FAILED, attempt=attempt)
    return WebhookDelivery.Status.FAILED


def _finish(delivery: WebhookDelivery, status: str, *, attempt: Attempt | None = None, error: str = "",
            next_attempt_at=None) -> None:
    now = timezone.now()
    fields: dict[str, Any] = {"status": status, "next_attempt_at": next_attempt_at}
    if attempt is not None:
        fields.update(response_code=attempt.status_code, response_body=attempt.body, error=attempt.error)
    else:
        fields["error"] = error
    if status == WebhookDelivery.Status.DELIVERED:
        fields["delivered_at"] = now
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
    if status != WebhookDelivery.Status.DELIVERED:
        logger.info("partner webhook delivery %s: %s (%s)", delivery.pk, status, fields.get("error"))


def due_delivery_ids(*, now=None, limit: int = SWEEP_BATCH) -> list[int]:
    now = now or timezone.now()
    due = (
        Q(status=WebhookDelivery.Status.PENDING, next_attempt_at__isnull=True, created_at__lte=now - ENQUEUE_GRACE)
        | Q(status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.RETRYING, WebhookDelivery.Status.SENDING],
            next_attempt_at__lte=now)
    )
    return list(WebhookDelivery.objects.filter(due).order_by("created_at", "id").values_list("id", flat=True)[:limit])


def retry_due_deliveries() -> int:
    """Every minute: queue the deliveries that are due (retries, lost enqueues, lost workers)."""
    ids = due_delivery_ids()
    for delivery_id in ids:
        enqueue_delivery(delivery_id)
    return len(ids)


def deliveries_retry_now(*, delivery_ids: Iterable[int]) -> int:
    """Admin "Retry now": failed or waiting deliveries go out again with a fresh series of attempts."""
    ids = list(WebhookDelivery.objects.filter(pk__in=list(delivery_ids)).exclude(
        status__in=[WebhookDelivery.Status.DELIVERED, WebhookDelivery.Status.SENDING]).values_list("id", flat=True))
    WebhookDelivery.objects.filter(pk__in=ids).update(status=WebhookDelivery.Status.PENDING, attempts=0,
                                                      next_attempt_at=None)
    transaction.on_commit(lambda: [enqueue_delivery(delivery_id) for delivery_id in ids])
    return len(ids)



# --- test delivery ------------------------------------------------------------------------------------------------

TEST_EVENT_TYPE = "webhook.test"


def subscription_send_test(*, subscription: PartnerWebhookSubscription) -> Attempt:
    """POST a signed `webhook.test` envelope to the endpoint now, so a partner can check its receiver.

    Not an outbox event: nothing is stored, relayed or retried; the answer is returned to the caller.
    """
    import json
    import uuid

    envelope = {"id": str(uuid.uuid4()), "type": TEST_EVENT_TYPE, "time": timezone.now().isoformat(),
                "schema_version": 1, "shg": None, "connection": None,
                "payload": {"subscription_id": subscription.pk, "message": "A test delivery from Haat."}}
    body = json.dumps(envelope, separators=(",", ":")).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret=subscription.secret, timestamp=timestamp, body=body),
        "X-Haat-Event-Id": envelope["id"],
        "X-Haat-Event-Type": TEST_EVENT_TYPE,
    }
    try:
        response = new_session().post(subscription.url, data=body, headers=headers,
                                      timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), allow_redirects=False)
    except requests.RequestException as exc:
        return Attempt(ok=False, error=f"{type(exc).__name__} calling the endpoint")
    ok = 200 <= response.status_code < 300
    return Attempt(ok=ok, status_code=response.status_code,
                   body=redact(response.text[:RESPONSE_EXCERPT]) if response.content else "",
                   gone=response.status_code == 410, error="" if ok else f"HTTP {response.status_code}")
