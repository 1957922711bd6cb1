"""Background work of orders (django-q2): pushing a fulfilment to its channel, and retrying failed pushes.

A push is claimed first (one conditional UPDATE), so a parcel is never sent twice by two workers; the
outcome is recorded on the Fulfilment for the coordinator to see. Transient failures (timeouts, 5xx,
429) are retried with growing delays by `dispatch_due_fulfilments`, which runs every minute.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone
from django_q.tasks import async_task

from apps.core.logging import redact
from apps.integrations.connectors.base import FulfilmentData, FulfilmentLine
from apps.integrations.connectors.errors import AuthError, ConnectorError, RateLimited, TransientError
from apps.integrations.connectors.registry import build_connector
from apps.orders.models import Fulfilment
from apps.orders.services import (
    fulfilment_claim,
    fulfilment_record_failure,
    fulfilment_record_success,
    fulfilments_release_stale_claims,
)

logger = logging.getLogger(__name__)


def enqueue_fulfilment_push(fulfilment_id: int) -> None:
    async_task("apps.orders.tasks.push_fulfilment", fulfilment_id, task_name=f"push-fulfilment-{fulfilment_id}",
               group="fulfilment")


def _fulfilment_data(fulfilment: Fulfilment) -> FulfilmentData:
    order = fulfilment.order
    return FulfilmentData(
        order_external_id=order.external_id, carrier=fulfilment.carrier, tracking_number=fulfilment.tracking_number,
        shipped_at=fulfilment.shipped_at, tracking_url=fulfilment.tracking_url,
        shipping_method=fulfilment.shipping_method,
        lines=[FulfilmentLine(external_line_id=line.external_id, quantity=line.quantity) for line in order.lines.all()],
        order_raw=order.raw or {},
    )


def push_fulfilment(fulfilment_id: int) -> str:
    """Send one fulfilment to its channel and record what the channel said. Returns the new push state."""
    if not fulfilment_claim(fulfilment_id=fulfilment_id):
        return "not-claimed"  # already pushed, being pushed, or given up: nothing to do
    fulfilment = Fulfilment.objects.select_related("order", "order__connection", "order__shg").get(pk=fulfilment_id)
    connection = fulfilment.order.connection
    if not connection.credentials or connection.status == connection.Status.DISABLED:
        fulfilment_record_failure(fulfilment=fulfilment, error="The channel is disconnected: reconnect it, then retry.",
                                  retryable=False)
        return fulfilment.push_state
    try:
        connector = build_connector(connection)
        result = connector.push_fulfilment(_fulfilment_data(fulfilment))
    except (TransientError, RateLimited) as exc:
        fulfilment_record_failure(fulfilment=fulfilment, error=_message(exc), retryable=True)
    except AuthError as exc:
        fulfilment_record_failure(fulfilment=fulfilment, error="The channel refused Haat's credentials: reconnect it, "
                                  f"then retry. ({_message(exc)})", retryable=False)
    except ConnectorError as exc:
        fulfilment_record_failure(fulfilment=fulfilment, error=_message(exc), retryable=False)
    except Exception as exc:
        # A bug, not the platform: recorded for the coordinator and retried, and raised for the task log.
        fulfilment_record_failure(fulfilment=fulfilment, error=f"Internal error ({type(exc).__name__})", retryable=True)
        raise
    else:
        if result.ok:
            fulfilment_record_success(fulfilment=fulfilment, external_id=result.external_id)
        else:
            # The channel answered and said no (a bad carrier code, an order already shipped): retrying won't help.
            fulfilment_record_failure(fulfilment=fulfilment, error=redact(result.error or "The channel refused it."),
                                      retryable=False)
    logger.info("fulfilment %s push: %s", fulfilment_id, fulfilment.push_state)
    return fulfilment.push_state


def _message(exc: ConnectorError) -> str:
    text = exc.message
    if exc.raw and isinstance(exc, ConnectorError) and not isinstance(exc, TransientError | RateLimited):
        text = f"{text}: {exc.raw[:500]}"
    return redact(text)


def dispatch_due_fulfilments(*, limit: int = 100) -> int:
    """Queue the pushes whose retry time has come (and free claims of workers that died)."""
    fulfilments_release_stale_claims()
    due = list(Fulfilment.objects.filter(
        push_state=Fulfilment.PushState.RETRYING, next_attempt_at__lte=timezone.now(),
    ).order_by("next_attempt_at").values_list("id", flat=True)[:limit])
    for fulfilment_id in due:
        enqueue_fulfilment_push(fulfilment_id)
    return len(due)


# Days the nightly heal recomputes: today and the two before (late status changes land on recent days).
HEAL_DAYS = 3


def daily_totals_heal() -> int:
    """Recompute the last days' daily totals from the orders (scheduled daily): whatever wrote orders around
    `upsert_orders`, the overview is right again by the next morning. Returns the rows written."""
    from apps.orders.services import daily_totals_rebuild, local_day

    since = local_day(timezone.now()) - timedelta(days=HEAL_DAYS - 1)
    written = daily_totals_rebuild(since=since)
    logger.info("daily totals healed from %s: %d rows", since, written)
    return written
