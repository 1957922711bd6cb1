"""django-q2 tasks of the sync engine: the every-minute dispatcher and one sync run.

`dispatch_due_syncs` claims the connections whose `next_sync_at` has come and enqueues one run each.
On PostgreSQL the claim is `SELECT ... FOR UPDATE SKIP LOCKED`, so dispatchers of several clusters
never take the same connection; the claim pushes `next_sync_at` forward so the next tick does not
enqueue it again while its run waits in the queue. The run itself also holds the per-stream lock
(sync.py), so even a duplicate enqueue only records a skipped run.
"""

from __future__ import annotations

import logging

from django.db import connection as db_connection
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django_q.tasks import async_task

from apps.integrations.models import Connection, SyncRun
from apps.integrations.sync import lock_timeout, sync_claim, sync_connection
from apps.ops.services import breaker_admit

logger = logging.getLogger(__name__)

DISPATCH_SCHEDULE_NAME = "haat: dispatch due syncs"
RATINGS_SCHEDULE_NAME = "haat: read ratings and reviews"
RATINGS_INTERVAL_MINUTES = 60
DISPATCH_BATCH = 200


def run_sync(connection_id: int, stream: str = SyncRun.Stream.ORDERS, trigger: str = SyncRun.Trigger.SCHEDULE,
             requested_by_id: int | None = None) -> dict:
    """One sync run (the task body); returns its counts for the task's result."""
    from django.contrib.auth import get_user_model

    requested_by = get_user_model().objects.filter(pk=requested_by_id).first() if requested_by_id else None
    try:
        run = sync_connection(connection_id=connection_id, stream=stream, trigger=trigger, requested_by=requested_by)
    except Connection.DoesNotExist:
        logger.info("connection %s was deleted before its sync ran", connection_id)
        return {"run": None, "status": "gone"}
    return {"run": run.pk, "status": run.status, "fetched": run.fetched, "created": run.created,
            "updated": run.updated, "requests": run.requests, "retries": run.retries}


def enqueue_sync(*, connection: Connection, stream: str = SyncRun.Stream.ORDERS, trigger: str = SyncRun.Trigger.MANUAL,
                 requested_by=None) -> None:
    """Queue one run once the current transaction commits ("Sync now" from the dashboard and the admin)."""
    if stream not in SyncRun.Stream.values:
        raise ValueError(f"Unknown stream {stream!r}")
    user_id = getattr(requested_by, "pk", None)
    transaction.on_commit(lambda: async_task(
        "apps.integrations.tasks.run_sync", connection.pk, stream, trigger, user_id,
        task_name=f"sync-{connection.pk}-{stream}", group="sync",
    ))


def run_claimed_sync(run_id: int) -> dict:
    """The task body of a run claimed ahead by `sync_claim` (the API's POST .../sync/)."""
    run = SyncRun.objects.filter(pk=run_id).only("id", "connection_id", "stream", "trigger").first()
    if run is None:
        return {"run": run_id, "status": "missing"}
    run = sync_connection(connection_id=run.connection_id, stream=run.stream, trigger=run.trigger, run_id=run.pk)
    return {"run": run.pk, "status": run.status, "fetched": run.fetched, "created": run.created,
            "updated": run.updated, "requests": run.requests, "retries": run.retries}


def enqueue_claimed_sync(*, run: SyncRun) -> None:
    """Queue a claimed run once the current transaction commits."""
    transaction.on_commit(lambda: async_task(
        "apps.integrations.tasks.run_claimed_sync", run.pk,
        task_name=f"sync-{run.connection_id}-{run.stream}-{run.pk}", group="sync",
    ))


class NotSyncable(Exception):
    """The connection is disconnected or needs re-authorisation: a sync would only be skipped."""


@transaction.atomic
def sync_request(*, connection: Connection, stream: str = SyncRun.Stream.ORDERS,
                 trigger: str = SyncRun.Trigger.MANUAL, requested_by=None) -> tuple[SyncRun, bool]:
    """Start a sync in the background and return its run at once: (new run, True) or (the one already
    running, False). Raises NotSyncable rather than queueing a run that could only be skipped."""
    if not connection.is_syncable:
        raise NotSyncable(f"The connection is {connection.get_status_display().lower()}: reconnect it before syncing.")
    run, created = sync_claim(connection=connection, stream=stream, trigger=trigger, requested_by=requested_by)
    if created:
        enqueue_claimed_sync(run=run)
    return run, created


def due_connections(*, now=None):
    now = now or timezone.now()
    from apps.integrations.connectors.base import Capability
    from apps.integrations.connectors.registry import platforms_with

    # Channels whose orders arrive only by webhook (the SHG's website) or that have none (tenders, inquiries)
    # are never polled for orders.
    return (Connection.objects
            .filter(status__in=[Connection.Status.ACTIVE, Connection.Status.ERROR],
                    platform__in=platforms_with(Capability.ORDERS))
            .filter(Q(next_sync_at__isnull=True) | Q(next_sync_at__lte=now))
            .order_by(F("next_sync_at").asc(nulls_first=True), "id"))


def dispatch_due_syncs(*, limit: int = DISPATCH_BATCH) -> list[int]:
    """Claim due connections and enqueue an orders sync for each; returns their ids."""
    now = timezone.now()
    with transaction.atomic():
        queryset = due_connections(now=now)
        if db_connection.features.has_select_for_update_skip_locked:
            queryset = queryset.select_for_update(skip_locked=True, of=("self",))
        ids = [c.pk for c in queryset.only("id")[:limit]]
        ids = breaker_admit(ids, now=now)  # apps.ops: an open circuit breaker waits for its probe
        # Until the run reschedules it, the connection is not due again; if the task is lost it comes back.
        Connection.objects.filter(pk__in=ids).update(next_sync_at=now + lock_timeout())
    for connection_id in ids:
        async_task("apps.integrations.tasks.run_sync", connection_id, SyncRun.Stream.ORDERS, SyncRun.Trigger.SCHEDULE,
                   None, task_name=f"sync-{connection_id}-orders", group="sync")
    if ids:
        logger.info("dispatched %d sync(s)", len(ids))
    return ids


def dispatch_ratings_syncs() -> list[int]:
    """Enqueue a ratings run for every active connection whose platform publishes ratings (hourly: reviews
    are not urgent, and each run reads only what is newer than the stream's cursor)."""
    from apps.integrations.connectors.base import Capability
    from apps.integrations.connectors.registry import platforms_with

    ids = list(Connection.objects.filter(platform__in=platforms_with(Capability.RATINGS),
                                         status=Connection.Status.ACTIVE)
               .order_by("id").values_list("id", flat=True))
    for connection_id in ids:
        async_task("apps.integrations.tasks.run_sync", connection_id, SyncRun.Stream.RATINGS,
                   SyncRun.Trigger.SCHEDULE, None, task_name=f"sync-{connection_id}-ratings", group="sync")
    return ids


def ensure_schedules() -> None:
    """Create or repair the every-minute dispatcher schedule (idempotent; also done by a data migration)."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=DISPATCH_SCHEDULE_NAME,
        defaults={"func": "apps.integrations.tasks.dispatch_due_syncs", "schedule_type": Schedule.MINUTES,
                  "minutes": 1, "repeats": -1},
    )
    Schedule.objects.update_or_create(
        name=RATINGS_SCHEDULE_NAME,
        defaults={"func": "apps.integrations.tasks.dispatch_ratings_syncs", "schedule_type": Schedule.MINUTES,
                  "minutes": RATINGS_INTERVAL_MINUTES, "repeats": -1},
    )

