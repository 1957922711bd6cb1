"""The overview's numbers against orders whose totals and times are known to the paisa and the minute."""

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.dashboard import selectors
from apps.dashboard.tests.helpers import add, at, order
from apps.integrations.connectors.base import OrderStatus
from apps.integrations.models import Connection, SyncRun
from apps.integrations.tests.sync_fakes import make_order
from apps.orders.models import Fulfilment, Order
from apps.orders.services import upsert_orders
from tests.factories import make_connection, make_org, make_shg, make_user

pytestmark = pytest.mark.django_db

NOW = at(20, 15, 30)  # 20 Nov 2026, 15:30 IST: "today" starts 20 Nov 00:00 IST


@pytest.fixture
def tenant():
    federation = make_org()
    sakhi = make_shg(federation, name="Sakhi")
    jyoti = make_shg(federation, name="Jyoti")
    shop = make_connection(sakhi, platform="shopify", display_name="Sakhi Shopify")
    woo = make_connection(sakhi, platform="woocommerce", display_name="Sakhi Woo")
    jyoti_shop = make_connection(jyoti, platform="shopify", display_name="Jyoti Shopify")
    user = make_user(organization=federation)
    return user, sakhi, jyoti, shop, woo, jyoti_shop


def test_windows_follow_local_calendar_days(tenant):
    user, _sakhi, _jyoti, shop, woo, jyoti_shop = tenant
    add(
        order(shop, at(20, 0, 0), "100.00"),                 # today, first minute
        order(woo, at(20, 15, 0), "50.50"),                  # today
        order(shop, at(19, 23, 59), "200.00"),               # yesterday: 7 and 30 days
        order(shop, at(14, 0, 0), "300.00"),                 # first day of the 7-day window
        order(shop, at(13, 23, 59), "400.00"),               # just outside 7 days
        order(jyoti_shop, at(22, 0, 0, month=10), "1000.00"),  # first day of the 30-day window
        order(jyoti_shop, at(21, 23, 59, month=10), "5000.00"),  # outside every window
    )
    data = selectors.overview_for(user, now=NOW)
    t = data.total
    assert (t.today.orders, t.week.orders, t.month.orders) == (2, 4, 6)
    assert t.today.revenue == {"INR": Decimal("150.50")}
    assert t.week.revenue == {"INR": Decimal("650.50")}
    assert t.month.revenue == {"INR": Decimal("2050.50")}
    by_name = {row.name: row for row in data.shgs}
    assert [row.name for row in data.shgs] == ["Jyoti", "Sakhi"]
    assert by_name["Jyoti"].month.orders == 1 and by_name["Jyoti"].week.orders == 0
    assert by_name["Sakhi"].month.revenue == {"INR": Decimal("1050.50")}


def test_cancelled_and_returned_and_currencies(tenant):
    user, _sakhi, _jyoti, shop, woo, _jyoti_shop = tenant
    add(
        order(shop, at(20, 9), "100.00", status=Order.Status.CANCELLED),  # neither counted nor revenue
        order(shop, at(20, 9), "70.00", status=Order.Status.RETURNED),    # counted, no revenue
        order(shop, at(20, 9), "30.00", status=Order.Status.DELIVERED),
        order(woo, at(20, 9), "12.34", currency="USD", status=Order.Status.SHIPPED),
    )
    t = selectors.overview_for(user, now=NOW).total
    assert t.today.orders == 3
    assert t.today.revenue == {"INR": Decimal("30.00"), "USD": Decimal("12.34")}


def test_other_tenants_and_shg_filter(tenant):
    user, _sakhi, jyoti, shop, _woo, jyoti_shop = tenant
    stranger = make_connection(make_shg(name="Elsewhere"), platform="shopify")
    add(order(shop, at(20, 9), "10.00"), order(jyoti_shop, at(20, 9), "20.00"), order(stranger, at(20, 9), "999.00"))
    assert selectors.overview_for(user, now=NOW).total.today.revenue == {"INR": Decimal("30.00")}
    only_jyoti = selectors.overview_for(user, shg_id=jyoti.pk, now=NOW)
    assert [row.name for row in only_jyoti.shgs] == ["Jyoti"]
    assert only_jyoti.total.today.revenue == {"INR": Decimal("20.00")}
    assert [o.shg_id for o in only_jyoti.action_orders] == [jyoti.pk]


def test_revenue_chart_by_channel_and_day(tenant):
    user, _sakhi, _jyoti, shop, woo, jyoti_shop = tenant
    add(
        order(shop, at(20, 1), "10.00"), order(jyoti_shop, at(20, 23), "5.00"),  # both Shopify, same day
        order(woo, at(18, 12), "7.00"),
        order(woo, at(18, 12), "99.00", status=Order.Status.CANCELLED),
        order(woo, at(18, 12), "3.00", currency="USD"),
    )
    charts = selectors.overview_for(user, now=NOW).charts
    assert [c.currency for c in charts] == ["INR", "USD"]
    inr = charts[0]
    assert len(inr.days) == selectors.CHART_DAYS and inr.days[-1] == NOW.date()
    series = {s.platform: s.values for s in inr.series}
    assert set(series) == {"shopify", "woocommerce"}
    assert series["shopify"][-1] == Decimal("15.00") and sum(series["shopify"]) == Decimal("15.00")
    assert series["woocommerce"][-3] == Decimal("7.00") and sum(series["woocommerce"]) == Decimal("7.00")
    assert {s.channel for s in inr.series} == {"Shopify", "WooCommerce"}


def test_orders_needing_action(tenant):
    user, _sakhi, _jyoti, shop, woo, jyoti_shop = tenant
    old, newer, _fba, _shipped, jyoti_old = add(
        order(shop, at(1, 8, month=9), "10.00"),  # older than every window: still needs shipping
        order(woo, at(19), "10.00"),
        order(shop, at(19), "10.00", channel=Order.Channel.MARKETPLACE),  # the marketplace ships it
        order(shop, at(19), "10.00", status=Order.Status.SHIPPED),
        order(jyoti_shop, at(10), "10.00"),
    )
    Fulfilment.objects.create(order=newer, carrier="India Post", tracking_number="EE1", shipped_at=NOW,
                              push_state=Fulfilment.PushState.FAILED)
    data = selectors.overview_for(user, now=NOW)
    assert data.total.unshipped == 3 and data.total.failed_pushes == 1
    assert data.total.oldest_unshipped == old.placed_at
    by_name = {row.name: row for row in data.shgs}
    assert (by_name["Sakhi"].unshipped, by_name["Sakhi"].failed_pushes, by_name["Jyoti"].unshipped) == (2, 1, 1)
    assert [o.pk for o in data.action_orders] == [old.pk, jyoti_old.pk, newer.pk]


def test_connection_health_worst_first(tenant):
    user, sakhi, _jyoti, shop, woo, jyoti_shop = tenant
    now = timezone.now()
    Connection.objects.filter(pk=shop.pk).update(last_success_at=now - timedelta(minutes=5))
    Connection.objects.filter(pk=woo.pk).update(last_success_at=now - timedelta(days=2))
    Connection.objects.filter(pk=jyoti_shop.pk).update(status=Connection.Status.NEEDS_REAUTH,
                                                       last_error="Token revoked by the shop")
    make_connection(sakhi, platform="amazon", status=Connection.Status.DISABLED)
    health = selectors.overview_for(user, now=now).connections
    assert [(h.connection.pk, h.health) for h in health] == [
        (jyoti_shop.pk, "needs_reauth"), (woo.pk, "stale"), (shop.pk, "ok")]
    assert health[0].last_error == "Token revoked by the shop"


def test_a_stale_channel_whose_sync_is_running_says_so(tenant):
    user, _sakhi, _jyoti, shop, woo, _jyoti_shop = tenant
    SyncRun.objects.create(connection=shop, stream=SyncRun.Stream.ORDERS, status=SyncRun.Status.RUNNING)
    health = {h.connection.pk: h.health for h in selectors.overview_for(user, now=NOW).connections}
    assert health[shop.pk] == "syncing" and health[woo.pk] == "stale"  # neither has ever synced


def test_a_push_only_channel_is_healthy_without_syncs_and_offers_no_sync(tenant, client):
    user, sakhi, *_rest = tenant
    site = make_connection(sakhi, platform="website", display_name="Sakhi own site", config={
        "site_url": "https://sakhi.example.in"})
    health = {h.connection.pk: h for h in selectors.overview_for(user, now=NOW).connections}[site.pk]
    assert (health.health, health.polled, health.sync_due) == ("ok", False, False)
    client.force_login(user)
    html = client.get("/").content.decode()
    card = html[html.index("Sakhi own site"):][:1500]
    assert "Orders arrive when the channel sends them" in card and "Never synced" not in card
    assert f"/sync/{site.pk}/now" not in html and "Not synced recently" not in card


def test_no_shgs_gives_empty_overview():
    data = selectors.overview_for(make_user(), now=NOW)
    assert data.shgs == [] and data.total.month.orders == 0 and data.charts == [] and data.connections == []


def test_oversold_lines_need_action(tenant):
    from apps.catalog.models import Product, Variant
    from apps.inventory.models import StockItem, StockLocation, StockReservation

    user, sakhi, jyoti, shop, _woo, jyoti_shop = tenant
    mine, released, theirs = add(order(shop, at(19), "10.00"), order(shop, at(19), "10.00"), order(jyoti_shop, at(19), "5.00"))
    items = {}
    for shg in (sakhi, jyoti):
        product = Product.objects.create(shg=shg, title="Jute bag")
        variant = Variant.objects.create(product=product, shg=shg, sku="JUTE-1")
        location = StockLocation.objects.create(shg=shg, name="Store room", is_default=True)
        items[shg.pk] = StockItem.objects.create(variant=variant, location=location, on_hand=1, reserved=1)
    StockReservation.objects.bulk_create([
        StockReservation(order=mine, item=items[sakhi.pk], quantity=1, oversold=2),
        StockReservation(order=mine, item=items[sakhi.pk], quantity=0, oversold=0),  # fully covered: fine
        StockReservation(order=released, item=items[sakhi.pk], quantity=0, oversold=4,
                         state=StockReservation.State.RELEASED),  # cancelled since: nothing to do
        StockReservation(order=theirs, item=items[jyoti.pk], quantity=0, oversold=1),
    ])
    data = selectors.overview_for(user, now=NOW)
    assert (data.total.oversold_lines, data.total.oversold_units) == (2, 3)
    by_name = {row.name: row for row in data.shgs}
    assert (by_name["Sakhi"].oversold_lines, by_name["Sakhi"].oversold_units) == (1, 2)
    assert by_name["Jyoti"].needs_action == 1 + 1  # one order to ship, one oversold line


def test_orders_a_sync_stores_reach_the_overview_without_a_rebuild(tenant):
    """The overview reads the daily totals upsert_orders keeps: a new order and a later cancellation show at once."""
    user, _sakhi, _jyoti, shop, _woo, _jyoti_shop = tenant
    placed = at(20, 10)
    upsert_orders(connection=shop, orders=[make_order("S-1", placed_at=placed, updated_at=placed, total="80.00")])
    assert selectors.overview_for(user, now=NOW).total.today.revenue == {"INR": Decimal("80.00")}
    cancelled = replace(make_order("S-1", placed_at=placed, updated_at=placed + timedelta(hours=1), total="80.00"),
                        status=OrderStatus.CANCELLED)
    upsert_orders(connection=shop, orders=[cancelled])
    today = selectors.overview_for(user, now=NOW).total.today
    assert (today.orders, today.revenue) == (0, {})
