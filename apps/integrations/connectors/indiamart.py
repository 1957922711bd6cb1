"""IndiaMART Lead Manager (CRM) API v2: the buyer inquiries ("leads") an IndiaMART seller receives.

Pull: `GET https://mapi.indiamart.com/wservce/crm/crmListing/v2/?glusr_crm_key=<key>&start_time=<t>&end_time=<t>`
with times as `dd-Mon-yyyyHH:MM:SS` (IST, e.g. 17-Sep-202209:34:45). The window is at most 7 days; the
key may be used once every 5 minutes, and IndiaMART blocks a key that calls more often. The answer is
always JSON with its own CODE: 200 with RESPONSE rows; 204 "no leads in the given time duration"; 429
"It is advised to hit this API once in every 5 minutes"; 401/403 for a wrong or expired key; 400 for a
bad window. Haat enforces the interval twice: a stored last pull (the service passes it as
`config["last_pull_at"]`; a call too soon raises RateLimited without reaching IndiaMART) and the
HTTP client's token bucket (one call per 300 s per connection, across workers).

Push: IndiaMART can also POST each new lead to a URL the seller registers in Lead Manager ("Push API"),
the same row fields inside `{"CODE": 200, "STATUS": "SUCCESS", "RESPONSE": {...}}`. It carries no
signature, so Haat's endpoint authenticates it by an unguessable per-connection token in the URL
(apps/tenders/views.py: indiamart_push).

IndiaMART has no API to answer a lead: quotes go to the buyer by email with a PDF and a shareable link.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from apps.integrations.connectors.base import AuthKind, Capability, Connector, CredentialField, Page
from apps.integrations.connectors.errors import AuthError, PermanentError, RateLimited
from apps.integrations.http import HttpClient, RateLimit

IST = timezone(timedelta(hours=5, minutes=30))
MIN_INTERVAL = timedelta(minutes=5)
MAX_WINDOW = timedelta(days=7)
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass
class InquiryData:
    unique_query_id: str
    received_at: datetime
    query_type: str = ""
    buyer_name: str = ""
    company: str = ""
    email: str = ""
    mobile: str = ""
    city: str = ""
    state: str = ""
    product_name: str = ""
    subject: str = ""
    category: str = ""
    quantity: str = ""
    message: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


def format_time(value: datetime) -> str:
    """IndiaMART's `dd-Mon-yyyyHH:MM:SS`, in IST (month names in English whatever the locale)."""
    local = value.astimezone(IST)
    return f"{local.day:02d}-{MONTHS[local.month - 1]}-{local.year:04d}{local:%H:%M:%S}"


def parse_query_time(value: Any) -> datetime:
    """QUERY_TIME is `YYYY-MM-DD HH:MM:SS` in IST."""
    try:
        return datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST)
    except ValueError:
        raise PermanentError(f"IndiaMART sent an unreadable QUERY_TIME: {str(value)[:40]}", raw=str(value)) from None


def quantity_from_message(message: str) -> str:
    """IndiaMART writes the buyer's answers into QUERY_MESSAGE as `<br> Quantity :   6<br> Quantity Unit : piece`."""
    parts = {}
    for chunk in message.replace("\r", "").split("<br>"):
        if ":" in chunk:
            key, _sep, value = chunk.partition(":")
            parts[key.strip().lower()] = value.strip()
    quantity = parts.get("quantity", "")
    unit = parts.get("quantity unit", "")
    return f"{quantity} {unit}".strip() if quantity else ""


def inquiry_from_row(row: Any) -> InquiryData:
    if not isinstance(row, dict) or not row.get("UNIQUE_QUERY_ID"):
        raise PermanentError("IndiaMART sent a lead without UNIQUE_QUERY_ID", raw=json.dumps(row)[:2000])
    message = str(row.get("QUERY_MESSAGE") or "")
    return InquiryData(
        unique_query_id=str(row["UNIQUE_QUERY_ID"]), received_at=parse_query_time(row.get("QUERY_TIME")),
        query_type=str(row.get("QUERY_TYPE") or ""), buyer_name=str(row.get("SENDER_NAME") or ""),
        company=str(row.get("SENDER_COMPANY") or ""), email=str(row.get("SENDER_EMAIL") or ""),
        mobile=str(row.get("SENDER_MOBILE") or ""), city=str(row.get("SENDER_CITY") or ""),
        state=str(row.get("SENDER_STATE") or ""), product_name=str(row.get("QUERY_PRODUCT_NAME") or ""),
        subject=str(row.get("SUBJECT") or ""), category=str(row.get("QUERY_MCAT_NAME") or ""),
        quantity=quantity_from_message(message), message=message, raw=row,
    )


class IndiaMartConnector(Connector):
    slug = "indiamart"
    name = "IndiaMART"
    auth_kind = AuthKind.API_KEY
    capabilities = frozenset({Capability.INQUIRIES})
    credential_fields = (
        CredentialField("glusr_crm_key", "CRM key", secret=True,
                        help_text="Seller panel → Lead Manager → Import/Export leads → CRM integration: "
                                  "'Generate key' (one key per seller account)."),
    )
    rate_limits = {"crm_listing": RateLimit(rate=1 / MIN_INTERVAL.total_seconds(), burst=1)}
    default_poll_interval = timedelta(minutes=15)
    docs_url = "https://help.indiamart.com/knowledge-base/lms-crm-integration-v2/"

    @classmethod
    def default_base_url(cls, context) -> str:
        return "https://mapi.indiamart.com"

    def _key(self) -> str:
        key = str(self.context.credentials.get("glusr_crm_key") or "").strip()
        if not key:
            raise AuthError("The IndiaMART CRM key is missing: reconnect this channel.")
        return key

    def _too_soon(self) -> None:
        last = self.context.config.get("last_pull_at")
        if not last:
            return
        try:
            last_at = datetime.fromisoformat(str(last))
        except ValueError:
            return
        wait = (last_at + MIN_INTERVAL - datetime.now(IST)).total_seconds()
        if wait > 0:
            raise RateLimited(f"IndiaMART allows one pull every 5 minutes; the next is possible in {int(wait) + 1} s.",
                              retry_after=wait)

    def _listing(self, start: datetime, end: datetime) -> dict:
        if end <= start:
            raise PermanentError("The IndiaMART window must end after it starts")
        if end - start > MAX_WINDOW:
            raise PermanentError("IndiaMART answers at most 7 days per pull")
        self._too_soon()
        response = self.http.request(
            "GET", f"{self.base_url}/wservce/crm/crmListing/v2/", operation="crm_listing",
            params={"glusr_crm_key": self._key(), "start_time": format_time(start), "end_time": format_time(end)},
        )
        # Every successful reach of IndiaMART counts against the 5-minute rule, whatever its CODE.
        self.context.config["last_pull_at"] = datetime.now(IST).isoformat()
        data = HttpClient.json(response)
        if not isinstance(data, dict) or "CODE" not in data:
            raise PermanentError("IndiaMART's answer has no CODE", raw=response.content[:4000],
                                 status_code=response.status_code)
        code, words = data.get("CODE"), str(data.get("MESSAGE") or data.get("STATUS") or "")[:300]
        raw = response.content.replace(self._key().encode(), b"***")[:8000]
        if code == 200:
            if not isinstance(data.get("RESPONSE"), list):
                raise PermanentError("IndiaMART's answer has no RESPONSE list", raw=raw, status_code=200)
            return data
        if code == 204:
            return {"RESPONSE": []}
        if code == 429:
            raise RateLimited(f"IndiaMART: {words or 'one pull every 5 minutes'}", retry_after=MIN_INTERVAL.total_seconds(),
                              raw=raw, status_code=429)
        if code in (401, 403):
            raise AuthError(f"IndiaMART refused the CRM key: {words}", raw=raw, status_code=code)
        raise PermanentError(f"IndiaMART answered CODE {code}: {words}", raw=raw,
                             status_code=code if isinstance(code, int) else None)

    def test_connection(self) -> dict[str, Any]:
        """One pull of the last few minutes: proves the key (IndiaMART has no cheaper call)."""
        end = datetime.now(IST)
        data = self._listing(end - timedelta(minutes=10), end)
        key = self._key()
        return {"external_account_id": f"crm-key-{key[-6:]}", "display_name": "IndiaMART leads",
                "leads_in_last_10_minutes": len(data["RESPONSE"]), "last_pull_at": self.context.config["last_pull_at"]}

    def fetch_inquiries(self, *, since: datetime, until: datetime | None = None) -> Page[InquiryData]:
        """Leads received in [since, until] (at most the last 7 days). One call; IndiaMART does not page."""
        end = until or datetime.now(IST)
        start = max(since, end - MAX_WINDOW + timedelta(seconds=1))
        data = self._listing(start, end)
        return Page(items=[inquiry_from_row(row) for row in data["RESPONSE"]], next_cursor=None)

    @staticmethod
    def parse_push(body: bytes) -> InquiryData:
        """One lead from IndiaMART's push (webhook) delivery."""
        try:
            data = json.loads(body or b"null")
        except ValueError:
            raise PermanentError("IndiaMART's push body is not JSON", raw=body[:2000]) from None
        row = data.get("RESPONSE") if isinstance(data, dict) else None
        return inquiry_from_row(row)
