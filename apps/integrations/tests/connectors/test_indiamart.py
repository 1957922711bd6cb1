"""The IndiaMART connector against the sandbox CRM listing: parameters, window, throttle, CODE errors, push."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from apps.integrations.connectors.base import Capability, ConnectionContext
from apps.integrations.connectors.errors import AuthError, PermanentError, RateLimited
from apps.integrations.connectors.indiamart import IndiaMartConnector, format_time, quantity_from_message
from apps.integrations.http import HttpClient
from apps.sandbox.http import clear_forced_faults, force_faults
from apps.sandbox.models import SandboxObject
from apps.sandbox.platforms import indiamart as sandbox_im

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_http")]


@pytest.fixture
def account():
    cache.clear()
    account = sandbox_im.create_demo_account("im-seller-1", "Seller")
    yield account
    clear_forced_faults()


def make(account, sandbox_base, *, key=None, limits=True, **config) -> IndiaMartConnector:
    context = ConnectionContext(connection_id=f"im-{account.pk}", config={"base_url": f"{sandbox_base}/indiamart", **config},
                                credentials={"glusr_crm_key": key or account.secrets["glusr_crm_key"]})
    http = HttpClient(connection_key=context.connection_id,
                      rate_limits=IndiaMartConnector.rate_limits if limits else {})
    return IndiaMartConnector(context, http=http)


def test_descriptor_and_time_format():
    assert IndiaMartConnector.capabilities == frozenset({Capability.INQUIRIES})
    # 17 Sep 2022 04:04:45 UTC is 09:34:45 IST, written without a separator between date and time.
    assert format_time(datetime(2022, 9, 17, 4, 4, 45, tzinfo=UTC)) == "17-Sep-202209:34:45"
    assert quantity_from_message("I want to buy X.<br> Quantity :   6<br> Quantity Unit :   piece<br>") == "6 piece"


def test_fetches_leads_of_the_window(account, sandbox_base):
    page = make(account, sandbox_base).fetch_inquiries(since=timezone.now() - timedelta(days=3))
    truth = {row.data["UNIQUE_QUERY_ID"] for row in SandboxObject.objects.filter(account=account, kind="lead")}
    assert {i.unique_query_id for i in page.items} == truth and page.next_cursor is None
    lead = page.items[0]
    assert lead.received_at.tzinfo is not None and lead.buyer_name and lead.product_name and lead.quantity


def test_second_pull_within_five_minutes_is_refused_before_calling(account, sandbox_base):
    connector = make(account, sandbox_base)
    connector.fetch_inquiries(since=timezone.now() - timedelta(days=1))
    requests_before = connector.http.stats.requests
    with pytest.raises(RateLimited) as info:
        connector.fetch_inquiries(since=timezone.now() - timedelta(days=1))
    assert connector.http.stats.requests == requests_before
    assert 0 < info.value.retry_after <= 300


def test_stored_last_pull_is_honoured(account, sandbox_base):
    recent = (timezone.now() - timedelta(minutes=2)).isoformat()
    with pytest.raises(RateLimited):
        make(account, sandbox_base, last_pull_at=recent).fetch_inquiries(since=timezone.now() - timedelta(days=1))


def test_code_429_from_indiamart_is_rate_limited_without_retry(account, sandbox_base):
    make(account, sandbox_base, limits=False).fetch_inquiries(since=timezone.now() - timedelta(days=1))
    connector = make(account, sandbox_base, limits=False)
    with pytest.raises(RateLimited, match="5 minutes"):
        connector.fetch_inquiries(since=timezone.now() - timedelta(days=1))
    assert connector.http.stats.retries == 0  # a retry would only extend IndiaMART's block


def test_no_leads_is_an_empty_page(account, sandbox_base):
    page = make(account, sandbox_base).fetch_inquiries(since=timezone.now() - timedelta(minutes=30))
    assert page.items == []


def test_bad_key_is_auth_error(account, sandbox_base):
    with pytest.raises(AuthError, match="CRM key"):
        make(account, sandbox_base, key="wrong-key").test_connection()


def test_window_over_seven_days_is_cut_to_seven(account, sandbox_base):
    page = make(account, sandbox_base).fetch_inquiries(since=timezone.now() - timedelta(days=30))
    assert len(page.items) == 6


def test_explicit_bad_window_is_refused(account, sandbox_base):
    end = timezone.now()
    with pytest.raises(PermanentError, match="7 days"):
        make(account, sandbox_base)._listing(end - timedelta(days=8), end)


def test_server_error_retried_and_truncated_body_permanent(account, sandbox_base):
    account.settings["min_interval_seconds"] = 0
    account.save()
    connector = make(account, sandbox_base, limits=False)
    force_faults("error", 1)
    connector.fetch_inquiries(since=timezone.now() - timedelta(days=1))
    assert connector.http.stats.retries == 1
    force_faults("truncate", 1)
    connector.context.config.pop("last_pull_at")
    with pytest.raises(PermanentError) as info:
        connector.fetch_inquiries(since=timezone.now() - timedelta(days=1))
    assert info.value.raw and account.secrets["glusr_crm_key"] not in str(info.value.raw)


def test_push_body_is_parsed(account):
    row = sandbox_im.lead_row(account, 99, timezone.now())
    lead = IndiaMartConnector.parse_push(json.dumps({"CODE": 200, "STATUS": "SUCCESS", "RESPONSE": row}).encode())
    assert lead.unique_query_id == row["UNIQUE_QUERY_ID"]
    with pytest.raises(PermanentError):
        IndiaMartConnector.parse_push(b'{"RESPONSE": {}}')
