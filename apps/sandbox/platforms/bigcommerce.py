"""BigCommerce stores, played locally: `/sandbox/bigcommerce/stores/<store hash>/v2|v3/...` answers as
`https://api.bigcommerce.com/stores/<store hash>/...` does.

The subset Haat uses, with BigCommerce's paths, field names and answers (read from bigcommerce/api-specs:
orders.v2, catalog.v3, webhooks.v3): `v2/store`, `v2/orders` (list, read), `v2/orders/{id}/products`,
`v2/orders/{id}/shipping_addresses`, `v2/orders/{id}/shipments` (list, create), `v3/catalog/products`
(with `include=variants`), `v3/catalog/products` and `v3/catalog/variants` batch updates, `v3/hooks`
(list, create, update, delete).

Faithful on purpose:
- Auth: a store API account's access token in `X-Auth-Token`. A missing or unknown token answers 401; a token
  whose account lacks the scope answers 403 ("You don't have a required scope to access the endpoint").
- Rate limits: every answer carries `X-Rate-Limit-Requests-Left`, `-Requests-Quota`, `-Time-Window-Ms` and
  `-Time-Reset-Ms` for a window of `settings["quota"]` requests per 30 s (150: the Standard plan); past it,
  429 with the same headers and no `Retry-After`.
- v2: money is a string with four decimals ("25.0000"), dates RFC 2822 ("Tue, 20 Nov 2026 10:15:00 +0000"),
  errors a list `[{"status", "message"}]`, and a page with nothing on it is **204 No Content** (no body).
  `min_date_modified` is inclusive and takes RFC 2822 or ISO 8601; `sort=date_modified:asc`; `limit` up to 250.
  Orders of status 0 (Incomplete) are left out unless asked for, as BigCommerce does.
- v3: `{"data", "meta": {"pagination": {...}}}`; errors `{"status", "title", "type", "errors"}`; batch updates
  of variants (at most 50) and products (at most 10) succeed or fail whole (422 naming the item).
- Webhooks: POST to the destination a light payload `{"scope", "store_id", "data": {"type", "id"}, "hash",
  "created_at", "producer": "stores/<hash>"}` with the custom headers given at registration; no signature.
  BigCommerce wants an https destination on port 443; the sandbox also accepts plain http to a local host
  (127.0.0.1, localhost, testserver) so the demo can receive them.

Data: the neutral orders and products of apps/sandbox/dataset.py in USD. Status ids: pending -> 7 Awaiting
Payment, unshipped -> 11 Awaiting Fulfillment, shipped -> 2 Shipped, delivered -> 10 Completed, cancelled ->
5 Cancelled, returned -> 4 Refunded. Sarees and Apparel are products with a "Size" option whose one variant
holds the SKU and stock (inventory tracked by variant); the others are tracked on the product.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import path, re_path
from django.utils import timezone as dj_timezone
from django.views.decorators.csrf import csrf_exempt

from apps.sandbox import dataset
from apps.sandbox import http as sandbox_http
from apps.sandbox.http import read_json, sandbox_endpoint, store_demo_order_view
from apps.sandbox.models import SandboxAccount, SandboxObject
from apps.sandbox.shop import checkout

PLATFORM = "bigcommerce"
HASH_PATTERN = re.compile(r"^[a-z0-9]{1,20}$")
WINDOW_MS = 30_000
DEFAULT_QUOTA = 150
MAX_V2_LIMIT = 250
MAX_V3_LIMIT = 250
VARIANT_BATCH = 50
PRODUCT_BATCH = 10
OPTION_CATEGORIES = {"Sarees", "Apparel"}
STATUSES = {0: "Incomplete", 1: "Pending", 2: "Shipped", 3: "Partially Shipped", 4: "Refunded", 5: "Cancelled",
            6: "Declined", 7: "Awaiting Payment", 8: "Awaiting Pickup", 9: "Awaiting Shipment", 10: "Completed",
            11: "Awaiting Fulfillment", 12: "Manual Verification Required", 13: "Disputed", 14: "Partially Refunded"}
STATUS_IDS = {"pending": 7, "unshipped": 11, "shipped": 2, "delivered": 10, "cancelled": 5, "returned": 4}
WEBHOOK_SCOPES = {"store/order/*", "store/order/created", "store/order/updated", "store/order/archived",
                  "store/order/statusUpdated", "store/product/*", "store/product/created", "store/product/updated",
                  "store/product/deleted", "store/product/inventory/updated", "store/app/uninstalled"}
SCOPE_OF = {"orders": "store_v2_orders", "store": "store_v2_information", "catalog": "store_v2_products",
            "hooks": None}
LOCAL_HOSTS = {"127.0.0.1", "localhost", "testserver", "[::1]"}
V3_ERROR_TYPE = "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes"


class BigCommerceError(Exception):
    def __init__(self, status: int, message: str, *, errors: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors or {}


def _now() -> datetime:
    return dj_timezone.now().replace(microsecond=0)


def rfc2822(value: datetime | str) -> str:
    if isinstance(value, str):
        value = dataset.parse_iso(value)
    return format_datetime(value.astimezone(UTC))


def money4(value: Any) -> str:
    return str(Decimal(str(value)).quantize(Decimal("0.0001")))


# --- accounts and the helpers tests and the demo use ---------------------------------------------------------------


def _new_token() -> str:
    return secrets.token_hex(16)[:31]


def create_demo_account(account_id: str, name: str) -> SandboxAccount:
    """A store (its id is the store hash) with a store API account holding every scope Haat needs; idempotent."""
    if not HASH_PATTERN.match(account_id):
        raise ValueError("A sandbox store hash is lower-case letters and digits")
    account, _created = SandboxAccount._default_manager.get_or_create(
        platform=PLATFORM, account_id=account_id,
        defaults={"name": name,
                  "secrets": {"access_token": _new_token(), "client_id": secrets.token_hex(16)[:31],
                              "scopes": ["store_v2_orders", "store_v2_products", "store_v2_information"]},
                  "settings": {"currency": "USD", "quota": DEFAULT_QUOTA, "order_id_base": 100}},
    )
    dataset.ensure_seeded(account)
    return account


def api_root(account: SandboxAccount, sandbox_root: str) -> str:
    return f"{sandbox_root.rstrip('/')}/{PLATFORM}/stores/{account.account_id}"


def connection_config(account: SandboxAccount, sandbox_root: str) -> dict:
    return {"store_hash": account.account_id, "base_url": api_root(account, sandbox_root)}


def connection_credentials(account: SandboxAccount) -> dict:
    return {"access_token": account.secrets["access_token"]}


def configure(account: SandboxAccount, **options: Any) -> SandboxAccount:
    """Change the store: quota (requests per 30 s)..."""
    account.settings = {**account.settings, **options}
    account.save(update_fields=["settings"])
    return account


def set_scopes(account: SandboxAccount, scopes: list[str]) -> None:
    account.secrets = {**account.secrets, "scopes": list(scopes)}
    account.save(update_fields=["secrets"])


def revoke_token(account: SandboxAccount) -> None:
    """The owner deleted the store API account: its token is unknown from now on."""
    account.secrets = {**account.secrets, "access_token": _new_token()}
    account.save(update_fields=["secrets"])


def create_order(account: SandboxAccount, *, skus: list[tuple[str, int]] | None = None,
                 sandbox_root: str | None = None) -> dict:
    """A buyer just checked out: an Awaiting Fulfillment order, stock reduced, `store/order/created` sent to
    every active hook. Returns the neutral order."""
    order = checkout(account, skus, not_enough=lambda sku, _product, _stock: f"Not enough stock of {sku}")
    deliver(account, "store/order/created", int(order["id"]))
    return order


def update_order(account: SandboxAccount, order_id: str, **changes: Any) -> dict:
    order = dataset.order_update(account, order_id, **changes)
    deliver(account, "store/order/updated", int(order_id))
    return order


def deliver(account: SandboxAccount, scope: str, resource_id: int) -> list[dict]:
    """POST the light payload to every active hook whose scope matches, with its custom headers."""
    resource = scope.split("/")[1]
    data = {"type": resource, "id": resource_id}
    payload = {"scope": scope, "store_id": str(1_000_000 + int(hashlib.sha1(account.account_id.encode()).hexdigest()[:5], 16)),
               "data": data, "hash": hashlib.sha1(json.dumps(data, sort_keys=True).encode() + scope.encode()
                                                    + str(time.time_ns()).encode()).hexdigest(),
               "created_at": int(time.time()), "producer": f"stores/{account.account_id}"}
    body = json.dumps(payload).encode()
    outcomes = []
    for row in dataset.objects(account, "hook").order_by("key"):
        hook = row.data
        wildcard = hook["scope"].endswith("/*") and scope.startswith(hook["scope"][:-1])
        if not hook.get("is_active") or (hook["scope"] != scope and not wildcard):
            continue
        headers = {"Content-Type": "application/json", **{str(k): str(v) for k, v in (hook.get("headers") or {}).items()}}
        status = sandbox_http.deliver_webhook(hook["destination"], body, headers)
        outcomes.append({"hook_id": hook["id"], "scope": scope, "status": status})
    return outcomes


# --- rendering ----------------------------------------------------------------------------------------------------


def _address(neutral: dict) -> dict:
    first, _, last = neutral["address"]["name"].partition(" ")
    return {"first_name": first, "last_name": last or first, "company": "", "street_1": neutral["address"]["line1"],
            "street_2": "", "city": neutral["address"]["city"], "state": neutral["address"]["state"],
            "zip": neutral["address"]["postcode"], "country": "India", "country_iso2": neutral["address"]["country"],
            "phone": neutral["buyer"]["phone"], "email": neutral["buyer"]["email"]}


def _shipped(neutral: dict) -> dict[str, int]:
    if neutral["status"] in ("shipped", "delivered"):
        return {line["id"]: int(line["quantity"]) for line in neutral["lines"]}
    return {str(k): int(v) for k, v in ((neutral.get("bigcommerce") or {}).get("shipped") or {}).items()}


def _status_id(neutral: dict) -> int:
    shipped = _shipped(neutral)
    if neutral["status"] == "unshipped" and any(shipped.values()):
        return 3  # Partially Shipped
    return STATUS_IDS[neutral["status"]]


def render_order(neutral: dict, base: str) -> dict:
    order_id = int(neutral["id"])
    total = money4(neutral["total"])
    status_id = _status_id(neutral)
    shipped = _shipped(neutral)
    return {
        "id": order_id, "customer_id": 0, "date_created": rfc2822(neutral["created_at"]),
        "date_modified": rfc2822(neutral["updated_at"]),
        "date_shipped": rfc2822(neutral["updated_at"]) if status_id in (2, 10) else "",
        "status_id": status_id, "status": STATUSES[status_id], "custom_status": STATUSES[status_id],
        "subtotal_ex_tax": total, "subtotal_inc_tax": total, "subtotal_tax": "0.0000", "base_shipping_cost": "0.0000",
        "shipping_cost_ex_tax": "0.0000", "shipping_cost_inc_tax": "0.0000", "total_ex_tax": total,
        "total_inc_tax": total, "total_tax": "0.0000",
        "items_total": sum(int(line["quantity"]) for line in neutral["lines"]),
        "items_shipped": sum(shipped.values()), "payment_method": "Cash on Delivery", "payment_status": "",
        "refunded_amount": total if neutral["status"] == "returned" else "0.0000",
        "currency_code": neutral["currency"], "currency_exchange_rate": "1.0000000000",
        "default_currency_code": neutral["currency"], "store_default_currency_code": neutral["currency"],
        "billing_address": _address(neutral), "is_deleted": False, "order_source": "www", "channel_id": 1,
        "external_source": None, "external_id": None, "customer_message": "", "staff_notes": "",
        "products": {"url": f"{base}/v2/orders/{order_id}/products", "resource": f"/orders/{order_id}/products"},
        "shipping_addresses": {"url": f"{base}/v2/orders/{order_id}/shipping_addresses",
                               "resource": f"/orders/{order_id}/shipping_addresses"},
        "coupons": {"url": f"{base}/v2/orders/{order_id}/coupons", "resource": f"/orders/{order_id}/coupons"},
    }


def _address_id(neutral: dict) -> int:
    return int(neutral["id"]) * 10 + 1


def render_lines(neutral: dict) -> list[dict]:
    shipped = _shipped(neutral)
    rows = []
    for line in neutral["lines"]:
        price = money4(line["unit_price"])
        total = money4(Decimal(line["unit_price"]) * int(line["quantity"]))
        rows.append({
            "id": int(line["id"]), "order_id": int(neutral["id"]), "product_id": int(line["product_id"]),
            "variant_id": int(line["variant_id"]), "order_address_id": _address_id(neutral), "name": line["title"],
            "sku": line["sku"], "type": "physical", "base_price": price, "price_ex_tax": price, "price_inc_tax": price,
            "price_tax": "0.0000", "base_total": total, "total_ex_tax": total, "total_inc_tax": total,
            "total_tax": "0.0000", "quantity": int(line["quantity"]), "quantity_shipped": shipped.get(line["id"], 0),
            "quantity_refunded": int(line["quantity"]) if neutral["status"] == "returned" else 0,
            "is_refunded": neutral["status"] == "returned", "refund_amount": "0.0000", "product_options": [],
        })
    return rows


def render_shipping_address(neutral: dict) -> dict:
    return {**_address(neutral), "id": _address_id(neutral), "order_id": int(neutral["id"]),
            "items_total": sum(int(line["quantity"]) for line in neutral["lines"]),
            "items_shipped": sum(_shipped(neutral).values()), "shipping_method": "Flat Rate",
            "base_cost": "0.0000", "cost_ex_tax": "0.0000", "cost_inc_tax": "0.0000", "shipping_zone_name": "India"}


def _parent_sku(product: dict) -> str:
    return f"{product['sku']}-P"


def render_product(row: SandboxObject) -> dict:
    product = row.data
    with_options = product.get("category") in OPTION_CATEGORIES
    price = float(Decimal(product["price"]))
    retail = float(Decimal(product.get("mrp") or product["price"]))
    variant = {
        "id": int(product["variant_id"]), "product_id": int(product["id"]), "sku": product["sku"],
        "sku_id": int(product["variant_id"]) + 100, "price": price if with_options else None,
        "calculated_price": price, "sale_price": None, "retail_price": retail if with_options else None,
        "cost_price": 0, "inventory_level": int(product["quantity"]) if with_options else 0,
        "inventory_warning_level": 0, "upc": product["barcode"], "gtin": "", "mpn": "", "is_free_shipping": False,
        "purchasing_disabled": False, "option_values": [
            {"id": 70, "label": "Free size", "option_id": 30, "option_display_name": "Size"}] if with_options else [],
    }
    return {
        "id": int(product["id"]), "name": product["title"], "type": "physical",
        "sku": _parent_sku(product) if with_options else product["sku"], "description": f"<p>{product['description']}</p>",
        "price": price, "sale_price": 0, "retail_price": retail, "cost_price": 0, "calculated_price": price,
        "inventory_level": int(product["quantity"]), "inventory_warning_level": 0,
        "inventory_tracking": "variant" if with_options else "product", "is_visible": True,
        "upc": "" if with_options else product["barcode"], "gtin": "", "weight": 0.5,
        "date_created": dataset.iso(row.updated_at).replace("Z", "+00:00"),
        "date_modified": dataset.iso(row.updated_at).replace("Z", "+00:00"),
        "variants": [variant] if with_options else [{**variant, "inventory_level": int(product["quantity"])}],
    }


# --- the HTTP face ---------------------------------------------------------------------------------------------


def _rate_headers(account: SandboxAccount, *, take: bool) -> tuple[dict[str, str], bool]:
    """The fixed window of `quota` requests per 30 s; (headers, allowed)."""
    quota = int(account.settings.get("quota") or DEFAULT_QUOTA)
    now_ms = int(time.time() * 1000)
    window = now_ms // WINDOW_MS
    key = f"haat:sandbox:bigcommerce:{account.account_id}:{window}"
    used = int(cache.get(key) or 0)
    allowed = used < quota
    if take and allowed:
        used += 1
        cache.set(key, used, timeout=WINDOW_MS // 1000 + 5)
    reset = WINDOW_MS - now_ms % WINDOW_MS
    return {"X-Rate-Limit-Requests-Left": str(max(0, quota - used)), "X-Rate-Limit-Requests-Quota": str(quota),
            "X-Rate-Limit-Time-Window-Ms": str(WINDOW_MS), "X-Rate-Limit-Time-Reset-Ms": str(reset)}, allowed


def _respond(data: Any, status: int, headers: dict[str, str]) -> HttpResponse:
    if status == 204:
        response = HttpResponse(status=204)
    else:
        response = HttpResponse(json.dumps(data, separators=(",", ":")).encode(), status=status,
                                content_type="application/json")
    for name, value in headers.items():
        response[name] = value
    return response


def _error(version: str, error: BigCommerceError, headers: dict[str, str]) -> HttpResponse:
    if version == "v2":
        return _respond([{"status": error.status, "message": error.message}], error.status, headers)
    return _respond({"status": error.status, "title": error.message, "type": V3_ERROR_TYPE, "errors": error.errors},
                    error.status, headers)


def server_error(status: int, message: str) -> HttpResponse:
    return _respond({"status": status, "title": "Internal Server Error", "type": V3_ERROR_TYPE, "errors": {}},
                    status, {})


def rate_limited() -> HttpResponse:
    headers = {"X-Rate-Limit-Requests-Left": "0", "X-Rate-Limit-Requests-Quota": str(DEFAULT_QUOTA),
               "X-Rate-Limit-Time-Window-Ms": str(WINDOW_MS), "X-Rate-Limit-Time-Reset-Ms": "1000"}
    return _respond({"status": 429, "title": "Too many requests", "type": V3_ERROR_TYPE, "errors": {}}, 429, headers)


endpoint = sandbox_endpoint(server_error=server_error, rate_limited=rate_limited)


def _int(request: HttpRequest, name: str, default: int, *, low: int = 1, high: int | None = None) -> int:
    raw = request.GET.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BigCommerceError(400, f"The field '{name}' is invalid.") from None
    if value < low or (high is not None and value > high):
        raise BigCommerceError(400, f"The field '{name}' is invalid.")
    return value


def _date_param(request: HttpRequest, name: str) -> datetime | None:
    raw = request.GET.get(name)
    if not raw:
        return None
    try:
        parsed = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise BigCommerceError(400, f"The field '{name}' is invalid.") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


class Call:
    def __init__(self, request: HttpRequest, account: SandboxAccount, base: str):
        self.request, self.account, self.base = request, account, base
        self.body = read_json(request) if request.body else None

    def order_row(self, order_id: str) -> SandboxObject:
        row = dataset.objects(self.account, "order").filter(key=order_id).first() if order_id.isdigit() else None
        if row is None:
            raise BigCommerceError(404, "The requested resource was not found.")
        return row


def store_info(call: Call) -> tuple[Any, int]:
    account = call.account
    return {"id": account.account_id, "domain": f"{account.account_id}.mybigcommerce.com",
            "secure_URL": f"https://{account.account_id}.mybigcommerce.com", "name": account.name,
            "address": "Pune, Maharashtra, India", "country": "India", "country_code": "IN", "phone": "",
            "admin_email": f"owner@{account.account_id}.example.in", "order_email": "",
            "timezone": {"name": "Asia/Calcutta", "raw_offset": 19800, "dst_offset": 19800, "dst_correction": False,
                         "date_format": {"display": "jS M Y", "export": "M jS Y", "extended_display": "M jS Y @ g:i A"}},
            "language": "en", "currency": account.settings.get("currency", "USD"), "currency_symbol": "$",
            "decimal_separator": ".", "thousands_separator": ",", "decimal_places": 2, "plan_name": "Standard",
            "plan_level": "Standard", "is_price_entered_with_tax": False, "features": {"multi_storefront_enabled": False},
            "store_id": 1_000_000 + int(hashlib.sha1(account.account_id.encode()).hexdigest()[:5], 16)}, 200


def orders_list(call: Call) -> tuple[Any, int]:
    request = call.request
    limit = _int(request, "limit", 50, high=MAX_V2_LIMIT)
    page = _int(request, "page", 1)
    since, until = _date_param(request, "min_date_modified"), _date_param(request, "max_date_modified")
    sort = request.GET.get("sort") or "id:asc"
    field, _, direction = sort.partition(":")
    if field not in ("id", "date_created", "date_modified", "status_id", "customer_id") or direction not in ("asc", "desc", ""):
        raise BigCommerceError(400, "The field 'sort' is invalid.")
    rows = []
    for row in dataset.objects(call.account, "order"):
        stamp = dataset.parse_iso(row.data["updated_at"])
        if (since and stamp < since) or (until and stamp > until):
            continue
        rows.append(row.data)
    key = {"id": lambda o: int(o["id"]), "date_created": lambda o: (o["created_at"], int(o["id"])),
           "date_modified": lambda o: (o["updated_at"], int(o["id"])),
           "status_id": lambda o: (_status_id(o), int(o["id"])), "customer_id": lambda o: int(o["id"])}[field]
    rows.sort(key=key, reverse=direction == "desc")
    chunk = rows[(page - 1) * limit: page * limit]
    if not chunk:
        return None, 204
    return [render_order(o, call.base) for o in chunk], 200


def order_get(call: Call, order_id: str) -> tuple[Any, int]:
    return render_order(call.order_row(order_id).data, call.base), 200


def order_products(call: Call, order_id: str) -> tuple[Any, int]:
    limit = _int(call.request, "limit", 50, high=MAX_V2_LIMIT)
    page = _int(call.request, "page", 1)
    rows = render_lines(call.order_row(order_id).data)[(page - 1) * limit: page * limit]
    return (rows, 200) if rows else (None, 204)


def order_shipping_addresses(call: Call, order_id: str) -> tuple[Any, int]:
    return [render_shipping_address(call.order_row(order_id).data)], 200


def shipments_list(call: Call, order_id: str) -> tuple[Any, int]:
    call.order_row(order_id)
    rows = [row.data for row in dataset.objects(call.account, "shipment").filter(key__startswith=f"{order_id}:")
            .order_by("updated_at", "pk")]
    return (rows, 200) if rows else (None, 204)


@transaction.atomic
def shipment_create(call: Call, order_id: str) -> tuple[Any, int]:
    row = call.order_row(order_id)
    row = SandboxObject.objects.select_for_update().get(pk=row.pk)
    neutral = row.data
    body = call.body if isinstance(call.body, dict) else None
    if body is None:
        raise BigCommerceError(400, "The request body is invalid.")
    if body.get("order_address_id") != _address_id(neutral):
        raise BigCommerceError(400, "The field 'order_address_id' is invalid.")
    items = body.get("items")
    if not isinstance(items, list) or not items:
        raise BigCommerceError(400, "The field 'items' is invalid.")
    if _status_id(neutral) in (0, 4, 5, 6, 7):
        raise BigCommerceError(400, "The order cannot be shipped in its current status.")
    lines = {int(line["id"]): line for line in neutral["lines"]}
    shipped = _shipped(neutral)
    wanted: dict[int, int] = {}
    for item in items:
        if not isinstance(item, dict) or item.get("order_product_id") not in lines:
            raise BigCommerceError(400, "The field 'order_product_id' is invalid.")
        quantity = item.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise BigCommerceError(400, "The field 'quantity' is invalid.")
        wanted[item["order_product_id"]] = wanted.get(item["order_product_id"], 0) + quantity
    for line_id, quantity in wanted.items():
        if quantity > int(lines[line_id]["quantity"]) - shipped.get(str(line_id), 0):
            raise BigCommerceError(400, "The quantity specified is greater than the quantity of the product that is "
                                        "available to ship.")
    provider = body.get("shipping_provider") or ""
    if provider not in ("", "auspost", "canadapost", "endicia", "usps", "fedex", "ups", "upsready", "upsonline",
                        "shipperhq"):
        raise BigCommerceError(400, "The field 'shipping_provider' is invalid.")
    now = _now()
    count = dataset.objects(call.account, "shipment").count()
    shipment = {
        "id": count + 1, "order_id": int(order_id), "customer_id": 0, "order_address_id": _address_id(neutral),
        "date_created": rfc2822(now), "tracking_number": str(body.get("tracking_number") or ""),
        "shipping_method": str(body.get("shipping_method") or ""), "shipping_provider": provider,
        "tracking_carrier": str(body.get("tracking_carrier") or ""), "tracking_link": "",
        "comments": str(body.get("comments") or ""), "billing_address": _address(neutral),
        "shipping_address": _address(neutral),
        "items": [{"order_product_id": k, "product_id": int(lines[k]["product_id"]), "quantity": v}
                  for k, v in wanted.items()],
    }
    SandboxObject.objects.create(account=call.account, kind="shipment", key=f"{order_id}:{shipment['id']}",
                                 data=shipment, updated_at=now)
    for line_id, quantity in wanted.items():
        shipped[str(line_id)] = shipped.get(str(line_id), 0) + quantity
    changes: dict[str, Any] = {"bigcommerce": {**(neutral.get("bigcommerce") or {}), "shipped": shipped}}
    if all(shipped.get(str(k), 0) >= int(line["quantity"]) for k, line in lines.items()):
        changes["status"] = "shipped"
        changes["tracking"] = {"carrier": shipment["tracking_carrier"] or provider, "number": shipment["tracking_number"],
                               "url": ""}
    dataset.order_update(call.account, order_id, **changes)
    return shipment, 201


def _pagination(total: int, limit: int, page: int) -> dict:
    pages = max(1, -(-total // limit))
    links = {"current": f"?page={page}&limit={limit}"}
    if page > 1:
        links["previous"] = f"?page={page - 1}&limit={limit}"
    if page < pages:
        links["next"] = f"?page={page + 1}&limit={limit}"
    count = max(0, min(limit, total - (page - 1) * limit))
    return {"pagination": {"total": total, "count": count, "per_page": limit, "current_page": page,
                           "total_pages": pages, "links": links}}


def products_list(call: Call) -> tuple[Any, int]:
    limit = _int(call.request, "limit", 50, high=MAX_V3_LIMIT)
    page = _int(call.request, "page", 1)
    includes = set((call.request.GET.get("include") or "").split(","))
    rows = sorted(dataset.objects(call.account, "product"), key=lambda r: int(r.data["id"]))
    data = []
    for row in rows[(page - 1) * limit: page * limit]:
        product = render_product(row)
        if "variants" not in includes:
            product.pop("variants")
        data.append(product)
    return {"data": data, "meta": _pagination(len(rows), limit, page)}, 200


def _batch(call: Call, limit: int) -> list[dict]:
    items = call.body
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise BigCommerceError(422, "JSON data is missing or invalid", errors={"body": "must be a list of objects"})
    if len(items) > limit:
        raise BigCommerceError(413, "The request payload is too large. The maximum items allowed in the array is "
                                    f"{limit}")
    return items


def _money_field(item: dict, name: str, index: int) -> Decimal | None:
    if name not in item or item[name] is None:
        return None
    value = item[name]
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        amount = Decimal(-1)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or amount < 0:
        raise BigCommerceError(422, "JSON data is missing or invalid", errors={f"{index}.{name}": "must be a number of "
                                                                                                    "at least 0"})
    return amount


def _apply(call: Call, items: list[dict], *, by: str) -> list[dict]:
    """Validate every item, then apply them all (BigCommerce's batches succeed or fail whole)."""
    rows = {int(row.data[by]): row for row in dataset.objects(call.account, "product").select_for_update()}
    changes = []
    for index, item in enumerate(items):
        row = rows.get(item.get("id")) if isinstance(item.get("id"), int) else None
        if row is None:
            raise BigCommerceError(422, "JSON data is missing or invalid",
                                   errors={f"{index}.id": f"{'variant' if by == 'variant_id' else 'product'} not found"})
        with_options = row.data.get("category") in OPTION_CATEGORIES
        if "inventory_level" in item and (by == "variant_id") != with_options:
            # A product tracked on the product ignores its base variant's level, and the reverse.
            raise BigCommerceError(422, "JSON data is missing or invalid", errors={
                f"{index}.inventory_level": f"inventory is tracked by {'variant' if with_options else 'product'}"})
        level = item.get("inventory_level")
        if level is not None and (isinstance(level, bool) or not isinstance(level, int) or level < 0):
            raise BigCommerceError(422, "JSON data is missing or invalid",
                                   errors={f"{index}.inventory_level": "must be an integer of at least 0"})
        changes.append((row, level, _money_field(item, "price", index), _money_field(item, "retail_price", index)))
    now = _now()
    for row, level, price, retail in changes:
        if level is not None:
            row.data["quantity"] = level
        if price is not None:
            row.data["price"] = dataset.money(price)
        if retail is not None:
            row.data["mrp"] = dataset.money(retail)
        row.updated_at = now
    SandboxObject.objects.bulk_update([c[0] for c in changes], ["data", "updated_at"])
    return [c[0] for c in changes]


@transaction.atomic
def variants_batch(call: Call) -> tuple[Any, int]:
    rows = _apply(call, _batch(call, VARIANT_BATCH), by="variant_id")
    return {"data": [render_product(r)["variants"][0] for r in rows], "meta": {}}, 200


@transaction.atomic
def products_batch(call: Call) -> tuple[Any, int]:
    rows = _apply(call, _batch(call, PRODUCT_BATCH), by="id")
    return {"data": [{k: v for k, v in render_product(r).items() if k != "variants"} for r in rows],
            "meta": _pagination(len(rows), max(1, len(rows)), 1)}, 200


def _hook_body(call: Call, hook: dict | None) -> dict:
    body = call.body if isinstance(call.body, dict) else None
    if body is None:
        raise BigCommerceError(422, "JSON data is missing or invalid", errors={"body": "must be an object"})
    merged = {**(hook or {}), **{k: v for k, v in body.items() if k in ("scope", "destination", "is_active", "headers")}}
    if merged.get("scope") not in WEBHOOK_SCOPES:
        raise BigCommerceError(422, "JSON data is missing or invalid", errors={"scope": "is not a valid scope"})
    destination = urlsplit(str(merged.get("destination") or ""))
    local = destination.scheme == "http" and (destination.hostname or "") in LOCAL_HOSTS
    if not local and (destination.scheme != "https" or destination.port not in (None, 443)):
        raise BigCommerceError(422, "JSON data is missing or invalid",
                               errors={"destination": "must be an https URL on port 443"})
    headers = merged.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise BigCommerceError(422, "JSON data is missing or invalid", errors={"headers": "must map names to strings"})
    merged["is_active"] = bool(merged.get("is_active", True))
    return merged


def hooks_list(call: Call) -> tuple[Any, int]:
    rows = [row.data for row in dataset.objects(call.account, "hook").order_by("key")]
    return {"data": rows, "meta": _pagination(len(rows), max(1, len(rows)), 1)}, 200


def hook_create(call: Call) -> tuple[Any, int]:
    hook = _hook_body(call, None)
    hook_id = 20_000_000 + dataset.objects(call.account, "hook").count() + 1
    now = int(time.time())
    hook.update({"id": hook_id, "client_id": call.account.secrets.get("client_id", ""),
                 "store_hash": call.account.account_id, "created_at": now, "updated_at": now})
    SandboxObject.objects.create(account=call.account, kind="hook", key=str(hook_id), data=hook, updated_at=_now())
    return {"data": hook, "meta": {}}, 200


def _hook_row(call: Call, hook_id: str) -> SandboxObject:
    row = dataset.objects(call.account, "hook").filter(key=hook_id).first()
    if row is None:
        raise BigCommerceError(404, "Webhook not found")
    return row


def hook_update(call: Call, hook_id: str) -> tuple[Any, int]:
    row = _hook_row(call, hook_id)
    row.data = {**_hook_body(call, row.data), "updated_at": int(time.time())}
    row.save(update_fields=["data"])
    return {"data": row.data, "meta": {}}, 200


def hook_delete(call: Call, hook_id: str) -> tuple[Any, int]:
    row = _hook_row(call, hook_id)
    data = row.data
    row.delete()
    return {"data": data, "meta": {}}, 200


ROUTES: list[tuple[str, str, re.Pattern, Any]] = [
    ("GET", "v2", re.compile(r"^store$"), store_info),
    ("GET", "v2", re.compile(r"^orders$"), orders_list),
    ("GET", "v2", re.compile(r"^orders/(?P<order_id>[^/]+)$"), order_get),
    ("GET", "v2", re.compile(r"^orders/(?P<order_id>[^/]+)/products$"), order_products),
    ("GET", "v2", re.compile(r"^orders/(?P<order_id>[^/]+)/shipping_addresses$"), order_shipping_addresses),
    ("GET", "v2", re.compile(r"^orders/(?P<order_id>[^/]+)/shipments$"), shipments_list),
    ("POST", "v2", re.compile(r"^orders/(?P<order_id>[^/]+)/shipments$"), shipment_create),
    ("GET", "v3", re.compile(r"^catalog/products$"), products_list),
    ("PUT", "v3", re.compile(r"^catalog/products$"), products_batch),
    ("PUT", "v3", re.compile(r"^catalog/variants$"), variants_batch),
    ("GET", "v3", re.compile(r"^hooks$"), hooks_list),
    ("POST", "v3", re.compile(r"^hooks$"), hook_create),
    ("PUT", "v3", re.compile(r"^hooks/(?P<hook_id>\d+)$"), hook_update),
    ("DELETE", "v3", re.compile(r"^hooks/(?P<hook_id>\d+)$"), hook_delete),
]
REQUIRED_SCOPE = {"store": "store_v2_information", "orders": "store_v2_orders", "catalog": "store_v2_products"}


@endpoint
def api_view(request: HttpRequest, store_hash: str, version: str, route: str) -> HttpResponse:
    account = dataset.get_account(PLATFORM, store_hash)
    if account is None:
        return _error(version, BigCommerceError(404, "Store not found"), {})
    token = request.headers.get("X-Auth-Token", "")
    if not token or not secrets.compare_digest(token, str(account.secrets.get("access_token", ""))):
        return _error(version, BigCommerceError(401, "The token provided is invalid or has been revoked."
                      if token else "Missing X-Auth-Token header."), {})
    headers, allowed = _rate_headers(account, take=True)
    if not allowed:
        return _respond({"status": 429, "title": "Too many requests", "type": V3_ERROR_TYPE, "errors": {}}, 429, headers)
    base = request.build_absolute_uri(request.path.split(f"/{version}/", 1)[0])
    try:
        for method, api, pattern, handler in ROUTES:
            match = pattern.fullmatch(route.rstrip("/"))
            if api != version or match is None:
                continue
            if method != request.method:
                continue
            scope = REQUIRED_SCOPE.get(route.split("/", 1)[0])
            if scope and scope not in (account.secrets.get("scopes") or []):
                raise BigCommerceError(403, "You don't have a required scope to access the endpoint")
            call = Call(request, account, base)
            if request.method in ("POST", "PUT") and request.body and call.body is None:
                raise BigCommerceError(400, "The request body is not valid JSON.")
            data, status = handler(call, **match.groupdict())
            return _respond(data, status, headers)
        raise BigCommerceError(404, "The requested resource was not found.")
    except BigCommerceError as error:
        return _error(version, error, headers)


@csrf_exempt
def demo_order_view(request: HttpRequest) -> HttpResponse:
    """The demo's "a buyer just bought" button: 201 with the order as the store's API shows it."""
    root = request.build_absolute_uri(request.path.split(f"/{PLATFORM}/", 1)[0])
    return store_demo_order_view(request, platform=PLATFORM, place=lambda account, skus: {
        "order": render_order(create_order(account, skus=skus), api_root(account, root))})


urlpatterns = [
    path("_sandbox/orders", demo_order_view, name="demo-order"),
    re_path(r"^stores/(?P<store_hash>[a-z0-9]{1,20})/(?P<version>v2|v3)/(?P<route>.+)$", api_view, name="api"),
]

__all__ = ["api_root", "configure", "connection_config", "connection_credentials", "create_demo_account",
           "create_order", "deliver", "render_order", "revoke_token", "set_scopes", "update_order", "urlpatterns"]
