"""The outbox relay, against the real local RabbitMQ and Redis (CI fails when they are missing).

Each test uses its own exchange and queue, consumes what the relay published with a plain kombu
consumer, and checks that an event is stamped dispatched only once the broker has it.
"""

from __future__ import annotations

import os
import uuid

import pytest
from django.db import transaction
from kombu import Connection as BrokerConnection
from kombu import Exchange, Queue

from apps.events import relay
from apps.events.models import Event
from apps.events.services import publish
from conftest import require_service
from tests.factories import make_connection, make_shg

pytestmark = pytest.mark.django_db

RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
REDIS_URL = os.environ.get("TEST_EVENT_REDIS_URL", "redis://127.0.0.1:6379/14")


def broker_available(url: str) -> bool:
    try:
        with BrokerConnection(url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
        return True
    except Exception:
        return False


@pytest.fixture
def connection():
    return make_connection(make_shg(name="Sakhi SHG"), platform="shopify", display_name="Sakhi store")


def publish_events(connection, count: int, event_type: str = "order.created") -> list[Event]:
    with transaction.atomic():
        return [publish(type=event_type, shg=connection.shg, connection=connection,
                        payload={"order_id": n, "external_id": f"ORD-{n}", "total": "100.00"}) for n in range(count)]


@pytest.fixture
def bus_names(settings):
    suffix = uuid.uuid4().hex[:10]
    settings.EVENT_BUS_EXCHANGE = f"haat.test.{suffix}"
    settings.EVENT_BUS_QUEUE = f"haat.test.{suffix}"
    return settings.EVENT_BUS_EXCHANGE, settings.EVENT_BUS_QUEUE


def drain(url: str, exchange: str, queue: str, expected: int) -> list[dict]:
    """Consume what the relay left in its queue, then delete the queue and exchange."""
    bound = Queue(queue, Exchange(exchange, type="topic", durable=True), routing_key="#", durable=True)
    messages = []
    with BrokerConnection(url, connect_timeout=5) as conn:
        simple = conn.SimpleQueue(bound)
        try:
            for _ in range(expected):
                message = simple.get(timeout=5)
                messages.append({"body": message.payload, "properties": message.properties,
                                 "headers": message.headers, "routing_key": message.delivery_info.get("routing_key")})
                message.ack()
            with pytest.raises(simple.Empty):
                simple.get(timeout=0.3)
        finally:
            simple.close()
            channel = conn.channel()
            bound(channel).delete()
            bound.exchange(channel).delete()
    return messages


def test_envelope_carries_id_type_time_shg_connection_version_and_payload(connection):
    (event,) = publish_events(connection, 1)
    event = Event.objects.select_related("shg", "connection").get(pk=event.pk)
    envelope = relay.build_envelope(event)
    assert envelope == {
        "id": str(event.id), "type": "order.created", "time": event.occurred_at.isoformat(), "schema_version": 1,
        "shg": {"id": connection.shg_id, "name": "Sakhi SHG"},
        "connection": {"id": connection.pk, "uuid": str(connection.uuid), "platform": "shopify", "name": "Sakhi store"},
        "payload": {"order_id": 0, "external_id": "ORD-0", "total": "100.00"},
    }


def test_without_a_bus_events_are_dispatched_to_partners_and_handlers_only(settings, connection):
    settings.EVENT_BUS_URL = ""
    events = publish_events(connection, 3)
    result = relay.relay_pending()
    assert result["dispatched"] == 3 and result["published"] == 0 and not result["error"]
    assert Event.objects.filter(pk__in=[e.pk for e in events], dispatched_at__isnull=True).count() == 0


@pytest.mark.parametrize("url", [RABBITMQ_URL, REDIS_URL], ids=["rabbitmq", "redis"])
def test_relay_publishes_in_order_then_marks_dispatched(settings, connection, bus_names, url):
    name = "RabbitMQ" if url.startswith("amqp") else "Redis"
    require_service(name, broker_available(url), relay.safe_url(url))
    settings.EVENT_BUS_URL = url
    events = publish_events(connection, 5) + publish_events(connection, 1, "order.cancelled")
    result = relay.relay_pending(limit=2)  # several batches in one run
    assert result["published"] == 6 and result["dispatched"] == 6 and not result["error"], result
    assert not Event.objects.filter(dispatched_at__isnull=True).exists()
    messages = drain(url, *bus_names, expected=6)
    assert [m["body"]["id"] for m in messages] == [str(e.id) for e in events]
    assert [m["routing_key"] for m in messages] == ["order.created"] * 5 + ["order.cancelled"]
    first = messages[0]
    assert first["body"]["type"] == "order.created" and first["body"]["schema_version"] == 1
    assert first["body"]["shg"]["id"] == connection.shg_id and first["body"]["connection"]["platform"] == "shopify"
    assert first["headers"]["event_id"] == str(events[0].id)
    assert first["properties"]["delivery_mode"] == 2  # persistent
    # Nothing left: a second run publishes nothing again.
    assert relay.relay_pending()["published"] == 0


def test_unreachable_broker_leaves_every_event_in_the_outbox(settings, connection):
    settings.EVENT_BUS_URL = "amqp://guest:guest@127.0.0.1:1//"  # nothing listens on port 1
    events = publish_events(connection, 2)
    result = relay.relay_pending()
    assert result["dispatched"] == 0 and "127.0.0.1:1" in result["error"] and "guest" not in result["error"]
    assert Event.objects.filter(pk__in=[e.pk for e in events], dispatched_at__isnull=True).count() == 2
    assert set(Event.objects.values_list("attempts", flat=True)) == {0}  # an outage is not the events' fault


def test_a_nacked_message_stops_the_batch_and_is_retried_in_order(settings, connection, bus_names):
    require_service("RabbitMQ", broker_available(RABBITMQ_URL), relay.safe_url(RABBITMQ_URL))
    settings.EVENT_BUS_URL = RABBITMQ_URL
    exchange_name, queue_name = bus_names
    # A second queue on the exchange that holds one message and rejects the rest: RabbitMQ nacks the publish.
    full = Queue(f"{queue_name}.full", Exchange(exchange_name, type="topic", durable=True), routing_key="#",
                 queue_arguments={"x-max-length": 1, "x-overflow": "reject-publish"}, durable=False, auto_delete=False)
    with BrokerConnection(RABBITMQ_URL) as conn:
        full(conn.channel()).declare()
    try:
        events = publish_events(connection, 3)
        result = relay.relay_pending()
        assert result["published"] == 1 and result["refused"] == 1 and result["dispatched"] == 1
        states = {e.pk: e for e in Event.objects.filter(pk__in=[e.pk for e in events])}
        assert states[events[0].pk].dispatched_at is not None
        assert states[events[1].pk].dispatched_at is None and states[events[1].pk].attempts == 1
        assert "Nack" in states[events[1].pk].last_error or "nack" in states[events[1].pk].last_error.lower()
        assert states[events[2].pk].dispatched_at is None and states[events[2].pk].attempts == 0
        # Make room: the next run relays the refused event, then the one behind it.
        with BrokerConnection(RABBITMQ_URL) as conn:
            full(conn.channel()).purge()
            full(conn.channel()).delete()
        assert relay.relay_pending()["dispatched"] == 2
        # The nacked publish still reached the main queue (a nack covers any queue refusing it): at least
        # once, so the consumer deduplicates on the envelope id and sees every event once, in order.
        ids = [m["body"]["id"] for m in drain(RABBITMQ_URL, exchange_name, queue_name, expected=4)]
        assert list(dict.fromkeys(ids)) == [str(e.id) for e in events]
    finally:
        with BrokerConnection(RABBITMQ_URL) as conn:
            full(conn.channel()).delete()


def test_an_event_refused_too_often_no_longer_blocks_the_others(settings, connection):
    settings.EVENT_BUS_URL = ""
    stuck, behind = publish_events(connection, 2)
    Event.objects.filter(pk=stuck.pk).update(attempts=relay.MAX_RELAY_ATTEMPTS, last_error="PreconditionFailed")
    assert relay.relay_pending()["dispatched"] == 1
    assert Event.objects.get(pk=behind.pk).dispatched_at is not None
    assert Event.objects.get(pk=stuck.pk).dispatched_at is None


def test_a_running_relay_is_not_doubled(settings, connection):
    from django.core.cache import cache

    settings.EVENT_BUS_URL = ""
    publish_events(connection, 1)
    cache.set(relay.LOCK_KEY, "someone-else", timeout=30)
    try:
        assert relay.relay_pending()["skipped"] is True
        assert Event.objects.filter(dispatched_at__isnull=True).count() == 1
    finally:
        cache.delete(relay.LOCK_KEY)
