"""Reliability of the sync engine with a real connector (WooCommerce) against its sandbox store.

- Chaos: 10% server errors, 5% 429s and truncated bodies, orders changing while pages are read; after
  repeated syncs the database equals the store's ground truth exactly.
- A sync killed mid-run leaves the cursor where the committed data ends; the next run completes.
- PostgreSQL: two syncs of one connection started at once: one runs, one skips, nothing doubled.
"""

from __future__ import annotations

import random
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection as db_connection
from django.db import connections

from apps.integrations.connectors.woocommerce import WooCommerceConnector
from apps.integrations.models import Connection, SyncRun
from apps.integrations.sync import parse_cursor, sync_connection
from apps.orders.models import Order
from apps.sandbox import dataset
from apps.sandbox import http as sandbox_http_module
from apps.sandbox.http import clear_forced_faults
from apps.sandbox.platforms import woocommerce as store
from tests.factories import make_connection, make_shg

CHAOS = "error=0.1,429=0.05,truncate=0.05"
PAGE_SIZE = 10


def woo_connection(account, sandbox_base, *, page_size: int = PAGE_SIZE) -> Connection:
    config = {**store.connection_config(account, sandbox_base), "page_size": page_size}
    return make_connection(make_shg(), platform="woocommerce", credentials=store.connection_credentials(account),
                           config=config, external_account_id=config["store_url"])


def expected_status(neutral_status: str) -> str:
    # WooCommerce core has no "delivered": a delivered order reads "completed", i.e. shipped.
    return "shipped" if neutral_status == "delivered" else neutral_status


def assert_db_equals_truth(connection: Connection, account) -> None:
    truth = {row.key: row.data for row in dataset.objects(account, "order")}
    stored = {o.external_id: o for o in Order.objects.filter(connection=connection).prefetch_related("lines")}
    assert Order.objects.filter(connection=connection).count() == len(stored), "an order was stored twice"
    assert set(stored) == set(truth), (sorted(set(truth) - set(stored)), sorted(set(stored) - set(truth)))
    for external_id, neutral in truth.items():
        order = stored[external_id]
        assert order.total == Decimal(neutral["total"]), external_id
        assert order.status == expected_status(neutral["status"]), (external_id, order.raw_status, neutral["status"])
        assert sorted((ln.sku, ln.quantity) for ln in order.lines.all()) == sorted(
            (ln["sku"], ln["quantity"]) for ln in neutral["lines"]), external_id
    total = sum((Decimal(n["total"]) for n in truth.values()), Decimal("0"))
    assert sum((o.total for o in stored.values()), Decimal("0")) == total


class Mutator:
    """Changes the store while the connector reads it: statuses, quantities, new orders."""

    def __init__(self, account, seed: int = 7, limit: int = 40):
        self.account = account
        self.rng = random.Random(seed)
        self.active = True
        self.changes = 0
        self.created = 0
        self.limit = limit

    def __call__(self) -> None:
        if not self.active or self.changes >= self.limit:
            return
        rows = list(dataset.objects(self.account, "order").order_by("key"))
        row = self.rng.choice(rows)
        kind = self.rng.random()
        if kind < 0.2 and self.created < 8:
            store.create_order(self.account, skus=[(self.rng.choice(self.in_stock()), 1)])
            self.created += 1
        elif kind < 0.4:
            lines = [dict(line) for line in row.data["lines"]]
            lines[0]["quantity"] = lines[0]["quantity"] % 3 + 1
            total = dataset.money(sum(Decimal(ln["unit_price"]) * ln["quantity"] for ln in lines))
            store.update_order(self.account, row.key, lines=lines, total=total)
        else:
            status = self.rng.choice(["unshipped", "shipped", "delivered", "cancelled", "returned", "pending"])
            store.update_order(self.account, row.key, status=status)
        self.changes += 1

    def in_stock(self) -> list[str]:
        return sorted(row.key for row in dataset.objects(self.account, "product") if int(row.data["quantity"] or 0) > 0)


def wrap_fetch(monkeypatch, before_call):
    """Run `before_call(n)` before the connector's n-th fetch_orders call (n counts from 1)."""
    real = WooCommerceConnector.fetch_orders
    calls = {"n": 0}

    def fetch_orders(self, *, since, cursor=None):
        calls["n"] += 1
        before_call(calls["n"])
        return real(self, since=since, cursor=cursor)

    monkeypatch.setattr(WooCommerceConnector, "fetch_orders", fetch_orders)
    return calls


@pytest.fixture
def account(db):
    account = store.create_demo_account("reliable-store", "Reliable Store")
    yield account
    clear_forced_faults()


def record_faults(monkeypatch) -> list[tuple[bool, bool, bool]]:
    """Every fault draw of the sandbox: (server error, 429, truncated) per request."""
    real = sandbox_http_module.FaultRoll
    draws: list[tuple[bool, bool, bool]] = []

    def roll(faults, rng=None):
        drawn = real(faults, rng)
        draws.append((drawn.server_error, drawn.rate_limited, drawn.truncate))
        return drawn

    monkeypatch.setattr(sandbox_http_module, "FaultRoll", roll)
    return draws


@pytest.mark.slow
@pytest.mark.django_db
def test_chaos_converges_to_the_ground_truth(account, sandbox_http, sandbox_base, settings, monkeypatch):
    settings.SANDBOX_FAULTS = CHAOS
    draws = record_faults(monkeypatch)
    connection = woo_connection(account, sandbox_base, page_size=4)
    mutate = Mutator(account)

    def before_each_page(n):
        mutate()
        mutate()

    wrap_fetch(monkeypatch, before_each_page)
    statuses = []
    for attempt in range(60):
        if attempt == 10:
            mutate.active = False  # the store goes quiet; syncing must now converge
        run = sync_connection(connection_id=connection.pk, trigger=SyncRun.Trigger.MANUAL)
        statuses.append(run.status)
        if not mutate.active and run.status == SyncRun.Status.SUCCESS:
            break
    assert statuses[-1] == SyncRun.Status.SUCCESS, statuses
    assert mutate.changes == mutate.limit and mutate.created >= 1
    assert len(draws) >= 40 and sum(any(draw) for draw in draws) >= 3, "faults were injected"
    assert_db_equals_truth(connection, account)
    # Once converged, syncing again changes nothing.
    settings.SANDBOX_FAULTS = ""
    again = sync_connection(connection_id=connection.pk)
    assert again.status == SyncRun.Status.SUCCESS and again.created == 0 and again.updated == 0
    assert_db_equals_truth(connection, account)


@pytest.mark.django_db
def test_killed_mid_run_the_cursor_stays_with_the_committed_data(account, sandbox_http, sandbox_base, monkeypatch):
    connection = woo_connection(account, sandbox_base)

    def kill_on_third_page(n):
        if n == 3:
            raise KeyboardInterrupt("worker stopped")

    calls = wrap_fetch(monkeypatch, kill_on_third_page)
    with pytest.raises(KeyboardInterrupt):
        sync_connection(connection_id=connection.pk)
    run = SyncRun.objects.get()
    assert run.status == SyncRun.Status.FAILED and run.pages == 2
    stored = Order.objects.filter(connection=connection)
    assert 0 < stored.count() == run.created <= 2 * PAGE_SIZE
    connection.refresh_from_db()
    committed_until = max(o.remote_updated_at for o in stored)
    assert parse_cursor(connection.cursors["orders"]) == committed_until
    truth = {row.key: dataset.parse_iso(row.data["updated_at"]) for row in dataset.objects(account, "order")}
    assert all(truth[o.external_id] <= committed_until for o in stored)
    # The lock was released on the way out; the next run reads from the cursor and completes.
    calls["n"] = 100
    run = sync_connection(connection_id=connection.pk)
    assert run.status == SyncRun.Status.SUCCESS and run.since == committed_until - timedelta(minutes=10)
    assert_db_equals_truth(connection, account)


@pytest.mark.postgres
@pytest.mark.skipif(db_connection.vendor != "postgresql", reason="row-level concurrency needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_syncs_started_at_once_one_runs_one_skips(sandbox_http, sandbox_base, monkeypatch):
    account = store.create_demo_account("concurrent-store", "Concurrent Store")
    connection = woo_connection(account, sandbox_base)
    start = threading.Barrier(2)
    other_finished = threading.Event()

    def hold_the_lock(n):
        other_finished.wait(timeout=20)  # the running sync waits until the other one has tried and left

    wrap_fetch(monkeypatch, hold_the_lock)
    results: dict[str, str] = {}
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            start.wait(timeout=10)
            results[name] = sync_connection(connection_id=connection.pk).status
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            other_finished.set()
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sorted(results.values()) == [SyncRun.Status.SKIPPED, SyncRun.Status.SUCCESS]
    assert SyncRun.objects.filter(connection=connection, status=SyncRun.Status.SUCCESS).count() == 1
    assert_db_equals_truth(connection, account)


@pytest.mark.postgres
@pytest.mark.skipif(db_connection.vendor != "postgresql", reason="SKIP LOCKED needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatchers_never_claim_the_same_connection(monkeypatch):
    from django.utils import timezone

    from apps.integrations import tasks

    shg = make_shg()
    due = {make_connection(shg, platform="woocommerce", next_sync_at=timezone.now() - timedelta(minutes=1)).pk
           for _ in range(30)}
    queued: list[int] = []
    lock = threading.Lock()

    def fake_async_task(func, connection_id, *args, **kwargs):
        with lock:
            queued.append(connection_id)

    monkeypatch.setattr(tasks, "async_task", fake_async_task)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def dispatcher() -> None:
        try:
            start.wait(timeout=10)
            for _ in range(3):
                tasks.dispatch_due_syncs(limit=7)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=dispatcher) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sorted(queued) == sorted(due), "every due connection was dispatched exactly once"
