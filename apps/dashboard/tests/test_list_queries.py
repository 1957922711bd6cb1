"""Every list page costs the same number of queries with one row as with a full page of rows: the count for one
row is measured, then the page with many rows must stay within it (django_assert_max_num_queries)."""

from datetime import timedelta

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.catalog.models import ChannelProduct, Listing, Product, Variant
from apps.dashboard.tests.helpers import add, order
from apps.integrations.models import SyncRun
from apps.inventory.models import StockItem, StockReservation
from apps.inventory.services import default_location
from apps.orders.models import OrderLine
from tests.factories import make_connection, make_org, make_shg, make_user

pytestmark = pytest.mark.django_db


def build(rows: int):
    """A federation with `rows` of everything each list shows: SHGs, connections, orders, runs, variants with
    listings on two channels, stock items, oversold lines, channel products to map."""
    federation = make_org()
    user = make_user(organization=federation)
    now = timezone.now()
    for n in range(rows):
        shg = make_shg(federation)
        shop = make_connection(shg, platform="shopify", last_success_at=now, last_error="" if n % 2 else "HTTP 503")
        woo = make_connection(shg, platform="woocommerce")
        made = add(order(shop, now - timedelta(hours=n), "10.00"), order(woo, now - timedelta(hours=n), "5.00", currency="USD"))
        SyncRun.objects.create(connection=shop, status=SyncRun.Status.FAILED if n % 2 else SyncRun.Status.RUNNING,
                               error="boom" if n % 2 else "")
        SyncRun.objects.create(connection=woo, stream=SyncRun.Stream.PRODUCTS, status=SyncRun.Status.SUCCESS)
        product = Product.objects.create(shg=shg, title=f"Pickle {n}")
        variant = Variant.objects.create(product=product, shg=shg, sku=f"SKU-{n}", price="10.00", mrp="12.00")
        for c in (shop, woo):
            Listing.objects.create(variant=variant, connection=c, shg=shg, state=Listing.State.LIVE, last_pushed_quantity=n)
        item = StockItem.objects.create(variant=variant, location=default_location(shg_id=shg.pk), on_hand=n, reserved=0)
        line = OrderLine.objects.create(order=made[0], external_id="L", sku=variant.sku, quantity=1, unit_price="10.00",
                                        variant=variant)
        StockReservation.objects.create(order=made[0], order_line=line, item=item, quantity=0, oversold=1)
        ChannelProduct.objects.create(connection=shop, shg=shg, external_id=f"X{n}", title=f"Unknown {n}")
    return user, shop


LIST_PAGES = ["orders:list", "integrations:list", "sync:activity", "catalog:products", "catalog:unmatched",
              "inventory:stock", "shg_list", "home"]


@pytest.mark.parametrize("name", LIST_PAGES)
def test_list_page_queries_do_not_grow_with_rows(client, name, django_assert_max_num_queries):
    one_user, _ = build(1)
    many_user, _ = build(25)
    client.force_login(one_user)
    with CaptureQueriesContext(db) as ctx:
        first = client.get(reverse(name))
    assert first.status_code == 200
    few = len(ctx.captured_queries)
    client.force_login(many_user)
    with django_assert_max_num_queries(few):
        response = client.get(reverse(name))
    assert response.status_code == 200
    assert len(response.content) > len(first.content), "the page with many rows should show more"


def test_run_list_of_a_connection_does_not_grow(client, django_assert_max_num_queries):
    user, shop = build(1)
    client.force_login(user)
    with CaptureQueriesContext(db) as ctx:
        client.get(reverse("sync:runs", args=[shop.pk]))
    few = len(ctx.captured_queries)
    SyncRun.objects.bulk_create([SyncRun(connection=shop, status=SyncRun.Status.SUCCESS, fetched=k) for k in range(40)])
    with django_assert_max_num_queries(few):
        assert client.get(reverse("sync:runs", args=[shop.pk])).status_code == 200
