"""Magento 2 / Adobe Commerce admin REST API (`<store>/rest/<store code>/V1/`): orders, products, stock, prices, shipments.

Auth is an integration's access token (System → Extensions → Integrations → Activate), sent as
`Authorization: Bearer <token>`. Since 2.4.4 Magento accepts that token as a bearer only when "Allow OAuth
Access Tokens to be used as standalone Bearer tokens" is on (Stores → Configuration → Services → OAuth →
Consumer Settings); otherwise it answers 401 as for a wrong token, and the connect form says so. Tokens do not
expire; re-authorising the integration replaces it. Missing ACL resources also answer 401, naming the resource.

Orders are searched with `searchCriteria` by `updated_at` (UTC, "Y-m-d H:i:s"), sorted by (updated_at,
entity_id). Page numbers are not stable while orders change, and a page past the end answers the last page
again, so the connector pages by keyset like the WooCommerce one: the cursor holds the (updated_at,
entity_id) of the last order returned, the next search starts at that second and drops what came already;
`currentPage` moves only when more than a page of orders share one second, and `total_count` says when to stop.

Stock goes either to the legacy stock item (`stockItems`) or, on a store with Multi-Source Inventory, to a
source's items (`inventory/source-items`); `inventory_mode` "auto" asks `inventory/sources` once to tell
which. Open-source Magento has no webhooks (Adobe Commerce's I/O Events need an Adobe App Builder project):
Haat polls, so this connector declares no webhooks.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import partial
from typing import Any
from urllib.parse import quote, urlsplit

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
    OrderData,
    OrderLineData,
    OrderStatus,
    Page,
    PriceUpdate,
    ProductData,
    PushResult,
    StockUpdate,
    chunked,
)
from apps.integrations.connectors.errors import (
    AuthError,
    ConnectorError,
    PermanentError,
    RateLimited,
    TransientError,
)
from apps.integrations.connectors.parsing import cents, iso_time, payload_text
from apps.integrations.http import HttpClient, RateLimit, retry_after_seconds

logger = logging.getLogger(__name__)

MAX_PAGE_SIZE = 100  # Magento has no hard cap; large pages of full orders are slow on small hosts
BATCH_SIZE = 100
MAX_SAME_SECOND_PAGES = 50
CENT = Decimal("0.01")
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9]{32}$")  # Magento\Integration\Model\Oauth\Token: 32 letters and digits
STORE_CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
NO_ROUTE = "Request does not match any route."
NAMED_PLACEHOLDER = re.compile(r"%[A-Za-z][A-Za-z0-9_]*")
INVENTORY_MODES = (("auto", "Detect (Multi-Source Inventory if the store has it)"),
                   ("legacy", "Single source (legacy stock items)"), ("msi", "Multi-Source Inventory"))
# Carriers Magento knows by code; any other goes as "custom" with its name as the title.
CARRIER_CODES = {"ups": "ups", "usps": "usps", "fedex": "fedex", "federal express": "fedex", "dhl": "dhl"}
SKIPPED_PRODUCT_TYPES = {"configurable", "bundle", "grouped"}  # their children carry SKU, stock and price

STATE_MAP: dict[str, OrderStatus] = {
    "new": OrderStatus.PENDING,
    "pending_payment": OrderStatus.PENDING,
    "payment_review": OrderStatus.PENDING,
    "holded": OrderStatus.PENDING,  # on hold by the merchant: nothing to ship until released
    "processing": OrderStatus.UNSHIPPED,  # invoiced or shipped, not both (see _status)
    "complete": OrderStatus.SHIPPED,  # invoiced and shipped; Magento does not track delivery
    "canceled": OrderStatus.CANCELLED,
    "closed": OrderStatus.RETURNED,  # fully refunded by credit memo
}
NOT_SHIPPABLE = {"canceled", "closed", "holded", "payment_review"}


# --- small pure helpers ----------------------------------------------------------------------------------------


# Magento money is a JSON number (a float in PHP): read through its shortest text, to the cent.
_money = partial(cents, platform="Magento")


def _quantity(value: Any, what: str, raw: Any) -> int:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise PermanentError(f"Magento sent an unreadable {what}: {str(value)[:40]}", raw=payload_text(raw)) from None
    if not amount.is_finite():
        raise PermanentError(f"Magento sent an unreadable {what}", raw=payload_text(raw))
    return int(amount.to_integral_value(rounding=ROUND_HALF_UP))


# Magento's dates: "Y-m-d H:i:s" in UTC (the admin shows local time; the API does not).
_stamp = partial(iso_time, platform="Magento")


def _stamp_param(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("timestamps given to the Magento connector must be timezone-aware")
    return value.astimezone(UTC).strftime(DATE_FORMAT)


def _number(value: Decimal) -> float:
    """A JSON number for Magento. A price quantized to the cent has fewer than 15 digits, so the float's
    shortest text (what json writes) is exactly the decimal: nothing is rounded on the way."""
    return float(value.quantize(CENT, rounding=ROUND_HALF_UP))


def _safe(url: str) -> str:
    return url.split("?", 1)[0]


def render_message(payload: Any) -> str:
    """Magento's error text with its %placeholders filled from `parameters` (named in an object, or %1..%n)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("message"), str):
        return ""
    message = payload["message"]
    parameters = payload.get("parameters")
    if isinstance(parameters, dict):
        for name in sorted(parameters, key=len, reverse=True):
            message = message.replace(f"%{name}", str(parameters[name]))
    elif isinstance(parameters, list):
        for index in range(len(parameters), 0, -1):
            message = message.replace(f"%{index}", str(parameters[index - 1]))
        # Price results name their placeholders (%SKU, %storeId) but send the values as a plain list, in order.
        values = iter(parameters)
        message = NAMED_PLACEHOLDER.sub(lambda m: str(next(values, m.group(0))), message)
    errors = payload.get("errors")
    if isinstance(errors, list) and errors:
        details = [render_message(e) for e in errors if isinstance(e, dict)]
        message = f"{message}: {'; '.join(d for d in details if d)}" if any(details) else message
    return " ".join(message.split())[:500]


def classify(response: requests.Response) -> ConnectorError | None:
    """Magento's answers as typed errors carrying its own message (it never echoes the token)."""
    status = response.status_code
    if status < 400:
        return None
    try:
        payload = response.json()
    except ValueError:
        payload = None
    message = render_message(payload)
    raw = response.content
    described = f"Magento: {message} [HTTP {status}]" if message else f"Magento answered HTTP {status}"
    if status == 401:
        return AuthError(f"{described}. The integration's access token was refused or lacks this resource: check "
                         "that the integration is active, has the resource in its API permissions, and (Magento "
                         "2.4.4+) that OAuth access tokens may be used as standalone bearer tokens",
                         raw=raw, status_code=status)
    if status == 403:
        if message:
            return AuthError(described, raw=raw, status_code=status)
        return PermanentError(f"The store's web server refused the request (HTTP 403 on {_safe(response.url)}), "
                              "probably a firewall blocking /rest/", raw=raw, status_code=status)
    if status in (420, 429):
        return RateLimited(f"The store is rate limiting Haat (HTTP {status})", retry_after=retry_after_seconds(
            response.headers), raw=raw, status_code=status)
    if status >= 500 or status == 408:
        return TransientError(described, raw=raw, status_code=status)
    if status == 404 and message == NO_ROUTE:
        return PermanentError(f"{described}: is this the store's address, and is the module behind {_safe(response.url)} "
                              "enabled?", raw=raw, status_code=status)
    return PermanentError(described, raw=raw, status_code=status)


def _on_sandbox(url: str) -> bool:
    return on_sandbox(url, "magento")


def normalize_store_url(value: Any) -> str:
    """The store's base URL as typed by a coordinator: https (or this Haat's sandbox), no query or credentials;
    a pasted `/rest/...`, `/index.php` or `/admin...` suffix is dropped."""
    return normalize_shop_url(value, slug="magento", pasted_suffixes=("/rest/", "/rest", "/index.php", "/admin"),
                              https_error="The access token must travel over HTTPS: the store address must start with https://")


def normalize_store_code(value: Any) -> str:
    code = str(value or "").strip() or "default"
    if not STORE_CODE_PATTERN.match(code):
        raise ValueError("A Magento store view code is lower-case letters, digits and underscores, e.g. default")
    return code


def api_root_for(store_url: str, store_code: str = "default") -> str:
    return f"{normalize_store_url(store_url)}/rest/{normalize_store_code(store_code)}/V1"


def store_key(store_url: str, store_code: str = "default") -> str:
    """The store view's identity for Haat: host and path of the store, and the view's code."""
    parts = urlsplit(store_url)
    return f"{parts.netloc.lower()}{parts.path.rstrip('/')}#{store_code}"[:255]


def search_params(*, filters: Sequence[Sequence[tuple[str, str, str]]] = (), sorts: Sequence[tuple[str, str]] = (),
                  page_size: int | None = None, page: int | None = None) -> dict[str, Any]:
    """searchCriteria as query parameters, spelled as the official schema spells them. `filters` is a list
    of groups (ANDed) of (field, value, condition) filters (ORed)."""
    params: dict[str, Any] = {}
    for g, group in enumerate(filters):
        for f, (field, value, condition) in enumerate(group):
            prefix = f"searchCriteria[filterGroups][{g}][filters][{f}]"
            params[f"{prefix}[field]"] = field
            params[f"{prefix}[value]"] = value
            params[f"{prefix}[conditionType]"] = condition
    for s, (field, direction) in enumerate(sorts):
        params[f"searchCriteria[sortOrders][{s}][field]"] = field
        params[f"searchCriteria[sortOrders][{s}][direction]"] = direction
    if page_size is not None:
        params["searchCriteria[pageSize]"] = page_size
    if page is not None:
        params["searchCriteria[currentPage]"] = page
    return params


# --- the cursor of the orders keyset -----------------------------------------------------------------------------


def _encode_cursor(updated: datetime, last_id: int, page: int) -> str:
    return f"{updated.astimezone(UTC).strftime(DATE_FORMAT)}|{last_id}|{page}"


def _decode_cursor(cursor: str) -> tuple[datetime, int, int]:
    try:
        stamp, last_id, page = cursor.split("|")
        return datetime.strptime(stamp, DATE_FORMAT).replace(tzinfo=UTC), int(last_id), max(1, int(page))
    except ValueError:
        raise ValueError(f"Not a Magento orders cursor: {cursor[:64]!r}") from None


class MagentoConnector(Connector):
    slug = "magento"
    name = "Magento"
    auth_kind = AuthKind.API_KEY
    capabilities = frozenset({
        Capability.ORDERS, Capability.PRODUCTS, Capability.STOCK_PUSH, Capability.PRICE_PUSH,
        Capability.FULFILMENT_PUSH,
    })
    credential_fields = (
        CredentialField("store_url", "Store address", stored_in="config",
                        help_text="The store's base URL, e.g. https://shop.example.in (must be https)."),
        CredentialField("store_code", "Store view code", stored_in="config", required=False,
                        help_text="Leave empty for the default store view (code 'default')."),
        CredentialField("access_token", "Integration access token", secret=True,
                        help_text="System → Extensions → Integrations → Add New Integration, API: Sales, Catalog, "
                                  "Inventory and Stores → Activate. 32 letters and digits."),
        CredentialField("inventory_mode", "Stock", stored_in="config", required=False, choices=INVENTORY_MODES,
                        help_text="Where stock is written. Detect asks the store whether it has Multi-Source Inventory."),
        CredentialField("source_code", "Inventory source code", stored_in="config", required=False,
                        help_text="With Multi-Source Inventory: the source Haat's stock goes to (default: 'default')."),
    )
    # Magento Open Source sets no limit on its admin REST API; the host's front may (429 + Retry-After,
    # honoured by the HTTP layer). These keep Haat polite to a store on a small server: an order search
    # renders every order of the page with its items.
    rate_limits = {
        "default": RateLimit(rate=4.0, burst=8),
        "write": RateLimit(rate=2.0, burst=4),
    }
    default_poll_interval = timedelta(minutes=10)  # no webhooks: polling is how new orders arrive
    orders_sorted_by_update = True
    docs_url = "https://developer.adobe.com/commerce/webapi/rest/"

    def __init__(self, context: ConnectionContext, *, http: HttpClient | None = None, base_url: str | None = None):
        super().__init__(context, http=http, base_url=base_url)
        if not self.base_url.endswith("/V1"):
            raise ValueError("The Magento API root must end in /rest/<store code>/V1")
        self._currency: str | None = None
        self._inventory: tuple[str, str] | None = None

    # --- description ---------------------------------------------------------------------------------------

    @classmethod
    def default_base_url(cls, context: ConnectionContext) -> str:
        return api_root_for(context.config.get("store_url"), context.config.get("store_code") or "default")

    @classmethod
    def sandbox_base_url(cls, *, sandbox_root: str, params: dict[str, str]) -> str:
        """The store URL already says where the store is, sandbox or not: its API root is the same either way."""
        try:
            return api_root_for(params.get("store_url") or "", params.get("store_code") or "default")
        except ValueError:
            # Not a usable address: the connect form's live test reports why.
            return f"{sandbox_root.rstrip('/')}/{cls.slug}/rest/default/V1"

    @property
    def store_url(self) -> str:
        return self.base_url.split("/rest/", 1)[0]

    @property
    def store_code(self) -> str:
        return self.base_url.rsplit("/", 2)[-2]

    # --- HTTP ----------------------------------------------------------------------------------------------

    def _token(self) -> str:
        token = str(self.context.credentials.get("access_token") or "").strip()
        if not token:
            raise AuthError("The Magento access token is missing: reconnect the store")
        if not TOKEN_PATTERN.match(token):
            raise AuthError("That is not a Magento integration access token: it is 32 letters and digits (the "
                            "'Access Token' of the activated integration, not its consumer key)")
        return token

    def _check_store(self) -> None:
        """The token travels as a bearer: never to a plain-HTTP address other than this Haat's sandbox."""
        if self.context.config.get("store_url"):
            normalize_store_url(self.context.config["store_url"])
        if self.context.config.get("store_code"):
            normalize_store_code(self.context.config["store_code"])
        if not self.base_url.startswith("https://") and not _on_sandbox(self.base_url):
            raise ValueError("The access token must travel over HTTPS: the store address must start with https://")

    def _call(self, method: str, path: str, *, operation: str = "default", params: dict | None = None,
              json_body: Any = None) -> requests.Response:
        self._check_store()
        kwargs: dict[str, Any] = {"headers": {"Authorization": f"Bearer {self._token()}", "Accept": "application/json"}}
        if params:
            kwargs["params"] = params
        if json_body is not None:
            kwargs["json"] = json_body
        return self.http.request(method, f"{self.base_url}{path}", operation=operation, classify=classify, **kwargs)

    def _json(self, response: requests.Response, expect: type | tuple[type, ...]) -> Any:
        data = HttpClient.json(response)
        if not isinstance(data, expect) or isinstance(data, bool):
            raise PermanentError(f"Magento answered {_safe(response.url)} with a {type(data).__name__} where "
                                 f"{expect} was expected", raw=response.content, status_code=response.status_code)
        return data

    def _search(self, path: str, params: dict[str, Any], operation: str) -> tuple[list[dict], int, requests.Response]:
        response = self._call("GET", path, params=params, operation=operation)
        body = self._json(response, dict)
        items, total = body.get("items"), body.get("total_count")
        if not isinstance(items, list) or not isinstance(total, int) or isinstance(total, bool):
            raise PermanentError(f"Magento answered {path} without items and total_count", raw=response.content)
        if not all(isinstance(item, dict) for item in items):
            raise PermanentError(f"Magento answered {path} with a malformed item", raw=response.content)
        return items, total, response

    # --- every connector ----------------------------------------------------------------------------------------

    def test_connection(self) -> dict[str, Any]:
        """Read the store view's configuration (its currency), then one order: the token must reach both."""
        config = self._store_config()
        self._search("/orders", search_params(page_size=1, page=1), "orders")
        return {
            "external_account_id": store_key(self.store_url, self.store_code), "store_url": self.store_url,
            "store_code": self.store_code, "currency": self._currency or "", "timezone": config.get("timezone") or "",
        }

    def _store_config(self) -> dict:
        response = self._call("GET", "/store/storeConfigs", operation="status")
        rows = [row for row in self._json(response, list) if isinstance(row, dict)]
        wanted = self.store_code if self.store_code not in ("all",) else "default"
        config = next((row for row in rows if row.get("code") == wanted), None)
        if config is None:
            raise PermanentError(f"The store has no store view with code {wanted!r}", raw=response.content)
        currency = str(config.get("base_currency_code") or "")
        if not currency:
            raise PermanentError("Magento did not say which currency the store view sells in", raw=response.content)
        self._currency = currency
        return config

    def store_currency(self) -> str:
        """The base currency of the store view: product prices carry none of their own."""
        if self._currency is None:
            self._store_config()
        return self._currency or ""

    # --- orders --------------------------------------------------------------------------------------------


    def fetch_orders(self, *, since: datetime, cursor: str | None = None) -> Page[OrderData]:
        """Orders updated at or after `since`, oldest change first, by keyset (see the module docstring)."""
        if cursor:
            boundary, last_id, page = _decode_cursor(cursor)
        else:
            boundary, last_id, page = since.astimezone(UTC).replace(microsecond=0), 0, 1
        size = self.configured_page_size(MAX_PAGE_SIZE)
        for _attempt in range(MAX_SAME_SECOND_PAGES):
            params = search_params(filters=[[("updated_at", _stamp_param(boundary), "gteq")]],
                                   sorts=[("updated_at", "ASC"), ("entity_id", "ASC")], page_size=size, page=page)
            rows, total, _response = self._search("/orders", params, "orders")
            keyed = [(self._order_key(row), row) for row in rows]
            fresh = [(key, row) for key, row in keyed if not last_id or key > (boundary, last_id)]
            # Past the last page Magento answers the last page again: the total says when to stop.
            done = page * size >= total
            if fresh:
                orders = [self._order(row) for _key, row in fresh]
                (last_updated, last_order_id), _row = fresh[-1]
                return Page(items=orders, next_cursor=None if done else _encode_cursor(last_updated, last_order_id, 1))
            if done:
                return Page(items=[], next_cursor=None)
            page += 1  # a whole page at or before the cursor: more than a page changed in that second
        return Page(items=[], next_cursor=_encode_cursor(boundary, last_id, page))

    @staticmethod
    def _order_key(row: dict) -> tuple[datetime, int]:
        entity_id = row.get("entity_id")
        if not isinstance(entity_id, int) or isinstance(entity_id, bool):
            raise PermanentError("Magento sent an order without an entity_id", raw=payload_text(row))
        return _stamp(row.get("updated_at"), "order updated date", row), entity_id

    @staticmethod
    def _parent_items(raw: dict) -> list[dict]:
        items = raw.get("items")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise PermanentError("Magento sent an order without items", raw=payload_text(raw))
        # A configurable (or bundle) product's child rows repeat the parent's line at price 0.
        return [item for item in items if not item.get("parent_item_id")]

    def _status(self, raw: dict, state: str) -> OrderStatus:
        custom = self.context.config.get("status_map") or {}
        status = str(raw.get("status") or "")
        if isinstance(custom, dict) and status in custom:
            try:
                return OrderStatus(custom[status])
            except ValueError:
                logger.warning("status_map of connection %s maps %r to an unknown status", self.context.connection_id,
                               status)
        if state == "processing":
            # Shipped but not yet invoiced stays "processing": every line shipped means it is on its way.
            lines = self._parent_items(raw)
            if lines and all(_quantity(i.get("qty_shipped") or 0, "shipped quantity", raw) >=
                             _quantity(i.get("qty_ordered") or 0, "quantity", raw)
                             - _quantity(i.get("qty_canceled") or 0, "cancelled quantity", raw) for i in lines):
                return OrderStatus.SHIPPED
        return STATE_MAP.get(state, OrderStatus.UNSHIPPED)

    def _order(self, raw: dict) -> OrderData:
        state = raw.get("state")
        if not isinstance(state, str) or not state:
            raise PermanentError("Magento sent an order without a state", raw=payload_text(raw))
        lines = []
        for item in self._parent_items(raw):
            if not isinstance(item.get("item_id"), int):
                raise PermanentError("Magento sent an order item without an item_id", raw=payload_text(raw))
            lines.append(OrderLineData(
                external_id=str(item["item_id"]), sku=str(item.get("sku") or ""), title=str(item.get("name") or ""),
                quantity=_quantity(item.get("qty_ordered"), "ordered quantity", raw),
                unit_price=_money(item.get("price"), "item price", raw), raw=item,
            ))
        billing = raw.get("billing_address") if isinstance(raw.get("billing_address"), dict) else {}
        address = billing
        assignments = (raw.get("extension_attributes") or {}).get("shipping_assignments") if isinstance(
            raw.get("extension_attributes"), dict) else None
        if isinstance(assignments, list) and assignments and isinstance(assignments[0], dict):
            shipping = assignments[0].get("shipping") if isinstance(assignments[0].get("shipping"), dict) else {}
            if isinstance(shipping.get("address"), dict):
                address = shipping["address"]
        buyer = " ".join(p for p in (raw.get("customer_firstname"), raw.get("customer_lastname")) if p) or \
            " ".join(p for p in (billing.get("firstname"), billing.get("lastname")) if p)
        street = address.get("street") if isinstance(address.get("street"), list) else []
        return OrderData(
            external_id=str(raw["entity_id"]), status=self._status(raw, state),
            raw_status=str(raw.get("status") or state),
            placed_at=_stamp(raw.get("created_at"), "order date", raw),
            updated_at=_stamp(raw.get("updated_at"), "order updated date", raw),
            currency=str(raw.get("order_currency_code") or ""),
            total=_money(raw.get("grand_total"), "order grand total", raw), lines=lines,
            fulfilment_channel=FulfilmentChannel.MERCHANT, buyer_name=buyer,
            shipping_address={
                "name": " ".join(p for p in (address.get("firstname"), address.get("lastname")) if p),
                "company": address.get("company") or "", "line1": str(street[0]) if street else "",
                "line2": ", ".join(str(s) for s in street[1:]), "city": address.get("city") or "",
                "state": address.get("region") or "", "postcode": address.get("postcode") or "",
                "country": address.get("country_id") or "", "phone": address.get("telephone") or "",
            },
            number=str(raw.get("increment_id") or ""), raw=raw,
        )

    # --- products ------------------------------------------------------------------------------------------

    def fetch_products(self, *, cursor: str | None = None) -> Page[ProductData]:
        """Products by id (stable while prices and stock change). Configurable, bundle and grouped products are
        skipped: their simple children are listed too and hold the SKU, stock and price."""
        page = int(cursor) if cursor else 1
        size = self.configured_page_size(MAX_PAGE_SIZE)
        rows, total, _response = self._search("/products", search_params(
            sorts=[("entity_id", "ASC")], page_size=size, page=page), "products")
        currency = self.store_currency()
        items = [self._product(row, currency) for row in rows if row.get("type_id") not in SKIPPED_PRODUCT_TYPES]
        return Page(items=items, next_cursor=str(page + 1) if page * size < total else None)

    @staticmethod
    def _product(raw: dict, currency: str) -> ProductData:
        if not isinstance(raw.get("id"), int) or not raw.get("sku"):
            raise PermanentError("Magento sent a product without an id or SKU", raw=payload_text(raw))
        extension = raw.get("extension_attributes") if isinstance(raw.get("extension_attributes"), dict) else {}
        stock = extension.get("stock_item") if isinstance(extension.get("stock_item"), dict) else {}
        quantity = None
        if stock and stock.get("manage_stock", True) and stock.get("qty") is not None:
            quantity = _quantity(stock["qty"], "stock quantity", raw)
        attributes = {a.get("attribute_code"): a.get("value") for a in raw.get("custom_attributes") or []
                      if isinstance(a, dict)}
        price = raw.get("price")
        refs = {"product_id": str(raw["id"])}
        if stock.get("item_id") is not None:
            refs["stock_item_id"] = str(stock["item_id"])
        return ProductData(
            external_id=str(raw["id"]), sku=str(raw["sku"]), title=str(raw.get("name") or raw["sku"]),
            price=_money(price, "product price", raw) if price is not None else None, currency=currency,
            quantity=quantity, barcode=str(attributes.get("barcode") or ""), external_refs=refs, raw=raw,
        )

    # --- stock -----------------------------------------------------------------------------------------------

    def inventory_target(self) -> tuple[str, str]:
        """("msi", source code) or ("legacy", ""): from the connection's choice, or asked of the store once."""
        if self._inventory is not None:
            return self._inventory
        mode = str(self.context.config.get("inventory_mode") or "auto")
        if mode not in {m for m, _label in INVENTORY_MODES}:
            raise PermanentError(f"Unknown inventory mode {mode!r}: choose auto, legacy or msi")
        sources = None
        if mode in ("auto", "msi"):
            try:
                sources, _total, _response = self._search("/inventory/sources", search_params(), "stock")
            except PermanentError as exc:
                if exc.status_code != 404 or mode == "msi":
                    raise
        if sources is None:
            self._inventory = ("legacy", "")
            return self._inventory
        wanted = str(self.context.config.get("source_code") or "default")
        source = next((s for s in sources if s.get("source_code") == wanted), None)
        if source is None:
            codes = ", ".join(str(s.get("source_code")) for s in sources)
            raise PermanentError(f"The store has no inventory source {wanted!r} (it has: {codes})")
        if source.get("enabled") is False:
            raise PermanentError(f"The inventory source {wanted!r} is disabled in Magento")
        self._inventory = ("msi", wanted)
        return self._inventory

    def push_stock(self, updates: Sequence[StockUpdate]) -> list[PushResult]:
        bad = [u for u in updates if isinstance(u.quantity, bool) or not isinstance(u.quantity, int) or u.quantity < 0]
        valid = [u for u in updates if u not in bad]
        results = {id(u): PushResult(sku=u.sku, ok=False, error="Stock must be a whole number of at least 0")
                   for u in bad}
        if valid:
            mode, source = self.inventory_target()
            pushed = self._push_sources(valid, source) if mode == "msi" else [self._push_stock_item(u) for u in valid]
            results.update({id(u): r for u, r in zip(valid, pushed, strict=True)})
        return [results[id(u)] for u in updates]

    def _push_sources(self, updates: Sequence[StockUpdate], source: str) -> list[PushResult]:
        """One call per hundred SKUs. Magento saves a batch whole or not at all, so a refused batch is retried
        one SKU at a time to tell which ones it refuses."""
        results: list[PushResult] = []
        for chunk in chunked(updates, BATCH_SIZE):
            items = [{"sku": u.sku, "source_code": source, "quantity": u.quantity, "status": 1 if u.quantity > 0 else 0}
                     for u in chunk]
            try:
                self._call("POST", "/inventory/source-items", json_body={"sourceItems": items}, operation="write")
                results.extend(PushResult(sku=u.sku, ok=True, raw=item) for u, item in zip(chunk, items, strict=True))
                continue
            except PermanentError as exc:
                if len(chunk) == 1:
                    results.append(PushResult(sku=chunk[0].sku, ok=False, error=exc.message, raw={"body": exc.raw or ""}))
                    continue
            for update, item in zip(chunk, items, strict=True):
                try:
                    self._call("POST", "/inventory/source-items", json_body={"sourceItems": [item]}, operation="write")
                    results.append(PushResult(sku=update.sku, ok=True, raw=item))
                except PermanentError as exc:
                    results.append(PushResult(sku=update.sku, ok=False, error=exc.message, raw={"body": exc.raw or ""}))
        return results

    def _push_stock_item(self, update: StockUpdate) -> PushResult:
        """Read the stock item, then write it back whole with the new quantity (the schema wants every field)."""
        sku = quote(update.sku, safe="")
        try:
            item = self._json(self._call("GET", f"/stockItems/{sku}", operation="stock"), dict)
        except PermanentError as exc:
            if exc.status_code == 404:
                return PushResult(sku=update.sku, ok=False, error="The store has no product with this SKU")
            raise
        item_id = item.get("item_id")
        if item_id is None:
            return PushResult(sku=update.sku, ok=False, error="Magento sent a stock item without an id", raw=item)
        body = {k: v for k, v in item.items() if k != "extension_attributes"}
        body.update({"qty": update.quantity, "is_in_stock": update.quantity > 0})
        try:
            self._call("PUT", f"/products/{sku}/stockItems/{item_id}", json_body={"stockItem": body}, operation="write")
        except PermanentError as exc:
            return PushResult(sku=update.sku, ok=False, error=exc.message, raw={"body": exc.raw or ""})
        return PushResult(sku=update.sku, ok=True, raw={"item_id": item_id, "qty": update.quantity})

    # --- prices ----------------------------------------------------------------------------------------------

    def push_prices(self, updates: Sequence[PriceUpdate]) -> list[PushResult]:
        """Base prices in the store's currency, at the scope `price_store_id` names (0: global, the default
        price scope). Magento has no MRP: the selling price is the price. Bad rows are reported per SKU."""
        currency = self.store_currency()
        try:
            store_id = int(self.context.config.get("price_store_id") or 0)
        except (TypeError, ValueError):
            store_id = 0
        results: dict[int, PushResult] = {}
        valid: list[PriceUpdate] = []
        for update in updates:
            if update.currency and update.currency.upper() != currency.upper():
                results[id(update)] = PushResult(sku=update.sku, ok=False,
                                                 error=f"The store sells in {currency}, not {update.currency}")
            elif not isinstance(update.price, Decimal) or not update.price.is_finite() or update.price < 0:
                results[id(update)] = PushResult(sku=update.sku, ok=False, error="A price must be a number of at least 0")
            else:
                valid.append(update)
        for chunk in chunked(valid, BATCH_SIZE):
            prices = [{"sku": u.sku, "price": _number(u.price), "store_id": store_id} for u in chunk]
            response = self._call("POST", "/products/base-prices", json_body={"prices": prices}, operation="write")
            failures = self._json(response, list)
            refused: dict[str, str] = {}
            for failure in failures:
                parameters = failure.get("parameters") if isinstance(failure, dict) else None
                values = [str(p) for p in parameters] if isinstance(parameters, list) else \
                    [str(p) for p in parameters.values()] if isinstance(parameters, dict) else []
                for update in chunk:
                    if update.sku in values:
                        refused.setdefault(update.sku, render_message(failure))
            for update, price in zip(chunk, prices, strict=True):
                error = refused.get(update.sku)
                results[id(update)] = PushResult(sku=update.sku, ok=error is None, error=error or "", raw=price)
        return [results[id(u)] for u in updates]

    # --- fulfilment --------------------------------------------------------------------------------------------

    def push_fulfilment(self, fulfilment: FulfilmentData) -> FulfilmentResult:
        """Create a shipment with its track (Magento e-mails the buyer). Safe to repeat: a shipment already
        carrying this tracking number is returned instead of a second one."""
        order_id = str(fulfilment.order_external_id)
        if not order_id.isdigit():
            return FulfilmentResult(ok=False, error=f"Not a Magento order id: {order_id!r}")
        if not fulfilment.tracking_number.strip() or not fulfilment.carrier.strip():
            return FulfilmentResult(ok=False, error="A carrier and a tracking number are needed to ship the order")
        order = self._json(self._call("GET", f"/orders/{order_id}", operation="fulfilment"), dict)
        existing = self._shipment_with_track(order_id, fulfilment.tracking_number.strip())
        if existing is not None:
            return FulfilmentResult(ok=True, external_id=str(existing.get("entity_id")), raw=existing)
        state = str(order.get("state") or "")
        if state in NOT_SHIPPABLE or state == "complete":
            return FulfilmentResult(ok=False, raw={"state": state},
                                    error=f"The order is {order.get('status') or state} in Magento: it cannot be shipped")
        items = self._shipment_items(fulfilment, order)
        if isinstance(items, str):
            return FulfilmentResult(ok=False, error=items)
        carrier = fulfilment.carrier.strip()
        body = {
            "items": items, "notify": bool(self.context.config.get("notify_customer", True)),
            "tracks": [{"track_number": fulfilment.tracking_number.strip(), "title": carrier,
                        "carrier_code": CARRIER_CODES.get(carrier.lower(), "custom")}],
        }
        try:
            response = self._call("POST", f"/order/{order_id}/ship", json_body=body, operation="fulfilment")
        except PermanentError as exc:
            return FulfilmentResult(ok=False, error=exc.message, raw={"body": exc.raw or ""})
        shipment_id = self._json(response, (int, str))
        return FulfilmentResult(ok=True, external_id=str(shipment_id), raw={"shipment_id": shipment_id, "request": body})

    def _shipment_with_track(self, order_id: str, number: str) -> dict | None:
        rows, _total, _response = self._search("/shipments", search_params(
            filters=[[("order_id", order_id, "eq")]], page_size=MAX_PAGE_SIZE, page=1), "fulfilment")
        for shipment in rows:
            for track in shipment.get("tracks") or []:
                if isinstance(track, dict) and str(track.get("track_number") or "").strip() == number:
                    return shipment
        return None

    def _shipment_items(self, fulfilment: FulfilmentData, order: dict) -> list[dict] | str:
        """The items to ship: the fulfilment's lines, or everything not shipped yet. An error text when a line
        is not in the order or more is asked than remains."""
        remaining = {}
        for item in self._parent_items(order):
            if item.get("is_virtual"):
                continue
            left = _quantity(item.get("qty_ordered") or 0, "quantity", order) - \
                _quantity(item.get("qty_shipped") or 0, "shipped quantity", order) - \
                _quantity(item.get("qty_canceled") or 0, "cancelled quantity", order) - \
                _quantity(item.get("qty_refunded") or 0, "refunded quantity", order)
            remaining[str(item.get("item_id"))] = left
        if not fulfilment.lines:
            items = [{"order_item_id": int(k), "qty": v} for k, v in remaining.items() if v > 0]
            return items or "Every item of this order is already shipped in Magento"
        wanted: dict[str, int] = {}
        for line in fulfilment.lines:
            wanted[str(line.external_line_id)] = wanted.get(str(line.external_line_id), 0) + line.quantity
        unknown = sorted(set(wanted) - set(remaining))
        if unknown:
            return f"These lines are not in the Magento order: {', '.join(unknown)}"
        over = sorted(k for k, q in wanted.items() if q > remaining[k])
        if over:
            return f"More than remains to ship of lines {', '.join(over)}"
        return [{"order_item_id": int(k), "qty": q} for k, q in wanted.items() if q > 0]
