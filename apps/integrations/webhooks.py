"""Inbound webhooks: verify -> persist -> answer 2xx -> process in a task, through the polling path.

A platform's delivery is checked with the connector's `verify_webhook` (HMAC over the raw body,
constant-time), stored raw as a `WebhookEvent` before the answer, and processed by a django-q2 task
that ends in the same services as a sync (`orders.services.upsert_orders`). Nothing accepted is lost:
the row is the durable record, a failed processing is kept with its error and retried with backoff
(`webhook_tasks.retry_due_webhook_events`), and staff can replay any event from the admin.

Precise early answers, so platforms retry only what is worth retrying:
- unknown platform or connection: 404;
- missing or bad signature: 401, counted and logged without the body;
- WooCommerce's unsigned creation ping: 200, nothing stored;
- a retry of a delivery already stored: 200, not processed again (a unique constraint decides, not a
  check-then-insert);
- a signed body that is not JSON: stored as failed with the parse error and answered 200, so nothing is
  lost and the platform stops retrying.

Yandex Market's API notifications and Ozon's push notifications are not signed: each platform publishes the
networks it sends from and tells sellers to accept nothing else, and each body names the account (campaign,
seller) it is for. Those are their verification (`NotificationDialect`, `client_address`): a sender outside the
networks or a body naming another account is refused (403) and counted like a bad signature; PING is answered
at once with the documented JSON and nothing stored; other answers are the platforms' JSON shapes too.

This module also registers Haat's webhooks with a platform on connect and removes them on disconnect.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from functools import lru_cache
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from requests.structures import CaseInsensitiveDict

from apps.catalog.services import products_import_from_channel
from apps.core.logging import redact
from apps.events.services import publish
from apps.events.types import EventType
from apps.integrations.connectors.base import Capability, WebhookMessage
from apps.integrations.connectors.errors import ConnectorError, PermanentError
from apps.integrations.connectors.registry import UnknownPlatform, build_connector, get_connector_class
from apps.integrations.http import HttpClient
from apps.integrations.models import Connection, SyncRun, WebhookEvent
from apps.integrations.sync import coordinator_emails
from apps.integrations.tasks import enqueue_sync
from apps.orders.models import Order
from apps.orders.services import InvalidOrderData, orderlines_map_variants, orders_redact_personal_data, upsert_orders

logger = logging.getLogger(__name__)

# Waits between processing attempts of a delivery; after the last one it stays failed until replayed.
RETRY_DELAYS = [timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1),
                timedelta(hours=4), timedelta(hours=12)]
# A delivery claimed this long ago and not finished was lost with its worker: it may be processed again.
PROCESSING_LEASE = timedelta(minutes=10)
# A received delivery whose task has not started after this long is enqueued again by the sweeper.
ENQUEUE_GRACE = timedelta(minutes=2)
MAX_ERROR_LENGTH = 2000
# Request headers never stored: platforms do not send them, and if a proxy did they would be credentials.
# The secret header BigCommerce echoes back is the credential itself: verified, never stored.
DROPPED_HEADERS = {"cookie", "authorization", "proxy-authorization", "x-haat-webhook-secret"}
# Stored, but shown as *** in the admin: a signature is not a secret, yet nothing is gained by showing it.
MASKED_HEADERS = {"x-shopify-hmac-sha256", "x-wc-webhook-signature"}
_WOO_PING = re.compile(rb"^webhook_id=\d+$")

# Shopify topics Haat acts on beyond orders and products.
UNINSTALLED = "app/uninstalled"
PRIVACY_DATA_REQUEST = "customers/data_request"
PRIVACY_CUSTOMER_REDACT = "customers/redact"
PRIVACY_SHOP_REDACT = "shop/redact"
PRIVACY_TOPICS = {PRIVACY_DATA_REQUEST, PRIVACY_CUSTOMER_REDACT, PRIVACY_SHOP_REDACT}



# --- what differs per platform ---------------------------------------------------------------------------------


def _shopify_secret(connection: Connection) -> str:
    # Shopify signs every shop's deliveries with the app's client secret.
    return settings.SHOPIFY_CLIENT_SECRET


def _connection_secret(connection: Connection) -> str:
    # WooCommerce signs with the secret Haat chose when it registered the webhook (webhooks_register).
    return str((connection.credentials or {}).get("webhook_secret") or "")


@dataclass(frozen=True)
class NotificationDialect:
    """A platform whose only verification is the sender's address: the networks it publishes, the body field
    naming the account, and the answer shapes its documentation prescribes (a wrong answer makes the platform
    count the URL as failing and switch it off)."""

    networks_setting: str
    type_field: str
    ping_type: str
    # Fields naming the thing a notification is about, and the time of the event, in the platform's words:
    # together with the type they make the delivery id, so a repeated notification is stored once.
    resource_fields: tuple[str, ...]
    time_fields: tuple[str, ...]
    # True/False: the body names this connection's account or another; None: it names none Haat can check.
    sender_matches: Callable[[dict, Connection], bool | None]
    ping_answer: Callable[[], dict]
    accepted_answer: Callable[[], dict]
    # (kind, message) -> the error body; kind is "malformed" (400) or "refused" (403).
    error_answer: Callable[[str, str], dict]


NOTIFICATION_APP_NAME = "Haat"
NOTIFICATION_APP_VERSION = "1.0"


def _utc_now_text() -> str:
    return timezone.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _app_answer() -> dict:
    # Both platforms ask for the receiving application's name and version and the time processing started.
    return {"version": NOTIFICATION_APP_VERSION, "name": NOTIFICATION_APP_NAME, "time": _utc_now_text()}


def _same_id(value: Any, expected: Any) -> bool:
    return (isinstance(value, (int, str)) and not isinstance(value, bool) and str(value).strip() != ""
            and str(value).strip() == str(expected or "").strip())


def _yandex_sender(payload: dict, connection: Connection) -> bool | None:
    """Order notifications name the campaign (the connection's account); chats and reviews name the business."""
    config = connection.config or {}
    if "campaignId" in payload:
        return _same_id(payload["campaignId"], config.get("campaign_id") or connection.external_account_id)
    if "businessId" in payload:
        business = str(config.get("business_id") or "").strip()
        return _same_id(payload["businessId"], business) if business else None
    return False


def _ozon_sender(payload: dict, connection: Connection) -> bool | None:
    # Ozon's seller_id is the seller's Client-Id, which the connection keeps as its account id.
    return _same_id(payload.get("seller_id"), connection.external_account_id)


YANDEX_MARKET_NOTIFICATIONS = NotificationDialect(
    networks_setting="YANDEX_MARKET_NOTIFICATION_NETWORKS", type_field="notificationType", ping_type="PING",
    resource_fields=("orderId", "returnId", "chatId", "feedbackId", "commentId"),
    time_fields=("createdAt", "updatedAt", "cancelledAt", "requestedAt", "sentAt", "startedAt", "finishedAt"),
    sender_matches=_yandex_sender, ping_answer=_app_answer, accepted_answer=_app_answer,
    # Yandex's NotificationApiErrorDTO: WRONG_EVENT_FORMAT for a notification it sent wrong, UNKNOWN otherwise.
    error_answer=lambda kind, message: {"error": {"type": "WRONG_EVENT_FORMAT" if kind == "malformed" else "UNKNOWN",
                                                  "message": message}},
)
OZON_PUSH = NotificationDialect(
    networks_setting="OZON_PUSH_NETWORKS", type_field="message_type", ping_type="TYPE_PING",
    resource_fields=("posting_number", "order_id", "chat_id", "product_id"),
    time_fields=("changed_state_date", "in_process_at", "changed_at", "created_at", "new_cutoff_date",
                 "new_delivery_date_begin", "updated_at"),
    sender_matches=_ozon_sender, ping_answer=_app_answer, accepted_answer=lambda: {"result": True},
    error_answer=lambda kind, message: {"error": {
        "code": "ERROR_PARAMETER_VALUE_MISSED" if kind == "malformed" else "ERROR_UNKNOWN",
        "message": message, "details": None}},
)


@dataclass(frozen=True)
class InboundSpec:
    delivery_header: str
    topic_header: str
    signature_header: str
    secret: Callable[[Connection], str]
    # True: Haat makes one secret per connection and gives it to the platform when registering.
    per_connection_secret: bool
    # A header naming the account the delivery comes from, checked against the connection's account id.
    account_header: str = ""
    # Platforms that sign nothing but publish the networks they send from (Yandex Market, Ozon): how their
    # notifications are worded, verified and answered. With it, the fields above are unused.
    notification: NotificationDialect | None = None


INBOUND: dict[str, InboundSpec] = {
    "shopify": InboundSpec(delivery_header="X-Shopify-Webhook-Id", topic_header="X-Shopify-Topic",
                           signature_header="X-Shopify-Hmac-Sha256", secret=_shopify_secret,
                           per_connection_secret=False, account_header="X-Shopify-Shop-Domain"),
    "woocommerce": InboundSpec(delivery_header="X-WC-Webhook-Delivery-ID", topic_header="X-WC-Webhook-Topic",
                               signature_header="X-WC-Webhook-Signature", secret=_connection_secret,
                               per_connection_secret=True),
    # The SHG's own site signs with the secret Haat made at connect (credentials["signing_secret"], shown once),
    # not one made when registering: there is nothing to register at a site.
    "website": InboundSpec(delivery_header="X-Haat-Delivery", topic_header="X-Haat-Event",
                           signature_header="X-Haat-Signature", per_connection_secret=False,
                           secret=lambda c: str((c.credentials or {}).get("signing_secret") or "")),
    # BigCommerce does not sign: a hook sends back the secret header Haat set when registering it, and puts the
    # delivery's id (its `hash`) and scope in the body, not in headers (see BigCommerceConnector.delivery_key).
    "bigcommerce": InboundSpec(delivery_header="", topic_header="", signature_header="X-Haat-Webhook-Secret",
                               secret=_connection_secret, per_connection_secret=True),
    # Neither signs: Yandex and Ozon tell sellers to check that a request comes from the networks they publish,
    # and each body names the account (campaign, seller) it is for. The seller pastes the URL in the cabinet.
    "yandex_market": InboundSpec(delivery_header="", topic_header="", signature_header="", secret=lambda c: "",
                                 per_connection_secret=False, notification=YANDEX_MARKET_NOTIFICATIONS),
    "ozon": InboundSpec(delivery_header="", topic_header="", signature_header="", secret=lambda c: "",
                        per_connection_secret=False, notification=OZON_PUSH),
}


# --- receiving -----------------------------------------------------------------------------------------------


@dataclass
class Reception:
    """What the endpoint answers. `detail` is a short text for the platform's delivery log, never data."""

    status_code: int
    detail: str
    event_id: int | None = None
    duplicate: bool = False
    # A JSON answer the platform prescribes (Yandex Market, Ozon); None: `detail` as plain text.
    payload: dict | None = None


def _spec(platform: str) -> InboundSpec | None:
    spec = INBOUND.get(platform)
    if spec is None:
        return None
    try:
        connector_class = get_connector_class(platform)
    except (UnknownPlatform, ImportError):
        return None
    return spec if connector_class.supports(Capability.WEBHOOKS) else None


def notification_dialect(platform: str) -> NotificationDialect | None:
    """The dialect of a platform whose notification URL the seller pastes in its cabinet (None for the others)."""
    spec = _spec(platform)
    return spec.notification if spec else None


def bad_signature_key(connection_uuid: UUID | str) -> str:
    return f"haat:webhooks:bad-signature:{connection_uuid}"


def bad_signature_count(connection_uuid: UUID | str) -> int:
    """Deliveries refused for their signature at this connection's URL (shared across workers with a Redis cache)."""
    return int(cache.get(bad_signature_key(connection_uuid)) or 0)


def _count_bad_signature(connection: Connection, platform: str, reason: str, headers: Mapping[str, str],
                         body: bytes) -> None:
    key = bad_signature_key(connection.uuid)
    cache.add(key, 0, timeout=None)
    try:
        cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=None)
    # Never the body or the signature: only what helps find the sender.
    logger.warning("webhook refused: %s for %s connection %s (topic %r, %d bytes)", reason, platform, connection.uuid,
                   headers.get(INBOUND[platform].topic_header, ""), len(body))


def _stored_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name.lower() not in DROPPED_HEADERS}


def masked_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers as staff may see them: signatures and anything credential-like masked."""
    shown = {}
    for name, value in (headers or {}).items():
        lowered = name.lower()
        if lowered in MASKED_HEADERS or lowered in DROPPED_HEADERS:
            shown[name] = "***"
        else:
            shown[name] = redact(f"{name}: {value}").split(": ", 1)[1] if value else value
    return shown


def _resource_id(payload: Any) -> str:
    if isinstance(payload, dict):
        value = payload.get("id")
        if isinstance(value, (int, str)) and not isinstance(value, bool):
            return str(value)[:100]
    return ""


def webhook_receive(*, platform: str, connection_uuid: UUID, body: bytes, headers: Mapping[str, str],
                    remote_addr: str = "") -> Reception:
    """Verify and store one delivery to /webhooks/<platform>/<connection uuid>/; enqueue its processing.

    `remote_addr` is the socket's peer (REMOTE_ADDR): platforms verified by source address need it.
    """
    spec = _spec(platform)
    if spec is None:
        return Reception(404, "unknown platform")
    # Only what verifying and storing need (credentials, decrypted, only where they hold the secret), and
    # no default ordering (it would join the SHG): this runs on every delivery.
    fields = ["id", "uuid", "platform", "external_account_id", "status", "shg_id"]
    if spec.per_connection_secret:
        fields.append("credentials")
    if spec.notification:
        fields.append("config")
    connection = next(iter(Connection.objects.filter(uuid=connection_uuid, platform=platform).only(*fields).order_by()[:1]), None)
    if connection is None:
        return Reception(404, "unknown connection")
    headers = CaseInsensitiveDict(headers)
    if spec.notification:
        return _receive_notification(dialect=spec.notification, connection=connection, platform=platform, body=body,
                                     headers=headers, remote_addr=remote_addr)
    signature = headers.get(spec.signature_header, "")
    if platform == "woocommerce" and not signature and _WOO_PING.match(body.strip()):
        # WooCommerce's ping on webhook creation is unsigned and carries no data: it only wants a 200.
        logger.info("woocommerce webhook ping answered for connection %s", connection.uuid)
        return Reception(200, "pong")
    if not signature:
        _count_bad_signature(connection, platform, "missing signature", headers, body)
        return Reception(401, "missing signature")
    secret = spec.secret(connection)
    if not secret:
        _count_bad_signature(connection, platform, "no webhook secret configured", headers, body)
        return Reception(401, "signature cannot be verified")
    if not connection.connector_class.verify_webhook(body=body, headers=headers, secret=secret):
        _count_bad_signature(connection, platform, "bad signature", headers, body)
        return Reception(401, "bad signature")
    if spec.account_header and connection.external_account_id:
        sender = headers.get(spec.account_header, "")
        if sender.strip().lower() != connection.external_account_id.strip().lower():
            _count_bad_signature(connection, platform, "account header does not match the connection", headers, body)
            return Reception(401, "wrong account")
    if spec.delivery_header:
        delivery_id, topic = headers.get(spec.delivery_header, "").strip(), headers.get(spec.topic_header, "").strip()
    else:  # the platform puts them in the body (BigCommerce)
        delivery_id, topic = connection.connector_class.delivery_key(body)
    if not delivery_id or len(delivery_id) > 255:
        return Reception(400, f"missing {spec.delivery_header or 'delivery id'}")
    return _store(connection=connection, platform=platform, delivery_id=delivery_id, topic=topic[:100],
                  headers=headers, body=body)


# --- notifications verified by their source address (Yandex Market, Ozon) -----------------------------------------


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:5.45.207.1 from a dual-stack socket
    return mapped or address


@lru_cache(maxsize=32)
def _parsed_networks(cidrs: tuple[str, ...]) -> tuple:
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            # A typo in one entry must not close the door on the others; say so loudly.
            logger.error("ignoring %r in a network setting: not an address or CIDR", cidr)
    return tuple(networks)


def _networks(cidrs) -> tuple:
    return _parsed_networks(tuple(str(c) for c in cidrs or ()))


def _within(address, networks) -> bool:
    return any(address.version == n.version and address in n for n in networks)


def client_address(remote_addr: str, headers: Mapping[str, str]) -> str:
    """The address a request came from: the socket's peer, or, only when that peer is a proxy listed in
    WEBHOOK_TRUSTED_PROXIES, the right-most X-Forwarded-For hop that is not such a proxy (hops further left
    were written by whoever called the proxy, and anyone can write them)."""
    peer = _ip(remote_addr or "")
    if peer is None:
        return ""
    trusted = _networks(settings.WEBHOOK_TRUSTED_PROXIES)
    if not trusted or not _within(peer, trusted):
        return str(peer)
    hops = [hop for hop in (headers.get("X-Forwarded-For") or "").split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _ip(hop)
        if address is None:
            return ""  # a garbled chain names nobody we can believe
        if not _within(address, trusted):
            return str(address)
    return str(peer)


def source_allowed(address: str, networks_setting: str) -> bool:
    """In the networks the platform publishes (a setting, so operators can follow a change without a release);
    with SANDBOX on, loopback too, where the sandbox delivers from."""
    parsed = _ip(address) if address else None
    if parsed is None:
        return False
    if settings.SANDBOX and parsed.is_loopback:
        return True
    return _within(parsed, _networks(getattr(settings, networks_setting)))


def _notification_key(dialect: NotificationDialect, kind: str, payload: dict, body: bytes) -> tuple[str, str]:
    """(delivery id, resource id): type + what it is about + when it happened, so the platform's repeat of one
    event is stored once; a notification naming neither is keyed by its body."""
    def first(names: tuple[str, ...]) -> str:
        for name in names:
            value = payload.get(name)
            if isinstance(value, (int, str)) and not isinstance(value, bool) and str(value).strip():
                return str(value).strip()
        return ""

    resource, when = first(dialect.resource_fields), first(dialect.time_fields)
    if resource and when:
        return f"{kind}:{resource}:{when}"[:255], resource[:100]
    return f"{kind}:sha256:{hashlib.sha256(body).hexdigest()}"[:255], resource[:100]


def _receive_notification(*, dialect: NotificationDialect, connection: Connection, platform: str, body: bytes,
                          headers: Mapping[str, str], remote_addr: str) -> Reception:
    """Source address, then the body's account, then store; PING answered at once with nothing stored (Yandex
    allows it one second)."""
    sender = client_address(remote_addr, headers)
    if not source_allowed(sender, dialect.networks_setting):
        _count_bad_signature(connection, platform, f"source address {sender or 'unknown'} is outside the platform's "
                             "published networks", headers, body)
        return Reception(403, "source address not allowed",
                         payload=dialect.error_answer("refused", "The request does not come from the platform"))
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        payload = None
    kind = payload.get(dialect.type_field) if isinstance(payload, dict) else None
    if not isinstance(kind, str) or not kind.strip():
        # From the platform's network but unreadable: keep it for people to read, and say what is wrong.
        reception = _store(connection=connection, platform=platform, topic="",
                           delivery_id=f"malformed:sha256:{hashlib.sha256(body).hexdigest()}", headers=headers,
                           body=body)
        what = ("The notification is not a JSON object" if not isinstance(payload, dict)
                else f"The notification has no {dialect.type_field}")
        logger.warning("%s notification for connection %s refused: %s", platform, connection.uuid, what)
        return Reception(400, what, event_id=reception.event_id, payload=dialect.error_answer("malformed", what))
    kind = kind.strip()
    if kind == dialect.ping_type:
        logger.info("%s ping answered for connection %s", platform, connection.uuid)
        return Reception(200, "pong", payload=dialect.ping_answer())
    if dialect.sender_matches(payload, connection) is False:
        _count_bad_signature(connection, platform, "the notification names another account", headers, body)
        return Reception(403, "wrong account",
                         payload=dialect.error_answer("refused", "The notification is for another account"))
    delivery_id, resource_id = _notification_key(dialect, kind, payload, body)
    reception = _store(connection=connection, platform=platform, delivery_id=delivery_id, topic=kind[:100],
                       headers=headers, body=body, resource_id=resource_id)
    reception.payload = dialect.accepted_answer()
    return reception


def webhook_receive_shopify_app(*, body: bytes, headers: Mapping[str, str]) -> Reception:
    """The app-level Shopify endpoint (/webhooks/shopify/): privacy topics, configured once per app.

    Shopify sends the mandatory privacy topics to one URL set in the app's configuration, not to a
    per-shop subscription, so the connection is found from the shop domain once the signature holds.
    """
    if _spec("shopify") is None:
        return Reception(404, "unknown platform")
    spec = INBOUND["shopify"]
    headers = CaseInsensitiveDict(headers)
    signature = headers.get(spec.signature_header, "")
    connector_class = get_connector_class("shopify")
    if not signature or not settings.SHOPIFY_CLIENT_SECRET or not connector_class.verify_webhook(
            body=body, headers=headers, secret=settings.SHOPIFY_CLIENT_SECRET):
        logger.warning("shopify app webhook refused: bad signature (topic %r, %d bytes)",
                       headers.get(spec.topic_header, ""), len(body))
        return Reception(401, "bad signature")
    delivery_id = headers.get(spec.delivery_header, "").strip()
    if not delivery_id or len(delivery_id) > 255:
        return Reception(400, f"missing {spec.delivery_header}")
    shop = headers.get(spec.account_header, "").strip().lower()
    connections = list(Connection.objects.filter(platform="shopify", external_account_id__iexact=shop)) if shop else []
    if not connections:
        # Haat holds nothing about a shop it never connected: acknowledged, as Shopify requires.
        logger.info("shopify app webhook %r for a shop Haat does not know: nothing held", headers.get(spec.topic_header))
        return Reception(200, "no data held for this shop")
    reception = Reception(200, "accepted")
    for connection in connections:
        reception = _store(connection=connection, platform="shopify", delivery_id=delivery_id,
                           topic=headers.get(spec.topic_header, "").strip()[:100], headers=headers, body=body)
    return reception


def _store(*, connection: Connection, platform: str, delivery_id: str, topic: str, headers: Mapping[str, str],
           body: bytes, resource_id: str = "") -> Reception:
    status, error = WebhookEvent.Status.RECEIVED, ""
    try:
        resource_id = resource_id or _resource_id(json.loads(body))
    except (ValueError, UnicodeDecodeError) as exc:
        # Signed by the platform but not JSON: keep it for people to read, and stop the platform retrying.
        status, error = WebhookEvent.Status.FAILED, f"Body is not JSON: {exc}"[:MAX_ERROR_LENGTH]
    event = WebhookEvent(
        connection=connection, platform=platform, delivery_id=delivery_id, topic=topic,
        body_sha256=hashlib.sha256(body).hexdigest(), resource_id=resource_id, headers=_stored_headers(headers),
        body=body, status=status, last_error=error,
    )
    try:
        with transaction.atomic():
            event.save(force_insert=True)
            if status == WebhookEvent.Status.RECEIVED:
                if _orm_broker():
                    # The queue is a table of this database: the task row commits with the delivery, one commit.
                    _enqueue(event.pk)
                else:
                    transaction.on_commit(lambda: _enqueue_after_commit(event.pk))
    except IntegrityError:
        return Reception(200, "duplicate", duplicate=True)
    if status == WebhookEvent.Status.FAILED:
        logger.warning("webhook %s of connection %s stored as failed: body is not JSON", event.pk, connection.pk)
        return Reception(200, "stored; body not parseable", event_id=event.pk)
    return Reception(200, "accepted", event_id=event.pk)


def _orm_broker() -> bool:
    """django-q2 queues in this database (no Q_BROKER_URL) and tasks are not run inline (tests)."""
    return not settings.Q_BROKER_URL and not settings.Q_CLUSTER.get("sync")


def _enqueue(event_id: int) -> None:
    from apps.integrations.webhook_tasks import enqueue_webhook_event

    enqueue_webhook_event(event_id)


def _enqueue_after_commit(event_id: int) -> None:
    try:
        _enqueue(event_id)
    except Exception:  # the row is stored: the sweeper enqueues it again if the broker is down
        logger.exception("could not enqueue webhook event %s; the retry sweep will pick it up", event_id)


# --- processing ------------------------------------------------------------------------------------------------


class WebhookParseError(Exception):
    """The platform's delivery cannot be read; processing it again will not help."""


@dataclass
class ProcessOutcome:
    status: str
    detail: str = ""
    counts: dict[str, int] = field(default_factory=dict)


def webhook_event_claim(*, event_id: int) -> bool:
    """Take the right to process one delivery in a conditional UPDATE: two workers never process it at once."""
    now = timezone.now()
    claimable = Q(status__in=[WebhookEvent.Status.RECEIVED, WebhookEvent.Status.FAILED]) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    lease_expired = Q(status=WebhookEvent.Status.PROCESSING, next_attempt_at__lte=now)
    return bool(WebhookEvent.objects.filter(claimable | lease_expired, pk=event_id).exclude(
        status=WebhookEvent.Status.FAILED, next_attempt_at__isnull=True,
    ).update(status=WebhookEvent.Status.PROCESSING, attempts=F("attempts") + 1, next_attempt_at=now + PROCESSING_LEASE))


def webhook_event_process(*, event_id: int) -> ProcessOutcome | None:
    """Process one stored delivery: parse it with the connector, then hand it to the same services as polling.

    Returns None when another worker holds it or it is already done. Unreadable deliveries fail for good;
    any other failure is kept with its error and retried later with a growing delay.
    """
    if not webhook_event_claim(event_id=event_id):
        return None
    event = WebhookEvent.objects.select_related("connection", "connection__shg").get(pk=event_id)
    try:
        message = _parse(event)
    except WebhookParseError as exc:
        _record_failure(event, f"Cannot read the delivery: {exc}", retry=False)
        return ProcessOutcome(status=WebhookEvent.Status.FAILED, detail=str(exc))
    try:
        outcome = _apply(event, message)
    except _Permanent as exc:
        _record_failure(event, str(exc), retry=False)
        return ProcessOutcome(status=WebhookEvent.Status.FAILED, detail=str(exc))
    except Exception as exc:
        logger.warning("webhook event %s failed (attempt %d): %s", event.pk, event.attempts, type(exc).__name__)
        _record_failure(event, f"{type(exc).__name__}: {exc}", retry=True)
        return ProcessOutcome(status=WebhookEvent.Status.FAILED, detail=type(exc).__name__)
    # An ignored delivery keeps the reason where staff look (the error column); a processed one keeps nothing.
    note = outcome.detail[:MAX_ERROR_LENGTH] if outcome.status == WebhookEvent.Status.IGNORED else ""
    WebhookEvent.objects.filter(pk=event.pk).update(status=outcome.status, processed_at=timezone.now(),
                                                    next_attempt_at=None, last_error=note)
    logger.info("webhook event %s %s: %s", event.pk, outcome.status, outcome.detail)
    return outcome


class _Permanent(Exception):
    """Processing cannot succeed however often it is tried (invalid data): fail without retrying."""


def _parse(event: WebhookEvent) -> WebhookMessage:
    body = bytes(event.body)
    headers = CaseInsensitiveDict(event.headers or {})
    try:
        json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookParseError(f"body is not JSON: {exc}") from exc
    if event.topic in PRIVACY_TOPICS or event.topic == UNINSTALLED:
        # Handled here whatever the connector says: they concern Haat's own records, not the shop's data.
        return WebhookMessage(delivery_id=event.delivery_id, topic=event.topic, action=event.topic,
                              payload=json.loads(body))
    connector = build_connector(event.connection)
    try:
        return connector.parse_webhook(body=body, headers=headers)
    except (PermanentError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise WebhookParseError(f"{type(exc).__name__}: {exc}") from exc


def _record_failure(event: WebhookEvent, error: str, *, retry: bool) -> None:
    # `event` was read after the claim, so `attempts` already counts this one.
    next_attempt = None
    if retry and event.attempts <= len(RETRY_DELAYS):
        next_attempt = timezone.now() + RETRY_DELAYS[max(event.attempts, 1) - 1]
    WebhookEvent.objects.filter(pk=event.pk).update(status=WebhookEvent.Status.FAILED, next_attempt_at=next_attempt,
                                                    last_error=redact(error)[:MAX_ERROR_LENGTH])


def _apply(event: WebhookEvent, message: WebhookMessage) -> ProcessOutcome:
    connection = event.connection
    topic = event.topic or message.topic
    if topic == UNINSTALLED:
        return _app_uninstalled(connection)
    if topic in PRIVACY_TOPICS:
        return _privacy_request(event, topic, message.payload)
    if message.orders:
        return _upsert_orders(connection, message)
    if message.products or topic.startswith("product"):
        return _products_changed(connection, topic, message)
    return ProcessOutcome(status=WebhookEvent.Status.IGNORED, detail=f"Nothing to do for topic {topic!r}")


def _upsert_orders(connection: Connection, message: WebhookMessage) -> ProcessOutcome:
    if connection.status == Connection.Status.DISABLED:
        return ProcessOutcome(status=WebhookEvent.Status.IGNORED, detail="The connection is disconnected.")
    try:
        result = upsert_orders(connection=connection, orders=message.orders)
    except InvalidOrderData as exc:
        raise _Permanent(str(exc)) from exc
    counts = {"created": result.created, "updated": result.updated, "unchanged": result.unchanged, "stale": result.stale}
    return ProcessOutcome(status=WebhookEvent.Status.PROCESSED, counts=counts,
                          detail=", ".join(f"{k} {v}" for k, v in counts.items() if v))


def _products_changed(connection: Connection, topic: str, message: WebhookMessage) -> ProcessOutcome:
    if connection.status == Connection.Status.DISABLED:
        return ProcessOutcome(status=WebhookEvent.Status.IGNORED, detail="The connection is disconnected.")
    resync = message.action == "variations_changed"
    with transaction.atomic():
        created = 0
        if resync:
            # The delivery names a variable product's variations without their SKUs, stock or prices: a
            # products sync (the polling path) reads them.
            enqueue_sync(connection=connection, stream=SyncRun.Stream.PRODUCTS, trigger=SyncRun.Trigger.SCHEDULE)
        if message.products:
            result = products_import_from_channel(shg=connection.shg, products=message.products,
                                                  default_currency=connection.connector_class.default_currency)
            created = result.created
            if created:
                orderlines_map_variants(shg_id=connection.shg_id)  # as the products sync does after an import
        items = [{"external_id": p.external_id, "sku": p.sku, "title": p.title,
                  "price": str(p.price) if p.price is not None else None, "quantity": p.quantity}
                 for p in message.products]
        if not items and isinstance(message.payload, dict) and message.payload.get("id") is not None:
            items = [{"external_id": str(message.payload["id"])}]  # a deletion carries only the id
        publish(type=EventType.LISTING_UPDATED, shg=connection.shg, connection=connection,
                payload={"connection_id": connection.pk, "platform": connection.platform, "topic": topic,
                         "action": _listing_action(topic), "listings": items})
    detail = f"{len(items)} listing(s) {_listing_action(topic)}; {created} new catalog SKU(s)"
    if resync:
        detail += "; products sync queued for the variations"
    return ProcessOutcome(status=WebhookEvent.Status.PROCESSED, counts={"catalog_created": created}, detail=detail)


def _listing_action(topic: str) -> str:
    verb = re.split(r"[/.]", topic)[-1] if topic else ""
    return {"create": "created", "created": "created", "update": "updated", "updated": "updated",
            "delete": "deleted", "deleted": "deleted", "restored": "restored"}.get(verb, verb or "updated")


# --- app/uninstalled and privacy requests (Shopify) ---------------------------------------------------------------


def _app_uninstalled(connection: Connection) -> ProcessOutcome:
    """The shop removed Haat's app: its token is dead. Disable the connection; the `connection.disabled`
    event it publishes tells the coordinators (apps/events/handlers.py)."""

    with transaction.atomic():
        locked = Connection.objects.select_for_update().get(pk=connection.pk)
        if locked.status == Connection.Status.DISABLED and not locked.credentials:
            return ProcessOutcome(status=WebhookEvent.Status.IGNORED, detail="Already disconnected.")
        config = dict(locked.config or {})
        config.pop("webhook_ids", None)  # Shopify deletes an app's subscriptions with the app
        locked.credentials = {}
        locked.config = config
        locked.status = Connection.Status.DISABLED
        locked.next_sync_at = None
        locked.last_error = "The Haat app was uninstalled from this Shopify store; reconnect to sync again."
        locked.save(update_fields=["credentials", "config", "status", "next_sync_at", "last_error", "updated_at"])
        publish(type=EventType.CONNECTION_DISABLED, shg=locked.shg, connection=locked,
                payload={"connection_id": locked.pk, "platform": locked.platform, "reason": "app_uninstalled",
                         "display_name": locked.display_name})
    return ProcessOutcome(status=WebhookEvent.Status.PROCESSED, detail="Connection disabled; coordinators notified.")


def _privacy_request(event: WebhookEvent, topic: str, payload: Any) -> ProcessOutcome:
    if not isinstance(payload, dict):
        raise _Permanent("A privacy request must be a JSON object")
    if topic == PRIVACY_DATA_REQUEST:
        return _customer_data_request(event, payload)
    if topic == PRIVACY_CUSTOMER_REDACT:
        return _customer_redact(event, payload)
    return _shop_redact(event)


def _order_ids(payload: dict[str, Any], key: str) -> list[str]:
    values = payload.get(key) or []
    if not isinstance(values, list):
        raise _Permanent(f"{key} must be a list of order ids")
    return [str(v) for v in values if isinstance(v, (int, str)) and not isinstance(v, bool)]


def _customer_data_request(event: WebhookEvent, payload: dict[str, Any]) -> ProcessOutcome:
    """Send the SHG's coordinators what Haat holds about the customer, for the merchant to answer within 30 days."""
    connection = event.connection
    order_ids = _order_ids(payload, "orders_requested")
    orders = list(Order.objects.filter(connection=connection, external_id__in=order_ids)
                  .values("external_id", "number", "placed_at", "status", "buyer_name", "shipping_address", "total",
                          "currency"))
    request_id = str((payload.get("data_request") or {}).get("id", "")) if isinstance(payload.get("data_request"),
                                                                                      dict) else ""
    recipients = coordinator_emails(connection)
    lines = [
        f"Shopify sent a customer data request (request {request_id or 'without id'}) for the store "
        f"{connection.external_account_id}, connected to Haat as \"{connection.display_name}\".",
        "",
        f"Haat holds {len(orders)} of the {len(order_ids)} order(s) named in the request. "
        "For each order Haat keeps the buyer's name, the shipping address and the order as Shopify sent it:",
        "",
    ]
    for order in orders:
        lines.append(json.dumps(order, default=str, ensure_ascii=False, sort_keys=True))
    lines += ["", "Please send this to the customer as Shopify's privacy process asks (within 30 days)."]
    if recipients:
        send_mail(subject=f"Customer data request from Shopify ({connection.display_name})", message="\n".join(lines),
                  from_email=None, recipient_list=recipients)
    _erase_bodies(WebhookEvent.objects.filter(pk=event.pk))  # the request itself names the customer
    detail = f"{len(orders)} order(s) found; sent to {len(recipients)} coordinator(s)"
    if not recipients:
        logger.warning("customer data request for connection %s: no coordinator has an e-mail address; staff must "
                       "send the data to the store owner", connection.pk)
    return ProcessOutcome(status=WebhookEvent.Status.PROCESSED, detail=detail)


def _erase_bodies(queryset) -> int:
    return queryset.update(body=b"", headers={}, redacted_at=timezone.now())


def _customer_redact(event: WebhookEvent, payload: dict[str, Any]) -> ProcessOutcome:
    """Erase the customer's personal data from the named orders and from the deliveries that carried them."""
    connection = event.connection
    order_ids = _order_ids(payload, "orders_to_redact")
    with transaction.atomic():
        count = orders_redact_personal_data(queryset=Order.objects.filter(connection=connection, external_id__in=order_ids))
        bodies = _erase_bodies(WebhookEvent.objects.filter(
            Q(connection=connection, resource_id__in=order_ids, topic__startswith="orders/") | Q(pk=event.pk)))
    return ProcessOutcome(status=WebhookEvent.Status.PROCESSED,
                          detail=f"Personal data erased from {count} order(s) and {bodies} stored delivery(ies)")


def _shop_redact(event: WebhookEvent) -> ProcessOutcome:
    """48 hours after an uninstall: erase every buyer's personal data of the shop and the shop's credentials.

    The orders stay as the SHG's own sales records (amounts, lines, dates), without names or addresses,
    as Shopify itself keeps non-personal order data after a redaction.
    """
    connection = event.connection
    with transaction.atomic():
        count = orders_redact_personal_data(queryset=Order.objects.filter(connection=connection))
        bodies = _erase_bodies(WebhookEvent.objects.filter(connection=connection))
        locked = Connection.objects.select_for_update().get(pk=connection.pk)
        locked.credentials = {}
        if locked.status != Connection.Status.DISABLED:
            locked.status = Connection.Status.DISABLED
            locked.next_sync_at = None
        locked.save(update_fields=["credentials", "status", "next_sync_at", "updated_at"])
    return ProcessOutcome(status=WebhookEvent.Status.PROCESSED,
                          detail=f"Shop data erased: {count} order(s) redacted, {bodies} stored delivery(ies) emptied")


# --- replay -----------------------------------------------------------------------------------------------------


def webhook_events_replay(*, event_ids: list[int]) -> int:
    """Queue stored deliveries to be processed again (admin "Replay"): processing is idempotent."""
    from apps.integrations.webhook_tasks import enqueue_webhook_event

    replayable = WebhookEvent.objects.filter(pk__in=event_ids, redacted_at__isnull=True).exclude(
        status=WebhookEvent.Status.PROCESSING)
    ids = list(replayable.values_list("pk", flat=True))
    # A replay starts a fresh series of attempts, so a fixed bug gets the whole retry schedule.
    WebhookEvent.objects.filter(pk__in=ids).update(status=WebhookEvent.Status.RECEIVED, next_attempt_at=None,
                                                   attempts=0, last_error="")
    for event_id in ids:
        transaction.on_commit(lambda event_id=event_id: enqueue_webhook_event(event_id))
    return len(ids)


# --- registering with the platform on connect, removing on disconnect -----------------------------------------------


@dataclass
class RegistrationOutcome:
    registered: list[str] = field(default_factory=list)
    error: str = ""


def webhook_callback_url(connection: Connection) -> str:
    path = reverse("webhooks:receive", kwargs={"platform": connection.platform, "connection_uuid": connection.uuid})
    return f"{settings.SITE_URL}{path}"


def pasted_notification_url(connection: Connection) -> str | None:
    """The URL a seller must paste in the platform's cabinet (Ozon, Yandex Market: no API registers it), or None
    where Haat registers its webhooks itself, or the channel is disconnected."""
    if notification_dialect(connection.platform) is None or connection.status == Connection.Status.DISABLED:
        return None
    return webhook_callback_url(connection)


def webhooks_register(connection: Connection, *, http: HttpClient | None = None) -> RegistrationOutcome:
    """Subscribe the platform's webhooks to this connection's URL (after a connect or reconnect).

    The per-connection secret (WooCommerce) is saved before the platform is asked, so its first signed
    delivery already verifies. Subscriptions made before are removed first, so reconnecting never
    leaves two. A platform that refuses does not undo the connect: polling still syncs; the error is
    returned, logged, and kept in the connection's last_error for the coordinator to see.
    """
    spec = _spec(connection.platform)
    if spec is None or connection.status == Connection.Status.DISABLED or not connection.credentials:
        return RegistrationOutcome()
    if (connection.config or {}).get("webhook_ids"):
        webhooks_unregister(connection, http=http)
    secret = settings.SHOPIFY_CLIENT_SECRET if not spec.per_connection_secret else secrets.token_urlsafe(32)
    if spec.notification:
        secret = ""  # nothing signs these: the seller pastes the URL in the cabinet (register_webhooks says so)
    if spec.per_connection_secret:
        connection.credentials = {**connection.credentials, "webhook_secret": secret}
        Connection.objects.filter(pk=connection.pk).update(credentials=connection.credentials,
                                                           updated_at=timezone.now())
    callback_url = webhook_callback_url(connection)
    try:
        webhook_ids = [str(i) for i in build_connector(connection, http=http).register_webhooks(
            callback_url=callback_url, secret=secret)]
    except (ConnectorError, ValueError) as exc:
        message = redact(getattr(exc, "message", "") or str(exc))[:MAX_ERROR_LENGTH] or type(exc).__name__
        logger.warning("could not register webhooks of connection %s: %s", connection.pk, type(exc).__name__)
        Connection.objects.filter(pk=connection.pk).update(
            last_error=f"Webhooks could not be registered ({message}); orders still arrive by polling.",
            updated_at=timezone.now())
        return RegistrationOutcome(error=message)
    config = {**(connection.config or {}), "webhook_ids": webhook_ids, "webhook_url": callback_url}
    connection.config = config
    Connection.objects.filter(pk=connection.pk).update(config=config, updated_at=timezone.now())
    logger.info("registered %d webhook(s) for connection %s", len(webhook_ids), connection.pk)
    return RegistrationOutcome(registered=webhook_ids)


def webhooks_register_later(connection: Connection) -> None:
    """Register in a task once the connect commits, so the person connecting does not wait for it."""
    if _spec(connection.platform) is None:
        return
    from apps.integrations.webhook_tasks import enqueue_webhooks_register

    connection_id = connection.pk
    transaction.on_commit(lambda: enqueue_webhooks_register(connection_id))


def webhooks_unregister(connection: Connection, *, http: HttpClient | None = None) -> RegistrationOutcome:
    """Remove the platform's subscriptions of this connection (on disconnect, while the keys still work).

    Never raises: a disconnect must not depend on the platform answering. On failure the ids are kept
    and the error returned.
    """
    webhook_ids = [str(i) for i in (connection.config or {}).get("webhook_ids") or []]
    try:
        supported = get_connector_class(connection.platform).supports(Capability.WEBHOOKS)
    except (UnknownPlatform, ImportError):
        supported = False
    if not supported or not webhook_ids or not connection.credentials:
        return RegistrationOutcome()
    try:
        build_connector(connection, http=http).unregister_webhooks(webhook_ids=webhook_ids)
    except Exception as exc:  # a platform refusal or a connector bug alike: report it, keep the ids
        message = redact(getattr(exc, "message", "") or str(exc))[:MAX_ERROR_LENGTH] or type(exc).__name__
        logger.warning("could not unregister webhooks of connection %s: %s", connection.pk, type(exc).__name__)
        return RegistrationOutcome(error=message)
    config = {k: v for k, v in (connection.config or {}).items() if k not in ("webhook_ids", "webhook_url")}
    credentials = {k: v for k, v in (connection.credentials or {}).items() if k != "webhook_secret"}
    connection.config, connection.credentials = config, credentials
    Connection.objects.filter(pk=connection.pk).update(config=config, credentials=credentials, updated_at=timezone.now())
    return RegistrationOutcome(registered=[])
