"""BigCommerce (`https://api.bigcommerce.com/stores/{store_hash}/v2|v3/`): orders, catalog, stock, prices, shipments,
webhooks.

Auth is a store API account's access token (Settings → Store-level API accounts → Create API account), sent
as `X-Auth-Token`, plus the store hash from the account's API path. The token does not expire; deleting the
account revokes it (401). An account without a needed scope answers 403 ("You don't have a required
scope"), which also puts the connection in "needs re-authorisation": the owner widens the scopes.

Orders come from v2 (`/v2/orders`, sorted by `date_modified:asc` from `min_date_modified`, inclusive), with
their lines from `/v2/orders/{id}/products` and the shipping address from `/v2/orders/{id}/shipping_addresses`:
the list gives neither. A page with nothing on it is 204 No Content. v2 sorts by one field only, so orders
changed in the same second come in no fixed order: the cursor holds the second of the last order returned
and the ids already seen in it, and the next request starts at that second and drops those ids.

The catalogue is v3 (`/v3/catalog/products?include=variants`). Stock and prices live on the variant when the
product has options (inventory tracked "variant"), on the product otherwise, and are written with the v3
batch updates of variants (50 a call) or products (10 a call), which succeed or fail whole: a refused batch is
retried item by item to say which SKU was refused.

Webhooks (`/v3/hooks`) carry only the resource id, so a delivery is turned into an order by fetching it. They
are not signed: Haat gives each hook a random secret in a custom header at registration and compares it in
constant time. Rate limits are per store (150 requests per 30 s on Standard plans): BigCommerce reports
them in `X-Rate-Limit-*` headers and answers 429 with `X-Rate-Limit-Time-Reset-Ms`, which the HTTP layer waits.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from email.utils import format_datetime, parsedate_to_datetime
from functools import partial
from typing import Any

import requests
from django.conf import settings

from apps.integrations.connectors.base import (
    AuthKind,
    Capability,
    ConnectionContext,
    Connector,
    CredentialField,
    FulfilmentChannel,
    FulfilmentData,
    FulfilmentResult,
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
from apps.integrations.connectors.parsing import cents, payload_text
from apps.integrations.http import HttpClient, RateLimit, retry_after_seconds

logger = logging.getLogger(__name__)

API_HOST = "https://api.bigcommerce.com"
MAX_ORDERS_PAGE = 250
DEFAULT_ORDERS_PAGE = 50  # each order costs two more calls (lines, address): smaller pages commit sooner
MAX_PRODUCTS_PAGE = 250
VARIANT_BATCH = 50
PRODUCT_BATCH = 10
MAX_SAME_SECOND_PAGES = 50
CENT = Decimal("0.01")
HASH_PATTERN = re.compile(r"^[a-z0-9]{1,20}$")
API_PATH_PATTERN = re.compile(r"/stores/([a-z0-9]{1,20})(?:/|$)")
SECRET_HEADER = "X-Haat-Webhook-Secret"
WEBHOOK_SCOPES = ("store/order/created", "store/order/updated")
NOT_SHIPPABLE = {0: "Incomplete", 4: "Refunded", 5: "Cancelled", 6: "Declined"}
# BigCommerce's own shipping providers; any other carrier goes as "" with a tracking carrier slug (AfterShip's).
PROVIDERS = {"usps": "usps", "fedex": "fedex", "ups": "ups", "auspost": "auspost", "australia post": "auspost",
             "canada post": "canadapost", "canadapost": "canadapost"}
TRACKING_CARRIERS = {"india post": "india-post", "delhivery": "delhivery", "blue dart": "bluedart",
                     "bluedart": "bluedart", "dtdc": "dtdc", "ecom express": "ecom-express", "xpressbees": "xpressbees",
                     "dhl": "dhl", "ekart": "ekart", "shadowfax": "shadowfax"}

# status_id -> Haat. 14 (Partially Refunded) depends on what was shipped (see _status).
STATUS_MAP: dict[int, OrderStatus] = {
    0: OrderStatus.PENDING,  # Incomplete: an abandoned checkout (not listed unless asked)
    1: OrderStatus.PENDING,
    7: OrderStatus.PENDING,  # Awaiting Payment
    12: OrderStatus.PENDING,  # Manual Verification Required
    13: OrderStatus.PENDING,  # Disputed
    11: OrderStatus.UNSHIPPED,  # Awaiting Fulfillment: paid, to be packed
    9: OrderStatus.UNSHIPPED,  # Awaiting Shipment: packed
    8: OrderStatus.UNSHIPPED,  # Awaiting Pickup
    3: OrderStatus.UNSHIPPED,  # Partially Shipped
    2: OrderStatus.SHIPPED,
    10: OrderStatus.DELIVERED,  # Completed: delivered or picked up
    5: OrderStatus.CANCELLED,
    6: OrderStatus.CANCELLED,  # Declined by the payment gateway
    4: OrderStatus.RETURNED,  # Refunded
}


# --- small pure helpers ----------------------------------------------------------------------------------------


# BigCommerce money: v2 strings with four decimals ("25.0000"), v3 JSON numbers. To the cent, exactly.
_money = partial(cents, platform="BigCommerce")


def _optional_money(value: Any) -> Decimal | None:
    if value in (None, "", 0) or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return None
    return amount if amount > 0 else None


def _number(value: Decimal) -> float:
    """A JSON number for v3. Quantized to the cent it has fewer than 15 digits, so the float's shortest text,
    which is what json writes, is exactly the decimal."""
    return float(value.quantize(CENT, rounding=ROUND_HALF_UP))


def _date(value: Any, what: str, raw: Any) -> datetime:
    """v2 dates are RFC 2822 ("Tue, 20 Nov 2026 10:15:00 +0000")."""
    if not isinstance(value, str) or not value:
        raise PermanentError(f"BigCommerce sent no {what}", raw=payload_text(raw))
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        raise PermanentError(f"BigCommerce sent an unreadable {what}: {value[:40]}", raw=payload_text(raw)) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _header(headers: dict[str, str], name: str) -> str:
    lowered = name.lower()
    for key, value in (headers or {}).items():
        if key.lower() == lowered:
            return value
    return ""


def _safe(url: str) -> str:
    return url.split("?", 1)[0]


def error_text(payload: Any) -> str:
    """The message of a v2 error list `[{"status", "message"}]` or a v3 error `{"status", "title", "errors"}`."""
    if isinstance(payload, list) and payload and isinstance(payload[0], dict):
        return "; ".join(str(e.get("message") or "") for e in payload if isinstance(e, dict))[:500]
    if isinstance(payload, dict):
        title = str(payload.get("title") or payload.get("message") or "")
        errors = payload.get("errors")
        if isinstance(errors, dict) and errors:
            title = f"{title}: " + "; ".join(f"{k} {v}" for k, v in errors.items())
        return title[:500]
    return ""


def classify(response: requests.Response) -> ConnectorError | None:
    status = response.status_code
    if status < 400:
        return None
    try:
        payload = response.json()
    except ValueError:
        payload = None
    message = error_text(payload)
    raw = response.content
    described = f"BigCommerce: {message} [HTTP {status}]" if message else f"BigCommerce answered HTTP {status}"
    if status == 401:
        return AuthError(f"{described}. The store API account's token was refused: was the account deleted?",
                         raw=raw, status_code=status)
    if status == 403:
        return AuthError(f"{described}. Give the store API account the scopes Orders (modify), Products (modify) "
                         "and Information & settings (read-only)", raw=raw, status_code=status)
    if status in (420, 429):
        return RateLimited(described, retry_after=retry_after_seconds(response.headers), raw=raw, status_code=status)
    if status >= 500 or status == 408:
        return TransientError(described, raw=raw, status_code=status)
    return PermanentError(described, raw=raw, status_code=status)


def normalize_store_hash(value: Any) -> str:
    """The store hash, also from a pasted API path (https://api.bigcommerce.com/stores/abc123/v3/)."""
    text = str(value or "").strip().lower()
    match = API_PATH_PATTERN.search(text)
    if match:
        text = match.group(1)
    if not HASH_PATTERN.match(text):
        raise ValueError("The store hash is the short code in the API path of your API account "
                         "(https://api.bigcommerce.com/stores/<store hash>/v3/), letters and digits")
    return text


# --- the cursor of the orders keyset ------------------------------------------------------------------------------


def _encode_cursor(stamp: datetime, seen: Iterable[int], page: int) -> str:
    return f"{stamp.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S')}|{','.join(str(i) for i in sorted(seen))}|{page}"


def _decode_cursor(cursor: str) -> tuple[datetime, set[int], int]:
    try:
        stamp, seen, page = cursor.split("|")
        ids = {int(i) for i in seen.split(",") if i}
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC), ids, max(1, int(page))
    except ValueError:
        raise ValueError(f"Not a BigCommerce orders cursor: {cursor[:64]!r}") from None


class BigCommerceConnector(Connector):
    slug = "bigcommerce"
    name = "BigCommerce"
    auth_kind = AuthKind.API_KEY
    capabilities = frozenset({
        Capability.ORDERS, Capability.PRODUCTS, Capability.STOCK_PUSH, Capability.PRICE_PUSH,
        Capability.FULFILMENT_PUSH, Capability.WEBHOOKS,
    })
    credential_fields = (
        CredentialField("store_hash", "Store hash", stored_in="config",
                        help_text="From the API path shown with the API account: https://api.bigcommerce.com/stores/"
                                  "<store hash>/v3/ (pasting the whole path is fine)."),
        CredentialField("access_token", "Access token", secret=True,
                        help_text="Settings → Store-level API accounts → Create API account (V2/V3 API token), scopes "
                                  "Orders: modify, Products: modify, Information & settings: read-only."),
    )
    # 150 requests per 30 s per store on Standard and Plus plans (more on Pro and Enterprise), shared by every
    # app of the store: Haat stays under it and waits out a 429 for X-Rate-Limit-Time-Reset-Ms.
    rate_limits = {"default": RateLimit(rate=4.0, burst=8)}
    default_poll_interval = timedelta(minutes=10)
    orders_sorted_by_update = True
    default_currency = "USD"
    docs_url = "https://developer.bigcommerce.com/docs/rest-management"

    def __init__(self, context: ConnectionContext, *, http: HttpClient | None = None, base_url: str | None = None):
        super().__init__(context, http=http, base_url=base_url)
        self._store: dict | None = None
        self._catalog: dict[str, dict[str, str]] | None = None

    # --- description ---------------------------------------------------------------------------------------

    @classmethod
    def default_base_url(cls, context: ConnectionContext) -> str:
        return f"{API_HOST}/stores/{normalize_store_hash(context.config.get('store_hash'))}"

    @classmethod
    def sandbox_base_url(cls, *, sandbox_root: str, params: dict[str, str]) -> str:
        try:
            store_hash = normalize_store_hash(params.get("store_hash"))
        except ValueError:
            store_hash = "unknown"  # the connect form's live test reports the bad value
        return f"{sandbox_root.rstrip('/')}/{cls.slug}/stores/{store_hash}"

    @property
    def store_hash(self) -> str:
        return normalize_store_hash(self.context.config.get("store_hash") or self.base_url.rsplit("/", 1)[-1])

    # --- HTTP ----------------------------------------------------------------------------------------------

    def _token(self) -> str:
        token = str(self.context.credentials.get("access_token") or "").strip()
        if not token or any(ch.isspace() for ch in token) or len(token) > 255:
            raise AuthError("The BigCommerce access token is missing or malformed: reconnect the store")
        return token

    def _call(self, method: str, path: str, *, params: dict | None = None, json_body: Any = None,
              operation: str = "default") -> requests.Response:
        kwargs: dict[str, Any] = {"headers": {"X-Auth-Token": self._token(), "Accept": "application/json"}}
        if params:
            kwargs["params"] = params
        if json_body is not None:
            kwargs["json"] = json_body
        response = self.http.request(method, f"{self.base_url}{path}", operation=operation, classify=classify, **kwargs)
        self._respect_quota(response)
        return response

    def _respect_quota(self, response: requests.Response) -> None:
        """The store's quota is shared with its other apps: when BigCommerce says none is left, wait for the
        window to reset rather than spend a request on a 429."""
        if response.headers.get("X-Rate-Limit-Requests-Left") != "0":
            return
        wait = retry_after_seconds(response.headers)
        if wait:
            wait = min(wait, settings.HTTP_MAX_BACKOFF)
            self.http.stats.waited_seconds += wait
            time.sleep(wait)

    def _json(self, response: requests.Response, expect: type) -> Any:
        """The body as `expect`; 204 No Content (v2's empty page) reads as an empty list."""
        if response.status_code == 204:
            if expect is list:
                return []
            raise PermanentError(f"BigCommerce answered {_safe(response.url)} with no content", status_code=204)
        data = HttpClient.json(response)
        if not isinstance(data, expect):
            raise PermanentError(f"BigCommerce answered {_safe(response.url)} with a {type(data).__name__} where a "
                                 f"{expect.__name__} was expected", raw=response.content, status_code=response.status_code)
        return data

    # --- every connector ----------------------------------------------------------------------------------------

    def test_connection(self) -> dict[str, Any]:
        """Read the store's information, then one order and one product: the token's scopes must cover all three."""
        store = self.store_info()
        self._call("GET", "/v2/orders", params={"limit": 1}, operation="orders")
        self._call("GET", "/v3/catalog/products", params={"limit": 1}, operation="products")
        return {"external_account_id": self.store_hash, "name": str(store.get("name") or ""),
                "currency": str(store.get("currency") or ""), "domain": str(store.get("domain") or "")}

    def store_info(self) -> dict:
        if self._store is None:
            self._store = self._json(self._call("GET", "/v2/store", operation="status"), dict)
        return self._store

    def store_currency(self) -> str:
        currency = str(self.store_info().get("currency") or "")
        if not currency:
            raise PermanentError("BigCommerce did not say which currency the store sells in", raw=payload_text(self._store))
        return currency

    # --- orders --------------------------------------------------------------------------------------------


    def fetch_orders(self, *, since: datetime, cursor: str | None = None) -> Page[OrderData]:
        """Orders modified at or after `since`, oldest change first, by keyset (see the module docstring)."""
        if cursor:
            boundary, seen, page = _decode_cursor(cursor)
        else:
            boundary, seen, page = since.astimezone(UTC).replace(microsecond=0), set(), 1
        limit = self.configured_page_size(MAX_ORDERS_PAGE, default=DEFAULT_ORDERS_PAGE)
        for _attempt in range(MAX_SAME_SECOND_PAGES):
            response = self._call("GET", "/v2/orders", operation="orders", params={
                "min_date_modified": format_datetime(boundary), "sort": "date_modified:asc", "limit": limit,
                "page": page})
            rows = self._json(response, list)
            keyed = [(self._order_key(row), row) for row in rows]
            fresh = [(key, row) for key, row in keyed if not (key[0] <= boundary and key[1] in seen)]
            done = len(rows) < limit
            if fresh:
                orders = [self._full_order(row) for _key, row in fresh]
                last_stamp = fresh[-1][0][0]
                at_last = {key[1] for key, _row in keyed if key[0] == last_stamp}
                if last_stamp == boundary:
                    at_last |= seen
                return Page(items=orders, next_cursor=None if done else _encode_cursor(last_stamp, at_last, 1))
            if done:
                return Page(items=[], next_cursor=None)
            page += 1  # a whole page already seen: more than a page changed in that second
        return Page(items=[], next_cursor=_encode_cursor(boundary, seen, page))

    @staticmethod
    def _order_key(row: Any) -> tuple[datetime, int]:
        if not isinstance(row, dict) or not isinstance(row.get("id"), int) or isinstance(row.get("id"), bool):
            raise PermanentError("BigCommerce sent an order without an id", raw=payload_text(row))
        return _date(row.get("date_modified"), "order modified date", row), row["id"]

    def _full_order(self, raw: dict) -> OrderData:
        """The list gives neither lines nor the shipping address: read both."""
        order_id = raw["id"]
        lines: list[dict] = []
        page = 1
        while True:
            rows = self._json(self._call("GET", f"/v2/orders/{order_id}/products", operation="orders",
                                         params={"limit": MAX_ORDERS_PAGE, "page": page}), list)
            lines.extend(rows)
            if len(rows) < MAX_ORDERS_PAGE:
                break
            page += 1
        addresses = self._json(self._call("GET", f"/v2/orders/{order_id}/shipping_addresses", operation="orders"), list)
        return self._order(raw, lines, addresses[0] if addresses and isinstance(addresses[0], dict) else {})

    def _status(self, raw: dict) -> OrderStatus:
        status_id = raw.get("status_id")
        custom = self.context.config.get("status_map") or {}
        if isinstance(custom, dict) and str(status_id) in custom:
            try:
                return OrderStatus(custom[str(status_id)])
            except ValueError:
                logger.warning("status_map of connection %s maps %r to an unknown status", self.context.connection_id,
                               status_id)
        if status_id == 14:  # Partially Refunded: what is left is either on its way or still to ship
            shipped, total = raw.get("items_shipped") or 0, raw.get("items_total") or 0
            return OrderStatus.SHIPPED if total and shipped >= total else OrderStatus.UNSHIPPED
        return STATUS_MAP.get(status_id, OrderStatus.UNSHIPPED)

    def _order(self, raw: dict, line_rows: list, address: dict) -> OrderData:
        if not isinstance(raw.get("status_id"), int):
            raise PermanentError("BigCommerce sent an order without a status", raw=payload_text(raw))
        lines = []
        for item in line_rows:
            if not isinstance(item, dict) or not isinstance(item.get("id"), int):
                raise PermanentError("BigCommerce sent a malformed order line", raw=payload_text(item))
            quantity = item.get("quantity")
            if not isinstance(quantity, int) or isinstance(quantity, bool):
                raise PermanentError("BigCommerce sent an order line without a quantity", raw=payload_text(item))
            lines.append(OrderLineData(
                external_id=str(item["id"]), sku=str(item.get("sku") or ""), title=str(item.get("name") or ""),
                quantity=quantity, unit_price=_money(item.get("price_inc_tax"), "line price", item), raw=item,
            ))
        billing = raw.get("billing_address") if isinstance(raw.get("billing_address"), dict) else {}
        place = address or billing
        return OrderData(
            external_id=str(raw["id"]), status=self._status(raw), raw_status=str(raw.get("status") or raw["status_id"]),
            placed_at=_date(raw.get("date_created"), "order date", raw),
            updated_at=_date(raw.get("date_modified"), "order modified date", raw),
            currency=str(raw.get("currency_code") or ""), total=_money(raw.get("total_inc_tax"), "order total", raw),
            lines=lines, fulfilment_channel=FulfilmentChannel.MERCHANT,
            buyer_name=" ".join(p for p in (billing.get("first_name"), billing.get("last_name")) if p),
            shipping_address={
                "name": " ".join(p for p in (place.get("first_name"), place.get("last_name")) if p),
                "company": place.get("company") or "", "line1": place.get("street_1") or "",
                "line2": place.get("street_2") or "", "city": place.get("city") or "", "state": place.get("state") or "",
                "postcode": place.get("zip") or "", "country": place.get("country_iso2") or "",
                "phone": place.get("phone") or billing.get("phone") or "",
            },
            number=str(raw["id"]), raw={**raw, "lines": line_rows, "shipping_address": address},
        )

    # --- products ------------------------------------------------------------------------------------------

    def fetch_products(self, *, cursor: str | None = None) -> Page[ProductData]:
        """One item per sellable SKU: each variant of a product with options, else the product itself."""
        page = int(cursor) if cursor else 1
        limit = self.configured_page_size(MAX_PRODUCTS_PAGE, default=MAX_PRODUCTS_PAGE)
        body = self._json(self._call("GET", "/v3/catalog/products", operation="products",
                                     params={"include": "variants", "limit": limit, "page": page}), dict)
        data = body.get("data")
        pagination = (body.get("meta") or {}).get("pagination") if isinstance(body.get("meta"), dict) else None
        if not isinstance(data, list) or not isinstance(pagination, dict):
            raise PermanentError("BigCommerce answered the catalogue without data and pagination", raw=payload_text(body))
        currency = self.store_currency()
        items = [item for row in data for item in self._products(row, currency)]
        more = int(pagination.get("current_page") or page) < int(pagination.get("total_pages") or 0)
        return Page(items=items, next_cursor=str(page + 1) if more else None)

    @staticmethod
    def _products(row: Any, currency: str) -> list[ProductData]:
        if not isinstance(row, dict) or not isinstance(row.get("id"), int):
            raise PermanentError("BigCommerce sent a product without an id", raw=payload_text(row))
        tracking = str(row.get("inventory_tracking") or "none")
        variants = [v for v in row.get("variants") or [] if isinstance(v, dict)]
        optioned = [v for v in variants if v.get("option_values")]
        refs_base = {"product_id": str(row["id"]), "tracking": tracking}
        if not optioned:
            base = variants[0] if variants else {}
            refs = {**refs_base, "level": "product"}
            if base.get("id") is not None:
                refs["variant_id"] = str(base["id"])
            return [ProductData(
                external_id=str(row["id"]), sku=str(row.get("sku") or ""), title=str(row.get("name") or ""),
                price=_money(row.get("price"), "product price", row), currency=currency,
                quantity=int(row.get("inventory_level") or 0) if tracking == "product" else None,
                mrp=_optional_money(row.get("retail_price")), barcode=str(row.get("upc") or row.get("gtin") or ""),
                external_refs=refs, raw=row)]
        items = []
        for variant in optioned:
            label = " / ".join(str(o.get("label")) for o in variant["option_values"] if isinstance(o, dict))
            price = variant.get("price") if variant.get("price") is not None else row.get("price")
            retail = variant.get("retail_price") if variant.get("retail_price") is not None else row.get("retail_price")
            items.append(ProductData(
                external_id=f"{row['id']}:{variant.get('id')}", sku=str(variant.get("sku") or ""),
                title=f"{row.get('name')} ({label})" if label else str(row.get("name") or ""),
                price=_money(price, "variant price", variant), currency=currency,
                quantity=int(variant.get("inventory_level") or 0) if tracking == "variant" else None,
                mrp=_optional_money(retail), barcode=str(variant.get("upc") or variant.get("gtin") or ""),
                external_refs={**refs_base, "level": "variant", "variant_id": str(variant.get("id"))},
                raw={"product": {k: v for k, v in row.items() if k != "variants"}, "variant": variant}))
        return items

    def _refs(self, sku: str, given: dict[str, str]) -> dict[str, str] | None:
        """The ids a push needs: from the listing, else from one read of the catalogue (kept for this run)."""
        if given.get("level") and given.get("product_id"):
            return given
        if self._catalog is None:
            catalog: dict[str, dict[str, str]] = {}
            cursor = None
            while True:
                page = self.fetch_products(cursor=cursor)
                catalog.update({p.sku: p.external_refs for p in page.items if p.sku})
                cursor = page.next_cursor
                if not cursor:
                    break
            self._catalog = catalog
        return self._catalog.get(sku)

    def _batch_write(self, level: str, items: list[tuple[Any, dict]]) -> dict[int, PushResult]:
        """PUT variant or product batches; a refused batch is retried item by item to name the refused SKU."""
        path, size = ("/v3/catalog/variants", VARIANT_BATCH) if level == "variant" else ("/v3/catalog/products",
                                                                                          PRODUCT_BATCH)
        results: dict[int, PushResult] = {}
        for chunk in chunked(items, size):
            try:
                self._call("PUT", path, json_body=[body for _u, body in chunk], operation="write")
                results.update({id(u): PushResult(sku=u.sku, ok=True, raw=body) for u, body in chunk})
                continue
            except PermanentError as exc:
                if len(chunk) == 1:
                    update, body = chunk[0]
                    results[id(update)] = PushResult(sku=update.sku, ok=False, error=exc.message, raw={"body": exc.raw or ""})
                    continue
            for update, body in chunk:
                try:
                    self._call("PUT", path, json_body=[body], operation="write")
                    results[id(update)] = PushResult(sku=update.sku, ok=True, raw=body)
                except PermanentError as exc:
                    results[id(update)] = PushResult(sku=update.sku, ok=False, error=exc.message, raw={"body": exc.raw or ""})
        return results

    def push_stock(self, updates: Sequence[StockUpdate]) -> list[PushResult]:
        results: dict[int, PushResult] = {}
        groups: dict[str, list[tuple[Any, dict]]] = {"variant": [], "product": []}
        for update in updates:
            if isinstance(update.quantity, bool) or not isinstance(update.quantity, int) or update.quantity < 0:
                results[id(update)] = PushResult(sku=update.sku, ok=False, error="Stock must be a whole number of at least 0")
                continue
            refs = self._refs(update.sku, update.external_refs)
            if refs is None:
                results[id(update)] = PushResult(sku=update.sku, ok=False, error="The store has no product with this SKU")
            elif refs.get("tracking") == "none":
                results[id(update)] = PushResult(sku=update.sku, ok=False, error="BigCommerce does not track stock of "
                                                 "this product: turn on inventory tracking for it in the store")
            elif refs.get("tracking") == "variant":
                groups["variant"].append((update, {"id": int(refs["variant_id"]), "inventory_level": update.quantity}))
            else:
                groups["product"].append((update, {"id": int(refs["product_id"]), "inventory_level": update.quantity}))
        for level, items in groups.items():
            results.update(self._batch_write(level, items))
        return [results[id(u)] for u in updates]

    def push_prices(self, updates: Sequence[PriceUpdate]) -> list[PushResult]:
        """The price, and the MRP as `retail_price` (BigCommerce's MSRP, shown struck through), in the store's
        currency, on the variant of a product with options, else on the product."""
        currency = self.store_currency()
        results: dict[int, PushResult] = {}
        groups: dict[str, list[tuple[Any, dict]]] = {"variant": [], "product": []}
        for update in updates:
            if update.currency and update.currency.upper() != currency.upper():
                results[id(update)] = PushResult(sku=update.sku, ok=False,
                                                 error=f"The store sells in {currency}, not {update.currency}")
                continue
            if not isinstance(update.price, Decimal) or not update.price.is_finite() or update.price < 0:
                results[id(update)] = PushResult(sku=update.sku, ok=False, error="A price must be a number of at least 0")
                continue
            refs = self._refs(update.sku, update.external_refs)
            if refs is None:
                results[id(update)] = PushResult(sku=update.sku, ok=False, error="The store has no product with this SKU")
                continue
            level = "variant" if refs.get("level") == "variant" else "product"
            body: dict[str, Any] = {"id": int(refs["variant_id"] if level == "variant" else refs["product_id"]),
                                    "price": _number(update.price)}
            if update.mrp is not None and update.mrp.is_finite() and update.mrp >= update.price:
                body["retail_price"] = _number(update.mrp)
            groups[level].append((update, body))
        for level, items in groups.items():
            results.update(self._batch_write(level, items))
        return [results[id(u)] for u in updates]

    # --- fulfilment --------------------------------------------------------------------------------------------

    def push_fulfilment(self, fulfilment: FulfilmentData) -> FulfilmentResult:
        """A v2 shipment with the tracking number; BigCommerce then sets the order Shipped or Partially Shipped
        and e-mails the buyer. Safe to repeat: a shipment already carrying the number is returned."""
        order_id = str(fulfilment.order_external_id)
        if not order_id.isdigit():
            return FulfilmentResult(ok=False, error=f"Not a BigCommerce order id: {order_id!r}")
        number, carrier = fulfilment.tracking_number.strip(), fulfilment.carrier.strip()
        if not number or not carrier:
            return FulfilmentResult(ok=False, error="A carrier and a tracking number are needed to ship the order")
        order = self._json(self._call("GET", f"/v2/orders/{order_id}", operation="fulfilment"), dict)
        shipments = self._json(self._call("GET", f"/v2/orders/{order_id}/shipments", operation="fulfilment"), list)
        for shipment in shipments:
            if isinstance(shipment, dict) and str(shipment.get("tracking_number") or "").strip() == number:
                return FulfilmentResult(ok=True, external_id=str(shipment.get("id")), raw=shipment)
        if order.get("status_id") in NOT_SHIPPABLE:
            status = order.get("status") or NOT_SHIPPABLE[order["status_id"]]
            return FulfilmentResult(ok=False, error=f"The order is {status} in BigCommerce: it cannot be shipped",
                                    raw={"status_id": order.get("status_id")})
        lines = self._json(self._call("GET", f"/v2/orders/{order_id}/products", operation="fulfilment",
                                      params={"limit": MAX_ORDERS_PAGE}), list)
        items = self._shipment_items(fulfilment, lines)
        if isinstance(items, str):
            return FulfilmentResult(ok=False, error=items)
        address_id = next((ln.get("order_address_id") for ln in lines if isinstance(ln, dict)), None)
        body: dict[str, Any] = {"order_address_id": address_id, "tracking_number": number, "items": items,
                                "shipping_provider": PROVIDERS.get(carrier.lower(), ""),
                                "comments": f"Shipped with {carrier}"}
        if not body["shipping_provider"]:
            body["tracking_carrier"] = TRACKING_CARRIERS.get(carrier.lower(), "")
        try:
            response = self._call("POST", f"/v2/orders/{order_id}/shipments", json_body=body, operation="fulfilment")
        except PermanentError as exc:
            return FulfilmentResult(ok=False, error=exc.message, raw={"body": exc.raw or ""})
        shipment = self._json(response, dict)
        return FulfilmentResult(ok=True, external_id=str(shipment.get("id")), raw=shipment)

    @staticmethod
    def _shipment_items(fulfilment: FulfilmentData, lines: list) -> list[dict] | str:
        remaining = {str(ln.get("id")): int(ln.get("quantity") or 0) - int(ln.get("quantity_shipped") or 0)
                     - int(ln.get("quantity_refunded") or 0) for ln in lines if isinstance(ln, dict)}
        if not fulfilment.lines:
            items = [{"order_product_id": int(k), "quantity": v} for k, v in remaining.items() if v > 0]
            return items or "Every line of this order is already shipped in BigCommerce"
        wanted: dict[str, int] = {}
        for line in fulfilment.lines:
            wanted[str(line.external_line_id)] = wanted.get(str(line.external_line_id), 0) + line.quantity
        unknown = sorted(set(wanted) - set(remaining))
        if unknown:
            return f"These lines are not in the BigCommerce order: {', '.join(unknown)}"
        over = sorted(k for k, q in wanted.items() if q > remaining[k])
        if over:
            return f"More than remains to ship of lines {', '.join(over)}"
        return [{"order_product_id": int(k), "quantity": q} for k, q in wanted.items() if q > 0]

    # --- webhooks ----------------------------------------------------------------------------------------------

    @classmethod
    def verify_webhook(cls, *, body: bytes, headers: dict[str, str], secret: str) -> bool:
        """BigCommerce does not sign deliveries: the hook sends back the secret header Haat set at registration."""
        sent = _header(headers, SECRET_HEADER)
        if not sent or not secret:
            return False
        return hmac.compare_digest(sent.encode(), secret.encode())

    @staticmethod
    def delivery_key(body: bytes) -> tuple[str, str]:
        """(delivery id, scope) of a delivery, which BigCommerce puts in the body, not in headers. `hash` is the
        same when BigCommerce retries a delivery, so it dedupes retries."""
        try:
            payload = json.loads(body)
        except ValueError:
            return "", ""
        if not isinstance(payload, dict):
            return "", ""
        digest = str(payload.get("hash") or "") or hashlib.sha256(body).hexdigest()
        return digest[:255], str(payload.get("scope") or "")[:100]

    def parse_webhook(self, *, body: bytes, headers: dict[str, str]) -> WebhookMessage:
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise PermanentError(f"BigCommerce sent a webhook body that is not JSON: {exc}", raw=body) from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
            raise PermanentError("BigCommerce sent a webhook without data", raw=body)
        producer = str(payload.get("producer") or "")
        if producer and producer != f"stores/{self.store_hash}":
            raise PermanentError(f"A webhook of another store ({producer}) reached this connection", raw=body)
        delivery_id, scope = self.delivery_key(body)
        message = WebhookMessage(delivery_id=delivery_id, topic=scope, payload=payload)
        data = payload["data"]
        if data.get("type") == "order" and isinstance(data.get("id"), int) and scope.startswith("store/order/"):
            if scope == "store/order/archived":
                message.action = "archived"
                return message
            raw = self._json(self._call("GET", f"/v2/orders/{data['id']}", operation="orders"), dict)
            message.orders = [self._full_order(raw)]
        else:
            message.action = scope or "unknown"
        return message

    def register_webhooks(self, *, callback_url: str, secret: str) -> list[str]:
        """Subscribe `callback_url` to new and changed orders with the secret header; existing hooks of the same
        URL and scope are reused (their secret replaced). If one fails, those made by this call are removed."""
        if not secret:
            raise ValueError("A webhook secret is required")
        body = self._json(self._call("GET", "/v3/hooks", operation="webhooks"), dict)
        existing = {row.get("scope"): row.get("id") for row in body.get("data") or []
                    if isinstance(row, dict) and row.get("destination") == callback_url}

        def subscribe(scope: str) -> tuple[str, bool]:
            hook = {"scope": scope, "destination": callback_url, "is_active": True, "headers": {SECRET_HEADER: secret}}
            if scope in existing:
                row = self._json(self._call("PUT", f"/v3/hooks/{existing[scope]}", json_body=hook,
                                            operation="webhooks"), dict).get("data") or {}
            else:
                row = self._json(self._call("POST", "/v3/hooks", json_body=hook, operation="webhooks"),
                                 dict).get("data") or {}
            return str(row.get("id")), scope not in existing

        return self._subscribe_each(WEBHOOK_SCOPES, subscribe)

    def unregister_webhooks(self, *, webhook_ids: Sequence[str]) -> None:
        for webhook_id in webhook_ids:
            if not str(webhook_id).isdigit():
                raise ValueError(f"Not a BigCommerce webhook id: {webhook_id!r}")
            try:
                self._call("DELETE", f"/v3/hooks/{webhook_id}", operation="webhooks")
            except PermanentError as exc:
                if exc.status_code != 404:
                    raise
