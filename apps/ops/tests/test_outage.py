"""Done when: stopping one platform's sandbox turns its connections red on the dashboard, sends one alert per
connection, opens their breakers, and they recover by themselves when the sandbox returns.

The schedule's tasks are driven by hand (django-q2 runs in sync mode in the tests); time passing is the
connections' next_sync_at and the breakers' probe_at moved into the past, never a sleep.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Membership
from apps.integrations.models import Connection, SyncRun
from apps.integrations.tasks import dispatch_due_syncs
from apps.ops.models import Alert, ConnectionHealth, Notification
from apps.ops.tasks import ops_tick
from apps.sandbox.http import platform_start, platform_stop
from apps.sandbox.platforms import flipkart, woocommerce
from tests.factories import make_connection, make_org, make_shg, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_http")]


@pytest.fixture(autouse=True)
def sandbox_state(settings, tmp_path):
    settings.SANDBOX_STATE_DIR = tmp_path / "sandbox-state"
    settings.OPS_BREAKER_THRESHOLD = 3
    settings.HTTP_MAX_RETRIES = 1  # a stopped platform fails fast
    yield
    platform_start("woocommerce")


@pytest.fixture
def world(sandbox_base):
    federation = make_org()
    shg = make_shg(federation)
    coordinator = make_user(organization=federation, role=Membership.Role.COORDINATOR, email="coord@example.org")
    make_user("ops-staff", is_staff=True, email="staff@example.org")
    woo = []
    for n in range(2):
        account = woocommerce.create_demo_account(f"outage-woo-{n}", f"Outage Woo {n}")
        woo.append(make_connection(shg, "woocommerce", config=woocommerce.connection_config(account, sandbox_base),
                                   credentials=woocommerce.connection_credentials(account),
                                   external_account_id=f"outage-woo-{n}", display_name=f"Woo {n}"))
    account = flipkart.create_demo_account("outage-fk", "Outage Flipkart")
    fk = make_connection(shg, "flipkart", config=flipkart.connection_config(account, sandbox_base),
                         credentials=flipkart.connection_credentials(account), external_account_id="outage-fk",
                         display_name="Flipkart")
    return {"shg": shg, "coordinator": coordinator, "woo": woo, "flipkart": fk}


def time_passes():
    """Everything scheduled is due now: syncs and breaker probes."""
    past = timezone.now() - timedelta(seconds=1)
    Connection.objects.exclude(next_sync_at=None).update(next_sync_at=past)
    ConnectionHealth.objects.exclude(probe_at=None).update(probe_at=past)


def tick():
    dispatch_due_syncs()
    ops_tick()


def dashboard(client, user) -> str:
    client.force_login(user)
    return client.get(reverse("home")).content.decode()


def test_stopped_platform_alerts_once_opens_breakers_and_recovers(world, client):
    tick()  # all healthy: every connection synced once
    assert set(Connection.objects.values_list("status", flat=True)) == {Connection.Status.ACTIVE}
    assert not Alert.objects.exists()

    platform_stop("woocommerce")
    mail.outbox.clear()
    for _ in range(6):  # more failed polls than the threshold, then probes that fail too
        time_passes()
        tick()
    woo_ids = {c.pk for c in world["woo"]}
    for health in ConnectionHealth.objects.filter(connection_id__in=woo_ids):
        assert health.breaker == ConnectionHealth.Breaker.OPEN
        assert health.open_count >= 2  # probed, failed, backed off further
    assert ConnectionHealth.objects.get(connection=world["flipkart"]).breaker == ConnectionHealth.Breaker.CLOSED
    # The dispatcher stopped queueing syncs for them once the breaker opened.
    failed_runs = SyncRun.objects.filter(connection_id__in=woo_ids, status=SyncRun.Status.FAILED).count()
    assert failed_runs == 3 * len(woo_ids)

    alerts = Alert.objects.filter(status=Alert.Status.OPEN)
    assert sorted(alerts.values_list("kind", "connection_id")) == sorted(
        (Alert.Kind.CONNECTION_FAILING, pk) for pk in woo_ids)
    assert len(mail.outbox) == len(woo_ids)  # one e-mail per connection, not one per failed sync
    assert all({"coord@example.org", "staff@example.org"} <= set(m.bcc) for m in mail.outbox)
    assert Notification.objects.filter(user=world["coordinator"]).count() == len(woo_ids)

    page = dashboard(client, world["coordinator"])
    for connection in world["woo"]:
        card = page.split(f'href="/connections/{connection.pk}/"', 1)[1].split("</li>", 1)[0]
        assert 'class="badge error"' in card
    fk_card = page.split(f'href="/connections/{world["flipkart"].pk}/"', 1)[1].split("</li>", 1)[0]
    assert 'class="badge error"' not in fk_card
    detail = client.get(reverse("integrations:detail", args=[world["woo"][0].pk])).content.decode()
    assert "Failing: paused" in detail and "Next check" in detail

    platform_start("woocommerce")
    time_passes()
    tick()  # the probe passes and closes the breaker, the dispatcher syncs at once on the next tick
    tick()
    for connection in Connection.objects.filter(pk__in=woo_ids):
        assert connection.status == Connection.Status.ACTIVE
        assert connection.health.breaker == ConnectionHealth.Breaker.CLOSED
    assert SyncRun.objects.filter(connection_id__in=woo_ids, status=SyncRun.Status.SUCCESS).count() == 2 * len(woo_ids)
    assert not Alert.objects.filter(status=Alert.Status.OPEN).exists()
    assert len(mail.outbox) == len(woo_ids)  # recovery sends nothing new
    page = dashboard(client, world["coordinator"])
    assert "Failing: paused" not in page

    # It fails again within the quiet period: the same alert reopens without a second e-mail.
    platform_stop("woocommerce")
    for _ in range(4):
        time_passes()
        tick()
    assert Alert.objects.filter(status=Alert.Status.OPEN).count() == len(woo_ids)
    assert Alert.objects.count() == len(woo_ids)
    assert len(mail.outbox) == len(woo_ids)
