"""The overview costs the same number of queries for one SHG with a few orders as for twenty with many."""

from datetime import timedelta

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.dashboard import selectors
from apps.dashboard.tests.helpers import add, order
from apps.orders.models import Fulfilment, Order
from tests.factories import make_connection, make_org, make_shg, make_user

pytestmark = pytest.mark.django_db


def build(shg_count: int, orders_per_shg: int):
    federation = make_org()
    user = make_user(organization=federation)
    now = timezone.now()
    orders = []
    for _n in range(shg_count):
        shg = make_shg(federation)
        for platform in ("shopify", "woocommerce"):
            connection = make_connection(shg, platform=platform, last_success_at=now)
            orders += [order(connection, now - timedelta(hours=7 * k), "123.45",
                             status=Order.Status.UNSHIPPED if k % 3 else Order.Status.DELIVERED)
                       for k in range(orders_per_shg)]
    created = add(*orders)
    Fulfilment.objects.bulk_create([Fulfilment(order=o, carrier="Delhivery", tracking_number=f"D{o.pk}", shipped_at=now,
                                               push_state=Fulfilment.PushState.FAILED) for o in created[::10]])
    return user


def count_queries(func) -> int:
    with CaptureQueriesContext(db) as ctx:
        func()
    return len(ctx.captured_queries)


def test_selector_queries_do_not_grow():
    small = build(1, 2)
    large = build(20, 60)
    few = count_queries(lambda: selectors.overview_for(small))
    many = count_queries(lambda: selectors.overview_for(large))
    assert few == many <= 10


def test_page_queries_do_not_grow(client, django_assert_max_num_queries):
    small = build(1, 2)
    large = build(20, 60)
    client.force_login(small)
    few = count_queries(lambda: client.get(reverse("home")))
    client.force_login(large)
    with django_assert_max_num_queries(few):
        response = client.get(reverse("home"))
    assert response.status_code == 200
    assert len(response.context["overview"].shgs) == 20
    # Every order is less than 18 days old: all 20 SHGs x 2 channels x 60 orders are in the 30-day window.
    assert response.context["overview"].total.month.orders == 20 * 2 * 60
