"""The every-minute dispatcher, the task body, the schedule, and the sync_connection command."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_q.models import Schedule

from apps.integrations.connectors.errors import TransientError
from apps.integrations.models import Connection, SyncRun
from apps.integrations.tasks import DISPATCH_SCHEDULE_NAME, dispatch_due_syncs, ensure_schedules, run_sync
from apps.integrations.tests.sync_fakes import fake_platform_fixture, make_order  # noqa: F401  (fixture)
from apps.orders.models import Order
from tests.factories import make_connection, make_shg

pytestmark = pytest.mark.django_db


def test_dispatch_enqueues_due_connections_only(fake_platform):
    shg = make_shg()
    now = timezone.now()
    due = make_connection(shg, platform="fakeshop", next_sync_at=now - timedelta(minutes=1))
    never_synced = make_connection(shg, platform="fakeshop", next_sync_at=None)
    failing = make_connection(shg, platform="fakeshop", status=Connection.Status.ERROR, next_sync_at=now)
    later = make_connection(shg, platform="fakeshop", next_sync_at=now + timedelta(minutes=5))
    reauth = make_connection(shg, platform="fakeshop", status=Connection.Status.NEEDS_REAUTH, next_sync_at=None)
    disabled = make_connection(shg, platform="fakeshop", status=Connection.Status.DISABLED, next_sync_at=None)
    fake_platform.put(make_order("O-1"))
    dispatched = dispatch_due_syncs()
    assert set(dispatched) == {due.pk, never_synced.pk, failing.pk}
    # django-q2 runs tasks inline in the tests: each dispatched connection got its run.
    ran = set(SyncRun.objects.filter(status=SyncRun.Status.SUCCESS, trigger="schedule").values_list("connection_id",
                                                                                                    flat=True))
    assert ran == {due.pk, never_synced.pk, failing.pk}
    assert not SyncRun.objects.filter(connection__in=[later, reauth, disabled]).exists()
    for connection in (due, never_synced, failing):
        connection.refresh_from_db()
        assert connection.next_sync_at > timezone.now() + timedelta(minutes=14)
        assert connection.status == Connection.Status.ACTIVE
    assert Order.objects.filter(external_id="O-1").count() == 3


def test_channels_without_orders_to_poll_are_never_dispatched(fake_platform):
    shg = make_shg()
    polled = make_connection(shg, platform="fakeshop", next_sync_at=None)
    # The SHG's website posts its orders; a tenders channel has none: polling them would only record skips.
    pushed = make_connection(shg, platform="website", next_sync_at=None)
    assert dispatch_due_syncs() == [polled.pk]
    assert not SyncRun.objects.filter(connection=pushed).exists()


def test_a_claimed_connection_is_not_dispatched_again(fake_platform, monkeypatch):
    connection = make_connection(make_shg(), platform="fakeshop", next_sync_at=None)
    queued = []
    monkeypatch.setattr("apps.integrations.tasks.async_task", lambda *args, **kwargs: queued.append(args))
    assert dispatch_due_syncs() == [connection.pk]
    assert dispatch_due_syncs() == [], "its run is queued: the next tick leaves it alone"
    assert queued == [("apps.integrations.tasks.run_sync", connection.pk, "orders", "schedule", None)]
    connection.refresh_from_db()
    assert connection.next_sync_at > timezone.now() + timedelta(minutes=5)


def test_dispatch_respects_its_batch_limit(fake_platform, monkeypatch):
    shg = make_shg()
    oldest = make_connection(shg, platform="fakeshop", next_sync_at=timezone.now() - timedelta(hours=1))
    for _ in range(3):
        make_connection(shg, platform="fakeshop", next_sync_at=timezone.now() - timedelta(minutes=1))
    monkeypatch.setattr("apps.integrations.tasks.async_task", lambda *args, **kwargs: None)
    assert dispatch_due_syncs(limit=1) == [oldest.pk]


def test_run_sync_task_returns_the_counts(fake_platform):
    connection = make_connection(make_shg(), platform="fakeshop")
    fake_platform.put(make_order("A"), make_order("B"))
    result = run_sync(connection.pk, "orders", "manual")
    assert result["status"] == "success" and result["created"] == 2 and result["requests"] == 1


def test_ensure_schedules_is_idempotent():
    Schedule.objects.filter(name=DISPATCH_SCHEDULE_NAME).delete()
    ensure_schedules()
    ensure_schedules()
    schedule = Schedule.objects.get(name=DISPATCH_SCHEDULE_NAME)
    assert schedule.func == "apps.integrations.tasks.dispatch_due_syncs"
    assert schedule.schedule_type == Schedule.MINUTES and schedule.minutes == 1 and schedule.repeats == -1


# --- the command -------------------------------------------------------------------------------------------------


def test_command_runs_inline_and_prints_the_counts(fake_platform):
    connection = make_connection(make_shg(), platform="fakeshop")
    fake_platform.page_size = 2
    fake_platform.put(*(make_order(f"C-{i}") for i in range(5)))
    out = StringIO()
    call_command("sync_connection", str(connection.pk), stdout=out)
    text = out.getvalue()
    assert "fetched=5 created=5 updated=0 requests=3 retries=0 seconds=" in text
    assert SyncRun.objects.get().trigger == SyncRun.Trigger.COMMAND


def test_command_since_and_stream(fake_platform):
    connection = make_connection(make_shg(), platform="fakeshop")
    out = StringIO()
    call_command("sync_connection", str(connection.pk), "--since", "2026-01-05T10:00:00Z", "--stream", "orders",
                 stdout=out)
    assert fake_platform.calls[0]["since"].isoformat() == "2026-01-05T10:00:00+00:00"
    call_command("sync_connection", str(connection.pk), "--stream", "products", stdout=out)
    assert SyncRun.objects.filter(stream="products", status="success").exists()


def test_command_refuses_bad_input(fake_platform):
    connection = make_connection(make_shg(), platform="fakeshop")
    with pytest.raises(CommandError, match="ISO-8601"):
        call_command("sync_connection", str(connection.pk), "--since", "yesterday")
    with pytest.raises(CommandError, match="future"):
        call_command("sync_connection", str(connection.pk), "--since", "2999-01-01")
    with pytest.raises(CommandError, match="No connection"):
        call_command("sync_connection", "999999")
    with pytest.raises(CommandError):
        call_command("sync_connection", str(connection.pk), "--stream", "invoices")
    assert not SyncRun.objects.exists()


def test_command_fails_loudly_when_the_run_fails(fake_platform):
    connection = make_connection(make_shg(), platform="fakeshop")

    def boom():
        raise TransientError("HTTP 503 from GET /orders")

    fake_platform.on_call[1] = boom
    out = StringIO()
    with pytest.raises(CommandError, match="failed: HTTP 503"):
        call_command("sync_connection", str(connection.pk), stdout=out)
    assert "fetched=0" in out.getvalue()
