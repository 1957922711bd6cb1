"""The order list (scoped, filtered, cursor-paged) and the order page with its add-tracking form."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Membership
from apps.integrations.connectors.base import FulfilmentChannel, OrderStatus
from apps.integrations.tests.sync_fakes import fake_platform_fixture, make_order  # noqa: F401  (fixture)
from apps.orders import selectors
from apps.orders.models import Fulfilment, Order
from apps.orders.services import upsert_orders
from tests.factories import make_connection, make_org, make_shg, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant(fake_platform):
    federation = make_org()
    shg = make_shg(federation, name="Sakhi SHG")
    connection = make_connection(shg, platform="fakeshop", display_name="Sakhi store")
    user = make_user(organization=federation)
    return shg, connection, user, fake_platform


def add_orders(connection, n, **kwargs):
    base = timezone.now() - timedelta(days=2)
    orders = [make_order(f"W-{i:03d}", updated_at=base + timedelta(minutes=i), placed_at=base + timedelta(minutes=i),
                         **kwargs) for i in range(n)]
    upsert_orders(connection=connection, orders=orders)
    return Order.objects.filter(connection=connection)


def test_list_shows_only_the_users_orders(client, tenant):
    _shg, connection, user, _platform = tenant
    add_orders(connection, 3)
    other = make_connection(make_shg(name="Other SHG"), platform="fakeshop")
    upsert_orders(connection=other, orders=[make_order("SECRET-ORDER-9")])
    client.force_login(user)
    page = client.get(reverse("orders:list")).content.decode()
    assert "#W-000" in page and "#W-002" in page and "Sakhi store" in page
    assert "SECRET-ORDER-9" not in page and "Other SHG" not in page


def test_list_filters_by_status_channel_and_shg(client, tenant):
    shg, connection, user, _platform = tenant
    add_orders(connection, 2)
    upsert_orders(connection=connection, orders=[make_order("CANC", status=OrderStatus.CANCELLED)])
    client.force_login(user)
    page = client.get(reverse("orders:list"), {"status": "cancelled"}).content.decode()
    assert "#CANC" in page and "#W-000" not in page
    page = client.get(reverse("orders:list"), {"channel": "fakeshop", "shg": shg.pk}).content.decode()
    assert "#CANC" in page and "#W-001" in page
    # An SHG the user cannot see is not a valid choice: the filter is ignored, nothing leaks.
    foreign = make_shg()
    response = client.get(reverse("orders:list"), {"shg": foreign.pk})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()


def test_list_is_cursor_paginated(client, tenant):
    _shg, connection, user, _platform = tenant
    add_orders(connection, selectors.PAGE_SIZE + 5)
    client.force_login(user)
    first = client.get(reverse("orders:list"))
    assert len(first.context["orders"]) == selectors.PAGE_SIZE
    cursor = first.context["page"].next_cursor
    assert cursor and f"after={cursor}" in first.content.decode()
    second = client.get(reverse("orders:list"), {"after": cursor})
    assert len(second.context["orders"]) == 5 and second.context["page"].next_cursor is None
    seen = {o.pk for o in first.context["orders"]} | {o.pk for o in second.context["orders"]}
    assert len(seen) == selectors.PAGE_SIZE + 5
    # Newest first across the pages.
    placed = [o.placed_at for o in [*first.context["orders"], *second.context["orders"]]]
    assert placed == sorted(placed, reverse=True)
    bad = client.get(reverse("orders:list"), {"after": "not-a-cursor"})
    assert bad.status_code == 200 and "not valid" in bad.content.decode()


def test_detail_shows_the_order_and_is_404_for_others(client, tenant):
    _shg, connection, user, _platform = tenant
    order = add_orders(connection, 1).get()
    client.force_login(user)
    page = client.get(reverse("orders:detail", args=[order.pk])).content.decode()
    assert "#W-000" in page and "SKU-1" in page and "Add tracking" in page
    client.force_login(make_user(organization=make_org()))
    assert client.get(reverse("orders:detail", args=[order.pk])).status_code == 404
    assert client.post(reverse("orders:detail", args=[order.pk]), {}).status_code == 404


def test_adding_tracking_records_it_and_pushes_it(client, tenant, django_capture_on_commit_callbacks):
    _shg, connection, user, platform = tenant
    order = add_orders(connection, 1).get()
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("orders:detail", args=[order.pk]),
                               {"carrier": "  India   Post ", "tracking_number": "ek123456789in"})
    assert response.status_code == 302
    fulfilment = Fulfilment.objects.get()
    assert (fulfilment.carrier, fulfilment.tracking_number) == ("India Post", "EK123456789IN")
    assert fulfilment.push_state == Fulfilment.PushState.PUSHED and fulfilment.external_id == "SHIP-1"
    pushed = platform.pushed[0]
    assert pushed.order_external_id == "W-000" and pushed.lines[0].external_line_id == "W-000-1"
    assert pushed.order_raw["marketplace_id"] == "FAKE-IN"
    page = client.get(reverse("orders:detail", args=[order.pk])).content.decode()
    assert "EK123456789IN" in page and "Sent to the channel" in page


def test_tracking_form_errors_are_shown_and_nothing_is_saved(client, tenant):
    _shg, connection, user, _platform = tenant
    order = add_orders(connection, 1).get()
    client.force_login(user)
    response = client.post(reverse("orders:detail", args=[order.pk]),
                           {"carrier": "", "tracking_number": "x!", "shipped_at": "2999-01-01T10:00"})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert {"carrier", "tracking_number", "shipped_at"} <= set(errors)
    assert not Fulfilment.objects.exists()


def test_the_same_tracking_twice_is_refused(client, tenant, django_capture_on_commit_callbacks):
    _shg, connection, user, _platform = tenant
    order = add_orders(connection, 1).get()
    client.force_login(user)
    data = {"carrier": "Delhivery", "tracking_number": "DL-998877"}
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("orders:detail", args=[order.pk]), data)
        response = client.post(reverse("orders:detail", args=[order.pk]), data)
    assert response.status_code == 200 and "already recorded" in response.content.decode()
    assert Fulfilment.objects.count() == 1


def test_marketplace_fulfilled_orders_are_read_only(client, tenant):
    _shg, connection, user, _platform = tenant
    order = add_orders(connection, 1, channel=FulfilmentChannel.MARKETPLACE).get()
    client.force_login(user)
    page = client.get(reverse("orders:detail", args=[order.pk])).content.decode()
    assert "Add tracking" not in page and "The marketplace ships this order" in page
    response = client.post(reverse("orders:detail", args=[order.pk]),
                           {"carrier": "India Post", "tracking_number": "EK1234"}, follow=True)
    assert "The marketplace ships this order" in response.content.decode()
    assert not Fulfilment.objects.exists()


def test_viewers_cannot_add_tracking(client, tenant):
    shg, connection, _user, _platform = tenant
    order = add_orders(connection, 1).get()
    client.force_login(make_user(shg=shg, role=Membership.Role.VIEWER))
    page = client.get(reverse("orders:detail", args=[order.pk])).content.decode()
    assert "Add tracking" not in page
    response = client.post(reverse("orders:detail", args=[order.pk]), {"carrier": "India Post", "tracking_number": "EK1"})
    assert response.status_code == 403 and not Fulfilment.objects.exists()
