"""Writes of stock: receipts and counted adjustments, order reservations and their release or shipment,
and the marking of listings whose channel quantity must be pushed.

Every change locks the StockItem rows it touches (`select_for_update`, in id order so two transactions
never deadlock), re-reads on hand and reserved under the lock, writes the new totals and one ledger row
per change, and publishes `inventory.updated`, all in one transaction. That lock is the oversell
protection: two orders for the last unit, from two channels at once, queue on the same row; the first
reserves it, the second finds nothing available and records its line as oversold, never a negative count.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from apps.catalog.models import Listing, Variant
from apps.events.services import EventDraft, publish_many
from apps.events.types import EventType
from apps.integrations.connectors.base import FulfilmentChannel, OrderStatus
from apps.inventory.models import StockItem, StockLocation, StockMovement, StockReservation

OPEN_STATUSES = {OrderStatus.PENDING.value, OrderStatus.UNSHIPPED.value}
SHIPPED_STATUSES = {OrderStatus.SHIPPED.value, OrderStatus.DELIVERED.value}


@dataclass
class ReservationResult:
    reserved: int = 0
    released: int = 0
    shipped: int = 0
    # (order id, order line id, units that could not be reserved)
    oversold: list[tuple[int, int | None, int]] = field(default_factory=list)
    variant_ids: set[int] = field(default_factory=set)


def default_location(*, shg_id: int) -> StockLocation:
    """The SHG's default location, created on first use (concurrent first uses meet the unique constraint)."""
    location, _ = StockLocation.objects.get_or_create(shg_id=shg_id, is_default=True, defaults={"name": "Main store"})
    return location


def _locked_items(*, variant_ids: set[int], location: StockLocation) -> dict[int, StockItem]:
    """The items of these variants at the location, created if missing, locked in id order."""
    if not variant_ids:
        return {}
    StockItem.objects.bulk_create([StockItem(variant_id=v, location=location) for v in sorted(variant_ids)],
                                  ignore_conflicts=True)
    items = StockItem.objects.select_for_update().filter(location=location, variant_id__in=variant_ids).order_by("id")
    return {item.variant_id: item for item in items}


def _movement(item: StockItem, kind: str, *, on_hand: int = 0, reserved: int = 0, reason: str = "",
              order_line_id: int | None = None, user: AbstractBaseUser | None = None) -> StockMovement:
    item.on_hand += on_hand
    item.reserved += reserved
    if item.on_hand < 0 or item.reserved < 0 or item.reserved > item.on_hand:
        raise ValidationError(f"Stock of variant {item.variant_id} would become on hand {item.on_hand}, "
                              f"reserved {item.reserved}.")
    return StockMovement(item=item, kind=kind, on_hand_delta=on_hand, reserved_delta=reserved, on_hand_after=item.on_hand,
                         reserved_after=item.reserved, reason=reason[:255], order_line_id=order_line_id, created_by=user)


def _save(items: list[StockItem], movements: list[StockMovement]) -> None:
    if not movements:
        return
    now = timezone.now()
    for item in items:
        item.updated_at = now
    StockItem.objects.bulk_update(items, ["on_hand", "reserved", "updated_at"])
    StockMovement.objects.bulk_create(movements)


def _publish_inventory(*, shg_id: int, variant_ids: set[int], connection_id: int | None = None) -> None:
    """One inventory.updated event per changed variant, with the totals over every location."""
    if not variant_ids:
        return
    totals = available_by_variant(variant_ids=variant_ids)
    skus = dict(Variant.objects.filter(id__in=variant_ids).values_list("id", "sku"))
    publish_many([
        EventDraft(type=EventType.INVENTORY_UPDATED, shg_id=shg_id, connection_id=connection_id, payload={
            "variant_id": vid, "sku": skus.get(vid, ""), **totals.get(vid, {"on_hand": 0, "reserved": 0, "available": 0}),
        })
        for vid in sorted(variant_ids)
    ])


def available_by_variant(*, variant_ids: set[int] | list[int]) -> dict[int, dict[str, int]]:
    """On hand, reserved and available of each variant, summed over its locations (one query)."""
    rows = (StockItem.objects.filter(variant_id__in=list(variant_ids)).values("variant_id")
            .annotate(on_hand=Sum("on_hand"), reserved=Sum("reserved")))
    return {row["variant_id"]: {"on_hand": row["on_hand"], "reserved": row["reserved"],
                                "available": max(row["on_hand"] - row["reserved"], 0)} for row in rows}


@transaction.atomic
def stock_adjust(*, variant: Variant, kind: str = StockMovement.Kind.ADJUSTMENT, delta: int | None = None,
                 count: int | None = None, reason: str = "", location: StockLocation | None = None,
                 user: AbstractBaseUser | None = None) -> StockItem:
    """A receipt (`delta` > 0) or an adjustment with a reason: by `delta`, or to a counted `count`."""
    if kind not in (StockMovement.Kind.RECEIPT, StockMovement.Kind.ADJUSTMENT):
        raise ValidationError({"kind": "Only receipts and adjustments are made by hand; orders reserve and ship."})
    if (delta is None) == (count is None):
        raise ValidationError("Give either a change (delta) or a counted quantity (count).")
    if kind == StockMovement.Kind.ADJUSTMENT and not reason.strip():
        raise ValidationError({"reason": "An adjustment needs a reason (count, damage, loss...)."})
    location = location or default_location(shg_id=variant.shg_id)
    if location.shg_id != variant.shg_id:
        raise ValidationError({"location": "The location belongs to another SHG."})
    item = _locked_items(variant_ids={variant.pk}, location=location)[variant.pk]
    change = delta if delta is not None else count - item.on_hand
    if kind == StockMovement.Kind.RECEIPT and change <= 0:
        raise ValidationError({"delta": "A receipt adds at least one unit."})
    if item.on_hand + change < item.reserved:
        raise ValidationError({"count": f"{item.reserved} units are reserved by open orders; on hand cannot go below that."})
    if change == 0:
        return item
    movement = _movement(item, kind, on_hand=change, reason=reason.strip(), user=user)
    _save([item], [movement])
    resolved = _resolve_oversold(variant_ids={variant.pk}) if change > 0 else None
    if resolved is not None and variant.pk in resolved.variant_ids:
        item.refresh_from_db()  # the oversold lines reserved part of it: published and propagated there
        return item
    _publish_inventory(shg_id=variant.shg_id, variant_ids={variant.pk})
    transaction.on_commit(lambda: stock_propagate(variant_ids={variant.pk}))
    return item


@transaction.atomic
def stock_sync_orders(*, order_ids: list[int], origin_connection_id: int | None = None,
                      resolve_oversold: bool = True) -> ReservationResult:
    """Bring the reservations of these orders in line with their status and lines (idempotent).

    Lines are served oldest order first. When this releases stock (a cancellation), other orders' oversold
    lines of the same variants take it (`resolve_oversold`).

    Open merchant-fulfilled orders reserve their lines' quantities; cancelled and returned ones release
    them; shipped ones turn the reservation into a shipment (on hand goes down). Marketplace-fulfilled
    orders (FBA) never touch the SHG's stock. Lines without a variant (unknown SKU) reserve nothing.
    """
    from apps.orders.models import Order, OrderLine

    result = ReservationResult()
    if not order_ids:
        return result
    orders = {row["id"]: row for row in Order.objects.filter(id__in=order_ids).values(
        "id", "shg_id", "status", "fulfilment_channel")}
    all_lines = list(OrderLine.objects.filter(order_id__in=order_ids).order_by("order_id", "id")
                     .values("id", "order_id", "variant_id", "quantity"))
    line_ids = {line["id"] for line in all_lines}
    lines = [line for line in all_lines if line["variant_id"] is not None]
    reservations = list(StockReservation.objects.filter(order_id__in=order_ids))
    if not lines and not reservations:
        return result
    by_shg: dict[int, list] = defaultdict(list)
    for line in lines:
        by_shg[orders[line["order_id"]]["shg_id"]].append(line)
    res_by_line = {r.order_line_id: r for r in reservations if r.order_line_id in line_ids}
    orphans = [r for r in reservations if r.order_line_id not in line_ids and r.state == StockReservation.State.ACTIVE]
    variants_of_items = dict(StockItem.objects.filter(id__in={r.item_id for r in reservations}).values_list("id", "variant_id"))
    shg_ids = set(by_shg) | {orders[r.order_id]["shg_id"] for r in reservations}
    changed_items: dict[int, StockItem] = {}
    movements: list[StockMovement] = []
    new_res: list[StockReservation] = []
    upd_res: list[StockReservation] = []
    for shg_id in sorted(shg_ids):
        location = default_location(shg_id=shg_id)
        wanted = {line["variant_id"] for line in by_shg.get(shg_id, [])}
        wanted |= {variants_of_items[r.item_id] for r in reservations if orders[r.order_id]["shg_id"] == shg_id}
        StockItem.objects.bulk_create([StockItem(variant_id=v, location=location) for v in sorted(wanted)],
                                      ignore_conflicts=True)
        item_ids = {r.item_id for r in reservations if orders[r.order_id]["shg_id"] == shg_id}
        locked = StockItem.objects.select_for_update().filter(
            Q(variant_id__in=wanted, location=location) | Q(id__in=item_ids)).order_by("id")
        items = {item.id: item for item in locked}
        at_location = {item.variant_id: item for item in items.values() if item.location_id == location.pk}

        def release(res: StockReservation, units: int, line_id: int | None, items=items) -> None:
            item = items[res.item_id]
            movements.append(_movement(item, StockMovement.Kind.RELEASE, reserved=-units, order_line_id=line_id))
            changed_items[item.id] = item
            result.released += units
            result.variant_ids.add(item.variant_id)

        for res in orphans:
            if orders[res.order_id]["shg_id"] != shg_id:
                continue
            if res.quantity:
                release(res, res.quantity, None)
            res.quantity, res.oversold, res.state, res.order_line_id = 0, 0, StockReservation.State.RELEASED, None
            upd_res.append(res)
        for line in by_shg.get(shg_id, []):
            order = orders[line["order_id"]]
            res = res_by_line.get(line["id"])
            marketplace = order["fulfilment_channel"] == FulfilmentChannel.MARKETPLACE.value
            if res is not None and res.state != StockReservation.State.ACTIVE:
                continue  # shipped or released for good
            if order["status"] in OPEN_STATUSES and not marketplace:
                if res is None:
                    res = StockReservation(order_id=order["id"], order_line_id=line["id"], item=at_location[line["variant_id"]])
                    new_res.append(res)
                elif res not in upd_res:
                    upd_res.append(res)
                item = items[res.item_id] if res.item_id in items else at_location[line["variant_id"]]
                want = line["quantity"]
                if want < res.quantity:
                    release(res, res.quantity - want, line["id"])
                    res.quantity = want
                elif want > res.quantity:
                    take = min(want - res.quantity, max(item.on_hand - item.reserved, 0))
                    if take:
                        movements.append(_movement(item, StockMovement.Kind.RESERVATION, reserved=take,
                                                   order_line_id=line["id"]))
                        changed_items[item.id] = item
                        res.quantity += take
                        result.reserved += take
                        result.variant_ids.add(item.variant_id)
                res.oversold = want - res.quantity
                if res.oversold:
                    result.oversold.append((order["id"], line["id"], res.oversold))
            elif res is not None and order["status"] in SHIPPED_STATUSES and not marketplace:
                item = items[res.item_id]
                if res.quantity:
                    movements.append(_movement(item, StockMovement.Kind.SHIPMENT, on_hand=-res.quantity,
                                               reserved=-res.quantity, order_line_id=line["id"]))
                    changed_items[item.id] = item
                    result.shipped += res.quantity
                    result.variant_ids.add(item.variant_id)
                res.state = StockReservation.State.SHIPPED
                upd_res.append(res)
            elif res is not None:  # cancelled, returned before shipping, or moved to the marketplace
                if res.quantity:
                    release(res, res.quantity, line["id"])
                res.quantity, res.oversold, res.state = 0, 0, StockReservation.State.RELEASED
                upd_res.append(res)
    _save(list(changed_items.values()), movements)
    StockReservation.objects.bulk_create(new_res)
    if upd_res:
        now = timezone.now()
        for res in upd_res:
            res.updated_at = now
        StockReservation.objects.bulk_update(upd_res, ["order_line", "quantity", "oversold", "state", "updated_at"])
    if result.variant_ids:
        for shg_id in shg_ids:
            mine = set(Variant.objects.filter(shg_id=shg_id, id__in=result.variant_ids).values_list("id", flat=True))
            _publish_inventory(shg_id=shg_id, variant_ids=mine, connection_id=origin_connection_id)
        changed = set(result.variant_ids)
        transaction.on_commit(lambda: stock_propagate(variant_ids=changed, exclude_connection_id=origin_connection_id))
    if resolve_oversold and result.released:
        _resolve_oversold(variant_ids=result.variant_ids, exclude_order_ids=order_ids)
    return result


def _resolve_oversold(*, variant_ids: set[int], exclude_order_ids: list[int] | tuple = ()) -> ReservationResult | None:
    """Stock came back (a receipt, a count up, a cancellation): the oversold lines of these variants take it,
    oldest order first, through the same reservation path as an order update. Lines still short stay oversold."""
    if not variant_ids:
        return None
    order_ids = sorted(set(StockReservation.objects.filter(
        state=StockReservation.State.ACTIVE, oversold__gt=0, item__variant_id__in=list(variant_ids),
    ).exclude(order_id__in=list(exclude_order_ids)).values_list("order_id", flat=True)))
    if not order_ids:
        return None
    return stock_sync_orders(order_ids=order_ids, resolve_oversold=False)


def stock_reserve_for_order(*, order) -> ReservationResult:
    """Reserve (or re-check) the stock of one order's lines; the same path as every order page."""
    return stock_sync_orders(order_ids=[order.pk], origin_connection_id=order.connection_id)


def stock_release_for_order(*, order) -> ReservationResult:
    """Release what a cancelled order holds. The order's status says cancelled, so syncing it releases."""
    if order.status not in (OrderStatus.CANCELLED, OrderStatus.RETURNED):
        raise ValidationError("Only a cancelled or returned order gives its stock back.")
    return stock_sync_orders(order_ids=[order.pk], origin_connection_id=order.connection_id)


def stock_propagate(*, variant_ids: set[int] | list[int], exclude_connection_id: int | None = None) -> int:
    """Mark every listing of these variants for a quantity push (one UPDATE) and queue one coalesced push per
    channel. The channel the change came from (an order's own) already knows: it is left out. Listings the
    marketplace fulfils (FBA) are never pushed."""
    listings = _pushable_listings(variant_ids)
    if exclude_connection_id is not None:
        listings = listings.exclude(connection_id=exclude_connection_id)
    return _mark_and_enqueue(listings)


def stock_push_request(*, variant_ids: set[int] | list[int], connection_ids: set[int] | list[int] | None = None) -> int:
    """Push these variants' current quantities again, to every channel or only to `connection_ids` (a partner's or
    coordinator's "sync stock now"): the same marking and coalesced push as a change. Returns the listings marked."""
    listings = _pushable_listings(variant_ids)
    if connection_ids is not None:
        listings = listings.filter(connection_id__in=list(connection_ids))
    return _mark_and_enqueue(listings)


def _pushable_listings(variant_ids):
    ids = variant_ids if isinstance(variant_ids, QuerySet) else list(variant_ids)  # a queryset stays a subquery
    return Listing.objects.filter(variant_id__in=ids, fulfilled_by_marketplace=False).exclude(
        state__in=[Listing.State.DRAFT, Listing.State.DELISTED, Listing.State.ERROR])


def _mark_and_enqueue(listings) -> int:
    from apps.inventory.tasks import enqueue_stock_push

    connection_ids = set(listings.values_list("connection_id", flat=True))
    if not connection_ids:
        return 0
    marked = listings.update(stock_dirty=True)
    for connection_id in sorted(connection_ids):
        enqueue_stock_push(connection_id)
    return marked


def push_quantity(*, available: int, buffer: int | None, maximum: int | None) -> int:
    """What a channel is shown: available minus its buffer, capped by its maximum, never below zero."""
    quantity = max(available - (buffer or 0), 0)
    return min(quantity, maximum) if maximum is not None else quantity


def stock_audit(*, item: StockItem) -> dict[str, int | bool]:
    """Recompute the item's totals from its ledger: they must equal the stored ones."""
    sums = item.movements.aggregate(on_hand=Sum("on_hand_delta"), reserved=Sum("reserved_delta"))
    on_hand, reserved = sums["on_hand"] or 0, sums["reserved"] or 0
    return {"on_hand": on_hand, "reserved": reserved, "ok": (on_hand, reserved) == (item.on_hand, item.reserved)}


@transaction.atomic
def stock_set_counts(*, shg_id: int, counts: dict[int, int], reason: str, user: AbstractBaseUser | None = None) -> int:
    """Set counted on-hand quantities of many variants at the default location in one go (a stock import):
    one adjustment per changed variant, refused whole if any count is below what open orders reserve."""
    if not counts:
        return 0
    if not reason.strip():
        raise ValidationError({"reason": "An adjustment needs a reason."})
    location = default_location(shg_id=shg_id)
    items = _locked_items(variant_ids=set(counts), location=location)
    short = {vid: item.reserved for vid, item in items.items() if counts[vid] < item.reserved}
    if short:
        raise ValidationError([f"Variant {vid}: {held} units are reserved by open orders." for vid, held in short.items()])
    movements, changed = [], []
    for vid, item in items.items():
        delta = counts[vid] - item.on_hand
        if delta:
            movements.append(_movement(item, StockMovement.Kind.ADJUSTMENT, on_hand=delta, reason=reason.strip(), user=user))
            changed.append(item)
    _save(changed, movements)
    variant_ids = {item.variant_id for item in changed}
    resolved = _resolve_oversold(variant_ids={m.item.variant_id for m in movements if m.on_hand_delta > 0})
    variant_ids -= resolved.variant_ids if resolved is not None else set()
    _publish_inventory(shg_id=shg_id, variant_ids=variant_ids)
    if variant_ids:
        transaction.on_commit(lambda: stock_propagate(variant_ids=variant_ids))
    return len(changed)


def marketplace_stock_refresh(*, connection) -> int:
    """Read what the marketplace holds in its own warehouses (Amazon FBA) and store it for display only."""
    from apps.integrations.connectors.base import Capability
    from apps.integrations.connectors.registry import build_connector
    from apps.inventory.models import MarketplaceStock

    connector = build_connector(connection)
    if not connector.supports(Capability.MARKETPLACE_INVENTORY):
        raise ValidationError(f"{connector.name} does not report marketplace-held stock.")
    rows: dict[str, MarketplaceStock] = {}
    cursor = None
    now = timezone.now()
    while True:
        page = connector.fetch_marketplace_inventory(cursor=cursor)
        for item in page.items:
            rows[item.sku] = MarketplaceStock(connection=connection, sku=item.sku[:255], external_id=item.external_id[:255],
                                              quantity=item.quantity, fetched_at=now)
        cursor = page.next_cursor
        if not cursor:
            break
    variants = dict(Variant.objects.filter(shg_id=connection.shg_id, sku__in=list(rows)).values_list("sku", "id"))
    for sku, row in rows.items():
        row.variant_id = variants.get(sku)
    with transaction.atomic():
        MarketplaceStock.objects.filter(connection=connection).exclude(sku__in=list(rows)).delete()
        MarketplaceStock.objects.bulk_create(list(rows.values()), update_conflicts=True, unique_fields=["connection", "sku"],
                                             update_fields=["variant", "external_id", "quantity", "fetched_at"])
    return len(rows)
