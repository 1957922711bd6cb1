"""Yandex Market Partner API (seller API): orders, offer mappings, stocks, prices and order status.

Auth is an Api-Key token the seller creates in the cabinet (`Api-Key: <token>` header); the token opens
one *business* (cabinet) and its *campaigns* (shops). A Haat connection is one campaign: its id is the
connection's account id, and the business id comes from the campaign (or from the config when given).
Calls and field names follow Yandex's official OpenAPI description (../shared/specs/yandex-market/):

- `GET  /v2/campaigns` (test), `GET /v2/campaigns/{campaignId}` (the campaign's business and placement).
- `POST /v1/businesses/{businessId}/orders` with `campaignIds` and `dates.updateDateFrom/To`, paged by
  `page_token` (the campaign-level `GET /v2/campaigns/{id}/orders` is deprecated upstream and shuts
  down in 2027, so it is not used).
- `POST /v2/businesses/{businessId}/offer-mappings` (products), `PUT /v2/campaigns/{id}/offers/stocks`,
  `POST /v2/businesses/{businessId}/offer-prices/updates`.
- `PUT /v2/campaigns/{id}/orders/{orderId}/status` and, for DBS shops (the seller delivers),
  `POST .../orders/{orderId}/delivery/track`.

API notifications (cabinet -> Settings -> APIs and modules -> API notifications; not the retired push-api):
Market POSTs `notification` requests to the URL the seller sets there. They are not signed; Yandex tells the
seller to accept only its published networks, and each names its campaign. Both are checked in
apps/integrations/webhooks.py (YANDEX_MARKET_NOTIFICATIONS), which also answers PING; here an order
notification becomes the order as the business orders method returns it (Yandex's own advice), never the
notification's summary.

Money comes as JSON numbers in the shop's currency (`RUR` is Yandex's code for roubles, Haat says `RUB`);
bodies are decoded with Decimal so no amount ever passes through a float.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import requests

from apps.integrations.connectors.base import (
    AuthKind,
    Capability,
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
from apps.integrations.connectors.errors import AuthError, ConnectorError, PermanentError
from apps.integrations.connectors.parsing import iso_time
from apps.integrations.http import RateLimit, default_classify

logger = logging.getLogger(__name__)

MSK = timezone(timedelta(hours=3))

ORDERS_PAGE_MAX = 50  # PageLimit50Truncate
MAPPINGS_PAGE_MAX = 100  # PageLimit100Truncate
CAMPAIGNS_PAGE_MAX = 100
STOCKS_PER_CALL = 2000  # UpdateStocksRequest.skus maxItems
PRICES_PER_CALL = 500  # UpdateBusinessPricesRequest.offers maxItems
MAX_STOCK = 2_000_000_000
# API notifications about one order: each is answered by reading the order itself.
ORDER_NOTIFICATIONS = frozenset({"ORDER_CREATED", "ORDER_STATUS_UPDATED", "ORDER_CANCELLED", "ORDER_UPDATED",
                                 "ORDER_CANCELLATION_REQUEST"})

# Yandex's currency codes differ from ISO 4217 for the rouble only.
TO_HAAT_CURRENCY = {"RUR": "RUB"}
TO_YANDEX_CURRENCY = {v: k for k, v in TO_HAAT_CURRENCY.items()}

STATUS = {
    "PLACING": OrderStatus.PENDING, "RESERVED": OrderStatus.PENDING, "UNPAID": OrderStatus.PENDING,
    "PENDING": OrderStatus.PENDING, "PROCESSING": OrderStatus.UNSHIPPED, "DELIVERY": OrderStatus.SHIPPED,
    "PICKUP": OrderStatus.SHIPPED, "DELIVERED": OrderStatus.DELIVERED, "CANCELLED": OrderStatus.CANCELLED,
    "PARTIALLY_RETURNED": OrderStatus.RETURNED, "RETURNED": OrderStatus.RETURNED,
}


def _decode(response: requests.Response) -> Any:
    """The JSON body with every number that has a fraction as a Decimal; a malformed body is permanent."""
    try:
        return json.loads(response.content, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PermanentError(f"Malformed JSON from Yandex Market {urlsplit(response.url).path}: {exc}",
                             raw=response.content, status_code=response.status_code) from exc


def _json_number(value: Decimal) -> int | float:
    """A Decimal amount as a JSON number: float's shortest repr of a 2-decimal amount is that literal."""
    return int(value) if value == value.to_integral_value() else float(value)


def _encode(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, default=lambda v: _json_number(v) if isinstance(v, Decimal) else str(v)
                      ).encode()


def _money(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise PermanentError(f"Yandex Market sent an unreadable {what}", raw=json.dumps(value, default=str))
    return Decimal(value)


# Yandex documents ISO 8601 with an offset; a bare time is Moscow's (UTC+3), the API's home zone.
_parse_datetime = partial(iso_time, platform="Yandex Market", naive_zone=MSK)


def _utc_iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _error_words(payload: Any) -> str:
    """Yandex's {"status": "ERROR", "errors": [{code, message}]} as one line."""
    if not isinstance(payload, dict) or not isinstance(payload.get("errors"), list):
        return ""
    words = [f"{e.get('code')}: {e.get('message')}" if e.get("message") else str(e.get("code") or "")
             for e in payload["errors"] if isinstance(e, dict)]
    return "; ".join(w for w in words if w)


class YandexMarketConnector(Connector):
    slug = "yandex_market"
    name = "Yandex Market"
    auth_kind = AuthKind.API_KEY
    capabilities = frozenset({Capability.ORDERS, Capability.PRODUCTS, Capability.STOCK_PUSH, Capability.PRICE_PUSH,
                              Capability.FULFILMENT_PUSH, Capability.WEBHOOKS})
    credential_fields = (
        CredentialField("api_key", "API key", secret=True,
                        help_text="Seller cabinet → Settings → API and modules → Authorization tokens: create an "
                                  "Api-Key token with order, offers and pricing access."),
        CredentialField("campaign_id", "Campaign (shop) id", stored_in="config",
                        help_text="The shop's campaign id, shown in the cabinet next to the shop's name "
                                  "(Settings → API and modules)."),
        CredentialField("business_id", "Business (cabinet) id", stored_in="config", required=False,
                        help_text="Optional: Haat reads it from the campaign when left blank."),
    )
    # Per-resource limits from the official spec's x-resource-limit-config (per hour or minute), spread
    # evenly; Yandex also allows at most 4 parallel requests per campaign or business and answers 420.
    rate_limits = {
        "campaigns": RateLimit(rate=1000 / 3600, burst=5),
        "orders": RateLimit(rate=10000 / 3600, burst=4),
        "offer_mappings": RateLimit(rate=100 / 60, burst=3),
        "stocks": RateLimit(rate=50 / 60, burst=2),  # 100,000 SKUs a minute at 2,000 a call
        "prices": RateLimit(rate=20 / 60, burst=2),  # 10,000 offers a minute at 500 a call
        "order_status": RateLimit(rate=10000 / 3600, burst=4),
        "delivery_track": RateLimit(rate=10000 / 3600, burst=4),
    }
    default_poll_interval = timedelta(minutes=10)
    orders_sorted_by_update = False  # Yandex does not document the order of the list
    default_currency = "RUB"
    docs_url = "https://yandex.ru/dev/market/partner-api/doc/"

    def __init__(self, context, **kwargs):
        super().__init__(context, **kwargs)
        self._campaign: dict | None = None

    @classmethod
    def default_base_url(cls, context) -> str:
        return "https://api.partner.market.yandex.ru"

    # --- one platform call ------------------------------------------------------------------------------------

    def _api_key(self) -> str:
        key = str(self.context.credentials.get("api_key") or "").strip()
        if not key:
            raise AuthError("The Yandex Market API key is missing: reconnect this channel.")
        return key

    def _classify(self, response: requests.Response) -> ConnectorError | None:
        """default_classify (401/403 auth, 420/429 slow down, 5xx transient) with Yandex's own words."""
        error = default_classify(response)
        if error is None:
            return None
        key = str(self.context.credentials.get("api_key") or "")
        text = (response.content or b"").decode("utf-8", errors="replace")
        if key:
            text = text.replace(key, "***")
        try:
            words = _error_words(json.loads(text))
        except ValueError:
            words = ""
        message = (f"Yandex Market answered {response.status_code} to {response.request.method} "
                   f"{urlsplit(response.url).path}")
        error.message = f"{message}: {words[:300]}" if words else message
        error.args = (error.message,)
        error.raw = text
        return error

    def _call(self, method: str, path: str, *, operation: str, params: dict | None = None,
              body: Any = None) -> Any:
        headers = {"Api-Key": self._api_key(), "Accept": "application/json"}
        kwargs: dict[str, Any] = {"params": params or None, "headers": headers}
        if body is not None:
            headers["Content-Type"] = "application/json"
            kwargs["data"] = _encode(body)
        response = self.http.request(method, f"{self.base_url}{path}", operation=operation, classify=self._classify,
                                     **kwargs)
        data = _decode(response)
        if not isinstance(data, dict):
            raise PermanentError(f"Yandex Market's answer to {path} is not an object", raw=response.content)
        return data

    # --- campaign and business ---------------------------------------------------------------------------------

    def _campaign_id(self) -> int:
        try:
            return int(str(self.context.config.get("campaign_id") or "").strip())
        except ValueError:
            raise PermanentError("The connection has no numeric Yandex Market campaign id") from None

    def _campaign_info(self) -> dict:
        if self._campaign is None:
            data = self._call("GET", f"/v2/campaigns/{self._campaign_id()}", operation="campaigns")
            campaign = data.get("campaign")
            if not isinstance(campaign, dict) or not isinstance(campaign.get("business"), dict):
                raise PermanentError("Yandex Market's campaign answer has no campaign.business",
                                     raw=json.dumps(data, default=str)[:2000])
            self._campaign = campaign
        return self._campaign

    def _business_id(self) -> int:
        configured = str(self.context.config.get("business_id") or "").strip()
        if configured.isdigit():
            return int(configured)
        business_id = self._campaign_info()["business"].get("id")
        if not isinstance(business_id, int):
            raise PermanentError("Yandex Market's campaign has no business id", raw=json.dumps(self._campaign, default=str))
        return business_id

    def _placement(self) -> str:
        return str(self.context.config.get("placement_type") or self._campaign_info().get("placementType") or "")

    def test_connection(self) -> dict[str, Any]:
        """List the key's campaigns (every page) and find the configured one: proves key and campaign at once."""
        wanted = self._campaign_id()
        campaigns, token, pages = [], None, 0
        while True:
            params = {"limit": CAMPAIGNS_PAGE_MAX, **({"page_token": token} if token else {})}
            data = self._call("GET", "/v2/campaigns", operation="campaigns", params=params)
            if not isinstance(data.get("campaigns"), list):
                raise PermanentError("Yandex Market's campaign list has no campaigns", raw=json.dumps(data, default=str)[:2000])
            campaigns.extend(c for c in data["campaigns"] if isinstance(c, dict))
            token = (data.get("paging") or {}).get("nextPageToken")
            pages += 1
            if not token or pages >= 50:
                break
        campaign = next((c for c in campaigns if c.get("id") == wanted), None)
        if campaign is None:
            known = ", ".join(str(c.get("id")) for c in campaigns[:20]) or "none"
            raise PermanentError(f"This API key does not open campaign {wanted}; its campaigns: {known}")
        business = campaign.get("business") or {}
        configured = str(self.context.config.get("business_id") or "").strip()
        if configured and configured != str(business.get("id")):
            raise PermanentError(f"Campaign {wanted} belongs to business {business.get('id')}, not {configured}")
        if campaign.get("apiAvailability") not in (None, "AVAILABLE"):
            raise PermanentError(f"Yandex Market has switched API access off for campaign {wanted}: "
                                 f"{campaign.get('apiAvailability')}")
        self._campaign = campaign
        return {
            "external_account_id": str(wanted), "display_name": f"{campaign.get('domain') or business.get('name') or wanted}",
            "business_id": business.get("id"), "business_name": business.get("name", ""),
            "placement_type": campaign.get("placementType", ""), "campaigns": len(campaigns),
        }

    # --- orders -----------------------------------------------------------------------------------------------


    def fetch_orders(self, *, since: datetime, cursor: str | None = None) -> Page[OrderData]:
        """One page of the campaign's orders updated in [since, until]; the cursor pins the window."""
        if cursor:
            try:
                state = json.loads(cursor)
                window = (str(state["since"]), str(state["until"]), str(state["token"]))
            except (ValueError, KeyError, TypeError):
                raise PermanentError("Unreadable Yandex Market order cursor", raw=cursor[:500]) from None
        else:
            window = (_utc_iso(since), _utc_iso(datetime.now(UTC)), "")
        start, until, token = window
        params = {"limit": self.configured_page_size(ORDERS_PAGE_MAX), **({"page_token": token} if token else {})}
        body = {"campaignIds": [self._campaign_id()], "dates": {"updateDateFrom": start, "updateDateTo": until}}
        data = self._call("POST", f"/v1/businesses/{self._business_id()}/orders", operation="orders", params=params,
                          body=body)
        if not isinstance(data.get("orders"), list):
            raise PermanentError("Yandex Market's order list has no orders", raw=json.dumps(data, default=str)[:5000])
        orders = [self._order(o) for o in data["orders"]]
        next_token = (data.get("paging") or {}).get("nextPageToken")
        next_cursor = json.dumps({"since": start, "until": until, "token": next_token}) if next_token and orders else None
        return Page(items=orders, next_cursor=next_cursor)

    def _order(self, raw: Any) -> OrderData:
        if not isinstance(raw, dict):
            raise PermanentError("Yandex Market sent an order that is not an object", raw=json.dumps(raw, default=str)[:2000])
        try:
            order_id = str(int(raw["orderId"]))
            lines, currency, total = [], "", Decimal("0")
            for item in raw.get("items") or []:
                count = int(item["count"])
                prices = item.get("prices") or {}
                paid = prices.get("payment") or {}
                amount = _money(paid.get("value", 0), "item payment")
                if prices.get("cashback"):
                    amount += _money(prices["cashback"].get("value", 0), "item cashback")
                currency = currency or str(paid.get("currencyId") or "")
                total += amount
                unit = (amount / count).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) if count else amount
                lines.append(OrderLineData(external_id=str(int(item["id"])), sku=str(item["offerId"]),
                                           title=str(item.get("offerName") or item["offerId"]), quantity=count,
                                           unit_price=unit, raw=item))
            status = str(raw.get("status") or "")
            substatus = str(raw.get("substatus") or "")
            placed = _parse_datetime(raw.get("creationDate"), f"creationDate of order {order_id}")
            updated = _parse_datetime(raw["updateDate"], "updateDate") if raw.get("updateDate") else placed
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise PermanentError(f"Yandex Market order {raw.get('orderId')} is missing {exc}",
                                 raw=json.dumps(raw, default=str)[:5000]) from exc
        if status not in STATUS:
            raise PermanentError(f"Yandex Market order {order_id} has an unknown status {status[:40]}",
                                 raw=json.dumps(raw, default=str)[:5000])
        if not currency:
            currency = str(((raw.get("prices") or {}).get("payment") or {}).get("currencyId") or "")
        delivery = raw.get("delivery") or {}
        place = delivery.get("courier") or delivery.get("pickup") or {}
        address = {k: v for k, v in (place.get("address") or {}).items() if isinstance(v, str) and v}
        if isinstance(place.get("region"), dict) and place["region"].get("name"):
            address["region"] = place["region"]["name"]
        return OrderData(
            external_id=order_id, status=STATUS[status], raw_status=f"{status}/{substatus}" if substatus else status,
            placed_at=placed, updated_at=updated,
            currency=TO_HAAT_CURRENCY.get(currency, currency) or self.default_currency, total=total, lines=lines,
            fulfilment_channel=FulfilmentChannel.MARKETPLACE if raw.get("programType") == "FBY"
            else FulfilmentChannel.MERCHANT,
            shipping_address=address, raw=_plain(raw),
        )

    # --- products ---------------------------------------------------------------------------------------------

    def fetch_products(self, *, cursor: str | None = None) -> Page[ProductData]:
        """Offer mappings of the business that this campaign sells (archived offers are left out by Yandex)."""
        params = {"limit": self.configured_page_size(MAPPINGS_PAGE_MAX), **({"page_token": cursor} if cursor else {})}
        data = self._call("POST", f"/v2/businesses/{self._business_id()}/offer-mappings", operation="offer_mappings",
                          params=params, body={})
        result = data.get("result")
        if not isinstance(result, dict) or not isinstance(result.get("offerMappings"), list):
            raise PermanentError("Yandex Market's offer mappings answer has no result.offerMappings",
                                 raw=json.dumps(data, default=str)[:5000])
        campaign_id = self._campaign_id()
        products = []
        for entry in result["offerMappings"]:
            offer = entry.get("offer") if isinstance(entry, dict) else None
            if not isinstance(offer, dict) or not offer.get("offerId"):
                raise PermanentError("Yandex Market sent an offer mapping without offer.offerId",
                                     raw=json.dumps(entry, default=str)[:2000])
            campaigns = offer.get("campaigns")
            if isinstance(campaigns, list) and campaigns and not any(
                    isinstance(c, dict) and c.get("campaignId") == campaign_id for c in campaigns):
                continue  # the business sells it in another shop only
            products.append(self._product(offer, entry.get("mapping") or {}))
        next_token = (result.get("paging") or {}).get("nextPageToken")
        return Page(items=products, next_cursor=next_token or None)

    def _product(self, offer: dict, mapping: dict) -> ProductData:
        price = offer.get("basicPrice") or {}
        try:
            value = _money(price["value"], "basicPrice.value") if price.get("value") is not None else None
            mrp = _money(price["discountBase"], "discountBase") if price.get("discountBase") is not None else None
        except PermanentError as exc:
            exc.raw = json.dumps(offer, default=str)[:5000]
            raise
        currency = str(price.get("currencyId") or "")
        refs = {}
        if mapping.get("marketSku") is not None:
            refs["market_sku"] = str(mapping["marketSku"])
        barcodes = offer.get("barcodes") or []
        return ProductData(
            external_id=str(offer["offerId"]), sku=str(offer["offerId"]), title=str(offer.get("name") or offer["offerId"]),
            price=value, currency=TO_HAAT_CURRENCY.get(currency, currency) or self.default_currency, mrp=mrp,
            barcode=str(barcodes[0]) if barcodes else "", external_refs=refs, raw=_plain({"offer": offer, "mapping": mapping}),
        )

    # --- stock and prices -----------------------------------------------------------------------------------

    def _batch(self, method: str, path: str, operation: str, body: dict, skus: list[str]) -> dict[str, PushResult]:
        """One batch call. Yandex accepts or refuses a batch whole: a 400 fails its SKUs with Yandex's words."""
        try:
            self._call(method, path, operation=operation, body=body)
        except PermanentError as exc:
            if exc.status_code not in (400, 404, 423):
                raise
            return {sku: PushResult(sku=sku, ok=False, error=exc.message, raw={"body": exc.raw or ""}) for sku in skus}
        return {sku: PushResult(sku=sku, ok=True) for sku in skus}

    def push_stock(self, updates: Sequence[StockUpdate]) -> list[PushResult]:
        results: list[PushResult | None] = [None] * len(updates)
        seen: set[str] = set()
        valid: list[tuple[int, StockUpdate]] = []
        for index, update in enumerate(updates):
            quantity = update.quantity
            if not isinstance(quantity, int) or isinstance(quantity, bool) or not 0 <= quantity <= MAX_STOCK:
                results[index] = PushResult(sku=update.sku, ok=False, error="Stock must be a whole number from 0 to 2e9")
            elif not update.sku or update.sku in seen:
                results[index] = PushResult(sku=update.sku, ok=False, error="Empty or repeated SKU in one push")
            else:
                seen.add(update.sku)
                valid.append((index, update))
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        for chunk in chunked(valid, STOCKS_PER_CALL):
            body = {"skus": [{"sku": u.sku, "items": [{"count": u.quantity, "updatedAt": stamp}]} for _i, u in chunk]}
            answers = self._batch("PUT", f"/v2/campaigns/{self._campaign_id()}/offers/stocks", "stocks", body,
                                  [u.sku for _i, u in chunk])
            for index, update in chunk:
                results[index] = answers[update.sku]
        return [r for r in results if r is not None]

    def push_prices(self, updates: Sequence[PriceUpdate]) -> list[PushResult]:
        results: list[PushResult | None] = [None] * len(updates)
        seen: set[str] = set()
        valid: list[tuple[int, dict]] = []
        for index, update in enumerate(updates):
            offer, problem = self._price_offer(update)
            if not problem and update.sku in seen:
                problem = "This SKU appears twice in one push"
            if problem:
                results[index] = PushResult(sku=update.sku, ok=False, error=problem)
                continue
            seen.add(update.sku)
            valid.append((index, offer))
        for chunk in chunked(valid, PRICES_PER_CALL):
            answers = self._batch("POST", f"/v2/businesses/{self._business_id()}/offer-prices/updates", "prices",
                                  {"offers": [o for _i, o in chunk]}, [o["offerId"] for _i, o in chunk])
            for index, offer in chunk:
                results[index] = answers[offer["offerId"]]
        return [r for r in results if r is not None]

    def _price_offer(self, update: PriceUpdate) -> tuple[dict, str]:
        currency = (update.currency or "").upper()
        yandex_currency = TO_YANDEX_CURRENCY.get(currency, currency)
        shop_currency = str(self.context.config.get("currency") or self.default_currency).upper()
        if currency != shop_currency:
            return {}, f"This Yandex Market shop sells in {shop_currency}, not {update.currency}"
        if not isinstance(update.price, Decimal) or update.price <= 0 or update.price != update.price.quantize(Decimal("0.01")):
            return {}, "The price must be a positive amount with at most two decimals"
        price: dict[str, Any] = {"value": update.price, "currencyId": yandex_currency}
        if update.mrp is not None and update.mrp > update.price:
            mrp = update.mrp
            if mrp != mrp.to_integral_value():
                return {}, "Yandex Market's crossed-out price (MRP) must be a whole number"
            discount = (mrp - update.price) / mrp
            if not Decimal("0.05") <= discount <= Decimal("0.99"):
                return {}, "Yandex Market shows a crossed-out price only for a discount of 5% to 99% of it"
            price["discountBase"] = mrp
        return {"offerId": update.sku, "price": price}, ""

    # --- fulfilment -------------------------------------------------------------------------------------------

    def push_fulfilment(self, fulfilment: FulfilmentData) -> FulfilmentResult:
        """Mark the order packed (PROCESSING/READY_TO_SHIP); a DBS shop, which delivers itself, also sends
        the track code and moves the order to DELIVERY. FBS and Express orders travel with Market's own
        logistics: Market sets their tracking, and Haat does not send one."""
        order = self._current_order(fulfilment.order_external_id)
        if order is None:
            return FulfilmentResult(ok=False, error=f"Yandex Market has no order {fulfilment.order_external_id} "
                                                    "in this campaign")
        status, substatus = order.get("status"), order.get("substatus")
        if status and status != "PROCESSING":
            return FulfilmentResult(ok=False, error=f"Yandex Market order is {status}: only PROCESSING orders ship")
        if order.get("programType") == "FBY":
            return FulfilmentResult(ok=False, error="Market ships FBY orders from its own warehouse")
        base = f"/v2/campaigns/{self._campaign_id()}/orders/{fulfilment.order_external_id}"
        answers: dict[str, Any] = {}
        if substatus != "READY_TO_SHIP":
            answers["ready"] = self._status(base, {"status": "PROCESSING", "substatus": "READY_TO_SHIP"})
        dbs = (order.get("programType") or self._placement()) == "DBS"
        if not dbs:
            return FulfilmentResult(ok=True, external_id=fulfilment.order_external_id, raw=answers)
        tracking = (fulfilment.tracking_number or "").strip()
        if tracking:
            service_id = (order.get("delivery") or {}).get("deliveryServiceId")
            if not isinstance(service_id, int):
                return FulfilmentResult(ok=False, error="The order has no delivery service id to send the track code to",
                                        raw=answers)
            answers["track"] = self._call("POST", f"{base}/delivery/track", operation="delivery_track",
                                          body={"trackCode": tracking, "deliveryServiceId": service_id})
        answers["delivery"] = self._status(base, {"status": "DELIVERY"})
        return FulfilmentResult(ok=True, external_id=fulfilment.order_external_id, raw=_plain(answers))

    def _current_order(self, order_id: str) -> dict | None:
        """The order as Yandex has it now (what Haat stored may be a sync behind)."""
        if not str(order_id).isdigit():
            return None
        data = self._call("POST", f"/v1/businesses/{self._business_id()}/orders", operation="orders",
                          body={"orderIds": [int(order_id)], "campaignIds": [self._campaign_id()]})
        orders = data.get("orders")
        if not isinstance(orders, list):
            raise PermanentError("Yandex Market's order list has no orders", raw=json.dumps(data, default=str)[:5000])
        return next((o for o in orders if isinstance(o, dict) and str(o.get("orderId")) == str(order_id)), None)

    def _status(self, base: str, change: dict) -> dict:
        data = self._call("PUT", f"{base}/status", operation="order_status", body={"order": change})
        new = (data.get("order") or {}).get("status")
        if new != change["status"]:
            raise PermanentError(f"Yandex Market did not move the order to {change['status']}",
                                 raw=json.dumps(data, default=str)[:2000])
        return {"status": new, "substatus": (data.get("order") or {}).get("substatus")}

    # --- API notifications -------------------------------------------------------------------------------------

    @classmethod
    def verify_webhook(cls, *, body: bytes, headers: dict[str, str], secret: str) -> bool:
        """Market signs nothing, so no signature ever verifies: notifications are checked by source address and
        campaign instead (webhooks.YANDEX_MARKET_NOTIFICATIONS)."""
        return False

    def parse_webhook(self, *, body: bytes, headers: dict[str, str]) -> WebhookMessage:
        """An order notification -> that order, read through the business orders method; other types (chats,
        reviews, returns) carry nothing to upsert and are kept as received."""
        payload, kind = self._typed_notification(body, type_field="notificationType", what="notification")
        message = WebhookMessage(delivery_id="", topic=kind, action=kind, payload=payload)
        if kind not in ORDER_NOTIFICATIONS:
            return message
        order_id, campaign = payload.get("orderId"), payload.get("campaignId")
        if not isinstance(order_id, int) or isinstance(order_id, bool) or order_id <= 0:
            raise PermanentError(f"Yandex Market sent {kind} without a numeric orderId", raw=body)
        if str(campaign) != str(self.context.config.get("campaign_id") or "").strip():
            raise PermanentError(f"A notification of campaign {str(campaign)[:20]} reached another campaign's "
                                 "channel", raw=body)
        try:
            raw = self._current_order(str(order_id))
        except AuthError as exc:  # disconnected: no key to read the order with, now or on a retry
            raise PermanentError(f"Cannot read order {order_id}: {exc.message}", raw=body) from exc
        if raw is None:
            # The method lists orders of the last 30 days without dates; the next poll reconciles the rest.
            raise PermanentError(f"Yandex Market did not return order {order_id} of the {kind} notification",
                                 raw=body)
        message.orders = [self._order(raw)]
        return message

    def register_webhooks(self, *, callback_url: str, secret: str) -> list[str]:
        """Nothing to call: the notification URL is set in the cabinet, not through the API (the channel's page
        shows the URL to paste)."""
        return []

    def unregister_webhooks(self, *, webhook_ids: Sequence[str]) -> None:
        """Nothing was subscribed through the API. Notifications that still come after a disconnect are stored and
        fail (no key to read the order with) until the seller switches them off in the cabinet."""
        return None


def _plain(value: Any) -> Any:
    """Decimals back to JSON-safe strings for `raw`, which is stored as JSON."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
