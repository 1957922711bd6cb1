"""Dashboard benchmark (issue 7): server time of the pages a coordinator opens most, with 100,000 orders stored.

Ten SHGs of one federation, three channels each (INR, INR and USD), 100,000 orders over the last 120 days with
two lines each for the orders the order page opens. The coordinator is an org admin, so every page reads all
ten SHGs: the heaviest case. Each page is requested through Django's whole stack in-process (middleware,
session, view, queries, template; no network, no static files), after a warm-up, REQUESTS times; p50 and
p95 are printed with their ratio to the 150 ms target (ratio <= 1 passes).
Pages: the orders list (first page, then a filtered one and a deep cursor page), the list's totals per
currency (a fragment the list loads after drawing), an order page (a different order each time), the
overview (all SHGs). Query plans come from ANALYZEd tables, as in production.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

from django.db import connection as db

NAME = "dashboard: server time with 100,000 orders (orders list, order page, overview)"
ORDERS = 100_000
SHGS = 10
REQUESTS = 60
WARMUP = 5
TARGET_P95_MS = 150.0
BATCH = 5_000


def seed(orders: int = ORDERS):
    from django.utils import timezone

    from apps.accounts.models import Membership
    from apps.orders.models import Order, OrderLine
    from tests.factories import make_connection, make_org, make_shg, make_user

    rng = random.Random(7)
    federation = make_org("Bench federation")
    user = make_user("bench-coordinator", organization=federation, role=Membership.Role.ORG_ADMIN)
    connections = []
    for n in range(SHGS):
        shg = make_shg(federation, name=f"Bench SHG {n}")
        connections += [(make_connection(shg, platform="shopify", last_success_at=timezone.now()), "INR"),
                        (make_connection(shg, platform="woocommerce", last_success_at=timezone.now()), "INR"),
                        (make_connection(shg, platform="amazon", last_success_at=timezone.now()), "USD")]
    now = timezone.now()
    statuses = [Order.Status.UNSHIPPED, Order.Status.SHIPPED, Order.Status.DELIVERED, Order.Status.DELIVERED,
                Order.Status.CANCELLED, Order.Status.PENDING]
    made = 0
    while made < orders:
        batch = []
        for i in range(made, min(made + BATCH, orders)):
            connection, currency = connections[i % len(connections)]
            batch.append(Order(
                connection=connection, shg_id=connection.shg_id, external_id=f"B-{i}", number=f"#{100000 + i}",
                status=rng.choice(statuses), placed_at=now - timedelta(seconds=rng.randint(0, 120 * 86400)),
                currency=currency, total=Decimal(rng.randint(100, 500000)) / 100, buyer_name=f"Buyer {rng.randint(1, 20000)}",
                shipping_address={"name": "Asha", "line1": "12 Market Road", "city": "Pune", "postcode": "411001",
                                  "country": "IN"}))
        Order.objects.bulk_create(batch, batch_size=1000)
        made += len(batch)
    sample = list(Order.objects.order_by("?").values_list("id", flat=True)[:REQUESTS + WARMUP])
    OrderLine.objects.bulk_create([OrderLine(order_id=oid, external_id=f"{oid}-{k}", sku=f"SKU-{k}", title="Handloom saree",
                                             quantity=1, unit_price=Decimal("999.00"))
                                   for oid in sample for k in range(2)])
    with db.cursor() as cursor:
        cursor.execute("ANALYZE")
    return user, sample


def timed(client, path: str, n: int = REQUESTS) -> list[float]:
    for _ in range(WARMUP):
        assert client.get(path).status_code == 200, path
    times = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, path
    return times


def report(label: str, times: list[float]) -> str:
    p50 = statistics.median(times)
    p95 = statistics.quantiles(times, n=20)[-1]
    verdict = "PASS" if p95 <= TARGET_P95_MS else "FAIL"
    return (f"{label:<44} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   p95/target {p95 / TARGET_P95_MS:4.2f}   {verdict}")


def run() -> Iterator[str]:
    """Yields its lines as it goes (seeding 100,000 orders takes a while)."""
    from django.conf import settings
    from django.test.utils import override_settings

    # Static files are not part of server time; the manifest storage would need a collectstatic first.
    storages = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    with override_settings(STORAGES=storages):
        yield from _run()


def _run() -> Iterator[str]:
    from django.test import Client
    from django.urls import reverse

    from apps.orders.selectors import encode_cursor, order_list, orders_for
    from apps.orders.services import daily_totals_rebuild

    start = time.perf_counter()
    user, sample = seed()
    yield (f"seeded {ORDERS:,} orders in {SHGS} SHGs x 3 channels in {time.perf_counter() - start:.1f} s; "
           f"{REQUESTS} timed requests per page after {WARMUP} warm-up ones; target p95 <= {TARGET_P95_MS:.0f} ms")
    # Bulk-inserted orders bypass upsert_orders, which keeps the overview's daily totals: rebuild them once.
    start = time.perf_counter()
    rows = daily_totals_rebuild()
    with db.cursor() as cursor:
        cursor.execute("ANALYZE")
    yield f"rebuilt the daily totals ({rows:,} rows) in {time.perf_counter() - start:.2f} s"
    client = Client()
    client.force_login(user)
    deep = order_list(principal=user)[5_000]
    pages = [
        ("orders list, first page", reverse("orders:list")),
        ("orders list, unshipped in one SHG", f"{reverse('orders:list')}?status=unshipped&shg={deep.shg_id}"),
        ("orders list, 100 pages deep (cursor)", f"{reverse('orders:list')}?after={encode_cursor(deep)}"),
        ("orders list's totals per currency (all)", reverse("orders:totals")),
        ("overview, all SHGs", reverse("home")),
    ]
    for label, path in pages:
        yield report(label, timed(client, path))
    # A different order each time (lines, address, timeline, the tracking form).
    times, paths = [], [reverse("orders:detail", args=[pk]) for pk in sample]
    for path in paths[:WARMUP]:
        client.get(path)
    for path in paths[WARMUP:]:
        start = time.perf_counter()
        assert client.get(path).status_code == 200
        times.append((time.perf_counter() - start) * 1000)
    yield report("order page", times)
    yield f"(orders visible to the coordinator: {orders_for(user).count():,})"
