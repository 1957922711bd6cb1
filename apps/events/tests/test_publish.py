"""The outbox: events are written in the transaction of their change, with a known type and schema version."""

import pytest
from django.db import transaction

from apps.events.models import Event
from apps.events.selectors import pending_events
from apps.events.services import EventDraft, UnknownEventType, mark_dispatched, publish, publish_many
from tests.factories import make_connection, make_shg

pytestmark = pytest.mark.django_db


def test_publish_writes_the_event_with_its_schema_version():
    shg = make_shg()
    connection = make_connection(shg)
    event = publish(type="sync.failed", shg=shg, connection=connection, payload={"error": "timeout"})
    stored = Event.objects.get(pk=event.pk)
    assert stored.type == "sync.failed" and stored.schema_version == 1 and stored.payload == {"error": "timeout"}
    assert stored.dispatched_at is None and stored.attempts == 0 and stored.connection == connection


def test_an_unknown_type_is_refused():
    with pytest.raises(UnknownEventType):
        publish(type="order.creatd", shg=make_shg(), payload={})
    assert not Event.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_publish_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError, match="inside the transaction"):
        publish(type="sync.failed", shg=make_shg(), payload={})


@pytest.mark.django_db(transaction=True)
def test_events_roll_back_with_their_transaction():
    shg = make_shg()
    with pytest.raises(ValueError), transaction.atomic():
        publish(type="sync.failed", shg=shg, payload={})
        publish_many([EventDraft(type="order.created", shg_id=shg.pk, payload={"n": i}) for i in range(3)])
        raise ValueError("the change failed")
    assert not Event.objects.exists()


def test_publish_many_writes_all_in_one_statement(django_assert_num_queries):
    shg = make_shg()
    drafts = [EventDraft(type="order.created", shg_id=shg.pk, payload={"n": i, "total": "10.00"}) for i in range(250)]
    with django_assert_num_queries(1), transaction.atomic(savepoint=False):
        assert publish_many(drafts) == 250
    assert Event.objects.count() == 250
    event = Event.objects.get(pk=drafts[7].id)
    assert event.payload == {"n": 7, "total": "10.00"} and event.type == "order.created"


def test_the_relay_reads_undispatched_events_in_order():
    shg = make_shg()
    first = publish(type="sync.failed", shg=shg, payload={"n": 1})
    second = publish(type="sync.failed", shg=shg, payload={"n": 2})
    assert [e.pk for e in pending_events()] == [first.pk, second.pk]
    assert mark_dispatched(event_ids=[first.pk]) == 1
    assert [e.pk for e in pending_events()] == [second.pk]
