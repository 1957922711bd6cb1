"""The GeM connector against the sandbox BidPlus listing: session bootstrap, paging, search, failures."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.integrations.connectors.base import Capability, ConnectionContext
from apps.integrations.connectors.errors import PermanentError, RateLimited
from apps.integrations.connectors.gem import GemConnector
from apps.integrations.connectors.registry import get_connector_class
from apps.integrations.http import HttpClient
from apps.sandbox.http import clear_forced_faults, force_faults
from apps.sandbox.models import SandboxObject
from apps.sandbox.platforms import gem as sandbox_gem

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_http")]


@pytest.fixture
def account():
    account = sandbox_gem.create_demo_account(sandbox_gem.LISTING_ACCOUNT, "GeM")
    yield account
    clear_forced_faults()


def make(sandbox_base, **config) -> GemConnector:
    context = ConnectionContext(connection_id=f"gem-test-{id(config)}", credentials={},
                                config={"base_url": f"{sandbox_base}/gem", **config})
    return GemConnector(context, http=HttpClient(connection_key=context.connection_id, rate_limits={}))


def collect(connector):
    items, cursor, pages = [], None, 0
    while True:
        page = connector.fetch_tenders(cursor=cursor)
        items.extend(page.items)
        pages += 1
        cursor = page.next_cursor
        if not cursor:
            return items, pages


def test_descriptor():
    cls = get_connector_class("gem")
    assert cls is GemConnector
    assert cls.capabilities == frozenset({Capability.TENDERS})


def test_pages_through_every_open_bid_soonest_first(account, sandbox_base):
    items, pages = collect(make(sandbox_base))
    truth = {row.key for row in SandboxObject.objects.filter(account=account, kind="bid")}
    assert {t.bid_number for t in items} == truth
    assert pages == 3  # 25 bids, ten a page like GeM
    assert [t.deadline for t in items] == sorted(t.deadline for t in items)
    first = items[0]
    assert first.category and first.ministry and first.deadline.tzinfo is not None
    assert first.documents[0]["url"].endswith(f"/showbidDocument/{first.external_id}")


def test_closed_bids_are_not_listed(account, sandbox_base):
    row = SandboxObject.objects.filter(account=account, kind="bid").first()
    row.data["final_end_date_sort"] = ["2020-01-01T10:00:00Z"]
    row.save()
    items, _ = collect(make(sandbox_base))
    assert row.key not in {t.bid_number for t in items}


def test_keywords_use_gems_full_text_search(account, sandbox_base):
    items, _ = collect(make(sandbox_base, keywords="saree"))
    assert items and all("saree" in t.category.lower() for t in items)


def test_test_connection_counts_open_bids(account, sandbox_base):
    info = make(sandbox_base).test_connection()
    assert info["external_account_id"] == "bidplus" and info["open_bids"] == 25


def test_stale_session_is_renewed_once(account, sandbox_base, monkeypatch):
    connector = make(sandbox_base)
    connector._session = ("0" * 32, "csrf_gem_cookie=stale")
    page = connector.fetch_tenders()
    assert len(page.items) == 10
    assert connector.http.stats.by_operation["session"] == 1


def test_rate_limit_and_server_errors_are_retried(account, sandbox_base):
    connector = make(sandbox_base)
    force_faults("429", 1)
    connector.fetch_tenders()
    assert connector.http.stats.rate_limited == 1
    force_faults("error", 1)
    connector.fetch_tenders(cursor="2")
    assert connector.http.stats.retries == 2


def test_persistent_rate_limit_raises(account, sandbox_base):
    connector = make(sandbox_base)
    connector.http.max_retries = 1
    force_faults("429", 5)
    with pytest.raises(RateLimited):
        connector.fetch_tenders()


def test_truncated_answer_is_permanent_and_keeps_raw(account, sandbox_base):
    connector = make(sandbox_base)
    connector._open_session()
    force_faults("truncate", 1)
    with pytest.raises(PermanentError) as info:
        connector.fetch_tenders()
    assert info.value.raw


def test_bid_without_number_is_refused(account, sandbox_base):
    row = SandboxObject.objects.filter(account=account, kind="bid").order_by("data__final_end_date_sort").first()
    row.data.pop("b_bid_number")
    row.save()
    with pytest.raises(PermanentError, match="b_bid_number"):
        collect(make(sandbox_base))


def test_new_bid_appears(account, sandbox_base):
    bid = sandbox_gem.create_bid(account, title="Jute file folder", days=3)
    items, _ = collect(make(sandbox_base, keywords="jute folder"))
    assert [t.bid_number for t in items] == bid["b_bid_number"]
    assert items[0].deadline > timezone.now()
