"""Amazon's Selling Partner API and Login with Amazon (LWA), played locally for the demo and the tests.

The sandbox answers the SP-API paths Haat calls, with Amazon's own field names, status vocabulary,
pagination tokens, error bodies ({"errors": [{code, message, details}]}) and headers (x-amzn-RequestId,
x-amzn-RateLimit-Limit), as described by the official models in ../shared/specs/amazon-sp-api/:

- Orders 2026-01-01 `searchOrders`, items inline, `includedData` honoured;
- Orders v0 `confirmShipment` (merchant-fulfilled orders only);
- FBA Inventory v1 `getInventorySummaries` (read-only stock in Amazon's warehouses);
- Listings Items 2021-08-01 search, get, PATCH (stock, price, MRP) and PUT (new listing);
- Sellers v1 `getMarketplaceParticipations` (the cheap call behind "test connection");
- LWA: the Seller Central consent page of the website authorization workflow and POST /auth/o2/token
  (authorization_code and refresh_token grants, LWA's error shapes).

Orders and products live as SandboxObject rows in the neutral shapes of apps/sandbox/dataset.py; this
module only renders them as Amazon would and maps requests back. Tokens, codes and the selling partner
id are per SandboxAccount, so a request's access token says which seller it acts for.

Where Amazon has no word for a neutral status it is rendered as closely as the API allows: `delivered`
and `returned` are order-level states Amazon does not have; for merchant-fulfilled orders they show in
the package status (DELIVERED, or UNDELIVERABLE / RETURNED_TO_SELLER), and Amazon-fulfilled orders,
which carry no packages in this API, stay SHIPPED.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template import engines
from django.urls import include, path, re_path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from apps.sandbox import dataset
from apps.sandbox.http import json_response, sandbox_endpoint
from apps.sandbox.models import SandboxAccount, SandboxObject

PLATFORM = "amazon"

# The marketplaces a sandbox seller may sell on: id -> facts Amazon reports about it, and its SP-API region.
MARKETPLACES: dict[str, dict[str, str]] = {
    "A21TJRUUN4KGV": {"name": "Amazon.in", "country": "IN", "currency": "INR", "language": "en_IN", "domain": "amazon.in",
                      "region": "eu"},
    "ATVPDKIKX0DER": {"name": "Amazon.com", "country": "US", "currency": "USD", "language": "en_US", "domain": "amazon.com",
                      "region": "na"},
    "A2EUQ1WTGCTBG2": {"name": "Amazon.ca", "country": "CA", "currency": "CAD", "language": "en_CA", "domain": "amazon.ca",
                       "region": "na"},
    "A1F83G8C2ARO7P": {"name": "Amazon.co.uk", "country": "GB", "currency": "GBP", "language": "en_GB",
                       "domain": "amazon.co.uk", "region": "eu"},
    "A1PA6795UKMFR9": {"name": "Amazon.de", "country": "DE", "currency": "EUR", "language": "de_DE", "domain": "amazon.de",
                       "region": "eu"},
    "A19VAU5U5O7RUS": {"name": "Amazon.sg", "country": "SG", "currency": "SGD", "language": "en_SG", "domain": "amazon.sg",
                       "region": "fe"},
}
# SP-API regions: each has its own endpoint, Seller Central consent and authorisations (/sandbox/amazon/<region>/).
REGIONS = ("na", "eu", "fe")
INDIA = "A21TJRUUN4KGV"

# Default usage plans (requests per second) per operation, sent back in x-amzn-RateLimit-Limit.
RATES = {
    "searchOrders": "0.0056",
    "confirmShipment": "2.0",
    "getInventorySummaries": "2.0",
    "searchListingsItems": "5.0",
    "getListingsItem": "5.0",
    "patchListingsItem": "5.0",
    "putListingsItem": "5.0",
    "getMarketplaceParticipations": "0.016",
}

ACCESS_TOKEN_SECONDS = 3600
AUTH_CODE_SECONDS = 300  # Amazon: the spapi_oauth_code is valid for five minutes, and only once
PAGINATION_TOKEN_SECONDS = 24 * 3600
INVENTORY_PAGE_SIZE = 50

KIND_CODE = "lwa_code"
KIND_REFRESH = "lwa_refresh_token"
KIND_ACCESS = "lwa_access_token"

FULFILLMENT_STATUSES = ("PENDING_AVAILABILITY", "PENDING", "UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED", "CANCELLED",
                        "UNFULFILLABLE")
INCLUDED_DATA = ("BUYER", "RECIPIENT", "PROCEEDS", "EXPENSE", "PROMOTION", "CANCELLATION", "FULFILLMENT", "PACKAGES",
                 "TAX", "PAYMENT", "FULFILLMENT_ORDERS")
LISTING_INCLUDED_DATA = ("summaries", "attributes", "issues", "offers", "fulfillmentAvailability", "procurement",
                         "relationships", "productTypes")
DEMO_CARRIERS = ("India Post", "Delhivery", "Blue Dart", "DTDC")

MSG_DENIED = "Access to requested resource is denied."
DETAIL_EXPIRED = "The access token you provided has expired."
DETAIL_INVALID = "The access token you provided is revoked, malformed or invalid."


class BadRequest(Exception):
    """A request Amazon would answer with 400 InvalidInput; `details` says what is wrong."""

    def __init__(self, details: str, code: str = "InvalidInput"):
        super().__init__(details)
        self.details = details
        self.code = code


# --- small helpers ------------------------------------------------------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _stable(*parts: object) -> int:
    """A deterministic number from the seed and the parts (asin, fnSku, FBA stock...)."""
    text = "|".join(str(p) for p in (settings.SANDBOX_SEED, *parts))
    return int(hashlib.sha256(text.encode()).hexdigest()[:15], 16)


def _now() -> datetime:
    return timezone.now().replace(microsecond=0)


def _base36(n: int, width: int) -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    chars = []
    for _ in range(width):
        n, r = divmod(n, 36)
        chars.append(alphabet[r])
    return "".join(chars)


def _parse_time(value: str, name: str) -> datetime:
    try:
        parsed = dataset.parse_iso(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be an ISO 8601 date-time, got {value!r}.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _csv(request: HttpRequest, name: str) -> list[str]:
    """An array query parameter: comma-separated (Swagger's csv), also accepted repeated."""
    values: list[str] = []
    for raw in request.GET.getlist(name):
        values.extend(v.strip() for v in raw.split(",") if v.strip())
    return values


def _int_param(request: HttpRequest, name: str, default: int, low: int, high: int) -> int:
    raw = request.GET.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer between {low} and {high}.") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be an integer between {low} and {high}.")
    return value


def _encode_token(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_token(token: str, fingerprint: str) -> dict:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, TypeError):
        raise BadRequest("The pagination token is invalid.") from None
    if not isinstance(data, dict) or data.get("f") != fingerprint:
        raise BadRequest("The pagination token is invalid or was issued for other request parameters.")
    if float(data.get("e", 0)) < _now().timestamp():
        raise BadRequest("The pagination token has expired.")
    return data


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def _money(amount: Decimal | str, currency: str) -> dict:
    return {"amount": dataset.money(amount), "currencyCode": currency}


def account_marketplace(account: SandboxAccount) -> str:
    return account.settings.get("marketplace_id", INDIA)


def _currency(account: SandboxAccount) -> str:
    return MARKETPLACES[account_marketplace(account)]["currency"]


def account_region(account: SandboxAccount) -> str:
    """The SP-API region of the seller's account: a seller has one account, with its own tokens, per region."""
    return MARKETPLACES[account_marketplace(account)]["region"]


def account_marketplaces(account: SandboxAccount) -> list[str]:
    """Every marketplace the seller participates in, its home marketplace first (one, unless `add_marketplaces`)."""
    primary = account_marketplace(account)
    return [primary, *[m for m in account.settings.get("marketplace_ids") or [] if m != primary]]


def order_marketplace(account: SandboxAccount, order: dict) -> str:
    return order.get("marketplace_id") or account_marketplace(account)


def listed_marketplaces(account: SandboxAccount, product: dict) -> list[str]:
    """Where a SKU has an offer: its home marketplace, plus those of `offers` (per-marketplace price and quantity)."""
    return [account_marketplace(account), *[m for m in (product.get("offers") or {}) if m in account_marketplaces(account)]]


def offer(account: SandboxAccount, product: dict, marketplace: str) -> dict | None:
    """A SKU's offer in one marketplace: {price, mrp, quantity, currency}, or None where it is not listed."""
    if marketplace == account_marketplace(account):
        return {"price": product.get("price") or "", "mrp": product.get("mrp") or "",
                "quantity": int(product.get("quantity") or 0), "currency": product.get("currency") or _currency(account)}
    found = (product.get("offers") or {}).get(marketplace)
    return dict(found) if found is not None else None


@transaction.atomic
def add_marketplaces(account: SandboxAccount, marketplace_ids: list[str]) -> SandboxAccount:
    """The seller also sells on these marketplaces of the same region (a unified account, e.g. .in + .co.uk + .de).

    Every other product gets an offer on each added marketplace, priced in its currency, and existing orders are
    spread over all the seller's marketplaces (stable per order) with that marketplace's currency, so the
    neutral data stays the ground truth tests compare with.
    """
    unknown = [m for m in marketplace_ids if m not in MARKETPLACES]
    if unknown:
        raise ValueError(f"Unknown marketplace(s): {', '.join(unknown)}")
    elsewhere = [m for m in marketplace_ids if MARKETPLACES[m]["region"] != account_region(account)]
    if elsewhere:
        raise ValueError(f"Marketplace(s) of another region need an account of that region: {', '.join(elsewhere)}")
    dataset.ensure_seeded(account)
    account.settings = {**account.settings, "marketplace_ids": [m for m in marketplace_ids
                                                                if m != account_marketplace(account)]}
    account.save(update_fields=["settings"])
    everywhere = account_marketplaces(account)
    products = list(dataset.objects(account, "product").order_by("key"))
    for index, row in enumerate(products):
        offers = dict(row.data.get("offers") or {})
        for marketplace in everywhere[1:]:
            if index % 2 == 0 and marketplace not in offers:
                home, there = row.data.get("currency") or _currency(account), MARKETPLACES[marketplace]["currency"]
                offers[marketplace] = {
                    **{key: dataset.money(dataset.convert_demo_price(row.data[key], home, there))
                       if row.data.get(key) else "" for key in ("price", "mrp")},
                    "quantity": int(row.data.get("quantity") or 0), "currency": there}
        row.data["offers"] = offers
    SandboxObject.objects.bulk_update(products, ["data"])
    orders = list(dataset.objects(account, "order"))
    for row in orders:
        marketplace = everywhere[_stable("marketplace", row.key) % len(everywhere)]
        home, there = row.data.get("currency") or _currency(account), MARKETPLACES[marketplace]["currency"]
        for line in row.data.get("lines") or []:
            line["unit_price"] = dataset.money(dataset.convert_demo_price(line["unit_price"], home, there))
        row.data["total"] = dataset.money(sum(Decimal(ln["unit_price"]) * ln["quantity"] for ln in row.data["lines"]))
        row.data["marketplace_id"], row.data["currency"] = marketplace, there
    SandboxObject.objects.bulk_update(orders, ["data"])
    return account


# --- Amazon's identifiers for the neutral data ------------------------------------------------------------------


# The first group of an order id per region (Amazon.in's orders start 40x, Amazon.com's 11x): one seller's accounts
# in two regions number their orders alike in the neutral data, and Amazon's order ids are unique across regions.
ORDER_ID_BASE = {"eu": 402, "na": 111, "fe": 503}


def amazon_order_id(neutral_id: str, region: str = "eu") -> str:
    """Amazon's 3-7-7 order id for a neutral order id of an account in `region` (deterministic, reversible)."""
    n = int(neutral_id)
    return f"{ORDER_ID_BASE[region] + n % 6:03d}-{n:07d}-{(n * 7919 + 1234567) % 10**7:07d}"


def neutral_order_id(order_id: str, region: str | None = None) -> str | None:
    """The neutral id behind an Amazon order id (of `region`'s numbering when given), or None."""
    parts = order_id.split("-")
    if len(parts) != 3 or not all(p.isdigit() for p in parts) or [len(p) for p in parts] != [3, 7, 7]:
        return None
    neutral = str(int(parts[1]))
    regions = [region] if region else list(ORDER_ID_BASE)
    return neutral if any(amazon_order_id(neutral, r) == order_id for r in regions) else None


def order_item_id(line_id: str) -> str:
    return f"{int(line_id):014d}"


def asin_for(account: SandboxAccount, sku: str) -> str:
    return "B0" + _base36(_stable("asin", account.account_id, sku), 8)


def fnsku_for(account: SandboxAccount, sku: str) -> str:
    return "X00" + _base36(_stable("fnsku", account.account_id, sku), 7)


def fba_quantities(account: SandboxAccount, sku: str) -> dict[str, int] | None:
    """FBA stock of a SKU when the seller uses Amazon's warehouses (one SKU in four), else None."""
    if not account.settings.get("marketplace_fulfilment") or _stable("fba", account.account_id, sku) % 4:
        return None
    n = _stable("fba-qty", account.account_id, sku)
    return {"fulfillable": n % 41, "inbound_shipped": (n // 41) % 11, "reserved": (n // 451) % 6}


# --- accounts, tokens and the functions seed_demo, the flows and the tests use ---------------------------------


def _register_refresh_token(account: SandboxAccount, token: str, client_id: str) -> None:
    SandboxObject.objects.update_or_create(
        account=account, kind=KIND_REFRESH, key=_digest(token),
        defaults={"data": {"client_id": client_id, "revoked": False}, "updated_at": _now()},
    )


def _new_refresh_token() -> str:
    return "Atzr|" + secrets.token_urlsafe(48)


def create_demo_account(account_id: str, name: str, *, marketplace_id: str = INDIA) -> SandboxAccount:
    """A sandbox seller (selling partner id `account_id`) on one marketplace (Amazon.in unless told), self-authorised
    for Haat's app in that marketplace's region.

    Idempotent: a second call returns the same account and the same demo refresh token.
    """
    if marketplace_id not in MARKETPLACES:
        raise ValueError(f"Unknown marketplace {marketplace_id}")
    account = SandboxAccount._default_manager.filter(platform=PLATFORM, account_id=account_id).first()
    if account is not None:
        if account.name != name:
            account.name = name
            account.save(update_fields=["name"])
        return account
    refresh_token = _new_refresh_token()
    account = dataset.account_create(
        platform=PLATFORM, account_id=account_id, name=name, secrets={"refresh_token": refresh_token},
        settings_={"marketplace_id": marketplace_id, "currency": MARKETPLACES[marketplace_id]["currency"],
                   "marketplace_fulfilment": True, "sku_prefix": "AMZ", "store_name": name},
    )
    _register_refresh_token(account, refresh_token, registered_app()["client_id"])
    return account


def issue_access_token(account: SandboxAccount, *, refresh_key: str = "") -> tuple[str, datetime]:
    """A new LWA access token for the account, valid one hour."""
    token = "Atza|" + secrets.token_urlsafe(48)
    expires_at = _now() + timedelta(seconds=ACCESS_TOKEN_SECONDS)
    SandboxObject.objects.create(
        account=account, kind=KIND_ACCESS, key=_digest(token), updated_at=_now(),
        data={"expires_at": dataset.iso(expires_at), "revoked": False, "refresh_key": refresh_key},
    )
    return token, expires_at


def connection_config(account: SandboxAccount, sandbox_root: str, *other_regions: SandboxAccount) -> dict[str, Any]:
    """What a Haat Connection for this seller keeps in `config` (as the OAuth exchange and adding regions store it):
    the sandbox API root, the marketplaces, the home region and each region's selling partner id. `other_regions`
    are the same seller's accounts in other regions."""
    accounts = [account, *other_regions]
    if len({account_region(a) for a in accounts}) != len(accounts):
        raise ValueError("One account per region")
    return {"base_url": f"{sandbox_root.rstrip('/')}/{PLATFORM}",
            "marketplace_ids": [account_marketplace(a) for a in accounts], "selling_partner_id": account.account_id,
            "selling_partner_ids": {account_region(a): a.account_id for a in accounts},
            "home_region": account_region(account)}


def connection_credentials(account: SandboxAccount, *other_regions: SandboxAccount) -> dict[str, Any]:
    """What a just-authorised Connection holds, per region: the refresh token and a fresh access token with its
    expiry."""
    regions = {}
    for each in (account, *other_regions):
        refresh_token = each.secrets["refresh_token"]
        token, expires_at = issue_access_token(each, refresh_key=_digest(refresh_token))
        regions[account_region(each)] = {"refresh_token": refresh_token, "access_token": token,
                                         "access_token_expires_at": expires_at.isoformat()}
    return {"regions": regions}


def revoke_authorization(account: SandboxAccount) -> None:
    """The seller removed Haat in Seller Central: every refresh and access token of the account stops working."""
    rows = list(dataset.objects(account, KIND_REFRESH)) + list(dataset.objects(account, KIND_ACCESS))
    for row in rows:
        row.data["revoked"] = True
    SandboxObject.objects.bulk_update(rows, ["data"])


def expire_access_tokens(account: SandboxAccount) -> None:
    """Make every access token of the account expired (as an hour passing would)."""
    rows = list(dataset.objects(account, KIND_ACCESS))
    past = dataset.iso(_now() - timedelta(seconds=1))
    for row in rows:
        row.data["expires_at"] = past
    SandboxObject.objects.bulk_update(rows, ["data"])


def create_order(account: SandboxAccount, *, skus: list[tuple[str, int]] | None = None) -> dict:
    """A buyer just bought: a new unshipped order, visible to searchOrders at once.

    Amazon pushes order events through the Notifications API to SQS or EventBridge, never to an HTTP
    webhook, so nothing is delivered to the app: Haat sees the order at its next poll.
    """
    if skus:
        known = set(dataset.objects(account, "product").filter(key__in=[s for s, _ in skus]).values_list("key", flat=True))
        missing = [s for s, _ in skus if s not in known]
        if missing:
            raise ValueError(f"Unknown SKU(s): {', '.join(missing)}")
        if any(int(q) < 1 for _, q in skus):
            raise ValueError("Quantities must be at least 1.")
    return dataset.order_create(account, skus=skus)


# --- rendering: neutral -> Amazon ----------------------------------------------------------------------------


def _packages(account: SandboxAccount, order: dict) -> list[dict]:
    """The order's packages (merchant-fulfilled only): confirmed shipments, or ones implied by its status."""
    status = order["status"]
    stored = [dict(p) for p in order.get("amazon_packages", [])]
    if not stored and status in ("shipped", "delivered", "returned"):
        n = _stable("package", account.account_id, order["id"])
        carrier = (order.get("tracking") or {}).get("carrier") or DEMO_CARRIERS[n % len(DEMO_CARRIERS)]
        number = (order.get("tracking") or {}).get("number") or f"{n % 10**12:012d}"
        ship_time = min(dataset.parse_iso(order["created_at"]) + timedelta(hours=20), dataset.parse_iso(order["updated_at"]))
        stored = [{"packageReferenceId": "1", "carrier": carrier, "trackingNumber": number, "shippingService": "Standard",
                   "shipTime": dataset.iso(ship_time), "createdTime": dataset.iso(ship_time),
                   "items": [{"orderItemId": order_item_id(ln["id"]), "quantity": ln["quantity"]} for ln in order["lines"]]}]
    if status == "delivered":
        state = {"status": "DELIVERED", "detailedStatus": "DELIVERED"}
    elif status == "returned":
        state = {"status": "UNDELIVERABLE", "detailedStatus": "RETURNED_TO_SELLER"}
    elif order.get("amazon_packages"):
        state = {"status": "SHIPPED", "detailedStatus": "PICKED_UP"}
    else:
        state = {"status": "IN_TRANSIT", "detailedStatus": "AT_DESTINATION_FC"}
    rendered = []
    for package in stored:
        entry = {"packageReferenceId": package["packageReferenceId"], "createdTime": package["createdTime"],
                 "packageStatus": state, "carrier": package["carrier"], "shipTime": package["shipTime"],
                 "trackingNumber": package["trackingNumber"],
                 "packageItems": [{"orderItemId": i["orderItemId"], "quantity": i["quantity"]} for i in package["items"]]}
        if package.get("shippingService"):
            entry["shippingService"] = package["shippingService"]
        rendered.append(entry)
    return rendered


def _shipped_quantities(order: dict) -> dict[str, int]:
    shipped: dict[str, int] = {}
    for package in order.get("amazon_packages", []):
        for item in package["items"]:
            shipped[item["orderItemId"]] = shipped.get(item["orderItemId"], 0) + int(item["quantity"])
    return shipped


def fulfillment_status(order: dict) -> str:
    """Amazon's FulfillmentStatus for a neutral order."""
    status = order["status"]
    if status == "pending":
        return "PENDING"
    if status == "cancelled":
        return "CANCELLED"
    if status == "unshipped":
        return "PARTIALLY_SHIPPED" if any(_shipped_quantities(order).values()) else "UNSHIPPED"
    return "SHIPPED"  # shipped, delivered, returned: Amazon's order status ends at the handover to the carrier


def render_order(account: SandboxAccount, order: dict, included: set[str]) -> dict:
    """A neutral order as an Orders API 2026-01-01 `Order`, with the datasets `included` asks for."""
    marketplace = order_marketplace(account, order)
    facts = MARKETPLACES[marketplace]
    currency = order["currency"]
    afn = order.get("fulfilment_channel") == "marketplace"
    status = fulfillment_status(order)
    shipped = _shipped_quantities(order)
    rendered: dict[str, Any] = {
        "orderId": amazon_order_id(order["id"], account_region(account)),
        "createdTime": order["created_at"],
        "lastUpdatedTime": order["updated_at"],
        "programs": ["PRIME"] if afn else [],
        "salesChannel": {"channelName": "AMAZON", "marketplaceId": marketplace, "marketplaceName": facts["name"]},
    }
    if "BUYER" in included:
        buyer = {"buyerName": order["buyer"]["name"]}
        # Amazon shares the (anonymised) buyer email only for merchant-fulfilled orders being worked on.
        if not afn and status in ("UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED"):
            buyer["buyerEmail"] = f"{_stable('email', order['id']) % 16**14:014x}@marketplace.{facts['domain']}"
        rendered["buyer"] = buyer
    if "RECIPIENT" in included:
        address = order["address"]
        delivery = {"name": address["name"], "addressLine1": address["line1"], "city": address["city"],
                    "stateOrRegion": address["state"], "postalCode": address["postcode"],
                    "countryCode": address["country"], "addressType": "RESIDENTIAL"}
        if not afn and order["status"] not in ("delivered", "returned", "cancelled"):
            delivery["phone"] = order["buyer"]["phone"]  # suppressed for FBA and after delivery
        rendered["recipient"] = {"deliveryAddress": delivery}
    if "PROCEEDS" in included:
        rendered["proceeds"] = {"grandTotal": _money(order["total"], currency),
                                "breakdowns": [{"type": "ITEM", "subtotal": _money(order["total"], currency)}]}
    if "FULFILLMENT" in included:
        created = dataset.parse_iso(order["created_at"])
        rendered["fulfillment"] = {
            "fulfillmentStatus": status, "fulfilledBy": "AMAZON" if afn else "MERCHANT",
            "fulfillmentServiceLevel": "STANDARD",
            "shipByWindow": {"earliestDateTime": dataset.iso(created),
                             "latestDateTime": dataset.iso(created + timedelta(days=2))},
            "deliverByWindow": {"earliestDateTime": dataset.iso(created + timedelta(days=3)),
                                "latestDateTime": dataset.iso(created + timedelta(days=7))},
        }
    items = []
    for line in order["lines"]:
        item_id = order_item_id(line["id"])
        quantity = int(line["quantity"])
        item: dict[str, Any] = {
            "orderItemId": item_id, "quantityOrdered": quantity,
            "product": {"asin": asin_for(account, line["sku"]), "title": line["title"], "sellerSku": line["sku"],
                        "condition": {"conditionType": "NEW", "conditionSubtype": "NEW"},
                        "price": {"unitPrice": _money(line["unit_price"], currency)}},
        }
        if "PROCEEDS" in included:
            subtotal = Decimal(line["unit_price"]) * quantity
            item["proceeds"] = {"proceedsTotal": _money(subtotal, currency),
                                "breakdowns": [{"type": "ITEM", "subtotal": _money(subtotal, currency)}]}
        if "FULFILLMENT" in included:
            if status == "SHIPPED":
                done = quantity
            elif status in ("UNSHIPPED", "PARTIALLY_SHIPPED"):
                done = min(quantity, shipped.get(item_id, 0))
            else:
                done = 0
            remaining = 0 if status == "CANCELLED" else quantity - done
            item["fulfillment"] = {"quantityFulfilled": done, "quantityUnfulfilled": remaining}
        if "CANCELLATION" in included and status == "CANCELLED":
            item["cancellation"] = {"cancellationExecution": {"cancelledBy": "BUYER", "cancelReason": "Buyer cancelled"}}
        items.append(item)
    rendered["orderItems"] = items
    if "PACKAGES" in included and not afn:
        packages = _packages(account, order)
        if packages:
            rendered["packages"] = packages
    return rendered


def _listing_item(account: SandboxAccount, row: SandboxObject, included: set[str],
                  marketplaces: list[str] | None = None) -> dict:
    """A listing as Amazon shows it for the marketplaces asked (its home marketplace when none): one summary and
    one offer per marketplace it is listed on; the quantity is that of the first of them."""
    product = row.data
    listed = listed_marketplaces(account, product)
    shown = [m for m in (marketplaces or [account_marketplace(account)]) if m in listed] or listed[:1]
    marketplace = shown[0]
    currency = product.get("currency") or _currency(account)
    item: dict[str, Any] = {"sku": product["sku"]}
    quantity = int((offer(account, product, marketplace) or {}).get("quantity") or 0)
    if "summaries" in included:
        item["summaries"] = []
        for mid in shown:
            own = offer(account, product, mid) or {}
            summary = {"marketplaceId": mid, "asin": asin_for(account, product["sku"]),
                       "productType": product.get("product_type", "PRODUCT"), "conditionType": "new_new",
                       "status": ["BUYABLE", "DISCOVERABLE"] if own.get("quantity") and own.get("price")
                       else ["DISCOVERABLE"],
                       "itemName": product["title"],
                       "createdDate": product.get("created_at") or dataset.iso(account.created_at),
                       "lastUpdatedDate": dataset.iso(row.updated_at)}
            if fba_quantities(account, product["sku"]) is not None:
                summary["fnSku"] = fnsku_for(account, product["sku"])
            item["summaries"].append(summary)
    if "offers" in included:
        offers = [(mid, offer(account, product, mid) or {}) for mid in shown]
        offers = [{"marketplaceId": mid, "offerType": "B2C", "price": _money(own["price"], own["currency"]),
                   "audience": {"value": "ALL", "displayName": "Sell on Amazon"}} for mid, own in offers if own.get("price")]
        if offers:
            item["offers"] = offers
    if "fulfillmentAvailability" in included:
        item["fulfillmentAvailability"] = [{"fulfillmentChannelCode": "DEFAULT", "quantity": quantity}]
    if "attributes" in included:
        attributes = dict(product.get("attributes") or {})
        attributes["item_name"] = [{"value": product["title"], "language_tag": MARKETPLACES[marketplace]["language"],
                                    "marketplace_id": marketplace}]
        if product.get("mrp"):
            attributes["list_price"] = [{"currency": currency, "value_with_tax": float(Decimal(product["mrp"])),
                                         "marketplace_id": marketplace}]
        item["attributes"] = attributes
    if "issues" in included:
        item["issues"] = []
    if "productTypes" in included:
        item["productTypes"] = [{"marketplaceId": marketplace, "productType": product.get("product_type", "PRODUCT")}]
    return item


# --- HTTP answers -------------------------------------------------------------------------------------------


def _sp_headers(operation: str | None = None) -> dict[str, str]:
    headers = {"x-amzn-RequestId": str(uuid.uuid4())}
    if operation in RATES:
        headers["x-amzn-RateLimit-Limit"] = RATES[operation]
    return headers


def sp_error(status: int, code: str, message: str, details: str = "", *, operation: str | None = None) -> HttpResponse:
    """SP-API's error body: {"errors": [{"code", "message", "details"}]}."""
    return json_response({"errors": [{"code": code, "message": message, "details": details}]}, status=status,
                         headers=_sp_headers(operation))


def _server_error(status: int, message: str) -> HttpResponse:
    return sp_error(status, "InternalFailure", "We encountered an internal error. Please try again.", "")


def _quota_exceeded(operation: str) -> HttpResponse:
    return sp_error(429, "QuotaExceeded", "You exceeded your quota for the requested resource.", "", operation=operation)


def _lwa_error(status: int, error: str, description: str) -> HttpResponse:
    return json_response({"error_description": description, "error": error}, status=status,
                         headers={"x-amzn-RequestId": str(uuid.uuid4()), "Cache-Control": "no-store"})


def _authenticate(request: HttpRequest, region: str | None = None) -> tuple[SandboxAccount | None, HttpResponse | None]:
    """The seller an SP-API call acts for, from its x-amz-access-token; or Amazon's 403, also for a token of
    another region than the endpoint's (the unprefixed paths are the single-region sandbox of old)."""
    token = request.headers.get("x-amz-access-token", "")
    if not token:
        return None, sp_error(403, "Unauthorized", MSG_DENIED, "")
    row = SandboxObject.objects.select_related("account").filter(
        kind=KIND_ACCESS, key=_digest(token), account__platform=PLATFORM).first()
    if row is None or row.data.get("revoked"):
        return None, sp_error(403, "Unauthorized", MSG_DENIED, DETAIL_INVALID)
    if dataset.parse_iso(row.data["expires_at"]) <= timezone.now():
        return None, sp_error(403, "Unauthorized", MSG_DENIED, DETAIL_EXPIRED)
    account = row.account
    if region is not None and account_region(account) != region:
        return None, sp_error(403, "Unauthorized", MSG_DENIED, DETAIL_INVALID)
    if not account.seeded:
        dataset.ensure_seeded(account)
    return account, None


def sp_api(operation: str, methods: tuple[str, ...]):
    """An SP-API view: fault injection in Amazon's shapes, method check, token check, 400s as InvalidInput."""

    def decorator(view):
        @sandbox_endpoint(server_error=_server_error, rate_limited=lambda: _quota_exceeded(operation))
        def wrapper(request: HttpRequest, *args, region: str | None = None, **kwargs):
            if request.method not in methods:
                return HttpResponseNotAllowed(methods)
            account, error = _authenticate(request, region)
            if error is not None:
                return error
            try:
                return view(request, account, *args, **kwargs)
            except BadRequest as exc:
                return sp_error(400, exc.code, "Request has missing or invalid parameters and cannot be parsed.",
                                exc.details, operation=operation)

        wrapper.__name__ = view.__name__
        return wrapper

    return decorator


def _marketplace_ids(request: HttpRequest, account: SandboxAccount, *, required: bool, max_items: int = 50) -> list[str]:
    ids = _csv(request, "marketplaceIds")
    if required and not ids:
        raise BadRequest("Missing required parameter 'marketplaceIds'.")
    if len(ids) > max_items:
        raise BadRequest(f"marketplaceIds accepts at most {max_items} value(s).")
    for marketplace in ids:
        if marketplace not in account_marketplaces(account):
            raise BadRequest(f"Invalid marketplace id '{marketplace}': the seller does not participate in it.")
    return ids


def _json_body(request: HttpRequest) -> Any:
    try:
        return json.loads(request.body or b"null", parse_float=Decimal)
    except ValueError:
        raise BadRequest("The request body is not valid JSON.") from None


# --- Sellers --------------------------------------------------------------------------------------------------


@sp_api("getMarketplaceParticipations", ("GET",))
def marketplace_participations(request: HttpRequest, account: SandboxAccount) -> HttpResponse:
    payload = []
    for marketplace in account_marketplaces(account):
        facts = MARKETPLACES[marketplace]
        payload.append({
            "marketplace": {"id": marketplace, "name": facts["name"], "countryCode": facts["country"],
                            "defaultCurrencyCode": facts["currency"], "defaultLanguageCode": facts["language"],
                            "domainName": f"www.{facts['domain']}"},
            "participation": {"isParticipating": True, "hasSuspendedListings": False},
            "storeName": account.settings.get("store_name") or account.name,
        })
    return json_response({"payload": payload}, headers=_sp_headers("getMarketplaceParticipations"))


# --- Orders 2026-01-01 and v0 confirmShipment ----------------------------------------------------------------------


@dataclass
class _OrderQuery:
    mode: str  # "updated" or "created"
    after: datetime
    before: datetime | None
    statuses: set[str]
    fulfilled_by: set[str]
    fingerprint: str
    marketplaces: set[str] = field(default_factory=set)


def _order_query(request: HttpRequest, account: SandboxAccount) -> _OrderQuery:
    params = request.GET
    created_after, updated_after = params.get("createdAfter"), params.get("lastUpdatedAfter")
    created_before, updated_before = params.get("createdBefore"), params.get("lastUpdatedBefore")
    if bool(created_after) == bool(updated_after):
        raise BadRequest("Exactly one of createdAfter and lastUpdatedAfter must be provided.")
    if created_after and updated_before:
        raise BadRequest("lastUpdatedBefore cannot be combined with createdAfter.")
    if updated_after and created_before:
        raise BadRequest("createdBefore cannot be combined with lastUpdatedAfter.")
    mode = "created" if created_after else "updated"
    after = _parse_time(created_after or updated_after, "createdAfter" if created_after else "lastUpdatedAfter")
    before_raw = created_before or updated_before
    before = None
    if before_raw:
        before = _parse_time(before_raw, "createdBefore" if created_before else "lastUpdatedBefore")
        if before < after:
            raise BadRequest("The 'before' date must be equal to or after the 'after' date.")
        if before > timezone.now() - timedelta(minutes=2):
            raise BadRequest("The 'before' date must be at least two minutes before the time of the request.")
    statuses = set(_csv(request, "fulfillmentStatuses"))
    if statuses - set(FULFILLMENT_STATUSES):
        raise BadRequest(f"Invalid fulfillmentStatuses: {', '.join(sorted(statuses - set(FULFILLMENT_STATUSES)))}.")
    fulfilled_by = set(_csv(request, "fulfilledBy"))
    if fulfilled_by - {"MERCHANT", "AMAZON"}:
        raise BadRequest("fulfilledBy accepts MERCHANT and AMAZON.")
    marketplaces = _marketplace_ids(request, account, required=False)
    fingerprint = _fingerprint(mode, dataset.iso(after), before_raw, sorted(marketplaces), sorted(statuses),
                               sorted(fulfilled_by))
    return _OrderQuery(mode, after, before, statuses, fulfilled_by, fingerprint, set(marketplaces))


def _sandbox_clock(account: SandboxAccount) -> datetime:
    """Now, or the latest stamp handed out: dataset.order_update moves a stamp a second ahead when two changes
    land in one second, and Amazon never hides an order behind its own clock."""
    latest = dataset.objects(account, "order").aggregate(latest=Max("updated_at"))["latest"]
    return max(_now(), latest) if latest else _now()


@sp_api("searchOrders", ("GET",))
def search_orders(request: HttpRequest, account: SandboxAccount) -> HttpResponse:
    query = _order_query(request, account)
    page_size = _int_param(request, "maxResultsPerPage", 100, 1, 100)
    included = set(_csv(request, "includedData"))
    if included - set(INCLUDED_DATA):
        raise BadRequest(f"Invalid includedData: {', '.join(sorted(included - set(INCLUDED_DATA)))}.")
    token = request.GET.get("paginationToken")
    if token:
        state = _decode_token(token, query.fingerprint)
        bound, last = dataset.parse_iso(state["b"]), state["k"]
    else:
        bound, last = query.before or _sandbox_clock(account), None

    def wanted(data: dict) -> bool:
        if query.marketplaces and order_marketplace(account, data) not in query.marketplaces:
            return False
        if query.statuses and fulfillment_status(data) not in query.statuses:
            return False
        if query.fulfilled_by:
            by = "AMAZON" if data.get("fulfilment_channel") == "marketplace" else "MERCHANT"
            if by not in query.fulfilled_by:
                return False
        return True

    # Keyset pagination over a fixed upper bound: orders changing while a client pages never shift a page.
    if query.mode == "updated":
        rows = dataset.objects(account, "order").filter(updated_at__gte=query.after, updated_at__lte=bound)
        if last:
            stamp = dataset.parse_iso(last[0])
            rows = rows.filter(Q(updated_at__gt=stamp) | Q(updated_at=stamp, key__gt=last[1]))
        candidates = ((dataset.iso(row.updated_at), row) for row in rows.order_by("updated_at", "key").iterator())
    else:
        in_range = []
        for row in dataset.objects(account, "order"):
            created = dataset.parse_iso(row.data["created_at"])
            if query.after <= created <= bound and (not last or (row.data["created_at"], row.key) > (last[0], last[1])):
                in_range.append((row.data["created_at"], row))
        candidates = iter(sorted(in_range, key=lambda pair: (pair[0], pair[1].key)))
    page: list[tuple[str, SandboxObject]] = []
    more = False
    for sort_value, row in candidates:
        if not wanted(row.data):
            continue
        if len(page) == page_size:
            more = True
            break
        page.append((sort_value, row))
    body: dict[str, Any] = {"orders": [render_order(account, row.data, included) for _, row in page]}
    if more:
        sort_value, row = page[-1]
        body["pagination"] = {"nextToken": _encode_token({
            "f": query.fingerprint, "b": dataset.iso(bound), "k": [sort_value, row.key],
            "e": int(_now().timestamp()) + PAGINATION_TOKEN_SECONDS, "n": secrets.token_hex(4),
        })}
    body["lastUpdatedBefore" if query.mode == "updated" else "createdBefore"] = dataset.iso(bound)
    return json_response(body, headers=_sp_headers("searchOrders"))


def _validate_package(body: Any, account: SandboxAccount) -> dict:
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a ConfirmShipmentRequest object.")
    if body.get("marketplaceId") not in account_marketplaces(account):
        raise BadRequest("marketplaceId is missing or is not a marketplace of this order.")
    package = body.get("packageDetail")
    if not isinstance(package, dict):
        raise BadRequest("packageDetail is required.")
    for name in ("packageReferenceId", "carrierCode", "trackingNumber", "shipDate"):
        if not isinstance(package.get(name), str) or not package[name].strip():
            raise BadRequest(f"packageDetail.{name} is required.")
    if not package["packageReferenceId"].isdigit() or int(package["packageReferenceId"]) < 1:
        raise BadRequest("packageDetail.packageReferenceId must be a positive number.")
    if package["carrierCode"] == "Other" and not str(package.get("carrierName") or "").strip():
        raise BadRequest("packageDetail.carrierName is required when carrierCode is 'Other'.")
    _parse_time(package["shipDate"], "packageDetail.shipDate")
    items = package.get("orderItems")
    if not isinstance(items, list) or not items:
        raise BadRequest("packageDetail.orderItems must list at least one order item.")
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("orderItemId"), str):
            raise BadRequest("Every order item needs an orderItemId.")
        if not isinstance(item.get("quantity"), int) or isinstance(item["quantity"], bool) or item["quantity"] < 1:
            raise BadRequest("Every order item needs a positive integer quantity.")
    return package


@sp_api("confirmShipment", ("POST",))
def confirm_shipment(request: HttpRequest, account: SandboxAccount, order_id: str) -> HttpResponse:
    neutral_id = neutral_order_id(order_id, account_region(account))
    row = dataset.objects(account, "order").filter(key=neutral_id).first() if neutral_id else None
    if row is None:
        return sp_error(404, "NotFound", "The specified resource does not exist.", f"Order {order_id} was not found.",
                        operation="confirmShipment")
    package = _validate_package(_json_body(request), account)
    order = row.data
    if order.get("fulfilment_channel") == "marketplace":
        raise BadRequest("Shipments of orders fulfilled by Amazon cannot be confirmed by the seller.")
    if order["status"] in ("pending", "cancelled"):
        raise BadRequest(f"The order is {fulfillment_status(order)} and cannot be confirmed as shipped.")
    ordered = {order_item_id(ln["id"]): int(ln["quantity"]) for ln in order["lines"]}
    packages = [p for p in order.get("amazon_packages", []) if p["packageReferenceId"] != package["packageReferenceId"]]
    shipped = _shipped_quantities({"amazon_packages": packages})
    for item in package["orderItems"]:
        if item["orderItemId"] not in ordered:
            raise BadRequest(f"Order item {item['orderItemId']} is not part of order {order_id}.")
        shipped[item["orderItemId"]] = shipped.get(item["orderItemId"], 0) + item["quantity"]
        if shipped[item["orderItemId"]] > ordered[item["orderItemId"]]:
            raise BadRequest(f"The quantity shipped of order item {item['orderItemId']} exceeds the quantity ordered.")
    carrier = package["carrierName"] if package["carrierCode"] == "Other" else package["carrierCode"]
    ship_date = dataset.iso(_parse_time(package["shipDate"], "shipDate"))
    packages.append({"packageReferenceId": package["packageReferenceId"], "carrier": carrier,
                     "carrierCode": package["carrierCode"], "trackingNumber": package["trackingNumber"],
                     "shippingService": package.get("shippingMethod") or "", "shipTime": ship_date,
                     "createdTime": dataset.iso(_now()),
                     "items": [{"orderItemId": i["orderItemId"], "quantity": i["quantity"]} for i in package["orderItems"]]})
    changes: dict[str, Any] = {"amazon_packages": packages,
                               "tracking": {"carrier": carrier, "number": package["trackingNumber"], "url": ""}}
    if order["status"] == "unshipped" and all(shipped.get(i, 0) >= q for i, q in ordered.items()):
        changes["status"] = "shipped"
    dataset.order_update(account, row.key, **changes)
    response = HttpResponse(status=204)
    for name, value in _sp_headers("confirmShipment").items():
        response[name] = value
    return response


# --- FBA inventory ------------------------------------------------------------------------------------------------


@sp_api("getInventorySummaries", ("GET",))
def inventory_summaries(request: HttpRequest, account: SandboxAccount) -> HttpResponse:
    marketplaces = _marketplace_ids(request, account, required=True, max_items=1)
    if request.GET.get("granularityType") != "Marketplace":
        raise BadRequest("granularityType is required and must be 'Marketplace'.")
    if request.GET.get("granularityId") != marketplaces[0]:
        raise BadRequest("granularityId must be the marketplace id given in marketplaceIds.")
    details = request.GET.get("details", "false").lower() == "true"
    seller_skus = _csv(request, "sellerSkus")
    if len(seller_skus) > 50:
        raise BadRequest("sellerSkus accepts at most 50 SKUs.")
    start = request.GET.get("startDateTime")
    start_at = _parse_time(start, "startDateTime") if start else None
    rows = dataset.objects(account, "product").order_by("key")
    if start_at is not None:
        rows = rows.filter(updated_at__gt=start_at)
    elif seller_skus:
        rows = rows.filter(key__in=seller_skus)
    elif request.GET.get("sellerSku"):
        rows = rows.filter(key=request.GET["sellerSku"])
    fingerprint = _fingerprint(marketplaces, details, start, sorted(seller_skus), request.GET.get("sellerSku"))
    last = _decode_token(request.GET["nextToken"], fingerprint)["k"] if request.GET.get("nextToken") else None
    summaries, more = [], False
    for row in rows:
        quantities = fba_quantities(account, row.key)
        if quantities is None or (last and row.key <= last):
            continue
        if len(summaries) == INVENTORY_PAGE_SIZE:
            more = True
            break
        product = row.data
        summary: dict[str, Any] = {
            "asin": asin_for(account, row.key),
            "fnSku": fnsku_for(account, row.key),
            "sellerSku": row.key, "condition": "NewItem", "lastUpdatedTime": dataset.iso(row.updated_at),
            "productName": product["title"],
            "totalQuantity": quantities["fulfillable"] + quantities["inbound_shipped"] + quantities["reserved"],
        }
        if details:
            summary["inventoryDetails"] = {
                "fulfillableQuantity": quantities["fulfillable"], "inboundWorkingQuantity": 0,
                "inboundShippedQuantity": quantities["inbound_shipped"], "inboundReceivingQuantity": 0,
                "reservedQuantity": {"totalReservedQuantity": quantities["reserved"],
                                     "pendingCustomerOrderQuantity": quantities["reserved"],
                                     "pendingTransshipmentQuantity": 0, "fcProcessingQuantity": 0},
                "researchingQuantity": {"totalResearchingQuantity": 0, "researchingQuantityBreakdown": []},
                "unfulfillableQuantity": {"totalUnfulfillableQuantity": 0, "customerDamagedQuantity": 0,
                                          "warehouseDamagedQuantity": 0, "distributorDamagedQuantity": 0,
                                          "carrierDamagedQuantity": 0, "defectiveQuantity": 0, "expiredQuantity": 0},
            }
        summaries.append(summary)
    body: dict[str, Any] = {"payload": {"granularity": {"granularityType": "Marketplace", "granularityId": marketplaces[0]},
                                        "inventorySummaries": summaries}}
    if more:
        body["pagination"] = {"nextToken": _encode_token({"f": fingerprint, "k": summaries[-1]["sellerSku"],
                                                          "e": int(_now().timestamp()) + PAGINATION_TOKEN_SECONDS})}
    return json_response(body, headers=_sp_headers("getInventorySummaries"))


# --- Listings Items 2021-08-01 -----------------------------------------------------------------------------------


def _listing_included(request: HttpRequest, default: tuple[str, ...]) -> set[str]:
    included = set(_csv(request, "includedData")) or set(default)
    if included - set(LISTING_INCLUDED_DATA) - {"identifiers"}:
        raise BadRequest(f"Invalid includedData: {', '.join(sorted(included - set(LISTING_INCLUDED_DATA)))}.")
    return included


def _check_seller(account: SandboxAccount, seller_id: str, operation: str) -> HttpResponse | None:
    if seller_id != account.account_id:
        return sp_error(403, "Unauthorized", MSG_DENIED, "The sellerId does not match the authorised selling partner.",
                        operation=operation)
    return None


@sp_api("searchListingsItems", ("GET",))
def search_listings_items(request: HttpRequest, account: SandboxAccount, seller_id: str) -> HttpResponse:
    denied = _check_seller(account, seller_id, "searchListingsItems")
    if denied:
        return denied
    marketplaces = _marketplace_ids(request, account, required=True)
    included = _listing_included(request, ("summaries",))
    page_size = _int_param(request, "pageSize", 10, 1, 20)
    sort_by = request.GET.get("sortBy", "lastUpdatedDate")
    sort_order = request.GET.get("sortOrder", "DESC")
    if sort_by not in ("sku", "createdDate", "lastUpdatedDate") or sort_order not in ("ASC", "DESC"):
        raise BadRequest("sortBy must be sku, createdDate or lastUpdatedDate; sortOrder ASC or DESC.")
    rows = [r for r in dataset.objects(account, "product")
            if set(listed_marketplaces(account, r.data)) & set(marketplaces)]
    identifiers = _csv(request, "identifiers")
    if identifiers:
        if request.GET.get("identifiersType") != "SKU":
            raise BadRequest("Only identifiersType=SKU is supported for seller SKUs in this sandbox.")
        rows = [r for r in rows if r.key in identifiers]

    def sort_value(row: SandboxObject) -> str:
        if sort_by == "sku":
            return row.key
        if sort_by == "createdDate":
            return row.data.get("created_at") or dataset.iso(account.created_at)
        return dataset.iso(row.updated_at)

    reverse = sort_order == "DESC"
    rows.sort(key=lambda r: (sort_value(r), r.key), reverse=reverse)
    fingerprint = _fingerprint(marketplaces, sorted(identifiers), sort_by, sort_order)
    total = len(rows)
    token = request.GET.get("pageToken")
    if token:
        last = _decode_token(token, fingerprint)["k"]
        rows = [r for r in rows if ((sort_value(r), r.key) < tuple(last) if reverse else (sort_value(r), r.key) > tuple(last))]
    page, more = rows[:page_size], len(rows) > page_size
    body: dict[str, Any] = {"numberOfResults": total,
                            "items": [_listing_item(account, row, included, marketplaces) for row in page]}
    if more:
        body["pagination"] = {"nextToken": _encode_token({"f": fingerprint, "k": [sort_value(page[-1]), page[-1].key],
                                                          "e": int(_now().timestamp()) + PAGINATION_TOKEN_SECONDS})}
    return json_response(body, headers=_sp_headers("searchListingsItems"))


def _issue(code: str, message: str, attribute: str = "", category: str = "INVALID_ATTRIBUTE") -> dict:
    issue = {"code": code, "message": message, "severity": "ERROR", "categories": [category]}
    if attribute:
        issue["attributeNames"] = [attribute]
    return issue


def _submission(sku: str, issues: list[dict], operation: str, *, validation: bool = False) -> HttpResponse:
    status = "INVALID" if issues else ("VALID" if validation else "ACCEPTED")
    return json_response({"sku": sku, "status": status, "submissionId": uuid.uuid4().hex, "issues": issues},
                         headers=_sp_headers(operation))


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _price_from_offer(value: Any, marketplace: str, currency: str) -> tuple[Decimal | None, dict | None]:
    """our_price from a purchasable_offer attribute value, or the issue that makes it unusable."""
    offers = [o for o in value if isinstance(o, dict)] if isinstance(value, list) else []
    offer = next((o for o in offers if o.get("marketplace_id", marketplace) == marketplace), None)
    if offer is None:
        return None, _issue("90220", f"purchasable_offer needs a value for marketplace {marketplace}.", "purchasable_offer",
                            "MISSING_PRICE")
    if offer.get("currency") != currency:
        return None, _issue("90244", f"purchasable_offer.currency must be {currency}.", "purchasable_offer", "INVALID_PRICE")
    try:
        amount = _decimal(offer["our_price"][0]["schedule"][0]["value_with_tax"])
    except (KeyError, IndexError, TypeError):
        amount = None
    if amount is None or amount <= 0:
        return None, _issue("90244", "purchasable_offer.our_price must hold a positive value_with_tax.", "purchasable_offer",
                            "INVALID_PRICE")
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), None


def _list_price(value: Any, marketplace: str, currency: str) -> tuple[Decimal | None, dict | None]:
    entries = [o for o in value if isinstance(o, dict)] if isinstance(value, list) else []
    entry = next((o for o in entries if o.get("marketplace_id", marketplace) == marketplace), None)
    amount = _decimal((entry or {}).get("value_with_tax", (entry or {}).get("value")))
    if entry is None or entry.get("currency") != currency or amount is None or amount < 0:
        return None, _issue("90244", f"list_price needs a non-negative value_with_tax in {currency}.", "list_price",
                            "INVALID_PRICE")
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), None


def _quantity(value: Any) -> tuple[int | None, dict | None]:
    entries = [o for o in value if isinstance(o, dict)] if isinstance(value, list) else []
    entry = next((o for o in entries if o.get("fulfillment_channel_code") == "DEFAULT"), None)
    quantity = (entry or {}).get("quantity")
    if entry is None or not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
        return None, _issue("90220", "fulfillment_availability needs fulfillment_channel_code DEFAULT and a quantity >= 0.",
                            "fulfillment_availability")
    return quantity, None


def _patch_product(account: SandboxAccount, product: dict, patches: list[dict],
                   marketplace: str | None = None) -> tuple[dict, list[dict]]:
    """Apply JSON patches to a copy of the neutral product; return it and the issues found (none = accepted).

    On a marketplace other than the seller's home one, price, MRP and quantity are that marketplace's offer."""
    home = account_marketplace(account)
    marketplace = marketplace or home
    if marketplace == home:
        return _apply_patches(product, patches, home, product.get("currency") or _currency(account))
    own = offer(account, product, marketplace)
    if own is None:
        return product, [_issue("4000001", f"SKU '{product['sku']}' has no offer in marketplace {marketplace}.",
                                category="MISSING_ATTRIBUTE")]
    patched, issues = _apply_patches({**product, **own}, patches, marketplace, own["currency"])
    if issues:
        return product, issues
    updated = json.loads(json.dumps(product))
    updated.setdefault("offers", {})[marketplace] = {k: patched[k] for k in ("price", "mrp", "quantity", "currency")}
    updated["attributes"] = patched["attributes"]
    return updated, []


def _apply_patches(product: dict, patches: list[dict], marketplace: str, currency: str) -> tuple[dict, list[dict]]:
    updated = json.loads(json.dumps(product))
    attributes = dict(updated.get("attributes") or {})
    issues: list[dict] = []
    for patch in patches:
        op, target, value = patch.get("op"), patch.get("path", ""), patch.get("value")
        if not target.startswith("/attributes/") or len(target.split("/")) != 3:
            issues.append(_issue("90220", f"Unsupported patch path {target!r}.", target))
            continue
        name = target.split("/")[2]
        if op == "delete":
            attributes.pop(name, None)
            if name == "fulfillment_availability":
                updated["quantity"] = 0
            continue
        if name == "fulfillment_availability":
            quantity, issue = _quantity(value)
            if issue:
                issues.append(issue)
            else:
                updated["quantity"] = quantity
        elif name == "purchasable_offer":
            price, issue = _price_from_offer(value, marketplace, currency)
            if issue:
                issues.append(issue)
            else:
                updated["price"] = dataset.money(price)
        elif name == "list_price":
            mrp, issue = _list_price(value, marketplace, currency)
            if issue:
                issues.append(issue)
            else:
                updated["mrp"] = dataset.money(mrp)
        elif name == "item_name" and isinstance(value, list) and value and isinstance(value[0], dict):
            updated["title"] = str(value[0].get("value") or updated["title"])
        else:
            attributes[name] = json.loads(json.dumps(value, default=str))
    updated["attributes"] = attributes
    return updated, issues


def _validate_patch_request(body: Any) -> list[dict]:
    if not isinstance(body, dict) or not isinstance(body.get("productType"), str) or not body["productType"]:
        raise BadRequest("productType is required.")
    patches = body.get("patches")
    if not isinstance(patches, list) or not patches:
        raise BadRequest("patches must contain at least one operation.")
    for patch in patches:
        if not isinstance(patch, dict) or patch.get("op") not in ("add", "replace", "merge", "delete") \
                or not isinstance(patch.get("path"), str):
            raise BadRequest("Every patch needs op (add, replace, merge, delete) and path.")
        if "value" in patch and not isinstance(patch["value"], list):
            raise BadRequest("A patch value must be an array.")
    return patches


def _product_from_put(account: SandboxAccount, sku: str, body: dict, existing: dict | None) -> tuple[dict, list[dict]]:
    marketplace, currency = account_marketplace(account), _currency(account)
    attributes = dict(body["attributes"])
    requirements = body.get("requirements", "LISTING")
    issues: list[dict] = []
    title = None
    names = attributes.pop("item_name", None)
    if isinstance(names, list) and names and isinstance(names[0], dict) and names[0].get("value"):
        title = str(names[0]["value"])
    elif requirements != "LISTING_OFFER_ONLY" and existing is None:
        issues.append(_issue("90220", "'item_name' is required but not supplied.", "item_name", "MISSING_ATTRIBUTE"))
    price = None
    if "purchasable_offer" in attributes:
        price, issue = _price_from_offer(attributes.pop("purchasable_offer"), marketplace, currency)
        issues += [issue] if issue else []
    elif requirements != "LISTING_PRODUCT_ONLY":
        issues.append(_issue("90220", "'purchasable_offer' is required but not supplied.", "purchasable_offer", "MISSING_PRICE"))
    quantity = 0
    if "fulfillment_availability" in attributes:
        quantity, issue = _quantity(attributes.pop("fulfillment_availability"))
        issues += [issue] if issue else []
    mrp = None
    if "list_price" in attributes:
        mrp, issue = _list_price(attributes.pop("list_price"), marketplace, currency)
        issues += [issue] if issue else []
    description = ""
    descriptions = attributes.pop("product_description", None)
    if isinstance(descriptions, list) and descriptions and isinstance(descriptions[0], dict):
        description = str(descriptions[0].get("value") or "")
    barcode = ""
    identifiers = attributes.get("externally_assigned_product_identifier")
    if isinstance(identifiers, list) and identifiers and isinstance(identifiers[0], dict):
        barcode = str(identifiers[0].get("value") or "")
    count = dataset.objects(account, "product").count()
    product = dict(existing or {"id": str(1000 + count), "variant_id": str(5000 + count), "created_at": dataset.iso(_now())})
    product.update({
        "sku": sku, "title": title or (existing or {}).get("title", ""), "description": description,
        "price": dataset.money(price) if price is not None else (existing or {}).get("price", ""),
        "mrp": dataset.money(mrp) if mrp is not None else (existing or {}).get("mrp", ""),
        "quantity": quantity if quantity is not None else 0, "barcode": barcode, "currency": currency,
        "product_type": body["productType"], "attributes": json.loads(json.dumps(attributes, default=str)),
    })
    return product, issues


@sp_api("patchListingsItem", ("GET", "PATCH", "PUT"))
def listings_item(request: HttpRequest, account: SandboxAccount, seller_id: str, sku: str) -> HttpResponse:
    operation = {"GET": "getListingsItem", "PATCH": "patchListingsItem", "PUT": "putListingsItem"}[request.method]
    denied = _check_seller(account, seller_id, operation)
    if denied:
        return denied
    requested = _marketplace_ids(request, account, required=True)
    mode = request.GET.get("mode")
    if mode not in (None, "", "VALIDATION_PREVIEW"):
        raise BadRequest("mode accepts only VALIDATION_PREVIEW.")
    validation = mode == "VALIDATION_PREVIEW"
    with transaction.atomic():
        row = dataset.objects(account, "product").select_for_update().filter(key=sku).first()
        if request.method == "GET":
            if row is None:
                return sp_error(404, "NOT_FOUND", f"SKU '{sku}' not found in marketplace {account_marketplace(account)}",
                                operation=operation)
            if not set(requested) & set(listed_marketplaces(account, row.data)):
                return sp_error(404, "NOT_FOUND", f"SKU '{sku}' not found in marketplace {requested[0]}",
                                operation=operation)
            included = _listing_included(request, ("summaries",))
            return json_response(_listing_item(account, row, included, requested), headers=_sp_headers(operation))
        body = _json_body(request)
        if request.method == "PATCH":
            patches = _validate_patch_request(body)
            if row is None:
                return _submission(sku, [_issue("4000001", f"SKU '{sku}' does not exist for this seller; create it with "
                                                           "putListingsItem first.", category="MISSING_ATTRIBUTE")],
                                   operation)
            product, issues = _patch_product(account, row.data, patches, requested[0])
        else:
            if not isinstance(body, dict) or not isinstance(body.get("productType"), str) or not body["productType"] \
                    or not isinstance(body.get("attributes"), dict):
                raise BadRequest("productType and attributes are required.")
            if body.get("requirements", "LISTING") not in ("LISTING", "LISTING_PRODUCT_ONLY", "LISTING_OFFER_ONLY"):
                raise BadRequest("requirements must be LISTING, LISTING_PRODUCT_ONLY or LISTING_OFFER_ONLY.")
            product, issues = _product_from_put(account, sku, body, row.data if row else None)
        if issues or validation:
            return _submission(sku, issues, operation, validation=validation)
        now = _now()
        if row is None:
            SandboxObject.objects.create(account=account, kind="product", key=sku, data=product, updated_at=now)
        else:
            row.data, row.updated_at = product, now
            row.save(update_fields=["data", "updated_at"])
    return _submission(sku, [], operation)


# --- Login with Amazon ------------------------------------------------------------------------------------------


def registered_app() -> dict[str, str]:
    """The one application registered with this sandbox: Haat's own (demo values unless set in settings)."""
    return {"application_id": settings.AMAZON_SP_APP_ID, "client_id": settings.AMAZON_LWA_CLIENT_ID,
            "client_secret": settings.AMAZON_LWA_CLIENT_SECRET}


def _client_ok(client_id: str, client_secret: str) -> bool:
    app = registered_app()
    return bool(app["client_id"] and app["client_secret"]) and hmac.compare_digest(client_id, app["client_id"]) \
        and hmac.compare_digest(client_secret, app["client_secret"])


def _token_answer(account: SandboxAccount, refresh_token: str) -> HttpResponse:
    access, _expires = issue_access_token(account, refresh_key=_digest(refresh_token))
    return json_response({"access_token": access, "refresh_token": refresh_token, "token_type": "bearer",
                          "expires_in": ACCESS_TOKEN_SECONDS}, headers={"Cache-Control": "no-store"})


@sandbox_endpoint(server_error=lambda status, message: _lwa_error(500, "server_error", "Internal server error"),
                  rate_limited=lambda: _lwa_error(429, "slow_down", "Too many requests. Please retry later."))
@require_POST
def lwa_token(request: HttpRequest) -> HttpResponse:
    """POST /auth/o2/token (form-encoded), both grants Haat uses."""
    form = request.POST
    grant_type = form.get("grant_type", "")
    for name in ("grant_type", "client_id", "client_secret"):
        if not form.get(name):
            return _lwa_error(400, "invalid_request", f"The request is missing a required parameter : {name}")
    if not _client_ok(form["client_id"], form["client_secret"]):
        return _lwa_error(401, "invalid_client", "Client authentication failed")
    if grant_type == "authorization_code":
        return _exchange_code(form)
    if grant_type == "refresh_token":
        token = form.get("refresh_token", "")
        if not token:
            return _lwa_error(400, "invalid_request", "The request is missing a required parameter : refresh_token")
        row = SandboxObject.objects.select_related("account").filter(
            kind=KIND_REFRESH, key=_digest(token), account__platform=PLATFORM).first()
        if row is None or row.data.get("revoked") or row.data.get("client_id") != form["client_id"]:
            return _lwa_error(400, "invalid_grant", "The request has an invalid grant parameter : refresh_token. "
                                                    "User may have revoked or didn't grant the permission.")
        return _token_answer(row.account, token)
    return _lwa_error(400, "unsupported_grant_type", f"The authorization grant type is not supported : {grant_type}")


def _exchange_code(form) -> HttpResponse:
    code = form.get("code", "")
    if not code:
        return _lwa_error(400, "invalid_request", "The request is missing a required parameter : code")
    invalid = _lwa_error(400, "invalid_grant", "The request has an invalid grant parameter : code")
    with transaction.atomic():
        row = SandboxObject.objects.select_for_update().select_related("account").filter(
            kind=KIND_CODE, key=_digest(code), account__platform=PLATFORM).first()
        if row is None or row.data.get("used"):
            return invalid
        # Single use: a replayed code fails even when the first exchange failed on another check.
        row.data["used"] = True
        row.save(update_fields=["data"])
        if dataset.parse_iso(row.data["expires_at"]) <= timezone.now():
            return invalid
        if row.data["client_id"] != form["client_id"] or row.data["redirect_uri"] != form.get("redirect_uri", ""):
            return invalid
        refresh_token = _new_refresh_token()
        _register_refresh_token(row.account, refresh_token, form["client_id"])
        return _token_answer(row.account, refresh_token)


CONSENT_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Seller Central (sandbox) · Authorise {{ app_name }}</title>
<style>body{font-family:system-ui,sans-serif;margin:1rem auto;max-width:34rem;padding:0 1rem}
.box{border:1px solid #ccc;border-radius:.4rem;padding:1rem}.note{color:#555;font-size:.9rem}
button{padding:.5rem 1rem;margin-right:.5rem}.error{color:#a00}</style></head>
<body><p class="note">Amazon Seller Central · sandbox copy for the Haat demo</p>
{% if error %}<div class="box"><h1>We're sorry!</h1><p class="error">{{ error }}</p></div>{% else %}
<div class="box"><h1>Authorise {{ app_name }}</h1>
<p>{{ app_name }} asks to access your selling account on {{ marketplace_name }}: orders, listings, prices,
inventory and shipment confirmation.</p>
{% if accounts %}<form method="post">{% csrf_token %}
{% for name, value in hidden %}<input type="hidden" name="{{ name }}" value="{{ value }}">{% endfor %}
<p><label for="seller">Signed in as</label><br>
<select id="seller" name="selling_partner_id">{% for a in accounts %}
<option value="{{ a.account_id }}">{{ a.name }} ({{ a.account_id }})</option>{% endfor %}</select></p>
<p><button type="submit" name="decision" value="authorize">Authorize</button>
<button type="submit" name="decision" value="cancel">Cancel</button></p></form>
{% else %}<p class="error">No sandbox Amazon seller exists yet: run <code>python manage.py seed_demo</code>.</p>{% endif %}
</div>{% endif %}</body></html>"""


def _consent_page(request: HttpRequest, *, error: str = "", status: int = 200, **context) -> HttpResponse:
    html = engines["django"].from_string(CONSENT_TEMPLATE).render(
        {"app_name": "Haat", "error": error, **context}, request)
    return HttpResponse(html, status=status)


def _redirect_back(redirect_uri: str, params: dict[str, str]) -> HttpResponseRedirect:
    parts = urlsplit(redirect_uri)
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return HttpResponseRedirect(urlunsplit((parts.scheme, parts.netloc, parts.path, query, "")))


@sandbox_endpoint(server_error=lambda status, message: _consent_page(None, error="Seller Central is unavailable.",
                                                                      status=500),
                  rate_limited=lambda: _consent_page(None, error="Too many requests. Please try again.", status=503))
@csrf_protect
def consent(request: HttpRequest, region: str | None = None) -> HttpResponse:
    """Seller Central's consent page of the website authorization workflow (/apps/authorize/consent).

    Under /<region>/ it is that region's Seller Central: only the region's seller accounts sign in there, and
    the code it grants gives tokens that work on that region's endpoint only."""
    source = request.POST if request.method == "POST" else request.GET
    application_id, state = source.get("application_id", ""), source.get("state", "")
    redirect_uri, version = source.get("redirect_uri", ""), source.get("version", "")
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    if not application_id or not hmac.compare_digest(application_id, registered_app()["application_id"] or "\0"):
        return _consent_page(request, error="The application id is not valid. Contact the application's developer.",
                             status=400)
    if settings.AMAZON_AUTH_DRAFT_APP and version != "beta":
        return _consent_page(request, error="This application is in draft: the authorization URI must include "
                                            "version=beta.", status=400)
    if not state:
        return _consent_page(request, error="The request has no state parameter.", status=400)
    if urlsplit(redirect_uri).scheme not in ("http", "https") or not urlsplit(redirect_uri).netloc:
        return _consent_page(request, error="The redirect_uri is missing or not a registered OAuth redirect URI.",
                             status=400)
    accounts = [a for a in SandboxAccount._default_manager.filter(platform=PLATFORM).order_by("name")
                if region is None or account_region(a) == region]
    if request.method == "GET":
        hidden = [(k, v) for k, v in (("application_id", application_id), ("state", state),
                                      ("redirect_uri", redirect_uri), ("version", version)) if v]
        marketplace = MARKETPLACES[account_marketplace(accounts[0])]["name"] if accounts else "Amazon"
        return _consent_page(request, accounts=accounts, hidden=hidden, marketplace_name=marketplace)
    if request.POST.get("decision") != "authorize":
        return _redirect_back(redirect_uri, {"state": state, "error": "access_denied",
                                             "error_description": "The seller did not authorise the application."})
    account = next((a for a in accounts if a.account_id == request.POST.get("selling_partner_id")), None)
    if account is None:
        return _consent_page(request, error="Choose a seller account.", status=400)
    code = "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") for _ in range(20))
    SandboxObject.objects.create(
        account=account, kind=KIND_CODE, key=_digest(code), updated_at=_now(),
        data={"client_id": registered_app()["client_id"], "redirect_uri": redirect_uri, "used": False,
              "expires_at": dataset.iso(_now() + timedelta(seconds=AUTH_CODE_SECONDS))},
    )
    return _redirect_back(redirect_uri, {"state": state, "selling_partner_id": account.account_id,
                                         "spapi_oauth_code": code})


def expire_authorization_codes(account: SandboxAccount) -> None:
    """Age every unused code of the account past its five minutes (for tests)."""
    rows = list(dataset.objects(account, KIND_CODE))
    for row in rows:
        row.data["expires_at"] = dataset.iso(_now() - timedelta(seconds=1))
    SandboxObject.objects.bulk_update(rows, ["data"])


# --- the sandbox's own control endpoint (not Amazon's) --------------------------------------------------------------


@csrf_exempt
@require_POST
def sandbox_create_order(request: HttpRequest) -> HttpResponse:
    """POST /sandbox/amazon/_sandbox/orders {"selling_partner_id", "items": [{"sku", "quantity"}]}: a buyer just bought."""
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return json_response({"error": "The body must be JSON."}, status=400)
    if not isinstance(body, dict):
        return json_response({"error": "The body must be a JSON object."}, status=400)
    account = dataset.get_account(PLATFORM, str(body.get("selling_partner_id", "")))
    if account is None:
        return json_response({"error": "Unknown selling_partner_id."}, status=404)
    items = body.get("items")
    skus = None
    if items is not None:
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            return json_response({"error": "items must be a list of {sku, quantity}."}, status=400)
        try:
            skus = [(str(i["sku"]), int(i.get("quantity", 1))) for i in items]
        except (KeyError, TypeError, ValueError):
            return json_response({"error": "items must be a list of {sku, quantity}."}, status=400)
    try:
        order = create_order(account, skus=skus)
    except ValueError as exc:
        return json_response({"error": str(exc)}, status=400)
    rendered = render_order(account, order, {"BUYER", "RECIPIENT", "PROCEEDS", "FULFILLMENT", "PACKAGES"})
    return json_response({"orderId": rendered["orderId"], "order": rendered}, status=201)


# One region's SP-API endpoint and Seller Central, served at /sandbox/amazon/<region>/ (sellingpartnerapi-na|eu|fe).
region_urlpatterns = [
    path("apps/authorize/consent", consent, name="consent"),
    path("sellers/v1/marketplaceParticipations", marketplace_participations, name="marketplace_participations"),
    path("orders/2026-01-01/orders", search_orders, name="search_orders"),
    path("orders/v0/orders/<str:order_id>/shipmentConfirmation", confirm_shipment, name="confirm_shipment"),
    path("fba/inventory/v1/summaries", inventory_summaries, name="inventory_summaries"),
    path("listings/2021-08-01/items/<str:seller_id>", search_listings_items, name="search_listings_items"),
    path("listings/2021-08-01/items/<str:seller_id>/<path:sku>", listings_item, name="listings_item"),
]

urlpatterns = [
    # Login with Amazon is one service for every region (api.amazon.com).
    path("auth/o2/token", lwa_token, name="lwa_token"),
    re_path(r"^(?P<region>na|eu|fe)/", include((region_urlpatterns, "region"))),
    # The paths without a region answer any region's token: the single-region sandbox that came first.
    *region_urlpatterns,
    path("_sandbox/orders", sandbox_create_order, name="create_order"),
]
