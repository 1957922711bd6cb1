"""The connector contract: normalized dataclasses, capabilities, and the base class every platform fills in.

A connector is a stateless description of a platform (class attributes) plus the methods its
`capabilities` declare, bound at construction to one connection's context. Mapping from the platform's
JSON to these dataclasses stays private to the platform's module. Nothing here touches the database:
the sync engine, the flows and the services persist what connectors return.
"""

from __future__ import annotations

import abc
import enum
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, Generic, TypeVar

from apps.integrations.connectors.errors import ConnectorError, NotSupported, PermanentError
from apps.integrations.http import HttpClient, RateLimit


class Capability(enum.StrEnum):
    ORDERS = "orders"
    PRODUCTS = "products"
    STOCK_PUSH = "stock_push"
    PRICE_PUSH = "price_push"
    LISTING_CREATE = "listing_create"
    FULFILMENT_PUSH = "fulfilment_push"
    WEBHOOKS = "webhooks"
    INQUIRIES = "inquiries"
    TENDERS = "tenders"
    MARKETPLACE_INVENTORY = "marketplace_inventory"
    RATINGS = "ratings"


# Which methods a capability obliges a connector to implement (checked at start-up by checks.py).
CAPABILITY_METHODS: dict[Capability, tuple[str, ...]] = {
    Capability.ORDERS: ("fetch_orders",),
    Capability.PRODUCTS: ("fetch_products",),
    Capability.STOCK_PUSH: ("push_stock",),
    Capability.PRICE_PUSH: ("push_prices",),
    Capability.LISTING_CREATE: ("create_listing",),
    Capability.FULFILMENT_PUSH: ("push_fulfilment",),
    Capability.WEBHOOKS: ("verify_webhook", "parse_webhook", "register_webhooks", "unregister_webhooks"),
    Capability.INQUIRIES: ("fetch_inquiries",),
    Capability.TENDERS: ("fetch_tenders",),
    Capability.MARKETPLACE_INVENTORY: ("fetch_marketplace_inventory",),
    Capability.RATINGS: ("fetch_ratings",),
}


class AuthKind(enum.StrEnum):
    OAUTH = "oauth"
    API_KEY = "api_key"


class OrderStatus(enum.StrEnum):
    PENDING = "pending"
    UNSHIPPED = "unshipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    RETURNED = "returned"


class FulfilmentChannel(enum.StrEnum):
    MERCHANT = "merchant"  # the SHG ships (Amazon MFN, Flipkart self-ship, every web store)
    MARKETPLACE = "marketplace"  # the marketplace ships from its warehouse (Amazon FBA/AFN): read-only here


@dataclass(frozen=True)
class CredentialField:
    """One input of an API-key connect form. `secret` fields are write-only everywhere."""

    name: str
    label: str
    secret: bool = False
    help_text: str = ""
    required: bool = True
    stored_in: str = "credentials"  # or "config" (non-secret values such as a store URL)
    # (value, label) pairs: the form renders a select and accepts only these (e.g. Amazon's marketplace).
    choices: tuple[tuple[str, str], ...] = ()


@dataclass
class OrderLineData:
    external_id: str
    sku: str
    title: str
    quantity: int
    unit_price: Decimal
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class OrderData:
    external_id: str
    status: OrderStatus
    raw_status: str
    placed_at: datetime
    updated_at: datetime
    currency: str
    total: Decimal
    lines: list[OrderLineData]
    fulfilment_channel: FulfilmentChannel = FulfilmentChannel.MERCHANT
    buyer_name: str = ""
    shipping_address: dict[str, Any] = field(default_factory=dict)
    # Platform-specific display number (Shopify "#1001", WooCommerce number) when it differs from the id.
    number: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProductData:
    external_id: str
    sku: str
    title: str
    price: Decimal | None = None
    currency: str = ""
    quantity: int | None = None
    mrp: Decimal | None = None
    barcode: str = ""
    # The platform's ids needed to push to this listing later (variant id, inventory item id, FSN...).
    external_refs: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class RatingData:
    """A buyer's rating or review of a product, as the channel publishes it (1 to 5 stars)."""

    external_id: str
    rating: int
    created_at: datetime
    product_external_id: str = ""
    sku: str = ""
    product_title: str = ""
    title: str = ""
    body: str = ""
    reviewer: str = ""
    verified_buyer: bool = False
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class StockUpdate:
    sku: str
    quantity: int
    external_refs: dict[str, str] = field(default_factory=dict)


@dataclass
class PriceUpdate:
    sku: str
    price: Decimal
    currency: str
    mrp: Decimal | None = None
    external_refs: dict[str, str] = field(default_factory=dict)


@dataclass
class PushResult:
    """The platform's answer for one SKU of a batch push."""

    sku: str
    ok: bool
    error: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


Update = TypeVar("Update", StockUpdate, PriceUpdate)
Item = TypeVar("Item")


def chunked(items: Sequence[Item], size: int) -> Iterator[Sequence[Item]]:
    """`items` in slices of at most `size`, in order: one platform call per slice where the platform caps a batch."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


DUPLICATE_SKU = "This SKU appears twice in one push"


def screen_push(updates: Sequence[Update], problem: Callable[[Update], str]
                ) -> tuple[list[PushResult | None], list[tuple[int, Update]]]:
    """Split a push before any platform call: an update `problem` objects to, or a second one for a SKU already
    in the push, gets its failed PushResult at its index; the rest come back as (index, update), in order, for
    the connector to send and fill in. One answer per update, in the caller's order, whatever is refused."""
    results: list[PushResult | None] = [None] * len(updates)
    seen: set[str] = set()
    valid: list[tuple[int, Update]] = []
    for index, update in enumerate(updates):
        why = problem(update) or (DUPLICATE_SKU if update.sku in seen else "")
        if why:
            results[index] = PushResult(sku=update.sku, ok=False, error=why)
            continue
        seen.add(update.sku)
        valid.append((index, update))
    return results, valid


def stock_problem(update: StockUpdate) -> str:
    """Stock is a whole number of units, none below zero (a bool is not a number here)."""
    quantity = update.quantity
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
        return "Stock must be a whole number of at least 0"
    return ""


@dataclass
class FulfilmentLine:
    external_line_id: str
    quantity: int


@dataclass
class FulfilmentData:
    order_external_id: str
    carrier: str
    tracking_number: str
    shipped_at: datetime
    tracking_url: str = ""
    shipping_method: str = ""
    lines: list[FulfilmentLine] = field(default_factory=list)
    # Anything the platform needs that the order carries (Flipkart location id, Amazon marketplace id...).
    order_raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class FulfilmentResult:
    ok: bool
    external_id: str = ""
    error: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class ListingDraft:
    sku: str
    title: str
    description: str
    price: Decimal
    currency: str
    quantity: int
    brand: str = ""
    barcode: str = ""
    mrp: Decimal | None = None
    product_type: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    images: list[str] = field(default_factory=list)


@dataclass
class ListingResult:
    ok: bool
    external_refs: dict[str, str] = field(default_factory=dict)
    state: str = "pending"
    error: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class WebhookMessage:
    """A verified delivery, parsed: what it is about and the normalized objects it carries."""

    delivery_id: str
    topic: str
    orders: list[OrderData] = field(default_factory=list)
    products: list[ProductData] = field(default_factory=list)
    # Topics that are not about orders or products (app/uninstalled, privacy requests, a ping).
    action: str = ""
    payload: dict[str, Any] = field(default_factory=dict)


T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None = None


@dataclass
class OAuthTokens:
    """What an OAuth exchange or refresh gives: merged into the connection's credentials."""

    credentials: dict[str, Any]
    external_account_id: str = ""
    display_name: str = ""
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class ConnectionContext:
    """Everything a connector needs about one connection, without the ORM.

    `save_credentials` is called when the connector refreshes a token, so the caller persists it
    (encrypted) at once; connectors never write to the database themselves.
    """

    connection_id: int | str
    credentials: dict[str, Any]
    config: dict[str, Any]
    external_account_id: str = ""
    save_credentials: Callable[[dict[str, Any]], None] = lambda creds: None

    @classmethod
    def from_connection(cls, connection) -> ConnectionContext:
        def _save(creds: dict[str, Any]) -> None:
            connection.credentials = creds
            type(connection).objects.filter(pk=connection.pk).update(credentials=creds)

        return cls(
            connection_id=connection.pk or "new",
            credentials=dict(connection.credentials or {}),
            config=dict(connection.config or {}),
            external_account_id=connection.external_account_id,
            save_credentials=_save,
        )


class Connector(abc.ABC):
    """Base class of every platform connector. Subclasses set the descriptor attributes below."""

    slug: ClassVar[str]
    name: ClassVar[str]
    auth_kind: ClassVar[AuthKind]
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    credential_fields: ClassVar[tuple[CredentialField, ...]] = ()
    # Per-operation limits; the key is the operation name passed to HttpClient.request.
    rate_limits: ClassVar[dict[str, RateLimit]] = {}
    default_poll_interval: ClassVar[timedelta] = timedelta(minutes=15)
    # True when fetch_orders yields pages in ascending last-updated order, so the sync engine may
    # advance the cursor after every committed page rather than only at the end of a run.
    orders_sorted_by_update: ClassVar[bool] = False
    default_currency: ClassVar[str] = "INR"
    docs_url: ClassVar[str] = ""
    # How a coordinator connects, in a few words, where auth_kind alone would mislead (no key at all, keys Haat makes).
    connect_summary: ClassVar[str] = ""

    def __init__(self, context: ConnectionContext, *, http: HttpClient | None = None, base_url: str | None = None):
        self.context = context
        self.http = http or HttpClient(connection_key=str(context.connection_id), rate_limits=self.rate_limits)
        self.base_url = (base_url or self.resolve_base_url(context)).rstrip("/")

    # --- description -------------------------------------------------------------------------------------

    @classmethod
    def supports(cls, capability: Capability | str) -> bool:
        return Capability(capability) in cls.capabilities

    @classmethod
    def resolve_base_url(cls, context: ConnectionContext) -> str:
        """The API root for this connection: `config["base_url"]` when set (sandbox), else the platform's.

        A stored address that no longer passes the connect form's checks is the connection's fault, not a bug:
        a PermanentError the sync and the API report, never a 500."""
        if context.config.get("base_url"):
            return context.config["base_url"]
        try:
            return cls.default_base_url(context)
        except ValueError as exc:
            raise PermanentError(f"This {cls.name} connection's stored address is not usable ({exc}): connect it "
                                 "again.") from None

    @classmethod
    @abc.abstractmethod
    def default_base_url(cls, context: ConnectionContext) -> str:
        """The production API root for this connection (may depend on region or shop domain)."""

    def _unsupported(self, capability: Capability) -> NotSupported:
        return NotSupported(f"{self.name} does not support {capability.value}")

    # --- every connector ---------------------------------------------------------------------------------

    @abc.abstractmethod
    def test_connection(self) -> dict[str, Any]:
        """Make one cheap authenticated call; return facts about the account (name, id) or raise."""

    # --- capabilities: implement only what `capabilities` declares ----------------------------------------

    def configured_page_size(self, maximum: int, *, default: int | None = None) -> int:
        """The page size to ask for: the connection's `page_size` setting (tests use small pages), else `default`
        (else the platform's maximum), always within 1..maximum."""
        fallback = default or maximum
        try:
            size = int(self.context.config.get("page_size") or fallback)
        except (TypeError, ValueError):
            size = fallback
        return max(1, min(size, maximum))

    def fetch_orders(self, *, since: datetime, cursor: str | None = None) -> Page[OrderData]:
        raise self._unsupported(Capability.ORDERS)

    def fetch_products(self, *, cursor: str | None = None) -> Page[ProductData]:
        raise self._unsupported(Capability.PRODUCTS)

    def push_stock(self, updates: Sequence[StockUpdate]) -> list[PushResult]:
        raise self._unsupported(Capability.STOCK_PUSH)

    def push_prices(self, updates: Sequence[PriceUpdate]) -> list[PushResult]:
        raise self._unsupported(Capability.PRICE_PUSH)

    def create_listing(self, draft: ListingDraft) -> ListingResult:
        raise self._unsupported(Capability.LISTING_CREATE)

    def push_fulfilment(self, fulfilment: FulfilmentData) -> FulfilmentResult:
        raise self._unsupported(Capability.FULFILMENT_PUSH)

    def fetch_marketplace_inventory(self, *, cursor: str | None = None) -> Page[ProductData]:
        raise self._unsupported(Capability.MARKETPLACE_INVENTORY)

    def fetch_ratings(self, *, since: datetime, cursor: str | None = None) -> Page[RatingData]:
        """Ratings and reviews published after `since`, oldest first, every page."""
        raise self._unsupported(Capability.RATINGS)

    def fetch_tenders(self, *, cursor: str | None = None) -> Page[Any]:
        """Open tenders (GeM bids), every page; items are the platform module's TenderData."""
        raise self._unsupported(Capability.TENDERS)

    def fetch_inquiries(self, *, since: datetime, until: datetime | None = None) -> Page[Any]:
        """Buyer inquiries (IndiaMART leads) received in [since, until]; items are the module's InquiryData."""
        raise self._unsupported(Capability.INQUIRIES)

    # --- webhooks ------------------------------------------------------------------------------------------

    @classmethod
    def verify_webhook(cls, *, body: bytes, headers: dict[str, str], secret: str) -> bool:
        raise NotSupported(f"{cls.__name__} has no webhooks")

    def parse_webhook(self, *, body: bytes, headers: dict[str, str]) -> WebhookMessage:
        raise self._unsupported(Capability.WEBHOOKS)

    def _typed_notification(self, body: bytes, *, type_field: str, what: str) -> tuple[dict[str, Any], str]:
        """An unsigned platform notification's JSON object and its type (Ozon's message_type, Yandex Market's
        notificationType), or a PermanentError that keeps the raw body."""
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PermanentError(f"{self.name} sent a {what} that is not JSON: {exc}", raw=body) from exc
        if not isinstance(payload, dict) or not isinstance(payload.get(type_field), str):
            raise PermanentError(f"{self.name} sent a {what} without {type_field}", raw=body)
        return payload, payload[type_field]

    def register_webhooks(self, *, callback_url: str, secret: str) -> list[str]:
        raise self._unsupported(Capability.WEBHOOKS)

    def unregister_webhooks(self, *, webhook_ids: Sequence[str]) -> None:
        raise self._unsupported(Capability.WEBHOOKS)

    def _subscribe_each(self, topics: Sequence[str], subscribe: Callable[[str], tuple[str, bool]]) -> list[str]:
        """register_webhooks' loop for a platform that subscribes one topic per call: `subscribe(topic)` gives the
        subscription's id and whether it made a new one. If a call fails, the subscriptions this loop made are
        removed again before the error goes on, so a failed connect leaves the platform as it found it."""
        ids: list[str] = []
        created: list[str] = []
        try:
            for topic in topics:
                webhook_id, new = subscribe(topic)
                if new:
                    created.append(webhook_id)
                ids.append(webhook_id)
        except ConnectorError:
            if created:
                try:
                    self.unregister_webhooks(webhook_ids=created)
                except ConnectorError:
                    logging.getLogger(type(self).__module__).warning(
                        "could not remove the webhooks just made on connection %s", self.context.connection_id)
            raise
        return ids

    # --- OAuth (auth_kind == OAUTH) -------------------------------------------------------------------------
    # The connect flow (apps/integrations/flows.py) is written once: it asks for `oauth_start_fields`
    # (a shop domain, a marketplace), signs a single-use state bound to the session, sends the user to
    # `authorization_url`, checks the callback with `verify_callback`, and stores what `exchange_code` gives.

    oauth_start_fields: ClassVar[tuple[CredentialField, ...]] = ()

    @classmethod
    def sandbox_base_url(cls, *, sandbox_root: str, params: dict[str, str]) -> str:
        """Where this platform's sandbox answers for an account (`sandbox_root` ends in /sandbox)."""
        return f"{sandbox_root}/{cls.slug}"

    @classmethod
    def authorization_url(cls, *, state: str, redirect_uri: str, params: dict[str, str], config: dict[str, Any]) -> str:
        raise NotSupported(f"{cls.__name__} does not use OAuth")

    @classmethod
    def verify_callback(cls, *, params: dict[str, str], config: dict[str, Any]) -> None:
        """Platform-specific integrity checks of the callback (Shopify's hmac and shop); raise AuthError."""
        return None

    @classmethod
    def exchange_code(cls, *, callback_params: dict[str, str], redirect_uri: str, http: HttpClient,
                      config: dict[str, Any]) -> OAuthTokens:
        raise NotSupported(f"{cls.__name__} does not use OAuth")

    @classmethod
    def merge_grant(cls, *, tokens: OAuthTokens, credentials: dict[str, Any], config: dict[str, Any],
                    external_account_id: str) -> OAuthTokens:
        """What to store when a new authorisation arrives for an existing connection (its current credentials
        and config given): by default the new grant replaces the old. A platform whose one connection holds
        several grants (Amazon: one per region) overrides this to add the new one beside the others."""
        return tokens

    def refresh(self) -> None:
        """Refresh the access token and persist it through `context.save_credentials`."""
        raise NotSupported(f"{self.name} has no token to refresh")
