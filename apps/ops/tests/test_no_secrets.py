"""A whole connect, sync and webhook flow with DEBUG logging on every logger (urllib3, requests and httpx
included): none of the connection's credential values appears in a log line, a page or an API answer."""

from __future__ import annotations

import io
import logging

import pytest
from django.urls import reverse

from apps.accounts.models import Membership
from apps.accounts.services import partner_token_create
from apps.core.logging import ContextFilter, JsonFormatter, RedactSecretsFilter
from apps.integrations.models import Connection, SyncRun, WebhookEvent
from apps.integrations.sync import sync_connection
from apps.ops.alerts import alerts_evaluate
from apps.sandbox.platforms import woocommerce
from tests.factories import make_org, make_shg, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_http")]


class RawRecords(logging.Handler):
    """Every record as the code wrote it, before any redaction (what a misconfigured handler would print)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage() + (str(record.exc_info) if record.exc_info else ""))


@pytest.fixture
def debug_logs():
    """Root at DEBUG with the production handler's filters and JSON formatter, plus a raw capture."""
    stream = io.StringIO()
    emitted = logging.StreamHandler(stream)
    emitted.setLevel(logging.DEBUG)
    emitted.addFilter(ContextFilter())
    emitted.addFilter(RedactSecretsFilter())
    emitted.setFormatter(JsonFormatter())
    raw = RawRecords()
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    levels = {}
    for name in ["urllib3", "requests", "httpx", "httpcore", "django", "django.request", "django.db.backends",
                 "django_q", "apps"]:
        levels[name] = logging.getLogger(name).level
        logging.getLogger(name).setLevel(logging.DEBUG)
    root.handlers.insert(0, raw)  # before any handler whose redaction filter rewrites the record
    root.addHandler(emitted)
    yield stream, raw
    root.removeHandler(emitted)
    root.removeHandler(raw)
    root.setLevel(old_level)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_connect_sync_webhook_leave_no_secret_anywhere(client, debug_logs, sandbox_base, webhook_inbox,
                                                       django_capture_on_commit_callbacks, settings):
    settings.METRICS_TOKEN = "scrape-token"
    settings.DEBUG = True  # SQL statements and their parameters are logged too
    stream, raw = debug_logs
    federation = make_org()
    shg = make_shg(federation)
    coordinator = make_user(organization=federation, role=Membership.Role.COORDINATOR)
    staff = make_user(is_staff=True, is_superuser=True)
    account = woocommerce.create_demo_account("no-secrets-woo", "No Secrets Woo")
    keys = woocommerce.connection_credentials(account)

    client.force_login(coordinator)
    with django_capture_on_commit_callbacks(execute=True):  # the webhook registration runs after the commit
        response = client.post(reverse("integrations:connect", args=[shg.pk, "woocommerce"]),
                               {"store_url": woocommerce.store_home(account, sandbox_base), **keys})
    assert response.status_code == 302
    connection = Connection.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        run = sync_connection(connection_id=connection.pk)
    assert run.status == SyncRun.Status.SUCCESS and run.fetched > 0
    with django_capture_on_commit_callbacks(execute=True):
        woocommerce.create_order(account, sandbox_root=sandbox_base)
    assert webhook_inbox and webhook_inbox[-1]["status"] == 200
    assert WebhookEvent.objects.filter(connection=connection, status=WebhookEvent.Status.PROCESSED).exists()
    connection.refresh_from_db()
    secrets = [str(v) for v in connection.credentials.values() if isinstance(v, str) and len(v) >= 8]
    assert {"consumer_key", "consumer_secret", "webhook_secret"} <= set(connection.credentials), connection.credentials
    Connection.objects.filter(pk=connection.pk).update(status=Connection.Status.NEEDS_REAUTH)
    alerts_evaluate()

    pages = {}
    for name, url in [("detail", reverse("integrations:detail", args=[connection.pk])), ("home", reverse("home")),
                      ("list", reverse("integrations:list")), ("orders", reverse("orders:list")),
                      ("notifications", reverse("ops:notifications"))]:
        pages[name] = client.get(url)
    client.force_login(staff)
    for name, url in [("admin", reverse("admin:integrations_connection_change", args=[connection.pk])),
                      ("board", reverse("admin:ops_health_board")), ("auditlog", "/admin/auditlog/logentry/"),
                      ("webhooks", "/admin/integrations/webhookevent/"), ("metrics", "/metrics")]:
        pages[name] = client.get(url)
    _token, key = partner_token_create(organization=federation, name="leak check")
    client.logout()
    for name, url in [("api-connections", "/api/v1/connections/"),
                      ("api-connection", f"/api/v1/connections/{connection.pk}/"), ("api-runs", "/api/v1/sync-runs/")]:
        pages[name] = client.get(url, HTTP_AUTHORIZATION=f"Token {key}")
    for name, response in pages.items():
        assert response.status_code == 200, (name, response.status_code)

    lines = stream.getvalue().splitlines()
    assert any(f'"connection_id": "{connection.pk}"' in line for line in lines)
    assert len(raw.messages) > 200  # DEBUG really was on (SQL, HTTP and app lines)
    assert any("SELECT" in m for m in raw.messages) and any("sandbox" in m for m in raw.messages)
    for secret in secrets:
        for line in lines:
            assert secret not in line, f"a log line shows a credential: {line[:300]}"
        for message in raw.messages:
            if '"sandbox_sandbox' in message:
                continue  # the sandbox playing WooCommerce stores the keys it issued: the platform's side
            assert secret not in message, f"code logged a credential: {message[:300]}"
        for name, response in pages.items():
            assert secret not in response.content.decode(), f"the {name} page shows a credential"
