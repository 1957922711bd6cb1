"""Amazon Selling Partner API: orders (Orders API 2026-01-01), listings, stock, prices, shipments, FBA stock.

One connection may span several SP-API regions (NA, EU with India, FE). Amazon makes a seller authorise an
app separately in each region's Seller Central, and each authorisation has its own refresh token, access
token and selling partner id, valid only against that region's endpoint. So the credentials keep one token
set per region (`{"regions": {"eu": {...}, "na": {...}}}`; the flat shape of connections made before is
read as the home region's and rewritten in the new shape at the first refresh), the config keeps each
region's selling partner id (`selling_partner_ids`; `external_account_id` stays the home region's), and
every call goes to the region of the marketplace it concerns, with that region's token.

The SP-API calls are made by python-amazon-sp-api (`sp_api`): it builds each request and parses each
answer. Three things are redirected when a client is built (`_api`, one client per API and region):

- its endpoint is the region's host (or the region's path under the sandbox in demo and tests);
- its httpx client is ours, over `PolicyTransport`, which puts every request through Haat's HttpClient
  policy (token bucket per operation, retries with backoff honouring x-amzn-RateLimit-Limit, request
  counts) and turns Amazon's error bodies into typed connector errors;
- its access token comes from this connector (`auth_token_client_class`).

Login with Amazon (code exchange, refresh) is done here over the same transport, not by the library's
AccessTokenClient: that client caches tokens in a process-wide dict for a fixed 3200 s keyed by refresh
token, ignores `expires_in`, cannot send the `redirect_uri` the authorization_code grant needs, and
reports every LWA failure as one exception type. Haat keeps each region's access token and expiry
in the connection's encrypted credentials, refreshes a minute before expiry, and tells a revoked grant (AuthError,
needs re-authorisation) from refused app credentials (PermanentError: the LWA client secret, which Amazon
makes developers rotate, needs updating).

Two quirks of sp_api 2.1.35 are handled here: it sends `host: endpoint[8:]` (wrong for any endpoint that
is not https://<host>), so the transport sets Host from the URL; and for PUT it copies four marketplace
keys into the JSON body, so the listing PUT calls the library's `_request` with `add_marketplace=False`.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlencode

import httpx
from django.conf import settings
from sp_api.api import Inventories, ListingsItemsV20210801, OrdersV0, OrdersV20260101, Sellers
from sp_api.auth import AccessTokenResponse
from sp_api.base import Client, Marketplaces, fill_query_params
from sp_api.base._transport_httpx import HttpxTransport
from sp_api.base.credential_provider import FromCodeCredentialProvider
from sp_api.base.exceptions import SellingApiException

from apps.core.logging import redact
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
    OAuthTokens,
    OrderData,
    OrderLineData,
    OrderStatus,
    Page,
    PriceUpdate,
    ProductData,
    PushResult,
    StockUpdate,
)
from apps.integrations.connectors.errors import (
    AuthError,
    ConnectorError,
    PermanentError,
    RateLimited,
    TransientError,
)
from apps.integrations.http import HttpClient, RateLimit, retry_after_seconds

logger = logging.getLogger(__name__)

LWA_TOKEN_URL = "https://api.amazon.com/auth/o2/token"
REGION_ENDPOINTS = {
    "na": "https://sellingpartnerapi-na.amazon.com",
    "eu": "https://sellingpartnerapi-eu.amazon.com",
    "fe": "https://sellingpartnerapi-fe.amazon.com",
}
REGION_NAMES = {"na": "North America", "eu": "Europe and India", "fe": "Far East"}
TOKEN_KEYS = ("refresh_token", "access_token", "access_token_expires_at")
USER_AGENT = "Haat/1.0 (Language=Python; python-amazon-sp-api)"
# Refresh the access token this long before Amazon's expiry, so a call never starts with a dying token.
REFRESH_MARGIN = timedelta(seconds=60)
INCLUDED_ORDER_DATA = ["BUYER", "RECIPIENT", "PROCEEDS", "FULFILLMENT", "PACKAGES"]
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Marketplace:
    id: str
    name: str
    region: str
    seller_central: str  # the Seller Central host that shows the consent page for this marketplace
    currency: str
    language: str


MARKETPLACES: dict[str, Marketplace] = {m.id: m for m in (
    Marketplace("A21TJRUUN4KGV", "Amazon.in (India)", "eu", "sellercentral.amazon.in", "INR", "en_IN"),
    Marketplace("ATVPDKIKX0DER", "Amazon.com (United States)", "na", "sellercentral.amazon.com", "USD", "en_US"),
    Marketplace("A2EUQ1WTGCTBG2", "Amazon.ca (Canada)", "na", "sellercentral.amazon.ca", "CAD", "en_CA"),
    Marketplace("A1F83G8C2ARO7P", "Amazon.co.uk (United Kingdom)", "eu", "sellercentral-europe.amazon.com", "GBP", "en_GB"),
    Marketplace("A1PA6795UKMFR9", "Amazon.de (Germany)", "eu", "sellercentral-europe.amazon.com", "EUR", "de_DE"),
    Marketplace("A2VIGQ35RCS4UG", "Amazon.ae (United Arab Emirates)", "eu", "sellercentral.amazon.ae", "AED", "en_AE"),
    Marketplace("A19VAU5U5O7RUS", "Amazon.sg (Singapore)", "fe", "sellercentral.amazon.sg", "SGD", "en_SG"),
    Marketplace("A39IBJ37TRP1C6", "Amazon.com.au (Australia)", "fe", "sellercentral.amazon.com.au", "AUD", "en_AU"),
)}
INDIA = "A21TJRUUN4KGV"

# Carrier names Amazon accepts as `carrierCode`; any other carrier goes as "Other" with its name.
CARRIER_CODES = {c.lower(): c for c in ("India Post", "Blue Dart", "Delhivery", "DTDC", "UPS", "USPS", "FedEx", "DHL",
                                         "Royal Mail", "Canada Post")}

# Which SP-API operation a request is, from its method and path (the path may carry the sandbox prefix).
_OPERATIONS: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"/auth/o2/token$"), "lwaToken"),
    ("GET", re.compile(r"/orders/2026-01-01/orders$"), "searchOrders"),
    ("POST", re.compile(r"/orders/v0/orders/[^/]+/shipmentConfirmation$"), "confirmShipment"),
    ("GET", re.compile(r"/fba/inventory/v1/summaries$"), "getInventorySummaries"),
    ("GET", re.compile(r"/listings/2021-08-01/items/[^/]+$"), "searchListingsItems"),
    ("GET", re.compile(r"/listings/2021-08-01/items/[^/]+/.+$"), "getListingsItem"),
    ("PATCH", re.compile(r"/listings/2021-08-01/items/[^/]+/.+$"), "patchListingsItem"),
    ("PUT", re.compile(r"/listings/2021-08-01/items/[^/]+/.+$"), "putListingsItem"),
    ("GET", re.compile(r"/sellers/v1/marketplaceParticipations$"), "getMarketplaceParticipations"),
]


def operation_for(method: str, path: str) -> str:
    for op_method, pattern, name in _OPERATIONS:
        if method == op_method and pattern.search(path):
            return name
    return "default"


def new_transport() -> httpx.BaseTransport:
    """The network under the policy layer. Tests replace this to reach the sandbox in-process."""
    return httpx.HTTPTransport(retries=0)


# --- the policy transport -------------------------------------------------------------------------------------


def _amazon_error(body: bytes, *, lwa: bool) -> tuple[str, str]:
    """(code, human text) from an SP-API `{"errors": [...]}` or an LWA `{"error", "error_description"}` body."""
    try:
        data = json.loads(body)
    except ValueError:
        return "", ""
    if not isinstance(data, dict):
        return "", ""
    if lwa:
        return str(data.get("error") or ""), str(data.get("error_description") or "")
    errors = data.get("errors")
    if not isinstance(errors, list) or not errors:
        return "", ""
    texts = []
    for error in errors:
        if isinstance(error, dict):
            text = " ".join(str(error.get(k) or "").strip() for k in ("message", "details")).strip()
            texts.append(text)
    first = errors[0] if isinstance(errors[0], dict) else {}
    return str(first.get("code") or ""), "; ".join(t for t in texts if t)


def _rate_header(headers: httpx.Headers) -> float | None:
    try:
        rate = float(headers.get("x-amzn-RateLimit-Limit", ""))
    except ValueError:
        return None
    return rate if rate > 0 else None


def classify(response: httpx.Response, operation: str) -> ConnectorError | None:
    """A typed error for an unusable answer; None when the answer can be used.

    The raw body is kept on the error, except that a Login with Amazon body is masked first: even a broken
    token answer may carry part of a token.
    """
    status, body = response.status_code, response.content
    if operation == "lwaToken":
        body = redact(body.decode("utf-8", errors="replace")).encode()
    if status < 400:
        if body.strip():
            try:
                json.loads(body)
            except ValueError:
                return PermanentError(f"Malformed JSON from Amazon {operation} (HTTP {status})", raw=body, status_code=status)
        return None
    lwa = operation == "lwaToken"
    code, text = _amazon_error(body, lwa=lwa)
    detail = f"{code}: {text}" if code and text else (code or text or "no error details")
    message = f"Amazon {operation} answered HTTP {status} ({detail})"
    if status == 429:
        retry_after = retry_after_seconds(response.headers)
        if retry_after is None and (rate := _rate_header(response.headers)):
            retry_after = 1.0 / rate  # the time one request's worth of quota takes to come back
        return RateLimited(message, retry_after=retry_after, raw=body, status_code=status)
    if status >= 500 or status == 408:
        return TransientError(message, raw=body, status_code=status)
    if lwa:
        if code in ("invalid_client", "unauthorized_client"):
            return PermanentError(
                f"Amazon refused Haat's Login with Amazon app credentials ({detail}). Check AMAZON_LWA_CLIENT_ID and "
                "AMAZON_LWA_CLIENT_SECRET: Amazon requires the client secret to be rotated.", raw=body, status_code=status)
        if code == "invalid_grant":
            return AuthError(f"Amazon refused the seller's authorisation ({detail}). Authorise Haat again in Seller Central.",
                             raw=body, status_code=status)
        return PermanentError(message, raw=body, status_code=status)
    if status in (401, 403):
        return AuthError(message, raw=body, status_code=status)
    return PermanentError(message, raw=body, status_code=status)


class PolicyTransport(httpx.BaseTransport):
    """An httpx transport that gives every Amazon request Haat's HTTP policy (see the module docstring)."""

    def __init__(self, http: HttpClient, inner: httpx.BaseTransport):
        self.http = http
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        operation = operation_for(request.method, request.url.path)
        request.headers["host"] = request.url.netloc.decode("ascii")
        return self.http.call_with_retries(lambda: self._send_once(request, operation), operation)

    def _send_once(self, request: httpx.Request, operation: str) -> httpx.Response:
        self.http.throttle(operation)
        self.http.stats.count(operation)
        try:
            response = self.inner.handle_request(request)
            response.read()
        except httpx.TimeoutException as exc:
            raise TransientError(f"Timeout calling Amazon {operation}") from exc
        except httpx.TransportError as exc:
            raise TransientError(f"{type(exc).__name__} calling Amazon {operation}") from exc
        self._learn_rate(operation, response.headers)
        error = classify(response, operation)
        if error is not None:
            if isinstance(error, RateLimited):
                self.http.stats.rate_limited += 1
            raise error
        return response

    def _learn_rate(self, operation: str, headers: httpx.Headers) -> None:
        """Amazon grants some sellers more than the default usage plan: pace by what it says applies."""
        rate = _rate_header(headers)
        current = self.http.rate_limits.get(operation)
        if rate is None or current is None or abs(current.rate - rate) < 1e-9:
            return
        self.http.rate_limits[operation] = RateLimit(rate=rate, burst=current.burst)

    def close(self) -> None:
        self.inner.close()


def policy_client(http: HttpClient, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """An httpx client whose every request goes through `http`'s policy, over `transport` (or the network)."""
    return httpx.Client(transport=PolicyTransport(http, transport or new_transport()), timeout=http.timeout,
                        follow_redirects=False, headers={"User-Agent": USER_AGENT})


# --- small pure helpers ------------------------------------------------------------------------------------------


def _parse_time(value: Any) -> datetime:
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("timestamps passed to Amazon must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _money(value: Any) -> Decimal:
    """An SP-API Money amount (a decimal string) as Decimal."""
    amount = Decimal(str(value))
    if not amount.is_finite():
        raise InvalidOperation(value)
    return amount


def _wire_number(amount: Decimal) -> float:
    """A 2-decimal amount as the JSON number Amazon's attribute schemas require.

    Python prints a float with the shortest digits that read back the same, so 123.45 goes on the wire
    as exactly 123.45; the check below guards the rare value where that would not hold.
    """
    cents = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    number = float(cents)
    if Decimal(repr(number)) != cents:
        raise ValueError(f"{amount} cannot be sent exactly as a JSON number")
    return number


def _encode_cursor(data: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def _decode_cursor(cursor: str) -> dict[str, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError):
        raise PermanentError("The order cursor is not one this connector issued", raw=cursor) from None
    if not isinstance(data, dict) or not data.get("after") or not (data.get("token") or data.get("region")):
        raise PermanentError("The order cursor is not one this connector issued", raw=cursor)
    return data


def _order_status(raw: dict[str, Any]) -> tuple[OrderStatus, str]:
    """Amazon's fulfilment status, refined by package status where the order-level status stops at SHIPPED.

    Amazon's order statuses end at the hand-over to the carrier: delivery and a package coming back to the
    seller show only in `packages[].packageStatus` (merchant-fulfilled orders).
    """
    status = str((raw.get("fulfillment") or {}).get("fulfillmentStatus") or "")
    if status in ("PENDING", "PENDING_AVAILABILITY"):
        return OrderStatus.PENDING, status
    if status in ("UNSHIPPED", "PARTIALLY_SHIPPED"):
        return OrderStatus.UNSHIPPED, status
    if status in ("CANCELLED", "UNFULFILLABLE"):
        return OrderStatus.CANCELLED, status
    if status == "SHIPPED":
        states = [p.get("packageStatus") or {} for p in raw.get("packages") or [] if isinstance(p, dict)]
        if states and all(s.get("status") == "DELIVERED" for s in states):
            return OrderStatus.DELIVERED, "SHIPPED:DELIVERED"
        if states and all(s.get("detailedStatus") == "RETURNED_TO_SELLER" for s in states):
            return OrderStatus.RETURNED, "SHIPPED:RETURNED_TO_SELLER"
        return OrderStatus.SHIPPED, status
    logger.warning("unknown Amazon fulfillmentStatus %r on order %s", status, raw.get("orderId"))
    return OrderStatus.PENDING, status or "UNKNOWN"


def _address(raw: dict[str, Any]) -> dict[str, Any]:
    delivery = (raw.get("recipient") or {}).get("deliveryAddress") or {}
    mapping = {"name": "name", "line1": "addressLine1", "line2": "addressLine2", "line3": "addressLine3", "city": "city",
               "district": "districtOrCounty", "state": "stateOrRegion", "postcode": "postalCode", "country": "countryCode",
               "phone": "phone", "company": "companyName", "type": "addressType"}
    return {ours: delivery[theirs] for ours, theirs in mapping.items() if delivery.get(theirs)}


T = TypeVar("T")


class _HaatAccessToken:
    """Stands in for sp_api's AccessTokenClient: the library asks it for the access token Haat manages for
    one region."""

    def __init__(self, connector: AmazonConnector, region: str):
        self.connector = connector
        self.region = region

    def get_auth(self) -> AccessTokenResponse:
        return AccessTokenResponse(access_token=self.connector.access_token(self.region), token_type="bearer")

    def get_grantless_auth(self, scope: str = "") -> AccessTokenResponse:
        raise PermanentError("Haat makes no grantless SP-API calls")


# --- the connector ---------------------------------------------------------------------------------------------


class AmazonConnector(Connector):
    slug = "amazon"
    name = "Amazon"
    auth_kind = AuthKind.OAUTH
    capabilities = frozenset({
        Capability.ORDERS, Capability.PRODUCTS, Capability.STOCK_PUSH, Capability.PRICE_PUSH,
        Capability.LISTING_CREATE, Capability.FULFILMENT_PUSH, Capability.MARKETPLACE_INVENTORY,
    })
    # Amazon's default usage plans (requests per second, burst); x-amzn-RateLimit-Limit may raise them per seller.
    rate_limits: ClassVar[dict[str, RateLimit]] = {
        "searchOrders": RateLimit(rate=0.0056, burst=20),
        "confirmShipment": RateLimit(rate=2.0, burst=10),
        "getInventorySummaries": RateLimit(rate=2.0, burst=2),
        "searchListingsItems": RateLimit(rate=5.0, burst=5),
        "getListingsItem": RateLimit(rate=5.0, burst=10),
        "patchListingsItem": RateLimit(rate=5.0, burst=5),
        "putListingsItem": RateLimit(rate=5.0, burst=10),
        "getMarketplaceParticipations": RateLimit(rate=0.016, burst=15),
    }
    # searchOrders at 0.0056 req/s refills one request every three minutes after a burst of 20: ten minutes
    # between polls leaves room for a few pages per sync and for pushes.
    default_poll_interval = timedelta(minutes=10)
    # Amazon documents no order for searchOrders results, so the cursor may only advance after a whole run.
    orders_sorted_by_update = False
    default_currency = "INR"
    docs_url = "https://developer-docs.amazon.com/sp-api/docs/website-authorization-workflow"
    oauth_start_fields = (
        CredentialField(
            name="marketplace_id", label="Amazon marketplace", stored_in="config",
            choices=tuple((m.id, m.name) for m in MARKETPLACES.values()),
            help_text="The Amazon site you sell on. You will sign in to its Seller Central to authorise Haat. "
                      "Other marketplaces, of this region or of another one (e.g. .com next to .in), can be added "
                      "after connecting, from the channel's Amazon marketplaces page.",
        ),
    )

    def __init__(self, context: ConnectionContext, *, http: HttpClient | None = None, base_url: str | None = None,
                 transport: httpx.BaseTransport | None = None):
        super().__init__(context, http=http, base_url=base_url)
        # Rates learned from x-amzn-RateLimit-Limit belong to this client, never to the class-wide table.
        self.http.rate_limits = dict(self.http.rate_limits)
        self._httpx = policy_client(self.http, transport)
        self._apis: dict[tuple[type, str], Client] = {}
        self._refreshed: set[str] = set()

    def close(self) -> None:
        self._httpx.close()

    # --- description and configuration --------------------------------------------------------------------

    @classmethod
    def marketplace_ids(cls, config: dict[str, Any]) -> list[str]:
        """The connection's marketplaces, of any region, the home one first: `marketplace_ids`, else the one
        chosen at connect, else India."""
        ids = config.get("marketplace_ids") or ([config["marketplace_id"]] if config.get("marketplace_id") else [INDIA])
        if isinstance(ids, str):
            ids = [i.strip() for i in ids.split(",") if i.strip()]
        unknown = [i for i in ids if i not in MARKETPLACES]
        if unknown:
            raise PermanentError(f"Unknown or unsupported Amazon marketplace id(s): {', '.join(map(str, unknown))}")
        return list(dict.fromkeys(ids))

    @classmethod
    def home_region(cls, config: dict[str, Any]) -> str:
        """The region of the first authorisation: its selling partner id is the connection's account id."""
        region = config.get("home_region")
        return region if region in REGION_ENDPOINTS else MARKETPLACES[cls.marketplace_ids(config)[0]].region

    @classmethod
    def regions(cls, config: dict[str, Any]) -> list[str]:
        """The regions the connection's marketplaces are in, the home region first."""
        found = [cls.home_region(config)] + [MARKETPLACES[m].region for m in cls.marketplace_ids(config)]
        return list(dict.fromkeys(found))

    @classmethod
    def region_marketplace_ids(cls, config: dict[str, Any], region: str) -> list[str]:
        return [m for m in cls.marketplace_ids(config) if MARKETPLACES[m].region == region]

    @classmethod
    def region_tokens(cls, credentials: dict[str, Any], config: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """One token set per region. The flat shape stored before regions existed is the home region's."""
        regions = credentials.get("regions")
        if isinstance(regions, dict):
            return {r: dict(t) for r, t in regions.items() if r in REGION_ENDPOINTS and isinstance(t, dict)}
        flat = {k: credentials[k] for k in TOKEN_KEYS if credentials.get(k)}
        return {cls.home_region(config): flat} if flat else {}

    @classmethod
    def region_seller_ids(cls, config: dict[str, Any], external_account_id: str = "") -> dict[str, str]:
        home_seller = external_account_id or str(config.get("selling_partner_id") or "")
        ids = {r: str(s) for r, s in (config.get("selling_partner_ids") or {}).items() if r in REGION_ENDPOINTS and s}
        if home_seller:
            ids[cls.home_region(config)] = home_seller
        return ids

    @staticmethod
    def region_label(region: str) -> str:
        return f"{REGION_NAMES.get(region, region)} ({region.upper()})"

    @classmethod
    def default_base_url(cls, context: ConnectionContext) -> str:
        return REGION_ENDPOINTS[cls.home_region(context.config)]

    @classmethod
    def token_url(cls, config: dict[str, Any]) -> str:
        """The LWA token endpoint (one for every region): Amazon's, or the one at the sandbox `base_url`."""
        if config.get("lwa_token_url"):
            return str(config["lwa_token_url"])
        if config.get("base_url"):
            return str(config["base_url"]).rstrip("/") + "/auth/o2/token"
        return LWA_TOKEN_URL

    def region_endpoint(self, region: str) -> str:
        """Amazon's host for the region; under a sandbox `base_url`, the region's path there."""
        if self.base_url in REGION_ENDPOINTS.values():
            return REGION_ENDPOINTS[region]
        return f"{self.base_url}/{region}"

    @property
    def marketplace(self) -> Marketplace:
        """The connection's home marketplace (the first chosen): FBA stock is read there."""
        return MARKETPLACES[self.marketplace_ids(self.context.config)[0]]

    @property
    def marketplaces(self) -> list[Marketplace]:
        return [MARKETPLACES[i] for i in self.marketplace_ids(self.context.config)]

    @property
    def connected_regions(self) -> list[str]:
        return self.regions(self.context.config)

    def _listing_marketplaces(self, refs: dict[str, str]) -> list[Marketplace]:
        """The connection's marketplaces this listing has an offer on (from the products sync), else the home one."""
        listed = [i.strip() for i in str(refs.get("marketplace_ids") or "").split(",") if i.strip()]
        return [m for m in self.marketplaces if m.id in listed] or [self.marketplace]

    @property
    def seller_id(self) -> str:
        """The home region's selling partner id."""
        return self.seller_id_for(self.home_region(self.context.config))

    def seller_id_for(self, region: str) -> str:
        seller_id = self.region_seller_ids(self.context.config, self.context.external_account_id).get(region, "")
        if not seller_id:
            raise PermanentError(f"This Amazon connection does not know its selling partner id in "
                                 f"{self.region_label(region)}: authorise that region again.")
        return seller_id

    def _in_region(self, exc: ConnectorError, region: str) -> ConnectorError:
        """The error, its message naming the region when the connection spans several (which one to re-authorise)."""
        if len(self.connected_regions) > 1 and getattr(exc, "region", None) is None:
            exc.message = f"Amazon {self.region_label(region)}: {exc.message}"
            exc.args = (exc.message,)
            exc.region = region
        return exc

    # --- Login with Amazon -----------------------------------------------------------------------------------

    @staticmethod
    def _app_credentials() -> tuple[str, str]:
        client_id, client_secret = settings.AMAZON_LWA_CLIENT_ID, settings.AMAZON_LWA_CLIENT_SECRET
        if not client_id or not client_secret:
            raise PermanentError("AMAZON_LWA_CLIENT_ID and AMAZON_LWA_CLIENT_SECRET are not set: Haat cannot sign in to "
                                 "Amazon.")
        return client_id, client_secret

    @staticmethod
    def _lwa_post(client: httpx.Client, url: str, data: dict[str, str]) -> dict[str, Any]:
        response = client.post(url, data=data, headers={"Accept": "application/json"})
        answer = response.json() if response.content else {}
        if not isinstance(answer, dict) or not answer.get("access_token") or not isinstance(answer.get("expires_in"), int):
            fields = sorted(answer) if isinstance(answer, dict) else type(answer).__name__
            raise PermanentError(f"Login with Amazon answered without an access token (fields: {fields})",
                                 raw=redact(response.text), status_code=response.status_code)
        return answer

    @staticmethod
    def _token_credentials(answer: dict[str, Any], refresh_token: str) -> dict[str, Any]:
        expires_at = datetime.now(UTC) + timedelta(seconds=int(answer["expires_in"]))
        return {"refresh_token": answer.get("refresh_token") or refresh_token, "access_token": answer["access_token"],
                "access_token_expires_at": expires_at.isoformat()}

    @classmethod
    def authorization_url(cls, *, state: str, redirect_uri: str, params: dict[str, str], config: dict[str, Any]) -> str:
        """The consent page of the chosen marketplace's Seller Central (or of its region in the sandbox), with `state`.

        The marketplace decides the region the seller authorises: a connection adds a region by asking for
        consent on a marketplace of that region."""
        if not settings.AMAZON_SP_APP_ID:
            raise PermanentError("AMAZON_SP_APP_ID is not set: Haat has no Amazon application to authorise.")
        chosen = params.get("marketplace_id") or config.get("marketplace_id")
        marketplace = MARKETPLACES[cls.marketplace_ids({"marketplace_id": chosen} if chosen else config)[0]]
        if config.get("base_url"):
            root = f"{str(config['base_url']).rstrip('/')}/{marketplace.region}"
        else:
            root = f"https://{marketplace.seller_central}"
        query = {"application_id": settings.AMAZON_SP_APP_ID, "state": state, "redirect_uri": redirect_uri}
        if settings.AMAZON_AUTH_DRAFT_APP:
            query["version"] = "beta"
        return f"{root}/apps/authorize/consent?{urlencode(query)}"

    @classmethod
    def verify_callback(cls, *, params: dict[str, str], config: dict[str, Any]) -> None:
        if params.get("error"):
            raise AuthError(f"Amazon did not authorise Haat: {params.get('error_description') or params['error']}")
        code, seller = params.get("spapi_oauth_code", ""), params.get("selling_partner_id", "")
        if not code or not seller:
            raise AuthError("Amazon's answer lacks spapi_oauth_code or selling_partner_id: start connecting again.")
        if not re.fullmatch(r"[A-Z0-9]{5,32}", seller):
            raise AuthError("Amazon's answer carries a malformed selling_partner_id: start connecting again.")
        if len(code) > 512 or not re.fullmatch(r"[\x21-\x7e]+", code):
            raise AuthError("Amazon's answer carries a malformed spapi_oauth_code: start connecting again.")

    @classmethod
    def exchange_code(cls, *, callback_params: dict[str, str], redirect_uri: str, http: HttpClient,
                      config: dict[str, Any]) -> OAuthTokens:
        """Trade the five-minute, single-use spapi_oauth_code for the seller's refresh token in the consent's region.

        The tokens are those of a connection of that one region; `merge_grant` adds them to an existing one."""
        cls.verify_callback(params=callback_params, config=config)
        chosen = config.get("marketplace_id")
        marketplace_ids = cls.marketplace_ids({"marketplace_id": chosen} if chosen else config)[:1]
        region = MARKETPLACES[marketplace_ids[0]].region
        client_id, client_secret = cls._app_credentials()
        with policy_client(http) as client:
            answer = cls._lwa_post(client, cls.token_url(config), {
                "grant_type": "authorization_code", "code": callback_params["spapi_oauth_code"],
                "redirect_uri": redirect_uri, "client_id": client_id, "client_secret": client_secret,
            })
        if not answer.get("refresh_token"):
            raise PermanentError("Login with Amazon granted no refresh token", raw=json.dumps(sorted(answer)))
        seller = callback_params["selling_partner_id"]
        return OAuthTokens(
            credentials={"regions": {region: cls._token_credentials(answer, answer["refresh_token"])}},
            external_account_id=seller, display_name=f"{MARKETPLACES[marketplace_ids[0]].name} · {seller}",
            config={"marketplace_ids": marketplace_ids, "selling_partner_id": seller,
                    "selling_partner_ids": {region: seller}, "home_region": region},
        )

    @classmethod
    def merge_grant(cls, *, tokens: OAuthTokens, credentials: dict[str, Any], config: dict[str, Any],
                    external_account_id: str) -> OAuthTokens:
        """A new authorisation of one region added to an existing connection: that region's tokens, selling partner
        id and marketplace join (or replace) its own, and the other regions stay as they are.

        Called by the OAuth flow before saving, so reconnecting one region never drops the others. Raises
        PermanentError when the authorisation is of another seller than the one the connection has there.
        """
        region = tokens.config["home_region"]
        seller = tokens.external_account_id
        home = cls.home_region(config)
        known = cls.region_seller_ids(config, external_account_id)
        if known.get(region) and known[region] != seller:
            raise PermanentError(
                f"Amazon authorised the seller {seller} in {cls.region_label(region)}, but this connection sells there "
                f"as {known[region]}. Sign in to Seller Central with the same account.")
        stored = cls.region_tokens(credentials, config)
        if home not in stored and region != home:
            # A disconnected channel (its tokens wiped) comes back through its home region, whose seller it is.
            raise PermanentError(f"This channel was connected in {cls.region_label(home)}: authorise that region "
                                 f"first, then add {cls.region_label(region)}.")
        regions = {**stored, region: tokens.credentials["regions"][region]}
        # Regions left without tokens (a disconnect wiped them) are dropped with their marketplaces.
        ids = [m for m in cls.marketplace_ids(config) if MARKETPLACES[m].region in regions]
        added = [m for m in tokens.config["marketplace_ids"] if m not in ids]
        sellers = {r: s for r, s in {**known, region: seller}.items() if r in regions}
        return OAuthTokens(
            credentials={"regions": regions}, external_account_id=external_account_id or seller,
            display_name=tokens.display_name,
            config={"marketplace_ids": ids + added, "selling_partner_id": sellers.get(home, seller),
                    "selling_partner_ids": sellers, "home_region": home},
        )

    def _save_region_tokens(self, region: str, tokens: dict[str, Any]) -> None:
        """Persist one region's tokens; the credentials are always written in the per-region shape.

        Two workers refreshing different regions at once may each write the other's previous token set: that
        loses nothing, as an overwritten access token stays valid until its own stored expiry and refresh
        tokens do not change when used."""
        regions = self.region_tokens(self.context.credentials, self.context.config)
        regions[region] = tokens
        credentials = {k: v for k, v in self.context.credentials.items() if k not in TOKEN_KEYS}
        credentials["regions"] = regions
        self.context.credentials = credentials
        self.context.save_credentials(credentials)

    def refresh(self, region: str | None = None) -> None:
        """A new access token for the region (the home one by default) from its refresh token, persisted at once."""
        region = region or self.home_region(self.context.config)
        self._refreshed.add(region)
        refresh_token = self.region_tokens(self.context.credentials, self.context.config).get(region, {}).get(
            "refresh_token")
        if not refresh_token:
            raise self._in_region(AuthError("No Amazon refresh token is stored: authorise Haat again."), region)
        client_id, client_secret = self._app_credentials()
        try:
            answer = self._lwa_post(self._httpx, self.token_url(self.context.config), {
                "grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id,
                "client_secret": client_secret,
            })
        except ConnectorError as exc:
            self._in_region(exc, region)
            raise
        self._save_region_tokens(region, self._token_credentials(answer, refresh_token))

    def access_token(self, region: str | None = None) -> str:
        """The region's stored access token, refreshed first when it is missing or about to expire."""
        region = region or self.home_region(self.context.config)
        tokens = self.region_tokens(self.context.credentials, self.context.config).get(region, {})
        token = tokens.get("access_token")
        try:
            expires_at = _parse_time(tokens["access_token_expires_at"])
        except (KeyError, TypeError, ValueError):
            expires_at = None
        if not token or expires_at is None or expires_at - datetime.now(UTC) < REFRESH_MARGIN:
            self.refresh(region)
            token = self.region_tokens(self.context.credentials, self.context.config)[region]["access_token"]
        return token

    # --- calling the library ------------------------------------------------------------------------------------

    def _api(self, api_class: type[T], region: str | None = None) -> T:
        region = region or self.home_region(self.context.config)
        api = self._apis.get((api_class, region))
        if api is None:
            client_id, client_secret = self._app_credentials()
            home = next(iter(self.region_marketplace_ids(self.context.config, region)), self.marketplace.id)
            library_marketplace = next((m for m in Marketplaces if m.marketplace_id == home), Marketplaces.IN)
            refresh_token = self.region_tokens(self.context.credentials, self.context.config).get(region, {}).get(
                "refresh_token")
            api = api_class(
                marketplace=library_marketplace, refresh_token=refresh_token or "-",
                credentials={"lwa_app_id": client_id, "lwa_client_secret": client_secret},
                credential_providers=(FromCodeCredentialProvider,),
                auth_token_client_class=lambda **_: _HaatAccessToken(self, region), timeout=self.http.timeout,
            )
            api._transport.close()
            api._transport = HttpxTransport(client=self._httpx)
            api.endpoint = self.region_endpoint(region)
            api.user_agent = USER_AGENT
            self._apis[(api_class, region)] = api
        return api

    def _call(self, call: Callable[[], Any], region: str | None = None) -> Any:
        """One SP-API call in a region; an AuthError on a token not refreshed in this call gets one refresh and one
        retry. Errors name the region when the connection spans several.

        Amazon answers 403 for an expired or revoked access token alike; a refresh fixes the first and
        raises AuthError (invalid_grant) for a revoked authorisation.
        """
        region = region or self.home_region(self.context.config)
        self._refreshed.discard(region)
        try:
            try:
                return self._call_library(call)
            except AuthError:
                if region in self._refreshed:
                    raise
                self.refresh(region)
                return self._call_library(call)
        except ConnectorError as exc:
            self._in_region(exc, region)
            raise

    @staticmethod
    def _call_library(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except SellingApiException as exc:  # an error body the transport let through (a 2xx carrying "errors")
            raise PermanentError(f"Amazon answered with errors: {getattr(exc, 'message', '')}",
                                 raw=json.dumps(getattr(exc, "error", None), default=str)) from exc

    # --- test --------------------------------------------------------------------------------------------------

    def marketplace_participations(self, region: str | None = None) -> list[dict[str, Any]]:
        """Where the seller sells in one region (the home one by default), as getMarketplaceParticipations says for
        that region's authorisation: [{id, name, participating, store_name, currency, region}] with Haat's region
        and currency when it knows the marketplace (region "" for one it does not serve)."""
        region = region or self.home_region(self.context.config)
        response = self._call(lambda: self._api(Sellers, region).get_marketplace_participation(), region)
        entries = response.payload if isinstance(response.payload, list) else []
        found = []
        for entry in entries:
            entry = entry if isinstance(entry, dict) else {}
            marketplace = entry.get("marketplace") or {}
            known = MARKETPLACES.get(str(marketplace.get("id") or ""))
            name = known.name if known else str(marketplace.get("name") or "")
            found.append({"id": str(marketplace.get("id") or ""), "name": name,
                          "participating": bool((entry.get("participation") or {}).get("isParticipating")),
                          "store_name": str(entry.get("storeName") or ""),
                          "currency": known.currency if known else str(marketplace.get("defaultCurrencyCode") or ""),
                          "region": known.region if known else ""})
        return found

    def test_connection(self) -> dict[str, Any]:
        """Every region's authorisation works and sells on the connection's marketplaces of that region."""
        marketplaces: dict[str, dict[str, Any]] = {}
        store_name = ""
        for region in self.connected_regions:
            participations = self.marketplace_participations(region)
            for entry in participations:
                marketplaces[entry["id"]] = {"name": entry["name"], "participating": entry["participating"],
                                             "region": region}
                if entry["id"] == self.marketplace.id:
                    store_name = entry["store_name"]
            wanted = self.region_marketplace_ids(self.context.config, region)
            missing = [m for m in wanted if not marketplaces.get(m, {}).get("participating")]
            if missing:
                selling_on = ", ".join(e["name"] for e in participations if e["participating"]) or "no marketplace"
                raise self._in_region(PermanentError(
                    f"This Amazon account does not sell on {', '.join(MARKETPLACES[m].name for m in missing)}; "
                    f"it sells on {selling_on}.", raw=json.dumps(participations)), region)
        return {"display_name": store_name or f"Amazon seller {self.seller_id}", "seller_id": self.seller_id,
                "seller_ids": self.region_seller_ids(self.context.config, self.context.external_account_id),
                "marketplaces": [{"id": k, **v} for k, v in marketplaces.items()]}

    # --- orders ------------------------------------------------------------------------------------------------

    def fetch_orders(self, *, since: datetime, cursor: str | None = None) -> Page[OrderData]:
        """Orders updated at or after `since`, 100 (or config page_size) a call, items inline (searchOrders).

        One searchOrders sequence per region, with that region's marketplaces and token, the home region first;
        the page cursor says which region and page comes next. The sync engine moves the connection's cursor
        only after the last page of the last region (`orders_sorted_by_update` is False), so a region that fails
        leaves it where it was for every region.
        """
        regions = self.connected_regions
        if cursor:
            state = _decode_cursor(cursor)
            after, token = state["after"], state.get("token") or None
            region = state.get("region") or regions[0]
            if region not in regions:
                raise PermanentError(f"The order cursor names {region}, a region this connection no longer has",
                                     raw=cursor)
        else:
            after, token, region = _iso(since), None, regions[0]
        params: dict[str, Any] = {
            "lastUpdatedAfter": after, "marketplaceIds": ",".join(self.region_marketplace_ids(self.context.config, region)),
            "includedData": ",".join(INCLUDED_ORDER_DATA), "maxResultsPerPage": self.configured_page_size(100),
        }
        if token:
            params["paginationToken"] = token
        response = self._call(lambda: self._api(OrdersV20260101, region).search_orders(**params), region)
        orders = (response.payload or {}).get("orders") if isinstance(response.payload, dict) else None
        if not isinstance(orders, list):
            raise self._in_region(PermanentError("searchOrders answered without an orders list",
                                                 raw=json.dumps(response.payload, default=str)), region)
        items = [self._order(raw) for raw in orders]
        if response.next_token:
            next_cursor = _encode_cursor({"after": after, "region": region, "token": response.next_token})
        elif regions.index(region) + 1 < len(regions):
            next_cursor = _encode_cursor({"after": after, "region": regions[regions.index(region) + 1], "token": ""})
        else:
            next_cursor = None
        return Page(items=items, next_cursor=next_cursor)

    def _order(self, raw: dict[str, Any]) -> OrderData:
        try:
            status, raw_status = _order_status(raw)
            lines = []
            currencies = set()
            for item in raw["orderItems"]:
                product = item.get("product") or {}
                unit = (product.get("price") or {}).get("unitPrice") or {}
                if unit.get("currencyCode"):
                    currencies.add(unit["currencyCode"])
                lines.append(OrderLineData(
                    external_id=str(item["orderItemId"]), sku=str(product.get("sellerSku") or ""),
                    title=str(product.get("title") or ""), quantity=int(item["quantityOrdered"]),
                    unit_price=_money(unit["amount"]) if unit.get("amount") is not None else Decimal("0"), raw=item,
                ))
            # The currency is the order's marketplace's (INR on .in, GBP on .co.uk) when Amazon does not say it.
            sold_on = MARKETPLACES.get(str((raw.get("salesChannel") or {}).get("marketplaceId") or ""), self.marketplace)
            grand_total = (raw.get("proceeds") or {}).get("grandTotal") or {}
            if grand_total.get("amount") is not None:
                total, currency = _money(grand_total["amount"]), str(grand_total.get("currencyCode") or "")
            else:  # no proceeds yet (a pending order): the items' value is what is known
                total = sum((line.unit_price * line.quantity for line in lines), Decimal("0"))
                currency = next(iter(currencies), sold_on.currency)
            fulfilled_by = (raw.get("fulfillment") or {}).get("fulfilledBy")
            return OrderData(
                external_id=str(raw["orderId"]), status=status, raw_status=raw_status,
                placed_at=_parse_time(raw["createdTime"]), updated_at=_parse_time(raw["lastUpdatedTime"]),
                currency=currency or sold_on.currency, total=total, lines=lines,
                fulfilment_channel=FulfilmentChannel.MARKETPLACE if fulfilled_by == "AMAZON" else FulfilmentChannel.MERCHANT,
                buyer_name=str((raw.get("buyer") or {}).get("buyerName") or ""), shipping_address=_address(raw), raw=raw,
            )
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise PermanentError(f"Amazon order {raw.get('orderId', '?') if isinstance(raw, dict) else '?'} cannot be read: "
                                 f"{type(exc).__name__} {exc}", raw=json.dumps(raw, default=str)) from exc

    # --- products and FBA stock --------------------------------------------------------------------------------

    def fetch_products(self, *, cursor: str | None = None) -> Page[ProductData]:
        """The seller's listings in the connection's marketplaces, by SKU (searchListingsItems, at most 20 a page).

        Region by region, the home one first, each with its selling partner id and token. A SKU sold in several
        regions comes once, in the first region's page, with the other regions' offers looked up by SKU
        (searchListingsItems `identifiers`), so its listing learns every marketplace it is offered on.
        """
        regions = self.connected_regions
        region, token = regions[0], None
        if cursor:
            try:
                state = json.loads(base64.urlsafe_b64decode(cursor.encode()))
                region, token = str(state["region"]), str(state.get("token") or "") or None
            except (ValueError, TypeError, KeyError):
                raise PermanentError("The product cursor is not one this connector issued", raw=cursor) from None
            if region not in regions:
                raise PermanentError(f"The product cursor names {region}, a region this connection no longer has",
                                     raw=cursor)
        page_size = self.configured_page_size(20)
        items, next_token = self._listings_page(region, page_size=page_size, token=token)
        by_sku = {str(item.get("sku")): item for item in items if isinstance(item, dict)}
        for other in regions:
            if other == region or not by_sku:
                continue
            found = self._listings_page(other, page_size=page_size, skus=list(by_sku))[0]
            for item in found:
                sku = str(item.get("sku"))
                if sku not in by_sku:
                    continue
                if regions.index(other) < regions.index(region):
                    del by_sku[sku]  # came with that earlier region's page already
                else:
                    mine = by_sku[sku]
                    by_sku[sku] = {**mine, **{key: (mine.get(key) or []) + (item.get(key) or [])
                                              for key in ("summaries", "offers")}}
        if next_token:
            next_cursor = _encode_cursor({"region": region, "token": next_token})
        elif regions.index(region) + 1 < len(regions):
            next_cursor = _encode_cursor({"region": regions[regions.index(region) + 1], "token": ""})
        else:
            next_cursor = None
        return Page(items=[self._product(item) for item in by_sku.values()], next_cursor=next_cursor)

    def _listings_page(self, region: str, *, page_size: int, token: str | None = None,
                       skus: list[str] | None = None) -> tuple[list[Any], str | None]:
        """One searchListingsItems page of a region's marketplaces: (items, next page token)."""
        params: dict[str, Any] = {
            "marketplaceIds": ",".join(self.region_marketplace_ids(self.context.config, region)),
            "includedData": ["summaries", "offers", "fulfillmentAvailability"],
            "pageSize": page_size, "sortBy": "sku", "sortOrder": "ASC",
        }
        if token:
            params["pageToken"] = token
        if skus:
            params.update(identifiers=",".join(skus), identifiersType="SKU", pageSize=min(20, max(len(skus), 1)))
        seller_id = self.seller_id_for(region)
        response = self._call(lambda: self._api(ListingsItemsV20210801, region).search_listings_items(seller_id, **params),
                              region)
        items = (response.payload or {}).get("items") if isinstance(response.payload, dict) else None
        if not isinstance(items, list):
            raise self._in_region(PermanentError("searchListingsItems answered without items",
                                                 raw=json.dumps(response.payload, default=str)), region)
        return items, response.next_token or None

    def _product(self, item: dict[str, Any]) -> ProductData:
        try:
            sku = str(item["sku"])
            summaries = {s.get("marketplaceId"): s for s in item.get("summaries") or [] if isinstance(s, dict)}
            listed = [m for m in self.marketplaces if m.id in summaries]
            # Price and title as in the home marketplace when the SKU is offered there, else its first marketplace.
            shown = listed[0] if listed else self.marketplace
            summary = summaries.get(shown.id, {})
            offer = next((o for o in item.get("offers") or []
                          if o.get("marketplaceId") == shown.id and o.get("offerType", "B2C") == "B2C"), {})
            availability = next((a for a in item.get("fulfillmentAvailability") or []
                                 if a.get("fulfillmentChannelCode") == "DEFAULT"), {})
            price = offer.get("price") or {}
            refs = {"product_type": summary.get("productType") or "", "asin": summary.get("asin") or "",
                    "fn_sku": summary.get("fnSku") or "", "marketplace_ids": ",".join(m.id for m in listed)}
            return ProductData(
                external_id=sku, sku=sku, title=str(summary.get("itemName") or sku),
                price=_money(price["amount"]) if price.get("amount") is not None else None,
                currency=str(price.get("currencyCode") or shown.currency),
                quantity=int(availability["quantity"]) if availability.get("quantity") is not None else None,
                external_refs={k: v for k, v in refs.items() if v}, raw=item,
            )
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise PermanentError(f"Amazon listing cannot be read: {type(exc).__name__} {exc}",
                                 raw=json.dumps(item, default=str)) from exc

    def fetch_marketplace_inventory(self, *, cursor: str | None = None) -> Page[ProductData]:
        """Stock in Amazon's warehouses (FBA): read-only, for display; Haat never pushes it."""
        params: dict[str, Any] = {"details": "true", "granularityType": "Marketplace", "granularityId": self.marketplace.id,
                                  "marketplaceIds": self.marketplace.id}
        if cursor:
            params["nextToken"] = cursor
        response = self._call(lambda: self._api(Inventories, self.marketplace.region).get_inventory_summary_marketplace(
            **params), self.marketplace.region)
        payload = response.payload if isinstance(response.payload, dict) else {}
        summaries = payload.get("inventorySummaries")
        if not isinstance(summaries, list):
            raise PermanentError("getInventorySummaries answered without inventorySummaries",
                                 raw=json.dumps(payload, default=str))
        products = []
        for summary in summaries:
            try:
                details = summary.get("inventoryDetails") or {}
                refs = {"asin": summary.get("asin") or "", "fn_sku": summary.get("fnSku") or ""}
                products.append(ProductData(
                    external_id=str(summary.get("fnSku") or summary["sellerSku"]), sku=str(summary["sellerSku"]),
                    title=str(summary.get("productName") or summary["sellerSku"]),
                    quantity=int(details["fulfillableQuantity"]) if "fulfillableQuantity" in details else None,
                    external_refs={k: v for k, v in refs.items() if v}, raw=summary,
                ))
            except (KeyError, TypeError, ValueError) as exc:
                raise PermanentError(f"FBA inventory summary cannot be read: {exc}",
                                     raw=json.dumps(summary, default=str)) from exc
        return Page(items=products, next_cursor=response.next_token or None)

    # --- pushes ------------------------------------------------------------------------------------------------

    def _patch(self, sku: str, product_type: str, patches: list[dict[str, Any]],
               marketplace: Marketplace | None = None) -> PushResult:
        marketplace = marketplace or self.marketplace
        region = marketplace.region  # the marketplace's region: its endpoint, its token, its selling partner id
        seller_id = self.seller_id_for(region)
        body = {"productType": product_type or "PRODUCT", "patches": patches}
        try:
            response = self._call(lambda: self._api(ListingsItemsV20210801, region).patch_listings_item(
                seller_id, sku, marketplaceIds=marketplace.id, body=body), region)
        except PermanentError as exc:  # this SKU's request was refused; the rest of the batch goes on
            return PushResult(sku=sku, ok=False, error=exc.message, raw={"body": exc.raw or ""})
        return self._submission_result(sku, response.payload)

    @staticmethod
    def _submission_result(sku: str, payload: Any) -> PushResult:
        payload = payload if isinstance(payload, dict) else {}
        issues = [i for i in payload.get("issues") or [] if isinstance(i, dict) and i.get("severity") == "ERROR"]
        ok = payload.get("status") == "ACCEPTED"
        error = "" if ok else ("; ".join(str(i.get("message")) for i in issues) or f"Amazon answered {payload.get('status')}")
        return PushResult(sku=sku, ok=ok, error=error, raw=payload)

    @staticmethod
    def _combined(sku: str, parts: list[tuple[Marketplace, PushResult]], skipped: list[str] = ()) -> PushResult:
        """One result per SKU for a push that went to several marketplaces: ok only when every one took it."""
        if len(parts) == 1 and not skipped:
            return parts[0][1]
        errors = [f"{m.name}: {r.error}" for m, r in parts if not r.ok] + list(skipped)
        return PushResult(sku=sku, ok=not errors, error="; ".join(errors),
                          raw={m.id: r.raw for m, r in parts})

    def push_stock(self, updates: Sequence[StockUpdate]) -> list[PushResult]:
        """Merchant-fulfilled quantity per SKU (fulfillment_availability, channel DEFAULT): one PATCH per SKU and
        marketplace the listing is offered on (each marketplace keeps its own quantity)."""
        results = []
        for update in updates:
            if not isinstance(update.quantity, int) or isinstance(update.quantity, bool) or update.quantity < 0:
                results.append(PushResult(sku=update.sku, ok=False, error="Quantity must be a whole number, 0 or more."))
                continue
            patch = [{"op": "replace", "path": "/attributes/fulfillment_availability",
                      "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": update.quantity}]}]
            parts = [(m, self._patch(update.sku, update.external_refs.get("product_type", ""), patch, m))
                     for m in self._listing_marketplaces(update.external_refs)]
            results.append(self._combined(update.sku, parts))
        return results

    def push_prices(self, updates: Sequence[PriceUpdate]) -> list[PushResult]:
        """Selling price (purchasable_offer our_price) and, when given, MRP as Amazon's list_price, to every
        marketplace the listing is offered on that prices in the update's currency. Haat keeps one price per
        listing and never converts currencies, so a marketplace in another currency is named in the error."""
        results = []
        for update in updates:
            targets = self._listing_marketplaces(update.external_refs)
            same_currency = [m for m in targets if m.currency == update.currency]
            error = self._price_error(update.price, update.currency, update.mrp, same_currency[0] if same_currency
                                      else targets[0])
            if error:
                results.append(PushResult(sku=update.sku, ok=False, error=error))
                continue
            parts = []
            for marketplace in same_currency:
                patches = [{"op": "replace", "path": "/attributes/purchasable_offer", "value": [{
                    "marketplace_id": marketplace.id, "currency": marketplace.currency,
                    "our_price": [{"schedule": [{"value_with_tax": _wire_number(update.price)}]}],
                }]}]
                if update.mrp is not None:
                    patches.append({"op": "replace", "path": "/attributes/list_price", "value": [{
                        "marketplace_id": marketplace.id, "currency": marketplace.currency,
                        "value_with_tax": _wire_number(update.mrp),
                    }]})
                parts.append((marketplace, self._patch(update.sku, update.external_refs.get("product_type", ""), patches,
                                                       marketplace)))
            skipped = [f"{m.name} prices are in {m.currency}, not {update.currency}: not changed"
                       for m in targets if m.currency != update.currency]
            results.append(self._combined(update.sku, parts, skipped))
        return results

    def _price_error(self, price: Decimal, currency: str, mrp: Decimal | None,
                     marketplace: Marketplace | None = None) -> str:
        marketplace = marketplace or self.marketplace
        if currency != marketplace.currency:
            return f"{marketplace.name} prices are in {marketplace.currency}, not {currency}."
        if not isinstance(price, Decimal) or not price.is_finite() or price <= 0:
            return "The price must be a positive amount."
        if mrp is not None and (not isinstance(mrp, Decimal) or not mrp.is_finite() or mrp < price):
            return "The MRP must be an amount no lower than the price."
        return ""

    def create_listing(self, draft: ListingDraft) -> ListingResult:
        """A new offer (putListingsItem): the draft's product type and attributes, plus Haat's fields.

        It goes to the connection's first marketplace that prices in the draft's currency (the home one when it
        does; Haat never converts currencies), through that marketplace's region."""
        marketplace = next((m for m in self.marketplaces if m.currency == draft.currency), self.marketplace)
        problems = []
        if not draft.sku.strip() or not draft.title.strip():
            problems.append("A listing needs a SKU and a title.")
        if not draft.product_type:
            problems.append("Amazon needs the product type of the listing (for example SAREE or HOME_BED_AND_BATH).")
        if not isinstance(draft.quantity, int) or draft.quantity < 0:
            problems.append("Quantity must be a whole number, 0 or more.")
        problems.append(self._price_error(draft.price, draft.currency, draft.mrp, marketplace))
        problems = [p for p in problems if p]
        if problems:
            return ListingResult(ok=False, state="rejected", error=" ".join(problems))
        mid, lang = marketplace.id, marketplace.language
        attributes: dict[str, Any] = {
            "item_name": [{"value": draft.title, "language_tag": lang, "marketplace_id": mid}],
            "condition_type": [{"value": "new_new", "marketplace_id": mid}],
            "purchasable_offer": [{"marketplace_id": mid, "currency": marketplace.currency,
                                   "our_price": [{"schedule": [{"value_with_tax": _wire_number(draft.price)}]}]}],
            "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": draft.quantity}],
        }
        if draft.description:
            attributes["product_description"] = [{"value": draft.description, "language_tag": lang, "marketplace_id": mid}]
        if draft.brand:
            attributes["brand"] = [{"value": draft.brand, "language_tag": lang, "marketplace_id": mid}]
        if draft.barcode:
            kind = "ean" if len(draft.barcode) == 13 else "upc" if len(draft.barcode) == 12 else "gtin"
            attributes["externally_assigned_product_identifier"] = [{"type": kind, "value": draft.barcode,
                                                                    "marketplace_id": mid}]
        if draft.mrp is not None:
            attributes["list_price"] = [{"currency": marketplace.currency, "value_with_tax": _wire_number(draft.mrp),
                                         "marketplace_id": mid}]
        for index, url in enumerate(draft.images[:9]):
            name = "main_product_image_locator" if index == 0 else f"other_product_image_locator_{index}"
            attributes[name] = [{"media_location": url, "marketplace_id": mid}]
        attributes.update(draft.attributes)  # what the coordinator set for this product type wins
        body = {"productType": draft.product_type, "requirements": "LISTING", "attributes": attributes}
        region = marketplace.region
        api = self._api(ListingsItemsV20210801, region)
        path = fill_query_params("/listings/2021-08-01/items/{}/{}", self.seller_id_for(region), draft.sku)
        try:
            response = self._call(lambda: api._request(path, data=dict(body), params={"method": "PUT", "marketplaceIds": mid},
                                                       add_marketplace=False), region)
        except PermanentError as exc:
            return ListingResult(ok=False, state="rejected", error=exc.message, raw={"body": exc.raw or ""})
        result = self._submission_result(draft.sku, response.payload)
        refs = {"sku": draft.sku, "product_type": draft.product_type, "marketplace_ids": mid}
        if isinstance(response.payload, dict) and response.payload.get("submissionId"):
            refs["submission_id"] = str(response.payload["submissionId"])
        return ListingResult(ok=result.ok, external_refs=refs, state="pending" if result.ok else "rejected",
                             error=result.error, raw=result.raw)

    def push_fulfilment(self, fulfilment: FulfilmentData) -> FulfilmentResult:
        """Confirm a merchant-fulfilled shipment with its tracking number (Orders v0 confirmShipment).

        v0 is kept for this one call: the Orders API 2026-01-01 reads orders but has no shipment confirmation.
        """
        raw = fulfilment.order_raw or {}
        if (raw.get("fulfillment") or {}).get("fulfilledBy") == "AMAZON":
            return FulfilmentResult(ok=False, error="Amazon ships this order from its own warehouse (FBA): there is "
                                                    "nothing to confirm.")
        if not fulfilment.tracking_number.strip() or not fulfilment.carrier.strip():
            return FulfilmentResult(ok=False, error="A carrier and a tracking number are required.")
        lines = [(ln.external_line_id, ln.quantity) for ln in fulfilment.lines]
        if not lines:
            lines = [(str(i["orderItemId"]), int(i["quantityOrdered"])) for i in raw.get("orderItems") or []]
        if not lines or any(q < 1 for _, q in lines):
            return FulfilmentResult(ok=False, error="Say which order items ship, each with a quantity of 1 or more.")
        marketplace_id = (raw.get("salesChannel") or {}).get("marketplaceId") or self.marketplace.id
        # The order's own marketplace decides the region that confirms it.
        region = MARKETPLACES[marketplace_id].region if marketplace_id in MARKETPLACES else self.marketplace.region
        reference = str(len(raw.get("packages") or []) + 1)  # Amazon wants a positive number unique within the order
        carrier_code = CARRIER_CODES.get(fulfilment.carrier.strip().lower(), "Other")
        package = {"packageReferenceId": reference, "carrierCode": carrier_code, "trackingNumber": fulfilment.tracking_number,
                   "shipDate": _iso(fulfilment.shipped_at),
                   "orderItems": [{"orderItemId": item_id, "quantity": quantity} for item_id, quantity in lines]}
        if carrier_code == "Other":
            package["carrierName"] = fulfilment.carrier.strip()
        if fulfilment.shipping_method:
            package["shippingMethod"] = fulfilment.shipping_method
        try:
            self._call(lambda: self._api(OrdersV0, region).confirm_shipment(
                fulfilment.order_external_id, marketplaceId=marketplace_id, packageDetail=dict(package)), region)
        except PermanentError as exc:
            return FulfilmentResult(ok=False, error=exc.message, raw={"body": exc.raw or ""})
        return FulfilmentResult(ok=True, external_id=reference, raw={"packageDetail": package})
