"""In-process handlers: queued by the relay, run as django-q2 tasks, one failing handler does not stop the rest."""

from __future__ import annotations

import pytest
from django.core import mail
from django.db import transaction

from apps.accounts.models import Membership
from apps.events import handlers, relay
from apps.events.models import Event
from apps.events.services import publish
from tests.factories import make_connection, make_shg, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def connection():
    shg = make_shg(name="Sakhi SHG")
    make_user("asha", shg=shg, role=Membership.Role.COORDINATOR, email="asha@example.in")
    make_user("viewer", shg=shg, role=Membership.Role.VIEWER, email="viewer@example.in")
    make_user("fed-admin", organization=shg.federation, role=Membership.Role.ORG_ADMIN, email="admin@example.in")
    return make_connection(shg, platform="shopify", display_name="Sakhi store")


def emit(connection, event_type, payload) -> Event:
    with transaction.atomic():
        return publish(type=event_type, shg=connection.shg, connection=connection, payload=payload)


def relay_now(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return relay.relay_pending()


def test_uninstall_tells_the_coordinators_through_the_relay(settings, connection, django_capture_on_commit_callbacks):
    settings.EVENT_BUS_URL = ""
    emit(connection, "connection.disabled", {"connection_id": connection.pk, "reason": "app_uninstalled"})
    relay_now(django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert sorted(message.to) == ["admin@example.in", "asha@example.in"]  # not the viewer
    assert "uninstalled" in message.body and "Sakhi store" in message.subject
    assert f"/connections/{connection.pk}/" in message.body


def test_a_coordinators_own_disconnect_sends_nothing(connection):
    event = emit(connection, "connection.disabled", {"connection_id": connection.pk, "reason": "disconnected"})
    assert handlers.run_handlers(str(event.pk)) == ["notify_connection_disabled"]
    assert mail.outbox == []


def test_sync_failures_are_left_to_the_ops_alerts(connection):
    # A failing channel is one alert of apps.ops (with its breaker), never a second e-mail from here.
    event = emit(connection, "sync.failed", {"consecutive_failures": 5, "error_type": "TransientError", "error": "503"})
    assert handlers.run_handlers(str(event.pk)) == []
    assert mail.outbox == []


def test_a_failing_handler_does_not_stop_the_others(monkeypatch, connection):
    ran = []

    def broken(event):
        raise RuntimeError("mail server down")

    monkeypatch.setitem(handlers.HANDLERS, "order.created", (broken, ran.append))
    event = emit(connection, "order.created", {"order_id": 1})
    with pytest.raises(handlers.HandlerFailed, match="broken: RuntimeError: mail server down"):
        handlers.run_handlers(str(event.pk))
    assert [e.pk for e in ran] == [event.pk]


def test_relay_queues_handlers_only_for_types_that_have_them(monkeypatch, settings, connection,
                                                             django_capture_on_commit_callbacks):
    settings.EVENT_BUS_URL = ""
    queued = []
    monkeypatch.setattr(handlers, "_enqueue", queued.append)
    handled = emit(connection, "connection.disabled", {"reason": "app_uninstalled"})
    emit(connection, "order.created", {"order_id": 1})
    relay_now(django_capture_on_commit_callbacks)
    assert queued == [str(handled.pk)]
