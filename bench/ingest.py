"""Ingest benchmark (issue 4): 10,000 orders of 3 lines through `orders.services.upsert_orders`.

Compared in one run, on one database, from the same normalized orders (what connectors return):
- raw floor: the same order and line rows written with the DB cursor's executemany (values adapted,
  JSON serialized, order ids read back for the lines' foreign key), in one transaction;
- naive loop: the straightforward idempotent ORM code, `update_or_create` per order and per line (a lookup
  and one save each), a transaction per page like upsert_orders; an insert-only variant (one `save()` per
  row, no lookup: it would duplicate everything on a second run) is measured too, for reference;
- upsert_orders: pages of PAGE_SIZE orders, one transaction each, as the sync engine calls it (reads
  what is stored, hashes, maps SKUs to variants, writes orders, lines and outbox events);
- re-ingest: the same orders again, unchanged: rows written must be 0.
Targets (issue 4): upsert >= 40% of the raw floor's rate, >= 10x the naive loop's, re-ingest <= 1/3 of the
ingest, writing 0 rows.
Peak memory is measured with tracemalloc in a separate pass (tracing slows Python down, so timed runs
do not trace).
"""

from __future__ import annotations

import gc
import json
import random
import resource
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection as db
from django.db import transaction

from apps.integrations.connectors.base import FulfilmentChannel, OrderData, OrderLineData, OrderStatus

NAME = "ingest: 10,000 orders x 3 lines through upsert_orders"
ORDERS = 10_000
LINES_PER_ORDER = 3
PAGE_SIZE = 100
REPEAT = 3  # the raw floor, upsert_orders and the re-ingest are timed best of 3; the slow naive loops once
TARGET_RAW_SHARE = 0.40
TARGET_NAIVE_FACTOR = 10.0
TARGET_REINGEST_SHARE = 1 / 3


def make_orders(count: int = ORDERS, seed: int = 4) -> list[OrderData]:
    """Orders shaped like a web store's, with a raw document of realistic size (~1 KB)."""
    rng = random.Random(seed)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    statuses = [OrderStatus.UNSHIPPED, OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.CANCELLED]
    orders = []
    for i in range(count):
        placed = start + timedelta(seconds=i * 181)
        updated = placed + timedelta(minutes=rng.randint(0, 600))
        lines = []
        for n in range(LINES_PER_ORDER):
            price = Decimal(rng.randint(50, 2500)).quantize(Decimal("0.01"))
            lines.append(OrderLineData(external_id=f"{100000 + i}{n:02d}", sku=f"HAAT-{rng.randint(1, 400):04d}",
                                       title=f"Handloom item {rng.randint(1, 400)}", quantity=rng.randint(1, 3),
                                       unit_price=price))
        total = sum((ln.unit_price * ln.quantity for ln in lines), Decimal("0"))
        status = rng.choice(statuses)
        address = {"first_name": "Anita", "last_name": "Sharma", "address_1": f"{rng.randint(1, 400)} MG Road",
                   "city": "Pune", "state": "MH", "postcode": "411001", "country": "IN"}
        raw = {
            "id": 100000 + i, "number": str(1000 + i), "status": status.value, "currency": "INR",
            "date_created_gmt": placed.isoformat(), "date_modified_gmt": updated.isoformat(), "total": str(total),
            "billing": {**address, "email": "anita.sharma@example.in", "phone": "+919800000000"}, "shipping": address,
            "payment_method": "cod", "payment_method_title": "Cash on delivery", "customer_note": "",
            "line_items": [{"id": int(ln.external_id), "name": ln.title, "sku": ln.sku, "quantity": ln.quantity,
                            "price": str(ln.unit_price), "total": str(ln.unit_price * ln.quantity)} for ln in lines],
        }
        orders.append(OrderData(
            external_id=str(100000 + i), status=status, raw_status=status.value, placed_at=placed, updated_at=updated,
            currency="INR", total=total, lines=lines, fulfilment_channel=FulfilmentChannel.MERCHANT,
            buyer_name="Anita Sharma", shipping_address=address, number=str(1000 + i), raw=raw,
        ))
    return orders


# --- the three ways to write ------------------------------------------------------------------------------------


def raw_floor(connection, orders: list[OrderData]) -> None:
    """The same rows through the driver's executemany: the least work that stores them."""
    from apps.orders.models import Order, OrderLine

    ops = db.ops
    is_pg = db.vendor == "postgresql"
    qn = ops.quote_name
    json_ph = "%s::jsonb" if is_pg else "%s"
    now = ops.adapt_datetimefield_value(datetime.now(UTC))
    order_sql = (
        f"INSERT INTO {qn(Order._meta.db_table)} (connection_id, shg_id, external_id, number, status, raw_status, "
        "placed_at, remote_updated_at, currency, total, buyer_name, shipping_address, fulfilment_channel, raw, "
        f"content_hash, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, {json_ph}, %s, "
        f"{json_ph}, %s, %s, %s)"
    )
    line_sql = (f"INSERT INTO {qn(OrderLine._meta.db_table)} (order_id, external_id, sku, title, quantity, unit_price) "
                "VALUES (%s, %s, %s, %s, %s, %s)")
    adapt_dt = ops.adapt_datetimefield_value
    with transaction.atomic(), db.cursor() as cursor:
        cursor.executemany(order_sql, [
            (connection.pk, connection.shg_id, o.external_id, o.number, o.status.value, o.raw_status,
             adapt_dt(o.placed_at), adapt_dt(o.updated_at), o.currency, o.total, o.buyer_name,
             json.dumps(o.shipping_address, cls=DjangoJSONEncoder), o.fulfilment_channel.value,
             json.dumps(o.raw, cls=DjangoJSONEncoder), "", now, now)
            for o in orders
        ])
        cursor.execute(f"SELECT external_id, id FROM {qn(Order._meta.db_table)} WHERE connection_id = %s",
                       [connection.pk])
        ids = dict(cursor.fetchall())
        cursor.executemany(line_sql, [
            (ids[o.external_id], ln.external_id, ln.sku, ln.title, ln.quantity, ln.unit_price)
            for o in orders for ln in o.lines
        ])


def _order_fields(o: OrderData) -> dict:
    return {"number": o.number, "status": o.status.value, "raw_status": o.raw_status, "placed_at": o.placed_at,
            "remote_updated_at": o.updated_at, "currency": o.currency, "total": o.total, "buyer_name": o.buyer_name,
            "shipping_address": o.shipping_address, "fulfilment_channel": o.fulfilment_channel.value, "raw": o.raw}


def naive_save_loop(connection, orders: list[OrderData], page_size: int = PAGE_SIZE) -> None:
    """Insert-only: an ORM save per order and per line (not idempotent: a second run would duplicate)."""
    from apps.orders.models import Order, OrderLine

    for start in range(0, len(orders), page_size):
        with transaction.atomic():
            for o in orders[start: start + page_size]:
                order = Order(connection=connection, shg_id=connection.shg_id, external_id=o.external_id,
                              **_order_fields(o))
                order.save()
                for ln in o.lines:
                    OrderLine(order=order, external_id=ln.external_id, sku=ln.sku, title=ln.title,
                              quantity=ln.quantity, unit_price=ln.unit_price).save()


def naive_loop(connection, orders: list[OrderData], page_size: int = PAGE_SIZE) -> None:
    """The straightforward idempotent ORM code: update_or_create (a lookup and a save) per order and per line."""
    from apps.orders.models import Order, OrderLine

    for start in range(0, len(orders), page_size):
        with transaction.atomic():
            for o in orders[start: start + page_size]:
                order, _ = Order.objects.update_or_create(
                    connection=connection, external_id=o.external_id,
                    defaults={"shg_id": connection.shg_id, **_order_fields(o)})
                for ln in o.lines:
                    OrderLine.objects.update_or_create(
                        order=order, external_id=ln.external_id,
                        defaults={"sku": ln.sku, "title": ln.title, "quantity": ln.quantity, "unit_price": ln.unit_price})


def upsert_in_pages(connection, orders: list[OrderData], page_size: int = PAGE_SIZE):
    from apps.orders.services import UpsertResult, upsert_orders

    total = UpsertResult()
    for start in range(0, len(orders), page_size):
        result = upsert_orders(connection=connection, orders=orders[start: start + page_size])
        total.created += result.created
        total.updated += result.updated
        total.unchanged += result.unchanged
    return total


# --- measuring --------------------------------------------------------------------------------------------------


class WriteCounter:
    """Counts INSERT/UPDATE/DELETE statements and the rows they carry (executemany rows included)."""

    def __init__(self):
        self.statements = 0
        self.rows = 0

    def __call__(self, execute, sql, params, many, context):
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            self.statements += 1
            self.rows += len(params) if many else 1
        return execute(sql, params, many, context)


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    gc.collect()
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def _clear() -> None:
    from apps.events.models import Event
    from apps.orders.models import Order, OrderLine

    with transaction.atomic(), db.cursor() as cursor:
        for model in (OrderLine, Order, Event):
            cursor.execute(f"DELETE FROM {db.ops.quote_name(model._meta.db_table)}")
    if db.vendor == "postgresql":
        with db.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    else:
        with db.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _setup():
    """An SHG and a factory of fresh connections (one per measurement, so each starts from nothing)."""
    from apps.accounts.models import SHG, Organization
    from apps.integrations.models import Connection

    federation = Organization.objects.create(name="Bench federation")
    shg = SHG.objects.create(federation=federation, name="Bench SHG", registration_number="BENCH-1", state="Maharashtra",
                             district="Pune", contact_person="Bench", phone="+91 98000 00000")
    counter = iter(range(1, 1000))

    def new_connection():
        n = next(counter)
        return Connection.objects.create(shg=shg, platform="woocommerce", display_name=f"Bench store {n}",
                                         external_account_id=f"bench-{n}", status=Connection.Status.ACTIVE)

    return shg, new_connection


def _verdict(ok: bool) -> str:
    return "meets target" if ok else "BELOW TARGET"


def run() -> list[str]:
    from apps.events.models import Event
    from apps.orders.models import Order, OrderLine

    orders = make_orders()
    _shg, new_connection = _setup()
    report = [f"{ORDERS:,} orders x {LINES_PER_ORDER} lines; upsert_orders and the naive loops in pages of {PAGE_SIZE}, "
              f"one transaction per page; best of {REPEAT} for the floor, the upsert and the re-ingest"]
    lines_expected = ORDERS * LINES_PER_ORDER

    def once(write) -> tuple[float, object]:
        _clear()
        target = new_connection()
        seconds, _ = timed(lambda: write(target, orders))
        assert OrderLine.objects.filter(order__connection=target).count() == lines_expected
        return seconds, target

    # Best of REPEAT, the floor and the upsert interleaved so that both meet the same neighbours on a shared
    # machine (load only ever adds time).
    raw_s = upsert_s = float("inf")
    for _ in range(REPEAT):
        raw_s = min(raw_s, once(raw_floor)[0])
        seconds, target = once(upsert_in_pages)
        upsert_s = min(upsert_s, seconds)

    events = Event.objects.count()
    assert Order.objects.filter(connection=target).count() == ORDERS and events == ORDERS
    counter = WriteCounter()
    reingest_s = float("inf")
    with db.execute_wrapper(counter):
        for _ in range(REPEAT):
            seconds, again = timed(lambda: upsert_in_pages(target, orders))
            assert again.unchanged == ORDERS and again.written == 0
            reingest_s = min(reingest_s, seconds)
    assert Event.objects.count() == events

    naive_s = once(naive_loop)[0]
    save_s = once(naive_save_loop)[0]

    _clear()
    memory_target = new_connection()
    tracemalloc.start()
    upsert_in_pages(memory_target, orders)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert Order.objects.filter(connection=memory_target).count() == ORDERS

    def rate(seconds: float) -> float:
        return ORDERS / seconds

    raw_share = rate(upsert_s) / rate(raw_s)
    naive_factor = rate(upsert_s) / rate(naive_s)
    save_factor = rate(upsert_s) / rate(save_s)
    reingest_share = reingest_s / upsert_s

    def row(label: str, seconds: float, note: str = "") -> str:
        return f"{label:<44}{seconds:8.2f} s {rate(seconds):10,.0f} orders/s{note}"

    report += [
        row("raw floor (executemany, one transaction)", raw_s),
        row("naive loop (update_or_create per row)", naive_s),
        row("naive insert-only loop (save per row)", save_s, "   (not idempotent)"),
        row("upsert_orders", upsert_s, f"   (+ {events:,} outbox events)"),
        row("re-ingest, unchanged", reingest_s, f"   rows written: {counter.rows} in {counter.statements} statements"),
        f"peak memory of the upsert ingest (tracemalloc, beyond its input): {peak / 2**20:.1f} MiB; "
        f"process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB",
        "ratios:",
        f"  upsert / raw floor rate            {raw_share:6.0%}   target >= {TARGET_RAW_SHARE:.0%}   "
        f"{_verdict(raw_share >= TARGET_RAW_SHARE)}",
        f"  upsert / naive loop rate           {naive_factor:6.1f}x  target >= {TARGET_NAIVE_FACTOR:.0f}x    "
        f"{_verdict(naive_factor >= TARGET_NAIVE_FACTOR)}",
        f"  upsert / naive insert-only rate    {save_factor:6.1f}x  (for reference: it does less work)",
        f"  re-ingest / ingest time            {reingest_share:6.0%}   target <= 33%    "
        f"{_verdict(reingest_share <= TARGET_REINGEST_SHARE and counter.rows == 0)}",
    ]
    return report
