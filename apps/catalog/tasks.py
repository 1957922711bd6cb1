"""The price push: like the stock push (apps/inventory/tasks.py), one coalesced, batched task per channel."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from apps.catalog.models import Listing
from apps.integrations.connectors.base import Capability, PriceUpdate
from apps.integrations.connectors.errors import ConnectorError, RateLimited, TransientError
from apps.integrations.connectors.registry import build_connector
from apps.integrations.models import Connection

PUSH_BATCH = 100


def enqueue_price_push(connection_id: int) -> bool:
    """Queue the price push of one channel unless one is already queued (the stock push's coalescing flag)."""
    from apps.inventory.tasks import queue_slot_take

    if not queue_slot_take(connection_id, "price"):
        return False
    async_task("apps.catalog.tasks.push_prices_for_connection", connection_id, group="price-push",
               task_name=f"price-push-{connection_id}")
    return True


def push_prices_for_connection(connection_id: int) -> dict[str, int]:
    """Push the current price (override or variant's) and MRP of every dirty listing of one channel."""
    from apps.inventory.tasks import queue_slot_release

    queue_slot_release(connection_id, "price")
    connection = Connection.objects.filter(pk=connection_id).first()
    if connection is None or not connection.is_syncable or not connection.connector_class.supports(Capability.PRICE_PUSH):
        return {"pushed": 0, "failed": 0}
    with transaction.atomic():
        ids = list(Listing.objects.select_for_update(skip_locked=True)
                   .filter(connection_id=connection_id, price_dirty=True).values_list("id", flat=True))
        Listing.objects.filter(id__in=ids).update(price_dirty=False)
    listings = [listing for listing in Listing.objects.filter(id__in=ids).select_related("variant")
                if listing.effective_price is not None]
    connector = build_connector(connection)
    pushed = failed = 0
    for start in range(0, len(listings), PUSH_BATCH):
        batch = listings[start:start + PUSH_BATCH]
        updates = [PriceUpdate(sku=item.channel_sku or item.variant.sku, price=item.effective_price,
                               currency=item.variant.currency, mrp=item.effective_mrp,
                               external_refs=dict(item.external_refs or {})) for item in batch]
        try:
            results = {result.sku: result for result in connector.push_prices(updates)}
        except (RateLimited, TransientError) as exc:
            Listing.objects.filter(id__in=[item.pk for item in batch]).update(price_dirty=True, last_error=str(exc)[:1000])
            enqueue_price_push(connection_id)
            failed += len(batch)
            continue
        except ConnectorError as exc:
            Listing.objects.filter(id__in=[item.pk for item in batch]).update(last_error=str(exc)[:1000])
            failed += len(batch)
            continue
        now = timezone.now()
        for item, update in zip(batch, updates, strict=True):
            result = results.get(update.sku)
            if result is not None and result.ok:
                item.last_pushed_price, item.last_pushed_at, item.last_error = update.price, now, ""
                pushed += 1
            else:
                item.last_error = (result.error if result else "The channel did not answer for this SKU.")[:1000]
                failed += 1
            item.updated_at = now
        Listing.objects.bulk_update(batch, ["last_pushed_price", "last_pushed_at", "last_error", "updated_at"])
    return {"pushed": pushed, "failed": failed}
