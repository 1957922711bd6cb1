"""GeM (Government e-Marketplace): open bids from the public BidPlus listing. GeM has no seller API.

What GeM publishes: https://bidplus.gem.gov.in/all-bids is the public list of open bids. The page holds
a CSRF token (`csrf_bd_gem_nk`) and sets a session cookie; the list itself is loaded from
`POST /all-bids-data`, a form field `payload` (JSON: page, param.searchBid, filter.bidStatusType
"ongoing_bids", sort) plus the token, answering Solr documents ten per page:
`{"code": 200, "response": {"response": {"numFound", "start", "docs": [{b_id: [..], b_bid_number: [..],
b_category_name, b_total_quantity, final_start_date_sort, final_end_date_sort,
ba_official_details_minName, ba_official_details_deptName, ...}]}}}` (every field a one-item list).
The bid document is `GET /showbidDocument/{b_id}`. The listing carries no EMD: it is in the bid
document, so Haat reads it from a file the coordinator uploads, or leaves it blank.

Registration, bidding and results happen on the portal only; Haat never submits anything (see
apps/tenders/services.py: it prepares the bid sheet and documents bundle for the coordinator).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import requests

from apps.integrations.connectors.base import AuthKind, Capability, Connector, CredentialField, Page
from apps.integrations.connectors.errors import ConnectorError, PermanentError
from apps.integrations.http import HttpClient, RateLimit, default_classify

CSRF_RE = re.compile(r"""name=["']csrf_bd_gem_nk["'][^>]*value=["']([0-9a-fA-F]{32})["']""")
PAGE_SIZE = 10  # fixed by GeM


@dataclass
class TenderData:
    """One open bid as the listing (or an uploaded export) describes it."""

    bid_number: str
    category: str
    deadline: datetime
    external_id: str = ""
    ministry: str = ""
    department: str = ""
    state: str = ""
    quantity: int | None = None
    starts_at: datetime | None = None
    emd_amount: Decimal | None = None
    documents: list[dict[str, str]] = field(default_factory=list)
    detail_url: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


def _first(doc: dict, key: str) -> Any:
    value = doc.get(key)
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _when(value: Any, what: str) -> datetime:
    if not isinstance(value, str) or not value:
        raise PermanentError(f"GeM sent a bid without its {what}", raw=json.dumps(value))
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise PermanentError(f"GeM sent an unreadable {what}: {value[:40]}", raw=value) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class GemConnector(Connector):
    slug = "gem"
    name = "GeM"
    auth_kind = AuthKind.API_KEY
    capabilities = frozenset({Capability.TENDERS})
    credential_fields = (
        CredentialField("keywords", "Search words", required=False, stored_in="config",
                        help_text="Optional: only bids whose text has these words (GeM's full-text search), "
                                  "e.g. 'saree jute bag'. Empty: every open bid, matched to your catalog in Haat."),
    )
    # GeM publishes no limits for its listing; Haat reads it gently (a page every two seconds at most).
    rate_limits = {"session": RateLimit(rate=0.2, burst=2), "listing": RateLimit(rate=0.5, burst=2)}
    default_poll_interval = timedelta(hours=1)
    docs_url = "https://bidplus.gem.gov.in/all-bids"
    connect_summary = "No key (public bid listing)"

    @classmethod
    def default_base_url(cls, context) -> str:
        return "https://bidplus.gem.gov.in"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._session: tuple[str, str] | None = None

    def _classify(self, response: requests.Response) -> ConnectorError | None:
        error = default_classify(response)
        if error is not None and response.status_code in (401, 403):
            # There are no credentials to renew: a refused session is retried with a fresh one, then permanent.
            return PermanentError(f"GeM refused the listing session (HTTP {response.status_code})",
                                  raw=response.content, status_code=response.status_code)
        return error

    def _open_session(self) -> tuple[str, str]:
        """Load the listing page: its CSRF token and the cookie it is bound to."""
        response = self.http.request("GET", f"{self.base_url}/all-bids", operation="session", classify=self._classify,
                                     headers={"Accept": "text/html"})
        match = CSRF_RE.search(response.text or "")
        if not match:
            raise PermanentError("GeM's bid listing page has no csrf_bd_gem_nk token: its layout changed",
                                 raw=response.content[:4000], status_code=response.status_code)
        cookie = "; ".join(f"{k}={v}" for k, v in response.cookies.items())
        if not cookie:
            pairs = (part.split(";", 1)[0].strip() for part in response.headers.get("Set-Cookie", "").split(","))
            cookie = "; ".join(pair for pair in pairs if "=" in pair)
        self._session = (match.group(1), cookie)
        return self._session

    def _listing_page(self, page: int, keywords: str) -> dict:
        payload = {"page": page, "param": {"searchBid": keywords, "searchType": "fullText"},
                   "filter": {"bidStatusType": "ongoing_bids", "byType": "all", "highBidValue": "",
                              "byEndDate": {"from": "", "to": ""}, "sort": "Bid-End-Date-Oldest"}}
        for attempt in (1, 2):
            token, cookie = self._session or self._open_session()
            try:
                response = self.http.request(
                    "POST", f"{self.base_url}/all-bids-data", operation="listing", classify=self._classify,
                    data={"payload": json.dumps(payload), "csrf_bd_gem_nk": token},
                    headers={"X-Requested-With": "XMLHttpRequest", "Cookie": cookie,
                             "Referer": f"{self.base_url}/all-bids", "Accept": "application/json"},
                )
            except PermanentError as exc:
                if exc.status_code in (401, 403) and attempt == 1:
                    self._session = None  # the token expired with the cookie: take a new pair once
                    continue
                raise
            if response.text.lstrip().startswith("<") and attempt == 1:
                self._session = None  # GeM answers its HTML page when the session lapsed
                continue
            data = HttpClient.json(response)
            body = data.get("response", {}).get("response") if isinstance(data, dict) else None
            if not isinstance(body, dict) or not isinstance(body.get("docs"), list):
                raise PermanentError("GeM's listing answer has no response.response.docs",
                                     raw=response.content[:8000], status_code=response.status_code)
            return body
        raise AssertionError("unreachable")  # pragma: no cover

    def test_connection(self) -> dict[str, Any]:
        body = self._listing_page(1, str(self.context.config.get("keywords") or ""))
        return {"external_account_id": "bidplus", "display_name": "GeM open bids",
                "open_bids": int(body.get("numFound") or 0)}

    def fetch_tenders(self, *, cursor: str | None = None) -> Page[TenderData]:
        """One page of open bids, ending soonest first; `next_cursor` is the next page number."""
        page = int(cursor or 1)
        body = self._listing_page(page, str(self.context.config.get("keywords") or ""))
        items = [self._tender(doc) for doc in body["docs"]]
        found, start = int(body.get("numFound") or 0), int(body.get("start") or 0)
        more = body["docs"] and start + len(body["docs"]) < found
        return Page(items=items, next_cursor=str(page + 1) if more else None)

    def _tender(self, doc: Any) -> TenderData:
        if not isinstance(doc, dict):
            raise PermanentError("GeM sent a bid that is not an object", raw=json.dumps(doc)[:2000])
        number = _first(doc, "b_bid_number")
        if not isinstance(number, str) or not number:
            raise PermanentError("GeM sent a bid without b_bid_number", raw=json.dumps(doc)[:2000])
        bid_id = str(_first(doc, "b_id") or doc.get("id") or "")
        quantity = _first(doc, "b_total_quantity")
        return TenderData(
            bid_number=number, external_id=bid_id,
            category=str(_first(doc, "b_category_name") or "").strip(),
            ministry=str(_first(doc, "ba_official_details_minName") or ""),
            department=str(_first(doc, "ba_official_details_deptName") or ""),
            quantity=int(quantity) if isinstance(quantity, int | float) and quantity >= 0 else None,
            starts_at=_when(_first(doc, "final_start_date_sort"), "start date") if _first(doc, "final_start_date_sort")
            else None,
            deadline=_when(_first(doc, "final_end_date_sort"), "end date"),
            documents=[{"name": "GeM bid document", "url": f"{self.base_url}/showbidDocument/{bid_id}"}] if bid_id else [],
            detail_url=f"{self.base_url}/showbidDocument/{bid_id}" if bid_id else "",
            raw=doc,
        )
