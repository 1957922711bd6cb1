"""django-q2 tasks: deadline reminders of bids and the periodic pulls (IndiaMART every 15 min, GeM hourly).

The sync engine's dispatcher reads orders and products only, so procurement has its own two schedules
(created by migration 0002 and by `ensure_schedules`). Each pull walks the active connections of its
platform; one connection failing is logged and recorded on it, and the others still run.
"""

from __future__ import annotations

import logging

from apps.integrations.connectors.errors import ConnectorError
from apps.integrations.models import Connection

logger = logging.getLogger(__name__)

SCHEDULES = {
    "tenders: pull IndiaMART inquiries": ("apps.tenders.tasks.pull_inquiries", 15),
    "tenders: pull GeM bids": ("apps.tenders.tasks.pull_tenders", 60),
}


def bid_reminder(bid_id: int, hours: int) -> bool:
    from apps.tenders.services import bid_send_reminder

    return bid_send_reminder(bid_id=int(bid_id), hours=int(hours))


def _active(platform: str):
    return Connection.objects.filter(platform=platform, status__in=[Connection.Status.ACTIVE, Connection.Status.ERROR])


def pull_inquiries() -> dict[str, int]:
    from apps.tenders.services import inquiries_pull

    done = {}
    for connection in _active("indiamart"):
        try:
            done[str(connection.pk)] = inquiries_pull(connection=connection)
        except ConnectorError as exc:
            logger.warning("IndiaMART pull of connection %s failed: %s", connection.pk, type(exc).__name__)
    return done


def pull_tenders() -> dict[str, int]:
    from apps.tenders.services import tenders_pull

    done = {}
    for connection in _active("gem"):
        try:
            done[str(connection.pk)] = tenders_pull(connection=connection).created
        except ConnectorError as exc:
            Connection.objects.filter(pk=connection.pk).update(last_error=str(exc.message)[:2000])
            logger.warning("GeM pull of connection %s failed: %s", connection.pk, type(exc).__name__)
    return done


def ensure_schedules(schedule_model=None) -> None:
    """Create or repair the two periodic pulls (idempotent, keyed by name)."""
    if schedule_model is None:
        from django_q.models import Schedule as schedule_model
    for name, (func, minutes) in SCHEDULES.items():
        schedule_model.objects.update_or_create(name=name, defaults={
            "func": func, "schedule_type": "I", "minutes": minutes, "repeats": -1})
