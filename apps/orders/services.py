"""Writes of orders: the idempotent bulk upsert every sync page and webhook ends in, and fulfilments.

`upsert_orders` runs a fixed number of queries per page whatever its size: one read of the stored
orders, one of the SHG's variants, then one statement per table for what is new or changed (see
apps/core/bulk.py; on SQLite one more read gives the new orders' ids). A content hash per order decides
what changed, so re-reading an unchanged page writes nothing. Events go to the outbox in the same
transaction: they commit or roll back with the orders.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db import connection as db_connection
from django.db.models import Case, Count, F, IntegerField, Max, Min, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.catalog.models import Variant
from apps.catalog.selectors import variant_ids_by_sku
from apps.core.bulk import BulkWriter
from apps.events.services import EventDraft, publish, publish_many
from apps.integrations.connectors.base import Capability, FulfilmentChannel, OrderData, OrderStatus
from apps.orders.models import DailyOrderTotal, Fulfilment, Order, OrderLine

logger = logging.getLogger(__name__)

ORDER_COLUMNS = ["number", "status", "raw_status", "placed_at", "remote_updated_at", "currency", "total", "buyer_name",
                 "shipping_address", "fulfilment_channel", "raw", "content_hash", "updated_at"]
ORDER_INSERT_COLUMNS = ["connection", "shg", "external_id", "created_at", *ORDER_COLUMNS]
LINE_COLUMNS = ["sku", "title", "quantity", "unit_price", "variant"]
LINE_INSERT_COLUMNS = ["order", "external_id", *LINE_COLUMNS]
MAX_TOTAL = Decimal("1e12")
_CENT = Decimal("0.01")
_STATUSES = {s.value for s in OrderStatus}
_CHANNELS = {c.value for c in FulfilmentChannel}


class InvalidOrderData(ValueError):
    """A page carried orders that cannot be stored; `problems` names each one. Nothing was written."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        super().__init__(f"{len(problems)} invalid order field(s): {shown}")


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # Older than what is stored (an overlap re-read or a late webhook): ignored, counted with unchanged.
    stale: int = 0
    order_ids: list[int] = field(default_factory=list)

    @property
    def written(self) -> int:
        return self.created + self.updated


# --- normalizing and validating one page -------------------------------------------------------------------------


@dataclass(slots=True)
class _Line:
    external_id: str
    sku: str
    title: str
    quantity: int
    unit_price: Decimal


@dataclass(slots=True)
class _Order:
    external_id: str
    status: str
    raw_status: str
    number: str
    placed_at: datetime
    updated_at: datetime
    currency: str
    total: Decimal
    buyer_name: str
    channel: str
    address_json: str
    raw: dict[str, Any]
    lines: list[_Line]
    content_hash: str = ""
    placed_iso: str = ""
    updated_iso: str = ""


# One encoder for every page: sorted keys, so the same document always hashes the same.
_ENCODER = DjangoJSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_encode = _ENCODER.encode


def _money(value: Any) -> Decimal | None:
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
        if not amount.is_finite() or abs(amount) >= MAX_TOTAL:
            return None
        return amount.quantize(_CENT)
    except (InvalidOperation, ValueError, TypeError):
        return None


def _is_aware(value: Any) -> bool:
    return isinstance(value, datetime) and value.utcoffset() is not None


def _normalize(order: OrderData, problems: list[str]) -> _Order:
    """The order as it will be stored; what cannot be stored is added to `problems` (named, for the error)."""
    eid = order.external_id if isinstance(order.external_id, str) else str(order.external_id or "")
    found: list[str] = []
    if not eid or len(eid) > 255:
        found.append("external_id must be 1 to 255 characters")
    status = getattr(order.status, "value", order.status)
    if status not in _STATUSES:
        found.append(f"status {status!r} is not one of {sorted(_STATUSES)}")
    channel = getattr(order.fulfilment_channel, "value", order.fulfilment_channel)
    if channel not in _CHANNELS:
        found.append(f"fulfilment_channel {channel!r} is not one of {sorted(_CHANNELS)}")
    currency = (order.currency or "").upper()
    if len(currency) != 3 or not currency.isalpha() or not currency.isascii():
        found.append(f"currency {order.currency!r} is not a three-letter code")
    address = order.shipping_address
    raw = order.raw
    if not isinstance(address, dict) or not isinstance(raw, dict):
        found.append("shipping_address and raw must be mappings")
        address, raw = {}, {}
    placed_at, updated_at = order.placed_at, order.updated_at
    if not _is_aware(placed_at):
        found.append(f"placed_at {placed_at!r} is not a datetime with a time zone")
    if not _is_aware(updated_at):
        found.append(f"updated_at {updated_at!r} is not a datetime with a time zone")
    total = _money(order.total)
    if total is None:
        found.append(f"total {order.total!r} is not an amount")
    lines: list[_Line] = []
    seen: set[str] = set()
    for line in order.lines or ():
        lid = line.external_id if isinstance(line.external_id, str) else str(line.external_id or "")
        if not lid or len(lid) > 255 or lid in seen:
            found.append(f"line id {lid!r} is empty, too long or repeated")
        seen.add(lid)
        quantity = line.quantity
        if type(quantity) is not int or quantity < 0:
            found.append(f"line {lid}: quantity {quantity!r} is not a whole number >= 0")
        price = _money(line.unit_price)
        if price is None:
            found.append(f"line {lid}: unit price {line.unit_price!r} is not an amount")
        lines.append(_Line(lid, (line.sku or "")[:255], (line.title or "")[:500], quantity, price))
    if found:
        problems.extend(f"order {eid or '?'}: {problem}" for problem in found)
    return _Order(
        external_id=eid, status=status, raw_status=(order.raw_status or "")[:100],
        number=(order.number or "")[:100], placed_at=placed_at, updated_at=updated_at, currency=currency, total=total,
        buyer_name=(order.buyer_name or "")[:255], channel=channel, address_json=_encode(address),
        raw=raw, lines=lines,
    )


def _hash(order: _Order) -> str:
    """Digest of every normalized field and line. The platform's own updated_at is in it, so any change the
    platform records changes the hash; the raw document is not hashed (encoding it for every order of every
    re-read page would cost more than the whole comparison) and is rewritten whenever the order is."""
    order.placed_iso, order.updated_iso = order.placed_at.isoformat(), order.updated_at.isoformat()
    parts = [order.status, order.raw_status, order.number, order.placed_iso, order.updated_iso,
             order.currency, str(order.total), order.buyer_name, order.channel, order.address_json]
    for line in order.lines:
        parts += [line.external_id, line.sku, line.title, str(line.quantity), str(line.unit_price)]
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()


def _prepare(orders: list[OrderData]) -> list[_Order]:
    """Validate the whole page before any write, and keep the newest copy of an order listed twice."""
    problems: list[str] = []
    by_id: dict[str, _Order] = {}
    for order in orders:
        item = _normalize(order, problems)
        previous = by_id.get(item.external_id)
        if previous is None or problems or item.updated_at >= previous.updated_at:
            by_id[item.external_id] = item
    if problems:
        raise InvalidOrderData(problems)
    items = list(by_id.values())
    for item in items:
        item.content_hash = _hash(item)
    return items


# --- the upsert --------------------------------------------------------------------------------------------------


def _event_payload(connection, order_id: int, item: _Order, variants: dict[str, int], **extra: Any) -> dict[str, Any]:
    # No buyer name or address: events travel to brokers and partners; personal data stays behind the API.
    return {
        "order_id": order_id, "external_id": item.external_id, "number": item.number,
        "connection_id": connection.pk, "platform": connection.platform, "status": item.status,
        "raw_status": item.raw_status, "currency": item.currency, "total": str(item.total),
        "placed_at": item.placed_iso, "updated_at": item.updated_iso,
        "fulfilment_channel": item.channel,
        "lines": [{"external_id": ln.external_id, "sku": ln.sku, "quantity": ln.quantity,
                   "unit_price": str(ln.unit_price), "variant_id": variants.get(ln.sku)} for ln in item.lines],
        **extra,
    }


def _aware(value: datetime | str | None) -> datetime | None:
    """A datetime column read with a plain cursor: PostgreSQL gives it aware, SQLite naive (or text) in UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class _Stored(NamedTuple):
    """What upsert_orders needs of a stored order: to skip it, to order writes, and its daily totals' share."""

    id: int
    content_hash: str
    status: str
    remote_updated_at: datetime | None
    placed_at: datetime
    currency: str
    total: Decimal
    channel: str


def _stored_orders(connection_id: int, external_ids: list[str]) -> dict[str, _Stored]:
    """external id -> the stored order's _Stored, for the stored orders among these.

    Plain SQL on purpose: this runs for every page of every sync, and the ORM's per-value preparation of a
    large IN list costs more than the query itself.
    """
    if not external_ids:
        return {}
    qn = db_connection.ops.quote_name
    if db_connection.vendor == "postgresql":
        matching, params = "= ANY(%s)", [connection_id, list(external_ids)]  # one array parameter
    else:
        matching, params = f"IN ({', '.join(['%s'] * len(external_ids))})", [connection_id, *external_ids]
    columns = ("id", "external_id", "content_hash", "status", "remote_updated_at", "placed_at", "currency", "total",
               "fulfilment_channel")
    sql = (f"SELECT {', '.join(qn(c) for c in columns)} "  # noqa: S608
           f"FROM {qn(Order._meta.db_table)} WHERE {qn('connection_id')} = %s AND {qn('external_id')} {matching}")
    with db_connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {external_id: _Stored(pk, content_hash, status, _aware(updated), _aware(placed), currency,
                                     _money(total), channel)
                for pk, external_id, content_hash, status, updated, placed, currency, total, channel in cursor.fetchall()}


@transaction.atomic
def upsert_orders(*, connection, orders: list[OrderData]) -> UpsertResult:
    """Store a page of normalized orders of one connection: create new ones, update changed ones, skip the rest.

    Idempotent on (connection, external id). An order older than the stored copy is ignored. Raises
    InvalidOrderData, before writing anything, when an order cannot be stored.
    """
    result = UpsertResult()
    items = _prepare(orders)
    if not items:
        return result
    existing = _stored_orders(connection.pk, [item.external_id for item in items])
    to_create: list[_Order] = []
    to_update: list[tuple[int, str, _Order]] = []
    totals = DailyTotalsDelta()
    for item in items:
        stored = existing.get(item.external_id)
        if stored is None:
            to_create.append(item)
        elif stored.content_hash == item.content_hash:
            result.unchanged += 1
            result.order_ids.append(stored.id)
        elif stored.remote_updated_at is not None and item.updated_at < stored.remote_updated_at:
            result.stale += 1
            result.unchanged += 1
            result.order_ids.append(stored.id)
        else:
            to_update.append((stored.id, stored.status, item))
            totals.remove(stored.placed_at, stored.currency, stored.status, stored.channel, stored.total)
            totals.add(item.placed_at, item.currency, item.status, item.channel, item.total)
    if not to_create and not to_update:
        return result

    shg_id = connection.shg_id
    variants = variant_ids_by_sku(
        shg_id=shg_id, skus={ln.sku for item in [*to_create, *(u[2] for u in to_update)] for ln in item.lines},
    )
    now = timezone.now()
    events: list[EventDraft] = []

    def content(item: _Order) -> list[Any]:
        return [item.number, item.status, item.raw_status, item.placed_at, item.updated_at, item.currency, item.total,
                item.buyer_name, item.address_json, item.channel, _encode(item.raw), item.content_hash, now]

    if to_create:
        returned = BulkWriter(Order, ORDER_INSERT_COLUMNS).insert(
            [[connection.pk, shg_id, item.external_id, now, *content(item)] for item in to_create],
            returning=("external_id", "id"),
        )
        if returned is None:  # SQLite cannot return rows from executemany: read the new ids back
            returned = [(external_id, stored.id) for external_id, stored in
                        _stored_orders(connection.pk, [item.external_id for item in to_create]).items()]
        new_ids = dict(returned)
        line_rows = [
            [new_ids[item.external_id], ln.external_id, ln.sku, ln.title, ln.quantity, ln.unit_price, variants.get(ln.sku)]
            for item in to_create for ln in item.lines
        ]
        BulkWriter(OrderLine, LINE_INSERT_COLUMNS).insert(line_rows)
        for item in to_create:
            order_id = new_ids[item.external_id]
            result.order_ids.append(order_id)
            events.append(EventDraft(type="order.created", shg_id=shg_id, connection_id=connection.pk,
                                     payload=_event_payload(connection, order_id, item, variants)))
        result.created = len(to_create)

    if to_update:
        BulkWriter(Order, ORDER_COLUMNS).update([[*content(item), pk] for pk, _old, item in to_update])
        _replace_lines(to_update, variants)
        for pk, old_status, item in to_update:
            result.order_ids.append(pk)
            payload = _event_payload(connection, pk, item, variants, previous_status=old_status)
            events.append(EventDraft(type="order.updated", shg_id=shg_id, connection_id=connection.pk, payload=payload))
            if item.status == OrderStatus.CANCELLED and old_status != OrderStatus.CANCELLED:
                events.append(EventDraft(type="order.cancelled", shg_id=shg_id, connection_id=connection.pk,
                                         payload=payload))
        result.updated = len(to_update)

    publish_many(events)
    # Reserve or release stock in this same transaction: an order arriving by webhook must reach the other
    # channels' quantities in seconds, faster than the outbox relay's schedule (apps/inventory/services.py).
    from apps.inventory.services import stock_sync_orders

    # A new order none of whose SKUs is in the catalog reserves nothing and holds no reservation yet: left out,
    # so a page of unmapped orders costs the inventory nothing. Changed orders always go (they may hold some).
    written = [new_ids[item.external_id] for item in to_create if any(ln.sku in variants for ln in item.lines)]
    written += [pk for pk, _old, _item in to_update]
    stock_sync_orders(order_ids=written, origin_connection_id=connection.pk)
    for item in to_create:
        totals.add(item.placed_at, item.currency, item.status, item.channel, item.total)
    daily_totals_apply(connection_id=connection.pk, shg_id=shg_id, delta=totals)
    return result


def _replace_lines(to_update: list[tuple[int, str, _Order]], variants: dict[str, int]) -> None:
    """Make the stored lines of changed orders equal the incoming ones, keeping the ids of lines that stay
    (stock reservations and fulfilments may point at them): update changed, insert new, delete gone."""
    stored: dict[tuple[int, str], tuple] = {
        (order_id, external_id): (pk, sku, title, quantity, unit_price, variant_id)
        for pk, order_id, external_id, sku, title, quantity, unit_price, variant_id in OrderLine.objects.filter(
            order_id__in=[pk for pk, _old, _item in to_update],
        ).values_list("id", "order_id", "external_id", "sku", "title", "quantity", "unit_price", "variant_id")
    }
    inserts, updates, keep = [], [], set()
    for order_id, _old, item in to_update:
        for ln in item.lines:
            key = (order_id, ln.external_id)
            values = [ln.sku, ln.title, ln.quantity, ln.unit_price, variants.get(ln.sku)]
            current = stored.get(key)
            if current is None:
                inserts.append([order_id, ln.external_id, *values])
                continue
            keep.add(key)
            if list(current[1:]) != values:
                updates.append([*values, current[0]])
    BulkWriter(OrderLine, LINE_INSERT_COLUMNS).insert(inserts)
    BulkWriter(OrderLine, LINE_COLUMNS).update(updates)
    gone = [current[0] for key, current in stored.items() if key not in keep]
    if gone:
        OrderLine.objects.filter(id__in=gone).delete()


def orderlines_map_variants(*, shg_id: int) -> int:
    """Link the SHG's unmapped order lines to variants whose SKU now exists (after a catalog import)."""
    match = Variant.objects.filter(shg_id=shg_id, sku=OuterRef("sku")).values("id")[:1]
    return (OrderLine.objects.filter(order__shg_id=shg_id, variant__isnull=True,
                                     sku__in=Variant.objects.filter(shg_id=shg_id).values("sku"))
            .update(variant_id=Subquery(match)))


# --- fulfilments -----------------------------------------------------------------------------------------------


class FulfilmentNotAllowed(ValidationError):
    pass


def fulfilment_create(*, order: Order, carrier: str, tracking_number: str, shipped_at: datetime | None = None,
                      tracking_url: str = "", shipping_method: str = "",
                      created_by: AbstractBaseUser | None = None) -> Fulfilment:
    """Record carrier and tracking on a merchant-fulfilled order and queue its push to the channel.

    Marketplace-fulfilled orders are read-only here: the marketplace ships them and says so itself.
    """
    if order.is_marketplace_fulfilled:
        raise FulfilmentNotAllowed("The marketplace ships this order; its tracking comes from the marketplace.")
    if order.status in (Order.Status.CANCELLED, Order.Status.RETURNED):
        raise FulfilmentNotAllowed("A cancelled or returned order is not shipped.")
    connector_class = order.connection.connector_class
    if not connector_class.supports(Capability.FULFILMENT_PUSH):
        raise FulfilmentNotAllowed(f"{connector_class.name} does not accept tracking from Haat.")
    fulfilment = Fulfilment(order=order, carrier=carrier.strip(), tracking_number=tracking_number.strip(),
                            tracking_url=tracking_url, shipping_method=shipping_method,
                            shipped_at=shipped_at or timezone.now(), created_by=created_by)
    fulfilment.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            fulfilment.save()
            publish(type="fulfilment.created", shg=order.shg, connection=order.connection,
                    payload=_fulfilment_payload(fulfilment))
    except IntegrityError:
        raise FulfilmentNotAllowed("This tracking number is already recorded for this order.") from None
    from apps.orders.tasks import enqueue_fulfilment_push

    transaction.on_commit(lambda: enqueue_fulfilment_push(fulfilment.pk))
    return fulfilment


def _fulfilment_payload(fulfilment: Fulfilment, **extra: Any) -> dict[str, Any]:
    return {"fulfilment_id": fulfilment.pk, "order_id": fulfilment.order_id,
            "order_external_id": fulfilment.order.external_id, "carrier": fulfilment.carrier,
            "tracking_number": fulfilment.tracking_number, "shipped_at": fulfilment.shipped_at.isoformat(),
            "push_state": fulfilment.push_state, **extra}


# Waits between push attempts; after the last one the fulfilment is marked failed for a person to look at.
PUSH_RETRY_DELAYS = [timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1),
                     timedelta(hours=4)]
# A push claimed this long ago without an answer was lost with its worker: it may be tried again.
PUSH_CLAIM_TIMEOUT = timedelta(minutes=15)


def fulfilment_claim(*, fulfilment_id: int) -> bool:
    """Take the right to push (pending or retrying -> pushing) in one conditional UPDATE: two workers never
    push the same parcel twice."""
    return bool(Fulfilment.objects.filter(
        pk=fulfilment_id, push_state__in=[Fulfilment.PushState.PENDING, Fulfilment.PushState.RETRYING],
    ).update(push_state=Fulfilment.PushState.PUSHING, attempts=F("attempts") + 1, updated_at=timezone.now()))


@transaction.atomic
def fulfilment_record_success(*, fulfilment: Fulfilment, external_id: str = "") -> Fulfilment:
    now = timezone.now()
    fulfilment.push_state = Fulfilment.PushState.PUSHED
    fulfilment.pushed_at = now
    fulfilment.external_id = external_id[:255]
    fulfilment.last_error = ""
    fulfilment.next_attempt_at = None
    fulfilment.save(update_fields=["push_state", "pushed_at", "external_id", "last_error", "next_attempt_at",
                                   "updated_at"])
    publish(type="fulfilment.pushed", shg=fulfilment.order.shg, connection=fulfilment.order.connection,
            payload=_fulfilment_payload(fulfilment))
    return fulfilment


@transaction.atomic
def fulfilment_record_failure(*, fulfilment: Fulfilment, error: str, retryable: bool) -> Fulfilment:
    """Keep the error; schedule the next attempt with a growing delay, or give up when it cannot help."""
    fulfilment.last_error = error[:2000]
    if retryable and fulfilment.attempts <= len(PUSH_RETRY_DELAYS):
        fulfilment.push_state = Fulfilment.PushState.RETRYING
        fulfilment.next_attempt_at = timezone.now() + PUSH_RETRY_DELAYS[fulfilment.attempts - 1]
    else:
        fulfilment.push_state = Fulfilment.PushState.FAILED
        fulfilment.next_attempt_at = None
        publish(type="fulfilment.failed", shg=fulfilment.order.shg, connection=fulfilment.order.connection,
                payload=_fulfilment_payload(fulfilment, error=fulfilment.last_error))
    fulfilment.save(update_fields=["last_error", "push_state", "next_attempt_at", "updated_at"])
    return fulfilment


def fulfilment_retry(*, fulfilment: Fulfilment) -> Fulfilment:
    """A person asks to try a failed push again (after fixing the cause): back to pending, queued now."""
    if fulfilment.push_state not in (Fulfilment.PushState.FAILED, Fulfilment.PushState.RETRYING):
        raise FulfilmentNotAllowed("Only a failed push can be retried.")
    Fulfilment.objects.filter(pk=fulfilment.pk).update(push_state=Fulfilment.PushState.PENDING, attempts=0,
                                                       next_attempt_at=None, updated_at=timezone.now())
    fulfilment.refresh_from_db()
    from apps.orders.tasks import enqueue_fulfilment_push

    transaction.on_commit(lambda: enqueue_fulfilment_push(fulfilment.pk))
    return fulfilment


def fulfilments_release_stale_claims() -> int:
    """Pushes whose worker died mid-call go back to retrying (the platform may or may not have them: the
    channel's own duplicate check on the tracking number is the last guard)."""
    return Fulfilment.objects.filter(
        push_state=Fulfilment.PushState.PUSHING, updated_at__lt=timezone.now() - PUSH_CLAIM_TIMEOUT,
    ).update(push_state=Fulfilment.PushState.RETRYING, next_attempt_at=timezone.now(), updated_at=timezone.now())


# --- privacy ------------------------------------------------------------------------------------------------------

# Keys of a platform's order document that hold a buyer's personal data (Shopify and WooCommerce names).
PERSONAL_KEYS = {"customer", "billing_address", "shipping_address", "billing", "shipping", "email", "contact_email",
                 "phone", "customer_note", "browser_ip", "client_details", "note", "buyer", "address", "buyerName",
                 "shippingAddress", "billingAddress", "customer_ip_address", "customer_user_agent"}
REDACT_BATCH = 500


def scrub_personal(document: Any) -> Any:
    """A platform document without the keys that hold a buyer's personal data (ids and amounts stay)."""
    if isinstance(document, dict):
        return {key: scrub_personal(value) for key, value in document.items() if key not in PERSONAL_KEYS}
    if isinstance(document, list):
        return [scrub_personal(item) for item in document]
    return document


def orders_redact_personal_data(*, queryset) -> int:
    """Erase buyers' names, addresses and personal keys of the raw documents of these orders, keeping what the SHG
    needs as sales records (lines, amounts, dates). Reads and writes in batches, so a whole shop fits in memory."""
    count = 0
    batch: list[Order] = []
    for order in queryset.only("id", "raw").order_by("pk").iterator(chunk_size=REDACT_BATCH):
        order.buyer_name = ""
        order.shipping_address = {}
        order.raw = scrub_personal(order.raw or {})
        batch.append(order)
        if len(batch) == REDACT_BATCH:
            Order.objects.bulk_update(batch, ["buyer_name", "shipping_address", "raw"])
            count, batch = count + len(batch), []
    if batch:
        Order.objects.bulk_update(batch, ["buyer_name", "shipping_address", "raw"])
        count += len(batch)
    return count


# --- daily totals (the overview's rollup) -------------------------------------------------------------------

DAILY_TOTALS_SPAN = 31  # days aggregated per query when rebuilding: SQLite buckets them with a CASE branch per day
# Namespace of the PostgreSQL advisory lock that keeps two rebuilds from interleaving.
DAILY_TOTALS_LOCK = 0x4861  # "Ha"


def local_day(moment: datetime) -> date:
    """The calendar day of an instant in the project's time zone (what the overview calls a day)."""
    return timezone.localtime(moment, timezone.get_default_timezone()).date()


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_default_timezone())


@dataclass
class DailyTotalsDelta:
    """How one page of orders changes its connection's daily totals, per (local day, currency): an order's share
    is (1 order, its total as revenue, 1 to ship) by the counting rules of DailyOrderTotal."""

    changes: dict[tuple[date, str], list[Any]] = field(default_factory=dict)

    def _apply(self, sign: int, placed_at: datetime, currency: str, status: str, channel: str, total: Decimal) -> None:
        if status == Order.Status.CANCELLED:
            return
        change = self.changes.setdefault((local_day(placed_at), currency), [0, Decimal("0"), 0])
        change[0] += sign
        if status != Order.Status.RETURNED:
            change[1] += sign * total
        if status == Order.Status.UNSHIPPED and channel == Order.Channel.MERCHANT:
            change[2] += sign

    def add(self, placed_at: datetime, currency: str, status: str, channel: str, total: Decimal) -> None:
        self._apply(1, placed_at, currency, status, channel, total)

    def remove(self, placed_at: datetime, currency: str, status: str, channel: str, total: Decimal) -> None:
        self._apply(-1, placed_at, currency, status, channel, total)

    def rows(self) -> list[tuple[date, str, int, Decimal, int]]:
        return [(day, currency, n, revenue, to_ship) for (day, currency), (n, revenue, to_ship) in
                sorted(self.changes.items()) if n or revenue or to_ship]


def daily_totals_apply(*, connection_id: int, shg_id: int, delta: DailyTotalsDelta) -> None:
    """Add a page's changes to its connection's daily totals in one statement (an upsert that adds).

    Adding in the database, not reading then writing, keeps two pages of one connection written at once (a
    webhook during a sync) from losing each other's orders, with no lock. Nightly `daily_totals_rebuild` of the
    last days recomputes from the orders, so a total can never stay wrong for long."""
    rows = delta.rows()
    if not rows:
        return
    qn = db_connection.ops.quote_name
    table = qn(DailyOrderTotal._meta.db_table)
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(rows))
    added = ", ".join(f"{qn(c)} = {table}.{qn(c)} + excluded.{qn(c)}" for c in ("orders", "revenue", "to_ship"))
    sql = (f"INSERT INTO {table} ({qn('connection_id')}, {qn('shg_id')}, {qn('day')}, {qn('currency')}, "  # noqa: S608
           f"{qn('orders')}, {qn('revenue')}, {qn('to_ship')}) VALUES {values} "
           f"ON CONFLICT ({qn('connection_id')}, {qn('day')}, {qn('currency')}) DO UPDATE SET {added}")
    ops = db_connection.ops
    params = [value for day, currency, n, revenue, to_ship in rows
              for value in (connection_id, shg_id, ops.adapt_datefield_value(day), currency, n,
                            ops.adapt_decimalfield_value(revenue, 16, 2), to_ship)]
    with db_connection.cursor() as cursor:
        cursor.execute(sql, params)


def _daily_aggregates(orders, first: date, last: date) -> list[dict[str, Any]]:
    """Orders (not cancelled), revenue (neither cancelled nor returned) and orders to ship per connection,
    currency and local day, for the days first..last (at most DAILY_TOTALS_SPAN of them), in one grouped query.

    PostgreSQL truncates to the local date natively; on SQLite, TruncDate with a time zone is a Python function
    per row, so days are found by comparing with their start instants (exact across DST changes too)."""
    counted = orders.filter(placed_at__gte=_day_start(first), placed_at__lt=_day_start(last + timedelta(days=1)))
    counted = counted.exclude(status=Order.Status.CANCELLED)
    measures = {"n": Count("id"), "revenue": Sum("total", filter=~Q(status=Order.Status.RETURNED)),
                "to_ship": Count("id", filter=Q(status=Order.Status.UNSHIPPED,
                                                fulfilment_channel=Order.Channel.MERCHANT))}
    keys = ("connection_id", "shg_id", "currency")
    if db_connection.vendor == "postgresql":
        day = TruncDate("placed_at", tzinfo=timezone.get_default_timezone())
        return list(counted.annotate(day=day).values("day", *keys).annotate(**measures).order_by())
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    bucket = Case(*[When(placed_at__gte=_day_start(day), then=Value(n)) for n, day in reversed(list(enumerate(days)))],
                  default=Value(-1), output_field=IntegerField())
    rows = counted.annotate(bucket=bucket).values("bucket", *keys).annotate(**measures).order_by()
    return [{**row, "day": days[row["bucket"]]} for row in rows]


def _write_daily_totals(rows: list[dict[str, Any]]) -> int:
    DailyOrderTotal.objects.bulk_create([
        DailyOrderTotal(connection_id=row["connection_id"], shg_id=row["shg_id"], day=row["day"],
                        currency=row["currency"], orders=row["n"], revenue=row["revenue"] or Decimal("0"),
                        to_ship=row["to_ship"])
        for row in rows
    ], batch_size=1000)
    return len(rows)


@transaction.atomic
def daily_totals_rebuild(*, connection_ids: Iterable[int] | None = None, since: date | None = None) -> int:
    """Recompute the daily totals of these connections (all when None) from their orders, every day or the days
    from `since` on; returns the rows written.

    For orders written around `upsert_orders` (bulk imports, benchmarks, tests), after a TIME_ZONE change, and
    nightly for the last days (`tasks.daily_totals_heal`). Rows are deleted before the orders are read: a page
    whose additions wait on those rows then adds to the recomputed totals, which did not count its orders."""
    if db_connection.vendor == "postgresql":
        with db_connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [DAILY_TOTALS_LOCK])
    orders = Order.objects.all()
    totals = DailyOrderTotal.objects.all()
    if connection_ids is not None:
        connection_ids = list(connection_ids)
        orders, totals = orders.filter(connection_id__in=connection_ids), totals.filter(connection_id__in=connection_ids)
    if since is not None:
        orders, totals = orders.filter(placed_at__gte=_day_start(since)), totals.filter(day__gte=since)
    totals.delete()
    bounds = orders.aggregate(first=Min("placed_at"), last=Max("placed_at"))
    if bounds["first"] is None:
        return 0
    first, last = local_day(bounds["first"]), local_day(bounds["last"])
    written = 0
    while first <= last:
        span_last = min(last, first + timedelta(days=DAILY_TOTALS_SPAN - 1))
        written += _write_daily_totals(_daily_aggregates(orders, first, span_last))
        first = span_last + timedelta(days=1)
    return written
