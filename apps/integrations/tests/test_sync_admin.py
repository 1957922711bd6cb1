"""Staff: the "Sync orders now" action, the read-only SyncRun, Order and Event admin pages (no secret shown)."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from apps.integrations.models import Connection, SyncRun
from apps.integrations.tests.sync_fakes import fake_platform_fixture, make_order  # noqa: F401  (fixture)
from apps.orders.models import Order
from apps.orders.services import fulfilment_create, upsert_orders
from tests.factories import make_connection, make_shg

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    admin = get_user_model().objects.create_superuser("staff", "staff@example.in", "pw-12345-long")
    client.force_login(admin)
    return client


def test_sync_now_action_queues_syncable_connections(staff_client, fake_platform, django_capture_on_commit_callbacks):
    shg = make_shg()
    ok = make_connection(shg, platform="fakeshop")
    reauth = make_connection(shg, platform="fakeshop", status=Connection.Status.NEEDS_REAUTH)
    fake_platform.put(make_order("A-1"))
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("admin:integrations_connection_changelist"),
                                     {"action": "sync_now", "_selected_action": [ok.pk, reauth.pk]}, follow=True)
    page = response.content.decode()
    assert "1 sync queued." in page and "not synced" in page
    run = SyncRun.objects.get()
    assert run.connection == ok and run.trigger == SyncRun.Trigger.ADMIN and run.status == SyncRun.Status.SUCCESS
    assert run.requested_by.username == "staff"


def test_admin_pages_render_without_secrets(staff_client, fake_platform):
    connection = make_connection(make_shg(), platform="fakeshop")
    upsert_orders(connection=connection, orders=[make_order("A-2")])
    order = Order.objects.get()
    fulfilment = fulfilment_create(order=order, carrier="India Post", tracking_number="EK0001")
    run = SyncRun.objects.create(connection=connection, stream="orders", status=SyncRun.Status.FAILED, error="boom")
    pages = [
        reverse("admin:integrations_syncrun_changelist"), reverse("admin:integrations_syncrun_change", args=[run.pk]),
        reverse("admin:orders_order_changelist"), reverse("admin:orders_order_change", args=[order.pk]),
        reverse("admin:orders_fulfilment_changelist"), reverse("admin:orders_fulfilment_change", args=[fulfilment.pk]),
        reverse("admin:events_event_changelist"), reverse("admin:catalog_product_changelist"),
    ]
    for url in pages:
        response = staff_client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        assert "ck_secret_value" not in body and "cs_secret_value" not in body, url
