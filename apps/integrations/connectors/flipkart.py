"""Flipkart Marketplace Seller API: orders (shipments), listings' stock and prices, self-ship dispatch.

Auth is the seller's self-access application: its id and secret buy a client-credentials token
(`GET /oauth-service/oauth/token`, HTTP Basic), valid about 60 days. The token and its expiry are
cached in the connection's credentials; a new one is fetched when it is about to expire or when a call
answers 401, once. A 401 from the token endpoint itself means the application is gone: AuthError.

What an Order is. A Flipkart order id ("OD...") groups the order items a buyer checked out from this
seller; Flipkart packs them into shipments, one or more per order, never one shipment for two orders.
Haat's Order is the Flipkart order. The shipment search pages by shipment, so for every page the
connector re-reads its orders whole (`GET /v3/shipments?orderIds=`), and fetches their delivery
address and courier details (`GET /v3/shipments/{shipmentIds}`): an order split across shipments
always comes back complete. The search is per shipment type (preDispatch, postDispatch, cancelled x
each cancellation type), so one run walks those streams in turn; an order whose shipments sit in two
streams is emitted by the first stream that holds it in the run's window.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import partial
from typing import Any
from urllib.parse import quote, urlsplit

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
    chunked,
    screen_push,
    stock_problem,
)
from apps.integrations.connectors.errors import AuthError, ConnectorError, PermanentError
from apps.integrations.connectors.parsing import iso_time
from apps.integrations.http import HttpClient, RateLimit, default_classify

logger = logging.getLogger(__name__)

IST = timezone(timedelta(hours=5, minutes=30))
TOKEN_REFRESH_MARGIN = timedelta(minutes=5)
MAX_PAGE_SIZE = 20  # Flipkart's maximum for the shipment search
MAX_IDS_PER_CALL = 100
DETAILS_PER_CALL = 25  # Flipkart's recommended limit for GET /v3/shipments/{shipmentIds}
SKUS_PER_CALL = 10  # "you can update a maximum of 10 FSNs at a time"
ORDER_API_TIMEOUT = 60.0  # Flipkart recommends at least 60 s for order management, 10 s for listings
DEFAULT_TRANSIT_DAYS = 5

PRE_DISPATCH = ("APPROVED", "PACKING_IN_PROGRESS", "FORM_FAILED", "PACKED", "READY_TO_DISPATCH")
POST_DISPATCH = ("PICKUP_COMPLETE", "SHIPPED", "DELIVERED", "COMPLETED", "RETURN_REQUESTED", "RETURNED")
CANCELLATION_TYPES = ("sellerCancellation", "buyerCancellation", "marketplaceCancellation")
# (filter type, states, cancellation type, group). Orders are emitted by the first group that holds them.
STREAMS: tuple[tuple[str, tuple[str, ...], str | None, str], ...] = (
    ("preDispatch", PRE_DISPATCH, None, "pre"),
    ("postDispatch", POST_DISPATCH, None, "post"),
    *(("cancelled", ("CANCELLED",), kind, "cancelled") for kind in CANCELLATION_TYPES),
)
GROUP_STATES = {"pre": PRE_DISPATCH, "post": POST_DISPATCH, "cancelled": ("CANCELLED",)}
SERVICE_PROFILES = ["NON_FBF", "FBF", "FBF_LITE"]
MARKETPLACE_PROFILES = {"FBF", "Flipkart_Fulfilment"}

ITEM_STATUS = {
    "APPROVED": OrderStatus.UNSHIPPED, "PACKING_IN_PROGRESS": OrderStatus.UNSHIPPED,
    "FORM_FAILED": OrderStatus.UNSHIPPED, "PACKED": OrderStatus.UNSHIPPED, "READY_TO_DISPATCH": OrderStatus.UNSHIPPED,
    "PICKUP_COMPLETE": OrderStatus.SHIPPED, "SHIPPED": OrderStatus.SHIPPED,
    "DELIVERED": OrderStatus.DELIVERED, "COMPLETED": OrderStatus.DELIVERED,
    # A return was asked for but the goods are still with the buyer.
    "RETURN_REQUESTED": OrderStatus.DELIVERED, "RETURNED": OrderStatus.RETURNED,
    "CANCELLED": OrderStatus.CANCELLED,
}
# An order is as far along as its least advanced live item: it still needs that work.
PROGRESS = [OrderStatus.PENDING, OrderStatus.UNSHIPPED, OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.RETURNED]


def _utc_iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# Flipkart's ISO-8601 timestamps (IST offsets as a rule); a naive one is taken as IST.
_parse_datetime = partial(iso_time, platform="Flipkart", naive_zone=IST)


def _money(value: Any) -> Decimal:
    """A JSON number as exact money: str() of a parsed float gives back the decimal literal Flipkart sent."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidOperation(value)
    return Decimal(str(value))


def _description(payload: Any) -> str:
    """The platform's own words from an error body, whichever of its shapes it used."""
    if not isinstance(payload, dict):
        return ""
    for key in ("error_description", "message", "errorMessage"):
        if isinstance(payload.get(key), str) and payload[key]:
            return payload[key]
    errors = payload.get("errors")
    if isinstance(errors, list):
        words = [str(e.get("description") or e.get("message") or "") for e in errors if isinstance(e, dict)]
        return "; ".join(w for w in words if w)
    return str(payload.get("error") or "")


class FlipkartConnector(Connector):
    slug = "flipkart"
    name = "Flipkart"
    auth_kind = AuthKind.API_KEY
    capabilities = frozenset({Capability.ORDERS, Capability.PRODUCTS, Capability.STOCK_PUSH, Capability.PRICE_PUSH,
                              Capability.FULFILMENT_PUSH})
    credential_fields = (
        CredentialField("app_id", "Application ID",
                        help_text="Seller Dashboard → Manage Profile → Developer Access → your self-access "
                                  "application's Application ID."),
        CredentialField("app_secret", "Application secret", secret=True,
                        help_text="The Application Secret shown next to that Application ID."),
        CredentialField("location_id", "Dispatch location id", required=False, stored_in="config",
                        help_text="Only when your listings are stocked at more than one Flipkart location: "
                                  "stock pushed from Haat is set at this one (LOC...)."),
    )
    # Flipkart publishes no request quotas for the seller API; these self-imposed limits keep one
    # connection well below anything that could trip its gateway. 429s and 503s are retried.
    rate_limits = {
        "token": RateLimit(rate=1 / 60, burst=3),
        "shipments_search": RateLimit(rate=2.0, burst=5),
        "shipments_get": RateLimit(rate=2.0, burst=5),
        "self_ship_dispatch": RateLimit(rate=1.0, burst=2),
        "listings_search": RateLimit(rate=1.0, burst=2),
        "listings_get": RateLimit(rate=2.0, burst=5),
        "listings_update": RateLimit(rate=1.0, burst=3),
    }
    default_poll_interval = timedelta(minutes=10)
    orders_sorted_by_update = False  # ascending within a stream, but the run walks several streams
    default_currency = "INR"
    docs_url = "https://seller.flipkart.com/api-docs/FMSAPI.html"

    @classmethod
    def default_base_url(cls, context) -> str:
        return "https://api.flipkart.net"

    # --- tokens ------------------------------------------------------------------------------------------

    def _app_credentials(self) -> tuple[str, str]:
        app_id = str(self.context.credentials.get("app_id") or "").strip()
        app_secret = str(self.context.credentials.get("app_secret") or "").strip()
        if not app_id or not app_secret:
            raise AuthError("The Flipkart application id and secret are missing: reconnect this channel.")
        return app_id, app_secret

    def _cached_token(self) -> str | None:
        token = self.context.credentials.get("access_token")
        expires = self.context.credentials.get("access_token_expires_at")
        if not token or not expires:
            return None
        try:
            expires_at = datetime.fromisoformat(str(expires))
        except ValueError:
            return None
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        return token if expires_at - datetime.now(UTC) > TOKEN_REFRESH_MARGIN else None

    def refresh(self) -> None:
        """Fetch a new client-credentials token and persist it (with its expiry) in the credentials."""
        self._fetch_token()

    def _fetch_token(self) -> str:
        app_id, app_secret = self._app_credentials()

        def classify(response: requests.Response) -> ConnectorError | None:
            error = self._classify(response, secrets=(app_secret,))
            if isinstance(error, AuthError):
                error.message = f"Flipkart refused the application id and secret: {error.message}"
                error.args = (error.message,)
            return error

        response = self.http.request(
            "GET", f"{self.base_url}/oauth-service/oauth/token", operation="token", classify=classify,
            params={"grant_type": "client_credentials", "scope": "Seller_Api"}, auth=(app_id, app_secret),
            headers={"Accept": "application/json"},
        )
        data = HttpClient.json(response)
        token, expires_in = (data.get("access_token"), data.get("expires_in")) if isinstance(data, dict) else (None, None)
        if not isinstance(token, str) or not token or not isinstance(expires_in, int | float) or expires_in <= 0:
            raise PermanentError("Flipkart's token answer has no access_token and expires_in",
                                 raw=response.content.replace(token.encode(), b"***") if isinstance(token, str) and token
                                 else response.content)
        credentials = {
            **self.context.credentials, "access_token": token,
            "access_token_expires_at": (datetime.now(UTC) + timedelta(seconds=float(expires_in))).isoformat(),
            "token_scope": str(data.get("scope") or ""),
        }
        self.context.credentials = credentials
        self.context.save_credentials(credentials)
        return token

    # --- one platform call ------------------------------------------------------------------------------------

    def _classify(self, response: requests.Response, *, secrets: Iterable[str] = ()) -> ConnectorError | None:
        """default_classify, with Flipkart's own words in the message and no secret in message or raw."""
        error = default_classify(response)
        if error is None:
            return None
        raw = response.content or b""
        text = raw.decode("utf-8", errors="replace")
        for secret in secrets:
            if secret:
                text = text.replace(secret, "***")
        try:
            words = _description(json.loads(text))
        except ValueError:
            words = ""
        where = urlsplit(response.url).path
        message = f"Flipkart answered {response.status_code} to {response.request.method} {where}"
        error.message = f"{message}: {words[:300]}" if words else message
        error.args = (error.message,)
        error.raw = text
        return error

    def _url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def _call(self, method: str, url: str, *, operation: str, timeout: float | None = None, **kwargs: Any) -> Any:
        """An authenticated call; a 401 gets one fresh token and one more try. Returns the decoded JSON."""
        token = self._cached_token() or self._fetch_token()
        if timeout is not None:
            kwargs["timeout"] = max(timeout, self.http.timeout)
        for attempt in (1, 2):
            current = token
            try:
                response = self.http.request(
                    method, url, operation=operation,
                    classify=lambda r, t=current: self._classify(r, secrets=(t,)),
                    headers={"Authorization": f"Bearer {current}", "Accept": "application/json"}, **kwargs,
                )
            except AuthError as exc:
                if exc.status_code == 401 and attempt == 1:
                    token = self._fetch_token()
                    continue
                raise
            return HttpClient.json(response)
        raise AssertionError("unreachable")  # pragma: no cover

    # --- test -------------------------------------------------------------------------------------------------

    def test_connection(self) -> dict[str, Any]:
        """Get a token and run a one-shipment search: proves both the application and its order access."""
        token_was_cached = self._cached_token() is not None
        data = self._call("POST", self._url("/sellers/v3/shipments/filter"), operation="shipments_search",
                          timeout=ORDER_API_TIMEOUT, json=self._filter_body(STREAMS[0], None, None, page_size=1))
        if not isinstance(data, dict) or not isinstance(data.get("shipments"), list):
            raise PermanentError("Flipkart's shipment search answer has no shipments list", raw=json.dumps(data)[:2000])
        app_id, _secret = self._app_credentials()
        return {
            "external_account_id": app_id,
            "token_scope": self.context.credentials.get("token_scope", ""),
            "token_expires_at": self.context.credentials.get("access_token_expires_at", ""),
            "token_reused": token_was_cached,
            "orders_to_dispatch": bool(data["shipments"]),
        }

    # --- orders -----------------------------------------------------------------------------------------------


    def _filter_body(self, stream: tuple, since: str | None, until: str | None, *, page_size: int) -> dict:
        kind, states, cancellation, _group = stream
        flt: dict[str, Any] = {"type": kind, "states": list(states), "serviceProfiles": SERVICE_PROFILES}
        if cancellation:
            flt["cancellationType"] = cancellation
        if since or until:
            flt["modifiedDate"] = {k: v for k, v in (("from", since), ("to", until)) if v}
        return {"filter": flt, "pagination": {"pageSize": page_size}, "sort": {"field": "modifiedDate", "order": "asc"}}

    @staticmethod
    def _decode_cursor(cursor: str) -> dict[str, Any]:
        try:
            state = json.loads(cursor)
            if (isinstance(state, dict) and isinstance(state.get("stream"), int) and 0 <= state["stream"] < len(STREAMS)
                    and isinstance(state.get("from"), str) and isinstance(state.get("to"), str)
                    and (state.get("next") is None or isinstance(state["next"], str))):
                return state
        except ValueError:
            pass
        raise ValueError("Unreadable Flipkart orders cursor: start the sync again from its last checkpoint")

    def _next_url(self, next_page_url: str) -> str:
        """nextPageUrl is relative to the /sellers API root; an absolute one must stay on the same host."""
        if next_page_url.startswith(("http://", "https://")):
            if urlsplit(next_page_url).netloc != urlsplit(self.base_url).netloc:
                raise PermanentError("Flipkart's nextPageUrl points at another host", raw=next_page_url)
            return next_page_url
        if next_page_url.startswith("/sellers/"):
            return self._url(next_page_url)
        return self._url("/sellers" + ("" if next_page_url.startswith("/") else "/") + next_page_url)

    def fetch_orders(self, *, since: datetime, cursor: str | None = None) -> Page[OrderData]:
        state = self._decode_cursor(cursor) if cursor else {
            "stream": 0, "next": None, "from": _utc_iso(since), "to": _utc_iso(datetime.now(UTC))}
        while state["stream"] < len(STREAMS):
            stream = STREAMS[state["stream"]]
            if state["next"]:
                data = self._call("GET", self._next_url(state["next"]), operation="shipments_search",
                                  timeout=ORDER_API_TIMEOUT)
            else:
                data = self._call("POST", self._url("/sellers/v3/shipments/filter"), operation="shipments_search",
                                  timeout=ORDER_API_TIMEOUT,
                                  json=self._filter_body(stream, state["from"], state["to"],
                                                         page_size=self.configured_page_size(MAX_PAGE_SIZE)))
            if not isinstance(data, dict) or not isinstance(data.get("shipments"), list):
                raise PermanentError("Flipkart's shipment search answer has no shipments list", raw=json.dumps(data)[:5000])
            if data.get("hasMore"):
                if not isinstance(data.get("nextPageUrl"), str) or not data["nextPageUrl"]:
                    raise PermanentError("Flipkart said hasMore without a nextPageUrl", raw=json.dumps(data)[:5000])
                following = {**state, "next": data["nextPageUrl"]}
            else:
                following = {**state, "stream": state["stream"] + 1, "next": None}
            next_cursor = json.dumps(following, separators=(",", ":")) if following["stream"] < len(STREAMS) else None
            if data["shipments"]:
                return Page(items=self._orders_for(data["shipments"], group=stream[3], window=state),
                            next_cursor=next_cursor)
            state = following
        return Page(items=[], next_cursor=None)

    def _shipments_by(self, kind: str, ids: Sequence[str]) -> list[dict]:
        shipments: list[dict] = []
        for chunk in chunked(list(ids), MAX_IDS_PER_CALL):
            data = self._call("GET", self._url("/sellers/v3/shipments"), operation="shipments_get",
                              timeout=ORDER_API_TIMEOUT, params={kind: ",".join(chunk)})
            if not isinstance(data, dict) or not isinstance(data.get("shipments"), list):
                raise PermanentError("Flipkart's shipments answer has no shipments list", raw=json.dumps(data)[:5000])
            shipments.extend(s for s in data["shipments"] if isinstance(s, dict))
        return shipments

    def _shipment_details(self, shipment_ids: Sequence[str]) -> dict[str, dict]:
        details: dict[str, dict] = {}
        for chunk in chunked(list(shipment_ids), DETAILS_PER_CALL):
            ids = ",".join(quote(i, safe="") for i in chunk)
            data = self._call("GET", self._url(f"/sellers/v3/shipments/{ids}"), operation="shipments_get",
                              timeout=ORDER_API_TIMEOUT)
            if not isinstance(data, dict) or not isinstance(data.get("shipments"), list):
                raise PermanentError("Flipkart's shipment details answer has no shipments list",
                                     raw=json.dumps(data)[:5000])
            details.update({d["shipmentId"]: d for d in data["shipments"] if isinstance(d, dict) and d.get("shipmentId")})
        return details

    @staticmethod
    def _order_id(shipment: dict) -> str:
        items = shipment.get("orderItems")
        if not isinstance(items, list) or not items or not isinstance(items[0], dict) or not items[0].get("orderId"):
            raise PermanentError(f"Flipkart shipment {shipment.get('shipmentId')} has no order items",
                                 raw=json.dumps(shipment)[:5000])
        return str(items[0]["orderId"])

    def _orders_for(self, page: list[dict], *, group: str, window: dict) -> list[OrderData]:
        order_ids = list(dict.fromkeys(self._order_id(s) for s in page if isinstance(s, dict)))
        by_order: dict[str, list[dict]] = {order_id: [] for order_id in order_ids}
        for shipment in self._shipments_by("orderIds", order_ids):
            by_order.setdefault(self._order_id(shipment), []).append(shipment)
        for shipment in page:  # a shipment the re-read missed (it moved meanwhile) still counts
            known = {s.get("shipmentId") for s in by_order[self._order_id(shipment)]}
            if shipment.get("shipmentId") not in known:
                by_order[self._order_id(shipment)].append(shipment)
        on_page = {s.get("shipmentId") for s in page}
        owned = {}
        for order_id in order_ids:
            owner, anchor = self._owner(by_order[order_id], window)
            # Emit each order once per run: on the page that holds its anchor shipment, in its owner group.
            if owner is None or (owner == group and anchor in on_page):
                owned[order_id] = by_order[order_id]
        details = self._shipment_details([s["shipmentId"] for ships in owned.values() for s in ships if s.get("shipmentId")])
        return [self._order(order_id, ships, details) for order_id, ships in owned.items()]

    @staticmethod
    def _owner(shipments: list[dict], window: dict) -> tuple[str | None, str | None]:
        """Which stream group emits this order in this run, and from which shipment's page.

        The group is the first (pre, post, cancelled) whose states hold a shipment updated within the
        run's window; the anchor is the lowest shipment id among those, so it sits on exactly one page.
        """
        since, until = _parse_datetime(window["from"], "window"), _parse_datetime(window["to"], "window")
        for group, states in GROUP_STATES.items():
            matching = []
            for shipment in shipments:
                try:
                    updated = _parse_datetime(shipment.get("updatedAt"), "updatedAt")
                except PermanentError:
                    continue
                statuses = {i.get("status") for i in shipment.get("orderItems") or [] if isinstance(i, dict)}
                if statuses & set(states) and since <= updated <= until and shipment.get("shipmentId"):
                    matching.append(str(shipment["shipmentId"]))
            if matching:
                return group, min(matching)
        return None, None

    def _order(self, order_id: str, shipments: list[dict], details: dict[str, dict]) -> OrderData:
        raw = {"orderId": order_id, "shipments": shipments,
               "shipmentDetails": [details[s["shipmentId"]] for s in shipments if s.get("shipmentId") in details]}
        try:
            lines, statuses, raw_statuses, placed, updated = [], [], [], [], []
            total_live, total_all = Decimal("0"), Decimal("0")
            marketplace = False
            for shipment in shipments:
                updated.append(_parse_datetime(shipment.get("updatedAt"), "shipment updatedAt"))
                for item in shipment.get("orderItems") or []:
                    status = str(item.get("status") or "")
                    normalized = ITEM_STATUS.get(status)
                    if normalized is None:
                        logger.warning("Flipkart order %s has an item in unknown state %s", order_id, status[:40])
                        normalized = OrderStatus.PENDING
                    if shipment.get("hold") and normalized == OrderStatus.UNSHIPPED:
                        normalized = OrderStatus.PENDING
                    statuses.append(normalized)
                    raw_statuses.append(status + ("(hold)" if shipment.get("hold") and status in PRE_DISPATCH else ""))
                    placed.append(_parse_datetime(item.get("orderDate"), "orderDate"))
                    quantity = item.get("quantity")
                    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
                        raise PermanentError(f"Flipkart order item {item.get('orderItemId')} has no quantity",
                                             raw=json.dumps(item)[:5000])
                    prices = item.get("priceComponents") or {}
                    shipping = _money(prices.get("shippingCharge") or 0)
                    line_total = _money(prices["totalPrice"]) if prices.get("totalPrice") is not None else (
                        _money(prices["sellingPrice"]) * quantity + shipping)
                    # totalPrice covers the whole quantity plus shipping, whichever way sellingPrice is quoted.
                    unit = ((line_total - shipping) / quantity).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
                    total_all += line_total
                    if normalized != OrderStatus.CANCELLED:
                        total_live += line_total
                    marketplace = marketplace or item.get("serviceProfile") in MARKETPLACE_PROFILES
                    if not item.get("orderItemId") or not item.get("sku"):
                        raise PermanentError(f"Flipkart order {order_id} has an item without id or SKU",
                                             raw=json.dumps(item)[:5000])
                    lines.append(OrderLineData(external_id=str(item["orderItemId"]), sku=str(item["sku"]),
                                               title=str(item.get("title") or item["sku"]), quantity=quantity,
                                               unit_price=unit, raw=item))
        except (AttributeError, KeyError, TypeError, InvalidOperation) as exc:
            raise PermanentError(f"Flipkart order {order_id} has unreadable items ({type(exc).__name__})",
                                 raw=json.dumps(raw)[:5000]) from exc
        if not lines:
            raise PermanentError(f"Flipkart order {order_id} has no order items", raw=json.dumps(raw)[:5000])
        live = [s for s in statuses if s != OrderStatus.CANCELLED]
        status = min(live, key=PROGRESS.index) if live else OrderStatus.CANCELLED
        detail = next(iter(raw["shipmentDetails"]), {})
        buyer = detail.get("buyerDetails") or {}
        address = detail.get("deliveryAddress") or {}
        return OrderData(
            external_id=order_id, status=status, raw_status=",".join(dict.fromkeys(raw_statuses))[:100],
            placed_at=min(placed), updated_at=max(updated), currency=self.default_currency,
            total=total_live if live else total_all, lines=lines,
            fulfilment_channel=FulfilmentChannel.MARKETPLACE if marketplace else FulfilmentChannel.MERCHANT,
            buyer_name=" ".join(p for p in (buyer.get("firstName"), buyer.get("lastName")) if p),
            shipping_address=self._address(address), raw=raw,
        )

    @staticmethod
    def _address(address: dict) -> dict[str, Any]:
        if not address:
            return {}
        name = " ".join(p for p in (address.get("firstName"), address.get("lastName")) if p)
        result = {"name": name, "line1": address.get("addressLine1") or "", "line2": address.get("addressLine2") or "",
                  "landmark": address.get("landmark") or "", "city": address.get("city") or "",
                  "state": address.get("state") or "", "postcode": address.get("pinCode") or address.get("pincode") or "",
                  "country": "IN"}
        if address.get("contactNumber"):
            result["phone"] = address["contactNumber"]
        return result

    # --- listings ---------------------------------------------------------------------------------------------

    def _listings(self, skus: Sequence[str]) -> dict[str, dict]:
        """GET /listings/v3/{skuIds}, ten at a time; SKUs Flipkart calls unavailable or invalid are left out."""
        found: dict[str, dict] = {}
        for chunk in chunked(list(dict.fromkeys(skus)), SKUS_PER_CALL):
            ids = ",".join(quote(s, safe="") for s in chunk)
            data = self._call("GET", self._url(f"/sellers/listings/v3/{ids}"), operation="listings_get")
            available = data.get("available") if isinstance(data, dict) else None
            if not isinstance(available, dict):
                raise PermanentError("Flipkart's listings answer has no available map", raw=json.dumps(data)[:5000])
            found.update({sku: listing for sku, listing in available.items() if isinstance(listing, dict)})
        return found

    def _location(self, listing: dict) -> tuple[dict | None, str]:
        """The listing location Haat manages, or why there is none."""
        locations = [loc for loc in listing.get("locations") or [] if isinstance(loc, dict) and loc.get("id")]
        wanted = self.context.config.get("location_id")
        if wanted:
            chosen = next((loc for loc in locations if loc["id"] == wanted), None)
            return (chosen, "") if chosen else (None, f"The listing is not stocked at location {wanted}")
        if len(locations) == 1:
            return locations[0], ""
        if not locations:
            return None, "The listing has no Flipkart location"
        return None, ("The listing is stocked at several Flipkart locations "
                      f"({', '.join(loc['id'] for loc in locations)}): set the dispatch location id of this channel")

    def fetch_products(self, *, cursor: str | None = None) -> Page[ProductData]:
        data = self._call("POST", self._url("/sellers/listings/v3/search"), operation="listings_search",
                          json={"page_id": cursor})
        if not isinstance(data, dict):
            raise PermanentError("Flipkart's listing search answer is not an object", raw=json.dumps(data)[:5000])
        listings = data.get("listings") or []
        listings = [listings] if isinstance(listings, dict) else listings
        skus = [str(item["sku_id"]) for item in listings if isinstance(item, dict) and item.get("sku_id")]
        details = self._listings(skus)
        products = []
        for sku in skus:
            listing = details.get(sku)
            if listing is None:
                logger.info("Flipkart listed SKU %s in search but not in its listing details", sku[:64])
                continue
            products.append(self._product(sku, listing))
        more = data.get("has_more") and data.get("next_page_id")
        return Page(items=products, next_cursor=str(data["next_page_id"]) if more else None)

    def _product(self, sku: str, listing: dict) -> ProductData:
        price = listing.get("price") or {}
        selling = price.get("selling_price", price.get("flipkart_selling_price"))
        location, _why = self._location(listing)
        enabled = [loc for loc in listing.get("locations") or [] if isinstance(loc, dict) and loc.get("status") == "ENABLED"]
        quantity = location.get("inventory") if location else sum(int(loc.get("inventory") or 0) for loc in enabled)
        refs = {"product_id": str(listing.get("product_id") or ""), "listing_id": str(listing.get("listing_id") or "")}
        if location:
            refs.update(location_id=str(location["id"]), location_status=str(location.get("status") or "ENABLED"))
        if price.get("mrp") is not None:
            refs["mrp"] = str(price["mrp"])
        try:
            return ProductData(
                external_id=str(listing.get("listing_id") or sku), sku=sku,
                title=str(listing.get("product_title") or sku),
                price=_money(selling) if selling is not None else None,
                currency=str(price.get("currency") or self.default_currency),
                quantity=int(quantity) if quantity is not None else None,
                mrp=_money(price["mrp"]) if price.get("mrp") is not None else None,
                external_refs=refs, raw=listing,
            )
        except (InvalidOperation, TypeError, ValueError) as exc:
            raise PermanentError(f"Flipkart listing {sku} has an unreadable price or stock",
                                 raw=json.dumps(listing)[:5000]) from exc

    def _push(self, path: str, body: dict[str, dict]) -> dict[str, PushResult]:
        """One listings update; per-SKU answers. A refused request fails its SKUs, not the whole push."""
        try:
            data = self._call("POST", self._url(path), operation="listings_update", json=body)
        except PermanentError as exc:
            return {sku: PushResult(sku=sku, ok=False, error=exc.message, raw={"body": exc.raw or ""}) for sku in body}
        results = {}
        for sku in body:
            answer = data.get(sku) if isinstance(data, dict) else None
            if not isinstance(answer, dict):
                results[sku] = PushResult(sku=sku, ok=False, error="Flipkart did not answer for this SKU")
                continue
            problems = [e for e in (answer.get("errors") or []) + (answer.get("attribute_errors") or []) if isinstance(e, dict)]
            words = "; ".join(f"{e.get('code')}: {e.get('description')}" for e in problems if e.get("severity") != "WARNING")
            ok = answer.get("status") in ("SUCCESS", "WARNING")
            results[sku] = PushResult(sku=sku, ok=ok, error="" if ok else (words or f"Flipkart answered {answer.get('status')}"),
                                      raw=answer)
        return results

    def _refs_for(self, updates: Sequence[StockUpdate | PriceUpdate], needed: tuple[str, ...]) -> dict[str, dict]:
        """Each SKU's listing facts: from external_refs when complete, else read from Flipkart (one call per ten)."""
        missing = [u.sku for u in updates if not all(u.external_refs.get(k) for k in needed)]
        listings = self._listings(missing) if missing else {}
        facts: dict[str, dict] = {}
        for update in updates:
            if update.sku in listings:
                listing = listings[update.sku]
                location, why = self._location(listing)
                facts[update.sku] = {"product_id": listing.get("product_id"), "location": location, "why": why,
                                     "mrp": (listing.get("price") or {}).get("mrp")}
            elif all(update.external_refs.get(k) for k in needed):
                refs = update.external_refs
                wanted = self.context.config.get("location_id")
                location = {"id": refs.get("location_id"), "status": refs.get("location_status") or "ENABLED"}
                why = ("" if not wanted or wanted == refs.get("location_id")
                       else f"The listing is not stocked at location {wanted}")
                facts[update.sku] = {"product_id": refs["product_id"], "location": None if why else location, "why": why,
                                     "mrp": refs.get("mrp")}
            else:
                facts[update.sku] = {"why": "Flipkart has no listing for this SKU"}
        return facts

    def push_stock(self, updates: Sequence[StockUpdate]) -> list[PushResult]:
        results, valid = screen_push(updates, stock_problem)
        for chunk in chunked(valid, SKUS_PER_CALL):
            facts = self._refs_for([u for _i, u in chunk], ("product_id", "location_id", "location_status"))
            body = {}
            for index, update in chunk:
                fact = facts[update.sku]
                if fact.get("why") or not fact.get("location"):
                    results[index] = PushResult(sku=update.sku, ok=False, error=fact.get("why") or "No location")
                    continue
                location = fact["location"]
                body[update.sku] = {"product_id": fact["product_id"], "locations": [
                    {"id": location["id"], "status": location.get("status") or "ENABLED", "inventory": update.quantity}]}
            answers = self._push("/sellers/listings/v3/update/inventory", body) if body else {}
            for index, update in chunk:
                results[index] = results[index] or answers[update.sku]
        return [r for r in results if r is not None]

    def push_prices(self, updates: Sequence[PriceUpdate]) -> list[PushResult]:
        results, valid = screen_push(updates, self._price_problem)
        for chunk in chunked(valid, SKUS_PER_CALL):
            needed = ("product_id",) if all(u.mrp is not None for _i, u in chunk) else ("product_id", "mrp")
            facts = self._refs_for([u for _i, u in chunk], needed)
            body = {}
            for index, update in chunk:
                fact = facts[update.sku]
                if not fact.get("product_id"):
                    results[index] = PushResult(sku=update.sku, ok=False, error=fact.get("why") or "No listing")
                    continue
                mrp = update.mrp if update.mrp is not None else fact.get("mrp")
                try:
                    mrp = Decimal(str(mrp)) if mrp is not None else None
                except InvalidOperation:
                    mrp = None
                if mrp is None or mrp != mrp.to_integral_value() or update.price > mrp:
                    results[index] = PushResult(sku=update.sku, ok=False, error=(
                        "Flipkart needs a whole-rupee MRP not below the selling price" if mrp is not None
                        else "Flipkart needs the MRP with the price, and the listing has none"))
                    continue
                body[update.sku] = {"product_id": fact["product_id"], "price": {
                    "mrp": int(mrp), "selling_price": int(update.price), "currency": "INR"}}
            answers = self._push("/sellers/listings/v3/update/price", body) if body else {}
            for index, update in chunk:
                results[index] = results[index] or answers[update.sku]
        return [r for r in results if r is not None]

    @staticmethod
    def _price_problem(update: PriceUpdate) -> str:
        if (update.currency or "").upper() != "INR":
            return f"Flipkart sells in INR only, not {update.currency}"
        for label, value in (("price", update.price), ("MRP", update.mrp)):
            if value is None:
                continue
            if not isinstance(value, Decimal) or value <= 0:
                return f"The {label} must be a positive amount"
            if value != value.to_integral_value():
                return f"Flipkart prices are whole rupees: {value} is not"
        if update.mrp is not None and update.price > update.mrp:
            return "The selling price cannot be above the MRP"
        return ""

    # --- fulfilment -------------------------------------------------------------------------------------------

    def push_fulfilment(self, fulfilment: FulfilmentData) -> FulfilmentResult:
        """Self-ship dispatch: mark the order's shipments SHIPPED with courier, tracking id and invoice date.

        Shipments Flipkart's own logistics carry (standard fulfilment) get their tracking from Flipkart:
        for those Haat says so instead of calling.
        """
        if not (fulfilment.carrier or "").strip():
            return FulfilmentResult(ok=False, error="Flipkart self-ship dispatch needs the courier's name")
        shipments = self._shipments_by("orderIds", [fulfilment.order_external_id])
        if not shipments:
            return FulfilmentResult(ok=False, error=f"Flipkart has no shipment for order {fulfilment.order_external_id}")
        wanted = {line.external_line_id: line.quantity for line in fulfilment.lines}
        now = datetime.now(UTC)
        shipped_at = min(fulfilment.shipped_at.astimezone(UTC), now)
        transit = int(self.context.config.get("self_ship_transit_days") or DEFAULT_TRANSIT_DAYS)
        codes = self.context.config.get("delivery_partner_codes") or {}
        entries, covered = [], set()
        for shipment in shipments:
            # Cancelled items stay behind; the rest of the shipment travels.
            items = [i for i in shipment.get("orderItems") or [] if isinstance(i, dict) and i.get("status") != "CANCELLED"]
            ids = {str(i.get("orderItemId")) for i in items}
            if not items or (wanted and not ids & set(wanted)):
                continue
            sid = shipment.get("shipmentId")
            statuses = {i.get("status") for i in items}
            if statuses <= set(POST_DISPATCH):
                if wanted:
                    return FulfilmentResult(ok=False, error=f"Shipment {sid} is already {', '.join(sorted(statuses))}")
                continue
            if wanted and (not ids <= set(wanted) or any(wanted[str(i["orderItemId"])] != i.get("quantity") for i in items)):
                return FulfilmentResult(ok=False, error=(
                    f"Flipkart dispatches shipment {sid} whole: include all its items with their full quantities"))
            if shipment.get("shipmentType") != "SELF":
                return FulfilmentResult(ok=False, error=(
                    f"Shipment {sid} travels with Flipkart's logistics partner: Flipkart sets its tracking, "
                    "Haat cannot"))
            if shipment.get("hold"):
                return FulfilmentResult(ok=False, error=f"Flipkart holds shipment {sid} for verification: wait for it")
            covered |= ids
            entry = {
                "shipmentId": sid, "locationId": shipment.get("locationId"),
                "dispatchDate": shipped_at.astimezone(IST).isoformat(timespec="seconds"),
                "tentativeDeliveryDate": (max(shipped_at, now) + timedelta(days=transit)).astimezone(IST)
                .isoformat(timespec="seconds"),
                "deliveryPartner": fulfilment.carrier.strip(),
                "invoice": {"invoiceDate": shipped_at.astimezone(IST).date().isoformat(),
                            "items": [{"orderItemId": str(i["orderItemId"]), "quantity": i["quantity"]} for i in items]},
            }
            if fulfilment.tracking_number:
                entry["trackingId"] = fulfilment.tracking_number.strip()
            if codes.get(fulfilment.carrier.strip()):
                entry["deliveryPartnerCode"] = codes[fulfilment.carrier.strip()]
            entries.append(entry)
        unknown = set(wanted) - {str(i.get("orderItemId")) for s in shipments for i in s.get("orderItems") or []}
        if unknown:
            return FulfilmentResult(ok=False, error=f"Order items not in this Flipkart order: {', '.join(sorted(unknown))}")
        if not entries:
            return FulfilmentResult(ok=False, error="Nothing left to dispatch: every shipment has left already")
        data = self._call("POST", self._url("/sellers/v3/shipments/selfShip/dispatch"), operation="self_ship_dispatch",
                          timeout=ORDER_API_TIMEOUT, json={"shipments": entries})
        answers = data.get("shipments") if isinstance(data, dict) else None
        if not isinstance(answers, list):
            raise PermanentError("Flipkart's dispatch answer has no shipments list", raw=json.dumps(data)[:5000])
        by_id = {a.get("shipmentId"): a for a in answers if isinstance(a, dict)}
        failed = [f"{e['shipmentId']}: {(by_id.get(e['shipmentId']) or {}).get('errorMessage') or 'no answer'}"
                  for e in entries if (by_id.get(e["shipmentId"]) or {}).get("processingStatus") != "SUCCESS"]
        return FulfilmentResult(ok=not failed, external_id=",".join(e["shipmentId"] for e in entries),
                                error="; ".join(failed), raw=data)

