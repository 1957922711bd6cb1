import time
from datetime import timedelta
import pytest
from django.urls import reverse
from django.utils import timezone
from apps.dashboard.tests.helpers import order
from apps.orders.models import Order
from tests.factories import make_connection, make_org, make_shg, make_user

pytestmark = pytest.mark.django_db


def test_bench(client):
    fed = make_org()
    user = make_user(organization=fed)
    now = timezone.now()
    conns = [make_connection(make_shg(fed), platform=p) for _ in range(10) for p in ("shopify", "woocommerce", "amazon")]
    rows = []
    for i in range(100_000):
        c = conns[i % len(conns)]
        rows.append(order(c, now - timedelta(minutes=13 * i), "499.00",
                          status=Order.Status.UNSHIPPED if i % 20 == 0 else Order.Status.DELIVERED))
    Order.objects.bulk_create(rows, batch_size=5000)
    client.force_login(user)
    times = []
    for _ in range(30):
        t = time.perf_counter(); r = client.get(reverse("home")); times.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext
    with CaptureQueriesContext(db) as ctx:
        client.get(reverse("home"))
    for q in ctx.captured_queries:
        print(q["time"], q["sql"][:300])
    times.sort()
    print("p50 %.1f p95 %.1f ms" % (times[15], times[28]))
