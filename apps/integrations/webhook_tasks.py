"""django-q2 tasks of inbound webhooks: process one stored delivery, sweep the due ones, purge old ones.

The endpoint enqueues `process_webhook_event` once the delivery is committed. `retry_due_webhook_events`
runs every minute (schedule in migration 0004) and enqueues again what is due: failures whose backoff
has passed, deliveries whose enqueue was lost (broker down when the platform called), and deliveries
whose worker died mid-way (their lease expired). A claim (one conditional UPDATE) makes a duplicate
enqueue harmless.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from apps.core.logging import connection_context
from apps.integrations.models import Connection, WebhookEvent
from apps.integrations.webhooks import ENQUEUE_GRACE, webhook_event_process, webhooks_register

logger = logging.getLogger(__name__)

SWEEP_BATCH = 500
PURGE_BATCH = 2000


def enqueue_webhook_event(event_id: int) -> None:
    async_task("apps.integrations.webhook_tasks.process_webhook_event", event_id, task_name=f"webhook-{event_id}",
               group="webhooks")


def enqueue_webhooks_register(connection_id: int) -> None:
    async_task("apps.integrations.webhook_tasks.register_webhooks", connection_id,
               task_name=f"webhooks-register-{connection_id}", group="webhooks")


def register_webhooks(connection_id: int) -> dict:
    """The task body of registering after a connect; returns what was registered or the error."""
    connection = Connection.objects.filter(pk=connection_id).first()
    if connection is None:
        return {"registered": [], "error": "connection deleted"}
    outcome = webhooks_register(connection)
    return {"registered": outcome.registered, "error": outcome.error}


def process_webhook_event(event_id: int) -> str:
    """The task body: process one delivery; returns its new status ("skipped" when another worker has it)."""
    connection_id = WebhookEvent.objects.filter(pk=event_id).values_list("connection_id", flat=True).first()
    with connection_context(connection_id):  # log lines of the processing carry the connection id
        outcome = webhook_event_process(event_id=event_id)
    return outcome.status if outcome else "skipped"


def due_webhook_event_ids(*, now=None, limit: int = SWEEP_BATCH) -> list[int]:
    now = now or timezone.now()
    due = (
        Q(status=WebhookEvent.Status.RECEIVED, next_attempt_at__isnull=True, received_at__lte=now - ENQUEUE_GRACE)
        | Q(status=WebhookEvent.Status.RECEIVED, next_attempt_at__lte=now)
        | Q(status__in=[WebhookEvent.Status.FAILED, WebhookEvent.Status.PROCESSING], next_attempt_at__lte=now)
    )
    return list(WebhookEvent.objects.filter(due).order_by("received_at", "id").values_list("id", flat=True)[:limit])


def retry_due_webhook_events() -> int:
    """Every minute: enqueue the deliveries that are due again; returns how many."""
    ids = due_webhook_event_ids()
    for event_id in ids:
        enqueue_webhook_event(event_id)
    if ids:
        logger.info("re-enqueued %d webhook event(s)", len(ids))
    return len(ids)


def purge_old_webhook_events(*, now=None) -> int:
    """Daily: delete processed and ignored deliveries older than WEBHOOK_RETENTION_DAYS (failed ones stay)."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.WEBHOOK_RETENTION_DAYS)
    deleted = 0
    while True:
        ids = list(WebhookEvent.objects.filter(
            status__in=[WebhookEvent.Status.PROCESSED, WebhookEvent.Status.IGNORED], received_at__lt=cutoff,
        ).values_list("id", flat=True)[:PURGE_BATCH])
        if not ids:
            return deleted
        deleted += WebhookEvent.objects.filter(pk__in=ids).delete()[0]
