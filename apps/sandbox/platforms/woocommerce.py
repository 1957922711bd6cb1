"""WooCommerce stores, played locally: `/sandbox/woocommerce/<store>/` is a store's home, `<home>/wp-json/` its
WordPress REST API.

A small WordPress REST server answers the WooCommerce REST API v3 subset Haat uses, with WooCommerce's own
paths, field names, parameter validation and error bodies (read from woocommerce/woocommerce's REST
controllers): `wc/v3/system_status`, `orders` (list, read, update), `orders/<id>/notes`, `products` (list,
read, create, update, batch), `products/<id>/variations` (list, read, update, batch), `webhooks` (list,
create, read, update, delete), and the Shipment Tracking extension's `wc-shipment-tracking/v3` routes when
the store "has" the extension (`settings["shipment_tracking"]`).

Faithful on purpose:
- Auth as WC_REST_Authentication does it: consumer key and secret by HTTP Basic (or the `consumer_key` /
  `consumer_secret` query parameters). An unknown or deleted key leaves the request unauthenticated, so the
  route's own permission check answers 401 `woocommerce_rest_cannot_view` ("Sorry, you cannot list
  resources."); a wrong secret answers 401 `woocommerce_rest_authentication_error`; a read-only key's write
  answers 401 "The API key provided does not have write permissions." before any routing, as
  `rest_pre_dispatch` does. Keys do not expire in WooCommerce; `revoke_key` deletes one, `rotate_key` replaces it.
  The sandbox behaves as an HTTPS site (real WooCommerce accepts Basic auth only over HTTPS).
- Collections: `per_page` (1-100, default 10), `page`, `offset`, `order`, `orderby` (`modified` and `date` sort
  by `<column> ID`), `modified_after`/`modified_before`/`after`/`before` strictly exclusive, `dates_are_gmt`, with
  `X-WP-Total`, `X-WP-TotalPages` and `Link` headers. Every request re-runs the query, so pages shift when
  orders change between requests, exactly as they do on a real store. A date with an offset is converted
  to the site's time zone before it is compared, as WP_Date_Query does, even against the GMT column.
- Responses are encoded as PHP's json_encode does (escaped slashes and non-ASCII); `*_gmt` dates carry no
  offset, the others are the site's local time (Asia/Kolkata); line `price` is a float, money elsewhere a string.
- Webhooks: a creation ping (form body `webhook_id=<id>`, unsigned), then deliveries with the X-WC-Webhook-*
  headers and a base64 HMAC-SHA256 signature of the exact body; `created` fires only for resources created
  in the last 10 seconds and `updated` only for older ones; a webhook is disabled after more than five
  consecutive failed deliveries. 5xx answers are WordPress's critical-error JSON; 429s are the host's
  (nginx) with Retry-After, since WooCommerce itself does not rate limit.

Data are the neutral orders and products of apps/sandbox/dataset.py. Status words: pending -> pending
(on-hold for bank transfers), unshipped -> processing, shipped -> completed, delivered -> completed (or
`delivered` when the store has a plugin that registers it: `settings["delivered_status"]`), cancelled ->
cancelled, returned -> refunded. Products of the Sarees and Apparel categories are variable products with
one "Size: Free size" variation holding the SKU, stock and prices; the others are simple products. A price
is the MRP as regular price and the selling price as sale price.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import math
import random
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, QueryDict
from django.urls import path, re_path
from django.utils import timezone as dj_timezone
from django.views.decorators.csrf import csrf_exempt

from apps.sandbox import dataset
from apps.sandbox import http as sandbox_http
from apps.sandbox.http import DemoOrderRefused, read_demo_order, read_json, sandbox_endpoint
from apps.sandbox.models import SandboxAccount, SandboxObject
from apps.sandbox.shop import checkout

PLATFORM = "woocommerce"
WC_VERSION = "9.8.5"
WP_VERSION = "6.8.1"
USER_AGENT = f"WooCommerce/{WC_VERSION} Hookshot (WordPress/{WP_VERSION})"
SITE_TIMEZONE = "Asia/Kolkata"
RETRY_AFTER_SECONDS = 1
BATCH_LIMIT = 100
MAX_WEBHOOK_FAILURES = 5
VARIABLE_CATEGORIES = {"Sarees", "Apparel"}
SIZE_ATTRIBUTE, SIZE_OPTION = "Size", "Free size"
CORE_STATUSES = ["pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed", "checkout-draft"]
STORE_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|z|[+-]\d{2}(?::?\d{2})?)?$")
STATE_CODES = {"Maharashtra": "MH", "Rajasthan": "RJ", "Uttar Pradesh": "UP", "Odisha": "OD", "Kerala": "KL",
               "Madhya Pradesh": "MP", "Assam": "AS", "Bihar": "BR"}
# What the neutral status reads as in WooCommerce, and back.
TO_NEUTRAL = {"pending": "pending", "on-hold": "pending", "checkout-draft": "pending", "processing": "unshipped",
              "completed": "shipped", "delivered": "delivered", "cancelled": "cancelled", "failed": "cancelled",
              "refunded": "returned"}
TRACKING_PROVIDERS = {
    "India": {
        "Blue Dart": "https://www.bluedart.com/trackdartresultthirdparty?trackFor=0&trackNo=%1$s",
        "Delhivery": "https://www.delhivery.com/track-v2/package/%1$s",
        "DTDC": "https://www.dtdc.in/tracking/tracking_results.asp?Ttype=awb_no&strCnno=%1$s&TrkType2=awb_no",
        "India Post": "https://www.indiapost.gov.in/_layouts/15/dop.portal.tracking/trackconsignment.aspx",
    },
    "Global": {
        "DHL": "https://www.dhl.com/en/express/tracking.html?AWB=%1$s&brand=DHL",
        "FedEx": "https://www.fedex.com/apps/fedextrack/?action=track&tracknumbers=%1$s",
    },
}
WEBHOOK_HOOKS = {
    "order.created": ["woocommerce_new_order"],
    "order.updated": ["woocommerce_update_order", "woocommerce_order_refunded"],
    "order.deleted": ["wp_trash_post"],
    "order.restored": ["untrashed_post"],
    "product.created": ["woocommerce_process_product_meta", "woocommerce_new_product", "woocommerce_new_product_variation"],
    "product.updated": ["woocommerce_process_product_meta", "woocommerce_update_product",
                        "woocommerce_update_product_variation"],
    "product.deleted": ["wp_trash_post"],
    "product.restored": ["untrashed_post"],
}
CRITICAL_ERROR = ('<p>There has been a critical error on this website.</p><p><a href="https://wordpress.org/'
                  'documentation/article/faq-troubleshooting/">Learn more about troubleshooting WordPress.</a></p>')


# --- errors and answers ------------------------------------------------------------------------------------------


class WooError(Exception):
    """A WP_Error: rendered as {"code", "message", "data": {"status", ...}}."""

    def __init__(self, status: int, code: str, message: str, *, challenge: bool = False, **data: Any):
        super().__init__(message)
        self.status, self.code, self.message, self.data = status, code, message, data
        # WC_REST_Authentication::send_unauthorized_headers: Basic auth that failed gets a WWW-Authenticate.
        self.challenge = challenge

    def body(self) -> dict:
        return {"code": self.code, "message": self.message, "data": {"status": self.status, **self.data}}


class InvalidParams(WooError):
    """WordPress's argument validation: every bad parameter named, with why."""

    def __init__(self, problems: dict[str, tuple[str, str]]):
        super().__init__(400, "rest_invalid_param", f"Invalid parameter(s): {', '.join(problems)}",
                         params={k: msg for k, (msg, _code) in problems.items()},
                         details={k: {"code": code, "message": msg, "data": None} for k, (msg, code) in problems.items()})


def php_json(data: Any) -> bytes:
    """json_encode with PHP's default flags: "/" and non-ASCII characters escaped."""
    return json.dumps(data, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode()


REST_HEADERS = {
    "X-Robots-Tag": "noindex", "X-Content-Type-Options": "nosniff",
    "Access-Control-Expose-Headers": "X-WP-Total, X-WP-TotalPages, Link",
    "Access-Control-Allow-Headers": "Authorization, X-WP-Nonce, Content-Disposition, Content-MD5, Content-Type",
}


def woo_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    response = HttpResponse(php_json(data), status=status, content_type="application/json; charset=UTF-8")
    for name, value in {**REST_HEADERS, **(headers or {})}.items():
        response[name] = value
    return response


def woo_error(error: WooError) -> HttpResponse:
    headers = {"WWW-Authenticate": 'Basic realm="WooCommerce API. Use a consumer key in the username field and a '
                                   'consumer secret in the password field."'} if error.challenge else None
    return woo_response(error.body(), status=error.status, headers=headers)


def server_error(status: int, message: str) -> HttpResponse:
    """WordPress's fatal-error handler answering a REST request."""
    return woo_response({"code": "internal_server_error", "message": CRITICAL_ERROR, "data": {"status": status},
                         "additional_errors": []}, status=status)


def rate_limited() -> HttpResponse:
    """WooCommerce has no REST rate limit; hosts do (here nginx's limit_req answering 429)."""
    body = ("<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n<body>\r\n<center><h1>429 Too Many "
            "Requests</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
    response = HttpResponse(body, status=429, content_type="text/html")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


endpoint = sandbox_endpoint(server_error=server_error, rate_limited=rate_limited)


# --- time ---------------------------------------------------------------------------------------------------------


def _site_tz(account: SandboxAccount) -> ZoneInfo:
    return ZoneInfo(account.settings.get("timezone") or SITE_TIMEZONE)


def _gmt(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _local(account: SandboxAccount, value: datetime) -> str:
    return value.astimezone(_site_tz(account)).strftime("%Y-%m-%dT%H:%M:%S")


def _now() -> datetime:
    return dj_timezone.now().replace(microsecond=0)


# --- accounts and the helpers tests and the demo use -------------------------------------------------------------


def _new_keys() -> dict[str, str]:
    return {"consumer_key": "ck_" + secrets.token_hex(20), "consumer_secret": "cs_" + secrets.token_hex(20),
            "key_permissions": "read_write", "key_user_role": "administrator"}


def create_demo_account(account_id: str, name: str) -> SandboxAccount:
    """A WooCommerce store with a read/write REST API key (in `secrets`) and the Shipment Tracking extension;
    idempotent: an existing store keeps its keys and data."""
    if not STORE_SLUG.match(account_id):
        raise ValueError("A sandbox store id is lower-case letters, digits and hyphens")
    account, _created = SandboxAccount._default_manager.get_or_create(
        platform=PLATFORM, account_id=account_id,
        defaults={"name": name, "secrets": _new_keys(),
                  "settings": {"currency": "INR", "timezone": SITE_TIMEZONE, "shipment_tracking": True,
                               "delivered_status": False}},
    )
    dataset.ensure_seeded(account)
    _seed_reviews(account)
    return account


def store_home(account: SandboxAccount, sandbox_root: str) -> str:
    return f"{sandbox_root.rstrip('/')}/{PLATFORM}/{account.account_id}"


def connection_config(account: SandboxAccount, sandbox_root: str) -> dict:
    home = store_home(account, sandbox_root)
    return {"store_url": home, "base_url": f"{home}/wp-json/wc/v3"}


def connection_credentials(account: SandboxAccount) -> dict:
    return {"consumer_key": account.secrets["consumer_key"], "consumer_secret": account.secrets["consumer_secret"]}


def configure(account: SandboxAccount, **options: Any) -> SandboxAccount:
    """Change what the store has: shipment_tracking (the extension), delivered_status (a plugin's status)..."""
    account.settings = {**account.settings, **options}
    account.save(update_fields=["settings"])
    return account


def revoke_key(account: SandboxAccount) -> None:
    """The owner deleted the REST API key: it is unknown from now on (401 woocommerce_rest_cannot_view)."""
    account.secrets = {**account.secrets, "revoked": True}
    account.save(update_fields=["secrets"])


def rotate_key(account: SandboxAccount) -> dict[str, str]:
    """A new key replaces the old one, which stops working; returns the new credentials."""
    account.secrets = _new_keys() | {k: v for k, v in account.secrets.items() if k in ("key_permissions",
                                                                                      "key_user_role")}
    account.save(update_fields=["secrets"])
    return connection_credentials(account)


def set_key_permissions(account: SandboxAccount, permissions: str) -> None:
    """read, write or read_write, as chosen when the key was generated."""
    if permissions not in ("read", "write", "read_write"):
        raise ValueError(permissions)
    account.secrets = {**account.secrets, "key_permissions": permissions}
    account.save(update_fields=["secrets"])


def create_order(account: SandboxAccount, *, skus: list[tuple[str, int]] | None = None,
                 sandbox_root: str | None = None) -> dict:
    """A buyer just checked out: a processing order, stock reduced as WooCommerce does, and `order.created`
    delivered to every active subscription. Returns the neutral order."""
    order, _deliveries = _checkout(account, skus, sandbox_root)
    return order


def _checkout(account: SandboxAccount, skus: list[tuple[str, int]] | None,
              sandbox_root: str | None) -> tuple[dict, list[dict]]:
    order = checkout(account, skus, basket=lambda rows: _basket(account, rows), whole_quantities=True,
                     not_enough=lambda _sku, product, stock: f'You cannot add that amount of "{product["title"]}" to the '
                                                             f"cart because there is not enough stock ({stock} remaining).")
    deliveries = Store(account, sandbox_root).deliver("order.created", order)
    return order, deliveries


def _basket(account: SandboxAccount, rows: dict[str, SandboxObject]) -> list[tuple[str, int]]:
    in_stock = sorted(sku for sku, row in rows.items() if int(row.data.get("quantity") or 0) > 0)
    if not in_stock:
        return []
    rng = random.Random(f"{settings.SANDBOX_SEED}|{account.account_id}|basket|{dataset.next_order_index(account)}")
    chosen = rng.sample(in_stock, k=min(len(in_stock), rng.randint(1, 3)))
    return [(sku, rng.randint(1, min(3, int(rows[sku].data["quantity"])))) for sku in chosen]


REVIEW_TEXTS = [
    (5, "Exactly as pictured, lovely work. Will order again."), (4, "Good quality, delivery took a little longer."),
    (5, "Fresh and tasty, packed with care."), (3, "Nice, but smaller than I expected."),
    (2, "One piece arrived damaged; the seller replied quickly."), (4, "Gift for my mother, she loved it."),
]


def create_review(account: SandboxAccount, *, sku: str, rating: int, review: str, reviewer: str = "Anita Sharma",
                  verified: bool = True, status: str = "approved", published: datetime | None = None) -> dict:
    """A buyer reviews a product (what WooCommerce stores as a `review` comment). Returns the stored review."""
    if sku not in Store(account).products_by_sku():
        raise ValueError(f"No product with SKU {sku} in this store")
    if not 0 <= rating <= 5:
        raise ValueError("A WooCommerce rating is 0 to 5 stars")
    with transaction.atomic():
        SandboxAccount._default_manager.select_for_update().filter(pk=account.pk).first()
        review_id = dataset.objects(account, "review").count() + 1
        when = (published or _now()).replace(microsecond=0)
        data = {"id": review_id, "sku": sku, "rating": rating, "review": review, "reviewer": reviewer,
                "reviewer_email": f"{reviewer.split()[0].lower()}@example.in", "verified": verified, "status": status,
                "date_gmt": dataset.iso(when)}
        SandboxObject.objects.create(account=account, kind="review", key=str(review_id), data=data, updated_at=when)
    return data


def _seed_reviews(account: SandboxAccount) -> None:
    """A few reviews over the last month, the same for the same store (idempotent)."""
    if dataset.objects(account, "review").exists():
        return
    skus = sorted(Store(account).products_by_sku())
    rng = random.Random(f"{settings.SANDBOX_SEED}|{account.account_id}|reviews")
    now = _now()
    for index in range(min(8, len(skus))):
        rating, text = REVIEW_TEXTS[index % len(REVIEW_TEXTS)]
        name = f"{rng.choice(dataset.FIRST_NAMES)} {rng.choice(dataset.LAST_NAMES)}"
        create_review(account, sku=rng.choice(skus), rating=rating, review=text, reviewer=name,
                      verified=index % 3 != 2, published=now - timedelta(days=27 - index * 3, hours=rng.randint(0, 12)))


def update_order(account: SandboxAccount, order_id: str, *, sandbox_root: str | None = None, **changes: Any) -> dict:
    """Change an order as the shop would in wp-admin (status, tracking...) and deliver `order.updated`."""
    order = dataset.order_update(account, order_id, **changes)
    Store(account, sandbox_root).deliver("order.updated", order)
    return order


# --- the store: rendering neutral data in WooCommerce's shapes ----------------------------------------------------


CATEGORY_IDS = {name: 16 + n for n, name in enumerate(sorted({c for _t, c, _p in dataset.PRODUCT_NAMES}))}


def _category(name: str) -> dict:
    if name not in CATEGORY_IDS:
        return {"id": 15, "name": "Uncategorized", "slug": "uncategorized"}
    return {"id": CATEGORY_IDS[name], "name": name, "slug": re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")}


def _digest(*parts: object) -> str:
    return hashlib.md5("|".join(str(p) for p in parts).encode()).hexdigest()  # an id, not a security measure


class Store:
    """One store's view of the neutral data, for one request (or one delivery)."""

    def __init__(self, account: SandboxAccount, root: str | None = None):
        self.account = account
        self.root = (root or settings.SANDBOX_ROOT_URL).rstrip("/")
        self.home = store_home(account, self.root)
        self.api = f"{self.home}/wp-json"
        self._products: dict[str, SandboxObject] | None = None

    # --- statuses ---------------------------------------------------------------------------------------------

    @property
    def statuses(self) -> list[str]:
        extra = ["delivered"] if self.account.settings.get("delivered_status") else []
        return CORE_STATUSES + extra

    def payment(self, order: dict) -> tuple[str, str]:
        number = int(order["id"])
        if order["status"] == "pending":
            return ("bacs", "Direct bank transfer") if number % 2 else ("razorpay", "Credit Card/Debit Card/NetBanking")
        return [("cod", "Cash on delivery"), ("razorpay", "Credit Card/Debit Card/NetBanking"),
                ("bacs", "Direct bank transfer")][number % 3]

    def order_status(self, order: dict) -> str:
        chosen = (order.get("woo") or {}).get("status")
        if chosen in self.statuses and TO_NEUTRAL.get(chosen) == order["status"]:
            return chosen
        neutral = order["status"]
        if neutral == "pending":
            return "on-hold" if self.payment(order)[0] == "bacs" else "pending"
        if neutral == "delivered":
            return "delivered" if self.account.settings.get("delivered_status") else "completed"
        return {"unshipped": "processing", "shipped": "completed", "cancelled": "cancelled",
                "returned": "refunded"}[neutral]

    # --- orders -----------------------------------------------------------------------------------------------

    def order_rows(self) -> list[SandboxObject]:
        return list(dataset.objects(self.account, "order"))

    def render_order(self, order: dict) -> dict:
        account = self.account
        created, modified = dataset.parse_iso(order["created_at"]), dataset.parse_iso(order["updated_at"])
        status = self.order_status(order)
        woo = order.get("woo") or {}
        method, method_title = self.payment(order)
        paid = None
        if status in ("processing", "completed", "delivered", "refunded") and method != "cod":
            paid = created + timedelta(minutes=2)
        completed = dataset.parse_iso(woo["date_completed"]) if woo.get("date_completed") else (
            modified if status in ("completed", "delivered") else None)
        if method == "cod" and completed:
            paid = completed
        buyer, address = order["buyer"], order["address"]
        first, _, last = buyer["name"].partition(" ")
        ship_first, _, ship_last = address.get("name", buyer["name"]).partition(" ")
        state = STATE_CODES.get(address.get("state", ""), address.get("state", ""))
        products = self.products_by_sku()
        line_items = []
        for line in order["lines"]:
            product = products.get(line["sku"])
            variable = product is not None and self.is_variable(product.data)
            unit, quantity = Decimal(line["unit_price"]), int(line["quantity"])
            total = dataset.money(unit * quantity)
            line_items.append({
                "id": int(line["id"]), "name": f"{line['title']} - {SIZE_OPTION}" if variable else line["title"],
                "product_id": int(line.get("product_id") or 0),
                "variation_id": int(line.get("variant_id") or 0) if variable else 0,
                "quantity": quantity, "tax_class": "", "subtotal": total, "subtotal_tax": "0.00", "total": total,
                "total_tax": "0.00", "taxes": [],
                "meta_data": [{"id": int(line["id"]) * 10 + 1, "key": "size", "value": SIZE_OPTION,
                               "display_key": SIZE_ATTRIBUTE, "display_value": SIZE_OPTION}] if variable else [],
                "sku": line["sku"], "price": float(unit), "image": {"id": 0, "src": ""},
                "parent_name": line["title"] if variable else None,
            })
        number = int(order["id"])
        data = {
            "id": number, "parent_id": 0, "status": status, "currency": order["currency"], "version": WC_VERSION,
            "prices_include_tax": True,
            "date_created": _local(account, created), "date_modified": _local(account, modified),
            "discount_total": "0.00", "discount_tax": "0.00", "shipping_total": "0.00", "shipping_tax": "0.00",
            "cart_tax": "0.00", "total": order["total"], "total_tax": "0.00", "customer_id": 0,
            "order_key": f"wc_order_{_digest(account.account_id, number)[:13]}",
            "billing": {"first_name": first, "last_name": last, "company": "", "address_1": address.get("line1", ""),
                        "address_2": "", "city": address.get("city", ""), "state": state,
                        "postcode": address.get("postcode", ""), "country": address.get("country", "IN"),
                        "email": buyer.get("email", ""), "phone": buyer.get("phone", "")},
            "shipping": {"first_name": ship_first, "last_name": ship_last, "company": "",
                         "address_1": address.get("line1", ""), "address_2": "", "city": address.get("city", ""),
                         "state": state, "postcode": address.get("postcode", ""),
                         "country": address.get("country", "IN"), "phone": ""},
            "payment_method": method, "payment_method_title": method_title,
            "transaction_id": f"pay_{_digest('txn', account.account_id, number)[:14]}" if paid and method == "razorpay" else "",
            "customer_ip_address": "", "customer_user_agent": "", "created_via": "checkout",
            "customer_note": woo.get("customer_note", ""),
            "date_completed": _local(account, completed) if completed else None,
            "date_paid": _local(account, paid) if paid else None,
            "cart_hash": _digest("cart", account.account_id, number), "number": str(number),
            "meta_data": woo.get("meta_data", []), "line_items": line_items, "tax_lines": [],
            "shipping_lines": [{"id": number * 10 + 9, "method_title": "Free shipping", "method_id": "free_shipping",
                                "instance_id": "1", "total": "0.00", "total_tax": "0.00", "taxes": [], "meta_data": []}],
            "fee_lines": [], "coupon_lines": [],
            "refunds": [{"id": number * 10 + 7, "reason": "", "total": f"-{order['total']}"}] if status == "refunded" else [],
            "payment_url": f"{self.home}/checkout/order-pay/{number}/?pay_for_order=true&key=wc_order_"
                           f"{_digest(account.account_id, number)[:13]}",
            "is_editable": status in ("pending", "on-hold", "checkout-draft"),
            "needs_payment": status in ("pending", "failed"), "needs_processing": True,
            "date_created_gmt": _gmt(created), "date_modified_gmt": _gmt(modified),
            "date_completed_gmt": _gmt(completed) if completed else None,
            "date_paid_gmt": _gmt(paid) if paid else None,
            "currency_symbol": "₹" if order["currency"] == "INR" else order["currency"],
            "_links": {"self": [{"href": f"{self.api}/wc/v3/orders/{number}", "targetHints": {
                "allow": ["GET", "POST", "PUT", "PATCH", "DELETE"]}}],
                "collection": [{"href": f"{self.api}/wc/v3/orders"}]},
        }
        return data

    # --- products ---------------------------------------------------------------------------------------------

    def products_by_sku(self) -> dict[str, SandboxObject]:
        if self._products is None:
            self._products = {row.key: row for row in dataset.objects(self.account, "product")}
        return self._products

    @staticmethod
    def is_variable(product: dict) -> bool:
        kind = (product.get("woo") or {}).get("type")
        return kind == "variable" if kind else product.get("category") in VARIABLE_CATEGORIES

    def find_product(self, product_id: int) -> SandboxObject | None:
        """A simple or variable product by its id (variations are not products here)."""
        return next((row for row in self.products_by_sku().values() if int(row.data["id"]) == product_id), None)

    def find_variation(self, parent_id: int, variation_id: int) -> SandboxObject | None:
        row = self.find_product(parent_id)
        if row is None or not self.is_variable(row.data) or int(row.data["variant_id"]) != variation_id:
            return None
        return row

    def _created(self, row: SandboxObject) -> datetime:
        woo = row.data.get("woo") or {}
        return dataset.parse_iso(woo["created_at"]) if woo.get("created_at") else self.account.created_at.replace(microsecond=0)

    @staticmethod
    def _prices(product: dict) -> tuple[str, str, str]:
        """(price, regular_price, sale_price): the MRP is the regular price, a lower price the sale price."""
        price, mrp = product.get("price") or "", product.get("mrp") or ""
        try:
            on_sale = bool(price and mrp and Decimal(price) < Decimal(mrp))
        except InvalidOperation:
            on_sale = False
        return price, (mrp if on_sale else price), (price if on_sale else "")

    def _common(self, row: SandboxObject, product_id: int, name: str, kind: str) -> dict:
        account, created, modified = self.account, self._created(row), row.updated_at
        woo = row.data.get("woo") or {}
        slug = re.sub(r"[^a-z0-9]+", "-", row.data["title"].lower()).strip("-")
        return {
            "id": product_id, "name": name, "slug": slug, "permalink": f"{self.home}/product/{slug}/",
            "date_created": _local(account, created), "date_created_gmt": _gmt(created),
            "date_modified": _local(account, modified), "date_modified_gmt": _gmt(modified), "type": kind,
            "status": woo.get("status", "publish"), "featured": False, "catalog_visibility": "visible",
            "description": row.data.get("description", ""), "short_description": "",
            "date_on_sale_from": woo.get("date_on_sale_from"), "date_on_sale_from_gmt": woo.get("date_on_sale_from"),
            "date_on_sale_to": woo.get("date_on_sale_to"), "date_on_sale_to_gmt": woo.get("date_on_sale_to"),
            "tax_status": "taxable", "tax_class": "", "backorders": "no", "backorders_allowed": False,
            "backordered": False, "weight": "", "dimensions": {"length": "", "width": "", "height": ""},
            "shipping_class": "", "shipping_class_id": 0, "menu_order": 0, "meta_data": [],
        }

    def render_product(self, row: SandboxObject) -> dict:
        product = row.data
        variable = self.is_variable(product)
        price, regular, sale = self._prices(product)
        quantity = int(product.get("quantity") or 0)
        data = self._common(row, int(product["id"]), product["title"], "variable" if variable else "simple")
        data.update({
            "sku": "" if variable else product["sku"], "global_unique_id": "" if variable else product.get("barcode", ""),
            "price": price, "regular_price": "" if variable else regular, "sale_price": "" if variable else sale,
            "on_sale": bool(sale), "purchasable": bool(price), "total_sales": 0, "virtual": False,
            "downloadable": False, "external_url": "", "button_text": "",
            "manage_stock": not variable, "stock_quantity": None if variable else quantity,
            "stock_status": "instock" if quantity > 0 else "outofstock", "low_stock_amount": None,
            "sold_individually": False, "reviews_allowed": True, "average_rating": "0.00", "rating_count": 0,
            "upsell_ids": [], "cross_sell_ids": [], "parent_id": 0, "purchase_note": "",
            "categories": [_category(product.get("category") or "")],
            "tags": [], "images": (product.get("woo") or {}).get("images", []),
            "attributes": [{"id": 0, "name": SIZE_ATTRIBUTE, "slug": SIZE_ATTRIBUTE.lower(), "position": 0,
                            "visible": True, "variation": True, "options": [SIZE_OPTION]}] if variable else
            (product.get("woo") or {}).get("attributes", []),
            "default_attributes": [], "variations": [int(product["variant_id"])] if variable else [],
            "grouped_products": [], "related_ids": [], "has_options": variable, "post_password": "",
            "_links": {"self": [{"href": f"{self.api}/wc/v3/products/{product['id']}"}],
                       "collection": [{"href": f"{self.api}/wc/v3/products"}]},
        })
        return data

    def render_variation(self, row: SandboxObject, *, in_products: bool = False) -> dict:
        """A variation, as /products/<id>/variations renders it (or /products when found by SKU)."""
        product = row.data
        price, regular, sale = self._prices(product)
        quantity = int(product.get("quantity") or 0)
        variation_id = int(product["variant_id"])
        data = self._common(row, variation_id, f"{product['title']} - {SIZE_OPTION}", "variation")
        data.update({
            "sku": product["sku"], "global_unique_id": product.get("barcode", ""), "price": price,
            "regular_price": regular, "sale_price": sale, "on_sale": bool(sale), "purchasable": bool(price),
            "virtual": False, "downloadable": False, "manage_stock": True, "stock_quantity": quantity,
            "stock_status": "instock" if quantity > 0 else "outofstock", "low_stock_amount": None,
            "image": None, "parent_id": int(product["id"]),
            "attributes": [{"id": 0, "name": SIZE_ATTRIBUTE, "slug": SIZE_ATTRIBUTE.lower(), "option": SIZE_OPTION}],
            "_links": {"self": [{"href": f"{self.api}/wc/v3/products/{product['id']}/variations/{variation_id}"}],
                       "collection": [{"href": f"{self.api}/wc/v3/products/{product['id']}/variations"}],
                       "up": [{"href": f"{self.api}/wc/v3/products/{product['id']}"}]},
        })
        if in_products:
            data.pop("image")
            data.update({"images": [], "categories": [], "tags": [], "variations": [], "grouped_products": []})
        return data

    def next_post_id(self) -> int:
        """WordPress posts share one id sequence: a new product gets the next id after every order and product."""
        ids = [int(row.data["id"]) for row in self.order_rows()]
        for row in self.products_by_sku().values():
            ids += [int(row.data["id"]), int(row.data.get("variant_id") or 0)]
        return max(ids, default=0) + 1

    # --- webhooks ---------------------------------------------------------------------------------------------

    def deliver(self, topic: str, neutral: dict | SandboxObject) -> list[dict]:
        """Send `topic` about an order (neutral dict) or a product (row) to every active subscription."""
        resource, _, event = topic.partition(".")
        if resource == "order":
            payload, created = self.render_order(neutral), dataset.parse_iso(neutral["created_at"])
        else:
            payload, created = self.render_product(neutral), self._created(neutral)
        # WC_Webhook::is_valid_action: "created" only for a resource made in the last 10 s, "updated" never then.
        recent = time.time() - 10 <= created.timestamp()
        if (event == "created" and not recent) or (event == "updated" and recent):
            return []
        body = php_json(payload)
        outcomes = []
        for row in dataset.objects(self.account, "webhook").order_by("updated_at"):
            hook = row.data
            if hook.get("topic") != topic or hook.get("status") != "active":
                continue
            headers = {
                "Content-Type": "application/json", "User-Agent": USER_AGENT,
                "X-WC-Webhook-Source": f"{self.home}/", "X-WC-Webhook-Topic": topic,
                "X-WC-Webhook-Resource": resource, "X-WC-Webhook-Event": event,
                "X-WC-Webhook-Signature": base64.b64encode(
                    hmac.new(hook["secret"].encode(), body, hashlib.sha256).digest()).decode(),
                "X-WC-Webhook-ID": str(hook["id"]),
                "X-WC-Webhook-Delivery-ID": _digest(hook["id"], int(time.time()), secrets.token_hex(4)),
            }
            status = sandbox_http.deliver_webhook(hook["delivery_url"], body, headers)
            if status is not None and 200 <= status < 303:
                hook["failure_count"] = 0
            elif hook.get("failure_count", 0) > MAX_WEBHOOK_FAILURES:
                hook["status"] = "disabled"
            else:
                hook["failure_count"] = hook.get("failure_count", 0) + 1
            row.save(update_fields=["data"])
            outcomes.append({"webhook_id": hook["id"], "topic": topic, "status": status})
        return outcomes


# --- request parsing ---------------------------------------------------------------------------------------------


@dataclass
class Call:
    request: HttpRequest
    store: Store
    body: Any = None
    authenticated: bool = False
    role: str = ""
    matched: dict[str, str] = field(default_factory=dict)

    @property
    def account(self) -> SandboxAccount:
        return self.store.account

    def param(self, name: str, default: Any = None) -> Any:
        """WP_REST_Request::get_param: the JSON body first, then the query string."""
        if isinstance(self.body, dict) and name in self.body:
            return self.body[name]
        if name in self.request.GET:
            values = self.request.GET.getlist(name)
            return values if len(values) > 1 else values[0]
        if f"{name}[]" in self.request.GET:
            return self.request.GET.getlist(f"{name}[]")
        return default

    def has(self, name: str) -> bool:
        return self.param(name, None) is not None


def _int_param(call: Call, name: str, problems: dict, *, default: int | None, minimum: int | None = None,
               maximum: int | None = None) -> int | None:
    value = call.param(name, None)
    if value is None or value == "":
        return default
    text = str(value).strip()
    if isinstance(value, bool) or not (text.isdigit() or (text.startswith("-") and text[1:].isdigit())):
        problems[name] = (f"{name} is not of type integer.", "rest_invalid_type")
        return default
    number = int(text)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        if maximum is None:
            message = f"{name} must be greater than or equal to {minimum}"
        else:
            message = f"{name} must be between {minimum} (inclusive) and {maximum} (inclusive)"
        problems[name] = (message, "rest_out_of_bounds")
        return default
    return number


def _enum_param(call: Call, name: str, problems: dict, choices: list[str], default: str) -> str:
    value = call.param(name, None)
    if value is None or value == "":
        return default
    if value not in choices:
        problems[name] = (f"{name} is not one of {', '.join(choices)}.", "rest_not_in_enum")
        return default
    return value


def _list_param(call: Call, name: str) -> list[str]:
    value = call.param(name, None)
    if value is None:
        return []
    values = value if isinstance(value, list) else str(value).split(",")
    return [str(v).strip() for v in values if str(v).strip()]


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "1"):
        return True
    if str(value).lower() in ("false", "0", ""):
        return False
    return None


def _date_param(call: Call, name: str, problems: dict) -> datetime | None:
    """A naive datetime in the frame of the column it is compared with, as WP_Date_Query builds it: a value
    with an offset is converted to the site's local time whichever column is used."""
    value = call.param(name, None)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not DATE_PATTERN.match(value):
        problems[name] = ("Invalid date.", "rest_invalid_date")
        return None
    parsed = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00").replace(" ", "T"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(_site_tz(call.account)).replace(tzinfo=None)
    return parsed


def _id_list(call: Call, name: str) -> list[int]:
    return [int(v) for v in _list_param(call, name) if v.isdigit()]


def _paginate(call: Call, rows: list, problems: dict, *, default_per_page: int = 10) -> tuple[list, dict[str, str]]:
    per_page = _int_param(call, "per_page", problems, default=default_per_page, minimum=1, maximum=100)
    page = _int_param(call, "page", problems, default=1, minimum=1)
    offset = _int_param(call, "offset", problems, default=None, minimum=0)
    if problems:
        raise InvalidParams(problems)
    start = offset if offset is not None else (page - 1) * per_page
    total = len(rows)
    pages = math.ceil(total / per_page) if per_page else 0
    headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
    base = call.request.build_absolute_uri(call.request.path)
    query = {k: v for k, v in call.request.GET.items() if k not in ("consumer_key", "consumer_secret")}
    links = []
    if page > 1:
        links.append(f'<{base}?{urlencode({**query, "page": min(page - 1, max(pages, 1))})}>; rel="prev"')
    if pages > page:
        links.append(f'<{base}?{urlencode({**query, "page": page + 1})}>; rel="next"')
    if links:
        headers["Link"] = ", ".join(links)
    return rows[start:start + per_page], headers


def _apply_fields(call: Call, data: Any) -> Any:
    """`_fields`: keep only the named top-level fields (and `a.b` nested ones)."""
    wanted = _list_param(call, "_fields")
    if not wanted:
        return data

    def pick(item: Any) -> Any:
        if not isinstance(item, dict):
            return item
        kept: dict = {}
        for name in wanted:
            top, _, sub = name.partition(".")
            if top not in item:
                continue
            if sub and isinstance(item[top], dict):
                kept.setdefault(top, {})
                if sub in item[top]:
                    kept[top][sub] = item[top][sub]
            else:
                kept[top] = item[top]
        return kept

    return [pick(i) for i in data] if isinstance(data, list) else pick(data)


def _permit(call: Call, action: str) -> None:
    """The route's permission callback: 401 when unauthenticated, 403 for a user lacking the capability."""
    words = {
        "list": ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
        "view": ("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource."),
        "create": ("woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources."),
        "edit": ("woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource."),
        "batch": ("woocommerce_rest_cannot_batch", "Sorry, you are not allowed to batch manipulate this resource."),
        "delete": ("woocommerce_rest_cannot_delete", "Sorry, you are not allowed to delete this resource."),
    }[action]
    if not call.authenticated:
        raise WooError(401, *words)
    if call.role not in ("administrator", "shop_manager"):
        raise WooError(403, *words)


# --- handlers: system status ---------------------------------------------------------------------------------------


def system_status(call: Call) -> tuple[Any, int, dict]:
    _permit(call, "list")
    account, store = call.account, call.store
    plugins = [{"plugin": "woocommerce/woocommerce.php", "name": "WooCommerce", "version": WC_VERSION,
                "version_latest": WC_VERSION, "url": "https://woocommerce.com/", "author_name": "Automattic",
                "author_url": "https://woocommerce.com", "network_activated": False}]
    if account.settings.get("shipment_tracking"):
        plugins.append({"plugin": "woocommerce-shipment-tracking/woocommerce-shipment-tracking.php",
                        "name": "WooCommerce Shipment Tracking", "version": "2.7.2", "version_latest": "2.7.2",
                        "url": "https://woocommerce.com/products/shipment-tracking/", "author_name": "WooCommerce",
                        "author_url": "https://woocommerce.com", "network_activated": False})
    currency = account.settings.get("currency", "INR")
    data = {
        "environment": {"home_url": store.home, "site_url": store.home, "version": WC_VERSION,
                        "wp_version": WP_VERSION, "wp_multisite": False, "wp_memory_limit": 268435456,
                        "wp_debug_mode": False, "wp_cron": True, "language": "en_US", "external_object_cache": None,
                        "server_info": "nginx/1.26.2", "php_version": "8.2.27", "default_timezone": "UTC",
                        "max_upload_size": 67108864, "mysql_version": "8.0.40"},
        "active_plugins": plugins,
        "settings": {"api_enabled": False, "force_ssl": False, "currency": currency,
                     "currency_symbol": "&#8377;" if currency == "INR" else currency, "currency_position": "left",
                     "thousand_separator": ",", "decimal_separator": ".", "number_of_decimals": 2,
                     "geolocation_enabled": False,
                     "taxonomies": {"external": "external", "grouped": "grouped", "simple": "simple",
                                    "variable": "variable"},
                     "product_visibility_terms": {"exclude-from-catalog": "exclude-from-catalog",
                                                  "exclude-from-search": "exclude-from-search",
                                                  "featured": "featured", "outofstock": "outofstock"},
                     "woocommerce_com_connected": "no"},
        "security": {"secure_connection": True, "hide_errors": True},
        "post_type_counts": [{"type": "product", "count": str(len(store.products_by_sku()))},
                             {"type": "shop_order_placehold", "count": str(len(store.order_rows()))}],
    }
    return data, 200, {}


# --- handlers: orders ---------------------------------------------------------------------------------------------


def orders_list(call: Call) -> tuple[Any, int, dict]:
    _permit(call, "list")
    store, problems = call.store, {}
    order = _enum_param(call, "order", problems, ["asc", "desc"], "desc")
    orderby = _enum_param(call, "orderby", problems, ["date", "id", "include", "title", "slug", "modified"], "date")
    use_gmt = _bool(call.param("dates_are_gmt", False))
    if use_gmt is None:
        problems["dates_are_gmt"] = ("dates_are_gmt is not of type boolean.", "rest_invalid_type")
    windows = {name: _date_param(call, name, problems)
               for name in ("after", "before", "modified_after", "modified_before")}
    statuses = _list_param(call, "status") or ["any"]
    allowed = ["any", "trash", *store.statuses]
    bad = [s for s in statuses if s not in allowed]
    if bad:
        problems["status"] = (f"status[{statuses.index(bad[0])}] is not one of {', '.join(allowed)}.", "rest_not_in_enum")
    include, exclude = _id_list(call, "include"), _id_list(call, "exclude")
    if problems:
        _paginate(call, [], problems)  # collects the paging problems too, then raises
    column_tz = UTC if use_gmt else _site_tz(call.account)

    def in_window(created: datetime, modified: datetime) -> bool:
        """WP_Date_Query's strict after/before, on the GMT or the local column as naive wall-clock times."""
        created, modified = (v.astimezone(column_tz).replace(tzinfo=None) for v in (created, modified))
        return all((
            windows["after"] is None or created > windows["after"],
            windows["before"] is None or created < windows["before"],
            windows["modified_after"] is None or modified > windows["modified_after"],
            windows["modified_before"] is None or modified < windows["modified_before"],
        ))

    rendered = []
    for row in store.order_rows():
        neutral = row.data
        status = store.order_status(neutral)
        if "any" not in statuses and status not in statuses:
            continue
        if "any" in statuses and status == "trash":
            continue
        number = int(neutral["id"])
        if (include and number not in include) or number in exclude:
            continue
        created, modified = dataset.parse_iso(neutral["created_at"]), dataset.parse_iso(neutral["updated_at"])
        if not in_window(created, modified):
            continue
        rendered.append((neutral, created, modified, number))
    if orderby == "modified":
        rendered.sort(key=lambda r: (r[2], r[3]), reverse=order == "desc")
    elif orderby == "date":
        rendered.sort(key=lambda r: (r[1], r[3]), reverse=order == "desc")
    elif orderby == "include" and include:
        rendered.sort(key=lambda r: include.index(r[3]) if r[3] in include else len(include))
    else:
        rendered.sort(key=lambda r: r[3], reverse=order == "desc")
    page, headers = _paginate(call, rendered, {})
    return [store.render_order(neutral) for neutral, *_rest in page], 200, headers


def _order_row(call: Call, order_id: str, *, status: int = 404) -> SandboxObject:
    row = dataset.objects(call.account, "order").filter(key=order_id).first()
    if row is None:
        raise WooError(status, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
    return row


def order_get(call: Call, order_id: str) -> tuple[Any, int, dict]:
    _permit(call, "view")
    return call.store.render_order(_order_row(call, order_id).data), 200, {}


def order_update(call: Call, order_id: str) -> tuple[Any, int, dict]:
    _permit(call, "edit")
    row = _order_row(call, order_id, status=400)
    store, neutral = call.store, row.data
    changes: dict[str, Any] = {}
    woo = dict(neutral.get("woo") or {})
    if call.has("status"):
        status = call.param("status")
        if status not in store.statuses:
            raise InvalidParams({"status": (f"status is not one of {', '.join(store.statuses)}.", "rest_not_in_enum")})
        current = store.order_status(neutral)
        if status != current:
            woo["status"] = status
            changes["status"] = TO_NEUTRAL[status]
            if status in ("completed", "delivered") and not woo.get("date_completed"):
                woo["date_completed"] = dataset.iso(_now())
            if status == "cancelled" and current in ("processing", "on-hold", "completed"):
                _restock(call, neutral)
    if call.has("customer_note"):
        woo["customer_note"] = str(call.param("customer_note"))
    if isinstance(call.param("meta_data"), list):
        meta = {m["key"]: m for m in woo.get("meta_data", []) if isinstance(m, dict)}
        for entry in call.param("meta_data"):
            if isinstance(entry, dict) and entry.get("key"):
                meta[entry["key"]] = {"id": len(meta) + 1, "key": entry["key"], "value": entry.get("value")}
        woo["meta_data"] = list(meta.values())
    # Saving an order stamps its modified date even when nothing else changed, as WooCommerce does.
    updated = update_order(call.account, order_id, sandbox_root=store.root, woo=woo, **changes)
    return store.render_order(updated), 200, {}


def _restock(call: Call, neutral: dict) -> None:
    """wc_maybe_increase_stock_levels: a cancelled order's items go back on the shelf."""
    rows = call.store.products_by_sku()
    touched = []
    for line in neutral["lines"]:
        row = rows.get(line["sku"])
        if row is not None:
            row.data["quantity"] = int(row.data.get("quantity") or 0) + int(line["quantity"])
            row.updated_at = _now()
            touched.append(row)
    SandboxObject.objects.bulk_update(touched, ["data", "updated_at"])


def _create_numbered(account: SandboxAccount, kind: str, data: dict, now: datetime) -> int:
    """Store a document under an auto-increment id, never reused after a delete (as WordPress's ids)."""
    with transaction.atomic():
        row = SandboxObject.objects.create(account=account, kind=kind, key=f"new-{secrets.token_hex(8)}", data=data,
                                           updated_at=now)
        row.key, row.data["id"] = str(row.pk), row.pk
        row.save(update_fields=["key", "data"])
    return row.pk


def _render_note(call: Call, order_id: str, note: dict) -> dict:
    created = dataset.parse_iso(note["created_at"])
    api = call.store.api
    return {"id": note["id"], "author": note.get("author", "system"), "date_created": _local(call.account, created),
            "date_created_gmt": _gmt(created), "note": note["note"], "customer_note": note["customer_note"],
            "_links": {"self": [{"href": f"{api}/wc/v3/orders/{order_id}/notes/{note['id']}"}],
                       "collection": [{"href": f"{api}/wc/v3/orders/{order_id}/notes"}],
                       "up": [{"href": f"{api}/wc/v3/orders/{order_id}"}]}}


def _notes_order(call: Call, order_id: str) -> None:
    if not dataset.objects(call.account, "order").filter(key=order_id).exists():
        raise WooError(404, "woocommerce_rest_order_invalid_id", "Invalid order ID.")


def notes_list(call: Call, order_id: str) -> tuple[Any, int, dict]:
    _permit(call, "list")
    _notes_order(call, order_id)
    problems: dict = {}
    kind = _enum_param(call, "type", problems, ["any", "customer", "internal"], "any")
    if problems:
        raise InvalidParams(problems)
    notes = [row.data for row in dataset.objects(call.account, "order_note").filter(data__order_id=order_id)]
    notes = [n for n in notes if kind == "any" or n["customer_note"] == (kind == "customer")]
    notes.sort(key=lambda n: n["id"], reverse=True)
    return [_render_note(call, order_id, n) for n in notes], 200, {}


def notes_create(call: Call, order_id: str) -> tuple[Any, int, dict]:
    _permit(call, "create")
    if not call.has("note"):
        raise WooError(400, "rest_missing_callback_param", "Missing parameter(s): note", params=["note"])
    _notes_order(call, order_id)
    text = str(call.param("note")).strip()
    if not text:
        raise WooError(400, "woocommerce_rest_invalid_order_note", "Cannot create order note, please provide a note.")
    customer = bool(_bool(call.param("customer_note", False)))
    note = {"note": text, "customer_note": customer, "author": "system", "created_at": dataset.iso(_now()),
            "order_id": order_id}
    note_id = _create_numbered(call.account, "order_note", note, _now())
    location = f"{call.store.api}/wc/v3/orders/{order_id}/notes/{note_id}"
    return _render_note(call, order_id, note), 201, {"Location": location}


# --- handlers: products ---------------------------------------------------------------------------------------------


def products_list(call: Call) -> tuple[Any, int, dict]:
    _permit(call, "list")
    store, problems = call.store, {}
    order = _enum_param(call, "order", problems, ["asc", "desc"], "desc")
    orderby = _enum_param(call, "orderby", problems, ["date", "id", "include", "title", "slug", "modified", "price",
                                                       "popularity", "rating", "menu_order"], "date")
    skus = _list_param(call, "sku")
    kind = call.param("type")
    include, exclude = _id_list(call, "include"), _id_list(call, "exclude")
    if problems:
        _paginate(call, [], problems)
    entries = []
    for row in store.products_by_sku().values():
        variable = store.is_variable(row.data)
        if (row.data.get("woo") or {}).get("status") == "trash":
            continue
        if skus:  # with a SKU filter WooCommerce searches products and variations
            if row.data["sku"] not in skus:
                continue
            data = store.render_variation(row, in_products=True) if variable else store.render_product(row)
        else:
            data = store.render_product(row)
        if kind and data["type"] != kind:
            continue
        if (include and data["id"] not in include) or data["id"] in exclude:
            continue
        entries.append(data)
    sorters: dict[str, Callable[[dict], Any]] = {
        "date": lambda d: (d["date_created_gmt"], d["id"]), "modified": lambda d: (d["date_modified_gmt"], d["id"]),
        "title": lambda d: (d["name"], d["id"]), "slug": lambda d: (d["slug"], d["id"]),
        "price": lambda d: (Decimal(d["price"] or "0"), d["id"]),
    }
    if orderby == "include" and include:
        entries.sort(key=lambda d: include.index(d["id"]))
    else:
        entries.sort(key=sorters.get(orderby, lambda d: d["id"]), reverse=order == "desc")
    page, headers = _paginate(call, entries, {})
    return page, 200, headers


def product_get(call: Call, product_id: str) -> tuple[Any, int, dict]:
    _permit(call, "view")
    row = call.store.find_product(int(product_id))
    if row is None:
        raise WooError(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
    return call.store.render_product(row), 200, {}


def _money_value(value: Any) -> str:
    """wc_format_decimal: what is not a digit, point or minus sign is dropped; "" clears the price."""
    if isinstance(value, bool) or value is None:
        return ""
    text = re.sub(r"[^0-9.\-]", "", str(value))
    try:
        return str(Decimal(text)) if text else ""
    except InvalidOperation:
        return ""


def _validate_types(item: dict) -> None:
    """The schema checks of a direct request (a batch's items are not validated against the schema)."""
    problems: dict[str, tuple[str, str]] = {}
    for name in ("name", "sku", "regular_price", "sale_price", "description", "global_unique_id"):
        if name in item and not isinstance(item[name], str):
            problems[name] = (f"{name} is not of type string.", "rest_invalid_type")
    if "stock_quantity" in item and item["stock_quantity"] is not None:
        value = item["stock_quantity"]
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.lstrip("-").isdigit())):
            problems["stock_quantity"] = ("stock_quantity is not of type integer.", "rest_invalid_type")
    if "manage_stock" in item and _bool(item["manage_stock"]) is None:
        problems["manage_stock"] = ("manage_stock is not of type boolean.", "rest_invalid_type")
    if "status" in item and item["status"] not in ("draft", "pending", "private", "publish", "future"):
        problems["status"] = ("status is not one of draft, pending, private, publish, future, and trash.",
                              "rest_not_in_enum")
    if problems:
        raise InvalidParams(problems)


def _apply_product_changes(call: Call, row: SandboxObject, item: dict, *, variation: bool) -> None:
    """WC_REST_Products_Controller::prepare_object_for_database, for the fields Haat uses. A variable product
    itself has no price, stock or SKU of its own here: its variation holds them."""
    store, product = call.store, row.data
    woo = dict(product.get("woo") or {})
    holds_stock = variation or not store.is_variable(product)
    new_sku = str(item["sku"]).strip() if "sku" in item and holds_stock else product["sku"]
    if new_sku != product["sku"]:
        owner = store.products_by_sku().get(new_sku)
        if not new_sku or owner is not None:
            raise WooError(400, "product_invalid_sku", "Invalid or duplicated SKU.",
                           resource_id=int(owner.data["id"]) if owner else 0, unique_sku=new_sku)
    if "name" in item and not variation:
        product["title"] = str(item["name"])
    if "description" in item:
        product["description"] = str(item["description"])
    if "status" in item:
        woo["status"] = str(item["status"])
    if "global_unique_id" in item and holds_stock:
        product["barcode"] = str(item["global_unique_id"])
    for name in ("date_on_sale_from", "date_on_sale_to"):
        if name in item:
            woo[name] = item[name] or None
    if holds_stock and ("regular_price" in item or "sale_price" in item):
        _price, regular, sale = store._prices(product)
        regular = _money_value(item["regular_price"]) if "regular_price" in item else regular
        sale = _money_value(item["sale_price"]) if "sale_price" in item else sale
        if sale and regular and Decimal(sale) < Decimal(regular):
            product["price"], product["mrp"] = sale, regular
        else:
            product["price"] = product["mrp"] = regular
    manage = _bool(item["manage_stock"]) if "manage_stock" in item else holds_stock
    if holds_stock and manage and item.get("stock_quantity") is not None:
        try:
            product["quantity"] = int(Decimal(str(item["stock_quantity"])))  # wc_stock_amount
        except InvalidOperation:
            product["quantity"] = 0
    if new_sku != product["sku"]:
        store.products_by_sku().pop(product["sku"], None)
        product["sku"] = row.key = new_sku
        store.products_by_sku()[new_sku] = row
    product["woo"] = woo
    row.updated_at = max(_now(), row.updated_at + timedelta(seconds=1)) if row.updated_at else _now()


def _save_product(call: Call, row: SandboxObject, *, new: bool = False) -> None:
    if new:
        row.save()
    else:
        SandboxObject.objects.filter(pk=row.pk).update(key=row.key, data=row.data, updated_at=row.updated_at)


def product_update(call: Call, product_id: str) -> tuple[Any, int, dict]:
    _permit(call, "edit")
    item = call.body if isinstance(call.body, dict) else {}
    _validate_types(item)
    row = call.store.find_product(int(product_id))
    if row is None:
        raise WooError(400, "woocommerce_rest_product_invalid_id", "Invalid ID.")
    with transaction.atomic():
        _apply_product_changes(call, row, item, variation=False)
        _save_product(call, row)
    call.store.deliver("product.updated", row)
    return call.store.render_product(row), 200, {}


def _create_product(call: Call, item: dict) -> SandboxObject:
    store = call.store
    if not item.get("name"):
        item = {**item, "name": "Product"}
    sku = str(item.get("sku") or "").strip()
    if sku and sku in store.products_by_sku():
        owner = store.products_by_sku()[sku]
        raise WooError(400, "product_invalid_sku", "Invalid or duplicated SKU.", resource_id=int(owner.data["id"]),
                       unique_sku=sku)
    kind = item.get("type") or "simple"
    if kind not in ("simple", "variable", "grouped", "external"):
        raise InvalidParams({"type": ("type is not one of simple, grouped, external, and variable.", "rest_not_in_enum")})
    if kind != "simple":
        raise WooError(400, "woocommerce_rest_product_not_created",
                       "The sandbox store creates simple products only; add variations in wp-admin.")
    new_id = store.next_post_id()
    now = _now()
    images = [{"id": new_id + n + 1, "src": str(img.get("src") or ""), "name": "", "alt": ""}
              for n, img in enumerate(item.get("images") or []) if isinstance(img, dict)]
    attributes = [{"id": 0, "name": str(a.get("name") or ""), "slug": str(a.get("name") or "").lower(),
                   "position": n, "visible": bool(a.get("visible", True)), "variation": False,
                   "options": [str(o) for o in a.get("options") or []]}
                  for n, a in enumerate(item.get("attributes") or []) if isinstance(a, dict)]
    product = {"id": str(new_id), "variant_id": str(new_id), "sku": sku or f"sandbox-{new_id}", "title": str(item["name"]),
               "category": "", "description": "", "price": "", "mrp": "", "quantity": 0, "barcode": "",
               "currency": call.account.settings.get("currency", "INR"),
               "woo": {"type": "simple", "status": "publish", "created_at": dataset.iso(now), "images": images,
                       "attributes": attributes}}
    row = SandboxObject(account=call.account, kind="product", key=product["sku"], data=product, updated_at=now)
    _apply_product_changes(call, row, {k: v for k, v in item.items() if k not in ("sku", "name")}, variation=False)
    row.updated_at = now
    _save_product(call, row, new=True)
    store.products_by_sku()[row.key] = row
    return row


def product_create(call: Call) -> tuple[Any, int, dict]:
    _permit(call, "create")
    item = call.body if isinstance(call.body, dict) else {}
    _validate_types(item)
    if item.get("id"):
        raise WooError(400, "woocommerce_rest_product_exists", "Cannot create existing product.")
    with transaction.atomic():
        row = _create_product(call, item)
    call.store.deliver("product.created", row)
    location = f"{call.store.api}/wc/v3/products/{row.data['id']}"
    return call.store.render_product(row), 201, {"Location": location}


def _batch_items(call: Call) -> dict[str, list]:
    body = call.body if isinstance(call.body, dict) else {}
    items = {key: body.get(key) or [] for key in ("create", "update", "delete")}
    if any(not isinstance(v, list) for v in items.values()):
        raise InvalidParams({k: (f"{k} is not of type array.", "rest_invalid_type") for k, v in items.items()
                             if not isinstance(v, list)})
    if sum(len(v) for v in items.values()) > BATCH_LIMIT:
        raise WooError(413, "woocommerce_rest_request_entity_too_large",
                       f"Unable to accept more than {BATCH_LIMIT} items for this request.")
    return items


def _item_error(item_id: Any, error: WooError) -> dict:
    return {"id": item_id, "error": {"code": error.code, "message": error.message,
                                     "data": {"status": error.status, **error.data}}}


def products_batch(call: Call) -> tuple[Any, int, dict]:
    _permit(call, "batch")
    items = _batch_items(call)
    store, answer, changed = call.store, {}, []
    with transaction.atomic():
        for kind in ("create", "update", "delete"):
            if not items[kind]:
                continue
            answer[kind] = []
            for item in items[kind]:
                item_id = item.get("id") if isinstance(item, dict) else item
                try:
                    if kind == "create":
                        row = _create_product(call, item if isinstance(item, dict) else {})
                        answer[kind].append(store.render_product(row))
                        continue
                    row = store.find_product(int(item_id)) if str(item_id or "").isdigit() else None
                    if row is None:
                        raise WooError(400 if kind == "update" else 404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
                    if kind == "update":
                        with transaction.atomic():
                            _apply_product_changes(call, row, item, variation=False)
                            _save_product(call, row)
                        changed.append(row)
                        answer[kind].append(store.render_product(row))
                    else:
                        rendered = store.render_product(row)
                        row.delete()
                        store.products_by_sku().pop(row.key, None)
                        answer[kind].append(rendered)
                except WooError as error:
                    answer[kind].append(_item_error(item_id, error))
    for row in changed:
        store.deliver("product.updated", row)
    return answer or [], 200, {}


def _parent(call: Call, product_id: str) -> SandboxObject:
    row = call.store.find_product(int(product_id))
    if row is None or not call.store.is_variable(row.data):
        raise WooError(404, "woocommerce_rest_product_invalid_id", "Invalid product ID.")
    return row


def variations_list(call: Call, product_id: str) -> tuple[Any, int, dict]:
    _permit(call, "list")
    row = _parent(call, product_id)
    page, headers = _paginate(call, [call.store.render_variation(row)], {})
    return page, 200, headers


def variation_get(call: Call, product_id: str, variation_id: str) -> tuple[Any, int, dict]:
    _permit(call, "view")
    row = call.store.find_variation(int(product_id), int(variation_id))
    if row is None:
        raise WooError(404, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.")
    return call.store.render_variation(row), 200, {}


def variation_update(call: Call, product_id: str, variation_id: str) -> tuple[Any, int, dict]:
    _permit(call, "edit")
    item = call.body if isinstance(call.body, dict) else {}
    _validate_types(item)
    row = call.store.find_variation(int(product_id), int(variation_id))
    if row is None:
        raise WooError(400, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.")
    with transaction.atomic():
        _apply_product_changes(call, row, item, variation=True)
        _save_product(call, row)
    return call.store.render_variation(row), 200, {}


def variations_batch(call: Call, product_id: str) -> tuple[Any, int, dict]:
    _permit(call, "batch")
    items = _batch_items(call)
    parent = _parent(call, product_id)
    answer: dict[str, list] = {}
    with transaction.atomic():
        for kind in ("create", "update", "delete"):
            if not items[kind]:
                continue
            answer[kind] = []
            for item in items[kind]:
                item_id = item.get("id") if isinstance(item, dict) else item
                if kind != "update":
                    answer[kind].append(_item_error(item_id, WooError(
                        400, "woocommerce_rest_product_variation_not_created",
                        "The sandbox store's variable products have exactly one variation.")))
                    continue
                row = parent if str(item_id or "").isdigit() and int(item_id) == int(parent.data["variant_id"]) else None
                if row is None:
                    answer[kind].append(_item_error(item_id, WooError(400, "woocommerce_rest_product_variation_invalid_id",
                                                                      "Invalid ID.")))
                    continue
                try:
                    with transaction.atomic():
                        _apply_product_changes(call, row, item, variation=True)
                        _save_product(call, row)
                    answer[kind].append(call.store.render_variation(row))
                except WooError as error:
                    answer[kind].append(_item_error(item_id, error))
    return answer or [], 200, {}


# --- handlers: webhooks -------------------------------------------------------------------------------------------


def _valid_topic(topic: Any) -> bool:
    if not isinstance(topic, str):
        return False
    if topic.startswith("action.") and len(topic) > 7:
        return True
    resource, _, event = topic.lower().partition(".")
    return resource in ("coupon", "customer", "order", "product") and event in ("created", "updated", "deleted",
                                                                              "restored")


def _valid_url(url: Any) -> bool:
    if not isinstance(url, str):
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _render_webhook(call: Call, hook: dict) -> dict:
    created, modified = dataset.parse_iso(hook["created_at"]), dataset.parse_iso(hook["modified_at"])
    resource, _, event = hook["topic"].partition(".")
    api = call.store.api
    return {"id": hook["id"], "name": hook["name"], "status": hook["status"], "topic": hook["topic"],
            "resource": resource, "event": event, "hooks": WEBHOOK_HOOKS.get(hook["topic"], []),
            "delivery_url": hook["delivery_url"], "date_created": _local(call.account, created),
            "date_created_gmt": _gmt(created), "date_modified": _local(call.account, modified),
            "date_modified_gmt": _gmt(modified),
            "_links": {"self": [{"href": f"{api}/wc/v3/webhooks/{hook['id']}"}],
                       "collection": [{"href": f"{api}/wc/v3/webhooks"}]}}


def webhooks_list(call: Call) -> tuple[Any, int, dict]:
    _permit(call, "list")
    problems: dict = {}
    status = _enum_param(call, "status", problems, ["all", "active", "paused", "disabled"], "all")
    if problems:
        _paginate(call, [], problems)
    hooks = sorted((row.data for row in dataset.objects(call.account, "webhook")), key=lambda h: h["id"], reverse=True)
    hooks = [h for h in hooks if status == "all" or h["status"] == status]
    page, headers = _paginate(call, hooks, {})
    return [_render_webhook(call, h) for h in page], 200, headers


def _webhook_row(call: Call, webhook_id: str, *, status: int) -> SandboxObject:
    row = dataset.objects(call.account, "webhook").filter(key=webhook_id).first()
    if row is None:
        raise WooError(status, "woocommerce_rest_webhook_invalid_id", "Invalid ID." if status == 404 else "ID is invalid.")
    return row


def webhook_create(call: Call) -> tuple[Any, int, dict]:
    _permit(call, "create")
    if call.param("id"):
        raise WooError(400, "woocommerce_rest_webhook_exists", "Cannot create existing webhook.")
    topic, url = call.param("topic"), call.param("delivery_url")
    if not _valid_topic(topic):
        raise WooError(400, "woocommerce_rest_webhook_invalid_topic", "Webhook topic is required and must be valid.")
    if not _valid_url(url):
        raise WooError(400, "woocommerce_rest_webhook_invalid_delivery_url",
                       "Webhook delivery URL must be a valid URL starting with http:// or https://.")
    now = _now()
    status = call.param("status") if call.param("status") in ("active", "paused", "disabled") else "active"
    hook = {"name": str(call.param("name") or f"Webhook created on {now:%b %d, %Y @ %I:%M %p}"),
            "status": status, "topic": topic.lower(), "delivery_url": url,
            "secret": str(call.param("secret") or secrets.token_urlsafe(38)[:50]), "failure_count": 0,
            "created_at": dataset.iso(now), "modified_at": dataset.iso(now)}
    webhook_id = _create_numbered(call.account, "webhook", hook, now)
    rendered = _render_webhook(call, hook)
    # WC_Webhook::deliver_ping: an unsigned form post; its outcome does not change the REST answer.
    sandbox_http.deliver_webhook(url, f"webhook_id={webhook_id}".encode(),
                                 {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": USER_AGENT})
    return rendered, 201, {"Location": f"{call.store.api}/wc/v3/webhooks/{webhook_id}"}


def webhook_get(call: Call, webhook_id: str) -> tuple[Any, int, dict]:
    _permit(call, "view")
    return _render_webhook(call, _webhook_row(call, webhook_id, status=404).data), 200, {}


def webhook_update(call: Call, webhook_id: str) -> tuple[Any, int, dict]:
    _permit(call, "edit")
    row = _webhook_row(call, webhook_id, status=400)
    hook = row.data
    if call.param("topic"):
        if not _valid_topic(call.param("topic")):
            raise WooError(400, "woocommerce_rest_webhook_invalid_topic", "Webhook topic must be valid.")
        hook["topic"] = call.param("topic").lower()
    if call.param("delivery_url"):
        if not _valid_url(call.param("delivery_url")):
            raise WooError(400, "woocommerce_rest_webhook_invalid_delivery_url",
                           "Webhook delivery URL must be a valid URL starting with http:// or https://.")
        hook["delivery_url"] = call.param("delivery_url")
    if call.param("secret"):
        hook["secret"] = str(call.param("secret"))
    if call.param("status"):
        if call.param("status") not in ("active", "paused", "disabled"):
            raise WooError(400, "woocommerce_rest_webhook_invalid_status", "Webhook status must be valid.")
        hook["status"] = call.param("status")
        if hook["status"] == "active":
            hook["failure_count"] = 0
    if call.param("name"):
        hook["name"] = str(call.param("name"))
    hook["modified_at"] = dataset.iso(_now())
    row.save(update_fields=["data"])
    return _render_webhook(call, hook), 200, {}


def webhook_delete(call: Call, webhook_id: str) -> tuple[Any, int, dict]:
    _permit(call, "delete")
    if not _bool(call.param("force", False)):
        raise WooError(501, "woocommerce_rest_trash_not_supported", "Webhooks do not support trashing.")
    row = _webhook_row(call, webhook_id, status=404)
    rendered = _render_webhook(call, row.data)
    row.delete()
    return rendered, 200, {}


# --- handlers: the Shipment Tracking extension ----------------------------------------------------------------------


def tracking_providers(call: Call, order_id: str | None = None) -> tuple[Any, int, dict]:
    return TRACKING_PROVIDERS, 200, {}


def _provider_link(name: str, number: str, custom_link: str) -> str:
    for group in TRACKING_PROVIDERS.values():
        if name in group:
            return group[name].replace("%1$s", number)
    return custom_link.replace("%1$s", number)


def _render_tracking(call: Call, order_id: str, item: dict) -> dict:
    api = call.store.api
    provider = item["tracking_provider"] or item["custom_tracking_provider"]
    return {"tracking_id": item["tracking_id"], "tracking_provider": provider,
            "tracking_link": _provider_link(item["tracking_provider"], item["tracking_number"],
                                            item["custom_tracking_link"]),
            "tracking_number": item["tracking_number"], "date_shipped": item["date_shipped"],
            "_links": {"self": [{"href": f"{api}/wc-shipment-tracking/v3/orders/{order_id}/shipment-trackings/"
                                         f"{item['tracking_id']}"}],
                       "collection": [{"href": f"{api}/wc-shipment-tracking/v3/orders/{order_id}/shipment-trackings"}],
                       "up": [{"href": f"{api}/wc/v3/orders/{order_id}"}]}}


def _tracking_order(call: Call, order_id: str) -> SandboxObject:
    row = dataset.objects(call.account, "order").filter(key=order_id).first()
    if row is None:
        raise WooError(404, "woocommerce_rest_order_invalid_id", "Invalid order ID.")
    return row


def trackings_list(call: Call, order_id: str) -> tuple[Any, int, dict]:
    _permit(call, "list")
    _tracking_order(call, order_id)
    items = [row.data for row in dataset.objects(call.account, "tracking").filter(key__startswith=f"{order_id}:")]
    items.sort(key=lambda i: i["added_at"])
    return [_render_tracking(call, order_id, i) for i in items], 200, {}


def tracking_create(call: Call, order_id: str) -> tuple[Any, int, dict]:
    _permit(call, "create")
    if not call.param("tracking_number"):
        raise WooError(400, "rest_missing_callback_param", "Missing parameter(s): tracking_number",
                       params=["tracking_number"])
    _tracking_order(call, order_id)
    shipped = str(call.param("date_shipped") or "") or _now().astimezone(_site_tz(call.account)).strftime("%Y-%m-%d")
    if not re.match(r"^\d{4}-\d{2}-\d{2}$", shipped):
        raise InvalidParams({"date_shipped": ("Invalid date.", "rest_invalid_date")})
    provider = str(call.param("tracking_provider") or "")
    known = {name for group in TRACKING_PROVIDERS.values() for name in group}
    item = {"tracking_provider": provider if provider in known else "",
            "custom_tracking_provider": str(call.param("custom_tracking_provider") or ("" if provider in known else provider)),
            "custom_tracking_link": str(call.param("custom_tracking_link") or ""),
            "tracking_number": str(call.param("tracking_number")).strip(), "date_shipped": shipped,
            "added_at": time.time_ns()}
    item["tracking_id"] = _digest(item["tracking_provider"], item["tracking_number"], item["added_at"])
    SandboxObject.objects.create(account=call.account, kind="tracking", key=f"{order_id}:{item['tracking_id']}",
                                 data=item, updated_at=_now())
    rendered = _render_tracking(call, order_id, item)
    # The extension saves the order's meta, which stamps the order as modified.
    update_order(call.account, order_id, sandbox_root=call.store.root, tracking={
        "carrier": rendered["tracking_provider"], "number": item["tracking_number"], "url": rendered["tracking_link"]})
    location = rendered["_links"]["self"][0]["href"]
    return rendered, 201, {"Location": location}


def tracking_get(call: Call, order_id: str, tracking_id: str) -> tuple[Any, int, dict]:
    _permit(call, "view")
    _tracking_order(call, order_id)
    row = dataset.objects(call.account, "tracking").filter(key=f"{order_id}:{tracking_id}").first()
    if row is None:
        raise WooError(404, "woocommerce_rest_order_shipment_tracking_invalid_id", "Invalid tracking ID.")
    return _render_tracking(call, order_id, row.data), 200, {}


def tracking_delete(call: Call, order_id: str, tracking_id: str) -> tuple[Any, int, dict]:
    _permit(call, "delete")
    _tracking_order(call, order_id)
    row = dataset.objects(call.account, "tracking").filter(key=f"{order_id}:{tracking_id}").first()
    if row is None:
        raise WooError(404, "woocommerce_rest_order_shipment_tracking_invalid_id", "Invalid tracking ID.")
    rendered = _render_tracking(call, order_id, row.data)
    row.delete()
    return rendered, 200, {}


# --- the router ------------------------------------------------------------------------------------------------------

READ, EDITABLE, DELETABLE = ("GET", "HEAD"), ("POST", "PUT", "PATCH"), ("DELETE",)
TRACKING_NS = r"(?:wc-shipment-tracking/v3|wc/v[123])"


def _routes(methods_map: dict[tuple[str, ...], Callable]) -> dict[str, Callable]:
    return {method: handler for methods, handler in methods_map.items() for method in methods}


def _render_review(call: Call, data: dict, product: SandboxObject | None) -> dict:
    published = dataset.parse_iso(data["date_gmt"])
    rendered = call.store.render_product(product) if product is not None else None
    avatar = "https://secure.gravatar.com/avatar/" + hashlib.md5(data["reviewer_email"].encode()).hexdigest()
    return {
        "id": data["id"], "date_created": _local(call.account, published), "date_created_gmt": _gmt(published),
        "product_id": rendered["id"] if rendered else 0, "product_name": rendered["name"] if rendered else "",
        "product_permalink": rendered["permalink"] if rendered else "", "status": data["status"],
        "reviewer": data["reviewer"], "reviewer_email": data["reviewer_email"],
        "review": f"<p>{html.escape(data['review'])}</p>\n", "rating": data["rating"], "verified": data["verified"],
        "reviewer_avatar_urls": {str(size): f"{avatar}?s={size}&d=mm&r=g" for size in (24, 48, 96)},
        "_links": {"self": [{"href": f"{call.store.api}/wc/v3/products/reviews/{data['id']}"}],
                   "collection": [{"href": f"{call.store.api}/wc/v3/products/reviews"}]},
    }


def reviews_list(call: Call) -> tuple[Any, int, dict]:
    """GET products/reviews: `after`/`before` compare the review's local (site) time, as WP_Comment_Query's
    default date column does; orderby date, date_gmt, id, include or product; status defaults to approved."""
    _permit(call, "list")
    problems: dict = {}
    order = _enum_param(call, "order", problems, ["asc", "desc"], "desc")
    orderby = _enum_param(call, "orderby", problems, ["date", "date_gmt", "id", "include", "product"], "date_gmt")
    status = _enum_param(call, "status", problems, ["all", "hold", "approved", "spam", "trash"], "approved")
    after, before = _date_param(call, "after", problems), _date_param(call, "before", problems)
    products = set(_id_list(call, "product"))
    if problems:
        _paginate(call, [], problems)
    by_sku = call.store.products_by_sku()
    tz = _site_tz(call.account)
    entries = []
    for row in dataset.objects(call.account, "review"):
        data = row.data
        local = dataset.parse_iso(data["date_gmt"]).astimezone(tz).replace(tzinfo=None)
        if status != "all" and data["status"] != status:
            continue
        if (after and local <= after) or (before and local >= before):
            continue
        rendered = _render_review(call, data, by_sku.get(data["sku"]))
        if products and rendered["product_id"] not in products:
            continue
        entries.append(rendered)
    keys: dict[str, Callable[[dict], Any]] = {"product": lambda d: (d["product_id"], d["id"]), "id": lambda d: d["id"]}
    entries.sort(key=keys.get(orderby, lambda d: (d["date_created_gmt"], d["id"])), reverse=order == "desc")
    page, headers = _paginate(call, entries, {})
    return page, 200, headers


ROUTES: list[tuple[re.Pattern, dict[str, Callable], bool]] = [
    (re.compile(r"wc/v3/system_status"), _routes({READ: system_status}), False),
    (re.compile(r"wc/v3/orders"), _routes({READ: orders_list}), False),
    (re.compile(r"wc/v3/orders/(?P<order_id>\d+)"), _routes({READ: order_get, EDITABLE: order_update}), False),
    (re.compile(r"wc/v3/orders/(?P<order_id>\d+)/notes"), _routes({READ: notes_list, ("POST",): notes_create}), False),
    (re.compile(r"wc/v3/products"), _routes({READ: products_list, ("POST",): product_create}), False),
    (re.compile(r"wc/v3/products/batch"), _routes({EDITABLE: products_batch}), False),
    (re.compile(r"wc/v3/products/reviews"), _routes({READ: reviews_list}), False),
    (re.compile(r"wc/v3/products/(?P<product_id>\d+)"), _routes({READ: product_get, EDITABLE: product_update}), False),
    (re.compile(r"wc/v3/products/(?P<product_id>\d+)/variations"), _routes({READ: variations_list}), False),
    (re.compile(r"wc/v3/products/(?P<product_id>\d+)/variations/batch"), _routes({EDITABLE: variations_batch}), False),
    (re.compile(r"wc/v3/products/(?P<product_id>\d+)/variations/(?P<variation_id>\d+)"),
     _routes({READ: variation_get, EDITABLE: variation_update}), False),
    (re.compile(r"wc/v3/webhooks"), _routes({READ: webhooks_list, ("POST",): webhook_create}), False),
    (re.compile(r"wc/v3/webhooks/(?P<webhook_id>\d+)"),
     _routes({READ: webhook_get, EDITABLE: webhook_update, DELETABLE: webhook_delete}), False),
    (re.compile(r"wc-shipment-tracking/v3/shipment-trackings/providers"), _routes({READ: tracking_providers}), True),
    (re.compile(TRACKING_NS + r"/orders/(?P<order_id>\d+)/shipment-trackings/providers"),
     _routes({READ: tracking_providers}), True),
    (re.compile(TRACKING_NS + r"/orders/(?P<order_id>\d+)/shipment-trackings"),
     _routes({READ: trackings_list, ("POST",): tracking_create}), True),
    (re.compile(TRACKING_NS + r"/orders/(?P<order_id>\d+)/shipment-trackings/(?P<tracking_id>[0-9a-f]{32})"),
     _routes({READ: tracking_get, DELETABLE: tracking_delete}), True),
]


def _authenticate(request: HttpRequest, account: SandboxAccount) -> tuple[bool, str, WooError | None]:
    """WC_REST_Authentication::perform_basic_authentication: query parameters first, then HTTP Basic."""
    key = request.GET.get("consumer_key", "")
    secret = request.GET.get("consumer_secret", "")
    if not (key and secret):
        key = secret = ""
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic" and value:
            try:
                key, _, secret = base64.b64decode(value.strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                key = secret = ""
    if not key or not secret:
        return False, "", None
    known = account.secrets
    if known.get("revoked") or not hmac.compare_digest(key, known.get("consumer_key", "")):
        return False, "", None  # an unknown key: the request goes on unauthenticated
    if not hmac.compare_digest(secret, known.get("consumer_secret", "")):
        return False, "", WooError(401, "woocommerce_rest_authentication_error", "Consumer secret is invalid.",
                                   challenge=True)
    permissions = known.get("key_permissions", "read_write")
    if request.method in ("HEAD", "GET") and permissions not in ("read", "read_write"):
        return False, "", WooError(401, "woocommerce_rest_authentication_error",
                                   "The API key provided does not have read permissions.")
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and permissions not in ("write", "read_write"):
        return False, "", WooError(401, "woocommerce_rest_authentication_error",
                                   "The API key provided does not have write permissions.")
    return True, known.get("key_user_role", "administrator"), None


def _body(request: HttpRequest) -> Any:
    content_type = request.content_type or ""
    if not request.body:
        return None
    if "json" in content_type:
        body = read_json(request)
        if body is None and request.body.strip() not in (b"", b"null"):
            raise WooError(400, "rest_invalid_json", "Invalid JSON body passed.", json_error_code=4,
                           json_error_message="Syntax error")
        return body
    if "form" in content_type:
        return QueryDict(request.body).dict()
    return None


def _sandbox_root(request: HttpRequest, marker: str) -> str:
    """The sandbox root this request came through (".../sandbox"), for the links and URLs in answers."""
    prefix = request.path.split(marker, 1)[0]
    return request.build_absolute_uri(prefix or "/").rstrip("/")


@endpoint
def rest_view(request: HttpRequest, store: str, route: str | None = None) -> HttpResponse:
    account = dataset.get_account(PLATFORM, store)
    if account is None:
        return HttpResponse("<h1>Not Found</h1>", status=404, content_type="text/html")
    authenticated, role, failure = _authenticate(request, account)
    if failure is not None:
        return woo_error(failure)
    route = (route or "").strip("/")
    call = Call(request=request, store=Store(account, _sandbox_root(request, f"/{PLATFORM}/{store}/")),
                authenticated=authenticated, role=role)
    try:
        call.body = _body(request)
        for pattern, handlers, extension in ROUTES:
            match = pattern.fullmatch(route)
            if match is None or (extension and not account.settings.get("shipment_tracking")):
                continue
            handler = handlers.get(request.method)
            if handler is None:
                continue
            data, status, headers = handler(call, **match.groupdict())
            if request.method in READ:
                data = _apply_fields(call, data)
            return woo_response(data, status=status, headers=headers)
        raise WooError(404, "rest_no_route", "No route was found matching the URL and request method.")
    except WooError as error:
        return woo_error(error)


@csrf_exempt
def demo_order_view(request: HttpRequest) -> HttpResponse:
    """The demo's "a buyer just bought" button: POST {"account_id", "skus": [{"sku", "quantity"}]?} -> 201 with
    the order as the store's API shows it and the webhook deliveries made. Sandbox only, no auth."""
    if request.method != "POST":
        return woo_response({"error": "POST only"}, status=405, headers={"Allow": "POST"})
    root = _sandbox_root(request, f"/{PLATFORM}/_sandbox/")
    try:
        account, skus = read_demo_order(request, platform=PLATFORM,
                                        not_found="No sandbox WooCommerce store with that account_id",
                                        account_required="account_id (the store id) is required")
        order, deliveries = _checkout(account, skus, root)
    except DemoOrderRefused as exc:
        return woo_response({"error": exc.message}, status=exc.status)
    except ValueError as exc:
        return woo_response({"error": str(exc)}, status=400)
    return woo_response({"order": Store(account, root).render_order(order), "deliveries": deliveries}, status=201)


urlpatterns = [
    path("_sandbox/orders", demo_order_view, name="demo-order"),
    re_path(r"^(?P<store>[a-z0-9][a-z0-9-]{0,62})/wp-json(?:/(?P<route>.*))?$", rest_view, name="rest"),
]

__all__ = [
    "configure", "connection_config", "connection_credentials", "create_demo_account", "create_order",
    "create_review", "php_json",
    "revoke_key", "rotate_key", "set_key_permissions", "store_home", "update_order", "urlpatterns",
]
