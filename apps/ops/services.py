"""Connection health and the circuit breaker.

A connection's breaker opens after OPS_BREAKER_THRESHOLD consecutive failed orders syncs (or periodic
checks). While it is open the dispatcher queues no sync for it (`breaker_admit`): a platform that is down
is not hammered by every poll. After a cool-down that doubles with each failed probe (capped), the
every-minute ops tick moves it to half-open and probes it with the connector's `test_connection()`;
success closes it and schedules a sync at once, failure opens it again for a longer cool-down. Refused
credentials never open the breaker: the connection is `needs_reauth` and is not synced anyway.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.core.logging import connection_context, redact
from apps.integrations.models import Connection, SyncRun
from apps.ops.models import ConnectionHealth, Heartbeat

logger = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 1000


def setting(name: str, default):
    """An OPS_* setting with its default (settings.py sets them all; tests override them)."""
    return getattr(settings, name, default)


def breaker_threshold() -> int:
    return int(setting("OPS_BREAKER_THRESHOLD", 3))


def breaker_cooldown(open_count: int) -> timedelta:
    """The wait before probing a breaker that opened `open_count` times in a row: doubled, capped, jittered."""
    base = setting("OPS_BREAKER_COOLDOWN", timedelta(minutes=5))
    cap = setting("OPS_BREAKER_MAX_COOLDOWN", timedelta(hours=2))
    delay = min(base * (2 ** min(max(open_count, 1) - 1, 16)), cap)
    return delay * random.uniform(0.9, 1.1)  # many connections of one platform do not probe in lockstep


def _locked_health(connection_id: int) -> ConnectionHealth:
    health, _created = ConnectionHealth.objects.select_for_update().get_or_create(connection_id=connection_id)
    return health


def _close(health: ConnectionHealth) -> None:
    health.breaker = ConnectionHealth.Breaker.CLOSED
    health.consecutive_failures = 0
    health.open_count = 0
    health.opened_at = None
    health.probe_at = None


def breaker_reset(*, connection_id: int) -> None:
    """Credentials the platform has just accepted (a reconnect, checked live) end the pause at once, rather than
    at the next probe. Call inside the reconnect's transaction."""
    health = ConnectionHealth.objects.select_for_update().filter(connection_id=connection_id).first()
    if health is not None and health.breaker != ConnectionHealth.Breaker.CLOSED:
        _close(health)
        health.save()


def _fail(health: ConnectionHealth, *, now: datetime, error: str, error_type: str, counts: bool = True) -> bool:
    """Record one failure; open (or re-open) the breaker when due. Returns True when it opened now."""
    health.last_failure_at = now
    health.last_error = redact(error)[:MAX_ERROR_LENGTH]
    health.last_error_type = error_type[:40]
    if not counts:
        return False
    health.consecutive_failures += 1
    reopen = health.breaker == ConnectionHealth.Breaker.HALF_OPEN
    if reopen or (health.breaker == ConnectionHealth.Breaker.CLOSED
                  and health.consecutive_failures >= breaker_threshold()):
        opened = health.breaker == ConnectionHealth.Breaker.CLOSED
        health.breaker = ConnectionHealth.Breaker.OPEN
        health.open_count += 1
        health.opened_at = health.opened_at or now
        health.probe_at = now + breaker_cooldown(health.open_count)
        if opened:
            logger.warning("circuit breaker of connection %s opened after %d failures", health.connection_id,
                           health.consecutive_failures)
        return opened
    return False


def health_record_run(run: SyncRun) -> ConnectionHealth | None:
    """Called by the sync engine after every run: success closes the breaker, failure counts towards opening
    it; the latency is kept. Only the orders stream (the scheduled one) drives the breaker. Never raises:
    the run is already recorded, and health must not turn a finished sync into a failed task."""
    try:
        return _record_run(run)
    except Exception:
        logger.exception("could not record the health of sync run %s", run.pk)
        return None


def _record_run(run: SyncRun) -> ConnectionHealth | None:
    if run.status not in (SyncRun.Status.SUCCESS, SyncRun.Status.FAILED) or run.stream != SyncRun.Stream.ORDERS:
        return None
    now = timezone.now()
    latency = (run.finished_at - run.started_at).total_seconds() if run.finished_at else None
    with transaction.atomic():
        health = _locked_health(run.connection_id)
        health.last_latency = latency
        if run.status == SyncRun.Status.SUCCESS:
            _close(health)
            health.last_success_at = run.finished_at or now
        else:
            _fail(health, now=now, error=run.error, error_type=run.error_type,
                  counts=run.error_type != "AuthError")
        health.save()
        connection_id = run.connection_id
        transaction.on_commit(lambda: _evaluate_later(connection_id))
    return health


def _evaluate_later(connection_id: int) -> None:
    """Alerts of this connection, right after its outcome; the ops tick re-evaluates everything anyway."""
    from apps.ops.alerts import alerts_evaluate

    try:
        alerts_evaluate(connection_ids=[connection_id])
    except Exception:
        logger.exception("alert evaluation failed for connection %s", connection_id)


def breaker_admit(connection_ids: list[int], *, now: datetime | None = None) -> list[int]:
    """The dispatcher's question, inside its claim transaction: which of these connections may sync now?

    The others (breaker open or half-open) are rescheduled to their next probe, so the dispatcher does not
    pick them again every minute. Two queries whatever the number.
    """
    if not connection_ids:
        return []
    now = now or timezone.now()
    blocked = set(ConnectionHealth.objects.filter(connection_id__in=connection_ids)
                  .exclude(breaker=ConnectionHealth.Breaker.CLOSED).values_list("connection_id", flat=True))
    if not blocked:
        return list(connection_ids)
    probe_at = ConnectionHealth.objects.filter(connection_id=OuterRef("pk")).values("probe_at")[:1]
    Connection.objects.filter(pk__in=blocked).update(next_sync_at=Coalesce(
        Subquery(probe_at, output_field=DateTimeField()), Value(now + breaker_cooldown(1), DateTimeField())))
    logger.info("dispatcher skipped %d connection(s) whose circuit breaker is open", len(blocked))
    return [pk for pk in connection_ids if pk not in blocked]


def _stale_half_open_before(now: datetime) -> datetime:
    from apps.integrations.sync import lock_timeout

    return now - lock_timeout()


def breakers_probe_due(*, now: datetime | None = None, limit: int = 50) -> dict[int, bool]:
    """Probe every open breaker whose cool-down has passed (and half-open ones whose prober died);
    returns {connection id: closed?}. A conditional UPDATE claims each one, so two ticks never probe twice."""
    now = now or timezone.now()
    due = (ConnectionHealth.objects
           .filter(Q(breaker=ConnectionHealth.Breaker.OPEN, probe_at__lte=now)
                   | Q(breaker=ConnectionHealth.Breaker.HALF_OPEN, updated_at__lte=_stale_half_open_before(now)))
           .filter(connection__status__in=[Connection.Status.ACTIVE, Connection.Status.ERROR])
           .order_by("probe_at").values_list("pk", "connection_id")[:limit])
    results = {}
    for health_pk, connection_id in list(due):
        claimed = (ConnectionHealth.objects.filter(pk=health_pk)
                   .filter(Q(breaker=ConnectionHealth.Breaker.OPEN) | Q(breaker=ConnectionHealth.Breaker.HALF_OPEN))
                   .update(breaker=ConnectionHealth.Breaker.HALF_OPEN, updated_at=now))
        if claimed:
            results[connection_id] = connection_probe(connection_id=connection_id)
    return results


def connection_probe(*, connection_id: int, periodic: bool = False) -> bool:
    """Run the connector's live check and feed the outcome to the breaker; returns whether it passed.

    A probe of a half-open breaker closes it (and schedules a sync now) or re-opens it with a longer
    cool-down; a periodic check of a closed breaker counts a failure like a failed sync does.
    """
    from apps.integrations.services import connection_test

    connection = Connection.objects.select_related("shg").filter(pk=connection_id).first()
    if connection is None:
        return False
    with connection_context(connection_id):
        outcome = connection_test(connection=connection)
    now = timezone.now()
    connection.refresh_from_db(fields=["status"])
    with transaction.atomic():
        health = _locked_health(connection_id)
        health.last_check_at, health.last_check_ok = now, outcome.ok
        if outcome.ok:
            was_failing = health.breaker != ConnectionHealth.Breaker.CLOSED
            _close(health)
            if was_failing:
                logger.info("circuit breaker of connection %s closed: the probe passed", connection_id)
                Connection.objects.filter(pk=connection_id, status=Connection.Status.ACTIVE).update(next_sync_at=now)
        else:
            is_auth = connection.status == Connection.Status.NEEDS_REAUTH
            _fail(health, now=now, error=str(outcome.message), error_type="AuthError" if is_auth else "CheckFailed",
                  counts=not is_auth)
            if is_auth and health.breaker != ConnectionHealth.Breaker.CLOSED:
                _close(health)  # the reconnect, not a probe, brings it back
        health.save()
        transaction.on_commit(lambda: _evaluate_later(connection_id))
    return outcome.ok


def connections_check_due(*, now: datetime | None = None, limit: int = 50) -> int:
    """The periodic `test_connection()` of working connections not checked for OPS_CHECK_INTERVAL."""
    now = now or timezone.now()
    cutoff = now - setting("OPS_CHECK_INTERVAL", timedelta(hours=1))
    ids = list(Connection.objects
               .filter(status__in=[Connection.Status.ACTIVE, Connection.Status.ERROR])
               .filter(Q(health__isnull=True) | Q(health__breaker=ConnectionHealth.Breaker.CLOSED,
                                                  health__last_check_at__isnull=True)
                       | Q(health__breaker=ConnectionHealth.Breaker.CLOSED, health__last_check_at__lt=cutoff))
               .order_by("id").values_list("id", flat=True)[:limit])
    for connection_id in ids:
        connection_probe(connection_id=connection_id, periodic=True)
    return len(ids)


def heartbeat_beat(*, name: str = "qcluster") -> Heartbeat:
    """Stamp the heartbeat (run by the qcluster's schedule; /readyz checks its age)."""
    import socket

    beat, _created = Heartbeat.objects.update_or_create(
        name=name, defaults={"beat_at": timezone.now(), "host": socket.gethostname()[:255]})
    return beat
