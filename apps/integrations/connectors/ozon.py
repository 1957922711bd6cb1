"""Ozon Seller API: FBS postings, products, stocks, prices, packing with a tracking number.

Auth is two headers on every call, `Client-Id` and `Api-Key` (Seller cabinet -> Settings -> Seller API);
every method is a JSON POST on api-seller.ozon.ru. Errors are `{"code", "message", "details"}`; a
wrong key is a 403 (code 7), a missing one a 401 (16): both mean the connection needs new keys.

What an Order is. Ozon splits an order into postings (отправления), each shipped on its own with its own
status; the seller works postings, so Haat's Order is the FBS posting (`posting_number`), with the Ozon
order number as its display number. Postings come from `/v4/posting/fbs/list`, cursor-paged, filtered
by when their status last changed: that is the incremental window. Ozon gives a posting no "updated"
stamp, so `updated_at` is the latest date it carries (in process, handed to delivery).

Push notifications (Seller cabinet -> Settings -> API keys -> Push notifications): Ozon POSTs JSON with a
`message_type` to the URL the seller pastes there. Ozon signs nothing; its documentation tells the seller to
accept only its published networks, and every body carries the `seller_id` (the Client-Id). Both are checked
in apps/integrations/webhooks.py (OZON_PUSH); here a posting notification becomes the posting as
`/v3/posting/fbs/get` returns it, never the body's own summary. Polling stays on: Ozon says pushes about new
postings can be late.

Not here: FBO postings (Ozon's own warehouses ship them; read-only and reported elsewhere) and returns
(a separate API).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import requests

from apps.integrations.connectors.base import (
    AuthKind,
    Capability,
    Connector,
    CredentialField,
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
    screen_push,
    stock_problem,
)
from apps.integrations.connectors.errors import AuthError, ConnectorError, PermanentError
from apps.integrations.connectors.parsing import payload_text
from apps.integrations.http import HttpClient, RateLimit, default_classify

logger = logging.getLogger(__name__)

MAX_POSTINGS_PER_PAGE = 100  # /v4/posting/fbs/list: limit 1..100
MAX_PERIOD = timedelta(days=364)  # since..to of a posting list may span at most one year
PRODUCTS_PER_PAGE = 1000
STOCKS_PER_CALL = 100
PRICES_PER_CALL = 1000
CENT = Decimal("0.01")
# Push notifications about one FBS/rFBS posting: each is answered by reading the posting itself.
POSTING_MESSAGES = frozenset({"TYPE_NEW_POSTING", "TYPE_POSTING_CANCELLED", "TYPE_STATE_CHANGED",
                              "TYPE_CUTOFF_DATE_CHANGED", "TYPE_DELIVERY_DATE_CHANGED"})

STATUS = {
    "awaiting_registration": OrderStatus.PENDING, "acceptance_in_progress": OrderStatus.PENDING,
    "awaiting_approve": OrderStatus.PENDING, "awaiting_verification": OrderStatus.PENDING,
    "awaiting_packaging": OrderStatus.UNSHIPPED,
    # Not accepted at the sorting centre: it is back with the seller, who must act again.
    "not_accepted": OrderStatus.UNSHIPPED,
    # Packed and labelled: the seller's part is done, Ozon's courier or the seller's carrier takes it on.
    "awaiting_deliver": OrderStatus.SHIPPED, "sent_by_seller": OrderStatus.SHIPPED,
    "driver_pickup": OrderStatus.SHIPPED, "delivering": OrderStatus.SHIPPED,
    "arbitration": OrderStatus.SHIPPED, "client_arbitration": OrderStatus.SHIPPED,
    "delivered": OrderStatus.DELIVERED,
    "cancelled": OrderStatus.CANCELLED, "cancelled_from_split_pending": OrderStatus.CANCELLED,
}


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _when(value: Any, what: str) -> datetime:
    if not isinstance(value, str) or not value:
        raise ValueError(f"no {what}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _money(value: Any) -> Decimal:
    """Ozon's amounts are decimal strings in rubles ("1450.0000"); numbers are read through str, never float math."""
    if isinstance(value, bool) or not isinstance(value, int | float | str) or value == "":
        raise InvalidOperation(value)
    amount = Decimal(str(value))
    return amount.quantize(CENT) if amount == amount.quantize(CENT) else amount


_dump = partial(payload_text, limit=5000)


class OzonConnector(Connector):
    slug = "ozon"
    name = "Ozon"
    auth_kind = AuthKind.API_KEY
    capabilities = frozenset({Capability.ORDERS, Capability.PRODUCTS, Capability.STOCK_PUSH, Capability.PRICE_PUSH,
                              Capability.FULFILMENT_PUSH, Capability.WEBHOOKS})
    credential_fields = (
        CredentialField("client_id", "Client ID",
                        help_text="Seller cabinet → Settings → Seller API: the Client ID shown above your keys."),
        CredentialField("api_key", "API key", secret=True,
                        help_text="A Seller API key with the Admin role, or roles covering postings, products, "
                                  "prices and stocks."),
        CredentialField("warehouse_id", "FBS warehouse id", required=False, stored_in="config",
                        help_text="Only when you have more than one FBS warehouse: stock pushed from Haat is set "
                                  "at this one (Logistics → Warehouses)."),
    )
    # Ozon limits each Client-Id per second across methods and stock updates to 80 calls a minute; the
    # buckets keep a connection under both, and 429 answers (code 8) are retried with backoff.
    rate_limits = {
        "default": RateLimit(rate=10.0, burst=10),
        "postings": RateLimit(rate=5.0, burst=5),
        "products": RateLimit(rate=5.0, burst=5),
        "stocks": RateLimit(rate=80 / 60, burst=5),
        "prices": RateLimit(rate=2.0, burst=5),
        "ship": RateLimit(rate=2.0, burst=5),
    }
    default_poll_interval = timedelta(minutes=10)
    orders_sorted_by_update = False  # the list sorts by in_process_at, not by status change
    default_currency = "RUB"
    docs_url = "https://docs.ozon.ru/api/seller/"

    @classmethod
    def default_base_url(cls, context) -> str:
        return "https://api-seller.ozon.ru"

    # --- one call -------------------------------------------------------------------------------------------

    def _keys(self) -> tuple[str, str]:
        client_id = str(self.context.credentials.get("client_id") or "").strip()
        api_key = str(self.context.credentials.get("api_key") or "").strip()
        if not client_id or not api_key:
            raise AuthError("The Ozon Client ID and API key are missing: reconnect this channel.")
        return client_id, api_key

    def _classify(self, response: requests.Response) -> ConnectorError | None:
        """default_classify, with Ozon's own message in ours and the key never in it."""
        error = default_classify(response)
        if error is None:
            return None
        _client_id, api_key = self._keys()
        text = (response.content or b"").decode("utf-8", errors="replace").replace(api_key, "***")
        try:
            payload = json.loads(text)
            words = str(payload.get("message") or "") if isinstance(payload, dict) else ""
        except ValueError:
            words = ""
        where = urlsplit(response.url).path
        message = f"Ozon answered {response.status_code} to {where}"
        error.message = f"{message}: {words[:300]}" if words else message
        error.args = (error.message,)
        error.raw = text
        return error

    def _call(self, path: str, body: dict, *, operation: str) -> Any:
        client_id, api_key = self._keys()
        response = self.http.request(
            "POST", f"{self.base_url}{path}", operation=operation, classify=self._classify, json=body,
            headers={"Client-Id": client_id, "Api-Key": api_key, "Accept": "application/json"},
        )
        data = HttpClient.json(response)
        if not isinstance(data, dict):
            raise PermanentError(f"Ozon's answer to {path} is not an object", raw=response.content)
        return data

    # --- test -------------------------------------------------------------------------------------------------

    def _warehouses(self) -> list[dict]:
        data = self._call("/v2/warehouse/list", {"limit": 200}, operation="default")
        warehouses = data.get("warehouses")
        if not isinstance(warehouses, list):
            raise PermanentError("Ozon's warehouse list has no warehouses", raw=_dump(data))
        return [w for w in warehouses if isinstance(w, dict) and w.get("warehouse_id")]

    def test_connection(self) -> dict[str, Any]:
        """List the FBS warehouses: proves the keys, and that this seller can take FBS orders."""
        client_id, _key = self._keys()
        warehouses = self._warehouses()
        return {"external_account_id": client_id,
                "warehouses": [{"id": str(w["warehouse_id"]), "name": str(w.get("name") or "")} for w in warehouses]}

    # --- orders -------------------------------------------------------------------------------------------------


    def fetch_orders(self, *, since: datetime, cursor: str | None = None) -> Page[OrderData]:
        """Postings whose status changed in [since, run start], every page, oldest placed first.

        The cursor carries the run's window and Ozon's own page cursor, so every page of one run asks
        the same question.
        """
        if cursor:
            try:
                state = json.loads(cursor)
            except ValueError:
                state = None
            if not isinstance(state, dict) or not {"from", "to", "cursor"} <= set(state):
                raise ValueError("Unreadable Ozon orders cursor: start the sync again from its checkpoint")
        else:
            state = {"from": _iso(since), "to": _iso(datetime.now(UTC)), "cursor": ""}
        until = _when(state["to"], "window end")
        body: dict[str, Any] = {
            "filter": {"since": _iso(until - MAX_PERIOD), "to": state["to"],
                       "last_changed_status_date": {"from": state["from"], "to": state["to"]}},
            "limit": self.configured_page_size(MAX_POSTINGS_PER_PAGE), "sort_dir": "ASC",
            "with": {"analytics_data": False, "financial_data": False},
        }
        if state["cursor"]:
            body["cursor"] = state["cursor"]
        data = self._call("/v4/posting/fbs/list", body, operation="postings")
        postings = data.get("postings")
        if not isinstance(postings, list):
            raise PermanentError("Ozon's posting list has no postings", raw=_dump(data))
        orders = [self._order(p) for p in postings]
        next_cursor = None
        if data.get("has_next"):
            if not isinstance(data.get("cursor"), str) or not data["cursor"]:
                raise PermanentError("Ozon said has_next without a cursor", raw=_dump(data))
            next_cursor = json.dumps({**state, "cursor": data["cursor"]}, separators=(",", ":"))
        return Page(items=orders, next_cursor=next_cursor)

    def _order(self, posting: Any) -> OrderData:
        if not isinstance(posting, dict) or not posting.get("posting_number"):
            raise PermanentError("Ozon sent a posting without a posting_number", raw=_dump(posting))
        number = str(posting["posting_number"])
        try:
            # A posting paid late may have no in_process_at yet (Ozon's note): its packing deadline stands in.
            placed = _when(posting.get("in_process_at") or posting.get("shipment_date"), "in_process_at")
            stamps = [placed] + [_when(posting[k], k) for k in ("delivering_date",) if posting.get(k)]
            lines, currencies, total = [], set(), Decimal("0")
            for product in posting.get("products") or []:
                quantity = product.get("quantity")
                if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
                    raise ValueError("a product without a quantity")
                if not product.get("offer_id") or product.get("sku") in (None, ""):
                    raise ValueError("a product without offer_id or sku")
                price = product.get("price") or {}
                unit = _money(price.get("amount") if isinstance(price, dict) else price)
                currencies.add(str((price.get("currency") if isinstance(price, dict) else "") or self.default_currency))
                total += unit * quantity
                lines.append(OrderLineData(external_id=str(product["sku"]), sku=str(product["offer_id"]),
                                           title=str(product.get("name") or product["offer_id"]), quantity=quantity,
                                           unit_price=unit, raw=product))
        except (AttributeError, TypeError, ValueError, InvalidOperation) as exc:
            raise PermanentError(f"Ozon posting {number} is unreadable: {exc}", raw=_dump(posting)) from exc
        if not lines:
            raise PermanentError(f"Ozon posting {number} has no products", raw=_dump(posting))
        if len(currencies) > 1:
            raise PermanentError(f"Ozon posting {number} mixes currencies", raw=_dump(posting))
        raw_status = str(posting.get("status") or "")
        status = STATUS.get(raw_status)
        if status is None:
            logger.warning("Ozon posting %s is in unknown status %s", number, raw_status[:40])
            status = OrderStatus.PENDING
        customer = posting.get("customer") if isinstance(posting.get("customer"), dict) else {}
        addressee = posting.get("addressee") if isinstance(posting.get("addressee"), dict) else {}
        address = customer.get("address") if isinstance(customer.get("address"), dict) else {}
        shipping = {}
        if address:
            shipping = {"name": str(addressee.get("name") or customer.get("name") or ""),
                        "line1": address.get("address_tail") or "", "city": address.get("city") or "",
                        "state": address.get("region") or "", "postcode": address.get("zip_code") or "",
                        "country": address.get("country") or ""}
        return OrderData(
            external_id=number, number=str(posting.get("order_number") or ""), status=status,
            raw_status=(raw_status + (f"/{posting['substatus']}" if posting.get("substatus") else ""))[:100],
            placed_at=placed, updated_at=max(stamps), currency=currencies.pop(), total=total, lines=lines,
            buyer_name=str(customer.get("name") or addressee.get("name") or ""), shipping_address=shipping,
            raw=posting,
        )

    # --- products -------------------------------------------------------------------------------------------------

    def fetch_products(self, *, cursor: str | None = None) -> Page[ProductData]:
        data = self._call("/v3/product/list", {"filter": {"visibility": "ALL"}, "last_id": cursor or "",
                                                "limit": PRODUCTS_PER_PAGE}, operation="products")
        result = data.get("result")
        items = result.get("items") if isinstance(result, dict) else None
        if not isinstance(items, list):
            raise PermanentError("Ozon's product list has no result.items", raw=_dump(data))
        ids = [str(i["product_id"]) for i in items if isinstance(i, dict) and i.get("product_id")]
        infos = self._infos("product_id", ids)
        products = [self._product(infos[pid]) for pid in ids if pid in infos]
        more = len(items) >= PRODUCTS_PER_PAGE and result.get("last_id")
        return Page(items=products, next_cursor=str(result["last_id"]) if more else None)

    def _infos(self, kind: str, values: Sequence[str]) -> dict[str, dict]:
        """`/v3/product/info/list` by one kind of id, keyed by that id."""
        found: dict[str, dict] = {}
        key = {"product_id": "id", "offer_id": "offer_id"}[kind]
        for chunk in chunked(list(dict.fromkeys(values)), PRODUCTS_PER_PAGE):
            data = self._call("/v3/product/info/list", {kind: list(chunk)}, operation="products")
            items = data.get("items")
            if not isinstance(items, list):
                raise PermanentError("Ozon's product info has no items", raw=_dump(data))
            found.update({str(i[key]): i for i in items if isinstance(i, dict) and i.get(key)})
        return found

    def _product(self, info: dict) -> ProductData:
        try:
            price = _money(info["price"]) if info.get("price") not in (None, "") else None
            old = _money(info["old_price"]) if info.get("old_price") not in (None, "") else None
            fbs = [s for s in ((info.get("stocks") or {}).get("stocks") or []) if s.get("source") == "fbs"]
            quantity = sum(int(s.get("present") or 0) for s in fbs) if fbs else None
            skus = [str(s["sku"]) for s in info.get("sources") or [] if isinstance(s, dict) and s.get("sku")]
        except (AttributeError, TypeError, ValueError, InvalidOperation) as exc:
            raise PermanentError(f"Ozon product {info.get('offer_id')} has an unreadable price or stock",
                                 raw=_dump(info)) from exc
        refs = {"product_id": str(info.get("id") or "")}
        if skus:
            refs["ozon_sku"] = skus[0]
        return ProductData(
            external_id=str(info.get("id")), sku=str(info.get("offer_id")), title=str(info.get("name") or info.get("offer_id")),
            price=price, currency=str(info.get("currency_code") or self.default_currency), quantity=quantity,
            mrp=old if old else None, barcode=str((info.get("barcodes") or [""])[0] or ""), external_refs=refs, raw=info,
        )

    # --- pushes ------------------------------------------------------------------------------------------------------

    def _warehouse_id(self) -> tuple[str | None, str]:
        wanted = str(self.context.config.get("warehouse_id") or "").strip()
        warehouses = self._warehouses()
        ids = [str(w["warehouse_id"]) for w in warehouses]
        if wanted:
            return (wanted, "") if wanted in ids else (None, f"Ozon has no FBS warehouse {wanted} for this seller")
        if len(ids) == 1:
            return ids[0], ""
        if not ids:
            return None, "This Ozon seller has no FBS warehouse"
        return None, f"This seller has several FBS warehouses ({', '.join(ids)}): set the channel's warehouse id"

    @staticmethod
    def _answers(data: dict, what: str) -> dict[str, dict]:
        result = data.get("result")
        if not isinstance(result, list):
            raise PermanentError(f"Ozon's {what} answer has no result list", raw=_dump(data))
        return {str(r.get("offer_id")): r for r in result if isinstance(r, dict)}

    @staticmethod
    def _push_result(sku: str, answer: dict | None) -> PushResult:
        if answer is None:
            return PushResult(sku=sku, ok=False, error="Ozon did not answer for this offer")
        errors = [e for e in answer.get("errors") or [] if isinstance(e, dict)]
        ok = bool(answer.get("updated")) and not errors
        words = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
        return PushResult(sku=sku, ok=ok, error="" if ok else (words or "Ozon did not update this offer"), raw=answer)

    def push_stock(self, updates: Sequence[StockUpdate]) -> list[PushResult]:
        results, valid = screen_push(updates, stock_problem)
        if valid:
            warehouse, why = self._warehouse_id()
            for chunk in chunked(valid, STOCKS_PER_CALL):
                if warehouse is None:
                    for index, update in chunk:
                        results[index] = PushResult(sku=update.sku, ok=False, error=why)
                    continue
                body = {"stocks": [{"offer_id": u.sku, "stock": u.quantity, "warehouse_id": int(warehouse),
                                    **({"product_id": int(u.external_refs["product_id"])}
                                       if str(u.external_refs.get("product_id") or "").isdigit() else {})}
                                   for _i, u in chunk]}
                answers = self._answers(self._call("/v2/products/stocks", body, operation="stocks"), "stocks")
                for index, update in chunk:
                    results[index] = self._push_result(update.sku, answers.get(update.sku))
        return [r for r in results if r is not None]

    @staticmethod
    def _price_problem(update: PriceUpdate) -> str:
        if (update.currency or "").upper() != "RUB":
            return f"This Ozon account sells in RUB, not {update.currency}"
        for label, value in (("price", update.price), ("old price (MRP)", update.mrp)):
            if value is None:
                continue
            if not isinstance(value, Decimal) or value <= 0:
                return f"The {label} must be a positive amount"
            if value != value.quantize(CENT):
                return f"Ozon prices are in whole kopecks: {value} is not"
        if update.mrp is not None and update.mrp <= update.price:
            return "Ozon needs the old price (MRP) above the selling price, or none"
        return ""

    def push_prices(self, updates: Sequence[PriceUpdate]) -> list[PushResult]:
        results, valid = screen_push(updates, self._price_problem)
        for chunk in chunked(valid, PRICES_PER_CALL):
            # old_price "0" clears the crossed-out price; Ozon's amounts are decimal strings.
            body = {"prices": [{"offer_id": u.sku, "price": str(u.price.quantize(CENT)),
                                "old_price": str(u.mrp.quantize(CENT)) if u.mrp is not None else "0",
                                "currency_code": "RUB"} for _i, u in chunk]}
            answers = self._answers(self._call("/v1/product/import/prices", body, operation="prices"), "prices")
            for index, update in chunk:
                results[index] = self._push_result(update.sku, answers.get(update.sku))
        return [r for r in results if r is not None]

    # --- fulfilment ---------------------------------------------------------------------------------------------------

    def push_fulfilment(self, fulfilment: FulfilmentData) -> FulfilmentResult:
        """Pack the posting whole (`/v4/posting/fbs/ship`), then give Ozon the carrier's tracking number.

        Ozon splits a posting when only part of it is packed; Haat does not: it packs every product with
        its full quantity, or refuses. A posting already packed only gets its tracking number.
        """
        number = fulfilment.order_external_id
        data = self._call("/v3/posting/fbs/get", {"posting_number": number}, operation="ship")
        posting = data.get("result")
        if not isinstance(posting, dict) or not isinstance(posting.get("products"), list):
            raise PermanentError(f"Ozon's answer for posting {number} has no products", raw=_dump(data))
        status = posting.get("status")
        wanted: dict[str, int] = {}
        for product in posting["products"]:
            wanted[str(product.get("sku"))] = wanted.get(str(product.get("sku")), 0) + int(product.get("quantity") or 0)
        given: dict[str, int] = {}
        for line in fulfilment.lines:
            given[line.external_line_id] = given.get(line.external_line_id, 0) + line.quantity
        if given and given != wanted:
            return FulfilmentResult(ok=False, error=(
                f"Ozon packs posting {number} whole here: include all its products with their full quantities"))
        raw: dict[str, Any] = {}
        if status == "awaiting_packaging":
            packages = [{"products": [{"product_id": int(sku), "quantity": qty} for sku, qty in wanted.items()]}]
            raw["ship"] = self._call("/v4/posting/fbs/ship", {"posting_number": number, "packages": packages},
                                     operation="ship")
            if number not in [str(n) for n in raw["ship"].get("result") or []]:
                return FulfilmentResult(ok=False, error=f"Ozon did not pack posting {number}", raw=raw)
        elif status not in ("awaiting_deliver", "delivering", "driver_pickup", "sent_by_seller"):
            return FulfilmentResult(ok=False, error=f"Ozon posting {number} is {status}: it cannot be shipped now")
        tracking = (fulfilment.tracking_number or "").strip()
        if tracking:
            answer = self._call("/v2/fbs/posting/tracking-number/set", {
                "tracking_numbers": [{"posting_number": number, "tracking_number": tracking}]}, operation="ship")
            raw["tracking"] = answer
            entry = next((r for r in answer.get("result") or [] if isinstance(r, dict)
                          and r.get("posting_number") == number), None)
            if not entry or not entry.get("result"):
                words = (entry or {}).get("error") or "no answer"
                return FulfilmentResult(ok=False, external_id=number, raw=raw,
                                        error=f"Ozon packed posting {number} but refused its tracking number: {words}")
        return FulfilmentResult(ok=True, external_id=number, raw=raw)

    # --- push notifications --------------------------------------------------------------------------------------

    @classmethod
    def verify_webhook(cls, *, body: bytes, headers: dict[str, str], secret: str) -> bool:
        """Ozon signs nothing, so no signature ever verifies: its notifications are checked by source address and
        seller_id instead (webhooks.OZON_PUSH)."""
        return False

    def parse_webhook(self, *, body: bytes, headers: dict[str, str]) -> WebhookMessage:
        """A posting notification -> that posting, read from the Seller API; any other type carries nothing to
        upsert (chats, products, FBO) and is kept as received."""
        payload, kind = self._typed_notification(body, type_field="message_type", what="push notification")
        message = WebhookMessage(delivery_id="", topic=kind, action=kind, payload=payload)
        if kind not in POSTING_MESSAGES:
            return message
        try:
            client_id, _key = self._keys()
        except AuthError as exc:  # disconnected: no keys to read the posting with, now or on a retry
            raise PermanentError(f"Cannot read posting {payload.get('posting_number')}: {exc.message}", raw=body) from exc
        if str(payload.get("seller_id") or "").strip() != client_id:
            raise PermanentError(f"A notification of seller {str(payload.get('seller_id'))[:20]} reached the channel "
                                 f"of Client-Id {client_id}", raw=body)
        number = payload.get("posting_number")
        if not isinstance(number, str) or not number.strip():
            raise PermanentError(f"Ozon sent {kind} without a posting_number", raw=body)
        data = self._call("/v3/posting/fbs/get", {"posting_number": number.strip()}, operation="postings")
        if not isinstance(data.get("result"), dict):
            raise PermanentError(f"Ozon's answer for posting {number} has no result", raw=_dump(data))
        message.orders = [self._order(data["result"])]
        return message

    def register_webhooks(self, *, callback_url: str, secret: str) -> list[str]:
        """Nothing to call: Ozon has no API for the push URL; the seller pastes it in the cabinet (the channel's
        page shows it)."""
        return []

    def unregister_webhooks(self, *, webhook_ids: Sequence[str]) -> None:
        """Nothing was subscribed through the API. Pushes that still come after a disconnect are stored and fail
        (no keys to read the posting with) until the seller removes the URL in the cabinet."""
        return None
