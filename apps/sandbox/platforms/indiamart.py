"""Sandbox of IndiaMART's Lead Manager CRM API v2 (crmListing) and its push delivery.

Same path and parameters as the real one: `GET /wservce/crm/crmListing/v2/?glusr_crm_key=&start_time=
&end_time=` with `dd-Mon-yyyyHH:MM:SS` times (IST). Answers carry IndiaMART's own CODE with HTTP 200: 200
with RESPONSE rows, 204 when the window has no lead, 429 when the key called within the last 5 minutes
(`settings["min_interval_seconds"]`, 300 like IndiaMART), 401 for an unknown key, 400 for a window
over 7 days or unreadable times. Leads are generated from dataset.PRODUCT_NAMES: buyers asking for the
demo SHGs' kinds of products.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_GET

from apps.sandbox import dataset
from apps.sandbox import http as sandbox_http
from apps.sandbox.http import json_response, sandbox_endpoint
from apps.sandbox.models import SandboxAccount, SandboxObject

PLATFORM = "indiamart"
IST_OFFSET = timedelta(hours=5, minutes=30)
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
RATE_MESSAGE = ("It is advised to hit this API once in every 5 minutes, but it seems that you have crossed this limit. "
                "Please try again after 5 minutes.")
NO_LEADS = "There are no leads in the given time duration. Please try for a different duration."
COMPANIES = ["Shree Ganesh Traders", "Green Basket Retail", "Orchid Hotels Pvt Ltd", "Vidya School Supplies",
             "Annapurna Caterers", ""]


def _answer(code: int, message: str = "", rows: list | None = None) -> HttpResponse:
    status = "SUCCESS" if code == 200 else "FAILURE"
    return json_response({"CODE": code, "STATUS": status, "MESSAGE": message,
                          "TOTAL_RECORDS": len(rows or []), "RESPONSE": rows or []})


def server_error(status: int, message: str) -> HttpResponse:
    return HttpResponse(f"<html><body>{status} {message}</body></html>", status=status, content_type="text/html")


def rate_limited() -> HttpResponse:
    return _answer(429, RATE_MESSAGE)


endpoint = sandbox_endpoint(server_error=server_error, rate_limited=rate_limited)


def _ist_text(value: datetime) -> str:
    return (value.astimezone(dataset.UTC) + IST_OFFSET).strftime("%Y-%m-%d %H:%M:%S")


def _parse(value: str) -> datetime | None:
    try:
        day, month, rest = value[:2], value[3:6], value[7:]
        parsed = datetime.strptime(f"{day}-{MONTHS.index(month) + 1:02d}-{rest}", "%d-%m-%Y%H:%M:%S")
    except (ValueError, IndexError):
        return None
    return (parsed - IST_OFFSET).replace(tzinfo=dataset.UTC)


def lead_row(account: SandboxAccount, index: int, when: datetime) -> dict:
    rng = dataset._rng(PLATFORM, account.account_id, "lead", index)
    title, category, _price = dataset.PRODUCT_NAMES[rng.randrange(len(dataset.PRODUCT_NAMES))]
    first, last = rng.choice(dataset.FIRST_NAMES), rng.choice(dataset.LAST_NAMES)
    city, state, pincode = rng.choice(dataset.CITIES)
    quantity = rng.choice([20, 50, 100, 250, 500])
    return {
        "UNIQUE_QUERY_ID": str(2600000000 + account.pk * 100000 + index), "QUERY_TYPE": rng.choice(["W", "B", "P"]),
        "QUERY_TIME": _ist_text(when), "SENDER_NAME": f"{first} {last}",
        "SENDER_MOBILE": f"+91-98{rng.randint(10**7, 10**8 - 1)}",
        "SENDER_EMAIL": f"{first.lower()}.{last.lower()}@example.in", "SUBJECT": f"Requirement for {title}",
        "SENDER_COMPANY": rng.choice(COMPANIES), "SENDER_ADDRESS": f"{city}, {state}, {pincode}",
        "SENDER_CITY": city, "SENDER_STATE": state, "SENDER_PINCODE": pincode, "SENDER_COUNTRY_ISO": "IN",
        "SENDER_MOBILE_ALT": "", "SENDER_PHONE": "", "SENDER_PHONE_ALT": "", "SENDER_EMAIL_ALT": "",
        "QUERY_PRODUCT_NAME": title,
        "QUERY_MESSAGE": (f"I want to buy {title}.<br> Quantity :   {quantity}<br> Quantity Unit :   Piece<br> "
                          "Probable Requirement Type :   Business Use<br>"),
        "QUERY_MCAT_NAME": category, "CALL_DURATION": "", "RECEIVER_MOBILE": "",
    }


def create_demo_account(account_id: str, name: str, *, leads: int = 6) -> SandboxAccount:
    """A seller with a CRM key and a few leads over the last two days; idempotent."""
    account, created = SandboxAccount._default_manager.get_or_create(
        platform=PLATFORM, account_id=account_id,
        defaults={"name": name, "secrets": {"glusr_crm_key": secrets.token_urlsafe(32)},
                  "settings": {"min_interval_seconds": 300}, "seeded": True},
    )
    if created:
        now = timezone.now().replace(microsecond=0)
        rows = []
        for index in range(leads):
            when = now - timedelta(hours=2 + index * 7)
            rows.append(SandboxObject(account=account, kind="lead", key=str(index),
                                      data=lead_row(account, index, when), updated_at=when))
        SandboxObject.objects.bulk_create(rows)
    reset_throttle(account)  # a demo account is ready to be connected (and its key tested) at once
    return account


def connection_config(account: SandboxAccount, sandbox_root: str) -> dict:
    return {"base_url": f"{sandbox_root.rstrip('/')}/{PLATFORM}"}


def connection_credentials(account: SandboxAccount) -> dict:
    return {"glusr_crm_key": account.secrets["glusr_crm_key"]}


def reset_throttle(account: SandboxAccount) -> None:
    """Forget the key's last call (tests and the demo seed, which connect and pull within one minute)."""
    SandboxObject.objects.filter(account=account, kind="last_call").delete()


def create_lead(account: SandboxAccount, *, push_url: str = "") -> dict:
    """A buyer sends an inquiry now; with `push_url`, IndiaMART's push delivery is sent there too."""
    now = timezone.now().replace(microsecond=0)
    index = SandboxObject.objects.filter(account=account, kind="lead").count()
    row = lead_row(account, index, now)
    SandboxObject.objects.create(account=account, kind="lead", key=str(index), data=row, updated_at=now)
    if push_url:
        body = json.dumps({"CODE": 200, "STATUS": "SUCCESS", "RESPONSE": row}).encode()
        sandbox_http.deliver_webhook(push_url, body, {"Content-Type": "application/json"})
    return row


@endpoint
@require_GET
def crm_listing(request: HttpRequest) -> HttpResponse:
    key = request.GET.get("glusr_crm_key", "")
    account = None
    if key:
        for candidate in SandboxAccount._default_manager.filter(platform=PLATFORM):
            if secrets.compare_digest(candidate.secrets.get("glusr_crm_key", ""), key):
                account = candidate
    if account is None:
        return _answer(401, "Invalid key. Please use the correct CRM key or generate a new one.")
    now = timezone.now()
    interval = int(account.settings.get("min_interval_seconds", 300))
    last = SandboxObject.objects.filter(account=account, kind="last_call").first()
    if last is not None and interval and last.updated_at > now - timedelta(seconds=interval):
        return _answer(429, RATE_MESSAGE)
    SandboxObject.objects.update_or_create(account=account, kind="last_call", key="key",
                                           defaults={"data": {}, "updated_at": now})
    start, end = _parse(request.GET.get("start_time", "")), _parse(request.GET.get("end_time", ""))
    if start is None or end is None or end < start:
        return _answer(400, "Please provide valid start_time and end_time (dd-Mon-yyyyHH:MM:SS).")
    if end - start > timedelta(days=7):
        return _answer(400, "The difference between start_time and end_time should not be more than 7 days.")
    rows = [o.data for o in SandboxObject.objects.filter(account=account, kind="lead", updated_at__gte=start,
                                                         updated_at__lte=end).order_by("updated_at", "id")]
    return _answer(200, "", rows) if rows else _answer(204, NO_LEADS)


urlpatterns = [path("wservce/crm/crmListing/v2/", crm_listing, name="crm_listing")]
