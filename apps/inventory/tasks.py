"""The stock push: one coalesced, batched, rate-limited task per channel.

`stock_propagate` marks listings `stock_dirty` and calls `enqueue_stock_push`, which queues at most one
task per connection at a time (a flag on the connection's PushQueue row, taken with a conditional UPDATE, so
it holds across worker processes). The task drops that flag first, then claims
the dirty listings (clearing the flag in one UPDATE) and pushes the quantity available *at that moment*:
a burst of orders gives one push per listing with the latest value, and a change that lands while a push
runs queues the next one. Calls go through the connector, so its HttpClient's token buckets and
Retry-After handling apply; a failed batch marks its listings dirty again for the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from apps.catalog.models import Listing
from apps.integrations.connectors.base import Capability, StockUpdate
from apps.integrations.connectors.errors import AuthError, NotSupported, PermanentError, RateLimited, TransientError
from apps.integrations.connectors.registry import build_connector
from apps.integrations.models import Connection
from apps.inventory.services import available_by_variant, push_quantity

logger = logging.getLogger(__name__)

PUSH_BATCH = 100
QUEUED_TTL = 60  # if a queued task is lost, the next change queues again after this


def queue_slot_take(connection_id: int, kind: str) -> bool:
    """Take the channel's "push queued" flag for `kind` ("stock" or "price"): True when this caller set it (and
    so queues the task), False when a task is already queued. Two queries, whatever the cache backend."""
    from apps.inventory.models import PushQueue

    field = f"{kind}_queued_at"
    now = timezone.now()
    PushQueue.objects.bulk_create([PushQueue(connection_id=connection_id)], ignore_conflicts=True)
    free = Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__lt": now - timedelta(seconds=QUEUED_TTL)})
    return bool(PushQueue.objects.filter(free, connection_id=connection_id).update(**{field: now}))


def queue_slot_release(connection_id: int, kind: str) -> None:
    """The task has started: a change from now on queues the next run."""
    from apps.inventory.models import PushQueue

    PushQueue.objects.filter(connection_id=connection_id).update(**{f"{kind}_queued_at": None})


def enqueue_stock_push(connection_id: int) -> bool:
    """Queue the push of one channel unless one is already queued (coalescing)."""
    if not queue_slot_take(connection_id, "stock"):
        return False
    async_task("apps.inventory.tasks.push_stock_for_connection", connection_id, group="stock-push",
               task_name=f"stock-push-{connection_id}")
    return True


def _claim(connection_id: int) -> list[Listing]:
    with transaction.atomic():
        ids = list(Listing.objects.select_for_update(skip_locked=True)
                   .filter(connection_id=connection_id, stock_dirty=True).values_list("id", flat=True))
        Listing.objects.filter(id__in=ids).update(stock_dirty=False)
    return list(Listing.objects.filter(id__in=ids).select_related("variant"))


def _settings(connection: Connection) -> tuple[int | None, int | None]:
    config = connection.config or {}
    buffer, maximum = config.get("stock_buffer"), config.get("stock_max")
    return (int(buffer) if buffer is not None else None, int(maximum) if maximum is not None else None)


def push_stock_for_connection(connection_id: int) -> dict[str, int]:
    """The task body: push the current quantity of every dirty listing of one channel, in batches."""
    queue_slot_release(connection_id, "stock")
    connection = Connection.objects.filter(pk=connection_id).first()
    if connection is None or not connection.is_syncable:
        return {"pushed": 0, "failed": 0}
    listings = _claim(connection_id)
    if not listings:
        return {"pushed": 0, "failed": 0}
    default_buffer, default_max = _settings(connection)
    totals = available_by_variant(variant_ids={listing.variant_id for listing in listings})
    todo: list[tuple[Listing, int]] = []
    for listing in listings:
        available = totals.get(listing.variant_id, {}).get("available", 0)
        quantity = push_quantity(available=available,
                                 buffer=listing.stock_buffer if listing.stock_buffer is not None else default_buffer,
                                 maximum=listing.stock_max if listing.stock_max is not None else default_max)
        todo.append((listing, quantity))
    connector = build_connector(connection)
    if not connector.supports(Capability.STOCK_PUSH):
        return {"pushed": 0, "failed": 0}
    pushed = failed = 0
    for start in range(0, len(todo), PUSH_BATCH):
        batch = todo[start:start + PUSH_BATCH]
        ok, bad = _push_batch(connector, batch)
        pushed, failed = pushed + ok, failed + bad
    _requeue_if_moved(connection_id, listings, totals)
    return {"pushed": pushed, "failed": failed}


def _requeue_if_moved(connection_id: int, listings: list[Listing], totals: dict[int, dict[str, int]]) -> None:
    """Stock that moved while this run was pushing is pushed again. Two runs of one channel may overlap (the
    flag is dropped when a run starts); if the older one answers last, its quantity is stale, and this check,
    made by whichever run finishes last, queues the push that makes the channel right."""
    now = available_by_variant(variant_ids={listing.variant_id for listing in listings})
    moved = {vid for vid in {listing.variant_id for listing in listings}
             if now.get(vid, {}).get("available", 0) != totals.get(vid, {}).get("available", 0)}
    if moved:
        Listing.objects.filter(id__in=[listing.pk for listing in listings if listing.variant_id in moved]).update(
            stock_dirty=True)
        enqueue_stock_push(connection_id)


def _push_batch(connector, batch: Sequence[tuple[Listing, int]]) -> tuple[int, int]:
    updates = [StockUpdate(sku=listing.channel_sku or listing.variant.sku, quantity=quantity,
                           external_refs=dict(listing.external_refs or {})) for listing, quantity in batch]
    try:
        results = connector.push_stock(updates)
    except (RateLimited, TransientError, AuthError) as exc:
        # Nothing is lost: the listings are dirty again; the next change or the retry pushes them.
        Listing.objects.filter(id__in=[listing.pk for listing, _q in batch]).update(stock_dirty=True,
                                                                                    last_error=str(exc)[:1000])
        logger.warning("stock push to connection %s deferred: %s", connector.context.connection_id, type(exc).__name__)
        if not isinstance(exc, AuthError):
            enqueue_stock_push(int(connector.context.connection_id))
        return 0, len(batch)
    except (PermanentError, NotSupported) as exc:
        Listing.objects.filter(id__in=[listing.pk for listing, _q in batch]).update(last_error=str(exc)[:1000])
        return 0, len(batch)
    by_sku = {result.sku: result for result in results}
    now = timezone.now()
    changed = []
    ok = bad = 0
    for (listing, quantity), update in zip(batch, updates, strict=True):
        result = by_sku.get(update.sku)
        if result is not None and result.ok:
            listing.last_pushed_quantity, listing.last_pushed_at, listing.last_error = quantity, now, ""
            ok += 1
        else:
            listing.last_error = (result.error if result else "The channel did not answer for this SKU.")[:1000]
            bad += 1
        listing.updated_at = now
        changed.append(listing)
    Listing.objects.bulk_update(changed, ["last_pushed_quantity", "last_pushed_at", "last_error", "updated_at"])
    return ok, bad
