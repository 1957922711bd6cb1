"""Probes, metrics, request ids, alerts (kinds, deduplication, recipients), notifications and audit."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from auditlog.context import set_actor
from auditlog.models import LogEntry
from django.core import mail
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Membership
from apps.catalog.models import Product, Variant
from apps.catalog.services import variant_price_set
from apps.integrations.models import Connection, SyncRun, WebhookEvent
from apps.ops.alerts import alerts_evaluate
from apps.ops.models import Alert, ConnectionHealth, Notification
from apps.ops.services import breaker_admit, health_record_run, heartbeat_beat
from tests.factories import make_connection, make_org, make_shg, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant():
    federation = make_org()
    shg = make_shg(federation)
    coordinator = make_user(organization=federation, role=Membership.Role.COORDINATOR, email="c@example.org")
    make_user(is_staff=True, email="s@example.org")
    return {"shg": shg, "coordinator": coordinator}


# --- probes -------------------------------------------------------------------------------------------------


def test_healthz_touches_no_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_needs_a_live_qcluster_heartbeat(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["status"] == "ok" and checks["cache"]["status"] == "ok"
    assert checks["broker"]["status"] == "ok" and checks["event_bus"]["detail"] == "not configured"
    assert checks["qcluster"]["status"] == "fail"

    heartbeat_beat()
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "ok"


def test_readyz_reports_an_old_heartbeat_and_hides_broker_passwords(client, settings):
    beat = heartbeat_beat()
    type(beat).objects.update(beat_at=timezone.now() - timedelta(minutes=10))
    settings.EVENT_BUS_URL = "amqp://haat:s3cret-pass@127.0.0.1:1/"
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert "s old" in body["checks"]["qcluster"]["detail"]
    assert body["checks"]["event_bus"]["status"] == "fail"
    assert "s3cret-pass" not in response.content.decode()


# --- metrics --------------------------------------------------------------------------------------------------


def test_metrics_need_staff_or_the_token(client, settings, tenant):
    settings.METRICS_TOKEN = "metrics-token-123"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    client.force_login(tenant["coordinator"])
    assert client.get("/metrics").status_code == 401
    client.logout()
    connection = make_connection(tenant["shg"], "woocommerce")
    now = timezone.now()
    SyncRun.objects.create(connection=connection, status=SyncRun.Status.SUCCESS, started_at=now - timedelta(seconds=7),
                           finished_at=now, requests=4, retries=1)
    SyncRun.objects.create(connection=connection, status=SyncRun.Status.FAILED, started_at=now, finished_at=now,
                           error_type="TransientError", requests=6, retries=5)
    WebhookEvent.objects.create(connection=connection, platform="woocommerce", delivery_id="d1", body_sha256="x",
                                body=b"{}")
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-token-123")
    assert response.status_code == 200
    text = response.content.decode()
    assert 'haat_sync_runs_total{platform="woocommerce",status="success",stream="orders"} 1.0' in text
    assert 'haat_platform_requests_total{platform="woocommerce"} 10.0' in text
    assert 'haat_platform_retries_total{platform="woocommerce"} 6.0' in text
    assert 'haat_sync_errors_total{error_type="TransientError",platform="woocommerce"} 1.0' in text
    assert 'haat_sync_duration_seconds_bucket{le="5.0",platform="woocommerce"} 1.0' in text
    assert 'haat_sync_duration_seconds_bucket{le="15.0",platform="woocommerce"} 2.0' in text
    assert 'haat_webhook_events_total{platform="woocommerce",status="received"} 1.0' in text
    assert "haat_task_queue_depth 0.0" in text
    staff = make_user(is_staff=True)
    client.force_login(staff)
    assert client.get("/metrics").status_code == 200


def test_metrics_query_count_does_not_grow_with_data(client, settings, tenant, django_assert_max_num_queries):
    settings.METRICS_TOKEN = "t"
    for n in range(5):
        connection = make_connection(tenant["shg"], "woocommerce" if n % 2 else "flipkart")
        SyncRun.objects.create(connection=connection, status=SyncRun.Status.SUCCESS, finished_at=timezone.now())
    with django_assert_max_num_queries(12):
        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer t").status_code == 200


# --- request ids ----------------------------------------------------------------------------------------------


def test_request_id_is_echoed_or_made():
    from django.test import Client

    client = Client()
    assert client.get("/healthz", HTTP_X_REQUEST_ID="abc-123").headers["X-Request-ID"] == "abc-123"
    made = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline").headers["X-Request-ID"]
    assert made != "bad id\nwith newline" and len(made) == 32


def test_json_log_lines_carry_request_and_connection_ids():
    import logging

    from apps.core.logging import ContextFilter, JsonFormatter, connection_context, request_id_var

    record = logging.LogRecord("haat", logging.INFO, __file__, 1, "consumer_secret=cs_abcdefghijkl", None, None)
    token = request_id_var.set("req-1")
    try:
        with connection_context(42):
            ContextFilter().filter(record)
    finally:
        request_id_var.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-1" and line["connection_id"] == "42" and line["level"] == "INFO"


# --- breaker --------------------------------------------------------------------------------------------------


def _run(connection, status, *, seconds=1.0, error_type=""):
    now = timezone.now()
    run = SyncRun.objects.create(connection=connection, status=status, started_at=now - timedelta(seconds=seconds),
                                 finished_at=now, error_type=error_type, error="boom" if error_type else "")
    return health_record_run(run)


def test_breaker_opens_after_threshold_and_admits_nothing_until_probed(tenant, settings):
    settings.OPS_BREAKER_THRESHOLD = 2
    connection = make_connection(tenant["shg"])
    assert _run(connection, SyncRun.Status.FAILED, error_type="TransientError").breaker == "closed"
    health = _run(connection, SyncRun.Status.FAILED, error_type="TransientError")
    assert health.breaker == ConnectionHealth.Breaker.OPEN and health.probe_at > timezone.now()
    assert breaker_admit([connection.pk]) == []
    connection.refresh_from_db()
    assert abs((connection.next_sync_at - health.probe_at).total_seconds()) < 1  # comes back at its probe
    health = _run(connection, SyncRun.Status.SUCCESS, seconds=2.5)
    assert health.breaker == "closed" and health.consecutive_failures == 0 and health.last_latency == 2.5
    assert breaker_admit([connection.pk]) == [connection.pk]


def test_a_reconnect_the_platform_accepted_closes_an_open_breaker(tenant, settings):
    from apps.integrations.services import connection_upsert

    settings.OPS_BREAKER_THRESHOLD = 1
    connection = make_connection(tenant["shg"])
    assert _run(connection, SyncRun.Status.FAILED, error_type="TransientError").breaker == "open"
    connection_upsert(shg=connection.shg, platform=connection.platform,
                      external_account_id=connection.external_account_id, credentials={"consumer_key": "ck_new"},
                      config={})
    health = ConnectionHealth.objects.get(connection=connection)
    assert health.breaker == "closed" and health.consecutive_failures == 0
    assert breaker_admit([connection.pk]) == [connection.pk]


def test_refused_credentials_do_not_open_the_breaker(tenant, settings):
    settings.OPS_BREAKER_THRESHOLD = 1
    connection = make_connection(tenant["shg"])
    assert _run(connection, SyncRun.Status.FAILED, error_type="AuthError").breaker == "closed"


# --- alerts ---------------------------------------------------------------------------------------------------


def test_needs_reauth_alerts_coordinators_in_app_and_emails_staff_only(tenant):
    connection = make_connection(tenant["shg"], status=Connection.Status.NEEDS_REAUTH)
    result = alerts_evaluate()
    assert [(a.kind, a.connection_id) for a in result.opened] == [(Alert.Kind.NEEDS_REAUTH, connection.pk)]
    assert Notification.objects.filter(user=tenant["coordinator"]).count() == 1
    assert [m.bcc for m in mail.outbox] == [["s@example.org"]]  # the sync engine e-mails coordinators itself
    assert alerts_evaluate().opened == [] and len(mail.outbox) == 1
    Connection.objects.filter(pk=connection.pk).update(status=Connection.Status.ACTIVE,
                                                       last_success_at=timezone.now())
    assert alerts_evaluate().resolved == 1


def test_stale_connection_alert_and_daily_reminder(tenant):
    connection = make_connection(tenant["shg"], last_success_at=timezone.now() - timedelta(hours=2))
    Connection.objects.filter(pk=connection.pk).update(created_at=timezone.now() - timedelta(days=1))
    opened = alerts_evaluate().opened
    assert [a.kind for a in opened] == [Alert.Kind.SYNC_STALE]
    assert alerts_evaluate().reminded == 0
    Alert.objects.update(last_notified_at=timezone.now() - timedelta(hours=25))
    assert alerts_evaluate().reminded == 1
    assert len(mail.outbox) == 2 and Alert.objects.get().notify_count == 2


def test_slow_sync_alert_is_raised_right_after_the_run(tenant, django_capture_on_commit_callbacks):
    connection = make_connection(tenant["shg"], last_success_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        _run(connection, SyncRun.Status.SUCCESS, seconds=400)
    assert Alert.objects.filter(kind=Alert.Kind.SYNC_SLOW, connection=connection, status="open").exists()
    with django_capture_on_commit_callbacks(execute=True):
        _run(connection, SyncRun.Status.SUCCESS, seconds=3)
    assert Alert.objects.get(kind=Alert.Kind.SYNC_SLOW).status == Alert.Status.RESOLVED


def test_webhook_backlog_alert(tenant):
    connection = make_connection(tenant["shg"], last_success_at=timezone.now())
    WebhookEvent.objects.create(connection=connection, platform="woocommerce", delivery_id="late", body_sha256="x",
                                body=b"{}", received_at=timezone.now() - timedelta(hours=1))
    assert [a.kind for a in alerts_evaluate().opened] == [Alert.Kind.WEBHOOK_BACKLOG]
    WebhookEvent.objects.update(status=WebhookEvent.Status.PROCESSED)
    assert alerts_evaluate().resolved == 1


def test_oversold_order_alert(tenant):
    from apps.inventory.models import StockItem, StockLocation, StockReservation
    from apps.orders.models import Order

    connection = make_connection(tenant["shg"], last_success_at=timezone.now())
    order = Order.objects.create(connection=connection, shg=tenant["shg"], external_id="OVER-1", currency="INR",
                                 total="10.00", placed_at=timezone.now())
    product = Product.objects.create(shg=tenant["shg"], title="Pickle")
    variant = Variant.objects.create(product=product, shg=tenant["shg"], sku="P-1", price="10.00")
    location = StockLocation.objects.create(shg=tenant["shg"], name="Room", is_default=True)
    item = StockItem.objects.create(variant=variant, location=location, on_hand=0)
    StockReservation.objects.create(order=order, item=item, quantity=0, oversold=2)
    opened = alerts_evaluate().opened
    assert [(a.kind, a.key) for a in opened] == [(Alert.Kind.OVERSOLD, f"order:{order.pk}")]
    assert opened[0].url == reverse("orders:detail", args=[order.pk])


# --- notifications ------------------------------------------------------------------------------------------


def test_notifications_page_and_mark_read(client, tenant):
    make_connection(tenant["shg"], status=Connection.Status.NEEDS_REAUTH)
    alerts_evaluate()
    other = make_user()
    notification = Notification.objects.get(user=tenant["coordinator"])
    client.force_login(other)
    assert client.post(reverse("ops:notification_read", args=[notification.pk])).status_code == 404
    client.force_login(tenant["coordinator"])
    page = client.get(reverse("ops:notifications")).content.decode()
    assert "needs to be reconnected" in page
    home = client.get(reverse("home")).content.decode()
    assert reverse("ops:notifications") in home and 'class="badge error">1<' in home
    client.post(reverse("ops:notification_read", args=[notification.pk]))
    notification.refresh_from_db()
    assert notification.read_at is not None


# --- audit --------------------------------------------------------------------------------------------------


def test_credentials_change_is_audited_without_values(client, tenant):
    staff = make_user(is_staff=True, is_superuser=True)
    connection = make_connection(tenant["shg"], credentials={"consumer_key": "ck_old_value_1",
                                                             "consumer_secret": "cs_old_value_1"})
    client.force_login(staff)
    url = reverse("admin:integrations_connection_change", args=[connection.pk])
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: form.initial.get(name) if form.initial.get(name) is not None else "" for name in form.fields}
    data["replace_credentials"] = json.dumps({"consumer_key": "ck_new_value_2", "consumer_secret": "cs_new_value_2"})
    data["shg"] = tenant["shg"].pk
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    connection.refresh_from_db()
    assert connection.credentials["consumer_secret"] == "cs_new_value_2"
    entry = LogEntry.objects.get_for_object(connection).filter(action=LogEntry.Action.UPDATE).get()
    assert entry.actor == staff
    assert entry.changes_dict["credentials"] == ["(hidden)", "(hidden)"]
    stored = json.dumps(list(LogEntry.objects.values_list("changes", "changes_text", "object_repr")), default=str)
    for secret in ("ck_old_value_1", "cs_old_value_1", "ck_new_value_2", "cs_new_value_2", "value_1", "value_2"):
        assert secret not in stored
    client.force_login(tenant["coordinator"])
    detail = client.get(reverse("integrations:detail", args=[connection.pk])).content.decode()
    assert "Change history" in detail and "(hidden)" in detail and staff.username in detail
    assert "cs_new_value_2" not in detail and "old_value" not in detail


def test_price_change_shows_who_and_when(tenant):
    product = Product.objects.create(shg=tenant["shg"], title="Mango pickle")
    variant = Variant.objects.create(product=product, shg=tenant["shg"], sku="MP-1", price="100.00", mrp="120.00")
    with set_actor(tenant["coordinator"]):
        variant_price_set(variant=variant, price=Decimal("90.00"), mrp=Decimal("120.00"))
    html = Template("{% load ops %}{% audit_trail variant %}").render(Context({"variant": variant}))
    assert tenant["coordinator"].username in html and "100.00" in html and "90.00" in html


# --- sandbox outage drill, admin board, Hindi ------------------------------------------------------------------


def test_sandbox_platform_command_and_page_stop_and_start(client, settings, tmp_path):
    from django.core.management import call_command

    from apps.sandbox.http import platform_stopped

    settings.SANDBOX_STATE_DIR = tmp_path
    call_command("sandbox_platform", "stop", "flipkart")
    assert platform_stopped("flipkart") and not platform_stopped("woocommerce")
    assert client.get("/sandbox/flipkart/oauth-service/oauth/token").status_code == 503
    assert "<strong>stopped</strong>" in client.get("/sandbox/").content.decode()
    client.post("/sandbox/", {"platform": "flipkart", "action": "start"})
    assert not platform_stopped("flipkart")
    client.post("/sandbox/", {"platform": "../etc", "action": "stop"})
    assert list(tmp_path.iterdir()) == []


def test_admin_health_board_groups_by_platform_and_failure(client, tenant, settings):
    settings.OPS_BREAKER_THRESHOLD = 1
    failing = make_connection(tenant["shg"], "woocommerce", display_name="Broken Woo")
    make_connection(tenant["shg"], "woocommerce", display_name="Fine Woo")
    make_connection(tenant["shg"], "flipkart", display_name="Reauth FK", status=Connection.Status.NEEDS_REAUTH)
    _run(failing, SyncRun.Status.FAILED, error_type="TransientError")
    client.force_login(make_user(is_staff=True, is_superuser=True))
    page = client.get(reverse("admin:ops_health_board")).content.decode()
    assert "woocommerce — 1 failing of 2" in page and "flipkart — 1 failing of 1" in page
    assert page.index("TransientError") < page.index("Working") and "Broken Woo" in page and "Fine Woo" in page
    assert client.get(reverse("admin:ops_connectionhealth_changelist")).status_code == 200


def test_notifications_page_in_hindi(client, tenant):
    make_connection(tenant["shg"], status=Connection.Status.NEEDS_REAUTH)
    alerts_evaluate()
    client.force_login(tenant["coordinator"])
    page = client.get(reverse("ops:notifications"), HTTP_ACCEPT_LANGUAGE="hi").content.decode()
    assert "चेतावनियाँ" in page and "फिर से अनुमति चाहिए" in page


def test_stock_ledger_page_shows_who_changed_price_and_stock(client, tenant):
    from apps.inventory.services import stock_adjust

    product = Product.objects.create(shg=tenant["shg"], title="Lime pickle")
    variant = Variant.objects.create(product=product, shg=tenant["shg"], sku="LP-1", price="50.00", mrp="60.00")
    with set_actor(tenant["coordinator"]):
        variant_price_set(variant=variant, price=Decimal("55.00"), mrp=Decimal("60.00"))
    stock_adjust(variant=variant, delta=7, reason="Counted the shelf", user=tenant["coordinator"])
    item = variant.stock_items.get()
    client.force_login(tenant["coordinator"])
    page = client.get(reverse("inventory:ledger", args=[item.pk])).content.decode()
    history = page.split("Change history", 1)[1]
    assert "55.00" in history and "Counted the shelf" in history and tenant["coordinator"].username in history


def test_one_open_alert_per_kind_and_key_is_a_database_rule(tenant):
    from django.db import IntegrityError, transaction

    Alert.objects.create(kind=Alert.Kind.OVERSOLD, key="order:1", title="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(kind=Alert.Kind.OVERSOLD, key="order:1", title="again")
    Alert.objects.update(status=Alert.Status.RESOLVED, resolved_at=timezone.now())
    Alert.objects.create(kind=Alert.Kind.OVERSOLD, key="order:1", title="a new episode")


@pytest.mark.usefixtures("sandbox_http")
def test_periodic_check_records_the_outcome_and_counts_failures(tenant, settings, tmp_path, sandbox_base):
    from apps.ops.services import connections_check_due
    from apps.sandbox.http import platform_start, platform_stop
    from apps.sandbox.platforms import woocommerce

    settings.SANDBOX_STATE_DIR = tmp_path
    settings.HTTP_MAX_RETRIES = 0
    account = woocommerce.create_demo_account("check-woo", "Check Woo")
    connection = make_connection(tenant["shg"], "woocommerce", config=woocommerce.connection_config(account, sandbox_base),
                                 credentials=woocommerce.connection_credentials(account), external_account_id="check")
    assert connections_check_due() == 1
    health = ConnectionHealth.objects.get(connection=connection)
    assert health.last_check_ok is True and health.consecutive_failures == 0
    assert connections_check_due() == 0  # checked within OPS_CHECK_INTERVAL
    platform_stop("woocommerce")
    try:
        ConnectionHealth.objects.update(last_check_at=timezone.now() - timedelta(hours=2))
        assert connections_check_due() == 1
    finally:
        platform_start("woocommerce")
    health.refresh_from_db()
    assert health.last_check_ok is False and health.consecutive_failures == 1 and health.breaker == "closed"
