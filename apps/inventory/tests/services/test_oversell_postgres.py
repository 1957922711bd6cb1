"""Oversell protection under real concurrency: two channels' orders for the last unit at the same moment.

PostgreSQL only (SQLite serialises whole-database writes, so there is no race to test there)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection as db_connection
from django.db import connections

from apps.catalog.services import product_create
from apps.integrations.tests.sync_fakes import make_order
from apps.inventory.models import StockItem, StockMovement, StockReservation
from apps.inventory.services import stock_adjust, stock_audit
from apps.orders.services import upsert_orders
from tests.factories import make_connection, make_shg

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("round_", range(3))
def test_two_orders_for_the_last_unit_reserve_it_once(round_):
    if db_connection.vendor != "postgresql":
        pytest.skip("row locks are a PostgreSQL test")
    shg = make_shg()
    variant = product_create(shg=shg, title="Lac bangles", variants=[{"sku": "BANGLE-1"}]).variants.get()
    stock_adjust(variant=variant, kind=StockMovement.Kind.RECEIPT, delta=1)
    amazon, flipkart = make_connection(shg, platform="amazon"), make_connection(shg, platform="flipkart")
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def sell(connection, eid):
        try:
            barrier.wait(timeout=10)
            upsert_orders(connection=connection, orders=[make_order(eid, lines=[(f"{eid}-1", "BANGLE-1", 1, "250.00")])])
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sell, args=(amazon, "AMZ-1")), threading.Thread(target=sell, args=(flipkart, "FK-1"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    item = StockItem.objects.get(variant=variant)
    assert (item.on_hand, item.reserved) == (1, 1)
    reservations = sorted(StockReservation.objects.values_list("quantity", "oversold"))
    assert reservations == [(0, 1), (1, 0)]  # one order holds the unit, the other is flagged, neither is lost
    assert stock_audit(item=item)["ok"]
