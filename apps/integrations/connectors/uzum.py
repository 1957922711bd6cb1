"""Uzum Market seller OpenAPI: FBS/DBS orders, products with their SKUs, stocks and prices per SKU.

Auth is the seller's OpenAPI token, sent raw (no "Bearer") in the `Authorization` header; one token
opens the seller's shops (`GET /v1/shops`). A Haat connection is one shop (`shop_id`). Paths, parameters
and field names follow Uzum's Swagger (api-seller.uzum.uz/api/seller-openapi/swagger/...), read through
a transcription of it (38 operations) and cross-checked against independent client libraries; see
docs/platforms/uzum.md for what could and could not be verified.

- `GET  /v2/fbs/orders?shopIds=&dateFrom=&dateTo=&page=&size=` (size <= 50) -> {payload {orders,
  totalAmount}}. Uzum filters by date, not by last change, and has no "updated since": Haat reads the
  orders created in a look-back window before `since` and keeps those whose latest status date is newer.
- `GET  /v1/product/shop/{shopId}?page=&size=&sortBy=ID&order=ASC&filter=ALL` -> {productList [{skuList}]}.
- `POST /v2/fbs/sku/stocks` {skuAmountList [{skuId, skuTitle, productTitle, barcode, amount, fbsLinked,
  dbsLinked}]}.
- `POST /v1/product/{shopId}/sendPriceData` {productId, skuList [{skuId, fullPrice, sellPrice, skuTitle}]}.

Money is whole Uzbek sums (UZS, int64): no fractions, no minor units.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import requests

from apps.integrations.connectors.base import (
    AuthKind,
    Capability,
    Connector,
    CredentialField,
    OrderData,
    OrderLineData,
    OrderStatus,
    Page,
    PriceUpdate,
    ProductData,
    PushResult,
    StockUpdate,
    chunked,
    screen_push,
    stock_problem,
)
from apps.integrations.connectors.errors import AuthError, ConnectorError, PermanentError
from apps.integrations.http import RateLimit, default_classify

logger = logging.getLogger(__name__)

TASHKENT = timezone(timedelta(hours=5))
ORDERS_PAGE_MAX = 50  # "size: ... (максимум 50)"
PRODUCTS_PAGE_MAX = 100
STOCKS_PER_CALL = 100
MAX_PRICE = 999_999_000
DEFAULT_LOOKBACK_DAYS = 30
OPERATION = "seller_api"  # one bucket for every call: Uzum throttles per token, whatever the endpoint

STATUS = {
    "CREATED": OrderStatus.UNSHIPPED, "PACKING": OrderStatus.UNSHIPPED,
    "PENDING_DELIVERY": OrderStatus.SHIPPED, "DELIVERING": OrderStatus.SHIPPED,
    "ACCEPTED_AT_DP": OrderStatus.SHIPPED, "DELIVERED_TO_CUSTOMER_DELIVERY_POINT": OrderStatus.SHIPPED,
    "DELIVERED": OrderStatus.DELIVERED, "COMPLETED": OrderStatus.DELIVERED,
    "CANCELED": OrderStatus.CANCELLED, "PENDING_CANCELLATION": OrderStatus.CANCELLED,
    "RETURNED": OrderStatus.RETURNED,
}
# Every status date an order carries: the latest is when it last changed.
STATUS_DATES = ("dateCreated", "acceptedDate", "deliveringDate", "deliveredToDeliveryPointDate", "deliveryDate",
                "completedDate", "dateCancelled", "returnDate")


def _parse_datetime(value: Any, what: str) -> datetime:
    if not isinstance(value, str) or not value:
        raise PermanentError(f"Uzum sent no {what}", raw=json.dumps(value))
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise PermanentError(f"Uzum sent an unreadable {what}: {value[:40]}", raw=value) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=TASHKENT)).astimezone(UTC)


def _sums(value: Any, what: str) -> Decimal:
    """Uzum amounts are int64 whole sums; anything else is a malformed answer."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise PermanentError(f"Uzum sent an unreadable {what}", raw=json.dumps(value))
    return Decimal(value)


def _epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _error_words(payload: Any) -> str:
    """Uzum's {"errors": [{code, message}]} as one line."""
    if not isinstance(payload, dict):
        return ""
    errors = payload.get("errors")
    if isinstance(errors, list) and errors:
        return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, dict))
    return str(payload.get("error") or "") if payload.get("error") not in (None, "null") else ""


def _sku_code(entry: dict) -> str:
    """The seller's own SKU code; Uzum omits it when the seller set none, then its SKU title stands in."""
    return str(entry.get("sellerItemCode") or entry.get("sellerSkuCode") or entry.get("skuTitle") or "")


class UzumConnector(Connector):
    slug = "uzum"
    name = "Uzum Market"
    auth_kind = AuthKind.API_KEY
    capabilities = frozenset({Capability.ORDERS, Capability.PRODUCTS, Capability.STOCK_PUSH, Capability.PRICE_PUSH})
    credential_fields = (
        CredentialField("api_token", "OpenAPI token", secret=True,
                        help_text="Uzum seller cabinet → Settings → API keys: create a token with orders, products, "
                                  "stocks and prices access."),
        CredentialField("shop_id", "Shop id", stored_in="config",
                        help_text="The shop's numeric id (the cabinet shows it next to the shop's name)."),
    )
    # Uzum publishes no quotas; sellers report 429s beyond about one call a second per token, so every
    # call of a connection draws from one bucket. 429s are retried after Retry-After or with backoff.
    rate_limits = {OPERATION: RateLimit(rate=1.0, burst=2)}
    default_poll_interval = timedelta(minutes=15)
    orders_sorted_by_update = False
    default_currency = "UZS"
    docs_url = "https://api-seller.uzum.uz/api/seller-openapi/swagger/swagger-ui/"

    @classmethod
    def default_base_url(cls, context) -> str:
        return "https://api-seller.uzum.uz/api/seller-openapi"

    # --- one platform call ------------------------------------------------------------------------------------

    def _token(self) -> str:
        token = str(self.context.credentials.get("api_token") or "").strip()
        if token.lower().startswith("bearer "):
            token = token[7:].strip()  # Uzum wants the raw token; a pasted "Bearer ..." is forgiven
        if not token:
            raise AuthError("The Uzum OpenAPI token is missing: reconnect this channel.")
        return token

    def _classify(self, response: requests.Response) -> ConnectorError | None:
        error = default_classify(response)
        if error is None:
            return None
        token = str(self.context.credentials.get("api_token") or "")
        text = (response.content or b"").decode("utf-8", errors="replace")
        if token:
            text = text.replace(token, "***")
        try:
            words = _error_words(json.loads(text))
        except ValueError:
            words = ""
        message = f"Uzum answered {response.status_code} to {response.request.method} {urlsplit(response.url).path}"
        error.message = f"{message}: {words[:300]}" if words else message
        error.args = (error.message,)
        error.raw = text
        return error

    def _call(self, method: str, path: str, *, params: Any = None, body: Any = None) -> Any:
        headers = {"Authorization": self._token(), "Accept": "application/json"}
        kwargs: dict[str, Any] = {"headers": headers, "params": params}
        if body is not None:
            kwargs["json"] = body
        response = self.http.request(method, f"{self.base_url}{path}", operation=OPERATION, classify=self._classify,
                                     **kwargs)
        try:
            return json.loads(response.content)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PermanentError(f"Malformed JSON from Uzum {path}: {exc}", raw=response.content,
                                 status_code=response.status_code) from exc

    def _shop_id(self) -> int:
        try:
            return int(str(self.context.config.get("shop_id") or "").strip())
        except ValueError:
            raise PermanentError("The connection has no numeric Uzum shop id") from None

    # --- test -------------------------------------------------------------------------------------------------

    def test_connection(self) -> dict[str, Any]:
        """List the token's shops and find the configured one."""
        data = self._call("GET", "/v1/shops")
        shops = data if isinstance(data, list) else (data.get("payload") if isinstance(data, dict) else None)
        if not isinstance(shops, list):
            raise PermanentError("Uzum's shop list is not a list", raw=json.dumps(data)[:2000])
        wanted = self._shop_id()
        shop = next((s for s in shops if isinstance(s, dict) and s.get("id") == wanted), None)
        if shop is None:
            known = ", ".join(f"{s.get('id')} ({s.get('name')})" for s in shops[:20] if isinstance(s, dict)) or "none"
            raise PermanentError(f"This token does not open Uzum shop {wanted}; its shops: {known}")
        return {"external_account_id": str(wanted), "display_name": str(shop.get("name") or wanted),
                "shops": len(shops)}

    # --- orders -----------------------------------------------------------------------------------------------


    def fetch_orders(self, *, since: datetime, cursor: str | None = None) -> Page[OrderData]:
        """One page of the shop's orders created in the look-back window, kept if they changed after `since`."""
        if cursor:
            try:
                state = json.loads(cursor)
                window = {k: int(state[k]) for k in ("since", "from", "to", "page")}
            except (ValueError, KeyError, TypeError):
                raise PermanentError("Unreadable Uzum order cursor", raw=cursor[:500]) from None
        else:
            try:
                lookback = int(self.context.config.get("order_lookback_days") or DEFAULT_LOOKBACK_DAYS)
            except (TypeError, ValueError):
                lookback = DEFAULT_LOOKBACK_DAYS
            window = {"since": _epoch_ms(since), "from": _epoch_ms(since - timedelta(days=max(1, lookback))),
                      "to": _epoch_ms(datetime.now(UTC)), "page": 0}
        size = self.configured_page_size(ORDERS_PAGE_MAX)
        params = {"shopIds": [self._shop_id()], "dateFrom": window["from"], "dateTo": window["to"],
                  "page": window["page"], "size": size}
        data = self._call("GET", "/v2/fbs/orders", params=params)
        payload = data.get("payload") if isinstance(data, dict) else None
        if not isinstance(payload, dict) or not isinstance(payload.get("orders"), list):
            raise PermanentError("Uzum's order list has no payload.orders", raw=json.dumps(data)[:5000])
        raw_orders = payload["orders"]
        floor = datetime.fromtimestamp(window["since"] / 1000, UTC)
        orders = [o for o in (self._order(raw) for raw in raw_orders) if o.updated_at >= floor]
        total = payload.get("totalAmount")
        more = len(raw_orders) == size and (not isinstance(total, int) or (window["page"] + 1) * size < total)
        next_cursor = json.dumps({**window, "page": window["page"] + 1}) if more else None
        return Page(items=orders, next_cursor=next_cursor)

    def _order(self, raw: Any) -> OrderData:
        if not isinstance(raw, dict):
            raise PermanentError("Uzum sent an order that is not an object", raw=json.dumps(raw)[:2000])
        order_id = raw.get("id")
        try:
            if not isinstance(order_id, int):
                raise KeyError("id")
            status = str(raw["status"])
            placed = _parse_datetime(raw.get("dateCreated"), f"dateCreated of order {order_id}")
            stamps = [_parse_datetime(raw[k], k) for k in STATUS_DATES if raw.get(k)]
            lines = []
            for item in raw.get("orderItems") or []:
                quantity = item["amount"]
                if not isinstance(quantity, int) or isinstance(quantity, bool):
                    raise TypeError("amount")
                lines.append(OrderLineData(
                    external_id=str(item["id"]), sku=_sku_code(item),
                    title=str(item.get("productTitle") or item.get("skuTitle") or ""), quantity=quantity,
                    unit_price=_sums(item.get("sellerPrice"), "sellerPrice"), raw=item))
            total = _sums(raw.get("price"), "order price")
        except (KeyError, TypeError) as exc:
            raise PermanentError(f"Uzum order {order_id} is missing or mangles {exc}", raw=json.dumps(raw)[:5000]) from exc
        if status not in STATUS:
            raise PermanentError(f"Uzum order {order_id} has an unknown status {status[:40]}", raw=json.dumps(raw)[:5000])
        delivery = raw.get("deliveryInfo") or {}
        address = {k: v for k, v in (("line1", delivery.get("deliveryAddress")),
                                     ("drop_off_point", (raw.get("dropOffPoint") or {}).get("address"))) if v}
        return OrderData(
            external_id=str(order_id), status=STATUS[status], raw_status=status, placed_at=placed,
            updated_at=max([placed, *stamps]), currency="UZS", total=total, lines=lines,
            buyer_name=str(delivery.get("customerFullname") or ""), shipping_address=address, raw=raw,
        )

    # --- products ---------------------------------------------------------------------------------------------

    def fetch_products(self, *, cursor: str | None = None) -> Page[ProductData]:
        """One page of the shop's products, each SKU one ProductData; archived SKUs are left out."""
        try:
            page = int(cursor or 0)
        except ValueError:
            raise PermanentError("Unreadable Uzum product cursor", raw=str(cursor)[:200]) from None
        size = self.configured_page_size(PRODUCTS_PAGE_MAX)
        data = self._call("GET", f"/v1/product/shop/{self._shop_id()}",
                          params={"page": page, "size": size, "sortBy": "ID", "order": "ASC", "filter": "ALL"})
        products = data.get("productList") if isinstance(data, dict) else None
        if not isinstance(products, list):
            raise PermanentError("Uzum's product list has no productList", raw=json.dumps(data)[:5000])
        items = []
        for product in products:
            if not isinstance(product, dict) or not isinstance(product.get("skuList"), list):
                raise PermanentError("Uzum sent a product without its skuList", raw=json.dumps(product)[:2000])
            for sku in product["skuList"]:
                if isinstance(sku, dict) and not sku.get("archived"):
                    items.append(self._product(product, sku))
        total = data.get("totalProductsAmount")
        more = len(products) == size and (not isinstance(total, int) or (page + 1) * size < total)
        return Page(items=items, next_cursor=str(page + 1) if more else None)

    def _product(self, product: dict, sku: dict) -> ProductData:
        try:
            sku_id = sku["skuId"]
            price = _sums(sku["price"], "SKU price") if sku.get("price") is not None else None
            quantity = sku.get("quantityFbs")
            if quantity is not None and (not isinstance(quantity, int) or isinstance(quantity, bool)):
                raise TypeError("quantityFbs")
        except (KeyError, TypeError, PermanentError) as exc:
            raise PermanentError(f"Uzum SKU {sku.get('skuId')} is unreadable: {exc}", raw=json.dumps(sku)[:2000]) from exc
        refs = {"sku_id": str(sku_id), "product_id": str(product.get("productId") or ""),
                "barcode": str(sku.get("barcode") or ""), "sku_title": str(sku.get("skuTitle") or ""),
                "product_title": str(sku.get("productTitle") or product.get("title") or "")}
        return ProductData(
            external_id=str(sku_id), sku=_sku_code(sku) or str(sku_id),
            title=str(sku.get("skuFullTitle") or sku.get("productTitle") or product.get("title") or sku_id),
            price=price, currency="UZS", quantity=quantity, barcode=refs["barcode"], external_refs=refs,
            raw={"product": {k: v for k, v in product.items() if k != "skuList"}, "sku": sku},
        )

    def _refs(self, updates: Sequence[StockUpdate | PriceUpdate], needed: tuple[str, ...]) -> dict[str, dict]:
        """Each SKU's Uzum ids: from external_refs when complete, else from one read of the shop's products."""
        refs = {u.sku: u.external_refs for u in updates if all(u.external_refs.get(k) for k in needed)}
        if len(refs) < len({u.sku for u in updates}):
            cursor, pages = None, 0
            while True:
                page = self.fetch_products(cursor=cursor)
                for product in page.items:
                    refs.setdefault(product.sku, product.external_refs)
                cursor, pages = page.next_cursor, pages + 1
                if not cursor or pages >= 200:
                    break
        return refs

    # --- stock and prices -------------------------------------------------------------------------------------

    def push_stock(self, updates: Sequence[StockUpdate]) -> list[PushResult]:
        results, valid = screen_push(updates, stock_problem)
        refs = self._refs([u for _i, u in valid], ("sku_id",)) if valid else {}
        ready = []
        for index, update in valid:
            ref = refs.get(update.sku)
            if not ref or not str(ref.get("sku_id") or "").isdigit():
                results[index] = PushResult(sku=update.sku, ok=False, error="Uzum has no SKU with this code in the shop")
            else:
                ready.append((index, update, ref))
        for chunk in chunked(ready, STOCKS_PER_CALL):
            body = {"skuAmountList": [{
                "skuId": int(ref["sku_id"]), "skuTitle": ref.get("sku_title", ""), "productTitle": ref.get("product_title", ""),
                "barcode": str(ref.get("barcode") or ""), "amount": update.quantity, "fbsLinked": True, "dbsLinked": False,
            } for _i, update, ref in chunk]}
            outcome = self._send("POST", "/v2/fbs/sku/stocks", body)
            for index, update, _ref in chunk:
                results[index] = PushResult(sku=update.sku, ok=outcome[0], error=outcome[1], raw=outcome[2])
        return [r for r in results if r is not None]

    def _send(self, method: str, path: str, body: dict) -> tuple[bool, str, dict]:
        """A write Uzum accepts or refuses whole: a 400 or 404 fails its SKUs with Uzum's words."""
        try:
            data = self._call(method, path, body=body)
        except PermanentError as exc:
            if exc.status_code not in (400, 404, 422):
                raise
            return False, exc.message, {"body": exc.raw or ""}
        errors = data.get("errors") if isinstance(data, dict) else None
        if errors:
            return False, _error_words(data) or "Uzum refused the update", data
        return True, "", data if isinstance(data, dict) else {}

    def push_prices(self, updates: Sequence[PriceUpdate]) -> list[PushResult]:
        results, valid = screen_push(updates, self._price_problem)
        refs = self._refs([u for _i, u in valid], ("sku_id", "product_id")) if valid else {}
        by_product: dict[str, list[tuple[int, PriceUpdate, dict]]] = {}
        for index, update in valid:
            ref = refs.get(update.sku)
            if not ref or not str(ref.get("sku_id") or "").isdigit() or not str(ref.get("product_id") or "").isdigit():
                results[index] = PushResult(sku=update.sku, ok=False, error="Uzum has no SKU with this code in the shop")
                continue
            by_product.setdefault(ref["product_id"], []).append((index, update, ref))
        for product_id, entries in by_product.items():
            body = {"productId": int(product_id), "skuList": [{
                "skuId": int(ref["sku_id"]), "fullPrice": int(update.mrp if update.mrp is not None else update.price),
                "sellPrice": int(update.price), "skuTitle": ref.get("sku_title", ""),
            } for _i, update, ref in entries]}
            ok, error, raw = self._send("POST", f"/v1/product/{self._shop_id()}/sendPriceData", body)
            for index, update, _ref in entries:
                results[index] = PushResult(sku=update.sku, ok=ok, error=error, raw=raw)
        return [r for r in results if r is not None]

    @staticmethod
    def _price_problem(update: PriceUpdate) -> str:
        if (update.currency or "").upper() != "UZS":
            return f"Uzum Market sells in UZS only, not {update.currency}"
        for label, value in (("price", update.price), ("full price (MRP)", update.mrp)):
            if value is None:
                continue
            if not isinstance(value, Decimal) or not 1 <= value <= MAX_PRICE:
                return f"The {label} must be from 1 to {MAX_PRICE:,} sums"
            if value != value.to_integral_value():
                return f"Uzum prices are whole sums: {value} is not"
        if update.mrp is not None and update.mrp < update.price:
            return "The full price cannot be below the selling price"
        return ""
