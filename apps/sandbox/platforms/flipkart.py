"""The Flipkart Marketplace Seller API, played locally at /sandbox/flipkart/ (the host's root).

Same paths, field names, status vocabulary, pagination and auth as api.flipkart.net, from Flipkart's
own reference (flipkart.github.io/fk-api-platform-docs and seller.flipkart.com/api-docs):

- `GET  /oauth-service/oauth/token?grant_type=client_credentials&scope=Seller_Api` with HTTP Basic
  appId:appSecret -> {access_token, token_type: "bearer", expires_in, scope}; errors in the OAuth2
  shape {error, error_description} (401 for bad client credentials, 400 for a bad grant or scope).
- `POST /sellers/v3/shipments/filter` (type preDispatch | postDispatch | cancelled, states, modifiedDate,
  serviceProfiles, cancellationType, pagination.pageSize <= 20, sort) -> {hasMore, nextPageUrl,
  shipments}; `GET /sellers/v3/shipments/filter?next_token=...` for the next page.
- `GET  /sellers/v3/shipments?shipmentIds=|orderIds=|orderItemIds=` (one kind, <= 100 ids) and
  `GET /sellers/v3/shipments/{shipmentIds}` (addresses, buyer, courier details).
- `POST /sellers/v3/shipments/selfShip/dispatch` (self-ship: invoice, courier, tracking id).
- `POST /sellers/listings/v3/search`, `GET /sellers/listings/v3/{skuIds}`,
  `POST /sellers/listings/v3/update/inventory` and `/update/price` (<= 10 SKUs, per-SKU answers;
  prices are whole rupees, int32 in Flipkart's schema).
- `POST /sellers/orders/sandbox/test_orders` (Flipkart's own sandbox-only call) and
  `POST /_sandbox/orders` (Haat's demo button) place a new order.

The data are the neutral orders and products of apps/sandbox/dataset.py. A neutral order is one
Flipkart order ("OD" + 18 digits); its lines are order items; most orders travel as one shipment, about
one in four multi-line orders is split into two shipments (Flipkart splits orders; a shipment never
holds two orders). Neutral statuses map to order item states: pending = APPROVED on hold,
unshipped = APPROVED, shipped = SHIPPED, delivered = DELIVERED, cancelled = CANCELLED, returned =
RETURNED. Flipkart documents HTTP status codes but not the bodies of request-level errors, 5xx and
429 answers: the sandbox answers those as {timestamp, status, error, message, path}, 429 with
`Retry-After`. Unlike Spring's OAuth2 errors it never echoes a token back.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import uuid
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import path, re_path
from django.utils import timezone as dj_timezone

from apps.sandbox import dataset
from apps.sandbox.http import DemoOrderRefused, json_response, platform_api, read_demo_order, read_json, sandbox_endpoint
from apps.sandbox.models import SandboxAccount, SandboxObject
from apps.sandbox.shop import round_prices_once, whole_units

PLATFORM = "flipkart"
IST = timezone(timedelta(hours=5, minutes=30))
TOKEN_TTL_SECONDS = 60 * 24 * 3600  # "The access token expiry is 60 days" (Flipkart FAQ)
SCOPES = {"Seller_Api", "Default"}
MAX_PAGE_SIZE = 20
MAX_IDS = 100
MAX_LISTING_SKUS = 10  # "you can update a maximum of 10 FSNs at a time" (Flipkart FAQ)
LISTING_PAGE_SIZE = 500
ORDER_ID_BASE = 400_000_000_000_000_000
ORDER_ITEM_ID_BASE = 3_000_000_000_000_000
RETRY_AFTER_SECONDS = 1

PRE_DISPATCH_STATES = ("APPROVED", "PACKING_IN_PROGRESS", "FORM_FAILED", "PACKED", "READY_TO_DISPATCH")
POST_DISPATCH_STATES = ("PICKUP_COMPLETE", "SHIPPED", "DELIVERED", "COMPLETED", "RETURN_REQUESTED", "RETURNED")
FILTER_TYPES = {"preDispatch": PRE_DISPATCH_STATES, "postDispatch": POST_DISPATCH_STATES, "cancelled": ("CANCELLED",)}
CANCELLATION_TYPES = ("sellerCancellation", "buyerCancellation", "marketplaceCancellation")
SERVICE_PROFILES = ("FBF", "NON_FBF", "FBF_LITE")
SHIPMENT_TYPES = ("EXPRESS", "NORMAL", "SELF")
SORT_FIELDS = ("dispatchByDate", "orderDate", "modifiedDate", "dispatchAfterDate")
ITEM_STATUS = {"pending": "APPROVED", "unshipped": "APPROVED", "shipped": "SHIPPED", "delivered": "DELIVERED",
               "cancelled": "CANCELLED", "returned": "RETURNED"}
STATE_CODES = {"Maharashtra": "MH", "Rajasthan": "RJ", "Uttar Pradesh": "UP", "Odisha": "OR", "Kerala": "KL",
               "Madhya Pradesh": "MP", "Assam": "AS", "Bihar": "BR", "Karnataka": "KA"}
HSN_BY_CATEGORY = {"Sarees": "5208", "Art": "9701", "Spices": "0910", "Home": "6304", "Bags": "6305",
                   "Decor": "6913", "Food": "2106", "Apparel": "6211", "Toys": "9503", "Jewellery": "7117",
                   "Personal care": "3401"}
_NAMESPACE = uuid.UUID("5b0f3a51-3c39-4c55-9a4e-6f6c1b2d7a10")


class BadRequest(Exception):
    """A request the platform refuses as a whole (400)."""


# --- ids: the platform's ids derived from the neutral data, stable for one seed --------------------------------


def flipkart_order_id(neutral_id: str) -> str:
    return f"OD{ORDER_ID_BASE + int(neutral_id)}"


def neutral_order_id(order_id: str) -> str | None:
    if not (isinstance(order_id, str) and order_id.startswith("OD") and order_id[2:].isdigit()):
        return None
    value = int(order_id[2:]) - ORDER_ID_BASE
    return str(value) if value > 0 else None


def order_item_id(line_id: str) -> str:
    return str(ORDER_ITEM_ID_BASE + int(line_id))


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("|".join(str(p) for p in (settings.SANDBOX_SEED, *parts)).encode()).digest()


def fsn(account: SandboxAccount, product: dict) -> str:
    """A Flipkart Serial Number: 16 upper-case characters, a category prefix then a stable code."""
    code = base64.b32encode(_digest(account.account_id, product["sku"], "fsn")).decode()
    return (product.get("category", "GEN")[:3].upper() + code)[:16]


def listing_id(account: SandboxAccount, product: dict) -> str:
    return f"LST{fsn(account, product)}{base64.b32encode(_digest(product['sku'], 'lst')).decode()[:6]}"


def shipment_id(account: SandboxAccount, neutral_id: str, index: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{settings.SANDBOX_SEED}:{account.account_id}:{neutral_id}:{index}"))


def _roll(*parts: object) -> int:
    return int.from_bytes(_digest(*parts)[:4], "big")


def shipment_groups(account: SandboxAccount, order: dict) -> list[list[dict]]:
    """How the order's lines travel: one shipment, or (about one multi-line order in four) two."""
    lines = order["lines"]
    if len(lines) >= 2 and _roll(account.account_id, order["id"], "split") % 4 == 0:
        return [lines[:1], lines[1:]]
    return [lines]


def cancellation_type(account: SandboxAccount, order: dict) -> str:
    return ("buyerCancellation", "buyerCancellation", "sellerCancellation", "marketplaceCancellation")[
        _roll(account.account_id, order["id"], "cancel") % 4]


# --- accounts, tokens and the helpers tests and the demo use --------------------------------------------------


def create_demo_account(account_id: str, name: str) -> SandboxAccount:
    """A sandbox seller with a self-access application (app id and secret in `secrets`); idempotent."""
    account, _created = SandboxAccount._default_manager.get_or_create(
        platform=PLATFORM, account_id=account_id,
        defaults={
            "name": name,
            "secrets": {"app_id": str(uuid.uuid4()), "app_secret": str(uuid.uuid4())},
            "settings": {"location_id": f"LOC{uuid.uuid4().hex}", "currency": "INR"},
        },
    )
    prepare(account)
    return account


def connection_config(account: SandboxAccount, sandbox_root: str) -> dict:
    return {"base_url": f"{sandbox_root.rstrip('/')}/{PLATFORM}"}


def connection_credentials(account: SandboxAccount) -> dict:
    return {"app_id": account.secrets["app_id"], "app_secret": account.secrets["app_secret"]}


def prepare(account: SandboxAccount) -> None:
    """Seed the account once, with whole-rupee listing prices (Flipkart's price fields are integers)."""
    round_prices_once(account, flag="whole_rupee_prices")


def create_order(account: SandboxAccount, *, skus: list[tuple[str, int]] | None = None) -> dict:
    """A buyer just bought: a new APPROVED order (neutral shape). Flipkart notifications are subscribed by
    e-mail, not by API, so no delivery is sent; Haat sees the order on its next poll."""
    prepare(account)
    if skus:
        known = set(dataset.objects(account, "product").values_list("key", flat=True))
        unknown = [sku for sku, _qty in skus if sku not in known]
        if unknown:
            raise ValueError(f"Unknown SKU(s): {', '.join(unknown)}")
        if any(not isinstance(qty, int) or qty < 1 for _sku, qty in skus):
            raise ValueError("Quantities must be whole numbers of at least 1")
    return dataset.order_create(account, skus=skus)


def issue_token(account: SandboxAccount, *, scope: str = "Seller_Api", ttl: int | None = None) -> tuple[str, int]:
    """Mint an access token for the account (what the token endpoint does); returns (token, expires_in)."""
    now = dj_timezone.now()
    ttl = int(ttl or account.settings.get("token_ttl") or TOKEN_TTL_SECONDS)
    token = str(uuid.uuid4())
    # Tokens issued before the last TTL can no longer be valid: drop them so the table stays small.
    dataset.objects(account, "token").filter(updated_at__lt=now - timedelta(seconds=ttl)).delete()
    SandboxObject.objects.create(account=account, kind="token", key=token, updated_at=now, data={
        "scope": scope, "expires_at": dataset.iso(now + timedelta(seconds=ttl)), "revoked": False})
    return token, ttl


def _token_rows(account: SandboxAccount, token: str | None):
    rows = dataset.objects(account, "token")
    return rows.filter(key=token) if token else rows


def expire_token(account: SandboxAccount, token: str | None = None) -> int:
    """Make one (or every) token of the account expired, as if its 60 days had passed."""
    rows = list(_token_rows(account, token))
    for row in rows:
        row.data["expires_at"] = dataset.iso(dj_timezone.now() - timedelta(seconds=1))
    SandboxObject.objects.bulk_update(rows, ["data"])
    return len(rows)


def revoke_token(account: SandboxAccount, token: str | None = None) -> int:
    """Revoke one (or every) token of the account: the API answers 401 invalid_token to it."""
    rows = list(_token_rows(account, token))
    for row in rows:
        row.data["revoked"] = True
    SandboxObject.objects.bulk_update(rows, ["data"])
    return len(rows)


def revoke_application(account: SandboxAccount) -> None:
    """The seller deleted the self-access application: its id and secret no longer get tokens."""
    account.secrets = {**account.secrets, "revoked": True}
    account.save(update_fields=["secrets"])
    revoke_token(account)


def suspend_api_access(account: SandboxAccount, suspended: bool = True) -> None:
    """Flipkart withdrew API access: tokens are still issued, every API call answers 403."""
    account.settings = {**account.settings, "api_suspended": suspended}
    account.save(update_fields=["settings"])


# --- answers in the platform's shapes -------------------------------------------------------------------------


_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
            422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error",
            503: "Service Unavailable"}


def api_error(status: int, message: str, *, path_: str = "", headers: dict[str, str] | None = None) -> HttpResponse:
    return json_response({"timestamp": dataset.iso(dj_timezone.now()), "status": status,
                          "error": _REASONS.get(status, "Error"), "message": message, "path": path_},
                         status=status, headers=headers)


def oauth_error(status: int, error: str, description: str, *, challenge: str = "") -> HttpResponse:
    headers = {"WWW-Authenticate": challenge} if challenge else {}
    return json_response({"error": error, "error_description": description}, status=status, headers=headers)


def server_error(status: int, message: str) -> HttpResponse:
    return api_error(status, message)


def rate_limited() -> HttpResponse:
    return api_error(429, "Too many requests: retry after the time in the Retry-After header",
                     headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


endpoint = sandbox_endpoint(server_error=server_error, rate_limited=rate_limited)


def _bearer_account(request: HttpRequest, _kwargs: dict) -> SandboxAccount | HttpResponse:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    bearer = 'Bearer realm="oauth2-resource"'
    if scheme.lower() != "bearer" or not token.strip():
        return oauth_error(401, "unauthorized", "Full authentication is required to access this resource",
                           challenge=bearer)
    row = (SandboxObject.objects.select_related("account")
           .filter(account__platform=PLATFORM, kind="token", key=token.strip()).first())
    invalid = f'{bearer}, error="invalid_token"'
    if row is None or row.data.get("revoked") or row.account.secrets.get("revoked"):
        return oauth_error(401, "invalid_token", "Invalid access token", challenge=invalid)
    if dataset.parse_iso(row.data["expires_at"]) <= dj_timezone.now():
        return oauth_error(401, "invalid_token", "Access token expired", challenge=invalid)
    account = row.account
    if account.settings.get("api_suspended"):
        return oauth_error(403, "access_denied", "Access is denied")
    prepare(account)
    return account


# A Flipkart API view: fault injection, the method check, bearer auth, 400s in the platform's shape.
seller_api = platform_api(
    endpoint=endpoint, authenticate=_bearer_account, handled=BadRequest,
    wrong_method=lambda request: api_error(405, f"Request method '{request.method}' is not supported", path_=request.path),
    render_error=lambda request, exc: api_error(400, str(exc), path_=request.path))


# --- rendering ------------------------------------------------------------------------------------------------


def _ist(value: datetime) -> str:
    return value.astimezone(IST).isoformat(timespec="milliseconds")


def _parse_when(value: Any, field: str) -> datetime:
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{field} must be an ISO-8601 date-time")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{field} is not an ISO-8601 date-time: {value[:40]}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=IST)


def _number(value: Decimal) -> float | int:
    return int(value) if value == value.to_integral_value() else float(value)


def _split_name(full: str) -> tuple[str, str]:
    first, _, last = (full or "").partition(" ")
    return first, last


def _address(neutral: dict, *, with_phone: bool, phone: str = "") -> dict:
    first, last = _split_name(neutral.get("name", ""))
    return {"firstName": first, "lastName": last, "pinCode": neutral.get("postcode", ""),
            "city": neutral.get("city", ""), "state": neutral.get("state", ""),
            "stateCode": STATE_CODES.get(neutral.get("state", ""), ""), "addressLine1": neutral.get("line1", ""),
            "addressLine2": neutral.get("line2", ""), "landmark": "",
            "contactNumber": phone if with_phone else None}


class Catalog:
    """The account's products by SKU, with their Flipkart ids."""

    def __init__(self, account: SandboxAccount):
        self.account = account
        self.rows = {row.key: row for row in dataset.objects(account, "product")}

    def product(self, sku: str) -> dict | None:
        row = self.rows.get(sku)
        return row.data if row else None

    def by_listing_id(self) -> dict[str, str]:
        return {listing_id(self.account, row.data): sku for sku, row in self.rows.items()}


class Shipments:
    """Every shipment of the account, rendered once per request from the neutral orders."""

    def __init__(self, account: SandboxAccount):
        self.account = account
        self.catalog = Catalog(account)
        self.location_id = account.settings.get("location_id", "")
        self.rows = {row.key: row for row in dataset.objects(account, "order")}
        self.all: list[dict] = []
        for row in self.rows.values():
            self.all.extend(self._render(row.data))
        self.by_id = {s["shipment"]["shipmentId"]: s for s in self.all}

    def _render(self, order: dict) -> list[dict]:
        account = self.account
        marketplace = order.get("fulfilment_channel") == "marketplace"
        shipment_type = "NORMAL" if marketplace else account.settings.get("shipment_type", "SELF")
        profile = "FBF" if marketplace else "NON_FBF"
        created = dataset.parse_iso(order["created_at"])
        updated = dataset.parse_iso(order["updated_at"])
        dispatched = order.get("fk_dispatched") or {}
        payment = "COD" if _roll(account.account_id, order["id"], "pay") % 10 < 3 else "PREPAID"
        cancel_type = cancellation_type(account, order)
        rendered = []
        for index, lines in enumerate(shipment_groups(account, order)):
            sid = shipment_id(account, order["id"], index)
            status = ITEM_STATUS[order["status"]]
            if status == "APPROVED" and sid in dispatched:
                status = "SHIPPED"
            package_id = f"PKG{sid.replace('-', '')[:20].upper()}"
            items = []
            for line in lines:
                product = self.catalog.product(line["sku"]) or {"sku": line["sku"], "category": "GEN"}
                unit = Decimal(line["unit_price"])
                item = {
                    "orderItemId": order_item_id(line["id"]), "orderId": flipkart_order_id(order["id"]),
                    "cancellationGroupId": f"grp{order_item_id(line['id'])}", "orderDate": _ist(created),
                    "paymentType": payment, "status": status, "courierReturn": False,
                    "quantity": int(line["quantity"]), "fsn": fsn(account, product), "sku": line["sku"],
                    "listingId": listing_id(account, product), "hsn": HSN_BY_CATEGORY.get(product.get("category"), "9999"),
                    "title": line["title"], "packageIds": [package_id],
                    "priceComponents": {
                        "sellingPrice": _number(unit), "totalPrice": _number(unit * line["quantity"]),
                        "shippingCharge": 0, "customerPrice": _number(unit * line["quantity"]), "flipkartDiscount": 0,
                    },
                    "serviceProfile": profile, "is_replacement": False,
                }
                if status == "CANCELLED":
                    item.update(cancellationDate=_ist(updated), cancellationReason={
                        "buyerCancellation": "Buyer cancelled", "sellerCancellation": "Seller cancelled",
                        "marketplaceCancellation": "Cancelled by Flipkart"}[cancel_type],
                        cancellationSubReason="")
                items.append(item)
            shipment = {
                "shipmentId": sid, "dispatchByDate": _ist(created + timedelta(days=2)),
                "dispatchAfterDate": _ist(created), "updatedAt": _ist(updated), "locationId": self.location_id,
                "hold": order["status"] == "pending", "mps": False, "packagingPolicy": "DEFAULT",
                "subShipments": [{"subShipmentId": f"{sid}-1", "packages": [{
                    "id": package_id, "name": "package-1", "dimensions": {"length": 30, "breadth": 20, "height": 10},
                    "weight": 0.5, "description": "", "handling": {"fragile": False}}]}],
                "orderItems": items, "forms": [], "shipmentType": shipment_type,
            }
            rendered.append({"shipment": shipment, "order": order, "lines": lines, "status": status,
                             "profile": profile, "cancellation_type": cancel_type, "created": created,
                             "updated": updated, "dispatch": dispatched.get(sid)})
        return rendered

    def details(self, entry: dict) -> dict:
        shipment, order = entry["shipment"], entry["order"]
        self_ship = shipment["shipmentType"] == "SELF"
        buyer_first, buyer_last = _split_name(order["buyer"]["name"])
        address = _address(order["address"], with_phone=self_ship, phone=order["buyer"].get("phone", ""))
        dispatch = entry["dispatch"] or {}
        seller = {"sellerName": self.account.name, "pinCode": "560001", "city": "Bengaluru", "state": "Karnataka",
                  "stateCode": "KA", "addressLine1": "SHG federation office", "addressLine2": "", "landmark": None}
        return {
            "orderId": flipkart_order_id(order["id"]), "shipmentId": shipment["shipmentId"],
            "locationId": shipment["locationId"],
            "orderItems": [{"id": item["orderItemId"], "fragile": False, "large": False, "dangerous": False,
                            "add_ons": []} for item in shipment["orderItems"]],
            "deliveryAddress": address, "billingAddress": dict(address),
            "buyerDetails": {"firstName": buyer_first, "lastName": buyer_last},
            "sellerAddress": seller, "returnAddress": {**{k: v for k, v in seller.items() if k != "sellerName"},
                                                       "firstName": self.account.name, "lastName": "",
                                                       "contactNumber": None},
            "subShipments": [{
                "subShipmentId": f"{shipment['shipmentId']}-1",
                "courierDetails": {
                    "pickupDetails": {"trackingId": None, "vendorName": None},
                    "deliveryDetails": {"trackingId": dispatch.get("trackingId"),
                                        "vendorName": dispatch.get("deliveryPartner")},
                },
                "shipmentDimensions": {"length": 30.0, "breadth": 20.0, "height": 10.0, "weight": 0.5},
            }],
        }


def render_listing(account: SandboxAccount, product: dict) -> dict:
    return {
        "listing_id": listing_id(account, product), "product_id": fsn(account, product),
        "product_title": product["title"],
        "price": {"mrp": int(whole_units(product["mrp"])), "selling_price": int(whole_units(product["price"])),
                  "currency": "INR"},
        "tax": {"hsn": HSN_BY_CATEGORY.get(product.get("category"), "9999"), "tax_code": "GST_5"},
        "listing_status": "ACTIVE",
        "shipping_fees": {"local": 0, "zonal": 0, "national": 0, "currency": "INR"},
        "fulfillment_profile": "NON_FBF",
        "fulfillment": {"dispatch_sla": 2, "shipping_provider": "SELLER", "procurement_type": "REGULAR"},
        "packages": [{"id": f"PKG{fsn(account, product)}", "name": "package-1",
                      "dimensions": {"length": 30, "breadth": 20, "height": 10}, "weight": 0.5,
                      "handling": {"fragile": False}}],
        "locations": [{"id": account.settings.get("location_id", ""),
                       "status": product.get("location_status", "ENABLED"), "inventory": int(product["quantity"])}],
        "archived_status": "NONE",
    }


# --- the shipment search ----------------------------------------------------------------------------------------


def _window(value: Any, field: str) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequest(f"filter.{field} must be an object with from and to")
    window = {}
    for bound in ("from", "to"):
        if value.get(bound) is not None:
            window[bound] = dataset.iso(_parse_when(value[bound], f"filter.{field}.{bound}"))
    return window


def _string_list(value: Any, field: str, allowed: Iterable[str] | None = None) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{field} must be a list of strings")
    if allowed is not None:
        bad = [v for v in value if v not in allowed]
        if bad:
            raise BadRequest(f"Invalid {field}: {', '.join(bad)}. Possible values: {', '.join(allowed)}")
    return value


def parse_filter_request(body: Any) -> dict:
    """The POST body as a normalized query (also what the next_token carries)."""
    if not isinstance(body, dict) or not isinstance(body.get("filter"), dict):
        raise BadRequest("Request body must be a JSON object with a filter")
    raw = body["filter"]
    kind = raw.get("type")
    if kind not in FILTER_TYPES:
        raise BadRequest(f"filter.type is mandatory: one of {', '.join(FILTER_TYPES)}")
    states = _string_list(raw.get("states"), "filter.states", FILTER_TYPES[kind])
    if not states:
        raise BadRequest(f"filter.states is mandatory for type {kind}: any of {', '.join(FILTER_TYPES[kind])}")
    query: dict[str, Any] = {"type": kind, "states": states}
    if kind == "cancelled":
        if raw.get("cancellationType") not in CANCELLATION_TYPES:
            raise BadRequest(f"filter.cancellationType is mandatory for type cancelled: one of "
                             f"{', '.join(CANCELLATION_TYPES)}")
        query["cancellationType"] = raw["cancellationType"]
    query["serviceProfiles"] = _string_list(raw.get("serviceProfiles"), "filter.serviceProfiles",
                                            SERVICE_PROFILES) or ["NON_FBF"]
    query["shipmentTypes"] = _string_list(raw.get("shipmentTypes"), "filter.shipmentTypes", SHIPMENT_TYPES)
    query["sku"] = _string_list(raw.get("sku"), "filter.sku")
    if raw.get("locationId") is not None and not isinstance(raw["locationId"], str):
        raise BadRequest("filter.locationId must be a string")
    query["locationId"] = raw.get("locationId")
    for field in ("orderDate", "modifiedDate", "dispatchByDate", "dispatchAfterDate", "cancellationDate"):
        query[field] = _window(raw.get(field), field)
    size = (body.get("pagination") or {}).get("pageSize", MAX_PAGE_SIZE)
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_PAGE_SIZE:
        raise BadRequest(f"pagination.pageSize must be between 1 and {MAX_PAGE_SIZE}")
    query["pageSize"] = size
    sort = body.get("sort") or {}
    field, order = sort.get("field", "dispatchByDate"), sort.get("order", "asc")
    if field not in SORT_FIELDS or order not in ("asc", "desc"):
        raise BadRequest(f"sort.field must be one of {', '.join(SORT_FIELDS)} and sort.order asc or desc")
    query["sort"] = [field, order]
    return query


def _sort_value(entry: dict, field: str) -> datetime:
    shipment = entry["shipment"]
    if field == "modifiedDate":
        return entry["updated"]
    if field == "orderDate":
        return entry["created"]
    return _parse_when(shipment[field], field)


def _in_window(value: datetime, window: dict | None) -> bool:
    if not window:
        return True
    if "from" in window and value < dataset.parse_iso(window["from"]):
        return False
    return not ("to" in window and value > dataset.parse_iso(window["to"]))


def _matches(entry: dict, query: dict) -> bool:
    shipment = entry["shipment"]
    if entry["status"] not in FILTER_TYPES[query["type"]] or entry["status"] not in query["states"]:
        return False
    if query["type"] == "cancelled" and entry["cancellation_type"] != query["cancellationType"]:
        return False
    if entry["profile"] not in query["serviceProfiles"]:
        return False
    if query["shipmentTypes"] and shipment["shipmentType"] not in query["shipmentTypes"]:
        return False
    if query["sku"] and not {i["sku"] for i in shipment["orderItems"]} & set(query["sku"]):
        return False
    if query["locationId"] and shipment["locationId"] != query["locationId"]:
        return False
    cancelled_at = entry["updated"] if entry["status"] == "CANCELLED" else None
    return (_in_window(entry["updated"], query["modifiedDate"]) and _in_window(entry["created"], query["orderDate"])
            and _in_window(_parse_when(shipment["dispatchByDate"], "dispatchByDate"), query["dispatchByDate"])
            and _in_window(_parse_when(shipment["dispatchAfterDate"], "dispatchAfterDate"), query["dispatchAfterDate"])
            and (query["cancellationDate"] is None
                 or (cancelled_at is not None and _in_window(cancelled_at, query["cancellationDate"]))))


def encode_next_token(query: dict, after: list[str]) -> str:
    raw = json.dumps({"q": query, "after": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_next_token(token: str) -> tuple[dict, list[str]]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        query, after = data["q"], data["after"]
        parse_filter_request({"filter": {k: v for k, v in query.items() if k not in ("pageSize", "sort")},
                              "pagination": {"pageSize": query["pageSize"]},
                              "sort": {"field": query["sort"][0], "order": query["sort"][1]}})
    except (ValueError, KeyError, TypeError, IndexError, BadRequest):
        raise BadRequest("next_token is invalid or expired") from None
    if not (isinstance(after, list) and len(after) == 2 and all(isinstance(a, str) for a in after)):
        raise BadRequest("next_token is invalid or expired")
    return query, after


def search_page(account: SandboxAccount, query: dict, after: list[str] | None) -> dict:
    """One page of shipments, keyset-paged on (sort value, shipmentId) so updates mid-run skip nothing."""
    field, order = query["sort"]
    entries = [e for e in Shipments(account).all if _matches(e, query)]
    keyed = sorted(((dataset.iso(_sort_value(e, field)), e["shipment"]["shipmentId"]), e) for e in entries)
    if order == "desc":
        keyed.reverse()
    if after is not None:
        mark = (after[0], after[1])
        keyed = [(k, e) for k, e in keyed if (k > mark if order == "asc" else k < mark)]
    page, rest = keyed[: query["pageSize"]], keyed[query["pageSize"]:]
    answer: dict[str, Any] = {"hasMore": bool(rest), "shipments": [e["shipment"] for _k, e in page]}
    if rest:
        answer["nextPageUrl"] = f"/v3/shipments/filter?next_token={encode_next_token(query, list(page[-1][0]))}"
    return answer


# --- views: OAuth ---------------------------------------------------------------------------------------------


@endpoint
def token_view(request: HttpRequest) -> HttpResponse:
    if request.method != "GET":
        return oauth_error(405, "method_not_allowed", f"Request method '{request.method}' not supported")
    challenge = 'Basic realm="oauth2/client"'
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return oauth_error(401, "unauthorized", "Full authentication is required to access this resource",
                           challenge=challenge)
    try:
        app_id, _, app_secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return oauth_error(401, "unauthorized", "Bad credentials", challenge=challenge)
    account = SandboxAccount._default_manager.filter(platform=PLATFORM, secrets__app_id=app_id).first()
    if (account is None or account.secrets.get("revoked")
            or not secrets.compare_digest(account.secrets.get("app_secret", ""), app_secret)):
        return oauth_error(401, "unauthorized", "Bad credentials", challenge=challenge)
    grant = request.GET.get("grant_type", "")
    if grant != "client_credentials":
        return oauth_error(400, "unsupported_grant_type", f"Unsupported grant type: {grant[:40]}")
    scopes = {s for s in request.GET.get("scope", "").replace(",", " ").split() if s}
    if not scopes or not scopes <= SCOPES:
        return oauth_error(400, "invalid_scope", f"Invalid scope: {request.GET.get('scope', '')[:60]}")
    scope = ",".join(sorted(scopes, key=lambda s: s != "Seller_Api"))
    token, ttl = issue_token(account, scope=scope)
    return json_response({"access_token": token, "token_type": "bearer", "expires_in": ttl, "scope": scope})


# --- views: orders ----------------------------------------------------------------------------------------------


@seller_api("POST", "GET")
def shipments_filter_view(request: HttpRequest, account: SandboxAccount) -> HttpResponse:
    if request.method == "GET":
        query, after = decode_next_token(request.GET.get("next_token", ""))
        return json_response(search_page(account, query, after))
    return json_response(search_page(account, parse_filter_request(read_json(request)), None))


def _id_list(value: str, name: str) -> list[str]:
    ids = [v.strip() for v in value.split(",") if v.strip()]
    if not ids:
        raise BadRequest(f"{name} must list at least one id")
    if len(ids) > MAX_IDS:
        raise BadRequest(f"At most {MAX_IDS} {name} per request")
    return ids


@seller_api("GET")
def shipments_by_ids_view(request: HttpRequest, account: SandboxAccount) -> HttpResponse:
    given = [name for name in ("shipmentIds", "orderIds", "orderItemIds") if request.GET.get(name)]
    if len(given) != 1:
        raise BadRequest("Exactly one of shipmentIds, orderIds or orderItemIds is required")
    ids = set(_id_list(request.GET[given[0]], given[0]))
    shipments = Shipments(account)
    if given[0] == "shipmentIds":
        found = [shipments.by_id[i] for i in sorted(ids) if i in shipments.by_id]
    elif given[0] == "orderIds":
        found = [e for e in shipments.all if e["shipment"]["orderItems"][0]["orderId"] in ids]
    else:
        found = [e for e in shipments.all if {i["orderItemId"] for i in e["shipment"]["orderItems"]} & ids]
    return json_response({"shipments": [e["shipment"] for e in found]})


@seller_api("GET")
def shipment_details_view(request: HttpRequest, account: SandboxAccount, shipment_ids: str) -> HttpResponse:
    ids = _id_list(shipment_ids, "shipmentIds")
    shipments = Shipments(account)
    return json_response({"shipments": [shipments.details(shipments.by_id[i]) for i in ids if i in shipments.by_id]})


def _dispatch_problem(entry: dict | None, request_item: dict, now: datetime) -> str:
    """Why one self-ship dispatch cannot be accepted ("" when it can)."""
    if entry is None:
        return "Shipment not found for this seller"
    shipment = entry["shipment"]
    if shipment["shipmentType"] != "SELF":
        return "Shipment is not a self-ship shipment: Flipkart's logistics partner dispatches it"
    if entry["status"] not in PRE_DISPATCH_STATES:
        return f"Shipment is in state {entry['status']} and cannot be dispatched"
    if shipment["hold"]:
        return "Shipment is on hold and cannot be processed yet"
    if request_item.get("locationId") not in (None, shipment["locationId"]):
        return "locationId does not match the shipment's location"
    try:
        dispatched = _parse_when(request_item.get("dispatchDate"), "dispatchDate")
        tentative = _parse_when(request_item.get("tentativeDeliveryDate"), "tentativeDeliveryDate")
    except BadRequest as exc:
        return str(exc)
    if dispatched > now + timedelta(minutes=5):
        return "Dispatch Date should not be after Today's date"
    if tentative.astimezone(IST).date() < now.astimezone(IST).date():
        return "Tentative Delivery Date should not be before Today's date"
    invoice = request_item.get("invoice")
    if not isinstance(invoice, dict) or not isinstance(invoice.get("items"), list):
        return "invoice with invoiceDate and items is mandatory"
    try:
        date.fromisoformat(str(invoice.get("invoiceDate", ""))[:10])
    except ValueError:
        return "invoice.invoiceDate must be a date (yyyy-MM-dd)"
    wanted = {i["orderItemId"]: i["quantity"] for i in shipment["orderItems"]}
    given: dict[str, Any] = {}
    for item in invoice["items"]:
        if not isinstance(item, dict) or not isinstance(item.get("quantity"), int) or item["quantity"] < 1:
            return "invoice.items need orderItemId and a quantity of at least 1"
        given[str(item.get("orderItemId"))] = item["quantity"]
    if given != wanted:
        return "invoice.items must list every order item of the shipment with its quantity"
    return ""


@seller_api("POST")
def self_ship_dispatch_view(request: HttpRequest, account: SandboxAccount) -> HttpResponse:
    body = read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("shipments"), list) or not body["shipments"]:
        raise BadRequest("Request body must be a JSON object with a non-empty shipments list")
    if len(body["shipments"]) > MAX_IDS:
        raise BadRequest(f"At most {MAX_IDS} shipments per request")
    shipments = Shipments(account)
    now = dj_timezone.now()
    answers, accepted = [], {}
    for item in body["shipments"]:
        item = item if isinstance(item, dict) else {}
        sid = str(item.get("shipmentId", ""))
        problem = "Duplicate shipmentId in request" if sid in accepted else _dispatch_problem(
            shipments.by_id.get(sid), item, now)
        if problem:
            answers.append({"shipmentId": sid, "processingStatus": "FAILURE", "errorCode": "UNPROCESSABLE_ENTITY",
                            "errorMessage": problem})
            continue
        accepted[sid] = item
        answers.append({"shipmentId": sid, "processingStatus": "SUCCESS"})
    by_order: dict[str, dict[str, dict]] = {}
    for sid, item in accepted.items():
        by_order.setdefault(shipments.by_id[sid]["order"]["id"], {})[sid] = {
            "trackingId": item.get("trackingId") or "", "deliveryPartner": item.get("deliveryPartner") or "",
            "deliveryPartnerCode": item.get("deliveryPartnerCode") or "", "dispatchDate": item["dispatchDate"],
            "tentativeDeliveryDate": item["tentativeDeliveryDate"], "invoice": item["invoice"],
        }
    with transaction.atomic():
        for neutral_id, new in by_order.items():
            order = shipments.rows[neutral_id].data
            done = {**(order.get("fk_dispatched") or {}), **new}
            changes: dict[str, Any] = {"fk_dispatched": done}
            if all(shipment_id(account, neutral_id, n) in done for n in range(len(shipment_groups(account, order)))):
                last = list(new.values())[-1]
                changes.update(status="shipped", tracking={"carrier": last["deliveryPartner"],
                                                           "number": last["trackingId"], "url": ""})
            dataset.order_update(account, neutral_id, **changes)
    return json_response({"shipments": answers})


def _place_order(account: SandboxAccount, skus: list[tuple[str, int]] | None) -> dict:
    order = create_order(account, skus=skus)
    return {"orderId": flipkart_order_id(order["id"]),
            "shipmentIds": [shipment_id(account, order["id"], n) for n in range(len(shipment_groups(account, order)))],
            "orderItems": [{"orderItemId": order_item_id(line["id"]), "sku": line["sku"],
                            "quantity": line["quantity"]} for line in order["lines"]]}


@seller_api("POST")
def test_orders_view(request: HttpRequest, account: SandboxAccount) -> HttpResponse:
    """Flipkart's sandbox-only POST /sellers/orders/sandbox/test_orders: orderItems by listingId."""
    body = read_json(request)
    items = body.get("orderItems") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise BadRequest("orderItems must be a non-empty list of {listingId, quantity}")
    by_listing = Catalog(account).by_listing_id()
    skus = []
    for item in items:
        if not isinstance(item, dict) or item.get("listingId") not in by_listing:
            raise BadRequest(f"Unknown listingId: {str((item or {}).get('listingId'))[:40]}")
        skus.append((by_listing[item["listingId"]], item.get("quantity", 1)))
    try:
        placed = _place_order(account, skus)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    listing_of = {sku: lid for lid, sku in by_listing.items()}
    return json_response({"orderId": placed["orderId"], "orderItems": [
        {"orderItemId": i["orderItemId"], "listingId": listing_of[i["sku"]], "quantity": i["quantity"]}
        for i in placed["orderItems"]]})


@endpoint
def demo_order_view(request: HttpRequest) -> HttpResponse:
    """Haat's demo button: {"account_id": ..., "skus": [{"sku", "quantity"}]} -> a new order (no auth: sandbox only)."""
    where = request.path
    if request.method != "POST":
        return api_error(405, f"Request method '{request.method}' is not supported", path_=where)
    try:
        account, skus = read_demo_order(request, platform=PLATFORM,
                                        not_found="No sandbox Flipkart account with that account_id")
        return json_response(_place_order(account, skus), status=201)
    except DemoOrderRefused as exc:
        return api_error(exc.status, exc.message, path_=where)
    except ValueError as exc:
        return api_error(400, str(exc), path_=where)


# --- views: listings --------------------------------------------------------------------------------------------


@seller_api("POST")
def listing_search_view(request: HttpRequest, account: SandboxAccount) -> HttpResponse:
    body = read_json(request)
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object")
    filters = body.get("filters") or {}
    status = filters.get("lisitng_status", filters.get("listing_status")) if isinstance(filters, dict) else None
    if status not in (None, "ACTIVE", "INACTIVE"):
        raise BadRequest("filters.lisitng_status must be ACTIVE or INACTIVE")
    size = int(account.settings.get("listing_page_size", LISTING_PAGE_SIZE))
    start = 0
    if body.get("page_id") is not None:
        try:
            start = int(base64.urlsafe_b64decode(str(body["page_id"]) + "==").decode())
        except ValueError:
            raise BadRequest("page_id is invalid") from None
    catalog = Catalog(account)
    listings = [] if status == "INACTIVE" else [
        {"listing_id": listing_id(account, row.data), "product_id": fsn(account, row.data), "sku_id": sku}
        for sku, row in sorted(catalog.rows.items())]
    page = listings[start:start + size]
    more = start + size < len(listings)
    return json_response({"listings": page, "has_more": more, "next_page_id":
                          base64.urlsafe_b64encode(str(start + size).encode()).decode().rstrip("=") if more else None})


def _valid_sku(sku: str) -> bool:
    return 0 < len(sku) <= 64 and sku.isprintable() and sku == sku.strip()


@seller_api("GET")
def listings_get_view(request: HttpRequest, account: SandboxAccount, sku_ids: str) -> HttpResponse:
    skus = [s for s in sku_ids.split(",") if s != ""]
    if not skus:
        raise BadRequest("skuIds must list at least one SKU")
    if len(skus) > MAX_LISTING_SKUS:
        raise BadRequest(f"At most {MAX_LISTING_SKUS} SKUs per request")
    catalog = Catalog(account)
    available, unavailable, invalid = {}, [], []
    for sku in skus:
        product = catalog.product(sku)
        if not _valid_sku(sku):
            invalid.append(sku)
        elif product is None:
            unavailable.append(sku)
        else:
            available[sku] = render_listing(account, product)
    return json_response({"available": available, "unavailable": unavailable, "invalid": invalid})


def _listing_error(code: int, description: str, path_: str = "") -> dict:
    error = {"severity": "ERROR", "code": code, "description": description}
    return {**error, "path": path_} if path_ else error


def _listing_update(request: HttpRequest, account: SandboxAccount,
                    apply: Callable[[dict, dict, SandboxAccount], list[dict]]) -> HttpResponse:
    """Shared body of the inventory and price updates: per-SKU validation, one bulk write, per-SKU answers."""
    body = read_json(request)
    if not isinstance(body, dict) or not body:
        raise BadRequest("Request body must be a JSON object keyed by SKU")
    if len(body) > MAX_LISTING_SKUS:
        raise BadRequest(f"At most {MAX_LISTING_SKUS} SKUs per request")
    catalog = Catalog(account)
    answers, changed = {}, []
    for sku, request_item in body.items():
        row = catalog.rows.get(sku)
        if not isinstance(request_item, dict):
            errors = [_listing_error(400, "Listing request must be an object")]
        elif row is None:
            errors = [_listing_error(404, f"No listing found for SKU {sku[:64]}")]
        elif request_item.get("product_id") != fsn(account, row.data):
            errors = [_listing_error(400, "product_id does not match the listing's FSN", "product_id")]
        else:
            errors = apply(row.data, request_item, account)
        answers[sku] = {"status": "FAILURE" if errors else "SUCCESS", "errors": errors, "attribute_errors": []}
        if not errors:
            changed.append(row)
    if changed:
        now = dj_timezone.now()
        for row in changed:
            row.updated_at = now
        SandboxObject.objects.bulk_update(changed, ["data", "updated_at"])
    return json_response(answers)


def _apply_inventory(product: dict, request_item: dict, account: SandboxAccount) -> list[dict]:
    locations = request_item.get("locations")
    if not isinstance(locations, list) or len(locations) != 1 or not isinstance(locations[0], dict):
        return [_listing_error(400, "locations must list the listing's location", "locations")]
    location = locations[0]
    if location.get("id") != account.settings.get("location_id"):
        return [_listing_error(400, f"Unknown location id {str(location.get('id'))[:60]}", "locations[0].id")]
    if location.get("status") not in ("ENABLED", "DISABLED"):
        return [_listing_error(400, "locations[0].status must be ENABLED or DISABLED", "locations[0].status")]
    inventory = location.get("inventory")
    if not isinstance(inventory, int) or isinstance(inventory, bool) or inventory < 0:
        return [_listing_error(400, "inventory must be a whole number of at least 0", "locations[0].inventory")]
    product["quantity"] = inventory
    product["location_status"] = location["status"]
    return []


def _apply_price(product: dict, request_item: dict, account: SandboxAccount) -> list[dict]:
    price = request_item.get("price")
    if not isinstance(price, dict):
        return [_listing_error(400, "price is mandatory", "price")]
    values = {}
    for field in ("mrp", "selling_price"):
        value = price.get(field)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return [_listing_error(400, f"{field} must be a whole number of rupees", f"price.{field}")]
        values[field] = value
    if price.get("currency") != "INR":
        return [_listing_error(400, "currency must be INR", "price.currency")]
    if values["selling_price"] > values["mrp"]:
        return [_listing_error(400, "Selling price cannot be greater than MRP", "price.selling_price")]
    product["price"], product["mrp"] = dataset.money(values["selling_price"]), dataset.money(values["mrp"])
    return []


@seller_api("POST")
def update_inventory_view(request: HttpRequest, account: SandboxAccount) -> HttpResponse:
    return _listing_update(request, account, _apply_inventory)


@seller_api("POST")
def update_price_view(request: HttpRequest, account: SandboxAccount) -> HttpResponse:
    return _listing_update(request, account, _apply_price)


urlpatterns = [
    path("oauth-service/oauth/token", token_view, name="token"),
    re_path(r"^sellers/v3/shipments/filter/?$", shipments_filter_view, name="shipments-filter"),
    path("sellers/v3/shipments/selfShip/dispatch", self_ship_dispatch_view, name="self-ship-dispatch"),
    path("sellers/v3/shipments", shipments_by_ids_view, name="shipments"),
    path("sellers/v3/shipments/<str:shipment_ids>", shipment_details_view, name="shipment-details"),
    path("sellers/orders/sandbox/test_orders", test_orders_view, name="test-orders"),
    path("sellers/listings/v3/search", listing_search_view, name="listings-search"),
    path("sellers/listings/v3/update/inventory", update_inventory_view, name="listings-inventory"),
    path("sellers/listings/v3/update/price", update_price_view, name="listings-price"),
    path("sellers/listings/v3/<str:sku_ids>", listings_get_view, name="listings"),
    path("_sandbox/orders", demo_order_view, name="demo-order"),
]

__all__ = [
    "connection_config", "connection_credentials", "create_demo_account", "create_order", "expire_token",
    "flipkart_order_id", "issue_token", "revoke_application", "revoke_token", "suspend_api_access", "urlpatterns",
]
