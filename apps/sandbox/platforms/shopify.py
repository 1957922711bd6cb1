"""Shopify, played locally: the GraphQL Admin API, the OAuth install flow, webhook subscriptions and signed deliveries.

Paths mirror a shop's own host: /sandbox/shopify/<shop>/admin/oauth/authorize, .../admin/oauth/access_token and
.../admin/api/<version>/graphql.json. Orders and products are the neutral SandboxObject rows of
apps/sandbox/dataset.py, rendered here in Shopify's shapes; tokens, authorization codes, webhook subscriptions
and the cost bucket are SandboxObject rows too, so a test's rollback resets them.

GraphQL is executed for real by graphql-core over Shopify's published 2025-01 introspection schema
(../shared/specs/shopify/), with resolvers for the root fields Haat uses: answers are schema-shaped by
construction, and an unknown field is refused exactly as Shopify refuses it. Cost follows Shopify's published
rules (scalars and enums 0, objects 1, connections 2 + first x node, mutations 10), charged to a leaky bucket
sized by the shop's plan, with Shopify's THROTTLED and MAX_COST_EXCEEDED answers.
"""

from __future__ import annotations

import base64
import contextvars
import gzip
import hashlib
import hmac
import json
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from functools import cache, wraps
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template import engines
from django.urls import path
from django.utils import timezone as dj_timezone
from django.views.decorators.csrf import csrf_exempt
from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationType,
    build_client_schema,
    execute,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    is_leaf_type,
    is_list_type,
    parse,
    validate,
)
from graphql.execution.values import get_argument_values, get_variable_values

from apps.sandbox import dataset
from apps.sandbox import http as sandbox_http
from apps.sandbox.http import json_response, read_json, sandbox_endpoint
from apps.sandbox.models import SandboxAccount, SandboxObject

PLATFORM = "shopify"
SCHEMA_VERSION = "2025-01"
SHOP_DOMAIN_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]*\.myshopify\.com$")
VERSION_RE = re.compile(r"^(\d{4}-(01|04|07|10)|unstable)$")
MAX_QUERY_COST = 1000
MUTATION_COST = 10
MAX_PAGE = 250
# (bucket size, restore rate per second) by plan, per app and shop: shopify.dev/docs/api/usage/limits.
PLAN_LIMITS = {"basic": (2000.0, 100.0), "advanced": (4000.0, 200.0), "plus": (20000.0, 1000.0)}
PLAN_NAMES = {"basic": "Basic", "advanced": "Advanced", "plus": "Shopify Plus"}
ACCESS_TOKEN_TTL = 3600  # expiring offline tokens last an hour
REFRESH_TOKEN_TTL = 90 * 86400
AUTH_CODE_TTL = 600
IST = timezone(timedelta(hours=5, minutes=30))
INVALID_TOKEN_BODY = {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
DOCS_RATE_LIMITS = "https://shopify.dev/api/usage/rate-limits"
INVENTORY_REASONS = frozenset({
    "correction", "cycle_count_available", "damaged", "movement_created", "movement_updated", "movement_received",
    "movement_canceled", "other", "promotion", "quality_control", "received", "reservation_created",
    "reservation_deleted", "reservation_updated", "restock", "safety_stock", "shrinkage",
})
# GraphQL enum <-> the topic name used in delivery headers, for the topics the sandbox can deliver.
TOPICS = {
    "ORDERS_CREATE": "orders/create", "ORDERS_UPDATED": "orders/updated", "ORDERS_CANCELLED": "orders/cancelled",
    "ORDERS_FULFILLED": "orders/fulfilled", "ORDERS_PAID": "orders/paid", "ORDERS_DELETE": "orders/delete",
    "PRODUCTS_CREATE": "products/create", "PRODUCTS_UPDATE": "products/update", "PRODUCTS_DELETE": "products/delete",
    "APP_UNINSTALLED": "app/uninstalled", "INVENTORY_LEVELS_UPDATE": "inventory_levels/update",
}
RAZORPAY = "Razorpay Secure (UPI, Cards, Wallets, NetBanking)"
COD = "Cash on Delivery (COD)"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "testserver"}


# --- the schema ------------------------------------------------------------------------------------------------


def schema_path() -> Path:
    # Vendored copy (ISC, Shopify Inc.) so the demo runs from a clean clone; identical to ../shared/specs/shopify/.
    default = Path(__file__).resolve().parent.parent / "specs" / "shopify" / f"admin_schema_{SCHEMA_VERSION}.json.gz"
    return Path(getattr(settings, "SANDBOX_SHOPIFY_SCHEMA", default))


@cache
def admin_schema() -> GraphQLSchema:
    """Shopify's own Admin API schema (introspection result), loaded once per process."""
    with gzip.open(schema_path(), "rt", encoding="utf-8") as handle:
        return build_client_schema(json.load(handle)["data"], assume_valid=True)


# --- ids, money, time ------------------------------------------------------------------------------------------


def gid(kind: str, value: Any) -> str:
    return f"gid://shopify/{kind}/{value}"


def gid_number(value: Any, kind: str | None = None) -> int | None:
    """The numeric id of a gid ("gid://shopify/Order/12" -> 12), None when it is not one (of `kind`)."""
    match = re.fullmatch(r"gid://shopify/([A-Za-z]+)/(\d+)", str(value or ""))
    if not match or (kind and match.group(1) != kind):
        return None
    return int(match.group(2))


def shop_domain(account_id: str) -> str:
    """A shop's myshopify.com domain from an account id ("Asha Crafts" -> asha-crafts.myshopify.com)."""
    value = account_id.strip().lower()
    if SHOP_DOMAIN_RE.match(value):
        return value
    handle = re.sub(r"[^a-z0-9-]+", "-", value.split(".myshopify.com")[0]).strip("-") or "haat-demo"
    return f"{handle}.myshopify.com"


def _money_bag(amount: str, currency: str) -> dict:
    money = {"amount": dataset.money(amount), "currencyCode": currency}
    return {"shopMoney": money, "presentmentMoney": dict(money)}


def _ist(value: str | None) -> str | None:
    """A REST-style timestamp in the shop's time zone (Shopify's webhook payloads use the shop's offset)."""
    return dataset.parse_iso(value).astimezone(IST).isoformat() if value else None


def _now() -> datetime:
    return dj_timezone.now().replace(microsecond=0)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _roll(*parts: object) -> int:
    return int(hashlib.sha256("|".join(str(p) for p in (settings.SANDBOX_SEED, *parts)).encode()).hexdigest()[:8], 16)


def _location_id(account: SandboxAccount) -> str:
    return gid("Location", account.settings.get("location_id", "70000000001"))


def _inventory_item_id(product: dict) -> str:
    return gid("InventoryItem", int(product["variant_id"]) + 40_000_000)


def _fulfillment_order_id(order_id: str) -> int:
    return int(order_id) * 10 + 1


def _fo_line_id(line_id: str) -> int:
    return int(line_id) * 10 + 1


def plan_limits(account: SandboxAccount) -> tuple[float, float]:
    return PLAN_LIMITS.get(account.settings.get("plan", "basic"), PLAN_LIMITS["basic"])


# --- accounts, tokens and the helpers tests and the demo use --------------------------------------------------


def create_demo_account(account_id: str, name: str) -> SandboxAccount:
    """A sandbox shop with an installed app: a non-expiring offline token in `secrets`; idempotent."""
    shop = shop_domain(account_id)
    account, _created = SandboxAccount._default_manager.get_or_create(
        platform=PLATFORM, account_id=shop,
        defaults={
            "name": name,
            "secrets": {"access_token": f"shpat_{secrets.token_hex(16)}"},
            "settings": {"currency": "INR", "plan": "basic", "location_id": str(70_000_000_000 + _roll(shop) % 10**9),
                         "shop_id": str(60_000_000_000 + _roll("shop", shop) % 10**9),
                         "order_id_base": 5_100_000_000_000 + (_roll("orders", shop) % 10**6) * 1000},
        },
    )
    _store_token(account, account.secrets["access_token"], kind="access", scope=",".join(settings.SHOPIFY_SCOPES),
                 expires_at=None)
    dataset.ensure_seeded(account)
    return account


def connection_config(account: SandboxAccount, sandbox_root: str) -> dict:
    return {"base_url": f"{sandbox_root.rstrip('/')}/{PLATFORM}/{account.account_id}", "shop": account.account_id,
            "currency": account.settings.get("currency", "INR")}


def connection_credentials(account: SandboxAccount) -> dict:
    return {"access_token": account.secrets["access_token"], "scope": ",".join(settings.SHOPIFY_SCOPES)}


def _store_token(account: SandboxAccount, token: str, *, kind: str, scope: str, expires_at: datetime | None,
                 pair: str = "") -> None:
    SandboxObject._default_manager.get_or_create(
        account=account, kind="token", key=_digest(token),
        defaults={"updated_at": _now(), "data": {
            "type": kind, "scope": scope, "revoked": False, "pair": pair,
            "expires_at": dataset.iso(expires_at) if expires_at else None,
        }},
    )


def issue_tokens(account: SandboxAccount, *, scope: str | None = None, expiring: bool = True) -> dict:
    """Mint what the token endpoint answers: an offline token, with a refresh token when `expiring`."""
    scope = scope if scope is not None else ",".join(settings.SHOPIFY_SCOPES)
    now = _now()
    access = f"shpat_{secrets.token_hex(16)}"
    answer: dict[str, Any] = {"access_token": access, "scope": scope}
    if not expiring:
        _store_token(account, access, kind="access", scope=scope, expires_at=None)
        return answer
    refresh = f"shprt_{secrets.token_hex(24)}"
    _store_token(account, access, kind="access", scope=scope, expires_at=now + timedelta(seconds=ACCESS_TOKEN_TTL),
                 pair=_digest(refresh))
    _store_token(account, refresh, kind="refresh", scope=scope,
                 expires_at=now + timedelta(seconds=REFRESH_TOKEN_TTL), pair=_digest(access))
    answer.update(expires_in=ACCESS_TOKEN_TTL, refresh_token=refresh, refresh_token_expires_in=REFRESH_TOKEN_TTL)
    return answer


def _token_rows(account: SandboxAccount, token: str | None):
    rows = dataset.objects(account, "token")
    return rows.filter(key=_digest(token)) if token else rows


def expire_token(account: SandboxAccount, token: str | None = None) -> int:
    """Make a token (or every token) of the shop expired, as an hour passing would."""
    rows = list(_token_rows(account, token))
    past = dataset.iso(_now() - timedelta(seconds=1))
    for row in rows:
        row.data["expires_at"] = past
    SandboxObject._default_manager.bulk_update(rows, ["data"])
    return len(rows)


def revoke_token(account: SandboxAccount, token: str | None = None) -> int:
    """Revoke a token (or every token of the shop, as uninstalling the app does)."""
    rows = list(_token_rows(account, token))
    for row in rows:
        row.data["revoked"] = True
    SandboxObject._default_manager.bulk_update(rows, ["data"])
    return len(rows)


def expire_authorization_codes(account: SandboxAccount) -> int:
    rows = list(dataset.objects(account, "auth_code"))
    for row in rows:
        row.data["expires_at"] = dataset.iso(_now() - timedelta(seconds=1))
    SandboxObject._default_manager.bulk_update(rows, ["data"])
    return len(rows)


def set_bucket(account: SandboxAccount, available: float) -> None:
    """Set the shop's GraphQL cost bucket (tests of throttling)."""
    row = _bucket_row(account)
    row.data = {"available": float(available), "at": time.time()}
    row.save(update_fields=["data"])


def _grant(account: SandboxAccount, token: str) -> dict | None:
    """The token's record when it is a live access token of this shop."""
    if not token:
        return None
    row = _token_rows(account, token).first()
    if row is None or row.data.get("type") != "access" or row.data.get("revoked"):
        return None
    expires_at = row.data.get("expires_at")
    if expires_at and dataset.parse_iso(expires_at) <= dj_timezone.now():
        return None
    return row.data


def create_order(account: SandboxAccount, *, skus: list[tuple[str, int]] | None = None) -> dict:
    """A buyer just bought: a new paid, unfulfilled order (neutral shape), announced to every orders/create
    subscription with a signed delivery, as Shopify does."""
    order, _deliveries = _create_order_and_notify(account, skus)
    return order


def _create_order_and_notify(account: SandboxAccount, skus: list[tuple[str, int]] | None) -> tuple[dict, list[dict]]:
    dataset.ensure_seeded(account)
    if skus:
        known = {p["sku"] for p in dataset.objects(account, "product").values_list("data", flat=True)}
        unknown = [sku for sku, _qty in skus if sku not in known]
        if unknown:
            raise ValueError(f"Unknown SKU(s): {', '.join(unknown)}")
        if any(not isinstance(qty, int) or isinstance(qty, bool) or qty < 1 for _sku, qty in skus):
            raise ValueError("Quantities must be whole numbers of at least 1")
    order = dataset.order_create(account, skus=skus)
    deliveries = deliver(account, "ORDERS_CREATE", rest_order(account, order))
    return order, deliveries


def uninstall_app(account: SandboxAccount) -> list[dict]:
    """The merchant uninstalls the app: app/uninstalled is delivered, then every token and subscription goes."""
    deliveries = deliver(account, "APP_UNINSTALLED", rest_shop(account))
    revoke_token(account)
    dataset.objects(account, "webhook").delete()
    return deliveries


def sign_webhook(body: bytes) -> str:
    """X-Shopify-Hmac-Sha256: base64 of HMAC-SHA256 over the raw body with the app's client secret."""
    digest = hmac.new(settings.SHOPIFY_CLIENT_SECRET.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def deliver(account: SandboxAccount, topic: str, payload: dict) -> list[dict]:
    """Send one signed delivery of `topic` to every subscription of the shop; returns what each answered."""
    results = []
    body = json.dumps(payload, ensure_ascii=False).encode()
    event_id = str(uuid.uuid4())
    for row in dataset.objects(account, "webhook").order_by("key"):
        if row.data["topic"] != topic:
            continue
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": TOPICS[topic],
            "X-Shopify-Hmac-Sha256": sign_webhook(body),
            "X-Shopify-Shop-Domain": account.account_id,
            "X-Shopify-API-Version": row.data.get("api_version", SCHEMA_VERSION),
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Triggered-At": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "X-Shopify-Event-Id": event_id,
        }
        # Looked up at call time: tests replace apps.sandbox.http.deliver_webhook to deliver in-process.
        status = sandbox_http.deliver_webhook(row.data["callback_url"], body, headers)
        results.append({"topic": TOPICS[topic], "address": row.data["callback_url"], "status": status,
                        "webhook_id": headers["X-Shopify-Webhook-Id"]})
    return results


# --- the neutral data in Shopify's vocabulary ----------------------------------------------------------------


def _is_cod(order: dict) -> bool:
    return order["status"] != "pending" and _roll("cod", order["id"]) % 4 == 0


def order_state(order: dict) -> dict[str, Any]:
    """How Shopify words a neutral order: financial, fulfillment and return status, cancelled or not."""
    status, cod = order["status"], _is_cod(order)
    fulfilled = order.get("fulfilled") or {}
    partly = status in ("pending", "unshipped") and any(fulfilled.values())
    financial = {
        "pending": "PENDING", "unshipped": "PENDING" if cod else "PAID", "shipped": "PENDING" if cod else "PAID",
        "delivered": "PAID", "cancelled": "VOIDED" if cod else "REFUNDED", "returned": "REFUNDED",
    }[status]
    fulfillment = {
        "pending": "PARTIALLY_FULFILLED" if partly else "UNFULFILLED",
        "unshipped": "PARTIALLY_FULFILLED" if partly else "UNFULFILLED",
        "shipped": "FULFILLED", "delivered": "FULFILLED", "cancelled": "UNFULFILLED", "returned": "FULFILLED",
    }[status]
    return {"financial": financial, "fulfillment": fulfillment, "cancelled": status == "cancelled",
            "return": "RETURNED" if status == "returned" else "NO_RETURN",
            "gateway": COD if cod else RAZORPAY, "delivered": status in ("delivered", "returned")}


def _split_name(full: str) -> tuple[str, str]:
    first, _, last = full.partition(" ")
    return first, last


def _address(order: dict) -> dict:
    address, buyer = order["address"], order["buyer"]
    first, last = _split_name(address["name"])
    return {
        "__typename": "MailingAddress", "id": gid("MailingAddress", f"{order['id']}1"),
        "name": address["name"], "firstName": first, "lastName": last, "company": None,
        "address1": address["line1"], "address2": None, "city": address["city"], "province": address["state"],
        "provinceCode": None, "zip": address["postcode"],
        "country": "India" if address["country"] == "IN" else address["country"], "countryCodeV2": address["country"],
        "phone": buyer.get("phone"), "formattedArea": f"{address['city']} {address['state']}",
    }


def _fulfilment_records(order: dict) -> list[dict]:
    """The order's fulfilments: those created through the API, or one for a seeded shipped order."""
    records = list(order.get("fulfilments") or [])
    if not records and order["status"] in ("shipped", "delivered", "returned"):
        tracking = order.get("tracking") or {}
        records = [{
            "id": str(int(order["id"]) * 10 + 2), "created_at": order["updated_at"],
            "lines": {line["id"]: line["quantity"] for line in order["lines"]},
            "tracking": tracking,
        }]
    return records


def _fulfilment_node(order: dict, record: dict, state: dict) -> dict:
    tracking = record.get("tracking") or {}
    infos = [{"company": tracking.get("carrier") or None, "number": tracking.get("number") or None,
              "url": tracking.get("url") or None}] if tracking.get("number") else []
    delivered = state["delivered"]
    display = "DELIVERED" if delivered else ("IN_TRANSIT" if infos else "FULFILLED")
    return {
        "__typename": "Fulfillment", "id": gid("Fulfillment", record["id"]), "legacyResourceId": record["id"],
        "name": f"#{order['number']}-F1", "status": "SUCCESS", "displayStatus": display,
        "createdAt": record["created_at"], "updatedAt": order["updated_at"],
        "deliveredAt": order["updated_at"] if delivered else None, "inTransitAt": record["created_at"] if infos else None,
        "totalQuantity": sum(record["lines"].values()),
        "trackingInfo": lambda info, first=None: infos[:first] if first is not None else infos,
    }


def _line_node(order: dict, line: dict) -> dict:
    currency = order["currency"]
    fulfilled = (order.get("fulfilled") or {}).get(line["id"], 0)
    shipped = order["status"] in ("shipped", "delivered", "returned")
    unfulfilled = 0 if shipped or order["status"] == "cancelled" else line["quantity"] - fulfilled
    total = dataset.money(Decimal(line["unit_price"]) * line["quantity"])
    return {
        "__typename": "LineItem", "id": gid("LineItem", line["id"]), "sku": line["sku"], "title": line["title"],
        "name": line["title"], "variantTitle": None, "vendor": "Haat SHG", "quantity": line["quantity"],
        "currentQuantity": 0 if order["status"] == "cancelled" else line["quantity"],
        "unfulfilledQuantity": unfulfilled, "requiresShipping": True, "taxable": True, "isGiftCard": False,
        "originalUnitPriceSet": _money_bag(line["unit_price"], currency),
        "discountedUnitPriceSet": _money_bag(line["unit_price"], currency),
        "originalTotalSet": _money_bag(total, currency), "discountedTotalSet": lambda info, **a: _money_bag(total, currency),
        "variant": {"__typename": "ProductVariant", "id": gid("ProductVariant", line["variant_id"]),
                    "legacyResourceId": line["variant_id"], "sku": line["sku"], "title": "Default Title"},
    }


def _fulfillment_order_node(account: SandboxAccount, order: dict) -> dict:
    fulfilled = order.get("fulfilled") or {}
    status = order["status"]
    remaining = {line["id"]: (line["quantity"] - fulfilled.get(line["id"], 0)) if status in ("pending", "unshipped") else 0
                 for line in order["lines"]}
    if status == "cancelled":
        fo_status = "CANCELLED"
    elif not any(remaining.values()):
        fo_status = "CLOSED"
    else:
        fo_status = "IN_PROGRESS" if any(fulfilled.values()) else "OPEN"
    actions = [{"action": "CREATE_FULFILLMENT", "externalUrl": None}, {"action": "HOLD", "externalUrl": None}] \
        if fo_status in ("OPEN", "IN_PROGRESS") else []
    lines = [(0, _fo_line_id(line["id"]), {
        "__typename": "FulfillmentOrderLineItem", "id": gid("FulfillmentOrderLineItem", _fo_line_id(line["id"])),
        "totalQuantity": line["quantity"], "remainingQuantity": remaining[line["id"]], "sku": line["sku"],
        "productTitle": line["title"], "variantTitle": None, "requiresShipping": True,
        "inventoryItemId": gid("InventoryItem", int(line["variant_id"]) + 40_000_000), "lineItem": _line_node(order, line),
    }) for line in order["lines"]]
    location = {"__typename": "Location", "id": _location_id(account), "name": "SHG workshop"}
    return {
        "__typename": "FulfillmentOrder", "id": gid("FulfillmentOrder", _fulfillment_order_id(order["id"])),
        "status": fo_status, "requestStatus": "UNSUBMITTED", "orderId": gid("Order", order["id"]),
        "orderName": f"#{order['number']}", "createdAt": order["created_at"], "updatedAt": order["updated_at"],
        "orderProcessedAt": order["created_at"], "fulfillAt": order["created_at"], "fulfillBy": None,
        "fulfillmentHolds": [], "supportedActions": actions,
        "assignedLocation": {"name": location["name"], "location": location, "city": "", "countryCode": "IN",
                             "address1": None, "address2": None, "phone": None, "province": None, "zip": None},
        "lineItems": lambda info, **a: paginate(lines, a),
    }


def order_node(account: SandboxAccount, order: dict, grant: dict) -> dict:
    """A neutral order as Shopify's GraphQL `Order`."""
    state = order_state(order)
    currency = order["currency"]
    lines = [(0, int(line["id"]), _line_node(order, line)) for line in order["lines"]]
    fulfilments = [_fulfilment_node(order, record, state) for record in _fulfilment_records(order)]
    cancelled_at = order["updated_at"] if state["cancelled"] else None
    closed = order["status"] in ("delivered", "returned", "cancelled")

    def fulfillment_orders(info, **args):
        require_scope(grant, info, "read_merchant_managed_fulfillment_orders", "read_assigned_fulfillment_orders",
                      "read_third_party_fulfillment_orders")
        return paginate([(0, _fulfillment_order_id(order["id"]), _fulfillment_order_node(account, order))], args)

    return {
        "__typename": "Order", "id": gid("Order", order["id"]), "legacyResourceId": order["id"],
        "name": f"#{order['number']}", "createdAt": order["created_at"], "updatedAt": order["updated_at"],
        "processedAt": order["created_at"], "cancelledAt": cancelled_at,
        "cancelReason": "CUSTOMER" if cancelled_at else None, "closed": closed,
        "closedAt": order["updated_at"] if closed else None, "confirmed": True, "test": False,
        "displayFinancialStatus": state["financial"], "displayFulfillmentStatus": state["fulfillment"],
        "returnStatus": state["return"], "currencyCode": currency, "presentmentCurrencyCode": currency,
        "email": order["buyer"]["email"], "phone": order["buyer"]["phone"], "note": None, "sourceName": "web",
        "paymentGatewayNames": [state["gateway"]], "fulfillable": state["fulfillment"] != "FULFILLED" and not closed,
        "totalPriceSet": _money_bag(order["total"], currency), "subtotalPriceSet": _money_bag(order["total"], currency),
        "totalShippingPriceSet": _money_bag("0", currency), "totalTaxSet": _money_bag("0", currency),
        "totalDiscountsSet": _money_bag("0", currency),
        "subtotalLineItemsQuantity": sum(line["quantity"] for line in order["lines"]),
        "shippingAddress": _address(order), "billingAddress": _address(order),
        "lineItems": lambda info, **a: paginate(lines, a),
        "fulfillments": lambda info, first=None: fulfilments[:first] if first is not None else fulfilments,
        "fulfillmentOrders": fulfillment_orders,
    }


def _variant_node(product: dict, stamp: str, parent: Callable[[], dict] | None = None) -> dict:
    return {
        "__typename": "ProductVariant", "id": gid("ProductVariant", product["variant_id"]),
        "legacyResourceId": product["variant_id"], "sku": product["sku"], "title": "Default Title",
        "displayName": f"{product['title']} - Default Title", "price": product["price"],
        "compareAtPrice": product.get("mrp"), "barcode": product.get("barcode"),
        "inventoryQuantity": product["quantity"], "availableForSale": product["quantity"] > 0, "position": 1,
        "taxable": True, "createdAt": stamp, "updatedAt": stamp, "inventoryPolicy": "DENY",
        "inventoryItem": {"__typename": "InventoryItem", "id": _inventory_item_id(product),
                          "legacyResourceId": str(int(product["variant_id"]) + 40_000_000), "sku": product["sku"],
                          "tracked": product.get("tracked", True), "requiresShipping": True, "createdAt": stamp,
                          "updatedAt": stamp},
        "product": (lambda info: parent()) if parent else None,
    }


def product_node(row: SandboxObject) -> dict:
    """A neutral product (one SKU) as Shopify's `Product` with its single variant."""
    product = row.data
    stamp = dataset.iso(row.updated_at)

    def node() -> dict:
        variants = [(0, int(product["variant_id"]), _variant_node(product, stamp, node))]
        handle = re.sub(r"[^a-z0-9]+", "-", product["title"].lower()).strip("-")
        return {
            "__typename": "Product", "id": gid("Product", product["id"]), "legacyResourceId": product["id"],
            "title": product["title"], "handle": f"{handle}-{product['id']}", "status": product.get("status", "ACTIVE"),
            "vendor": product.get("vendor", "Haat SHG"), "productType": product.get("category", ""),
            "descriptionHtml": product.get("description_html", product["description"]),
            "description": lambda info, truncateAt=None: product["description"][:truncateAt or None],
            "createdAt": stamp, "updatedAt": stamp, "totalInventory": product["quantity"], "tracksInventory": True,
            "hasOnlyDefaultVariant": True, "tags": product.get("tags", []),
            "variants": lambda info, **a: paginate(variants, a),
        }

    return node()


def variant_node(row: SandboxObject) -> dict:
    return _variant_node(row.data, dataset.iso(row.updated_at), lambda: product_node(row))


def shop_node(account: SandboxAccount) -> dict:
    plan = account.settings.get("plan", "basic")
    return {
        "__typename": "Shop", "id": gid("Shop", account.settings.get("shop_id", "60000000001")), "name": account.name,
        "email": f"owner@{account.account_id}", "contactEmail": f"owner@{account.account_id}",
        "myshopifyDomain": account.account_id, "url": f"https://{account.account_id}",
        "currencyCode": account.settings.get("currency", "INR"), "ianaTimezone": "Asia/Kolkata",
        "timezoneAbbreviation": "IST", "timezoneOffset": "+0530", "timezoneOffsetMinutes": 330,
        "createdAt": dataset.iso(account.created_at), "updatedAt": dataset.iso(account.created_at),
        "plan": {"displayName": PLAN_NAMES.get(plan, "Basic"), "partnerDevelopment": False, "shopifyPlus": plan == "plus"},
    }


def rest_order(account: SandboxAccount, order: dict) -> dict:
    """A neutral order as the REST-shaped JSON Shopify sends in orders/* webhooks."""
    state = order_state(order)
    currency = order["currency"]
    order_id = int(order["id"])
    first, last = _split_name(order["buyer"]["name"])
    address = _address(order)

    def money_set(amount: str) -> dict:
        money = {"amount": dataset.money(amount), "currency_code": currency}
        return {"shop_money": money, "presentment_money": dict(money)}

    rest_address = {
        "first_name": address["firstName"], "last_name": address["lastName"], "name": address["name"],
        "address1": address["address1"], "address2": None, "city": address["city"], "province": address["province"],
        "province_code": None, "zip": address["zip"], "country": address["country"],
        "country_code": address["countryCodeV2"], "phone": address["phone"], "company": None,
        "latitude": None, "longitude": None,
    }
    fulfilled = order.get("fulfilled") or {}
    line_items = [{
        "id": int(line["id"]), "admin_graphql_api_id": gid("LineItem", line["id"]),
        "variant_id": int(line["variant_id"]), "product_id": int(line["product_id"]), "sku": line["sku"],
        "title": line["title"], "name": line["title"], "variant_title": None, "vendor": "Haat SHG",
        "quantity": line["quantity"], "current_quantity": 0 if state["cancelled"] else line["quantity"],
        "fulfillable_quantity": 0 if state["cancelled"] or state["fulfillment"] == "FULFILLED"
        else line["quantity"] - fulfilled.get(line["id"], 0),
        "fulfillment_status": "fulfilled" if state["fulfillment"] == "FULFILLED" else None,
        "fulfillment_service": "manual", "price": dataset.money(line["unit_price"]),
        "price_set": money_set(line["unit_price"]), "total_discount": "0.00", "requires_shipping": True,
        "taxable": True, "gift_card": False, "grams": 0, "product_exists": True, "properties": [], "tax_lines": [],
    } for line in order["lines"]]
    fulfillments = []
    for record in _fulfilment_records(order):
        tracking = record.get("tracking") or {}
        fulfillments.append({
            "id": int(record["id"]), "admin_graphql_api_id": gid("Fulfillment", record["id"]), "order_id": order_id,
            "name": f"#{order['number']}.1", "status": "success", "service": "manual",
            "shipment_status": "delivered" if state["delivered"] else ("in_transit" if tracking.get("number") else None),
            "tracking_company": tracking.get("carrier") or None, "tracking_number": tracking.get("number") or None,
            "tracking_numbers": [tracking["number"]] if tracking.get("number") else [],
            "tracking_url": tracking.get("url") or None, "tracking_urls": [tracking["url"]] if tracking.get("url") else [],
            "created_at": _ist(record["created_at"]), "updated_at": _ist(order["updated_at"]),
            "location_id": int(account.settings.get("location_id", "70000000001")),
        })
    refunds = []
    if order["status"] == "returned":
        refunds.append({
            "id": order_id * 10 + 3, "admin_graphql_api_id": gid("Refund", order_id * 10 + 3), "order_id": order_id,
            "created_at": _ist(order["updated_at"]), "processed_at": _ist(order["updated_at"]), "note": "Returned",
            "restock": True, "refund_line_items": [
                {"id": int(line["id"]) * 10 + 4, "line_item_id": int(line["id"]), "quantity": line["quantity"],
                 "restock_type": "return", "location_id": int(account.settings.get("location_id", "70000000001")),
                 "subtotal": dataset.money(Decimal(line["unit_price"]) * line["quantity"]), "total_tax": 0.0}
                for line in order["lines"]],
            "transactions": [],
        })
    fulfillment_status = {"FULFILLED": "fulfilled", "PARTIALLY_FULFILLED": "partial"}.get(state["fulfillment"])
    return {
        "id": order_id, "admin_graphql_api_id": gid("Order", order_id), "name": f"#{order['number']}",
        "order_number": int(order["number"]), "number": int(order["number"]) - 1000,
        "email": order["buyer"]["email"], "contact_email": order["buyer"]["email"], "phone": order["buyer"]["phone"],
        "created_at": _ist(order["created_at"]), "updated_at": _ist(order["updated_at"]),
        "processed_at": _ist(order["created_at"]),
        "cancelled_at": _ist(order["updated_at"]) if state["cancelled"] else None,
        "cancel_reason": "customer" if state["cancelled"] else None,
        "closed_at": _ist(order["updated_at"]) if order["status"] in ("delivered", "returned", "cancelled") else None,
        "confirmed": True, "test": False, "currency": currency, "presentment_currency": currency,
        "financial_status": state["financial"].lower(), "fulfillment_status": fulfillment_status,
        "payment_gateway_names": [state["gateway"]], "source_name": "web", "tags": "",
        "total_price": dataset.money(order["total"]), "subtotal_price": dataset.money(order["total"]),
        "current_total_price": "0.00" if state["cancelled"] else dataset.money(order["total"]),
        "total_tax": "0.00", "total_discounts": "0.00", "taxes_included": True,
        "total_price_set": money_set(order["total"]), "subtotal_price_set": money_set(order["total"]),
        "total_line_items_price": dataset.money(order["total"]),
        "customer": {"id": 7_000_000_000 + _roll("customer", order["buyer"]["email"]) % 10**9,
                     "email": order["buyer"]["email"], "first_name": first, "last_name": last,
                     "phone": order["buyer"]["phone"], "currency": currency, "state": "disabled", "tags": ""},
        "shipping_address": rest_address, "billing_address": dict(rest_address),
        "line_items": line_items, "fulfillments": fulfillments, "refunds": refunds, "shipping_lines": [],
    }


def rest_shop(account: SandboxAccount) -> dict:
    """The shop as the REST JSON of app/uninstalled deliveries."""
    node = shop_node(account)
    return {
        "id": gid_number(node["id"]), "name": node["name"], "email": node["email"], "domain": account.account_id,
        "myshopify_domain": account.account_id, "currency": node["currencyCode"], "iana_timezone": node["ianaTimezone"],
        "plan_name": account.settings.get("plan", "basic"), "plan_display_name": node["plan"]["displayName"],
        "created_at": _ist(node["createdAt"]), "updated_at": _ist(node["updatedAt"]), "country_code": "IN",
    }


# --- pagination and search -----------------------------------------------------------------------------------


def _cursor(sort_value: Any, ident: int) -> str:
    return base64.b64encode(json.dumps({"last_id": ident, "last_value": sort_value}).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[Any, int]:
    try:
        data = json.loads(base64.b64decode(cursor.encode(), validate=True))
        return data["last_value"], int(data["last_id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise GraphQLError("Invalid cursor for current pagination sort.", extensions={"code": "BAD_REQUEST"}) from exc


def paginate(entries: list[tuple[Any, int, Any]], args: dict) -> dict:
    """A Relay connection over (sort value, id, node) entries: first/after, last/before, reverse."""
    first, last = args.get("first"), args.get("last")
    if first is None and last is None:
        raise GraphQLError("you must provide one of first or last", extensions={"code": "BAD_REQUEST"})
    for size in (first, last):
        if size is not None and not 0 <= size <= MAX_PAGE:
            raise GraphQLError(f"The page size must be between 0 and {MAX_PAGE}.", extensions={"code": "BAD_REQUEST"})
    reverse = bool(args.get("reverse"))
    ordered = sorted(entries, key=lambda e: (e[0], e[1]), reverse=reverse)
    keys = [(e[0], e[1]) for e in ordered]
    start, end = 0, len(ordered)
    if args.get("after"):
        mark = _decode_cursor(args["after"])
        start = next((i for i, key in enumerate(keys) if (key < mark if reverse else key > mark)), len(keys))
    if args.get("before"):
        mark = _decode_cursor(args["before"])
        end = next((i for i, key in enumerate(keys) if (key <= mark if reverse else key >= mark)), len(keys))
        end = max(end, start)
    window = ordered[start:end]
    has_next, has_previous = end < len(ordered), start > 0
    if first is not None:
        has_next = has_next or len(window) > first
        window = window[:first]
    if last is not None:
        has_previous = has_previous or len(window) > last
        window = window[-last:] if last else []
    nodes = [entry[2] for entry in window]
    edges = [{"cursor": _cursor(entry[0], entry[1]), "node": entry[2]} for entry in window]
    return {
        "nodes": nodes, "edges": edges,
        "pageInfo": {"hasNextPage": has_next, "hasPreviousPage": has_previous,
                     "startCursor": edges[0]["cursor"] if edges else None,
                     "endCursor": edges[-1]["cursor"] if edges else None},
    }


_TERM_RE = re.compile(r"""(?P<field>[a-z_]+):(?P<op><=|>=|<|>)?(?P<value>'[^']*'|"[^"]*"|[^\s()]+)""")


def _when(value: str) -> datetime:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    parsed = dataset.parse_iso(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def search_filter(query: str | None, fields: dict[str, tuple[str, Callable[[Any], Any]]]) -> Callable[[Any], bool]:
    """Shopify's search syntax, the part Haat uses: `field:value` and `field:>'2025-01-01T00:00:00Z'` terms,
    joined by AND (or a space) and OR. Free text and fields this resource does not know are ignored, as the
    platform ignores unknown filters. `fields` maps a filter name to (kind, getter); kind is time, int or text."""
    if not query or not query.strip():
        return lambda item: True
    groups = []
    for group in re.split(r"\s+OR\s+", query.strip()):
        terms = []
        for match in _TERM_RE.finditer(group):
            name, op, value = match.group("field"), match.group("op") or "", match.group("value").strip("'\"")
            if name not in fields:
                continue
            kind, getter = fields[name]
            try:
                wanted: Any = _when(value) if kind == "time" else int(value) if kind == "int" else value.lower()
            except ValueError as exc:
                raise GraphQLError(f"Invalid search value for {name}: {value}") from exc
            terms.append((kind, getter, op, wanted))
        groups.append(terms)

    def compare(have: Any, op: str, wanted: Any) -> bool:
        if have is None:
            return False
        return {"": have == wanted, ">": have > wanted, ">=": have >= wanted, "<": have < wanted,
                "<=": have <= wanted}[op]

    def matches(item: Any) -> bool:
        for terms in groups:
            ok = True
            for kind, getter, op, wanted in terms:
                have = getter(item)
                if kind == "time":
                    have = _when(have) if have else None
                elif kind == "text":
                    values = have if isinstance(have, list) else [have]
                    have_any = any(compare(str(v).lower(), op, wanted) for v in values if v is not None)
                    ok = ok and have_any
                    continue
                ok = ok and compare(have, op, wanted)
            if ok:
                return True
        return False

    return matches


# --- cost ------------------------------------------------------------------------------------------------------


def _field_cost(schema: GraphQLSchema, node: FieldNode, parent: Any, variables: dict, fragments: dict,
                data: Any, actual: bool) -> int:
    name = node.name.value
    if name.startswith("__") or not hasattr(parent, "fields") or name not in parent.fields:
        return 0
    field = parent.fields[name]
    named = get_named_type(field.type)
    if is_leaf_type(named):
        return 0
    key = node.alias.value if node.alias else name
    value = data.get(key) if isinstance(data, dict) else None
    if actual and value is None:
        return 0
    if isinstance(named, GraphQLObjectType) and named.name.endswith("Connection") and "pageInfo" in named.fields:
        return 2 + _connection_cost(schema, node, named, get_argument_values(field, node, variables), variables,
                                    fragments, value, actual)
    if is_list_type(get_nullable_type(field.type)):
        if actual:
            return sum(1 + _selection_cost(schema, node.selection_set, named, variables, fragments, item, actual)
                       for item in value or [])
        args = get_argument_values(field, node, variables)
        size = args.get("first") or args.get("last") or len(args.get("ids") or []) or 1
        return size * (1 + _selection_cost(schema, node.selection_set, named, variables, fragments, None, actual))
    return 1 + _selection_cost(schema, node.selection_set, named, variables, fragments, value, actual)


def _connection_cost(schema, node, connection, args, variables, fragments, value, actual) -> int:
    node_type = get_named_type(connection.fields["nodes"].type) if "nodes" in connection.fields else None
    total = 0
    for child in node.selection_set.selections if node.selection_set else []:
        if not isinstance(child, FieldNode):
            continue
        key = child.alias.value if child.alias else child.name.value
        if child.name.value == "nodes":
            items = (value or {}).get(key) or [] if actual else [None] * (args.get("first") or args.get("last") or 0)
            total += sum(1 + _selection_cost(schema, child.selection_set, node_type, variables, fragments, item, actual)
                         for item in items)
        elif child.name.value == "edges":
            for grandchild in child.selection_set.selections if child.selection_set else []:
                if isinstance(grandchild, FieldNode) and grandchild.name.value == "node":
                    node_key = grandchild.alias.value if grandchild.alias else "node"
                    edges = (value or {}).get(key) or [] if actual else [None] * (args.get("first") or args.get("last") or 0)
                    total += sum(1 + _selection_cost(schema, grandchild.selection_set, node_type, variables, fragments,
                                                     (edge or {}).get(node_key) if actual else None, actual)
                                 for edge in edges)
    return total


def _selection_cost(schema, selection_set, parent, variables, fragments, data, actual) -> int:
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            total += _field_cost(schema, selection, parent, variables, fragments, data, actual)
        elif isinstance(selection, InlineFragmentNode):
            condition = schema.get_type(selection.type_condition.name.value) if selection.type_condition else parent
            if actual and isinstance(data, dict) and selection.type_condition and data.get("__typename") not in (
                    None, condition.name):
                continue
            total += _selection_cost(schema, selection.selection_set, condition, variables, fragments, data, actual)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value in fragments:
            fragment = fragments[selection.name.value]
            condition = schema.get_type(fragment.type_condition.name.value)
            total += _selection_cost(schema, fragment.selection_set, condition, variables, fragments, data, actual)
    return total


def coerce_variables(schema: GraphQLSchema, operation, variables: dict | None):
    """The operation's variables coerced by the schema, or the list of errors that refused them."""
    return get_variable_values(schema, operation.variable_definitions or [], variables or {})


def query_cost(schema: GraphQLSchema, document, operation, variables: dict | None, data: Any = None) -> int:
    """The requested cost of an operation (or, given the answer's data, its actual cost)."""
    if operation.operation == OperationType.MUTATION:
        return MUTATION_COST * sum(1 for s in operation.selection_set.selections if isinstance(s, FieldNode))
    coerced = coerce_variables(schema, operation, variables)
    if isinstance(coerced, list):
        raise ValueError("; ".join(error.message for error in coerced))
    fragments = {d.name.value: d for d in document.definitions if d.kind == "fragment_definition"}
    return _selection_cost(schema, operation.selection_set, schema.query_type, coerced, fragments, data,
                           actual=data is not None)


# --- the cost bucket ----------------------------------------------------------------------------------------------


def _bucket_row(account: SandboxAccount) -> SandboxObject:
    maximum, _restore = plan_limits(account)
    row, _created = SandboxObject._default_manager.get_or_create(
        account=account, kind="throttle", key="graphql",
        defaults={"updated_at": _now(), "data": {"available": maximum, "at": time.time()}},
    )
    return row


def _bucket_take(account: SandboxAccount, cost: int) -> tuple[bool, float]:
    """Leaky bucket: restore since the last call, then take `cost` if it is there. Returns (taken, available)."""
    maximum, restore = plan_limits(account)
    _bucket_row(account)
    with transaction.atomic():
        row = SandboxObject._default_manager.select_for_update().get(account=account, kind="throttle", key="graphql")
        now = time.time()
        available = min(maximum, float(row.data["available"]) + (now - float(row.data["at"])) * restore)
        taken = available >= cost
        if taken:
            available -= cost
        row.data = {"available": available, "at": now}
        row.save(update_fields=["data"])
    return taken, available


def _bucket_refund(account: SandboxAccount, points: float) -> float:
    maximum, _restore = plan_limits(account)
    with transaction.atomic():
        row = SandboxObject._default_manager.select_for_update().get(account=account, kind="throttle", key="graphql")
        row.data["available"] = min(maximum, float(row.data["available"]) + points)
        row.save(update_fields=["data"])
    return float(row.data["available"])


def _cost_extension(account: SandboxAccount, requested: int, actual: int | None, available: float) -> dict:
    maximum, restore = plan_limits(account)
    return {"cost": {"requestedQueryCost": requested, "actualQueryCost": actual,
                     "throttleStatus": {"maximumAvailable": maximum, "currentlyAvailable": int(available),
                                        "restoreRate": restore}}}


def throttled_body(account: SandboxAccount | None, requested: int, available: float) -> dict:
    maximum, restore = plan_limits(account) if account else PLAN_LIMITS["basic"]
    return {
        "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": DOCS_RATE_LIMITS}}],
        "extensions": {"cost": {"requestedQueryCost": requested, "actualQueryCost": None,
                                "throttleStatus": {"maximumAvailable": maximum, "currentlyAvailable": int(available),
                                                   "restoreRate": restore}}},
    }


# --- scopes ----------------------------------------------------------------------------------------------------


def has_scope(grant: dict, scope: str) -> bool:
    granted = {s.strip() for s in grant.get("scope", "").split(",") if s.strip()}
    return scope in granted or (scope.startswith("read_") and f"write_{scope[5:]}" in granted)


def require_scope(grant: dict, info, *scopes: str) -> None:
    """ACCESS_DENIED, in Shopify's words, unless the token holds one of `scopes` (write_x implies read_x)."""
    if any(has_scope(grant, scope) for scope in scopes):
        return
    field = info.field_name
    needed = " or ".join(f"`{scope}`" for scope in scopes)
    raise GraphQLError(f"Access denied for {field} field. Required access: {needed} access scope.",
                       extensions={"code": "ACCESS_DENIED", "documentation": "https://shopify.dev/api/usage/access-scopes",
                                   "requiredAccess": f"{needed} access scope."})


def _selects_only_id(info) -> bool:
    for node in info.field_nodes:
        for selection in node.selection_set.selections if node.selection_set else []:
            if not isinstance(selection, FieldNode) or selection.name.value not in ("id", "__typename"):
                return False
    return True


# --- the root fields ---------------------------------------------------------------------------------------------


ORDER_SORT = {"UPDATED_AT": "updated_at", "CREATED_AT": "created_at", "PROCESSED_AT": "created_at"}


def _user_error(field: list[str], message: str, code: str | None = None) -> dict:
    error: dict[str, Any] = {"field": field, "message": message}
    if code is not None:
        error["code"] = code
    return error


def _check_input_size(name: str, values: Iterable) -> None:
    size = len(list(values))
    if size > MAX_PAGE:
        raise GraphQLError(f"The input array size of {size} is greater than the maximum allowed of {MAX_PAGE}.",
                           extensions={"code": "MAX_INPUT_SIZE_EXCEEDED", "argumentName": name})


class Root:
    """The resolvers of the root fields the sandbox serves, bound to one shop and one token."""

    def __init__(self, account: SandboxAccount, grant: dict):
        self.account = account
        self.grant = grant

    def resolvers(self) -> dict[str, Callable]:
        return {
            "shop": lambda info: shop_node(self.account),
            "orders": self.orders, "order": self.order,
            "products": self.products, "product": self.product, "productVariants": self.product_variants,
            "location": self.location, "webhookSubscriptions": self.webhook_subscriptions,
            "inventorySetQuantities": self.inventory_set_quantities,
            "productVariantsBulkUpdate": self.product_variants_bulk_update,
            "productCreate": self.product_create, "productDelete": self.product_delete,
            "fulfillmentCreate": self.fulfillment_create,
            "webhookSubscriptionCreate": self.webhook_subscription_create,
            "webhookSubscriptionDelete": self.webhook_subscription_delete,
        }

    # queries

    def orders(self, info, **args):
        require_scope(self.grant, info, "read_orders")
        sort_key = args.get("sortKey") or "ID"
        matches = search_filter(args.get("query"), {
            "updated_at": ("time", lambda o: o["updated_at"]), "created_at": ("time", lambda o: o["created_at"]),
            "processed_at": ("time", lambda o: o["created_at"]), "id": ("int", lambda o: int(o["id"])),
            "name": ("text", lambda o: [f"#{o['number']}", o["number"]]),
            "financial_status": ("text", lambda o: order_state(o)["financial"]),
            "fulfillment_status": ("text", lambda o: order_state(o)["fulfillment"]),
        })
        horizon = dj_timezone.now() - timedelta(days=60)
        all_orders = has_scope(self.grant, "read_all_orders")
        entries = []
        for row in dataset.objects(self.account, "order").order_by("updated_at", "key"):
            order = row.data
            # Without read_all_orders, Shopify shows an app only the last 60 days of orders.
            if not all_orders and dataset.parse_iso(order["created_at"]) < horizon:
                continue
            if not matches(order):
                continue
            value = order[ORDER_SORT[sort_key]] if sort_key in ORDER_SORT else (
                int(order["number"]) if sort_key == "ORDER_NUMBER" else int(order["id"]))
            entries.append((value, int(order["id"]), order))
        page = paginate(entries, args)
        rendered = {id(o): order_node(self.account, o, self.grant) for o in page["nodes"]}
        page["nodes"] = [rendered[id(o)] for o in page["nodes"]]
        for edge in page["edges"]:
            edge["node"] = rendered[id(edge["node"])]
        return page

    def order(self, info, id):
        require_scope(self.grant, info, "read_orders")
        number = gid_number(id, "Order")
        row = dataset.objects(self.account, "order").filter(key=str(number)).first() if number else None
        return order_node(self.account, row.data, self.grant) if row else None

    def _product_rows(self):
        return list(dataset.objects(self.account, "product").order_by("key"))

    def products(self, info, **args):
        require_scope(self.grant, info, "read_products")
        matches = search_filter(args.get("query"), {
            "sku": ("text", lambda r: r.data["sku"]), "title": ("text", lambda r: r.data["title"]),
            "id": ("int", lambda r: int(r.data["id"])), "updated_at": ("time", lambda r: dataset.iso(r.updated_at)),
            "status": ("text", lambda r: r.data.get("status", "ACTIVE").lower()),
        })
        sort_key = args.get("sortKey") or "ID"
        entries = []
        for row in self._product_rows():
            if not matches(row):
                continue
            value = {"TITLE": row.data["title"], "UPDATED_AT": dataset.iso(row.updated_at)}.get(sort_key, int(row.data["id"]))
            entries.append((value, int(row.data["id"]), row))
        page = paginate(entries, args)
        rendered = {r.pk: product_node(r) for r in page["nodes"]}
        page["nodes"] = [rendered[r.pk] for r in page["nodes"]]
        for edge in page["edges"]:
            edge["node"] = rendered[edge["node"].pk]
        return page

    def product(self, info, id):
        require_scope(self.grant, info, "read_products")
        number = gid_number(id, "Product")
        row = next((r for r in self._product_rows() if number is not None and int(r.data["id"]) == number), None)
        return product_node(row) if row else None

    def product_variants(self, info, **args):
        require_scope(self.grant, info, "read_products")
        matches = search_filter(args.get("query"), {
            "sku": ("text", lambda r: r.data["sku"]), "product_id": ("int", lambda r: int(r.data["id"])),
            "id": ("int", lambda r: int(r.data["variant_id"])), "barcode": ("text", lambda r: r.data.get("barcode")),
        })
        entries = [(int(r.data["variant_id"]), int(r.data["variant_id"]), r) for r in self._product_rows() if matches(r)]
        page = paginate(entries, args)
        rendered = {r.pk: variant_node(r) for r in page["nodes"]}
        page["nodes"] = [rendered[r.pk] for r in page["nodes"]]
        for edge in page["edges"]:
            edge["node"] = rendered[edge["node"].pk]
        return page

    def location(self, info, id=None):
        # Since 2025-04 a Location's id needs read_inventory or read_locations; its other fields read_locations.
        if _selects_only_id(info):
            require_scope(self.grant, info, "read_inventory", "read_locations")
        else:
            require_scope(self.grant, info, "read_locations")
        primary = _location_id(self.account)
        if id is not None and id != primary:
            return None
        return {"__typename": "Location", "id": primary, "legacyResourceId": str(gid_number(primary)),
                "name": "SHG workshop", "isActive": True, "fulfillsOnlineOrders": True, "shipsInventory": True,
                "hasActiveInventory": True, "isFulfillmentService": False}

    def webhook_subscriptions(self, info, **args):
        topics = set(args.get("topics") or [])
        callback = args.get("callbackUrl")
        entries = []
        for row in dataset.objects(self.account, "webhook"):
            if (topics and row.data["topic"] not in topics) or (callback and row.data["callback_url"] != callback):
                continue
            entries.append((int(row.key), int(row.key), _webhook_node(row)))
        return paginate(entries, args)

    # mutations

    def inventory_set_quantities(self, info, input):
        require_scope(self.grant, info, "write_inventory")
        quantities = input.get("quantities") or []
        _check_input_size("quantities", quantities)
        errors = []
        if input.get("name") not in ("available", "on_hand"):
            errors.append(_user_error(["input", "name"], "The quantity name must be either 'available' or 'on_hand'.",
                                      "INVALID_NAME"))
        if input.get("reason") not in INVENTORY_REASONS:
            errors.append(_user_error(["input", "reason"], "The specified reason is invalid. Valid values: "
                                      + ", ".join(sorted(INVENTORY_REASONS)) + ".", "INVALID_REASON"))
        rows = {_inventory_item_id(r.data): r for r in self._product_rows()}
        location = _location_id(self.account)
        seen, changes = set(), []
        for index, entry in enumerate(quantities):
            field = ["input", "quantities", str(index)]
            row = rows.get(entry["inventoryItemId"])
            if row is None:
                errors.append(_user_error([*field, "inventoryItemId"], "The specified inventory item could not be found.",
                                          "INVALID_INVENTORY_ITEM"))
                continue
            if entry["locationId"] != location:
                errors.append(_user_error([*field, "locationId"], "The specified location could not be found.",
                                          "INVALID_LOCATION"))
                continue
            if entry["inventoryItemId"] in seen:
                errors.append(_user_error([*field], "The combination of inventoryItemId and locationId must be unique.",
                                          "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR"))
                continue
            seen.add(entry["inventoryItemId"])
            quantity = entry["quantity"]
            if quantity > 1_000_000_000:
                errors.append(_user_error([*field, "quantity"], "The quantity can't be higher than 1,000,000,000.",
                                          "INVALID_QUANTITY_TOO_HIGH"))
                continue
            if quantity < -1_000_000_000:
                errors.append(_user_error([*field, "quantity"], "The quantity can't be lower than -1,000,000,000.",
                                          "INVALID_QUANTITY_TOO_LOW"))
                continue
            if not input.get("ignoreCompareQuantity"):
                if entry.get("compareQuantity") is None:
                    errors.append(_user_error([*field, "compareQuantity"], "The compareQuantity argument must be given "
                                              "to each quantity or ignored using ignoreCompareQuantity.",
                                              "COMPARE_QUANTITY_REQUIRED"))
                    continue
                if entry["compareQuantity"] != row.data["quantity"]:
                    errors.append(_user_error([*field, "compareQuantity"], "The compareQuantity value does not match "
                                              "persisted value.", "COMPARE_QUANTITY_STALE"))
                    continue
            changes.append((row, quantity))
        if errors:
            # All or nothing: one bad quantity and none is set.
            return {"inventoryAdjustmentGroup": None, "userErrors": errors}
        now = _now()
        out = []
        with transaction.atomic():
            for row, quantity in changes:
                out.append({"name": input["name"], "delta": quantity - row.data["quantity"], "quantityAfterChange": quantity,
                            "item": {"__typename": "InventoryItem", "id": _inventory_item_id(row.data), "sku": row.data["sku"]},
                            "location": {"__typename": "Location", "id": location}, "ledgerDocumentUri": None})
                row.data["quantity"] = quantity
                row.updated_at = now
            SandboxObject._default_manager.bulk_update([r for r, _q in changes], ["data", "updated_at"])
        group = {"__typename": "InventoryAdjustmentGroup", "id": gid("InventoryAdjustmentGroup", uuid.uuid4().int % 10**12),
                 "createdAt": dataset.iso(now), "reason": input["reason"],
                 "referenceDocumentUri": input.get("referenceDocumentUri"),
                 "changes": lambda info, **a: out}
        return {"inventoryAdjustmentGroup": group, "userErrors": []}

    def product_variants_bulk_update(self, info, productId, variants, allowPartialUpdates=False, media=None):
        require_scope(self.grant, info, "write_products")
        _check_input_size("variants", variants)
        number = gid_number(productId, "Product")
        row = next((r for r in self._product_rows() if number is not None and int(r.data["id"]) == number), None)
        if row is None:
            return {"product": None, "productVariants": None,
                    "userErrors": [_user_error(["productId"], "Product does not exist", "PRODUCT_DOES_NOT_EXIST")]}
        errors, updates = [], []
        for index, variant in enumerate(variants):
            field = ["variants", str(index)]
            if not variant.get("id"):
                errors.append(_user_error([*field, "id"], "Product variant is missing ID attribute",
                                          "PRODUCT_VARIANT_ID_MISSING"))
                continue
            if variant["id"] != gid("ProductVariant", row.data["variant_id"]):
                errors.append(_user_error([*field, "id"], "Product variant does not exist",
                                          "PRODUCT_VARIANT_DOES_NOT_EXIST"))
                continue
            change: dict[str, Any] = {}
            if variant.get("inventoryQuantities") is not None:
                errors.append(_user_error([*field, "inventoryQuantities"], "Inventory quantities can only be provided "
                                          "during create. To update inventory for existing variants, use "
                                          "inventoryAdjustQuantities.", "NO_INVENTORY_QUANTITIES_ON_VARIANTS_UPDATE"))
                continue
            if "barcode" in variant:
                change["barcode"] = variant["barcode"]
            item = variant.get("inventoryItem") or {}
            if "sku" in item:
                change["sku"] = item["sku"] or ""
            if item.get("tracked") is not None:
                change["tracked"] = bool(item["tracked"])
            for name, key in (("price", "price"), ("compareAtPrice", "mrp")):
                if name not in variant:
                    continue
                if variant[name] is None:
                    if name == "price":
                        errors.append(_user_error([*field, name], "Price can't be blank", "INVALID_INPUT"))
                    else:
                        change[key] = None
                    continue
                try:
                    amount = Decimal(str(variant[name]))
                except InvalidOperation:
                    errors.append(_user_error([*field, name], f"{name} is invalid", "INVALID_INPUT"))
                    continue
                if not amount.is_finite() or amount < 0:
                    errors.append(_user_error([*field, name], "Price must be greater than or equal to 0",
                                              "GREATER_THAN_OR_EQUAL_TO"))
                    continue
                change[key] = dataset.money(amount)
            updates.append(change)
        if errors and not allowPartialUpdates:
            return {"product": None, "productVariants": None, "userErrors": errors}
        with transaction.atomic():
            for change in updates:
                row.data.update(change)
            row.updated_at = _now()
            row.save(update_fields=["data", "updated_at"])
        return {"product": product_node(row), "productVariants": [variant_node(row)], "userErrors": errors}

    def product_create(self, info, product=None, media=None):
        """A new product with its one standalone variant ("Default Title", no SKU, price 0, untracked), as
        Shopify makes it when productCreate is given no options; variants are set by the bulk mutations."""
        require_scope(self.grant, info, "write_products")
        spec = product or {}
        title = (spec.get("title") or "").strip()
        if not title:
            return {"product": None, "userErrors": [_user_error(["title"], "Title can't be blank")]}
        if len(title) > 255:
            return {"product": None, "userErrors": [_user_error(["title"], "Title is too long (maximum is 255 characters)")]}
        if spec.get("productOptions"):
            return {"product": None, "userErrors": [_user_error(
                ["productOptions"], "The Haat sandbox makes products with the standalone variant only")]}
        media = media or []
        _check_input_size("media", media)
        with transaction.atomic():
            # Taking the shop's row serialises concurrent creates, so two never get the same id.
            list(SandboxAccount._default_manager.select_for_update().filter(pk=self.account.pk))
            existing = [r.data for r in self._product_rows()]
            number = max((int(p["id"]) for p in existing), default=999) + 1
            variant = max((int(p["variant_id"]) for p in existing), default=4999) + 1
            html = spec.get("descriptionHtml") or ""
            data = {
                "id": str(number), "variant_id": str(variant), "sku": "", "title": title,
                "category": spec.get("productType") or "", "vendor": spec.get("vendor") or self.account.name,
                "description": re.sub(r"<[^>]+>", " ", html).strip(), "description_html": html,
                "price": "0.00", "mrp": None, "quantity": 0, "barcode": None, "tracked": False,
                "status": spec.get("status") or "ACTIVE", "tags": list(spec.get("tags") or []),
                "currency": self.account.settings.get("currency", "INR"),
                "images": [m["originalSource"] for m in media if m.get("mediaContentType") == "IMAGE"],
            }
            row = SandboxObject._default_manager.create(account=self.account, kind="product", key=f"product-{number}",
                                                        data=data, updated_at=_now())
        return {"product": product_node(row), "shop": shop_node(self.account), "userErrors": []}

    def product_delete(self, info, input, synchronous=True):
        require_scope(self.grant, info, "write_products")
        number = gid_number(input.get("id"), "Product")
        row = next((r for r in self._product_rows() if number is not None and int(r.data["id"]) == number), None)
        if row is None:
            return {"deletedProductId": None, "productDeleteOperation": None, "shop": shop_node(self.account),
                    "userErrors": [_user_error(["id"], "Product does not exist")]}
        row.delete()
        return {"deletedProductId": input["id"], "productDeleteOperation": None, "shop": shop_node(self.account),
                "userErrors": []}

    def fulfillment_create(self, info, fulfillment, message=None):
        require_scope(self.grant, info, "write_merchant_managed_fulfillment_orders", "write_assigned_fulfillment_orders",
                      "write_third_party_fulfillment_orders")
        groups = fulfillment.get("lineItemsByFulfillmentOrder") or []
        if not groups:
            return {"fulfillment": None, "userErrors": [_user_error(
                ["fulfillment", "lineItemsByFulfillmentOrder"], "Line items by fulfillment order can't be blank")]}
        orders = {gid_number(g["fulfillmentOrderId"], "FulfillmentOrder") for g in groups}
        if None in orders or len(orders) != 1 or next(iter(orders)) % 10 != 1:
            return {"fulfillment": None, "userErrors": [_user_error(
                ["fulfillment", "lineItemsByFulfillmentOrder"], "Fulfillment orders must belong to the same order.")]}
        order_id = str(next(iter(orders)) // 10)
        row = dataset.objects(self.account, "order").filter(key=order_id).first()
        if row is None:
            return {"fulfillment": None, "userErrors": [_user_error(
                ["fulfillment", "lineItemsByFulfillmentOrder", "0", "fulfillmentOrderId"],
                "Fulfillment order does not exist.")]}
        order = row.data
        fo = _fulfillment_order_node(self.account, order)
        if fo["status"] not in ("OPEN", "IN_PROGRESS"):
            return {"fulfillment": None, "userErrors": [_user_error(
                ["fulfillment"], f"Fulfillment order {fo['id']} has an unfulfillable status= {fo['status'].lower()}.")]}
        remaining = {_fo_line_id(line["id"]): (line, line["quantity"] - (order.get("fulfilled") or {}).get(line["id"], 0))
                     for line in order["lines"]}
        shipping: dict[str, int] = {}
        for group in groups:
            wanted = group.get("fulfillmentOrderLineItems")
            if not wanted:
                for line, left in remaining.values():
                    if left > 0:
                        shipping[line["id"]] = left
                continue
            for index, item in enumerate(wanted):
                entry = remaining.get(gid_number(item["id"], "FulfillmentOrderLineItem") or -1)
                if entry is None or not 0 < item["quantity"] <= entry[1]:
                    return {"fulfillment": None, "userErrors": [_user_error(
                        ["fulfillment", "lineItemsByFulfillmentOrder", "0", "fulfillmentOrderLineItems", str(index)],
                        "Invalid fulfillment order line item quantity requested.")]}
                shipping[entry[0]["id"]] = item["quantity"]
        tracking_in = fulfillment.get("trackingInfo") or {}
        tracking = {"carrier": tracking_in.get("company") or "", "number": tracking_in.get("number") or "",
                    "url": tracking_in.get("url") or ""}
        fulfilled = dict(order.get("fulfilled") or {})
        for line_id, quantity in shipping.items():
            fulfilled[line_id] = fulfilled.get(line_id, 0) + quantity
        complete = all(fulfilled.get(line["id"], 0) >= line["quantity"] for line in order["lines"])
        record = {"id": str(int(order_id) * 10 + 2 + len(order.get("fulfilments") or []) * 100),
                  "created_at": dataset.iso(_now()), "lines": shipping, "tracking": tracking}
        changes: dict[str, Any] = {"fulfilled": fulfilled, "fulfilments": [*(order.get("fulfilments") or []), record]}
        if complete:
            changes.update(status="shipped", tracking=tracking)
        order = dataset.order_update(self.account, order_id, **changes)
        return {"fulfillment": _fulfilment_node(order, record, order_state(order)), "userErrors": []}

    def webhook_subscription_create(self, info, topic, webhookSubscription):
        spec = webhookSubscription
        url = (spec.get("callbackUrl") or "").strip()
        field = ["webhookSubscription", "callbackUrl"]
        parts = urlsplit(url)
        if not url:
            return {"webhookSubscription": None, "userErrors": [_user_error(field, "Address can't be blank")]}
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return {"webhookSubscription": None, "userErrors": [_user_error(field, "Address is invalid")]}
        if parts.scheme == "http" and parts.hostname not in _plain_http_hosts():
            return {"webhookSubscription": None, "userErrors": [_user_error(field, "Address protocol http:// is not supported")]}
        if (spec.get("format") or "JSON") != "JSON":
            return {"webhookSubscription": None, "userErrors": [_user_error(
                ["webhookSubscription", "format"], "The Haat sandbox delivers JSON only")]}
        if topic not in TOPICS:
            return {"webhookSubscription": None, "userErrors": [_user_error(
                ["topic"], f"The Haat sandbox does not deliver {topic}")]}
        rows = dataset.objects(self.account, "webhook")
        if any(r.data["topic"] == topic and r.data["callback_url"] == url for r in rows):
            return {"webhookSubscription": None,
                    "userErrors": [_user_error(field, "Address for this topic has already been taken")]}
        now = _now()
        number = 1_100_000_000 + rows.count() + 1 + _roll("webhook", self.account.account_id, topic, url) % 10**6 * 100
        row = SandboxObject._default_manager.create(
            account=self.account, kind="webhook", key=str(number), updated_at=now,
            data={"topic": topic, "callback_url": url, "format": "JSON", "created_at": dataset.iso(now),
                  "api_version": SCHEMA_VERSION, "include_fields": spec.get("includeFields") or [],
                  "filter": spec.get("filter")},
        )
        return {"webhookSubscription": _webhook_node(row), "userErrors": []}

    def webhook_subscription_delete(self, info, id):
        number = gid_number(id, "WebhookSubscription")
        deleted, _ = dataset.objects(self.account, "webhook").filter(key=str(number)).delete() if number else (0, {})
        if not deleted:
            return {"deletedWebhookSubscriptionId": None,
                    "userErrors": [_user_error(["id"], "Webhook subscription does not exist")]}
        return {"deletedWebhookSubscriptionId": id, "userErrors": []}


def _plain_http_hosts() -> set[str]:
    """Shopify only delivers to https://; the sandbox also accepts http:// to this machine and the demo app."""
    hosts = set(LOCAL_HOSTS)
    for url in (settings.SANDBOX_WEBHOOK_TARGET, settings.SITE_URL):
        if url and urlsplit(url).hostname:
            hosts.add(urlsplit(url).hostname)
    return hosts


def _webhook_node(row: SandboxObject) -> dict:
    data = row.data
    return {
        "__typename": "WebhookSubscription", "id": gid("WebhookSubscription", row.key), "legacyResourceId": row.key,
        "topic": data["topic"], "format": data["format"], "createdAt": data["created_at"], "updatedAt": data["created_at"],
        "callbackUrl": data["callback_url"], "includeFields": data.get("include_fields") or [],
        "metafieldNamespaces": [], "filter": data.get("filter"),
        "apiVersion": {"handle": data["api_version"], "displayName": data["api_version"], "supported": True},
        "endpoint": {"__typename": "WebhookHttpEndpoint", "callbackUrl": data["callback_url"]},
    }


# --- running a GraphQL request ----------------------------------------------------------------------------------


def _errors(errors: Iterable[GraphQLError]) -> list[dict]:
    return [error.formatted for error in errors]


def execute_graphql(account: SandboxAccount, grant: dict, query: str, variables: dict | None,
                    operation_name: str | None) -> dict:
    """Parse, validate, cost, charge and execute one request; the JSON body Shopify would answer (HTTP 200)."""
    schema = admin_schema()
    try:
        document = parse(query)
    except GraphQLError as exc:
        return {"errors": _errors([exc])}
    problems = validate(schema, document)
    if problems:
        return {"errors": _errors(problems)}
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return {"errors": [{"message": "An operation name is required"}]}
    if operation.operation == OperationType.SUBSCRIPTION:
        return {"errors": [{"message": "Subscriptions are not supported"}]}
    coerced = coerce_variables(schema, operation, variables)
    if isinstance(coerced, list):
        return {"errors": _errors(coerced)}
    requested = query_cost(schema, document, operation, variables)
    if requested > MAX_QUERY_COST:
        return {"errors": [{
            "message": f"Query cost is {requested}, which exceeds the single query max cost limit ({MAX_QUERY_COST}).\n\n"
                       "See https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\n"
                       "cost of a query is calculated.\n\nTo query larger amounts of data with fewer limits, bulk "
                       "operations should be used instead.\nSee https://shopify.dev/tutorials/perform-bulk-operations-"
                       "with-admin-api for usage details.\n",
            "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": MAX_QUERY_COST,
                           "documentation": DOCS_RATE_LIMITS}}]}
    taken, available = _bucket_take(account, requested)
    if not taken:
        return throttled_body(account, requested, available)
    result = execute(schema, document, root_value=Root(account, grant).resolvers(), variable_values=variables or {},
                     operation_name=operation_name)
    actual = query_cost(schema, document, operation, variables, data=result.data or {}) \
        if operation.operation == OperationType.QUERY else requested
    available = _bucket_refund(account, requested - actual)
    body: dict[str, Any] = {}
    if result.errors:
        body["errors"] = _errors(result.errors)
    body["data"] = result.data
    body["extensions"] = _cost_extension(account, requested, actual, available)
    return body


# --- HTTP: errors, the GraphQL endpoint, OAuth ---------------------------------------------------------------------


_current = contextvars.ContextVar("shopify_sandbox_request", default=None)


def _remember_request(view):
    """Keep the request at hand for the fault renderers, which Shopify's THROTTLED answer needs (its cost)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        token = _current.set((request, kwargs))
        try:
            return view(request, *args, **kwargs)
        finally:
            _current.reset(token)

    return wrapper


def _request_id() -> dict[str, str]:
    return {"X-Request-Id": str(uuid.uuid4())}


def json_server_error(status: int, message: str) -> HttpResponse:
    return json_response({"errors": "Internal Server Error"}, status=status, headers=_request_id())


def html_server_error(status: int, message: str) -> HttpResponse:
    return HttpResponse("<!doctype html><title>Something went wrong</title><h1>There was a problem loading this "
                        "page</h1><p>Try again in a few minutes.</p>", status=status, content_type="text/html")


def rest_rate_limited() -> HttpResponse:
    return json_response({"errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume "
                                    "uninterrupted service."}, status=429, headers={"Retry-After": "2.0", **_request_id()})


def html_rate_limited() -> HttpResponse:
    response = HttpResponse("<!doctype html><title>Too many requests</title><h1>Too many requests</h1>",
                            status=429, content_type="text/html")
    response["Retry-After"] = "2.0"
    return response


def graphql_throttled() -> HttpResponse:
    """Fault injection's 429 for GraphQL: Shopify answers 200 with a THROTTLED error and the bucket's state."""
    request, kwargs = _current.get() or (None, {})
    account = dataset.get_account(PLATFORM, kwargs.get("shop", "")) if kwargs else None
    requested = 1
    if request is not None:
        try:
            body = json.loads(request.body or b"{}")
            document = parse(body["query"])
            operation = get_operation_ast(document, body.get("operationName"))
            requested = query_cost(admin_schema(), document, operation, body.get("variables") or {})
        except (ValueError, KeyError, TypeError, AttributeError, GraphQLError):
            requested = 1
    return json_response(throttled_body(account, requested, 0), headers={
        "X-Shopify-API-Version": SCHEMA_VERSION, **_request_id()})


@_remember_request
@sandbox_endpoint(server_error=json_server_error, rate_limited=graphql_throttled)
def graphql_view(request: HttpRequest, shop: str, version: str) -> HttpResponse:
    account = dataset.get_account(PLATFORM, shop)
    if account is None or not VERSION_RE.match(version):
        return json_response({"errors": "Not Found"}, status=404, headers=_request_id())
    if request.method != "POST":
        return json_response({"errors": "Method not allowed"}, status=405, headers={"Allow": "POST"})
    grant = _grant(account, request.headers.get("X-Shopify-Access-Token", ""))
    if grant is None:
        return json_response(INVALID_TOKEN_BODY, status=401, headers=_request_id())
    if request.content_type == "application/graphql":
        payload: Any = {"query": request.body.decode("utf-8", errors="replace")}
    else:
        payload = read_json(request)
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str) or not payload["query"].strip():
        return json_response({"errors": {"query": "Required parameter missing or invalid"}}, status=400)
    variables = payload.get("variables") or {}
    if not isinstance(variables, dict):
        return json_response({"errors": {"variables": "Must be a JSON object"}}, status=400)
    try:
        admin_schema()
    except OSError:
        # Not Shopify's answer: the sandbox cannot play the API without the schema it executes.
        return json_response({"errors": f"The Shopify sandbox needs Shopify's schema at {schema_path()} "
                                        "(settings.SANDBOX_SHOPIFY_SCHEMA)"}, status=503)
    body = execute_graphql(account, grant, payload["query"], variables, payload.get("operationName"))
    return json_response(body, headers={"X-Shopify-API-Version": SCHEMA_VERSION, **_request_id()})


def callback_hmac(params: dict[str, str]) -> str:
    """Shopify's callback signature: drop hmac, sort the rest, join key=value with &, HMAC-SHA256 hex."""
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in ("hmac", "signature"))
    return hmac.new(settings.SHOPIFY_CLIENT_SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()


CONSENT_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Install app · {{ shop_name }}</title>
<style>body{font-family:system-ui,sans-serif;margin:0;background:#f1f1f1}main{max-width:34rem;margin:2rem auto;
background:#fff;border-radius:.75rem;padding:1.5rem;box-shadow:0 1px 3px #0002}h1{font-size:1.3rem}
li{margin:.2rem 0}.actions{display:flex;gap:.75rem;margin-top:1.5rem}button,a.button{font:inherit;padding:.6rem 1.2rem;
border-radius:.5rem;border:1px solid #8a8a8a;background:#fff;color:#303030;text-decoration:none;cursor:pointer}
button.primary{background:#303030;color:#fff;border-color:#303030}.note{color:#616161;font-size:.85rem}</style></head>
<body><main>
<p class="note">Shopify sandbox · {{ shop }}</p>
<h1>Install Haat on {{ shop_name }}?</h1>
<p>Haat will be able to:</p>
<ul>{% for scope in scopes %}<li>{{ scope }}</li>{% endfor %}</ul>
{% if error %}<p role="alert">{{ error }}</p>{% endif %}
<form method="post">
{% for name, value in fields %}<input type="hidden" name="{{ name }}" value="{{ value }}">{% endfor %}
<div class="actions"><button class="primary" type="submit" name="action" value="install">Install</button>
<button type="submit" name="action" value="cancel">Cancel</button></div>
</form>
<p class="note">This page plays Shopify's install screen for the demo; no real store is involved.</p>
</main></body></html>"""

MESSAGE_TEMPLATE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{{ title }}</title></head>
<body style="font-family:system-ui,sans-serif;max-width:34rem;margin:2rem auto"><h1>{{ title }}</h1><p>{{ message }}</p>
</body></html>"""


def _page(template: str, status: int = 200, **context: Any) -> HttpResponse:
    html = engines["django"].from_string(template).render(context)
    return HttpResponse(html, status=status, content_type="text/html; charset=utf-8")


def _describe_scope(scope: str) -> str:
    verb, _, thing = scope.partition("_")
    return f"{'View and edit' if verb == 'write' else 'View'} {thing.replace('_', ' ')}"


@_remember_request
@sandbox_endpoint(server_error=html_server_error, rate_limited=html_rate_limited)
def authorize_view(request: HttpRequest, shop: str) -> HttpResponse:
    """The install (consent) screen; Install redirects to the app with code, hmac, host, shop, state, timestamp."""
    account = dataset.get_account(PLATFORM, shop)
    if account is None:
        return _page(MESSAGE_TEMPLATE, 404, title="There's no store at this address",
                     message=f"{shop} is not a sandbox shop. Run `manage.py seed_demo`, or check the domain.")
    params = request.POST if request.method == "POST" else request.GET
    client_id, redirect_uri = params.get("client_id", ""), params.get("redirect_uri", "")
    scopes = [s.strip() for s in params.get("scope", "").split(",") if s.strip()]
    if client_id != settings.SHOPIFY_CLIENT_ID or not client_id:
        return _page(MESSAGE_TEMPLATE, 400, title="Oauth error invalid_request",
                     message="The client_id is invalid or the app does not exist.")
    parts = urlsplit(redirect_uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return _page(MESSAGE_TEMPLATE, 400, title="Oauth error invalid_request",
                     message="The redirect_uri is missing or is not whitelisted.")
    bad = [s for s in scopes if not re.fullmatch(r"(read|write|unauthenticated_read|unauthenticated_write)_[a-z_]+", s)]
    if bad:
        return _page(MESSAGE_TEMPLATE, 400, title="Oauth error invalid_scope",
                     message=f"The access scope is invalid: {', '.join(bad)}")
    fields = [(name, params[name]) for name in ("client_id", "scope", "redirect_uri", "state") if name in params]
    if request.method != "POST":
        return _page(CONSENT_TEMPLATE, shop=shop, shop_name=account.name, scopes=[_describe_scope(s) for s in scopes],
                     fields=fields)
    if params.get("action") != "install":
        return _page(MESSAGE_TEMPLATE, title="App not installed",
                     message="You cancelled the installation. Nothing was shared with the app; you can close this page.")
    code = secrets.token_hex(16)
    now = _now()
    SandboxObject._default_manager.create(
        account=account, kind="auth_code", key=_digest(code), updated_at=now,
        data={"client_id": client_id, "scope": ",".join(scopes), "redirect_uri": redirect_uri, "used": False,
              "expires_at": dataset.iso(now + timedelta(seconds=AUTH_CODE_TTL))},
    )
    handle = shop.split(".")[0]
    answer = {"code": code, "host": base64.b64encode(f"admin.shopify.com/store/{handle}".encode()).decode().rstrip("="),
              "shop": shop, "timestamp": str(int(time.time()))}
    if "state" in params:
        answer["state"] = params["state"]
    answer["hmac"] = callback_hmac(answer)
    separator = "&" if parts.query else "?"
    return HttpResponseRedirect(f"{redirect_uri}{separator}{urlencode(answer)}")


def _oauth_error(error: str, description: str, status: int = 400) -> HttpResponse:
    return json_response({"error": error, "error_description": description}, status=status, headers=_request_id())


@_remember_request
@sandbox_endpoint(server_error=json_server_error, rate_limited=rest_rate_limited)
def access_token_view(request: HttpRequest, shop: str) -> HttpResponse:
    """Exchange a single-use authorization code, or a refresh token, for an offline access token."""
    account = dataset.get_account(PLATFORM, shop)
    if account is None:
        return json_response({"errors": "Not Found"}, status=404)
    if request.method != "POST":
        return json_response({"errors": "Method not allowed"}, status=405, headers={"Allow": "POST"})
    body = read_json(request) if request.content_type == "application/json" else request.POST.dict()
    if not isinstance(body, dict):
        return _oauth_error("invalid_request", "The request body is not valid")
    client_id, client_secret = str(body.get("client_id") or ""), str(body.get("client_secret") or "")
    if not (client_id and client_id == settings.SHOPIFY_CLIENT_ID
            and hmac.compare_digest(client_secret.encode(), settings.SHOPIFY_CLIENT_SECRET.encode())):
        return _oauth_error("invalid_client", "Client authentication failed: the client_id or client_secret is wrong",
                            status=401)
    expiring = str(body.get("expiring", "")) == "1"
    if body.get("grant_type") == "refresh_token":
        return _refresh(account, str(body.get("refresh_token") or ""))
    code = str(body.get("code") or "")
    with transaction.atomic():
        row = dataset.objects(account, "auth_code").select_for_update().filter(key=_digest(code)).first() if code else None
        usable = (row is not None and not row.data["used"] and row.data["client_id"] == client_id
                  and dataset.parse_iso(row.data["expires_at"]) > dj_timezone.now())
        if not usable:
            return _oauth_error("invalid_request", "The authorization code was not found or was already used")
        row.data["used"] = True
        row.save(update_fields=["data"])
    return json_response(issue_tokens(account, scope=row.data["scope"], expiring=expiring), headers=_request_id())


def _refresh(account: SandboxAccount, refresh_token: str) -> HttpResponse:
    with transaction.atomic():
        row = _token_rows(account, refresh_token).select_for_update().first() if refresh_token else None
        live = (row is not None and row.data["type"] == "refresh" and not row.data["revoked"]
                and dataset.parse_iso(row.data["expires_at"]) > dj_timezone.now())
        if not live:
            return _oauth_error("invalid_grant", "The refresh token is invalid, expired or revoked")
        # Rotation: the refresh token and its access token are spent; a new pair is issued.
        spent = [row, *dataset.objects(account, "token").filter(key=row.data.get("pair", ""))]
        for spent_row in spent:
            spent_row.data["revoked"] = True
        SandboxObject._default_manager.bulk_update(spent, ["data"])
        answer = issue_tokens(account, scope=row.data["scope"], expiring=True)
    return json_response(answer, headers=_request_id())


@csrf_exempt
def create_order_view(request: HttpRequest) -> HttpResponse:
    """Demo control (not a Shopify API): POST {"shop", "line_items": [{"sku", "quantity"}]} places an order
    and sends the signed orders/create deliveries."""
    if request.method != "POST":
        return json_response({"error": "POST a JSON body: {\"shop\": ..., \"line_items\": [...]}"}, status=405)
    body = read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("shop"), str):
        return json_response({"error": "A JSON object with the shop's myshopify.com domain in \"shop\" is required"},
                             status=400)
    account = dataset.get_account(PLATFORM, body["shop"])
    if account is None:
        return json_response({"error": f"No sandbox shop {body['shop']}"}, status=404)
    skus = None
    if body.get("line_items") is not None:
        items = body["line_items"]
        if not isinstance(items, list) or not items or not all(
                isinstance(i, dict) and isinstance(i.get("sku"), str) for i in items):
            return json_response({"error": "line_items must be a non-empty list of {sku, quantity}"}, status=400)
        skus = [(i["sku"], i.get("quantity", 1)) for i in items]
    try:
        order, deliveries = _create_order_and_notify(account, skus)
    except ValueError as exc:
        return json_response({"error": str(exc)}, status=400)
    return json_response({"order": rest_order(account, order), "deliveries": deliveries}, status=201)


urlpatterns = [
    path("_sandbox/orders", create_order_view, name="create_order"),
    path("<str:shop>/admin/oauth/authorize", authorize_view, name="authorize"),
    path("<str:shop>/admin/oauth/access_token", access_token_view, name="access_token"),
    path("<str:shop>/admin/api/<str:version>/graphql.json", graphql_view, name="graphql"),
]
