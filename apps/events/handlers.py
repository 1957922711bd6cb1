"""In-process handlers: what Haat itself does when an event happens, run as django-q2 tasks.

The relay queues `run_handlers(event_id)` for every event whose type has handlers, in the transaction
that stamps the event dispatched (with the database broker the task row commits with it; with Redis
it is queued right after the commit). Delivery is at least once, so a handler must be idempotent. A
failing handler does not stop the others; the task then fails with all their errors, and django-q2
keeps it in "Failed tasks" where staff can resubmit it.

Add a handler: write a function taking the Event, list it under its type in HANDLERS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django_q.tasks import async_task

from apps.events.models import Event
from apps.events.types import EventType

logger = logging.getLogger(__name__)

# Consecutive failed syncs after which the coordinators get one e-mail (refused credentials have their own).


def _connection_url(connection) -> str:
    try:
        return settings.SITE_URL + reverse("integrations:detail", args=[connection.pk])
    except NoReverseMatch:
        return settings.SITE_URL + "/connections/"


def notify_connection_disabled(event: Event) -> int:
    """Tell the coordinators that a channel was switched off from the platform's side (an app uninstall)."""
    from apps.integrations.sync import coordinator_emails

    connection = event.connection
    if connection is None or event.payload.get("reason") != "app_uninstalled":
        return 0  # a coordinator's own disconnect needs no e-mail to themselves
    recipients = coordinator_emails(connection)
    if not recipients:
        return 0
    body = (
        f"The Haat app was uninstalled from the {connection.platform} store \"{connection.display_name}\" of "
        f"{connection.shg.name}. Haat has stopped syncing its orders and stock.\n\n"
        f"If this was a mistake, reconnect the store here: {_connection_url(connection)}\n"
    )
    return send_mail(f"{connection.display_name} was disconnected from Haat", body, None, recipients)


HANDLERS: dict[str, tuple[Callable[[Event], object], ...]] = {
    EventType.CONNECTION_DISABLED: (notify_connection_disabled,),
}


class HandlerFailed(Exception):
    pass


def run_handlers(event_id: str) -> list[str]:
    """The task body: run every handler of the event's type; returns their names."""
    event = Event.objects.select_related("shg", "connection", "connection__shg").filter(pk=event_id).first()
    if event is None:
        return []
    errors, ran = [], []
    for handler in HANDLERS.get(event.type, ()):
        try:
            handler(event)
            ran.append(handler.__name__)
        except Exception as exc:
            logger.exception("event handler %s failed for event %s", handler.__name__, event.pk)
            errors.append(f"{handler.__name__}: {type(exc).__name__}: {exc}")
    if errors:
        raise HandlerFailed("; ".join(errors))
    return ran


def _enqueue(event_id: str) -> None:
    async_task("apps.events.handlers.run_handlers", event_id, task_name=f"event-handlers-{event_id}", group="events")


def enqueue_handlers(*, events: Iterable[Event]) -> int:
    """Queue the handler task of each event that has handlers; call inside the dispatching transaction."""
    ids = [str(event.pk) for event in events if event.type in HANDLERS]
    orm_broker = not settings.Q_BROKER_URL and not settings.Q_CLUSTER.get("sync")
    for event_id in ids:
        if orm_broker:
            _enqueue(event_id)  # the queue row commits or rolls back with the events' stamp
        else:
            transaction.on_commit(lambda event_id=event_id: _enqueue(event_id))
    return len(ids)
