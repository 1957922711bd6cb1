"""A small shop website, played locally: `/sandbox/website/<site>/` is an SHG's own site on no platform.

It does what Haat's website channel expects of a real site (docs/platforms/website.md):
- its home page answers (what Haat's connect check and "Test connection" read), titled with the shop's name;
- a buyer's checkout (`create_order`, or POST `<site>/_sandbox/orders`) becomes an order document in the
  shape of docs/website/order.schema.json, POSTed to Haat's webhook address, signed with HMAC-SHA256 over
  "<timestamp>.<body>" with the signing secret the owner pasted from Haat's Keys page; a status change
  (`update_order`) posts the whole order again as `order.updated`;
- it reads Haat's feed (`read_feed`) with its feed key, page by page, and takes the stock and prices it
  shows from there (the site's own product rows are updated to match).

The owner's settings (`configure_haat`, or POST `<site>/_sandbox/haat`) hold Haat's webhook and feed
addresses and the two keys. In the demo the site is connected by the seed, so until the owner configures
it, the site reads its addresses from the connection Haat made for it (as if the owner had copied them from
the Keys page). Deliveries and their answers are recorded as `delivery` documents for tests to inspect.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import secrets
import time

import requests
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import path, re_path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.sandbox import dataset
from apps.sandbox import http as sandbox_http
from apps.sandbox.http import json_response, read_json, sandbox_endpoint
from apps.sandbox.models import SandboxAccount, SandboxObject

PLATFORM = "website"
SITE_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
USER_AGENT = "SakhiShop/1.0 (+sandbox)"
HAAT_SETTINGS = ("webhook_url", "feed_url", "signing_secret", "feed_key")


def server_error(status: int, message: str) -> HttpResponse:
    """A small site's host answering an error: a plain HTML page."""
    return HttpResponse(f"<html><body><h1>{status}</h1><p>{html.escape(message)}</p></body></html>", status=status,
                        content_type="text/html; charset=utf-8")


def rate_limited() -> HttpResponse:
    response = HttpResponse("<html><body><h1>429 Too Many Requests</h1></body></html>", status=429,
                            content_type="text/html; charset=utf-8")
    response["Retry-After"] = "1"
    return response


endpoint = sandbox_endpoint(server_error=server_error, rate_limited=rate_limited)


# --- accounts and the helpers tests and the demo use ---------------------------------------------------------------


def create_demo_account(account_id: str, name: str) -> SandboxAccount:
    """A shop site with the catalogue of dataset.py; idempotent. It holds no keys of its own: Haat makes them at
    connect, and the owner pastes them in (`configure_haat`)."""
    if not SITE_SLUG.match(account_id):
        raise ValueError("A sandbox site id is lower-case letters, digits and hyphens")
    account, _created = SandboxAccount._default_manager.get_or_create(
        platform=PLATFORM, account_id=account_id,
        defaults={"name": name, "settings": {"currency": "INR"}, "secrets": {}},
    )
    dataset.ensure_seeded(account)
    return account


def site_home(account: SandboxAccount, sandbox_root: str) -> str:
    return f"{sandbox_root.rstrip('/')}/{PLATFORM}/{account.account_id}"


def connection_config(account: SandboxAccount, sandbox_root: str) -> dict:
    home = site_home(account, sandbox_root)
    account.settings = {**account.settings, "home": home}
    account.save(update_fields=["settings"])
    return {"site_url": home, "base_url": home}


def connection_credentials(account: SandboxAccount) -> dict:
    """Nothing: Haat makes the signing secret and the feed key itself on connect."""
    return {}


def configure_haat(account: SandboxAccount, **values: str) -> SandboxAccount:
    """The owner pastes what Haat's Keys page shows: webhook_url, feed_url, signing_secret, feed_key."""
    unknown = set(values) - set(HAAT_SETTINGS)
    if unknown:
        raise ValueError(f"Unknown settings: {', '.join(sorted(unknown))}")
    account.settings = {**account.settings, "haat": {**account.settings.get("haat", {}), **values}}
    account.save(update_fields=["settings"])
    return account


def haat_settings(account: SandboxAccount) -> dict[str, str]:
    """The owner's settings, completed (demo) from the connection Haat made for this site."""
    configured = dict(account.settings.get("haat") or {})
    if all(configured.get(k) for k in HAAT_SETTINGS):
        return configured
    from django.urls import reverse

    from apps.integrations.models import Connection

    home = account.settings.get("home") or site_home(account, settings.SANDBOX_ROOT_URL)
    connection = (Connection.objects.filter(platform=PLATFORM, external_account_id=home)
                  .exclude(status=Connection.Status.DISABLED).order_by("-id").first())
    if connection is None:
        raise ValueError("This site is not connected to Haat yet: paste Haat's addresses and keys first.")
    site = settings.SITE_URL.rstrip("/")
    credentials = connection.credentials or {}
    derived = {
        "webhook_url": site + reverse("webhooks:receive", kwargs={"platform": PLATFORM,
                                                                  "connection_uuid": connection.uuid}),
        "feed_url": site + reverse("feeds:products_json", kwargs={"connection_uuid": connection.uuid}),
        "signing_secret": credentials.get("signing_secret", ""), "feed_key": credentials.get("feed_key", ""),
    }
    return {**derived, **{k: v for k, v in configured.items() if v}}


# --- orders: posted to Haat --------------------------------------------------------------------------------------


def order_document(order: dict) -> dict:
    """The neutral order as the site posts it (docs/website/order.schema.json)."""
    address = {k: v for k, v in (order.get("address") or {}).items() if v}
    return {
        "id": order["id"], "number": order.get("number", ""), "status": order["status"],
        "created_at": order["created_at"], "updated_at": order["updated_at"], "currency": order["currency"],
        "total": order["total"], "buyer": dict(order.get("buyer") or {}), "shipping_address": address,
        "lines": [{"id": line["id"], "sku": line["sku"], "title": line["title"], "quantity": line["quantity"],
                   "unit_price": line["unit_price"]} for line in order["lines"]],
    }


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def post_order(account: SandboxAccount, order: dict, *, event: str) -> dict:
    """Sign and POST one order document to Haat; the delivery and Haat's answer are recorded."""
    target = haat_settings(account)
    body = json.dumps(order_document(order), separators=(",", ":"), ensure_ascii=False).encode()
    timestamp = int(time.time())
    delivery_id = f"{account.account_id}-{order['id']}-{secrets.token_hex(6)}"
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "X-Haat-Event": event,
               "X-Haat-Delivery": delivery_id, "X-Haat-Timestamp": str(timestamp),
               "X-Haat-Signature": sign(target["signing_secret"], timestamp, body)}
    status = sandbox_http.deliver_webhook(target["webhook_url"], body, headers)
    record = {"id": delivery_id, "event": event, "order_id": order["id"], "status": status}
    SandboxObject.objects.create(account=account, kind="delivery", key=delivery_id, data=record,
                                 updated_at=timezone.now())
    return record


def create_order(account: SandboxAccount, *, skus: list[tuple[str, int]] | None = None) -> dict:
    """A buyer checks out on the site: the order is stored, stock taken, and posted to Haat as `order.created`.
    Returns the neutral order (its `delivery` key holds what Haat answered)."""
    dataset.ensure_seeded(account)
    with transaction.atomic():
        rows = {row.key: row for row in dataset.objects(account, "product").select_for_update()}
        lines = skus if skus is not None else _basket(rows)
        if not lines:
            raise ValueError("Every product of this site is out of stock")
        for sku, quantity in lines:
            if sku not in rows:
                raise ValueError(f"No product with SKU {sku} on this site")
            if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
                raise ValueError("Quantities must be whole numbers of at least 1")
            if quantity > int(rows[sku].data.get("quantity") or 0):
                raise ValueError(f"Only {rows[sku].data.get('quantity') or 0} of {sku} left")
        order = dataset.order_create(account, skus=list(lines))
        for sku, quantity in lines:
            rows[sku].data["quantity"] = int(rows[sku].data["quantity"]) - quantity
        SandboxObject.objects.bulk_update([rows[sku] for sku, _q in lines], ["data"])
    return {**order, "delivery": post_order(account, order, event="order.created")}


def update_order(account: SandboxAccount, order_id: str, *, status: str) -> dict:
    """The site changes an order's status (shipped, cancelled...) and posts the whole order as `order.updated`."""
    order = dataset.order_update(account, order_id, status=status)
    return {**order, "delivery": post_order(account, order, event="order.updated")}


def _basket(rows: dict[str, SandboxObject]) -> list[tuple[str, int]]:
    in_stock = sorted(sku for sku, row in rows.items() if int(row.data.get("quantity") or 0) > 0)
    return [(sku, 1) for sku in in_stock[:2]]


# --- the feed: read from Haat ------------------------------------------------------------------------------------


def read_feed(account: SandboxAccount, *, session: requests.Session | None = None, limit: int = 100) -> list[dict]:
    """Read Haat's feed to the end with the site's key; the site's products take its prices and quantities."""
    target = haat_settings(account)
    session = session or requests.Session()
    url, items, pages = f"{target['feed_url']}?limit={limit}", [], 0
    while url:
        response = session.get(url, headers={"X-Haat-Feed-Key": target["feed_key"], "User-Agent": USER_AGENT},
                               timeout=10)
        response.raise_for_status()
        page = response.json()
        items.extend(page["items"])
        url, pages = page.get("next"), pages + 1
        if pages > 10000:
            raise RuntimeError("the feed never ends")
    with transaction.atomic():
        rows = {row.key: row for row in dataset.objects(account, "product").select_for_update()}
        changed = []
        for item in items:
            row = rows.get(item["sku"])
            if row is not None:
                row.data.update(quantity=item["quantity"], price=item["price"], mrp=item["mrp"] or row.data.get("mrp"))
                changed.append(row)
        SandboxObject.objects.bulk_update(changed, ["data"])
    return items


# --- the site's pages ---------------------------------------------------------------------------------------------


def _account(site: str) -> SandboxAccount | None:
    return dataset.get_account(PLATFORM, site)


@endpoint
def home(request: HttpRequest, site: str) -> HttpResponse:
    account = _account(site)
    if account is None:
        return server_error(404, "No such site")
    products = sorted((row.data for row in dataset.objects(account, "product")), key=lambda p: p["sku"])
    items = "".join(f"<li>{html.escape(p['title'])} ({html.escape(p['sku'])}): ₹{html.escape(str(p['price']))}, "
                    f"{int(p.get('quantity') or 0)} in stock</li>" for p in products)
    return HttpResponse(f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(account.name)}</title>"
                        f"</head><body><h1>{html.escape(account.name)}</h1><ul>{items}</ul></body></html>",
                        content_type="text/html; charset=utf-8")


@csrf_exempt
@require_POST
def checkout(request: HttpRequest, site: str) -> HttpResponse:
    """POST <site>/_sandbox/orders {"items": [{"sku", "quantity"}]} (optional): a buyer checks out."""
    account = _account(site)
    if account is None:
        return json_response({"error": "No such site."}, status=404)
    body = read_json(request) if request.body else {}
    if not isinstance(body, dict):
        return json_response({"error": "The body must be a JSON object."}, status=400)
    skus = None
    if body.get("items") is not None:
        try:
            skus = [(str(i["sku"]), int(i.get("quantity", 1))) for i in body["items"]]
        except (KeyError, TypeError, ValueError, AttributeError):
            return json_response({"error": "items must be a list of {sku, quantity}."}, status=400)
    try:
        order = create_order(account, skus=skus)
    except ValueError as exc:
        return json_response({"error": str(exc)}, status=400)
    return json_response(order, status=201)


@csrf_exempt
@require_POST
def haat_setup(request: HttpRequest, site: str) -> HttpResponse:
    """POST <site>/_sandbox/haat {webhook_url, feed_url, signing_secret, feed_key}: the owner's settings page."""
    account = _account(site)
    if account is None:
        return json_response({"error": "No such site."}, status=404)
    body = read_json(request)
    if not isinstance(body, dict) or not all(isinstance(v, str) for v in body.values()):
        return json_response({"error": "The body must be a JSON object of strings."}, status=400)
    try:
        configure_haat(account, **body)
    except ValueError as exc:
        return json_response({"error": str(exc)}, status=400)
    return json_response({"configured": sorted(k for k, v in account.settings["haat"].items() if v)})


urlpatterns = [
    # A site answers at its address with or without the final slash.
    re_path(r"^(?P<site>[a-z0-9][a-z0-9-]{0,62})/?$", home, name="home"),
    path("<str:site>/_sandbox/orders", checkout, name="checkout"),
    path("<str:site>/_sandbox/haat", haat_setup, name="haat_setup"),
]
