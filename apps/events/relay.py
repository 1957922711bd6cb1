"""The outbox relay: undispatched events, oldest first, to the broker, to partners and to in-process handlers.

Runs as a django-q2 task every minute (schedule in events migration 0002) and loops until the outbox is
empty or its time budget is spent. For each batch:

1. with `EVENT_BUS_URL` set, each event is published through kombu to a durable topic exchange
   (routing key = event type), persistent, and the call returns only once the broker has it: RabbitMQ
   with publisher confirms (a nack raises), Redis once the push is acknowledged;
2. then, in one transaction: partner deliveries are fanned out (rows, unique per subscription and
   event), in-process handler tasks are queued, and the events are stamped `dispatched_at`.

Delivery is at least once: a crash between 1 and 2 sends a batch again, so consumers deduplicate on the
envelope's `id`. An event the broker refuses stops the run (order is kept) and is tried again next
time; after MAX_RELAY_ATTEMPTS it is left for staff (admin: "Queue for redelivery") and the rest go on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import F
from kombu import Connection as BrokerConnection
from kombu import Exchange, Producer, Queue

from apps.core.logging import redact
from apps.events import handlers, subscriptions
from apps.events.models import Event
from apps.events.services import mark_dispatched

logger = logging.getLogger(__name__)

RELAY_BATCH = 200
# Stop looping after this long, so a run never overlaps the next scheduled one.
RELAY_TIME_BUDGET = 45.0
MAX_RELAY_ATTEMPTS = 10
LOCK_KEY = "haat:events:relay-lock"
LOCK_SECONDS = 120
CONFIRM_TIMEOUT = 10.0


def build_envelope(event: Event) -> dict[str, Any]:
    """The one shape every consumer gets (broker message and partner webhook body alike)."""
    connection = event.connection
    return {
        "id": str(event.id),
        "type": event.type,
        "time": event.occurred_at.isoformat(),
        "schema_version": event.schema_version,
        "shg": {"id": event.shg_id, "name": event.shg.name},
        "connection": None if connection is None else {
            "id": connection.pk, "uuid": str(connection.uuid), "platform": connection.platform,
            "name": connection.display_name,
        },
        "payload": event.payload,
    }


def envelope_json(event: Event) -> bytes:
    return json.dumps(build_envelope(event), cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":")).encode()


def safe_url(url: str) -> str:
    """A broker URL without its password, for logs and messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class BrokerUnavailable(Exception):
    pass


class EventBus:
    """A kombu producer bound to EVENT_BUS_URL; `publish` returns only once the broker holds the message."""

    def __init__(self, url: str, *, exchange: str, queue: str):
        scheme = urlsplit(url).scheme
        options: dict[str, Any] = {}
        if scheme in ("amqp", "amqps", "pyamqp"):
            options["confirm_publish"] = True  # basic.publish waits for the broker's ack; a nack raises
        self.url = url
        self.connection = BrokerConnection(url, transport_options=options, connect_timeout=10)
        self.exchange = Exchange(exchange, type="topic", durable=True)
        self.queue = Queue(queue, exchange=self.exchange, routing_key="#", durable=True) if queue else None
        self.producer: Producer | None = None

    def __enter__(self) -> EventBus:
        try:
            self.connection.ensure_connection(max_retries=2, interval_start=0.5, interval_step=1, timeout=10)
            channel = self.connection.channel()
            # Declaring the bound queue declares the exchange too: events wait there for their consumers.
            if self.queue is not None:
                self.queue(channel).declare()
            else:
                self.exchange(channel).declare()
            self.producer = Producer(channel, exchange=self.exchange)
        except Exception as exc:
            self.connection.release()
            raise BrokerUnavailable(f"{type(exc).__name__} connecting to {safe_url(self.url)}") from exc
        return self

    def __exit__(self, *exc_info) -> None:
        self.connection.release()

    def publish(self, event: Event) -> None:
        assert self.producer is not None, "use EventBus as a context manager"
        self.producer.publish(
            envelope_json(event), routing_key=event.type, content_type="application/json", content_encoding="utf-8",
            delivery_mode=2, message_id=str(event.id), type=event.type, retry=False,
            headers={"event_id": str(event.id), "event_type": event.type, "schema_version": event.schema_version},
            timeout=CONFIRM_TIMEOUT,
        )


@dataclass
class RelayResult:
    dispatched: int = 0
    published: int = 0
    deliveries: int = 0
    refused: int = 0
    error: str = ""
    skipped: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"dispatched": self.dispatched, "published": self.published, "deliveries": self.deliveries,
                "refused": self.refused, "error": self.error, "skipped": self.skipped}


def _pending_queryset():
    return (Event.objects.filter(dispatched_at__isnull=True, attempts__lt=MAX_RELAY_ATTEMPTS)
            .select_related("shg", "connection").order_by("occurred_at", "id"))


def _record_error(event: Event, exc: BaseException, *, refused: bool) -> None:
    """Keep the error on the event; only a refusal counts an attempt (a broker outage is not the event's fault)."""
    message = redact(f"{type(exc).__name__}: {exc}")[:1000]
    updates: dict[str, Any] = {"last_error": message}
    if refused:
        updates["attempts"] = F("attempts") + 1
    Event.objects.filter(pk=event.pk).update(**updates)
    logger.warning("event %s (%s) not relayed: %s", event.pk, event.type, type(exc).__name__)


def _publish(bus: EventBus | None, events: list[Event], result: RelayResult) -> list[Event]:
    """Publish in order; returns the events the broker confirmed, up to the first one it did not take.

    Any failure stops the batch, so order is kept: a lost connection, or a refusal (a nack, a message
    over the broker's size limit, which also closes the channel). The refused event counts an attempt;
    after MAX_RELAY_ATTEMPTS it is skipped and the events behind it go on.
    """
    if bus is None:
        return events
    confirmed: list[Event] = []
    broken = (OSError, *bus.connection.connection_errors)
    for event in events:
        try:
            bus.publish(event)
        except broken as exc:
            result.error = f"{type(exc).__name__} publishing to {safe_url(bus.url)}"
            _record_error(event, exc, refused=False)
            break
        except Exception as exc:
            result.error = f"the broker refused event {event.pk}: {type(exc).__name__}"
            result.refused += 1
            _record_error(event, exc, refused=True)
            break
        confirmed.append(event)
    result.published += len(confirmed)
    return confirmed


def _complete(events: list[Event], result: RelayResult) -> None:
    """Fan out to partners, queue handlers and stamp the events, all in one transaction."""
    if not events:
        return
    with transaction.atomic():
        created = subscriptions.deliveries_fan_out(events=events)
        handlers.enqueue_handlers(events=events)
        result.dispatched += mark_dispatched(event_ids=[event.id for event in events])
        result.deliveries += len(created)


def relay_batch(bus: EventBus | None, *, limit: int = RELAY_BATCH, result: RelayResult | None = None) -> int:
    """One batch: returns how many events were read (0 when the outbox is empty)."""
    result = result or RelayResult()
    if db_connection.features.has_select_for_update_skip_locked:
        # PostgreSQL: concurrent relays take disjoint batches; the row locks do not block new events.
        with transaction.atomic():
            events = list(_pending_queryset().select_for_update(skip_locked=True, of=("self",))[:limit])
            _complete(_publish(bus, events, result), result)
        return len(events)
    # SQLite: a transaction here would hold the database's write lock while the broker answers.
    events = list(_pending_queryset()[:limit])
    _complete(_publish(bus, events, result), result)
    return len(events)


def relay_pending(*, limit: int = RELAY_BATCH, time_budget: float = RELAY_TIME_BUDGET) -> dict[str, Any]:
    """The scheduled task: relay until the outbox is empty, the broker fails or the time budget is spent."""
    token = uuid.uuid4().hex
    if not cache.add(LOCK_KEY, token, timeout=LOCK_SECONDS):
        return RelayResult(skipped=True).as_dict()
    result = RelayResult()
    started = time.monotonic()
    bus = EventBus(settings.EVENT_BUS_URL, exchange=settings.EVENT_BUS_EXCHANGE,
                   queue=settings.EVENT_BUS_QUEUE) if settings.EVENT_BUS_URL else None
    try:
        with bus if bus is not None else contextlib.nullcontext():
            while True:
                read = relay_batch(bus, limit=limit, result=result)
                if read < limit or result.error or time.monotonic() - started > time_budget:
                    break
    except BrokerUnavailable as exc:
        result.error = str(exc)
        logger.warning("event relay: %s; events stay in the outbox", exc)
    finally:
        if cache.get(LOCK_KEY) == token:
            cache.delete(LOCK_KEY)
    if result.dispatched or result.error:
        logger.info("event relay: %s", result.as_dict())
    return result.as_dict()
