"""The sync engine against a tiny test-only platform: cursor, overlap, backfill, lock, failures, backoff."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apps.accounts.models import Membership
from apps.events.models import Event
from apps.integrations.connectors.base import OrderStatus, ProductData
from apps.integrations.connectors.errors import AuthError, PermanentError, RateLimited, TransientError
from apps.integrations.models import Connection, SyncRun
from apps.integrations.sync import backoff_delay, parse_cursor, sync_connection
from apps.integrations.tests.sync_fakes import (  # noqa: F401  (fixtures)
    fake_platform_fixture,
    make_order,
    unsorted_fake_platform_fixture,
)
from apps.orders.models import Order
from tests.factories import make_connection, make_org, make_shg, make_user

pytestmark = pytest.mark.django_db

NOW = timezone.now()


@pytest.fixture
def connection():
    federation = make_org()
    shg = make_shg(federation)
    make_user(organization=federation, email="coordinator@example.in")
    return make_connection(shg, platform="fakeshop")


def seed(platform, count: int, *, start_minutes_ago: int = 600, step_minutes: int = 5):
    """`count` orders updated `step_minutes` apart, the newest `start_minutes_ago - (count-1)*step` ago."""
    for i in range(count):
        platform.put(make_order(f"O-{i:03d}", updated_at=NOW - timedelta(minutes=start_minutes_ago - i * step_minutes)))


def cursor_of(connection) -> str:
    connection.refresh_from_db()
    return connection.cursors.get("orders", "")


# --- cursor, backfill, overlap -------------------------------------------------------------------------------


def test_first_sync_backfills_and_stores_everything(connection, fake_platform, settings):
    settings.SYNC_BACKFILL = timedelta(days=30)
    seed(fake_platform, 25)
    fake_platform.put(make_order("ANCIENT", updated_at=NOW - timedelta(days=45)))
    run = sync_connection(connection_id=connection.pk)
    assert run.status == SyncRun.Status.SUCCESS
    since = fake_platform.calls[0]["since"]
    assert abs((timezone.now() - since) - timedelta(days=30)) < timedelta(minutes=1)
    assert Order.objects.filter(connection=connection).count() == 25
    assert not Order.objects.filter(external_id="ANCIENT").exists()
    assert (run.fetched, run.created, run.updated, run.pages) == (25, 25, 0, 3)
    assert run.requests == 3 and run.retries == 0
    newest = max(o.updated_at for o in fake_platform.orders.values() if o.external_id != "ANCIENT")
    assert parse_cursor(cursor_of(connection)) == newest
    assert run.cursor_before == "" and parse_cursor(run.cursor_after) == newest
    connection.refresh_from_db()
    assert connection.last_success_at and connection.consecutive_failures == 0
    assert connection.next_sync_at > timezone.now() + timedelta(minutes=14)


def test_next_sync_reads_from_cursor_minus_overlap_and_catches_late_updates(connection, fake_platform, settings):
    settings.SYNC_OVERLAP = timedelta(minutes=10)
    seed(fake_platform, 5)
    sync_connection(connection_id=connection.pk)
    cursor = parse_cursor(cursor_of(connection))
    # A change stamped 4 minutes before the cursor (a late write on the platform, or clock skew).
    fake_platform.change("O-001", at=cursor - timedelta(minutes=4), status=OrderStatus.SHIPPED)
    fake_platform.calls.clear()
    run = sync_connection(connection_id=connection.pk)
    assert fake_platform.calls[0]["since"] == cursor - timedelta(minutes=10)
    assert run.updated == 1 and Order.objects.get(external_id="O-001").status == "shipped"
    assert run.cursor_before == cursor.isoformat()
    assert parse_cursor(cursor_of(connection)) == cursor, "the cursor never moves back"


def test_an_unchanged_rerun_writes_nothing(connection, fake_platform):
    seed(fake_platform, 12)
    sync_connection(connection_id=connection.pk, since=NOW - timedelta(days=1))
    events = Event.objects.count()
    run = sync_connection(connection_id=connection.pk, since=NOW - timedelta(days=1))
    assert (run.fetched, run.created, run.updated, run.unchanged) == (12, 0, 0, 12)
    assert Event.objects.count() == events


def test_explicit_since_overrides_the_cursor(connection, fake_platform):
    seed(fake_platform, 3)
    sync_connection(connection_id=connection.pk)
    since = NOW - timedelta(days=3)
    run = sync_connection(connection_id=connection.pk, since=since)
    assert fake_platform.calls[-1]["since"] == since and run.since == since


def test_the_cursor_is_clamped_to_now(connection, fake_platform):
    fake_platform.put(make_order("FUTURE", updated_at=timezone.now() + timedelta(hours=3)))
    sync_connection(connection_id=connection.pk)
    assert parse_cursor(cursor_of(connection)) <= timezone.now()


# --- a run stopped midway ------------------------------------------------------------------------------------


def kill_on_call(platform, n: int):
    def boom():
        raise RuntimeError("worker killed")

    platform.on_call[n] = boom


def test_killed_mid_run_keeps_committed_pages_and_their_cursor(connection, fake_platform):
    seed(fake_platform, 30)  # three pages of ten
    kill_on_call(fake_platform, 3)
    with pytest.raises(RuntimeError):
        sync_connection(connection_id=connection.pk)
    run = SyncRun.objects.get()
    assert run.status == SyncRun.Status.FAILED and run.error_type == "RuntimeError"
    stored = Order.objects.filter(connection=connection)
    assert stored.count() == 20
    newest_committed = max(o.remote_updated_at for o in stored)
    assert parse_cursor(cursor_of(connection)) == newest_committed
    assert parse_cursor(run.cursor_after) == newest_committed
    # The next run starts from there and completes.
    fake_platform.on_call.clear()
    fake_platform.calls.clear()
    run = sync_connection(connection_id=connection.pk)
    assert run.status == SyncRun.Status.SUCCESS
    assert Order.objects.filter(connection=connection).count() == 30
    assert fake_platform.calls[0]["since"] == newest_committed - timedelta(minutes=10)
    assert run.created == 10


def test_unsorted_connector_advances_the_cursor_only_at_the_end(connection, unsorted_fake_platform):
    seed(unsorted_fake_platform, 30)
    kill_on_call(unsorted_fake_platform, 3)
    with pytest.raises(RuntimeError):
        sync_connection(connection_id=connection.pk)
    assert Order.objects.count() == 20, "committed pages stay"
    assert cursor_of(connection) == "", "but without ascending order the cursor cannot move before the end"
    unsorted_fake_platform.on_call.clear()
    run = sync_connection(connection_id=connection.pk)
    assert run.status == SyncRun.Status.SUCCESS and run.created == 10 and run.unchanged == 20
    assert parse_cursor(cursor_of(connection)) == max(o.updated_at for o in unsorted_fake_platform.orders.values())


def test_a_failure_in_the_page_transaction_rolls_back_that_page_and_its_cursor(connection, fake_platform, monkeypatch):
    seed(fake_platform, 20)
    from apps.orders import services

    real = services.upsert_orders
    pages = []

    def failing_upsert(**kwargs):
        pages.append(1)
        result = real(**kwargs)
        if len(pages) == 2:
            raise RuntimeError("database went away after the upsert")
        return result

    monkeypatch.setattr(services, "upsert_orders", failing_upsert)
    with pytest.raises(RuntimeError):
        sync_connection(connection_id=connection.pk)
    assert Order.objects.count() == 10
    assert parse_cursor(cursor_of(connection)) == max(o.remote_updated_at for o in Order.objects.all())
    assert Event.objects.filter(type="order.created").count() == 10


# --- failures ------------------------------------------------------------------------------------------------


def fail_with(platform, exc):
    def boom():
        raise exc

    platform.on_call[1] = boom


def test_auth_error_marks_needs_reauth_and_tells_the_coordinator(connection, fake_platform,
                                                                 django_capture_on_commit_callbacks):
    fail_with(fake_platform, AuthError("HTTP 401 from GET https://fakeshop.example.test/api/orders", raw='{"code": 401}'))
    with django_capture_on_commit_callbacks(execute=True):
        run = sync_connection(connection_id=connection.pk)
    assert run.status == SyncRun.Status.FAILED and run.error_type == "AuthError"
    connection.refresh_from_db()
    assert connection.status == Connection.Status.NEEDS_REAUTH and connection.next_sync_at is None
    assert Event.objects.filter(type="connection.needs_reauth", connection=connection).count() == 1
    assert Event.objects.filter(type="sync.failed").count() == 1
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["coordinator@example.in"]
    assert "Reconnect" in mail.outbox[0].subject and connection.display_name in mail.outbox[0].body
    assert "ck_secret_value" not in mail.outbox[0].body
    # Not synced again until reconnected.
    skipped = sync_connection(connection_id=connection.pk)
    assert skipped.status == SyncRun.Status.SKIPPED and len(fake_platform.calls) == 1


def test_viewers_and_other_tenants_are_not_emailed(connection, fake_platform, django_capture_on_commit_callbacks):
    make_user(shg=connection.shg, role=Membership.Role.VIEWER, email="viewer@example.in")
    make_user(organization=make_org(), email="stranger@example.in")
    fail_with(fake_platform, AuthError("revoked"))
    with django_capture_on_commit_callbacks(execute=True):
        sync_connection(connection_id=connection.pk)
    assert [m.to for m in mail.outbox] == [["coordinator@example.in"]]


def test_transient_failures_back_off_and_success_resets(connection, fake_platform):
    for attempt, expected in ((1, timedelta(minutes=1)), (2, timedelta(minutes=2)), (3, timedelta(minutes=4))):
        fake_platform.on_call.clear()
        fake_platform.calls.clear()
        fail_with(fake_platform, TransientError("HTTP 503 from GET /orders", raw="busy"))
        before = timezone.now()
        run = sync_connection(connection_id=connection.pk)
        connection.refresh_from_db()
        assert run.status == SyncRun.Status.FAILED
        assert connection.consecutive_failures == attempt and connection.status == Connection.Status.ERROR
        wait = connection.next_sync_at - before
        assert expected * 0.85 <= wait <= expected * 1.15 + timedelta(seconds=2)
    fake_platform.on_call.clear()
    seed(fake_platform, 2)
    assert sync_connection(connection_id=connection.pk).status == SyncRun.Status.SUCCESS
    connection.refresh_from_db()
    assert connection.consecutive_failures == 0 and connection.status == Connection.Status.ACTIVE
    assert connection.last_error == ""


def test_rate_limit_waits_at_least_what_the_platform_asked(connection, fake_platform):
    fail_with(fake_platform, RateLimited("HTTP 429", retry_after=900))
    before = timezone.now()
    sync_connection(connection_id=connection.pk)
    connection.refresh_from_db()
    assert connection.next_sync_at - before >= timedelta(seconds=900)


def test_backoff_is_capped():
    assert backoff_delay(50) <= timedelta(hours=6) * 1.1
    assert backoff_delay(1) < backoff_delay(3)


def test_permanent_error_keeps_the_raw_payload_truncated_and_masked(connection, fake_platform):
    raw = '{"orders": [{"id": 1, "access_token": "shpat_abcdefghijkl0123"' + "x" * 20_000
    fail_with(fake_platform, PermanentError("Malformed JSON from https://fakeshop.example.test/api/orders", raw=raw))
    run = sync_connection(connection_id=connection.pk)
    assert run.status == SyncRun.Status.FAILED and run.error_type == "PermanentError"
    assert run.error_payload.startswith('{"orders": [{"id": 1') and len(run.error_payload) <= 8_000
    assert "shpat_abcdefghijkl0123" not in run.error_payload
    event = Event.objects.get(type="sync.failed")
    assert event.payload["error_type"] == "PermanentError" and event.payload["consecutive_failures"] == 1


def test_invalid_orders_from_a_connector_fail_the_run_without_writing(connection, fake_platform):
    bad = make_order("BAD")
    bad.currency = "??"
    fake_platform.put(make_order("GOOD"), bad)
    run = sync_connection(connection_id=connection.pk)
    assert run.status == SyncRun.Status.FAILED and "currency" in run.error
    assert not Order.objects.exists()


# --- lock ----------------------------------------------------------------------------------------------------


def test_a_second_run_while_one_is_running_is_skipped(connection, fake_platform):
    SyncRun.objects.create(connection=connection, stream="orders", status=SyncRun.Status.RUNNING)
    run = sync_connection(connection_id=connection.pk)
    assert run.status == SyncRun.Status.SKIPPED and fake_platform.calls == []
    # Another stream is not blocked.
    assert sync_connection(connection_id=connection.pk, stream="products").status == SyncRun.Status.SUCCESS


def test_an_abandoned_run_is_taken_over(connection, fake_platform):
    dead = SyncRun.objects.create(connection=connection, stream="orders", status=SyncRun.Status.RUNNING,
                                  heartbeat_at=timezone.now() - timedelta(hours=2))
    seed(fake_platform, 3)
    run = sync_connection(connection_id=connection.pk)
    assert run.status == SyncRun.Status.SUCCESS and run.created == 3
    dead.refresh_from_db()
    assert dead.status == SyncRun.Status.FAILED and dead.error_type == "Abandoned"


@pytest.mark.parametrize("status", [Connection.Status.NEEDS_REAUTH, Connection.Status.DISABLED,
                                    Connection.Status.PENDING])
def test_connections_that_cannot_sync_are_skipped(connection, fake_platform, status):
    Connection.objects.filter(pk=connection.pk).update(status=status)
    run = sync_connection(connection_id=connection.pk)
    assert run.status == SyncRun.Status.SKIPPED and fake_platform.calls == []


def test_bad_arguments_are_refused(connection):
    with pytest.raises(ValueError, match="stream"):
        sync_connection(connection_id=connection.pk, stream="invoices")
    with pytest.raises(ValueError, match="time zone"):
        sync_connection(connection_id=connection.pk, since=NOW.replace(tzinfo=None))
    assert not SyncRun.objects.exists()


# --- products ------------------------------------------------------------------------------------------------


def test_products_stream_imports_new_skus_into_the_catalog(connection, fake_platform):
    from decimal import Decimal

    from apps.catalog.models import Variant
    from apps.catalog.services import product_create

    product_create(shg=connection.shg, title="Known", variants=[{"sku": "SKU-1", "price": Decimal("99.00")}])
    fake_platform.products = [
        ProductData(external_id="p1", sku="SKU-1", title="Known, the channel's name", price=Decimal("120")),
        ProductData(external_id="p2", sku="SKU-2", title="Madhubani painting", price=Decimal("850"), mrp=Decimal("1000")),
        ProductData(external_id="p3", sku="", title="No SKU"),
    ]
    fake_platform.put(make_order("O-1", lines=[("L1", "SKU-2", 1, "850.00")]))
    sync_connection(connection_id=connection.pk)
    run = sync_connection(connection_id=connection.pk, stream="products")
    assert run.status == SyncRun.Status.SUCCESS and (run.fetched, run.created, run.unchanged) == (3, 1, 1)
    assert "without a SKU" in run.error
    assert Variant.objects.get(shg=connection.shg, sku="SKU-1").price == Decimal("99.00"), "the catalog is the truth"
    new = Variant.objects.get(shg=connection.shg, sku="SKU-2")
    assert new.product.title == "Madhubani painting" and new.mrp == Decimal("1000.00")
    assert Order.objects.get(external_id="O-1").lines.get().variant == new
    # Both SKU'd products are now listings of this channel; the one without a SKU waits to be mapped by hand.
    from apps.catalog.models import ChannelProduct, Listing

    listed = dict(Listing.objects.filter(connection=connection).values_list("channel_sku", "external_id"))
    assert listed == {"SKU-1": "p1", "SKU-2": "p2"}
    assert list(ChannelProduct.objects.filter(connection=connection).values_list("external_id", flat=True)) == ["p3"]


def test_a_stream_the_platform_does_not_offer_is_skipped_not_failed(connection, fake_platform, monkeypatch):
    from apps.integrations.connectors import registry

    monkeypatch.setitem(registry.CONNECTOR_PATHS, "fakeshop",
                        "apps.integrations.tests.sync_fakes.OrdersOnlyFakeShopConnector")
    registry.get_connector_class.cache_clear()
    run = sync_connection(connection_id=connection.pk, stream="products")
    assert run.status == SyncRun.Status.SKIPPED and "does not offer its products" in run.error
    connection.refresh_from_db()
    assert connection.consecutive_failures == 0 and connection.status == Connection.Status.ACTIVE


def test_a_failing_products_import_leaves_the_orders_schedule_alone(connection, fake_platform, monkeypatch):
    from apps.integrations.tests.sync_fakes import FakeShopConnector

    seed(fake_platform, 2)
    sync_connection(connection_id=connection.pk)
    connection.refresh_from_db()
    scheduled = connection.next_sync_at

    def down(self, *, cursor=None):
        raise TransientError("HTTP 503 from GET /products")

    monkeypatch.setattr(FakeShopConnector, "fetch_products", down)
    run = sync_connection(connection_id=connection.pk, stream="products")
    assert run.status == SyncRun.Status.FAILED
    connection.refresh_from_db()
    assert connection.next_sync_at == scheduled and connection.consecutive_failures == 0
    assert connection.status == Connection.Status.ACTIVE

    def refused(self, *, cursor=None):
        raise AuthError("HTTP 401 from GET /products")

    monkeypatch.setattr(FakeShopConnector, "fetch_products", refused)
    sync_connection(connection_id=connection.pk, stream="products")
    connection.refresh_from_db()
    assert connection.status == Connection.Status.NEEDS_REAUTH, "refused credentials are the connection's"


def test_the_task_of_a_deleted_connection_does_nothing(connection, fake_platform):
    from apps.integrations.tasks import run_sync

    pk = connection.pk
    connection.delete()
    assert run_sync(pk) == {"run": None, "status": "gone"}
