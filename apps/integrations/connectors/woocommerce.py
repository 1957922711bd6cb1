"""WooCommerce REST API v3 (`/wp-json/wc/v3/`): a store's orders, products, stock, prices, fulfilment, webhooks.

Auth is a REST API key pair the store owner generates (WooCommerce → Settings → Advanced → REST API):
`ck_...` and `cs_...`, sent as HTTP Basic over HTTPS. WooCommerce authenticates Basic only on HTTPS (over
plain HTTP it wants OAuth 1.0a signatures), so a store URL must be https; the one exception is this Haat's
own sandbox. Keys never expire and there is nothing to refresh: a deleted key answers 401
`woocommerce_rest_cannot_view` (the request is simply unauthenticated), a wrong secret 401
`woocommerce_rest_authentication_error`, a read-only key 401 "does not have write permissions" on any write.

Orders are read by last-modified time, ascending (`orderby=modified` sorts by `modified, ID`), with
`modified_after` (strictly after) and `dates_are_gmt=true`. Page numbers are not stable while orders change
(an order edited during the read moves to the end and every later page shifts by one), so the connector
pages by keyset instead: the cursor carries the (modified, id) of the last order returned, the next
request asks for orders modified since one second before it and drops those at or before it. An order
edited meanwhile is not lost: its new modified time puts it after the cursor. `offset` is used only when
more than a page of orders share one second.

WooCommerce core has no "shipped" or "delivered": `completed` is what a shop sets when it sends the parcel,
so it reads as shipped; plugins such as Advanced Shipment Tracking add `delivered`, `shipped` and
`partial-shipped`, which are read as such. Tracking goes through the Shipment Tracking extension
(`/wp-json/wc-shipment-tracking/v3/`) when the store has it, else into a note to the customer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from apps.integrations.connectors.addresses import normalize_shop_url, on_sandbox
from apps.integrations.connectors.base import (
    AuthKind,
    Capability,
    ConnectionContext,
    Connector,
    CredentialField,
    FulfilmentChannel,
    FulfilmentData,
    FulfilmentResult,
    ListingDraft,
    ListingResult,
    OrderData,
    OrderLineData,
    OrderStatus,
    Page,
    PriceUpdate,
    ProductData,
    PushResult,
    RatingData,
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
from apps.integrations.connectors.parsing import iso_time, payload_text
from apps.integrations.http import HttpClient, RateLimit, retry_after_seconds

logger = logging.getLogger(__name__)

API_PATH = "/wp-json/wc/v3"
TRACKING_NAMESPACE = "wc-shipment-tracking/v3"
MAX_PAGE_SIZE = 100  # the REST API's maximum per_page
BATCH_SIZE = 100  # woocommerce_rest_batch_items_limit's default
SKUS_PER_LOOKUP = 50
BATCH_TIMEOUT = 90.0  # a batch of 100 product saves can take a while on shared hosting
MAX_EMPTY_PAGES = 50
# WordPress may compare a review's `after` with the local-time column or the GMT one depending on version: ask a
# day earlier than needed (covers every UTC offset) and keep only what is really newer, by its GMT time.
REVIEWS_MARGIN = timedelta(days=1)
CENT = Decimal("0.01")
WEBHOOK_TOPICS = ("order.created", "order.updated", "product.updated")
KEY_PATTERN = re.compile(r"^ck_[0-9a-f]{40}$")
SECRET_PATTERN = re.compile(r"^cs_[0-9a-f]{40}$")
PING_PATTERN = re.compile(rb"^webhook_id=(\d+)$")
TAG_PATTERN = re.compile(r"<[^>]+>")
GMT_FORMAT = "%Y-%m-%dT%H:%M:%S"

# WooCommerce's statuses (and the common shipping plugins') in Haat's words.
STATUS_MAP: dict[str, OrderStatus] = {
    "pending": OrderStatus.PENDING,  # awaiting payment
    "on-hold": OrderStatus.PENDING,  # awaiting payment confirmation (bank transfer, cheque)
    "checkout-draft": OrderStatus.PENDING,
    "processing": OrderStatus.UNSHIPPED,  # paid (or cash on delivery), to be shipped
    "partial-shipped": OrderStatus.UNSHIPPED,  # Advanced Shipment Tracking: part of it still to ship
    "completed": OrderStatus.SHIPPED,  # core's "fulfilled": the shop sent it; Woo does not track delivery
    "shipped": OrderStatus.SHIPPED,
    "delivered": OrderStatus.DELIVERED,  # Advanced Shipment Tracking's delivered status
    "cancelled": OrderStatus.CANCELLED,
    "failed": OrderStatus.CANCELLED,  # payment failed: no sale unless the buyer pays again (then processing)
    "trash": OrderStatus.CANCELLED,
    "refunded": OrderStatus.RETURNED,  # fully refunded
}
FINISHED = {"cancelled", "failed", "refunded", "trash"}
ALREADY_SHIPPED = {"completed", "shipped", "delivered"}


# --- small pure helpers ----------------------------------------------------------------------------------------




def _money(value: Any, what: str, raw: Any) -> Decimal:
    """WooCommerce money: strings in most places ("12.50"), JSON numbers in a few (a line's `price`)."""
    if isinstance(value, bool) or value is None:
        raise PermanentError(f"WooCommerce sent no {what}", raw=payload_text(raw))
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise PermanentError(f"WooCommerce sent an unreadable {what}: {str(value)[:40]}", raw=payload_text(raw)) from None


def _optional_money(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


# The `*_gmt` fields: ISO 8601 without an offset, in UTC.
_gmt = partial(iso_time, platform="WooCommerce")


def _gmt_param(value: datetime) -> str:
    """A `modified_after` value. No offset on purpose: WordPress converts an offset to the site's local time
    and then compares that with the GMT column, which would skip hours of orders."""
    if value.tzinfo is None:
        raise ValueError("timestamps given to the WooCommerce connector must be timezone-aware")
    return value.astimezone(UTC).strftime(GMT_FORMAT)


def _decimal_string(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def _header(headers: dict[str, str], name: str) -> str:
    lowered = name.lower()
    for key, value in (headers or {}).items():
        if key.lower() == lowered:
            return value
    return ""


def _error_words(payload: Any) -> tuple[str, str]:
    """(code, message) of a WordPress REST error body {"code", "message", "data": {"status"}}."""
    if not isinstance(payload, dict):
        return "", ""
    code = payload.get("code") if isinstance(payload.get("code"), str) else ""
    message = payload.get("message") if isinstance(payload.get("message"), str) else ""
    message = " ".join(TAG_PATTERN.sub(" ", message).split())  # WordPress's fatal-error message is HTML
    return code, message[:500]


def _describe(code: str, message: str, status: int) -> str:
    detail = f"{code}, HTTP {status}" if code else f"HTTP {status}"
    return f"WooCommerce: {message} [{detail}]" if message else f"WooCommerce answered {detail}"


def _safe(url: str) -> str:
    return url.split("?", 1)[0]


def classify(response: requests.Response) -> ConnectorError | None:
    """WooCommerce's answers as typed errors, carrying the platform's own message (never a secret: WooCommerce
    does not echo keys back, and queries are dropped from URLs)."""
    status = response.status_code
    if status < 400:
        return None
    try:
        payload = response.json()
    except ValueError:
        payload = None
    code, message = _error_words(payload)
    raw = response.content
    described = _describe(code, message, status)
    if status == 401 or (status == 403 and code):
        # Unknown or deleted key, wrong secret, read-only key writing, or a key whose user may not do this.
        return AuthError(described, raw=raw, status_code=status)
    if status == 403:
        return PermanentError(f"The store's web server refused the request (HTTP 403 on {_safe(response.url)}), "
                              "probably a firewall or security plugin blocking the REST API", raw=raw, status_code=status)
    if status in (420, 429):
        return RateLimited(described if code else f"The store's host is rate limiting Haat (HTTP {status})",
                           retry_after=retry_after_seconds(response.headers), raw=raw, status_code=status)
    if status >= 500 or status == 408:
        return TransientError(described, raw=raw, status_code=status)
    if status == 404 and code == "rest_no_route":
        return PermanentError(f"{described}: is WooCommerce active on this site, and are its permalinks other than "
                              "'Plain'?", raw=raw, status_code=status)
    return PermanentError(described, raw=raw, status_code=status)


def store_key(store_url: str) -> str:
    """The store's identity for Haat: host and path, without scheme or trailing slash."""
    parts = urlsplit(store_url)
    return (parts.netloc.lower() + parts.path.rstrip("/"))[:255]


def normalize_store_url(value: Any) -> str:
    """The store's home URL as typed by a coordinator, checked: https (or this Haat's sandbox), no query,
    no credentials; a pasted `/wp-json/...` or `/wp-admin/...` suffix is dropped."""
    return normalize_shop_url(value, slug="woocommerce", pasted_suffixes=("/wp-json", "/wp-admin", "/index.php"),
                              https_error="WooCommerce accepts API keys only over HTTPS: the store address must start with https://")


def _on_sandbox(url: str) -> bool:
    return on_sandbox(url, "woocommerce")


def api_root_for(store_url: str) -> str:
    return normalize_store_url(store_url) + API_PATH


# --- the cursor of the orders keyset -----------------------------------------------------------------------------


def _encode_cursor(modified: datetime, last_id: int, offset: int) -> str:
    return f"{modified.astimezone(UTC).strftime(GMT_FORMAT)}|{last_id}|{offset}"


def _decode_cursor(cursor: str) -> tuple[datetime, int, int]:
    try:
        stamp, last_id, offset = cursor.split("|")
        return datetime.strptime(stamp, GMT_FORMAT).replace(tzinfo=UTC), int(last_id), int(offset)
    except ValueError:
        raise ValueError(f"Not a WooCommerce orders cursor: {cursor[:64]!r}") from None


class WooCommerceConnector(Connector):
    slug = "woocommerce"
    name = "WooCommerce"
    auth_kind = AuthKind.API_KEY
    capabilities = frozenset({
        Capability.ORDERS, Capability.PRODUCTS, Capability.STOCK_PUSH, Capability.PRICE_PUSH,
        Capability.LISTING_CREATE, Capability.FULFILMENT_PUSH, Capability.WEBHOOKS, Capability.RATINGS,
    })
    credential_fields = (
        CredentialField("store_url", "Store address", stored_in="config",
                        help_text="The shop's home page, e.g. https://shop.example.in (must be https)."),
        CredentialField("consumer_key", "Consumer key", secret=True,
                        help_text="WooCommerce → Settings → Advanced → REST API → Add key, permissions "
                                  "Read/Write. Starts with ck_."),
        CredentialField("consumer_secret", "Consumer secret", secret=True,
                        help_text="Shown once, next to the consumer key. Starts with cs_."),
    )
    # WooCommerce itself sets no limit on its REST API; the store's host may (429 + Retry-After, honoured by the
    # HTTP layer). These keep Haat polite to small shared-hosting stores: a batch saves up to 100 products, but
    # coalesced stock pushes carry a few SKUs each, and a sale elsewhere must reach the store within the second or
    # two in which it could be sold twice (bench/propagation.py), so a batch a second, two in a burst.
    rate_limits = {
        "default": RateLimit(rate=2.0, burst=4),
        "batch": RateLimit(rate=1.0, burst=2),
    }
    # Webhooks bring new orders at once; the poll is the backstop for deliveries the store dropped.
    default_poll_interval = timedelta(minutes=10)
    orders_sorted_by_update = True
    docs_url = "https://woocommerce.github.io/woocommerce-rest-api-docs/"

    def __init__(self, context: ConnectionContext, *, http: HttpClient | None = None, base_url: str | None = None):
        super().__init__(context, http=http, base_url=base_url)
        if not self.base_url.endswith("/wc/v3"):
            raise ValueError("The WooCommerce API root must end in /wp-json/wc/v3")
        self.rest_root = self.base_url[: -len("/wc/v3")]  # .../wp-json, where extensions' namespaces live
        self._currency: str | None = None
        self._tracking_providers: dict[str, str] | None = None

    # --- description ---------------------------------------------------------------------------------------

    @classmethod
    def default_base_url(cls, context: ConnectionContext) -> str:
        return api_root_for(context.config.get("store_url"))

    @classmethod
    def sandbox_base_url(cls, *, sandbox_root: str, params: dict[str, str]) -> str:
        """The store URL already says where the store is, sandbox or not: its API root is the same either way."""
        store_url = params.get("store_url") or ""
        try:
            return api_root_for(store_url)
        except ValueError:
            # Not a usable address: the connect form's live test reports why (see __init__ and _credentials).
            return f"{sandbox_root.rstrip('/')}/{cls.slug}{API_PATH}"

    @property
    def store_url(self) -> str:
        return self.base_url[: -len(API_PATH)] if self.base_url.endswith(API_PATH) else self.base_url

    # --- HTTP ----------------------------------------------------------------------------------------------

    def _credentials(self) -> tuple[str, str]:
        key = str(self.context.credentials.get("consumer_key") or "").strip()
        secret = str(self.context.credentials.get("consumer_secret") or "").strip()
        if not key or not secret:
            raise AuthError("WooCommerce consumer key and secret are missing: reconnect the store")
        if not KEY_PATTERN.match(key):
            raise AuthError("That is not a WooCommerce consumer key: it starts with ck_ followed by 40 letters and digits")
        if not SECRET_PATTERN.match(secret):
            raise AuthError("That is not a WooCommerce consumer secret: it starts with cs_ followed by 40 letters and "
                            "digits")
        return key, secret

    def _check_store_url(self) -> None:
        """Keys travel as HTTP Basic: never to a plain-HTTP address other than this Haat's sandbox."""
        if self.context.config.get("store_url"):
            normalize_store_url(self.context.config["store_url"])
        if not self.base_url.startswith("https://") and not _on_sandbox(self.base_url):
            raise ValueError("WooCommerce accepts API keys only over HTTPS: the store address must start with https://")

    def _call(self, method: str, path: str, *, operation: str = "default", params: dict | None = None,
              json_body: Any = None, root: str | None = None, timeout: float | None = None) -> requests.Response:
        self._check_store_url()
        kwargs: dict[str, Any] = {"auth": self._credentials(), "headers": {"Accept": "application/json"}}
        if params:
            kwargs["params"] = params
        if json_body is not None:
            kwargs["json"] = json_body
        if timeout is not None:
            kwargs["timeout"] = timeout
        url = f"{root or self.base_url}{path}"
        return self.http.request(method, url, operation=operation, classify=classify, **kwargs)

    def _json(self, response: requests.Response, expect: type) -> Any:
        data = HttpClient.json(response)
        if not isinstance(data, expect):
            raise PermanentError(f"WooCommerce answered {_safe(response.url)} with a {type(data).__name__} where a "
                                 f"{expect.__name__} was expected", raw=response.content, status_code=response.status_code)
        return data

    # --- every connector ----------------------------------------------------------------------------------------

    def test_connection(self) -> dict[str, Any]:
        """Read the store's settings (needs a key of a shop manager or administrator), then make an empty
        batch write, which WooCommerce refuses with 401 for a read-only key and otherwise does nothing."""
        response = self._call("GET", "/system_status", params={"_fields": "settings"}, operation="status")
        body = self._json(response, dict)
        store_settings = body.get("settings") if isinstance(body.get("settings"), dict) else {}
        currency = str(store_settings.get("currency") or "")
        if currency:
            self._currency = currency
        self._call("POST", "/products/batch", json_body={}, operation="batch")
        return {
            "external_account_id": store_key(self.store_url),
            "store_url": self.store_url,
            "currency": currency,
        }

    def store_currency(self) -> str:
        """The store's one currency (WooCommerce prices have no currency of their own); read once per connector."""
        if self._currency is None:
            response = self._call("GET", "/system_status", params={"_fields": "settings"}, operation="status")
            store_settings = self._json(response, dict).get("settings") or {}
            currency = str(store_settings.get("currency") or "") if isinstance(store_settings, dict) else ""
            if not currency:
                raise PermanentError("WooCommerce did not say which currency the store sells in",
                                     raw=response.content)
            self._currency = currency
        return self._currency

    # --- orders --------------------------------------------------------------------------------------------


    def fetch_orders(self, *, since: datetime, cursor: str | None = None) -> Page[OrderData]:
        """Orders modified after `since`, oldest change first, by keyset (see the module docstring)."""
        if cursor:
            boundary, last_id, offset = _decode_cursor(cursor)
        else:
            boundary, last_id, offset = since.astimezone(UTC).replace(microsecond=0), 0, 0
        per_page = self.configured_page_size(MAX_PAGE_SIZE)
        for _attempt in range(MAX_EMPTY_PAGES):
            # With a last id, re-read the boundary second and drop what was returned already; without one
            # (a fresh window) WooCommerce's strict "after" is exactly what is wanted.
            after = boundary - timedelta(seconds=1) if last_id else boundary
            params: dict[str, Any] = {
                "per_page": per_page, "modified_after": _gmt_param(after), "dates_are_gmt": "true",
                "orderby": "modified", "order": "asc",
            }
            if offset:
                params["offset"] = offset
            response = self._call("GET", "/orders", params=params, operation="orders")
            rows = self._json(response, list)
            keyed = [(self._order_key(row), row) for row in rows]
            fresh = [(key, row) for key, row in keyed if not last_id or key > (boundary, last_id)]
            done = len(rows) < per_page or self._last_page(response, offset, len(rows))
            if fresh:
                orders = [self._order(row) for _key, row in fresh]
                (last_modified, last_order_id), _row = fresh[-1]
                next_cursor = None if done else _encode_cursor(last_modified, last_order_id, 0)
                return Page(items=orders, next_cursor=next_cursor)
            if done:
                return Page(items=[], next_cursor=None)
            # A whole page at or before the cursor: more than a page of orders changed in one second. Step over
            # them, keeping one row of overlap so an order edited meanwhile cannot shift an unseen one past us.
            offset += max(1, per_page - 1)
        return Page(items=[], next_cursor=_encode_cursor(boundary, last_id, offset))

    @staticmethod
    def _last_page(response: requests.Response, offset: int, count: int) -> bool:
        total = response.headers.get("X-WP-Total")
        try:
            return total is not None and offset + count >= int(total)
        except ValueError:
            return False

    @staticmethod
    def _order_key(row: Any) -> tuple[datetime, int]:
        if not isinstance(row, dict) or not isinstance(row.get("id"), int):
            raise PermanentError("WooCommerce sent an order without an id", raw=payload_text(row))
        return _gmt(row.get("date_modified_gmt"), "order modified date", row), row["id"]

    def _status(self, raw_status: str) -> OrderStatus:
        custom = self.context.config.get("status_map") or {}
        if isinstance(custom, dict) and raw_status in custom:
            try:
                return OrderStatus(custom[raw_status])
            except ValueError:
                logger.warning("status_map of connection %s maps %r to an unknown status", self.context.connection_id,
                               raw_status)
        # A status added by a plugin and not mapped: paid and not known to be shipped, so there is work to do.
        return STATUS_MAP.get(raw_status, OrderStatus.UNSHIPPED)

    def _order(self, raw: dict) -> OrderData:
        raw_status = raw.get("status")
        if not isinstance(raw_status, str) or not raw_status:
            raise PermanentError("WooCommerce sent an order without a status", raw=payload_text(raw))
        billing = raw.get("billing") if isinstance(raw.get("billing"), dict) else {}
        shipping = raw.get("shipping") if isinstance(raw.get("shipping"), dict) else {}
        address = shipping if shipping.get("address_1") else billing
        buyer = " ".join(p for p in (billing.get("first_name"), billing.get("last_name")) if p) or \
            " ".join(p for p in (shipping.get("first_name"), shipping.get("last_name")) if p)
        lines = []
        for item in raw.get("line_items") or []:
            if not isinstance(item, dict):
                raise PermanentError("WooCommerce sent a malformed order line", raw=payload_text(raw))
            try:
                quantity = int(item.get("quantity"))
            except (TypeError, ValueError):
                raise PermanentError("WooCommerce sent an order line without a quantity", raw=payload_text(raw)) from None
            line_total = _money(item.get("total"), "order line total", raw)
            # The unit price the buyer paid (after discounts), exact to the paisa; `price` is a float.
            unit = (line_total / quantity).quantize(CENT, rounding=ROUND_HALF_UP) if quantity else \
                _money(item.get("price"), "order line price", raw)
            lines.append(OrderLineData(
                external_id=str(item.get("id")), sku=str(item.get("sku") or ""), title=str(item.get("name") or ""),
                quantity=quantity, unit_price=unit, raw=item,
            ))
        return OrderData(
            external_id=str(raw["id"]), status=self._status(raw_status), raw_status=raw_status,
            placed_at=_gmt(raw.get("date_created_gmt"), "order date", raw),
            updated_at=_gmt(raw.get("date_modified_gmt"), "order modified date", raw),
            currency=str(raw.get("currency") or ""), total=_money(raw.get("total"), "order total", raw),
            lines=lines, fulfilment_channel=FulfilmentChannel.MERCHANT, buyer_name=buyer,
            shipping_address={
                "name": " ".join(p for p in (address.get("first_name"), address.get("last_name")) if p),
                "company": address.get("company") or "", "line1": address.get("address_1") or "",
                "line2": address.get("address_2") or "", "city": address.get("city") or "",
                "state": address.get("state") or "", "postcode": address.get("postcode") or "",
                "country": address.get("country") or "",
                "phone": shipping.get("phone") or billing.get("phone") or "",
            },
            number=str(raw.get("number") or ""), raw=raw,
        )

    # --- products ------------------------------------------------------------------------------------------

    def fetch_products(self, *, cursor: str | None = None) -> Page[ProductData]:
        """Products by id (stable while prices and stock change); a variable product's variations replace it,
        since stock and prices live on them. Grouped products hold nothing of their own and are skipped."""
        page = int(cursor) if cursor else 1
        per_page = self.configured_page_size(MAX_PAGE_SIZE)
        response = self._call("GET", "/products", operation="products",
                              params={"per_page": per_page, "page": page, "orderby": "id", "order": "asc"})
        rows = self._json(response, list)
        currency = self.store_currency()
        items: list[ProductData] = []
        for row in rows:
            if not isinstance(row, dict) or not isinstance(row.get("id"), int):
                raise PermanentError("WooCommerce sent a product without an id", raw=payload_text(row))
            kind = row.get("type")
            if kind == "variable":
                items.extend(self._product(v, currency, parent=row) for v in self._variations(row["id"]))
            elif kind != "grouped":
                items.append(self._product(row, currency))
        try:
            total_pages = int(response.headers.get("X-WP-TotalPages") or 0)
        except ValueError:
            total_pages = 0
        more = len(rows) == per_page and (total_pages == 0 or page < total_pages)
        return Page(items=items, next_cursor=str(page + 1) if more else None)

    # --- ratings ---------------------------------------------------------------------------------------------

    def fetch_ratings(self, *, since: datetime, cursor: str | None = None) -> Page[RatingData]:
        """Approved product reviews published after `since`, oldest first (`/products/reviews`, page numbers:
        reviews only ever join at the end of that order). A review without stars (rating 0, allowed when the
        shop does not require ratings) is not a rating and is skipped. The SKU comes from the reviewed product,
        read in one call per page."""
        page = int(cursor) if cursor else 1
        per_page = self.configured_page_size(MAX_PAGE_SIZE)
        params = {"per_page": per_page, "page": page, "orderby": "date_gmt", "order": "asc", "status": "approved",
                  "after": _gmt_param(since - REVIEWS_MARGIN)}
        response = self._call("GET", "/products/reviews", operation="reviews", params=params)
        rows = self._json(response, list)
        reviews = []
        for row in rows:
            if not isinstance(row, dict) or not isinstance(row.get("id"), int):
                raise PermanentError("WooCommerce sent a review without an id", raw=payload_text(row))
            published = _gmt(row.get("date_created_gmt"), "review date", row)
            rating = row.get("rating")
            if isinstance(rating, bool) or not isinstance(rating, int) or not 0 <= rating <= 5:
                raise PermanentError(f"WooCommerce sent review {row['id']} with a rating of {rating!r}",
                                     raw=payload_text(row))
            if rating and published > since:
                reviews.append((row, published))
        skus = self._skus_of_products({row.get("product_id") for row, _published in reviews})
        items = [RatingData(
            external_id=str(row["id"]), rating=row["rating"], created_at=published,
            product_external_id=str(row.get("product_id") or ""), sku=skus.get(row.get("product_id"), ""),
            product_title=str(row.get("product_name") or "")[:255],
            body=TAG_PATTERN.sub("", str(row.get("review") or "")).strip(),
            reviewer=str(row.get("reviewer") or "")[:200], verified_buyer=bool(row.get("verified")),
            raw={k: v for k, v in row.items() if k not in ("reviewer_email", "reviewer_avatar_urls", "_links")},
        ) for row, published in reviews]
        try:
            total_pages = int(response.headers.get("X-WP-TotalPages") or 0)
        except ValueError:
            total_pages = 0
        more = len(rows) == per_page and (total_pages == 0 or page < total_pages)
        return Page(items=items, next_cursor=str(page + 1) if more else None)

    def _skus_of_products(self, product_ids: set[Any]) -> dict[int, str]:
        ids = sorted(pid for pid in product_ids if isinstance(pid, int) and not isinstance(pid, bool))
        if not ids:
            return {}
        response = self._call("GET", "/products", operation="products", params={
            "include": ",".join(map(str, ids)), "per_page": MAX_PAGE_SIZE, "_fields": "id,sku"})
        return {row["id"]: str(row.get("sku") or "") for row in self._json(response, list)
                if isinstance(row, dict) and isinstance(row.get("id"), int)}

    def _variations(self, product_id: int) -> list[dict]:
        variations, page = [], 1
        while True:
            response = self._call("GET", f"/products/{product_id}/variations", operation="products",
                                  params={"per_page": MAX_PAGE_SIZE, "page": page, "orderby": "id", "order": "asc"})
            rows = self._json(response, list)
            variations.extend(rows)
            if len(rows) < MAX_PAGE_SIZE:
                return variations
            page += 1

    @staticmethod
    def _product(raw: dict, currency: str, parent: dict | None = None) -> ProductData:
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), int):
            raise PermanentError("WooCommerce sent a product without an id", raw=payload_text(raw))
        manage = raw.get("manage_stock")
        refs = {"product_id": str(parent["id"] if parent else raw["id"])}
        if parent is not None:
            refs["variation_id"] = str(raw["id"])
        quantity = None
        if manage is True and raw.get("stock_quantity") is not None:
            quantity = int(raw["stock_quantity"])
        elif manage == "parent" and parent is not None:
            # The variable product keeps one stock for all its variations: pushes must go to it.
            refs["stock_owner"] = "parent"
            if parent.get("manage_stock") is True and parent.get("stock_quantity") is not None:
                quantity = int(parent["stock_quantity"])
        title = raw.get("name") or (parent or {}).get("name") or ""
        if parent is not None and title == parent.get("name"):
            options = [str(a.get("option")) for a in raw.get("attributes") or [] if isinstance(a, dict) and a.get("option")]
            title = " - ".join([title, *options]) if options else title
        regular = _optional_money(raw.get("regular_price"))
        return ProductData(
            external_id=str(raw["id"]), sku=str(raw.get("sku") or ""), title=str(title),
            price=_optional_money(raw.get("price")), currency=currency, quantity=quantity, mrp=regular,
            barcode=str(raw.get("global_unique_id") or ""), external_refs=refs, raw=raw,
        )

    def _refs_by_sku(self, skus: Sequence[str]) -> dict[str, dict[str, str]]:
        """Find products and variations by SKU (WooCommerce's `sku` filter searches both)."""
        found: dict[str, dict[str, str]] = {}
        for chunk in chunked(sorted(set(skus)), SKUS_PER_LOOKUP):
            response = self._call("GET", "/products", operation="products",
                                  params={"sku": ",".join(chunk), "per_page": MAX_PAGE_SIZE})
            for row in self._json(response, list):
                if not isinstance(row, dict) or row.get("sku") not in chunk:
                    continue
                if row.get("type") == "variation" and row.get("parent_id"):
                    found[row["sku"]] = {"product_id": str(row["parent_id"]), "variation_id": str(row["id"])}
                else:
                    found[row["sku"]] = {"product_id": str(row["id"])}
        return found

    def _resolve(self, updates: Sequence[StockUpdate | PriceUpdate]) -> dict[str, dict[str, str]]:
        missing = [u.sku for u in updates if not (u.external_refs or {}).get("product_id")]
        return self._refs_by_sku(missing) if missing else {}

    def _push(self, entries: list[tuple[str, dict[str, str], dict]], *, stock: bool) -> dict[int, PushResult]:
        """Send (sku, refs, changes) entries as batches: products together, each variable product's variations
        together (a variation whose parent keeps the stock gets its stock pushed to the parent). Returns the
        outcome per entry index."""
        results: dict[int, PushResult] = {}
        groups: dict[str, list[tuple[int, str, dict]]] = {}
        for index, (sku, refs, changes) in enumerate(entries):
            if refs.get("variation_id") and not (stock and refs.get("stock_owner") == "parent"):
                path, item_id = f"/products/{refs['product_id']}/variations/batch", refs["variation_id"]
            else:
                path, item_id = "/products/batch", refs["product_id"]
            try:
                groups.setdefault(path, []).append((index, sku, {"id": int(item_id), **changes}))
            except ValueError:
                results[index] = PushResult(sku=sku, ok=False, error=f"Not a WooCommerce product id: {item_id!r}")
        for path, group in groups.items():
            for chunk in chunked(group, BATCH_SIZE):
                try:
                    response = self._call("POST", path, json_body={"update": [item for _i, _s, item in chunk]},
                                          operation="batch", timeout=max(self.http.timeout, BATCH_TIMEOUT))
                    answers = self._json(response, dict).get("update")
                except PermanentError as exc:
                    for index, sku, _item in chunk:
                        results[index] = PushResult(sku=sku, ok=False, error=exc.message, raw={"body": exc.raw or ""})
                    continue
                if not isinstance(answers, list) or len(answers) != len(chunk):
                    raise PermanentError("WooCommerce's batch answer does not match the request", raw=response.content)
                for (index, sku, item), answer in zip(chunk, answers, strict=True):
                    results[index] = self._push_result(sku, item, answer)
        return results

    @staticmethod
    def _push_result(sku: str, item: dict, answer: Any) -> PushResult:
        if not isinstance(answer, dict):
            return PushResult(sku=sku, ok=False, error="WooCommerce gave no answer for this item", raw={"answer": answer})
        if isinstance(answer.get("error"), dict):
            code, message = _error_words(answer["error"])
            return PushResult(sku=sku, ok=False, error=f"{message or 'refused'} [{code}]", raw=answer)
        if answer.get("id") != item["id"]:
            return PushResult(sku=sku, ok=False, error=f"WooCommerce answered for product {answer.get('id')}, not "
                                                       f"{item['id']}", raw=answer)
        return PushResult(sku=sku, ok=True, raw=answer)

    def push_stock(self, updates: Sequence[StockUpdate]) -> list[PushResult]:
        """Set `stock_quantity` (and turn on stock management) per SKU, in batches of 100."""
        found = self._resolve(updates)
        entries: list[tuple[str, dict[str, str], dict]] = []
        early: dict[int, PushResult | None] = {}
        for index, update in enumerate(updates):
            refs = (update.external_refs or {}) if (update.external_refs or {}).get("product_id") else found.get(update.sku)
            if isinstance(update.quantity, bool) or not isinstance(update.quantity, int) or update.quantity < 0:
                early[index] = PushResult(sku=update.sku, ok=False,
                                          error=f"Stock must be a whole number of at least 0, not {update.quantity!r}")
            elif not refs:
                early[index] = PushResult(sku=update.sku, ok=False, error="No product or variation with this SKU in the store")
            else:
                entries.append((update.sku, refs, {"manage_stock": True, "stock_quantity": update.quantity}))
                early[index] = None  # placeholder, filled below
        return self._assemble(updates, early, entries, stock=True)

    def push_prices(self, updates: Sequence[PriceUpdate]) -> list[PushResult]:
        """The MRP is the regular price and a lower selling price the sale price; without an MRP the price is the
        regular price and any sale (with its schedule) ends, so the buyer pays exactly `price`."""
        found = self._resolve(updates)
        currency = self.store_currency() if updates else ""
        entries: list[tuple[str, dict[str, str], dict]] = []
        early: dict[int, PushResult | None] = {}
        for index, update in enumerate(updates):
            refs = (update.external_refs or {}) if (update.external_refs or {}).get("product_id") else found.get(update.sku)
            problem = self._price_problem(update, currency)
            if problem:
                early[index] = PushResult(sku=update.sku, ok=False, error=problem)
            elif not refs:
                early[index] = PushResult(sku=update.sku, ok=False, error="No product or variation with this SKU in the store")
            else:
                price = update.price
                if update.mrp is not None and update.mrp > price:
                    changes = {"regular_price": _decimal_string(update.mrp), "sale_price": _decimal_string(price)}
                else:
                    changes = {"regular_price": _decimal_string(price), "sale_price": ""}
                changes.update({"date_on_sale_from": "", "date_on_sale_to": ""})
                entries.append((update.sku, refs, changes))
                early[index] = None
        return self._assemble(updates, early, entries, stock=False)

    @staticmethod
    def _price_problem(update: PriceUpdate, currency: str) -> str:
        if not isinstance(update.price, Decimal) or not update.price.is_finite() or update.price <= 0:
            return f"The price must be a positive amount, not {update.price!r}"
        if update.mrp is not None and (not isinstance(update.mrp, Decimal) or not update.mrp.is_finite()):
            return f"The MRP must be an amount, not {update.mrp!r}"
        if update.mrp is not None and update.mrp < update.price:
            return "The MRP cannot be below the price"
        if update.currency and currency and update.currency.upper() != currency.upper():
            return f"The store sells in {currency}; a price in {update.currency} cannot be set"
        return ""

    def _assemble(self, updates: Sequence, early: dict[int, PushResult | None], entries: list, *,
                  stock: bool) -> list[PushResult]:
        pushed = self._push(entries, stock=stock) if entries else {}
        pushed_iter = iter(pushed[i] for i in range(len(entries)))
        results = []
        for index in range(len(updates)):
            result = early[index]
            results.append(result if result is not None else next(pushed_iter))
        return results

    def create_listing(self, draft: ListingDraft) -> ListingResult:
        """Create a simple product, published, with managed stock. An existing SKU is not overwritten."""
        problem = self._draft_problem(draft)
        if problem:
            return ListingResult(ok=False, state="rejected", error=problem)
        currency = self.store_currency()
        if draft.currency and draft.currency.upper() != currency.upper():
            return ListingResult(ok=False, state="rejected",
                                 error=f"The store sells in {currency}; a listing priced in {draft.currency} cannot be made")
        existing = self._refs_by_sku([draft.sku]).get(draft.sku)
        if existing:
            return ListingResult(ok=False, state="rejected", external_refs=existing,
                                 error=f"The store already has a product with SKU {draft.sku}: link it instead")
        on_sale = draft.mrp is not None and draft.mrp > draft.price
        body: dict[str, Any] = {
            "name": draft.title, "type": "simple", "status": "publish", "description": draft.description,
            "sku": draft.sku, "regular_price": _decimal_string(draft.mrp if on_sale else draft.price),
            "sale_price": _decimal_string(draft.price) if on_sale else "",
            "manage_stock": True, "stock_quantity": draft.quantity,
            "images": [{"src": src} for src in draft.images],
        }
        if draft.barcode:
            body["global_unique_id"] = draft.barcode
        attributes = dict(draft.attributes)
        if draft.brand:
            attributes.setdefault("Brand", draft.brand)
        if attributes:
            body["attributes"] = [{"name": str(k), "options": [str(v)], "visible": True, "variation": False}
                                  for k, v in attributes.items()]
        try:
            response = self._call("POST", "/products", json_body=body, operation="write")
        except PermanentError as exc:
            code, message = _error_words(self._loads(exc.raw))
            if code == "product_invalid_sku":
                # Created by an earlier attempt whose answer was lost? Then it is ours; otherwise say so.
                row = self._product_by_sku(draft.sku)
                if row is not None and row.get("name") == draft.title:
                    return self._listing_result(row)
            return ListingResult(ok=False, state="rejected", error=f"{message or exc.message} [{code}]" if code else exc.message,
                                 raw={"body": exc.raw or ""})
        return self._listing_result(self._json(response, dict))

    def _product_by_sku(self, sku: str) -> dict | None:
        response = self._call("GET", "/products", params={"sku": sku}, operation="products")
        return next((r for r in self._json(response, list) if isinstance(r, dict) and r.get("sku") == sku), None)

    @staticmethod
    def _listing_result(row: dict) -> ListingResult:
        state = "active" if row.get("status") == "publish" else str(row.get("status") or "pending")
        return ListingResult(ok=True, external_refs={"product_id": str(row.get("id"))}, state=state, raw=row)

    @staticmethod
    def _draft_problem(draft: ListingDraft) -> str:
        if not draft.sku.strip() or not draft.title.strip():
            return "A listing needs a SKU and a title"
        if not isinstance(draft.price, Decimal) or not draft.price.is_finite() or draft.price <= 0:
            return "A listing needs a positive price"
        if draft.mrp is not None and draft.mrp < draft.price:
            return "The MRP cannot be below the price"
        if isinstance(draft.quantity, bool) or not isinstance(draft.quantity, int) or draft.quantity < 0:
            return "Stock must be a whole number of at least 0"
        return ""

    @staticmethod
    def _loads(raw: str | None) -> Any:
        try:
            return json.loads(raw or "")
        except ValueError:
            return None

    # --- fulfilment --------------------------------------------------------------------------------------------

    def tracking_providers(self) -> dict[str, str] | None:
        """The Shipment Tracking extension's carriers {name: url format}, or None when the store lacks it."""
        if self._tracking_providers is None:
            try:
                response = self._call("GET", f"/{TRACKING_NAMESPACE}/shipment-trackings/providers", root=self.rest_root,
                                      operation="fulfilment")
            except PermanentError as exc:
                if exc.status_code == 404:
                    self._tracking_providers = {}
                    return None
                raise
            groups = self._json(response, dict)
            self._tracking_providers = {
                str(name): str(url) for group in groups.values() if isinstance(group, dict) for name, url in group.items()
            }
        return self._tracking_providers or None

    def push_fulfilment(self, fulfilment: FulfilmentData) -> FulfilmentResult:
        """Record the tracking (Shipment Tracking extension, else a note to the buyer), then mark the order
        completed, which sends the buyer WooCommerce's "order completed" e-mail. Safe to repeat."""
        order_id = fulfilment.order_external_id
        if not str(order_id).isdigit():
            return FulfilmentResult(ok=False, error=f"Not a WooCommerce order id: {order_id!r}")
        if not fulfilment.tracking_number.strip() or not fulfilment.carrier.strip():
            return FulfilmentResult(ok=False, error="A carrier and a tracking number are needed to mark the order shipped")
        order = self._json(self._call("GET", f"/orders/{order_id}", operation="fulfilment"), dict)
        status = order.get("status")
        if status in FINISHED:
            return FulfilmentResult(ok=False, error=f"The order is {status} in WooCommerce: it cannot be shipped", raw=order)
        partial = self._partial_problem(fulfilment, order)
        if partial:
            return FulfilmentResult(ok=False, error=partial, raw=order)
        tracking = self._add_tracking(order_id, fulfilment)
        note = None
        if tracking is None:
            note = self._add_note(order_id, fulfilment)
        updated = order
        if status not in ALREADY_SHIPPED:
            updated = self._json(self._call("PUT", f"/orders/{order_id}", json_body={"status": "completed"},
                                            operation="fulfilment"), dict)
        external_id = (tracking or {}).get("tracking_id") or (note or {}).get("id") or ""
        return FulfilmentResult(ok=True, external_id=str(external_id),
                                raw={"order_status": updated.get("status"), "tracking": tracking, "note": note})

    @staticmethod
    def _partial_problem(fulfilment: FulfilmentData, order: dict) -> str:
        if not fulfilment.lines:
            return ""
        ordered = {str(li.get("id")): int(li.get("quantity") or 0) for li in order.get("line_items") or []
                   if isinstance(li, dict)}
        shipped: dict[str, int] = {}
        for line in fulfilment.lines:
            shipped[str(line.external_line_id)] = shipped.get(str(line.external_line_id), 0) + line.quantity
        unknown = sorted(set(shipped) - set(ordered))
        if unknown:
            return f"These lines are not in the WooCommerce order: {', '.join(unknown)}"
        if shipped != ordered:
            return "WooCommerce marks whole orders as completed: ship every line of the order in one fulfilment"
        return ""

    def _add_tracking(self, order_id: str, fulfilment: FulfilmentData) -> dict | None:
        providers = self.tracking_providers()
        if providers is None:
            return None
        path = f"/{TRACKING_NAMESPACE}/orders/{order_id}/shipment-trackings"
        existing = self._json(self._call("GET", path, root=self.rest_root, operation="fulfilment"), list)
        for item in existing:
            if isinstance(item, dict) and item.get("tracking_number") == fulfilment.tracking_number:
                return item
        body: dict[str, Any] = {"tracking_number": fulfilment.tracking_number,
                                "date_shipped": fulfilment.shipped_at.astimezone(UTC).strftime("%Y-%m-%d")}
        known = {name.lower(): name for name in providers}
        if fulfilment.carrier.strip().lower() in known:
            body["tracking_provider"] = known[fulfilment.carrier.strip().lower()]
        else:
            body["custom_tracking_provider"] = fulfilment.carrier.strip()
            if fulfilment.tracking_url:
                body["custom_tracking_link"] = fulfilment.tracking_url
        try:
            response = self._call("POST", path, json_body=body, root=self.rest_root, operation="fulfilment")
        except PermanentError as exc:
            if exc.status_code == 400:
                logger.info("Shipment Tracking refused the item for order %s; falling back to a note", order_id)
                return None
            raise
        return self._json(response, dict)

    def _add_note(self, order_id: str, fulfilment: FulfilmentData) -> dict:
        text = f"Your order has been shipped with {fulfilment.carrier.strip()}. Tracking number: " \
               f"{fulfilment.tracking_number.strip()}."
        if fulfilment.tracking_url:
            text += f" Track it at {fulfilment.tracking_url}"
        notes = self._json(self._call("GET", f"/orders/{order_id}/notes", params={"type": "customer"},
                                      operation="fulfilment"), list)
        for note in notes:
            if isinstance(note, dict) and fulfilment.tracking_number.strip() in str(note.get("note") or ""):
                return note
        response = self._call("POST", f"/orders/{order_id}/notes", json_body={"note": text, "customer_note": True},
                              operation="fulfilment")
        return self._json(response, dict)

    # --- webhooks ----------------------------------------------------------------------------------------------

    @classmethod
    def verify_webhook(cls, *, body: bytes, headers: dict[str, str], secret: str) -> bool:
        """X-WC-Webhook-Signature is base64(HMAC-SHA256(raw body, the webhook's secret)). WooCommerce's creation
        ping (form body `webhook_id=<id>`) is sent unsigned: it carries no data and is accepted as a ping only."""
        signature = _header(headers, "X-WC-Webhook-Signature")
        if not signature:
            return cls._is_ping(body, headers)
        if not secret:
            return False
        expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
        return hmac.compare_digest(expected, signature.strip())

    @staticmethod
    def _is_ping(body: bytes, headers: dict[str, str]) -> bool:
        return bool(PING_PATTERN.match(body or b"")) and not _header(headers, "X-WC-Webhook-Topic")

    def parse_webhook(self, *, body: bytes, headers: dict[str, str]) -> WebhookMessage:
        if self._is_ping(body, headers):
            webhook_id = parse_qs(body.decode())["webhook_id"][0]
            return WebhookMessage(delivery_id=f"ping-{webhook_id}", topic="ping", action="ping",
                                  payload={"webhook_id": webhook_id})
        topic = _header(headers, "X-WC-Webhook-Topic")
        delivery_id = _header(headers, "X-WC-Webhook-Delivery-ID")
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise PermanentError(f"WooCommerce sent a webhook body that is not JSON: {exc}", raw=body) from exc
        if not isinstance(payload, dict):
            raise PermanentError("WooCommerce sent a webhook body that is not an object", raw=body)
        resource, _, event = topic.partition(".")
        message = WebhookMessage(delivery_id=delivery_id, topic=topic, payload=payload)
        if event == "deleted":
            message.action = "deleted"
        elif resource == "order":
            message.orders = [self._order(payload)]
        elif resource == "product":
            if payload.get("type") == "variable":
                # The payload names the variations but not their stock or prices: a products sync reads them.
                message.action = "variations_changed"
            elif payload.get("type") != "grouped":
                message.products = [self._product(payload, self._currency or "")]
        else:
            message.action = topic or "unknown"
        return message

    def register_webhooks(self, *, callback_url: str, secret: str) -> list[str]:
        """Subscribe `callback_url` to WooCommerce's order and product topics, signed with `secret`. Existing
        subscriptions of the same URL and topic are reused (their secret replaced), so this can be repeated;
        if one subscription fails, those made by this call are removed again."""
        if not secret:
            raise ValueError("A webhook secret is required")
        existing: dict[str, int] = {}
        page = 1
        while True:
            rows = self._json(self._call("GET", "/webhooks", params={"per_page": MAX_PAGE_SIZE, "page": page},
                                         operation="webhooks"), list)
            for row in rows:
                if isinstance(row, dict) and row.get("delivery_url") == callback_url and row.get("topic") in WEBHOOK_TOPICS:
                    existing.setdefault(row["topic"], row["id"])
            if len(rows) < MAX_PAGE_SIZE:
                break
            page += 1

        def subscribe(topic: str) -> tuple[str, bool]:
            body = {"name": f"Haat: {topic}", "topic": topic, "delivery_url": callback_url, "secret": secret,
                    "status": "active"}
            if topic in existing:
                row = self._json(self._call("PUT", f"/webhooks/{existing[topic]}", json_body=body,
                                            operation="webhooks"), dict)
            else:
                row = self._json(self._call("POST", "/webhooks", json_body=body, operation="webhooks"), dict)
            return str(row.get("id")), topic not in existing

        return self._subscribe_each(WEBHOOK_TOPICS, subscribe)

    def unregister_webhooks(self, *, webhook_ids: Sequence[str]) -> None:
        """Delete the subscriptions (`force=true`: webhooks cannot be trashed). One already gone is fine."""
        for webhook_id in webhook_ids:
            if not str(webhook_id).isdigit():
                raise ValueError(f"Not a WooCommerce webhook id: {webhook_id!r}")
            try:
                self._call("DELETE", f"/webhooks/{webhook_id}", params={"force": "true"}, operation="webhooks")
            except PermanentError as exc:
                if exc.status_code != 404:
                    raise
