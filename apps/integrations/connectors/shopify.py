"""Shopify: orders, products, stock, prices and fulfilments through the GraphQL Admin API; the OAuth install
flow; webhooks signed with the app's client secret.

GraphQL only: REST is legacy and new public apps must not use it. Shopify meters GraphQL by calculated query
cost, not by requests: each app and shop has a leaky bucket (standard plan: 2,000 points, restoring 100 a
second) and one query may cost at most 1,000. Every query here is sized to stay under that ceiling (page and
nested-connection sizes are computed from the documented cost rules), the bucket's state from each answer's
`extensions.cost.throttleStatus` is shared through the cache so every worker waits before it would be
throttled, and a THROTTLED answer becomes RateLimited with the wait the bucket needs.

Tokens: the install flow requests expiring offline tokens (an hour, with a rotating refresh token), which
Shopify requires of public apps from 2027; a non-expiring token (a custom app's) works too. A refused token
with no usable refresh token is an AuthError: the connection needs re-authorisation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.core.cache import cache

from apps.integrations.connectors.base import (
    AuthKind,
    Capability,
    ConnectionContext,
    Connector,
    CredentialField,
    FulfilmentData,
    FulfilmentResult,
    ListingDraft,
    ListingResult,
    OAuthTokens,
    OrderData,
    OrderLineData,
    OrderStatus,
    Page,
    PriceUpdate,
    ProductData,
    PushResult,
    StockUpdate,
    WebhookMessage,
    chunked,
)
from apps.integrations.connectors.errors import (
    AuthError,
    ConnectorError,
    PermanentError,
    RateLimited,
    TransientError,
)
from apps.integrations.http import HttpClient, RateLimit, RequestStats, default_classify

logger = logging.getLogger(__name__)

SHOP_DOMAIN_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]*\.myshopify\.com$")
MAX_QUERY_COST = 1000  # Shopify refuses a single query whose requested cost is higher
MUTATION_COST = 10
MAX_INPUT = 250  # Shopify's limit on any input array
DEFAULT_PAGE_SIZE = 20
MAX_ORDER_PAGE = 36  # keeps at least five line items per order inside one query's cost
MAX_PRODUCT_PAGE = 76  # keeps at least five variants per product inside one query's cost
MAX_NESTED = 50
SKU_LOOKUP_BATCH = 50
REFRESH_MARGIN = timedelta(minutes=2)
CALLBACK_MAX_AGE = 24 * 3600
COD_GATEWAY = re.compile(r"cash on delivery|\(cod\)|^cod$", re.IGNORECASE)
TOKEN_FIELDS_RE = re.compile(r'("(?:access|refresh)_token"\s*:\s*")[^"]*')
# What Haat subscribes to. orders/updated also fires on payment, fulfilment and cancellation; the privacy
# topics (customers/data_request, customers/redact, shop/redact) are set in the app's configuration, not here.
WEBHOOK_TOPICS = ("ORDERS_CREATE", "ORDERS_UPDATED", "PRODUCTS_CREATE", "PRODUCTS_UPDATE", "PRODUCTS_DELETE",
                  "APP_UNINSTALLED")
ORDER_TOPICS = frozenset({"orders/create", "orders/updated", "orders/cancelled", "orders/fulfilled", "orders/paid",
                          "orders/partially_fulfilled"})
# Topics that carry no order or product to normalize: the message's `action` is the topic itself, as the
# webhook receiver dispatches on it (app/uninstalled, the privacy topics, orders/delete, products/delete...).
PRODUCT_TOPICS = frozenset({"products/create", "products/update"})

# --- the GraphQL documents (validated against Shopify's 2025-01 schema in the tests) ---------------------------

_MONEY = "shopMoney { amount currencyCode }"
_LINE = f"id sku title name quantity currentQuantity originalUnitPriceSet {{ {_MONEY} }}"
# Requested cost of one order node: order 1, totalPriceSet 2, shippingAddress 1, fulfillments 3 x (1 + 1),
# lineItems 2 + lines x 3.
ORDER_NODE_COST, LINE_COST = 12, 3
ORDERS_QUERY = f"""
query HaatOrders($first: Int!, $after: String, $query: String, $lines: Int!) {{
  orders(first: $first, after: $after, sortKey: UPDATED_AT, query: $query) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{
      id legacyResourceId name createdAt updatedAt processedAt cancelledAt cancelReason
      displayFinancialStatus displayFulfillmentStatus returnStatus currencyCode paymentGatewayNames email phone test
      totalPriceSet {{ {_MONEY} }}
      shippingAddress {{ name firstName lastName address1 address2 city province provinceCode zip country
                        countryCodeV2 phone }}
      fulfillments(first: 3) {{ id status displayStatus deliveredAt createdAt trackingInfo(first: 1) {{ company number url }} }}
      lineItems(first: $lines) {{ pageInfo {{ hasNextPage endCursor }} nodes {{ {_LINE} }} }}
    }}
  }}
}}"""
ORDER_LINES_PAGE = 100
ORDER_LINES_QUERY = f"""
query HaatOrderLines($id: ID!, $after: String) {{
  order(id: $id) {{
    lineItems(first: {ORDER_LINES_PAGE}, after: $after) {{ pageInfo {{ hasNextPage endCursor }} nodes {{ {_LINE} }} }}
  }}
}}"""
ORDER_LINES_COST = 1 + 2 + ORDER_LINES_PAGE * LINE_COST

_VARIANT = "id legacyResourceId sku title price compareAtPrice barcode inventoryQuantity inventoryItem { id tracked }"
# shop 1; one product node: product 1 + variants 2 + variants x (variant 1 + inventoryItem 1).
PRODUCT_NODE_COST, VARIANT_COST = 3, 2
PRODUCTS_QUERY = f"""
query HaatProducts($first: Int!, $after: String, $variants: Int!) {{
  shop {{ currencyCode }}
  products(first: $first, after: $after, sortKey: ID) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{
      id legacyResourceId title status updatedAt
      variants(first: $variants) {{ pageInfo {{ hasNextPage endCursor }} nodes {{ {_VARIANT} }} }}
    }}
  }}
}}"""
PRODUCT_VARIANTS_PAGE = 100
PRODUCT_VARIANTS_QUERY = f"""
query HaatProductVariants($id: ID!, $after: String) {{
  product(id: $id) {{
    variants(first: {PRODUCT_VARIANTS_PAGE}, after: $after) {{ pageInfo {{ hasNextPage endCursor }} nodes {{ {_VARIANT} }} }}
  }}
}}"""
PRODUCT_VARIANTS_COST = 1 + 2 + PRODUCT_VARIANTS_PAGE * VARIANT_COST

SHOP_QUERY = "query HaatShop { shop { id name myshopifyDomain currencyCode ianaTimezone plan { displayName shopifyPlus } } }"
SHOP_COST = 2
LOCATION_QUERY = "query HaatPrimaryLocation { location { id } }"  # no id: the shop's primary location
LOCATION_COST = 1
VARIANTS_BY_SKU_QUERY = """
query HaatVariantsBySku($first: Int!, $query: String!) {
  productVariants(first: $first, query: $query) { nodes { id legacyResourceId sku product { id } inventoryItem { id } } }
}"""
FULFILLMENT_ORDERS_QUERY = """
query HaatFulfillmentOrders($id: ID!) {
  order(id: $id) {
    id displayFulfillmentStatus
    fulfillmentOrders(first: 5) {
      nodes {
        id status assignedLocation { location { id } }
        lineItems(first: 50) { pageInfo { hasNextPage } nodes { id remainingQuantity totalQuantity lineItem { id } } }
      }
    }
  }
}"""
FULFILLMENT_ORDERS_COST = 1 + 2 + 5 * (1 + 2 + 2 + 50 * 2)
WEBHOOKS_QUERY = """
query HaatWebhooks($url: URL!) {
  webhookSubscriptions(first: 50, callbackUrl: $url) {
    nodes { id topic endpoint { __typename ... on WebhookHttpEndpoint { callbackUrl } } }
  }
}"""
WEBHOOKS_COST = 2 + 50 * 2
SET_STOCK_MUTATION = """
mutation HaatSetStock($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) {
    inventoryAdjustmentGroup { id changes { name delta quantityAfterChange item { id } } }
    userErrors { code field message }
  }
}"""
SET_PRICES_MUTATION = """
mutation HaatSetPrices($productId: ID!, $variants: [ProductVariantsBulkInput!]!) {
  productVariantsBulkUpdate(productId: $productId, variants: $variants, allowPartialUpdates: true) {
    productVariants { id sku price compareAtPrice }
    userErrors { code field message }
  }
}"""
FULFILMENT_MUTATION = """
mutation HaatFulfil($fulfillment: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $fulfillment) {
    fulfillment { id legacyResourceId status trackingInfo(first: 1) { company number url } }
    userErrors { field message }
  }
}"""
# Listing creation (2025-01): productCreate takes no variants; it makes one standalone "Default Title" variant,
# which productVariantsBulkUpdate then prices and gives its SKU (on the inventory item); stock is set with
# inventorySetQuantities (SET_STOCK_MUTATION). A half-made product is deleted again with productDelete.
PRODUCT_CREATE_MUTATION = """
mutation HaatProductCreate($product: ProductCreateInput!, $media: [CreateMediaInput!]) {
  productCreate(product: $product, media: $media) {
    product { id legacyResourceId status variants(first: 1) { nodes { id inventoryItem { id } } } }
    userErrors { field message }
  }
}"""
LISTING_VARIANT_MUTATION = """
mutation HaatListingVariant($productId: ID!, $variants: [ProductVariantsBulkInput!]!) {
  productVariantsBulkUpdate(productId: $productId, variants: $variants) {
    productVariants { id sku price compareAtPrice barcode inventoryItem { id tracked } }
    userErrors { code field message }
  }
}"""
PRODUCT_DELETE_MUTATION = """
mutation HaatProductDelete($input: ProductDeleteInput!) {
  productDelete(input: $input) { deletedProductId userErrors { field message } }
}"""
WEBHOOK_CREATE_MUTATION = """
mutation HaatWebhookCreate($topic: WebhookSubscriptionTopic!, $subscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $subscription) {
    webhookSubscription { id topic }
    userErrors { field message }
  }
}"""
WEBHOOK_DELETE_MUTATION = """
mutation HaatWebhookDelete($id: ID!) {
  webhookSubscriptionDelete(id: $id) { deletedWebhookSubscriptionId userErrors { field message } }
}"""

T = TypeVar("T")


def order_page_sizes(page_size: int) -> tuple[int, int, int]:
    """(orders per page, line items per order, requested cost) for a wanted page size, under the 1,000 ceiling."""
    first = max(1, min(int(page_size), MAX_ORDER_PAGE))
    lines = min(MAX_NESTED, ((MAX_QUERY_COST - 2) // first - ORDER_NODE_COST) // LINE_COST)
    return first, lines, 2 + first * (ORDER_NODE_COST + LINE_COST * lines)


def product_page_sizes(page_size: int) -> tuple[int, int, int]:
    """(products per page, variants per product, requested cost) for a wanted page size."""
    first = max(1, min(int(page_size), MAX_PRODUCT_PAGE))
    variants = min(MAX_NESTED, ((MAX_QUERY_COST - 3) // first - PRODUCT_NODE_COST) // VARIANT_COST)
    return first, variants, 3 + first * (PRODUCT_NODE_COST + VARIANT_COST * variants)


def variants_by_sku_cost(first: int) -> int:
    return 2 + first * 3


def gid(kind: str, value: Any) -> str:
    value = str(value)
    return value if value.startswith("gid://") else f"gid://shopify/{kind}/{value}"


def legacy_id(value: Any) -> str:
    """The numeric tail of a gid ("gid://shopify/LineItem/12" -> "12"); other values unchanged."""
    text = str(value or "")
    return text.rsplit("/", 1)[-1] if text.startswith("gid://") else text


def clean_shop(value: Any) -> str:
    """A shop's myshopify.com domain from what a coordinator typed ("asha-crafts", an admin URL...)."""
    shop = str(value or "").strip().lower()
    shop = re.sub(r"^https?://", "", shop).split("/")[0].split("?")[0]
    if shop and "." not in shop:
        shop = f"{shop}.myshopify.com"
    if not SHOP_DOMAIN_RE.match(shop):
        raise PermanentError("Enter the store's myshopify.com address, for example asha-crafts.myshopify.com.")
    return shop


def callback_hmac(params: dict[str, str], secret: str) -> str:
    """Shopify's callback signature: drop hmac, sort the rest, join key=value with &, HMAC-SHA256 hex."""
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in ("hmac", "signature"))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def _dt(value: str) -> datetime:
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {value}")
    return parsed.astimezone(UTC)


def _money(value: Any) -> Decimal:
    amount = Decimal(str(value))
    if not amount.is_finite():
        raise ValueError(f"not an amount: {value}")
    return amount


def _redact_tokens(raw: bytes | str | None) -> str | None:
    if raw is None:
        return None
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    return TOKEN_FIELDS_RE.sub(r"\1[redacted]", text)


def _header(headers: dict[str, str], name: str) -> str:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return str(value)
    return ""


# --- status vocabulary -------------------------------------------------------------------------------------------


def _is_cod(gateways: Iterable[str]) -> bool:
    return any(COD_GATEWAY.search(str(g or "")) for g in gateways)


def order_status(node: dict) -> tuple[OrderStatus, str]:
    """Shopify's financial, fulfilment and return words for an order -> one normalized status.

    Cancelled wins; then a completed return; a fulfilled order is delivered once every fulfilment is; an
    unpaid order waits (pending) unless it is cash on delivery, which is shipped before it is paid; a
    partly fulfilled order still has items to ship, so it counts as unshipped.
    """
    financial = node.get("displayFinancialStatus") or ""
    fulfillment = node.get("displayFulfillmentStatus") or ""
    returns = node.get("returnStatus") or "NO_RETURN"
    raw = "/".join(filter(None, [fulfillment, financial, "CANCELLED" if node.get("cancelledAt") else "",
                                 returns if returns != "NO_RETURN" else ""]))
    if node.get("cancelledAt"):
        return OrderStatus.CANCELLED, raw
    if returns in ("RETURNED", "INSPECTION_COMPLETE"):
        return OrderStatus.RETURNED, raw
    if fulfillment == "FULFILLED":
        fulfilments = [f for f in node.get("fulfillments") or [] if f.get("status") in (None, "SUCCESS")]
        delivered = bool(fulfilments) and all(f.get("displayStatus") == "DELIVERED" or f.get("deliveredAt")
                                              for f in fulfilments)
        return (OrderStatus.DELIVERED if delivered else OrderStatus.SHIPPED), raw
    if fulfillment == "RESTOCKED":
        return OrderStatus.CANCELLED, raw
    if fulfillment in ("ON_HOLD", "SCHEDULED"):
        return OrderStatus.PENDING, raw
    if financial in ("PENDING", "EXPIRED") and not _is_cod(node.get("paymentGatewayNames") or []):
        return OrderStatus.PENDING, raw
    return OrderStatus.UNSHIPPED, raw


def rest_order_status(payload: dict) -> tuple[OrderStatus, str]:
    """The same rules over the REST-shaped JSON of orders/* webhooks (which has no return status: a refund
    that restocks items as a return marks the order returned)."""
    financial = payload.get("financial_status") or ""
    fulfillment = payload.get("fulfillment_status") or ""
    raw = f"{fulfillment or 'unfulfilled'}/{financial}" + ("/cancelled" if payload.get("cancelled_at") else "")
    if payload.get("cancelled_at"):
        return OrderStatus.CANCELLED, raw
    returned = any(item.get("restock_type") == "return" for refund in payload.get("refunds") or []
                   for item in refund.get("refund_line_items") or [])
    if returned:
        return OrderStatus.RETURNED, raw
    if fulfillment == "fulfilled":
        fulfilments = [f for f in payload.get("fulfillments") or [] if f.get("status") in (None, "success")]
        delivered = bool(fulfilments) and all(f.get("shipment_status") == "delivered" for f in fulfilments)
        return (OrderStatus.DELIVERED if delivered else OrderStatus.SHIPPED), raw
    if fulfillment == "restocked":
        return OrderStatus.CANCELLED, raw
    if financial == "pending" and not _is_cod(payload.get("payment_gateway_names") or []):
        return OrderStatus.PENDING, raw
    return OrderStatus.UNSHIPPED, raw


def _address(node: dict | None) -> dict[str, Any]:
    node = node or {}
    return {"name": node.get("name") or "", "line1": node.get("address1") or "", "line2": node.get("address2") or "",
            "city": node.get("city") or "", "state": node.get("province") or "", "postcode": node.get("zip") or "",
            "country": node.get("countryCodeV2") or node.get("country_code") or "", "phone": node.get("phone") or ""}


# --- the cost bucket -------------------------------------------------------------------------------------------


class CostBudget:
    """One shop's cost bucket as Shopify's last answer described it, kept in the cache so every worker of
    every process paces itself by it (the limit is per app and shop, not per connection)."""

    def __init__(self, shop: str):
        self.key = f"haat:shopify:cost:{shop}"

    def wait_for(self, cost: int, stats: RequestStats) -> float:
        """Sleep until the bucket holds `cost` points (bounded by HTTP_MAX_BACKOFF), then reserve them."""
        state = cache.get(self.key)
        if not state or state.get("restore", 0) <= 0:
            return 0.0
        now = time.time()
        available = min(state["maximum"], state["available"] + (now - state["at"]) * state["restore"])
        need = min(cost, state["maximum"]) - available
        wait = min(need / state["restore"], settings.HTTP_MAX_BACKOFF) if need > 0 else 0.0
        if wait > 0:
            stats.waited_seconds += wait
            time.sleep(wait)
            available += wait * state["restore"]
        cache.set(self.key, {**state, "available": available - cost, "at": time.time()}, timeout=3600)
        return wait

    def record(self, extensions: Any) -> dict | None:
        """Remember the bucket from an answer's extensions; returns the cost block when there was one."""
        cost = (extensions or {}).get("cost") if isinstance(extensions, dict) else None
        status = (cost or {}).get("throttleStatus") or {}
        try:
            state = {"maximum": float(status["maximumAvailable"]), "available": float(status["currentlyAvailable"]),
                     "restore": float(status["restoreRate"]), "at": time.time()}
        except (KeyError, TypeError, ValueError):
            return cost
        cache.set(self.key, state, timeout=3600)
        return cost


def throttle_wait(cost: dict | None) -> float | None:
    """Seconds until the bucket holds the refused query's requested cost, from Shopify's THROTTLED answer."""
    try:
        status = cost["throttleStatus"]
        missing = float(cost["requestedQueryCost"]) - float(status["currentlyAvailable"])
        return max(0.0, missing / float(status["restoreRate"]))
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


# --- the connector -----------------------------------------------------------------------------------------------


class ShopifyConnector(Connector):
    slug = "shopify"
    name = "Shopify"
    auth_kind = AuthKind.OAUTH
    capabilities = frozenset({Capability.ORDERS, Capability.PRODUCTS, Capability.STOCK_PUSH, Capability.PRICE_PUSH,
                              Capability.FULFILMENT_PUSH, Capability.WEBHOOKS, Capability.LISTING_CREATE})
    oauth_start_fields = (
        CredentialField(name="shop", label="Shop address", stored_in="config",
                        help_text="The store's myshopify.com address, for example asha-crafts.myshopify.com."),
    )
    # GraphQL is metered by cost (see CostBudget), not by requests; a mutation costs 10 points, so the
    # standard plan's 2,000-point bucket restoring 100 a second allows 10 a second with bursts of 200.
    # The OAuth endpoint has no published limit: one exchange per install and a refresh an hour.
    rate_limits: ClassVar[dict[str, RateLimit]] = {
        op: RateLimit(rate=10.0, burst=200) for op in ("stock", "prices", "fulfilment", "webhooks", "listings")
    }
    default_poll_interval = timedelta(minutes=10)  # webhooks bring most changes; polling reconciles
    orders_sorted_by_update = True  # orders(sortKey: UPDATED_AT), ascending
    docs_url = "https://shopify.dev/docs/api/admin-graphql"

    def __init__(self, context: ConnectionContext, *, http: HttpClient | None = None, base_url: str | None = None):
        super().__init__(context, http=http, base_url=base_url)
        self.shop = self._shop_of(context)
        self.budget = CostBudget(self.shop)
        self._location: str | None = None
        self._currency: str | None = None

    # --- description ---------------------------------------------------------------------------------------

    @staticmethod
    def _shop_of(context: ConnectionContext) -> str:
        for candidate in (context.config.get("shop"), context.external_account_id):
            if candidate:
                return clean_shop(candidate)
        raise PermanentError("This Shopify connection does not say which shop it is for.")

    @classmethod
    def default_base_url(cls, context: ConnectionContext) -> str:
        return f"https://{cls._shop_of(context)}"

    @property
    def api_version(self) -> str:
        return str(self.context.config.get("api_version") or settings.SHOPIFY_API_VERSION)

    @property
    def graphql_url(self) -> str:
        return f"{self.base_url}/admin/api/{self.api_version}/graphql.json"

    @property
    def page_size(self) -> int:
        try:
            return max(1, int(self.context.config.get("page_size") or DEFAULT_PAGE_SIZE))
        except (TypeError, ValueError):
            return DEFAULT_PAGE_SIZE

    # --- the one GraphQL call ------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        token = self.context.credentials.get("access_token")
        if not token:
            raise AuthError("This Shopify connection has no access token; connect the store again.")
        return {"X-Shopify-Access-Token": str(token), "Content-Type": "application/json", "Accept": "application/json"}

    def _classify(self, response: requests.Response) -> ConnectorError | None:
        status = response.status_code
        if status == 401:
            return AuthError("Shopify refused the access token: it was revoked, it expired or the app was "
                             "uninstalled. Reconnect the store.", raw=response.content, status_code=status)
        if status == 402:
            return PermanentError("The shop is frozen (its Shopify bill is unpaid); Shopify answers again once it "
                                  "is paid.", raw=response.content, status_code=status)
        if status == 423:
            return PermanentError("The shop is locked by Shopify.", raw=response.content, status_code=status)
        error = default_classify(response)
        if error is not None:
            return error
        try:
            payload = response.json()
        except ValueError:
            return PermanentError(f"Malformed JSON from Shopify ({len(response.content)} bytes)", raw=response.content,
                                  status_code=status)
        if not isinstance(payload, dict):
            return PermanentError("Shopify's answer is not a JSON object", raw=response.content, status_code=status)
        response.haat_payload = payload  # parsed once, read by _graphql
        errors = payload.get("errors")
        if not errors:
            return None
        errors = errors if isinstance(errors, list) else [{"message": str(errors)}]
        codes = {str((e.get("extensions") or {}).get("code", "")) for e in errors if isinstance(e, dict)}
        messages = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)[:500]
        if "THROTTLED" in codes:
            cost = self.budget.record(payload.get("extensions"))
            return RateLimited("Shopify throttled the request: the shop's cost bucket is empty",
                               retry_after=throttle_wait(cost), raw=response.content, status_code=status)
        if "ACCESS_DENIED" in codes:
            return AuthError(f"Shopify denied access; reconnect the store to grant it: {messages}",
                             raw=response.content, status_code=status)
        if "INTERNAL_SERVER_ERROR" in codes:
            return TransientError(f"Shopify failed to answer: {messages}", raw=response.content, status_code=status)
        return PermanentError(f"Shopify refused the query: {messages}", raw=response.content, status_code=status)

    def _graphql(self, query: str, variables: dict[str, Any] | None, *, operation: str, cost: int) -> dict:
        """POST one query or mutation; returns `data`. Refreshes an expiring token before it lapses, and once
        more when Shopify refuses it."""
        self._ensure_fresh_token()
        refreshed = False
        while True:
            self.budget.wait_for(cost, self.http.stats)
            try:
                response = self.http.request("POST", self.graphql_url, operation=operation, classify=self._classify,
                                             json={"query": query, "variables": variables or {}}, headers=self._headers())
            except AuthError as exc:
                if refreshed or exc.status_code != 401 or not self.context.credentials.get("refresh_token"):
                    raise
                self.refresh()
                refreshed = True
                continue
            payload = getattr(response, "haat_payload", None)
            if payload is None:
                payload = HttpClient.json(response)
            self.budget.record(payload.get("extensions"))
            data = payload.get("data")
            if not isinstance(data, dict):
                raise PermanentError("Shopify answered without data", raw=response.content,
                                     status_code=response.status_code)
            return data

    def _shape(self, parse: Callable[[], T], what: str, raw: Any) -> T:
        """Run a mapping; an answer that lacks what the schema promises is a PermanentError keeping it."""
        try:
            return parse()
        except (KeyError, TypeError, ValueError, AttributeError, InvalidOperation) as exc:
            raise PermanentError(f"Unexpected {what} from Shopify: {type(exc).__name__}: {exc}",
                                 raw=json.dumps(raw, default=str)) from exc

    # --- tokens --------------------------------------------------------------------------------------------

    def _ensure_fresh_token(self) -> None:
        creds = self.context.credentials
        if not creds.get("refresh_token") or not creds.get("expires_at"):
            return
        try:
            expires_at = _dt(creds["expires_at"])
        except ValueError:
            expires_at = datetime.now(UTC)
        if expires_at - REFRESH_MARGIN <= datetime.now(UTC):
            self.refresh()

    def refresh(self) -> None:
        """Swap the refresh token for a new token pair (Shopify rotates both) and persist it at once."""
        refresh_token = self.context.credentials.get("refresh_token")
        if not refresh_token:
            raise AuthError("This Shopify connection has no refresh token; reconnect the store.")
        client_id, client_secret = _app_credentials()
        response = self.http.request(
            "POST", f"{self.base_url}/admin/oauth/access_token", operation="oauth", classify=_classify_oauth,
            json={"client_id": client_id, "client_secret": client_secret, "grant_type": "refresh_token",
                  "refresh_token": refresh_token},
        )
        fresh = _token_credentials(_oauth_payload(response))
        creds = {k: v for k, v in self.context.credentials.items()
                 if k not in ("expires_at", "refresh_token", "refresh_token_expires_at")}
        creds.update(fresh)
        self.context.credentials = creds
        self.context.save_credentials(creds)

    # --- every connector -----------------------------------------------------------------------------------

    def test_connection(self) -> dict[str, Any]:
        data = self._graphql(SHOP_QUERY, None, operation="shop", cost=SHOP_COST)
        shop = data.get("shop") or {}
        return self._shape(lambda: {
            "account_id": shop["myshopifyDomain"], "shop": shop["myshopifyDomain"], "name": shop["name"],
            "currency": shop["currencyCode"], "timezone": shop.get("ianaTimezone") or "",
            "plan": (shop.get("plan") or {}).get("displayName") or "",
        }, "shop", data)

    # --- orders ----------------------------------------------------------------------------------------------

    def fetch_orders(self, *, since: datetime, cursor: str | None = None) -> Page[OrderData]:
        first, lines, cost = order_page_sizes(self.page_size)
        # Shopify's search compares whole seconds: flooring `since` can only include more, never miss one.
        query = f"updated_at:>'{since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}'"
        data = self._graphql(ORDERS_QUERY, {"first": first, "after": cursor, "query": query, "lines": lines},
                             operation="orders", cost=cost)
        connection = self._shape(lambda: data["orders"], "orders page", data)
        orders = []
        for node in connection.get("nodes") or []:
            line_nodes = self._shape(lambda n=node: list(n["lineItems"]["nodes"]), "order lines", node)
            page_info = (node.get("lineItems") or {}).get("pageInfo") or {}
            if page_info.get("hasNextPage"):
                line_nodes += self._remaining_lines(node["id"], page_info.get("endCursor"))
            orders.append(self._shape(lambda n=node, ln=line_nodes: self._order(n, ln), "order", node))
        info = connection.get("pageInfo") or {}
        return Page(items=orders, next_cursor=info.get("endCursor") if info.get("hasNextPage") else None)

    def _remaining_lines(self, order_id: str, after: str | None) -> list[dict]:
        lines: list[dict] = []
        while after:
            data = self._graphql(ORDER_LINES_QUERY, {"id": order_id, "after": after}, operation="orders",
                                 cost=ORDER_LINES_COST)
            connection = self._shape(lambda d=data: d["order"]["lineItems"], "order lines", data)
            lines += connection.get("nodes") or []
            info = connection.get("pageInfo") or {}
            after = info.get("endCursor") if info.get("hasNextPage") else None
        return lines

    def _order(self, node: dict, line_nodes: list[dict]) -> OrderData:
        status, raw_status = order_status(node)
        total = node["totalPriceSet"]["shopMoney"]
        address = node.get("shippingAddress") or {}
        lines = [OrderLineData(
            external_id=legacy_id(line["id"]), sku=line.get("sku") or "", title=line.get("title") or line.get("name") or "",
            quantity=int(line["quantity"]), unit_price=_money(line["originalUnitPriceSet"]["shopMoney"]["amount"]),
            raw=line,
        ) for line in line_nodes]
        raw = {**node, "lineItems": {"nodes": line_nodes}}
        return OrderData(
            external_id=str(node["legacyResourceId"]), status=status, raw_status=raw_status,
            placed_at=_dt(node.get("processedAt") or node["createdAt"]), updated_at=_dt(node["updatedAt"]),
            currency=total["currencyCode"], total=_money(total["amount"]), lines=lines,
            buyer_name=address.get("name") or "", shipping_address=_address(address), number=node.get("name") or "",
            raw=raw,
        )

    # --- products --------------------------------------------------------------------------------------------

    def fetch_products(self, *, cursor: str | None = None) -> Page[ProductData]:
        first, variants, cost = product_page_sizes(self.page_size)
        data = self._graphql(PRODUCTS_QUERY, {"first": first, "after": cursor, "variants": variants},
                             operation="products", cost=cost)
        connection = self._shape(lambda: data["products"], "products page", data)
        currency = (data.get("shop") or {}).get("currencyCode") or self.default_currency
        self._currency = currency
        items: list[ProductData] = []
        for node in connection.get("nodes") or []:
            variant_nodes = self._shape(lambda n=node: list(n["variants"]["nodes"]), "product variants", node)
            info = (node.get("variants") or {}).get("pageInfo") or {}
            if info.get("hasNextPage"):
                variant_nodes += self._remaining_variants(node["id"], info.get("endCursor"))
            items += self._shape(lambda n=node, vn=variant_nodes: self._products(n, vn, currency), "product", node)
        info = connection.get("pageInfo") or {}
        return Page(items=items, next_cursor=info.get("endCursor") if info.get("hasNextPage") else None)

    def _remaining_variants(self, product_id: str, after: str | None) -> list[dict]:
        variants: list[dict] = []
        while after:
            data = self._graphql(PRODUCT_VARIANTS_QUERY, {"id": product_id, "after": after}, operation="products",
                                 cost=PRODUCT_VARIANTS_COST)
            connection = self._shape(lambda d=data: d["product"]["variants"], "product variants", data)
            variants += connection.get("nodes") or []
            info = connection.get("pageInfo") or {}
            after = info.get("endCursor") if info.get("hasNextPage") else None
        return variants

    def _products(self, node: dict, variant_nodes: list[dict], currency: str) -> list[ProductData]:
        """One ProductData per variant with a SKU: a SKU is what Haat matches across channels."""
        product = {k: v for k, v in node.items() if k != "variants"}
        items = []
        for variant in variant_nodes:
            if not (variant.get("sku") or "").strip():
                continue
            title = _variant_title(node["title"], variant.get("title"))
            tracked = (variant.get("inventoryItem") or {}).get("tracked", True)
            items.append(ProductData(
                external_id=str(variant["legacyResourceId"]), sku=variant["sku"].strip(), title=title,
                price=_money(variant["price"]), currency=currency,
                quantity=int(variant["inventoryQuantity"]) if tracked and variant.get("inventoryQuantity") is not None else None,
                mrp=_money(variant["compareAtPrice"]) if variant.get("compareAtPrice") not in (None, "") else None,
                barcode=variant.get("barcode") or "",
                external_refs={"product_id": node["id"], "variant_id": variant["id"],
                               "inventory_item_id": variant["inventoryItem"]["id"]},
                raw={"product": product, "variant": variant},
            ))
        return items

    def _refs_for(self, skus: Iterable[str], given: dict[str, dict[str, str]], needed: tuple[str, ...]
                  ) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
        """The Shopify ids of each SKU: from the listing's stored refs, else looked up by SKU.
        Returns (refs by SKU, error by SKU)."""
        refs = {sku: r for sku, r in given.items() if all(r.get(k) for k in needed)}
        missing = sorted({sku for sku in skus if sku not in refs})
        errors: dict[str, str] = {}
        for batch in chunked(missing, SKU_LOOKUP_BATCH):
            search = " OR ".join('sku:"{}"'.format(sku.replace('"', '\\"')) for sku in batch)
            first = min(MAX_INPUT, len(batch) * 2)
            data = self._graphql(VARIANTS_BY_SKU_QUERY, {"first": first, "query": search}, operation="products",
                                 cost=variants_by_sku_cost(first))
            nodes = self._shape(lambda d=data: d["productVariants"]["nodes"], "variant lookup", data)
            found: dict[str, list[dict]] = {}
            for node in nodes:
                found.setdefault((node.get("sku") or "").strip(), []).append(node)
            for sku in batch:
                matches = found.get(sku, [])
                if not matches:
                    errors[sku] = f"SKU {sku} is not on any product in this Shopify store"
                elif len(matches) > 1:
                    errors[sku] = f"SKU {sku} is on {len(matches)} variants in Shopify; make it unique there"
                else:
                    node = matches[0]
                    refs[sku] = self._shape(lambda n=node: {"product_id": n["product"]["id"], "variant_id": n["id"],
                                                            "inventory_item_id": n["inventoryItem"]["id"]},
                                            "variant lookup", node)
        return refs, errors

    # --- stock -------------------------------------------------------------------------------------------------

    def _location_id(self) -> str:
        """Where stock is set: the connection's chosen location, else the shop's primary location."""
        if self._location is None:
            configured = self.context.config.get("location_id")
            if configured:
                self._location = gid("Location", configured)
            else:
                data = self._graphql(LOCATION_QUERY, None, operation="stock", cost=LOCATION_COST)
                self._location = self._shape(lambda: data["location"]["id"], "location", data)
        return self._location

    def push_stock(self, updates: Sequence[StockUpdate]) -> list[PushResult]:
        results: dict[int, PushResult] = {}
        last_of: dict[str, int] = {}
        for index, update in enumerate(updates):
            quantity = update.quantity
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
                results[index] = PushResult(sku=update.sku, ok=False, error="Stock must be a whole number, 0 or more")
                continue
            if update.sku in last_of:
                earlier = last_of[update.sku]
                results[earlier] = PushResult(sku=update.sku, ok=False,
                                              error="The same SKU came twice in one push; the last quantity was sent")
            last_of[update.sku] = index
        if last_of:
            refs, errors = self._refs_for(last_of, {updates[i].sku: dict(updates[i].external_refs)
                                                    for i in last_of.values()}, ("inventory_item_id",))
            ready = []
            for sku, index in last_of.items():
                if sku in errors:
                    results[index] = PushResult(sku=sku, ok=False, error=errors[sku])
                else:
                    ready.append((index, refs[sku]["inventory_item_id"]))
            if ready:
                location = self._location_id()
                for chunk in chunked(ready, MAX_INPUT):
                    results.update(self._set_quantities(list(chunk), location, updates))
        return [results[i] for i in range(len(updates))]

    def _set_quantities(self, chunk: list[tuple[int, str]], location: str, updates: Sequence[StockUpdate]
                        ) -> dict[int, PushResult]:
        """inventorySetQuantities is all or nothing: when some quantities are refused, the rest are sent again."""
        results: dict[int, PushResult] = {}
        for _attempt in range(2):
            variables = {"input": {
                "name": "available", "reason": "correction", "ignoreCompareQuantity": True,
                "quantities": [{"inventoryItemId": item, "locationId": location, "quantity": updates[i].quantity}
                               for i, item in chunk],
            }}
            data = self._graphql(SET_STOCK_MUTATION, variables, operation="stock", cost=MUTATION_COST)
            payload = self._shape(lambda d=data: d["inventorySetQuantities"], "stock answer", data)
            refused = _errors_by_index(payload.get("userErrors") or [], "quantities")
            if not refused:
                for i, _item in chunk:
                    results[i] = PushResult(sku=updates[i].sku, ok=True, raw=payload)
                return results
            general = refused.pop(None, [])
            for position, (i, _item) in enumerate(chunk):
                if position in refused or general:
                    results[i] = PushResult(sku=updates[i].sku, ok=False, error="; ".join(
                        refused.get(position, []) + general), raw=payload)
            chunk = [(i, item) for position, (i, item) in enumerate(chunk) if position not in refused and not general]
            if not chunk:
                return results
        for i, _item in chunk:
            results[i] = PushResult(sku=updates[i].sku, ok=False, error="Shopify refused the stock update twice")
        return results

    # --- prices ------------------------------------------------------------------------------------------------

    def _shop_currency(self) -> str:
        if self._currency is None:
            self._currency = str(self.context.config.get("currency") or self.test_connection()["currency"])
        return self._currency

    def push_prices(self, updates: Sequence[PriceUpdate]) -> list[PushResult]:
        results: dict[int, PushResult] = {}
        valid: dict[int, PriceUpdate] = {}
        currency = self._shop_currency() if updates else ""
        for index, update in enumerate(updates):
            problem = _price_problem(update, currency)
            if problem:
                results[index] = PushResult(sku=update.sku, ok=False, error=problem)
            else:
                valid[index] = update
        if valid:
            refs, errors = self._refs_for({u.sku for u in valid.values()},
                                          {u.sku: dict(u.external_refs) for u in valid.values()},
                                          ("product_id", "variant_id"))
            by_product: dict[str, list[tuple[int, PriceUpdate]]] = {}
            for index, update in valid.items():
                if update.sku in errors:
                    results[index] = PushResult(sku=update.sku, ok=False, error=errors[update.sku])
                else:
                    by_product.setdefault(refs[update.sku]["product_id"], []).append((index, update))
            for product_id, entries in by_product.items():
                for chunk in chunked(entries, MAX_INPUT):
                    results.update(self._set_prices(product_id, list(chunk), refs))
        return [results[i] for i in range(len(updates))]

    def _set_prices(self, product_id: str, chunk: list[tuple[int, PriceUpdate]], refs: dict[str, dict[str, str]]
                    ) -> dict[int, PushResult]:
        variants = []
        for _index, update in chunk:
            variant: dict[str, Any] = {"id": refs[update.sku]["variant_id"], "price": _amount(update.price)}
            if update.mrp is not None:
                variant["compareAtPrice"] = _amount(update.mrp)
            variants.append(variant)
        data = self._graphql(SET_PRICES_MUTATION, {"productId": product_id, "variants": variants}, operation="prices",
                             cost=MUTATION_COST)
        payload = self._shape(lambda: data["productVariantsBulkUpdate"], "price answer", data)
        refused = _errors_by_index(payload.get("userErrors") or [], "variants")
        general = refused.pop(None, [])
        results = {}
        for position, (index, update) in enumerate(chunk):
            problems = refused.get(position, []) + general
            results[index] = PushResult(sku=update.sku, ok=not problems, error="; ".join(problems), raw=payload)
        return results

    # --- listings ----------------------------------------------------------------------------------------------

    def create_listing(self, draft: ListingDraft) -> ListingResult:
        """Create an active one-variant product priced, with its SKU and stock at the connection's location.

        Three calls (productCreate, productVariantsBulkUpdate, inventorySetQuantities); when a later one is
        refused the product is deleted again, so a retry starts clean instead of meeting a half-made product.
        A SKU the shop already has is not created twice (Shopify itself allows duplicate SKUs)."""
        problem = _draft_problem(draft)
        if problem:
            return ListingResult(ok=False, state="rejected", error=problem)
        currency = self._shop_currency()
        if draft.currency and draft.currency.upper() != currency.upper():
            return ListingResult(ok=False, state="rejected",
                                 error=f"This Shopify store sells in {currency}; a listing priced in {draft.currency} "
                                       "cannot be made")
        refs, errors = self._refs_for([draft.sku], {}, ("variant_id",))
        if draft.sku in refs or (draft.sku in errors and "not on any product" not in errors[draft.sku]):
            return ListingResult(ok=False, state="rejected", external_refs=refs.get(draft.sku, {}),
                                 error=f"The store already has a product with SKU {draft.sku}: link it instead")
        location = self._location_id()  # before creating anything: a shop without one gets no half-made product
        product_input: dict[str, Any] = {"title": draft.title.strip(), "descriptionHtml": _description_html(draft.description),
                                         "status": "ACTIVE"}
        if draft.brand:
            product_input["vendor"] = draft.brand
        if draft.product_type:
            product_input["productType"] = draft.product_type
        media = [{"originalSource": src, "mediaContentType": "IMAGE", "alt": draft.title.strip()} for src in draft.images]
        data = self._graphql(PRODUCT_CREATE_MUTATION, {"product": product_input, "media": media or None},
                             operation="listings", cost=MUTATION_COST)
        payload = self._shape(lambda: data["productCreate"], "product answer", data)
        problems = [str(e.get("message")) for e in payload.get("userErrors") or []]
        if problems or not payload.get("product"):
            return ListingResult(ok=False, state="rejected", raw=payload,
                                 error="Shopify refused the product: " + ("; ".join(problems) or "no product made"))
        product = payload["product"]
        try:
            variant = self._shape(lambda: product["variants"]["nodes"][0], "new product", payload)
            refs = {"product_id": product["id"], "variant_id": variant["id"],
                    "inventory_item_id": variant["inventoryItem"]["id"]}
            refused = self._finish_listing(draft, refs, location)
        except ConnectorError as exc:
            exc.message = self._discard(product["id"], str(exc.message))
            exc.args = (exc.message,)
            raise
        if refused:
            return ListingResult(ok=False, state="rejected", raw=payload,
                                 error=self._discard(product["id"], f"Shopify refused the listing: {refused}"))
        state = "active" if product.get("status") == "ACTIVE" else str(product.get("status") or "pending").lower()
        return ListingResult(ok=True, external_refs=refs, state=state, raw=payload)

    def _finish_listing(self, draft: ListingDraft, refs: dict[str, str], location: str) -> str:
        """Price the new product's variant, give it the SKU and set its stock; returns what Shopify refused."""
        variant: dict[str, Any] = {"id": refs["variant_id"], "price": _amount(draft.price),
                                   "compareAtPrice": _amount(draft.mrp) if draft.mrp and draft.mrp > draft.price else None,
                                   "inventoryItem": {"sku": draft.sku, "tracked": True}}
        if draft.barcode:
            variant["barcode"] = draft.barcode
        data = self._graphql(LISTING_VARIANT_MUTATION, {"productId": refs["product_id"], "variants": [variant]},
                             operation="listings", cost=MUTATION_COST)
        payload = self._shape(lambda: data["productVariantsBulkUpdate"], "variant answer", data)
        problems = [m for messages in _errors_by_index(payload.get("userErrors") or [], "variants").values()
                    for m in messages]
        if problems:
            return "; ".join(problems)
        stock = self._set_quantities([(0, refs["inventory_item_id"])], location,
                                     [StockUpdate(sku=draft.sku, quantity=draft.quantity, external_refs=refs)])
        return "" if stock[0].ok else f"stock not set: {stock[0].error}"

    def _discard(self, product_id: str, reason: str) -> str:
        """Delete a product this listing attempt made; returns `reason`, saying so when the product stays."""
        try:
            data = self._graphql(PRODUCT_DELETE_MUTATION, {"input": {"id": product_id}}, operation="listings",
                                 cost=MUTATION_COST)
            payload = data.get("productDelete") or {}
            problems = [str(e.get("message")) for e in payload.get("userErrors") or []]
        except ConnectorError as exc:
            problems = [exc.message]
        if problems or not payload.get("deletedProductId"):
            logger.warning("Shopify product %s from a refused listing was not deleted: %s", product_id, problems)
            return (f"{reason}. The half-made product {legacy_id(product_id)} could not be deleted "
                    f"({'; '.join(problems) or 'no answer'}); delete it in the Shopify admin before retrying")
        return reason

    # --- fulfilment --------------------------------------------------------------------------------------------

    def push_fulfilment(self, fulfilment: FulfilmentData) -> FulfilmentResult:
        data = self._graphql(FULFILLMENT_ORDERS_QUERY, {"id": gid("Order", fulfilment.order_external_id)},
                             operation="fulfilment", cost=FULFILLMENT_ORDERS_COST)
        order = data.get("order")
        if not order:
            return FulfilmentResult(ok=False, error=f"Order {fulfilment.order_external_id} is not in this Shopify store")
        open_orders = self._shape(lambda: [fo for fo in order["fulfillmentOrders"]["nodes"]
                                           if fo["status"] in ("OPEN", "IN_PROGRESS")], "fulfillment orders", data)
        if not open_orders:
            return FulfilmentResult(ok=False, error="Nothing is left to fulfil: the order is already fulfilled, on hold "
                                                    "or cancelled in Shopify", raw=order)
        locations = {((fo.get("assignedLocation") or {}).get("location") or {}).get("id") for fo in open_orders}
        if len(locations) > 1:
            return FulfilmentResult(ok=False, error="The order ships from several Shopify locations; fulfil it in the "
                                                    "Shopify admin", raw=order)
        groups = self._shape(lambda: _fulfilment_groups(open_orders, fulfilment), "fulfillment orders", data)
        if isinstance(groups, str):
            return FulfilmentResult(ok=False, error=groups, raw=order)
        tracking: dict[str, str] = {"company": fulfilment.carrier, "number": fulfilment.tracking_number}
        if fulfilment.tracking_url:
            tracking["url"] = fulfilment.tracking_url
        variables = {"fulfillment": {
            "lineItemsByFulfillmentOrder": groups, "trackingInfo": tracking,
            "notifyCustomer": bool(self.context.config.get("notify_customer", True)),
        }}
        result = self._graphql(FULFILMENT_MUTATION, variables, operation="fulfilment", cost=MUTATION_COST)
        payload = self._shape(lambda: result["fulfillmentCreate"], "fulfilment answer", result)
        problems = [str(e.get("message")) for e in payload.get("userErrors") or []]
        created = payload.get("fulfillment")
        if problems or not created:
            return FulfilmentResult(ok=False, error="; ".join(problems) or "Shopify created no fulfilment", raw=payload)
        return FulfilmentResult(ok=True, external_id=str(created.get("legacyResourceId") or legacy_id(created["id"])),
                                raw=payload)

    # --- webhooks ----------------------------------------------------------------------------------------------

    @classmethod
    def verify_webhook(cls, *, body: bytes, headers: dict[str, str], secret: str) -> bool:
        """X-Shopify-Hmac-Sha256 is base64 of HMAC-SHA256 over the raw body with the app's client secret."""
        provided = _header(headers, "X-Shopify-Hmac-Sha256").strip()
        if not provided or not secret:
            return False
        expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
        return hmac.compare_digest(expected.encode(), provided.encode())

    def parse_webhook(self, *, body: bytes, headers: dict[str, str]) -> WebhookMessage:
        topic = _header(headers, "X-Shopify-Topic").strip().lower()
        delivery_id = _header(headers, "X-Shopify-Webhook-Id").strip() or _header(headers, "X-Shopify-Event-Id").strip()
        if not topic or not delivery_id:
            raise PermanentError("A Shopify delivery without X-Shopify-Topic or X-Shopify-Webhook-Id", raw=body)
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise PermanentError(f"Malformed JSON in a Shopify {topic} delivery", raw=body) from exc
        if not isinstance(payload, dict):
            raise PermanentError(f"A Shopify {topic} delivery that is not a JSON object", raw=body)
        message = WebhookMessage(delivery_id=delivery_id, topic=topic, payload=payload)
        try:
            if topic in ORDER_TOPICS:
                message.orders = [_rest_order(payload)]
            elif topic in PRODUCT_TOPICS:
                currency = str(self.context.config.get("currency") or self.default_currency)
                message.products = _rest_products(payload, currency)
            else:
                message.action = topic
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise PermanentError(f"Unexpected {topic} payload from Shopify: {type(exc).__name__}: {exc}", raw=body) from exc
        return message

    def register_webhooks(self, *, callback_url: str, secret: str) -> list[str]:
        """Subscribe `callback_url` to WEBHOOK_TOPICS (reusing subscriptions it already has). Shopify signs
        every delivery with the app's client secret, so `secret` is not sent."""
        data = self._graphql(WEBHOOKS_QUERY, {"url": callback_url}, operation="webhooks", cost=WEBHOOKS_COST)
        existing = self._shape(lambda: {n["topic"]: n["id"] for n in data["webhookSubscriptions"]["nodes"]},
                               "webhook subscriptions", data)
        ids = []
        for topic in WEBHOOK_TOPICS:
            if topic in existing:
                ids.append(existing[topic])
                continue
            result = self._graphql(WEBHOOK_CREATE_MUTATION, {
                "topic": topic, "subscription": {"callbackUrl": callback_url, "format": "JSON"},
            }, operation="webhooks", cost=MUTATION_COST)
            payload = self._shape(lambda r=result: r["webhookSubscriptionCreate"], "webhook answer", result)
            problems = [str(e.get("message")) for e in payload.get("userErrors") or []]
            if problems or not payload.get("webhookSubscription"):
                raise PermanentError(f"Shopify refused the {topic.lower()} webhook: {'; '.join(problems)}",
                                     raw=json.dumps(payload))
            ids.append(payload["webhookSubscription"]["id"])
        return ids

    def unregister_webhooks(self, *, webhook_ids: Sequence[str]) -> None:
        problems = []
        for webhook_id in webhook_ids:
            result = self._graphql(WEBHOOK_DELETE_MUTATION, {"id": gid("WebhookSubscription", webhook_id)},
                                   operation="webhooks", cost=MUTATION_COST)
            payload = self._shape(lambda r=result: r["webhookSubscriptionDelete"], "webhook answer", result)
            for error in payload.get("userErrors") or []:
                if "does not exist" not in str(error.get("message", "")):  # already gone is what we wanted
                    problems.append(str(error.get("message")))
        if problems:
            raise PermanentError(f"Shopify kept some webhooks: {'; '.join(problems)}")

    # --- OAuth -------------------------------------------------------------------------------------------------

    @classmethod
    def sandbox_base_url(cls, *, sandbox_root: str, params: dict[str, str]) -> str:
        try:
            shop = clean_shop(params.get("shop"))
        except PermanentError:
            # authorization_url refuses the domain with a clear message; this must not raise first.
            shop = re.sub(r"[^a-z0-9.-]+", "-", str(params.get("shop") or "").lower()) or "unknown"
        return f"{sandbox_root.rstrip('/')}/{cls.slug}/{shop}"

    @classmethod
    def authorization_url(cls, *, state: str, redirect_uri: str, params: dict[str, str], config: dict[str, Any]) -> str:
        shop = clean_shop(params.get("shop") or config.get("shop"))
        client_id, _secret = _app_credentials()
        base = str(config.get("base_url") or f"https://{shop}").rstrip("/")
        query = urlencode({"client_id": client_id, "scope": ",".join(settings.SHOPIFY_SCOPES),
                           "redirect_uri": redirect_uri, "state": state})
        return f"{base}/admin/oauth/authorize?{query}"

    @classmethod
    def verify_callback(cls, *, params: dict[str, str], config: dict[str, Any]) -> None:
        """The hmac must be Shopify's, the shop a myshopify.com domain and the one the install started for."""
        _client_id, secret = _app_credentials()
        received = str(params.get("hmac") or "")
        if not received or not hmac.compare_digest(callback_hmac(params, secret).encode(), received.lower().encode()):
            raise AuthError("The answer from Shopify failed its signature check; start connecting again.")
        shop = str(params.get("shop") or "")
        if not SHOP_DOMAIN_RE.match(shop):
            raise AuthError("The answer from Shopify does not name a valid myshopify.com shop.")
        try:
            expected = clean_shop(config.get("shop"))
        except PermanentError as exc:
            raise AuthError("This sign-in does not say which shop it was started for; start connecting again.") from exc
        if shop.lower() != expected:
            raise AuthError(f"The answer came from {shop.lower()}, not from {expected} where connecting started; "
                            "start connecting again.")
        try:
            age = abs(time.time() - int(params.get("timestamp") or ""))
        except ValueError as exc:
            raise AuthError("The answer from Shopify has no valid timestamp.") from exc
        if age > CALLBACK_MAX_AGE:
            raise AuthError("The answer from Shopify is too old; start connecting again.")
        if not params.get("code"):
            raise AuthError("The answer from Shopify carries no authorization code.")

    @classmethod
    def exchange_code(cls, *, callback_params: dict[str, str], redirect_uri: str, http: HttpClient,
                      config: dict[str, Any]) -> OAuthTokens:
        """Swap the single-use code for an expiring offline token, check the granted scopes, name the shop."""
        shop = clean_shop(callback_params.get("shop"))
        client_id, client_secret = _app_credentials()
        base = str(config.get("base_url") or f"https://{shop}").rstrip("/")
        response = http.request("POST", f"{base}/admin/oauth/access_token", operation="oauth", classify=_classify_oauth,
                                json={"client_id": client_id, "client_secret": client_secret,
                                      "code": callback_params.get("code", ""), "expiring": "1"})
        credentials = _token_credentials(_oauth_payload(response))
        missing = _missing_scopes(credentials.get("scope", ""), settings.SHOPIFY_SCOPES)
        if missing:
            raise AuthError(f"Shopify granted less access than Haat needs (missing: {', '.join(missing)}); "
                            "connect again and approve every permission.")
        connection_config = {"shop": shop, **({"base_url": base} if config.get("base_url") else {})}
        connector = cls(ConnectionContext(connection_id=f"oauth:{shop}", credentials=credentials, config=connection_config),
                        http=http)
        info = connector.test_connection()
        return OAuthTokens(credentials=credentials, external_account_id=shop, display_name=info["name"],
                           config={"shop": shop, "currency": info["currency"]})


# --- helpers of the push and webhook paths ---------------------------------------------------------------------


def _app_credentials() -> tuple[str, str]:
    client_id, secret = settings.SHOPIFY_CLIENT_ID, settings.SHOPIFY_CLIENT_SECRET
    if not client_id or not secret:
        raise PermanentError("Haat's Shopify app is not configured: set SHOPIFY_CLIENT_ID and SHOPIFY_CLIENT_SECRET.")
    return client_id, secret


def _classify_oauth(response: requests.Response) -> ConnectorError | None:
    """The token endpoint refuses with OAuth's {"error", "error_description"}: a code or refresh token that
    cannot be used means connecting again."""
    if response.status_code in (400, 401, 403):
        try:
            body = response.json()
        except ValueError:
            body = {}
        description = body.get("error_description") or body.get("error") or body.get("errors") or f"HTTP {response.status_code}"
        return AuthError(f"Shopify refused the sign-in: {str(description)[:300]}", raw=_redact_tokens(response.content),
                         status_code=response.status_code)
    error = default_classify(response)
    if error is not None:
        error.raw = _redact_tokens(error.raw)
    return error


def _oauth_payload(response: requests.Response) -> dict:
    try:
        payload = response.json()
    except ValueError as exc:
        raise PermanentError("Malformed answer from Shopify's token endpoint", raw=_redact_tokens(response.content),
                             status_code=response.status_code) from exc
    if not isinstance(payload, dict) or not payload.get("access_token"):
        raise PermanentError("Shopify's token endpoint answered without an access token",
                             raw=_redact_tokens(response.content), status_code=response.status_code)
    return payload


def _token_credentials(payload: dict) -> dict[str, Any]:
    now = datetime.now(UTC)
    credentials: dict[str, Any] = {"access_token": payload["access_token"], "scope": str(payload.get("scope") or "")}
    if payload.get("expires_in"):
        credentials["expires_at"] = (now + timedelta(seconds=int(payload["expires_in"]))).isoformat()
    if payload.get("refresh_token"):
        credentials["refresh_token"] = payload["refresh_token"]
        if payload.get("refresh_token_expires_in"):
            credentials["refresh_token_expires_at"] = (
                now + timedelta(seconds=int(payload["refresh_token_expires_in"]))).isoformat()
    return credentials


def _missing_scopes(granted: str, required: Iterable[str]) -> list[str]:
    have = {s.strip() for s in granted.split(",") if s.strip()}
    return [s for s in required if s not in have and not (s.startswith("read_") and f"write_{s[5:]}" in have)]


def _errors_by_index(user_errors: list[dict], array: str) -> dict[int | None, list[str]]:
    """userErrors by the index of the input item their `field` path names (None: not tied to one item)."""
    out: dict[int | None, list[str]] = {}
    for error in user_errors:
        field = [str(part) for part in error.get("field") or []]
        index = None
        if array in field:
            position = field.index(array)
            if position + 1 < len(field) and field[position + 1].isdigit():
                index = int(field[position + 1])
        message = str(error.get("message") or "refused")
        if error.get("code"):
            message = f"{message} ({error['code']})"
        out.setdefault(index, []).append(message)
    return out


def _amount(value: Decimal) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


def _price_problem(update: PriceUpdate, currency: str) -> str:
    for label, value in (("price", update.price), ("MRP", update.mrp)):
        if value is None and label == "MRP":
            continue
        if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
            return f"The {label} must be an amount of 0 or more"
    if update.currency and update.currency != currency:
        return f"This Shopify store sells in {currency}, not {update.currency}"
    return ""


def _draft_problem(draft: ListingDraft) -> str:
    if not draft.sku.strip() or not draft.title.strip():
        return "A listing needs a SKU and a title"
    if draft.sku != draft.sku.strip() or len(draft.sku) > 255:
        return "The SKU must have no leading or trailing spaces and at most 255 characters"
    if len(draft.title.strip()) > 255:
        return "Shopify takes titles of at most 255 characters"
    if not isinstance(draft.price, Decimal) or not draft.price.is_finite() or draft.price <= 0:
        return "A listing needs a positive price"
    if draft.mrp is not None and (not isinstance(draft.mrp, Decimal) or not draft.mrp.is_finite() or draft.mrp < draft.price):
        return "The MRP cannot be below the price"
    if isinstance(draft.quantity, bool) or not isinstance(draft.quantity, int) or not 0 <= draft.quantity <= 1_000_000_000:
        return "Stock must be a whole number from 0 to 1,000,000,000"
    bad = [src for src in draft.images if not re.match(r"^https?://[^\s]+$", str(src))]
    if bad:
        return f"Shopify fetches images from public http(s) addresses; not: {', '.join(map(str, bad))[:200]}"
    return ""


def _description_html(text: str) -> str:
    """Plain catalog text as Shopify's HTML description: escaped, paragraphs kept."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text or "") if p.strip()]
    return "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)


def _fulfilment_groups(open_orders: list[dict], fulfilment: FulfilmentData) -> list[dict] | str:
    """lineItemsByFulfillmentOrder for the lines being shipped (all remaining when none are named), or an error."""
    if not fulfilment.lines:
        return [{"fulfillmentOrderId": fo["id"]} for fo in open_orders]
    wanted = {gid("LineItem", line.external_line_id): line.quantity for line in fulfilment.lines}
    groups: list[dict] = []
    for fo in open_orders:
        items = []
        for item in fo["lineItems"]["nodes"]:
            line_id = item["lineItem"]["id"]
            take = min(wanted.get(line_id, 0), int(item["remainingQuantity"]))
            if take > 0:
                items.append({"id": item["id"], "quantity": take})
                wanted[line_id] -= take
        if items:
            groups.append({"fulfillmentOrderId": fo["id"], "fulfillmentOrderLineItems": items})
    short = [legacy_id(line_id) for line_id, quantity in wanted.items() if quantity > 0]
    if short:
        return f"Shopify has nothing left to fulfil for line(s) {', '.join(short)} of this order"
    return groups


def _variant_title(product: str, variant: str | None) -> str:
    return product if variant in (None, "", "Default Title") else f"{product} - {variant}"


def _rest_order(payload: dict) -> OrderData:
    status, raw_status = rest_order_status(payload)
    address = payload.get("shipping_address") or {}
    customer = payload.get("customer") or {}
    lines = [OrderLineData(
        external_id=str(item["id"]), sku=item.get("sku") or "", title=item.get("title") or item.get("name") or "",
        quantity=int(item["quantity"]), unit_price=_money(item["price"]), raw=item,
    ) for item in payload.get("line_items") or []]
    buyer = address.get("name") or " ".join(filter(None, [customer.get("first_name"), customer.get("last_name")]))
    return OrderData(
        external_id=str(payload["id"]), status=status, raw_status=raw_status,
        placed_at=_dt(payload.get("processed_at") or payload["created_at"]), updated_at=_dt(payload["updated_at"]),
        currency=payload["currency"], total=_money(payload["total_price"]), lines=lines, buyer_name=buyer,
        shipping_address=_address(address), number=payload.get("name") or "", raw=payload,
    )


def _rest_products(payload: dict, currency: str) -> list[ProductData]:
    product_gid = payload.get("admin_graphql_api_id") or gid("Product", payload["id"])
    items = []
    for variant in payload.get("variants") or []:
        if not (variant.get("sku") or "").strip():
            continue
        title = _variant_title(payload["title"], variant.get("title"))
        items.append(ProductData(
            external_id=str(variant["id"]), sku=variant["sku"].strip(), title=title, price=_money(variant["price"]),
            currency=currency,
            quantity=int(variant["inventory_quantity"]) if variant.get("inventory_quantity") is not None else None,
            mrp=_money(variant["compare_at_price"]) if variant.get("compare_at_price") not in (None, "") else None,
            barcode=variant.get("barcode") or "",
            external_refs={"product_id": product_gid,
                           "variant_id": variant.get("admin_graphql_api_id") or gid("ProductVariant", variant["id"]),
                           "inventory_item_id": gid("InventoryItem", variant["inventory_item_id"])},
            raw={"product": {k: v for k, v in payload.items() if k != "variants"}, "variant": variant},
        ))
    return items
