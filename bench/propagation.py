"""Propagation benchmark (issue 6): from a Shopify order webhook accepted to the new quantity received by
every other channel's sandbox, with the worker running. Target: p95 <= 2 s.

Everything runs for real, over this run's throwaway database: gunicorn serves the app *and* the sandbox
marketplaces on a loopback port (SANDBOX on, as in `make demo`), and a real `manage.py qcluster` process
(django-q2, the database broker, its default 2 workers) processes the webhooks and pushes stock. One SHG
sells on Shopify (the orders arrive as signed orders/create webhooks) and on WooCommerce, Amazon and
Flipkart, whose catalogues are imported from their sandboxes as listings (`listings_import_from_channel`,
in a subprocess with the server's environment) and given 10,000 units of stock per SKU.

Then 200 one-unit orders, spread round-robin over the SKUs, are sent open loop at a fixed rate
(HAAT_BENCH_PROPAGATION_RATE, default 4/s). A poller reads the three sandboxes' stock documents (the
product rows each sandbox writes when Haat's push reaches it) every 10 ms. For the k-th order of a SKU the
quantity every other channel must show is 10,000 - k; its latency runs from the webhook's 200 answer to the
moment the last of the three sandboxes shows that quantity or less. Coalescing means one push may carry
several orders: each order is still timed to the push that carried it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.conf import settings

from bench.webhooks import (
    APP_SECRET,
    SHOP,
    database_url,
    free_port,
    headers_for,
    order_payload,
    percentile,
    post,
    wait_until_up,
)

NAME = "propagation: Shopify order webhook -> new quantity on every other channel's sandbox (worker running)"
ORDERS = int(os.environ.get("HAAT_BENCH_PROPAGATION_ORDERS", "200"))
RATE = float(os.environ.get("HAAT_BENCH_PROPAGATION_RATE", "4"))
MAX_SKUS = 10
ALONE = 10  # orders sent one at a time before the open-loop run
START_STOCK = 10_000
TARGET_P95 = 2.0
POLL_SECONDS = 0.01
SETTLE_TIMEOUT = 180.0
# (platform, sandbox account id, name): the channels that must receive each new quantity.
CHANNELS = [("woocommerce", "bench-store", "Bench web store"), ("amazon", "A2HAATBENCH01", "Bench Amazon seller"),
            ("flipkart", "bench-flipkart", "Bench Flipkart seller")]
ROOT = Path(__file__).resolve().parent.parent


def server_env(port: int) -> dict[str, str]:
    origin = f"http://127.0.0.1:{port}"
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": database_url(),
            "SECRET_KEY": settings.SECRET_KEY, "SHOPIFY_CLIENT_SECRET": APP_SECRET, "SANDBOX": "on",
            "SANDBOX_ROOT_URL": f"{origin}/sandbox", "SITE_URL": origin, "SANDBOX_WEBHOOK_TARGET": origin,
            "SANDBOX_FAULTS": "", "DEBUG": "off", "Q_SYNC": "off", "LOG_LEVEL": "WARNING",
            # The worker's broker: the database (the default, polled) or HAAT_BENCH_Q_BROKER_URL (redis://...).
            "Q_BROKER_URL": os.environ.get("HAAT_BENCH_Q_BROKER_URL", "")}


def start(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    # Its own process group, so stopping it stops the workers it forked.
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


# --- the setup, run in a subprocess with the server's environment (SANDBOX on) ---------------------------------


def setup() -> dict:
    """Sandbox accounts, connections, imported listings and the opening stock; returns what the run needs."""
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from apps.catalog.models import Listing
    from apps.catalog.services import listings_import_from_channel
    from apps.inventory.services import stock_adjust
    from apps.sandbox import dataset
    from apps.sandbox.platforms import woocommerce
    from tests.factories import make_connection, make_shg

    root = settings.SANDBOX_ROOT_URL
    # The worker's dispatcher would sync these channels' own sandbox orders, which reserve stock too: only the
    # benchmark's orders may move it, so no scheduled sync falls due during the run.
    later = timezone.now() + timedelta(days=7)
    shg = make_shg(name="Propagation Bench SHG")
    shop = make_connection(shg, platform="shopify", display_name="Bench Shopify shop", external_account_id=SHOP,
                           credentials={"access_token": "shpat_" + "b" * 32}, config={"shop": SHOP, "currency": "INR"},
                           next_sync_at=later)
    channels, accounts, account_rows = [], {}, {}
    for platform, account_id, name in CHANNELS:
        module = __import__(f"apps.sandbox.platforms.{platform}", fromlist=["create_demo_account"])
        account = module.create_demo_account(account_id, name)
        if not account.seeded:
            # One catalogue everywhere (Amazon's demo seller uses its own SKU prefix and FBA for some SKUs).
            account.settings.update(sku_prefix="HAAT", marketplace_fulfilment=False)
            account.save(update_fields=["settings"])
        connection = make_connection(shg, platform=platform, display_name=name, external_account_id=account.account_id,
                                     credentials=dict(module.connection_credentials(account)),
                                     config=module.connection_config(account, root), next_sync_at=later)
        listings_import_from_channel(connection=connection)
        channels.append(connection)
        accounts[platform], account_rows[platform] = account.pk, account
    simple = {row.data["sku"] for row in dataset.objects(account_rows["woocommerce"], "product")
              if row.data.get("category") not in woocommerce.VARIABLE_CATEGORIES}
    listed: dict[str, set[int]] = {}
    for sku, connection_id, fba in Listing.objects.filter(shg=shg).values_list("variant__sku", "connection_id",
                                                                               "fulfilled_by_marketplace"):
        if not fba:
            listed.setdefault(sku, set()).add(connection_id)
    skus = sorted(sku for sku, ids in listed.items() if sku in simple and ids == {c.pk for c in channels})[:MAX_SKUS]
    with transaction.atomic():
        for listing in Listing.objects.filter(shg=shg, variant__sku__in=skus).select_related("variant").distinct():
            if listing.connection_id == channels[0].pk:
                stock_adjust(variant=listing.variant, kind="receipt", delta=START_STOCK, reason="bench opening stock")
    per_channel = {c.platform: Listing.objects.filter(connection=c).count() for c in channels}
    return {"shop_uuid": str(shop.uuid), "skus": skus, "accounts": accounts, "per_channel": per_channel,
            "listings": Listing.objects.filter(shg=shg, variant__sku__in=skus).count()}


# --- measuring ----------------------------------------------------------------------------------------------------


class StockPoller(threading.Thread):
    """Reads the sandboxes' stock documents every POLL_SECONDS; keeps each (account, sku)'s quantity changes."""

    def __init__(self, account_ids: list[int], skus: list[str]):
        super().__init__(daemon=True)
        self.account_ids, self.skus = account_ids, skus
        self.series: dict[tuple[int, str], list[tuple[float, int]]] = {}
        self.reads = 0
        self.stopping = threading.Event()

    def current(self) -> dict[tuple[int, str], int]:
        return {key: points[-1][1] for key, points in self.series.items()}

    def run(self) -> None:
        from django.db import connection

        from apps.sandbox.models import SandboxObject

        try:
            while not self.stopping.is_set():
                rows = SandboxObject.objects.filter(account_id__in=self.account_ids, kind="product",
                                                    key__in=self.skus).values_list("account_id", "key", "data")
                now = time.perf_counter()
                for account_id, sku, data in rows:
                    quantity = int(data.get("quantity") or 0)
                    points = self.series.setdefault((account_id, sku), [])
                    if not points or points[-1][1] != quantity:
                        points.append((now, quantity))
                self.reads += 1
                time.sleep(POLL_SECONDS)
        finally:
            connection.close()

    def first_at_most(self, key: tuple[int, str], quantity: int, after: float = 0.0) -> float | None:
        for at, value in self.series.get(key, []):
            if value <= quantity and at >= after:
                return at
        return None


def wait_for(poller: StockPoller, expected: dict[tuple[int, str], int], timeout: float) -> float | None:
    """Seconds until every (account, sku) shows its expected quantity, or None at the timeout."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if all(poller.current().get(key) == value for key, value in expected.items()):
            return time.perf_counter() - started
        time.sleep(0.05)
    return None


def shopify_order(n: int, sku: str, rng: random.Random) -> bytes:
    payload = order_payload(700_000 + n, rng)
    line = dict(payload["line_items"][0], sku=sku, quantity=1, price="240.00", fulfillable_quantity=1)
    payload.update(line_items=[line], subtotal_price="240.00", total_price="240.00")
    return json.dumps(payload, separators=(",", ":")).encode()


def fire(port: int, path: str, bodies: list[bytes]) -> list[tuple[float, float, int]]:
    """Send each body at its planned time (open loop); returns (sent, answered, status) per order."""
    results: list[tuple[float, float, int] | None] = [None] * len(bodies)
    start_at = time.perf_counter() + 0.2

    def send(index: int) -> None:
        delay = start_at + index / RATE - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        sent = time.perf_counter()
        try:
            status, _detail = post(port, path, bodies[index], headers_for(bodies[index]))
        except OSError:
            status = 0
        results[index] = (sent, time.perf_counter(), status)

    with ThreadPoolExecutor(max_workers=16) as pool:
        for index in range(len(bodies)):
            while start_at + index / RATE - time.perf_counter() > 0.5:
                time.sleep(0.01)
            pool.submit(send, index)
    return [r for r in results if r is not None]


def run() -> list[str]:
    from django_q.models import Task

    from apps.catalog.models import Listing
    from apps.orders.models import Order

    lines: list[str] = []
    results: list[tuple[float, float, int]] = []
    sold: dict[str, int] = {}
    alone: list[float] = []
    port = free_port()
    env = server_env(port)
    with tempfile.TemporaryDirectory(prefix="haat-bench-propagation-") as tmp:
        web = start([sys.executable, "-m", "gunicorn", "config.wsgi:application", "--workers", "2", "--threads", "4",
                     "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "--timeout", "60"], env,
                    Path(tmp) / "gunicorn.log")
        worker = None
        try:
            wait_until_up(port, web)
            worker = start([sys.executable, "manage.py", "qcluster"], env, Path(tmp) / "qcluster.log")
            made = subprocess.run([sys.executable, "-m", "bench.propagation", "setup"], cwd=ROOT, env=env,
                                  capture_output=True, text=True, timeout=600)
            if made.returncode != 0:
                return [f"setup failed: {made.stderr[-2000:]}"]
            info = json.loads(made.stdout.strip().splitlines()[-1])
            skus, accounts = info["skus"], info["accounts"]
            if not skus:
                return [f"setup found no SKU listed on every channel: listings per channel {info['per_channel']}"]
            poller = StockPoller(list(accounts.values()), skus)
            poller.start()
            opening = {(account, sku): START_STOCK for account in accounts.values() for sku in skus}
            settled = wait_for(poller, opening, SETTLE_TIMEOUT)
            # Quantities seen before the opening stock arrived (the sandbox's own seed) are not arrivals.
            opened_at = time.perf_counter()
            lines.append(f"channels: Shopify (orders by webhook) -> {', '.join(p for p, *_ in CHANNELS)}; "
                         f"{len(skus)} SKUs listed on all three ({info['listings']} listings); worker: qcluster, "
                         f"{settings.Q_CLUSTER['workers']} workers, "
                         + (f"Redis broker ({env['Q_BROKER_URL']})" if env["Q_BROKER_URL"] else
                            f"database broker polled every {settings.Q_CLUSTER.get('poll', 0.2)} s")
                         + f"; database: {settings.DATABASES['default']['ENGINE']}")
            if settled is None:
                lines.append("opening stock did not reach every sandbox in time: "
                             f"{sorted(k for k, v in opening.items() if poller.current().get(k) != v)[:5]}")
                return lines
            lines.append(f"opening stock ({START_STOCK} x {len(skus)} SKUs) on every sandbox after {settled:.1f} s")

            rng = random.Random(6)
            path = f"/webhooks/shopify/{info['shop_uuid']}/"
            # First, orders one at a time, each waiting for its quantity everywhere: the latency with nothing queued.
            sold = dict.fromkeys(skus, 0)
            alone = []
            for n in range(ALONE):
                sku = skus[n % len(skus)]
                body = shopify_order(900 + n, sku, rng)
                post(port, path, body, headers_for(body))
                answered = time.perf_counter()
                sold[sku] += 1
                target = {(account, sku): START_STOCK - sold[sku] for account in accounts.values()}
                if wait_for(poller, target, 30) is not None:
                    alone.append(max(poller.first_at_most(key, value, after=opened_at) for key, value in target.items())
                                 - answered)
            plan = [skus[n % len(skus)] for n in range(ORDERS)]
            bodies = [shopify_order(n, sku, rng) for n, sku in enumerate(plan)]
            pushes_before = Task.objects.filter(group="stock-push").count()
            results = fire(port, path, bodies)
            final = {(account, sku): START_STOCK - sold[sku] - plan.count(sku) for account in accounts.values()
                     for sku in skus}
            drained = wait_for(poller, final, SETTLE_TIMEOUT)
            poller.stopping.set()
            poller.join(timeout=5)
        finally:
            if worker is not None:
                stop(worker)
            stop(web)
        worker_log = (Path(tmp) / "qcluster.log").read_text(errors="replace")

    statuses = [status for _sent, _answered, status in results]
    order_rank: dict[int, int] = {}
    seen: dict[str, int] = dict(sold)  # the one-at-a-time orders came first
    # The k-th order of a SKU (in the order the app accepted them) must bring every channel to START - k.
    for index in sorted(range(len(results)), key=lambda i: results[i][1]):
        seen[plan[index]] = seen.get(plan[index], 0) + 1
        order_rank[index] = seen[plan[index]]
    latencies, missing = [], 0
    for index, (_sent, answered, status) in enumerate(results):
        if status != 200:
            continue
        arrivals = [poller.first_at_most((account, plan[index]), START_STOCK - order_rank[index], after=opened_at)
                    for account in accounts.values()]
        if any(at is None for at in arrivals):
            missing += 1
            continue
        latencies.append(max(arrivals) - answered)
    if alone:
        lines.append(f"one at a time ({len(alone)} orders, nothing queued): p50 {percentile(alone, 0.5) * 1000:.0f} ms, "
                     f"max {max(alone) * 1000:.0f} ms")
    lines.append(f"sent {len(results)} signed orders/create webhooks at {RATE:g}/s: "
                 + ", ".join(f"{s}: {statuses.count(s)}" for s in sorted(set(statuses)))
                 + f"; Shopify orders stored: {Order.objects.filter(connection__platform='shopify').count()} "
                 f"(with the {len(alone)} sent one at a time)")
    if not latencies:
        lines.append("no order's quantity reached every channel: " + worker_log[-1500:].replace("\n", " | "))
        return lines
    if min(latencies) < 0 or (alone and min(alone) < 0):
        lines.append("INVALID: a quantity arrived before its order was sent; the measurement is wrong, not the app")
        return lines
    p50, p95 = percentile(latencies, 0.50), percentile(latencies, 0.95)
    lines.append(f"webhook accepted -> new quantity on all {len(accounts)} other sandboxes, over {len(latencies)} "
                 f"orders: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms, "
                 f"mean {statistics.fmean(latencies) * 1000:.0f} ms (min {min(latencies) * 1000:.0f} ms)")
    pushes = Task.objects.filter(group="stock-push").count() - pushes_before
    lines.append(f"stock push tasks run: {pushes} for {len(latencies)} orders x {len(accounts)} channels "
                 f"(coalesced: {pushes / max(1, len(latencies) * len(accounts)):.2f} task per order and channel); "
                 f"poller: {poller.reads} reads")
    exact = drained is not None and missing == 0
    lines.append(f"check every sandbox ends at the final quantity ({START_STOCK} - orders per SKU): "
                 f"{'PASS' if exact else 'FAIL'}" + ("" if drained is None else f" ({drained:.1f} s after the last send)")
                 + (f"; {missing} orders never seen" if missing else ""))
    lines.append(f"target p95 <= {TARGET_P95:.0f} s: {'PASS' if p95 <= TARGET_P95 else 'FAIL'} "
                 f"(p95 / target = {p95 / TARGET_P95:.2f}); the polling alternative's window is 15 min "
                 f"({900 / p95:.0f}x this p95)")
    lines.append(f"listings whose last push failed: {Listing.objects.exclude(last_error='').count()}")
    return lines


if __name__ == "__main__" and sys.argv[1:] == ["setup"]:
    import django

    django.setup()
    print(json.dumps(setup()))
