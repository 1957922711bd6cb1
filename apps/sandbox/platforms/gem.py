"""Sandbox of GeM's public BidPlus listing: the all-bids page (CSRF token + cookie) and all-bids-data.

Same shapes as the real listing (apps/integrations/connectors/gem.py describes them): Solr documents with
one-item lists, ten per page, ending soonest first, only bids still open, GeM's full-text `searchBid`.
The token is bound to the cookie (an HMAC of it), so a request with a stale or missing pair is refused
(403) the way a lapsed portal session is. Bids are generated from dataset.PRODUCT_NAMES plus unrelated
government purchases, so some match a demo SHG's catalog and some do not.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from apps.sandbox import dataset
from apps.sandbox.http import json_response, sandbox_endpoint
from apps.sandbox.models import SandboxAccount, SandboxObject

PLATFORM = "gem"
LISTING_ACCOUNT = "bidplus"
PAGE_SIZE = 10
COOKIE = "csrf_gem_cookie"
OTHER_PURCHASES = [
    "Laptop - Notebook", "Office chair (V3)", "Diesel generator 62.5 kVA", "Toner cartridge", "Mild steel almirah",
    "Multifunction printer", "Hiring of sanitation services", "Surgical gloves", "LED luminaire", "Water purifier",
]
MINISTRIES = [("Ministry of Rural Development", "Department of Rural Development", "Bihar"),
              ("Ministry of Textiles", "Office of the Development Commissioner (Handlooms)", "Uttar Pradesh"),
              ("Ministry of Defence", "Department of Military Affairs", "Maharashtra"),
              ("Ministry of Health and Family Welfare", "Department of Health and Family Welfare", "Kerala"),
              ("Ministry of Education", "Department of School Education and Literacy", "Odisha")]


def server_error(status: int, message: str) -> HttpResponse:
    return HttpResponse(f"<html><body><h1>{status}</h1><p>{message}</p></body></html>", status=status,
                        content_type="text/html")


def rate_limited() -> HttpResponse:
    return HttpResponse("<html><body>Too Many Requests</body></html>", status=429, content_type="text/html",
                        headers={"Retry-After": "2"})


endpoint = sandbox_endpoint(server_error=server_error, rate_limited=rate_limited)


def _account() -> SandboxAccount:
    account = SandboxAccount._default_manager.filter(platform=PLATFORM, account_id=LISTING_ACCOUNT).first()
    return account or create_demo_account(LISTING_ACCOUNT, "GeM BidPlus (sandbox)")


def _token_for(account: SandboxAccount, cookie: str) -> str:
    return hmac.new(account.secrets["csrf_secret"].encode(), cookie.encode(), hashlib.sha256).hexdigest()[:32]


def generate_bids(account: SandboxAccount, count: int = 25) -> list[dict]:
    """Open bids in GeM's document shape, deadlines from 1 to 30 days ahead."""
    rng = dataset._rng(PLATFORM, account.account_id, "bids")
    now = timezone.now().replace(microsecond=0)
    titles = [name for name, _category, _price in dataset.PRODUCT_NAMES[:14]] + OTHER_PURCHASES
    bids = []
    for index in range(count):
        title = titles[index % len(titles)]
        ministry, department, _state = MINISTRIES[index % len(MINISTRIES)]
        start = now - timedelta(days=rng.randint(1, 10))
        end = now + timedelta(days=1 + (index * 29) // max(count - 1, 1), hours=rng.randint(0, 20))
        bid_id = 8000000 + index
        bids.append({
            "id": str(bid_id), "b_id": [bid_id], "b_bid_number": [f"GEM/{now.year}/B/{6000000 + index}"],
            "b_category_name": [title], "b_total_quantity": [rng.choice([25, 50, 100, 200, 500, 1000])],
            "b_status": [1], "b_bid_type": [1], "b_type": [0], "final_start_date_sort": [dataset.iso(start)],
            "final_end_date_sort": [dataset.iso(end)], "is_high_value": [False],
            "ba_official_details_minName": [ministry], "ba_official_details_deptName": [department],
            "ba_is_global_tendering": [0], "is_rc_bid": [0],
        })
    return bids


def create_demo_account(account_id: str, name: str) -> SandboxAccount:
    """The public listing (one per sandbox); idempotent. GeM needs no seller credentials to read it."""
    account, created = SandboxAccount._default_manager.get_or_create(
        platform=PLATFORM, account_id=account_id,
        defaults={"name": name, "secrets": {"csrf_secret": secrets.token_hex(16)}, "seeded": True},
    )
    if created:
        SandboxObject.objects.bulk_create([
            SandboxObject(account=account, kind="bid", key=bid["b_bid_number"][0], data=bid,
                          updated_at=timezone.now()) for bid in generate_bids(account)])
    return account


def connection_config(account: SandboxAccount, sandbox_root: str) -> dict:
    return {"base_url": f"{sandbox_root.rstrip('/')}/{PLATFORM}"}


def connection_credentials(account: SandboxAccount) -> dict:
    return {}


def create_bid(account: SandboxAccount, *, title: str, days: int = 5, quantity: int = 100) -> dict:
    """A new bid published now (the sandbox's "a department just posted")."""
    now = timezone.now().replace(microsecond=0)
    index = SandboxObject.objects.filter(account=account, kind="bid").count()
    bid = generate_bids(account, count=1)[0]
    bid_id = 8100000 + index
    bid.update({"id": str(bid_id), "b_id": [bid_id], "b_bid_number": [f"GEM/{now.year}/B/{6100000 + index}"],
                "b_category_name": [title], "b_total_quantity": [quantity],
                "final_end_date_sort": [dataset.iso(now + timedelta(days=days))]})
    SandboxObject.objects.create(account=account, kind="bid", key=bid["b_bid_number"][0], data=bid, updated_at=now)
    return bid


@endpoint
@require_GET
def all_bids_page(request: HttpRequest) -> HttpResponse:
    account = _account()
    cookie = request.COOKIES.get(COOKIE) or secrets.token_hex(16)
    token = _token_for(account, cookie)
    html = ("<!doctype html><html><head><title>All Bids</title></head><body>"
            f'<form id="bidsearch"><input type="hidden" name="csrf_bd_gem_nk" value="{token}"></form>'
            "<div id=\"bidCard\"></div></body></html>")
    response = HttpResponse(html, content_type="text/html; charset=UTF-8")
    response.set_cookie(COOKIE, cookie, httponly=True, samesite="Lax")
    return response


def _matches(bid: dict, words: list[str]) -> bool:
    text = " ".join(str(v[0]) for k, v in bid.items() if isinstance(v, list) and v and isinstance(v[0], str)).lower()
    return all(word in text for word in words)


@endpoint
@require_POST
def all_bids_data(request: HttpRequest) -> HttpResponse:
    account = _account()
    cookie = request.COOKIES.get(COOKIE, "")
    if not cookie or not hmac.compare_digest(_token_for(account, cookie), request.POST.get("csrf_bd_gem_nk", "")):
        return HttpResponse("<html><body>The action you have requested is not allowed.</body></html>", status=403,
                            content_type="text/html")
    try:
        payload = json.loads(request.POST.get("payload") or "")
        page = int(payload.get("page") or 1)
    except (ValueError, TypeError, AttributeError):
        return json_response({"status": 0, "code": 400, "message": "Invalid payload"}, status=400)
    words = str((payload.get("param") or {}).get("searchBid") or "").lower().split()
    now = timezone.now()
    bids = [row.data for row in SandboxObject.objects.filter(account=account, kind="bid")]
    status_type = (payload.get("filter") or {}).get("bidStatusType", "ongoing_bids")
    if status_type == "ongoing_bids":
        bids = [b for b in bids if dataset.parse_iso(b["final_end_date_sort"][0]) > now]
    bids = sorted((b for b in bids if _matches(b, words)), key=lambda b: (b["final_end_date_sort"][0], b["id"]))
    start = (max(page, 1) - 1) * PAGE_SIZE
    return json_response({"status": 1, "code": 200, "message": "Bid result", "response": {"response": {
        "numFound": len(bids), "start": start, "numFoundExact": True, "docs": bids[start:start + PAGE_SIZE]}}})


@endpoint
@require_GET
def show_bid_document(request: HttpRequest, bid_id: str) -> HttpResponse:
    account = _account()
    if not SandboxObject.objects.filter(account=account, kind="bid", data__id=bid_id).exists():
        return server_error(404, "Document not found")
    body = b"%PDF-1.4\n% GeM sandbox bid document " + bid_id.encode() + b"\n%%EOF\n"
    return HttpResponse(body, content_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="GeM-Bidding-{bid_id}.pdf"'})


urlpatterns = [
    path("all-bids", all_bids_page, name="all_bids"),
    path("all-bids-data", all_bids_data, name="all_bids_data"),
    path("showbidDocument/<str:bid_id>", show_bid_document, name="bid_document"),
]
