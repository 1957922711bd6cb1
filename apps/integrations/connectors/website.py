"""The SHG's own website (the "website adapter"): a channel for a site that is on no known platform.

The traffic runs the other way round from every other channel. Haat has no API to call on the site:
- the site POSTs each order to Haat, signed (`verify_webhook`, `parse_webhook`), at
  /webhooks/website/<connection uuid>/, whenever the order is placed or changes;
- the site reads live stock and prices from Haat's read-only feed (apps/integrations/feeds.py).

So the connector declares only what is true: WEBHOOKS (orders arrive signed) and LISTING_CREATE (listing a
variant on the site puts it in the feed at once). Nothing is pulled (no ORDERS, no PRODUCTS) and nothing is
pushed (no STOCK_PUSH or PRICE_PUSH: the site pulls the feed); tracking stays on the site, which ships.

Signature: `X-Haat-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" with the signing secret>`
and `X-Haat-Timestamp: <unix seconds>`, accepted within REPLAY_WINDOW of Haat's clock; compared in
constant time. The order body must match docs/website/order.schema.json; a body that does not is stored
and failed with every schema error named (webhooks.py keeps it, the platform is not asked to retry).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from jsonschema import Draft202012Validator

from apps.integrations.connectors.base import (
    AuthKind,
    Capability,
    ConnectionContext,
    Connector,
    CredentialField,
    ListingDraft,
    ListingResult,
    OrderData,
    OrderLineData,
    OrderStatus,
    WebhookMessage,
)
from apps.integrations.connectors.errors import PermanentError
from apps.integrations.http import RateLimit

SCHEMA_PATH = "docs/website/order.schema.json"
SIGNATURE_HEADER = "X-Haat-Signature"
TIMESTAMP_HEADER = "X-Haat-Timestamp"
DELIVERY_HEADER = "X-Haat-Delivery"
EVENT_HEADER = "X-Haat-Event"
EVENTS = ("order.created", "order.updated")
# How far a delivery's timestamp may be from Haat's clock, either way (clock skew plus the site's retries
# must re-sign: a captured delivery replayed later is refused).
REPLAY_WINDOW = timedelta(minutes=5)
SIGNING_SECRET_PREFIX = "whsec_"
FEED_KEY_PREFIX = "hfk_"
MAX_SCHEMA_ERRORS = 50


@cache
def order_validator() -> Draft202012Validator:
    """The order schema, read once from the file the site's developers are given."""
    with open(settings.BASE_DIR / SCHEMA_PATH, encoding="utf-8") as handle:
        schema = json.load(handle)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_errors(document: Any) -> list[str]:
    """Every way `document` breaks the order schema, one line each, naming where ("lines/0/quantity")."""
    errors = sorted(order_validator().iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{'/'.join(str(p) for p in error.absolute_path) or '(order)'}: {error.message}"
            for error in errors[:MAX_SCHEMA_ERRORS]]


def sign(*, secret: str, timestamp: int | str, body: bytes) -> str:
    """The X-Haat-Signature value for a body sent at `timestamp` (what the site computes)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def new_signing_secret() -> str:
    return SIGNING_SECRET_PREFIX + secrets.token_urlsafe(32)


def new_feed_key() -> str:
    return FEED_KEY_PREFIX + secrets.token_urlsafe(32)


def normalize_site_url(value: str) -> str:
    """The site's address as one canonical string (the connection's account id): scheme and host lower-cased,
    no query, no trailing slash. Raises ValueError for anything but an http(s) URL with a host."""
    parts = urlsplit((value or "").strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("Enter the site's address starting with https:// (or http://).")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), "", ""))


class _TitleParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.in_title, self.title = False, ""

    def handle_starttag(self, tag, attrs):
        self.in_title = tag == "title" and not self.title

    def handle_endtag(self, tag):
        self.in_title = False if tag == "title" else self.in_title

    def handle_data(self, data):
        if self.in_title:
            self.title += data


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class WebsiteConnector(Connector):
    slug = "website"
    name = "Own website"
    connect_summary = "Site address; Haat makes the keys"
    auth_kind = AuthKind.API_KEY
    capabilities = frozenset({Capability.WEBHOOKS, Capability.LISTING_CREATE})
    credential_fields = (
        CredentialField("site_url", "Website address", stored_in="config",
                        help_text="The shop's address, e.g. https://sakhi-crafts.in. Haat then makes a signing "
                                  "secret for the orders the site sends and a key for the stock and price feed; "
                                  "both are shown once, on the channel's Keys page."),
    )
    # Haat only calls the site to check that it answers (connect and "Test connection").
    rate_limits = {"default": RateLimit(rate=1, burst=2)}

    @classmethod
    def default_base_url(cls, context: ConnectionContext) -> str:
        return str(context.config.get("site_url") or "")

    @classmethod
    def sandbox_base_url(cls, *, sandbox_root: str, params: dict[str, str]) -> str:
        # Nothing is called on a site but its home page, so the "API root" is the site itself, sandbox or not.
        return params.get("site_url", "")

    def test_connection(self) -> dict[str, Any]:
        """The site answers at its address; the first time, make the signing secret and the feed key."""
        site_url = normalize_site_url(self.context.config.get("site_url", ""))
        response = self.http.request("GET", site_url, operation="default", allow_redirects=True)
        parser = _TitleParser()
        if "html" in response.headers.get("Content-Type", ""):
            parser.feed(response.text[:65536])
        credentials = dict(self.context.credentials)
        if not credentials.get("signing_secret") or not credentials.get("feed_key"):
            credentials.update(signing_secret=new_signing_secret(), feed_key=new_feed_key(), keys_shown="no")
            self.context.credentials = credentials
            self.context.save_credentials(credentials)
        host = urlsplit(site_url).hostname or site_url
        return {"external_account_id": site_url, "display_name": " ".join(parser.title.split())[:200] or host}

    # --- orders, by webhook ------------------------------------------------------------------------------------

    @classmethod
    def verify_webhook(cls, *, body: bytes, headers: Mapping[str, str], secret: str) -> bool:
        """HMAC-SHA256 of "<timestamp>.<body>", the timestamp within REPLAY_WINDOW, compared in constant time."""
        timestamp = (headers.get(TIMESTAMP_HEADER) or "").strip()
        signature = (headers.get(SIGNATURE_HEADER) or "").strip()
        if not secret or not timestamp.isdigit() or len(timestamp) > 12 or not signature:
            return False
        if abs(time.time() - int(timestamp)) > REPLAY_WINDOW.total_seconds():
            return False
        return hmac.compare_digest(sign(secret=secret, timestamp=timestamp, body=body).encode(),
                                   signature.encode())

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> WebhookMessage:
        """The order, validated against the schema with every error named, as OrderData."""
        event = (headers.get(EVENT_HEADER) or "").strip()
        if event not in EVENTS:
            raise PermanentError(f"{EVENT_HEADER} must be one of {', '.join(EVENTS)}, not {event!r}", raw=body)
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PermanentError(f"The body is not JSON: {exc}", raw=body) from exc
        errors = schema_errors(document)
        if errors:
            raise PermanentError(f"The order does not match order.schema.json ({len(errors)} error(s)): "
                                 + "; ".join(errors), raw=body)
        return WebhookMessage(delivery_id=(headers.get(DELIVERY_HEADER) or "").strip(), topic=event,
                              orders=[self._order(document)], payload=document)

    def _order(self, doc: dict[str, Any]) -> OrderData:
        placed_at, updated_at = _parse_time(doc["created_at"]), _parse_time(doc["updated_at"])
        line_ids = [line["id"] for line in doc["lines"]]
        if len(set(line_ids)) != len(line_ids):
            raise PermanentError("lines: every line id must be unique within the order", raw=json.dumps(doc))
        buyer, address = doc.get("buyer") or {}, doc.get("shipping_address") or {}
        return OrderData(
            external_id=doc["id"], number=doc.get("number", ""), status=OrderStatus(doc["status"]),
            raw_status=doc["status"], placed_at=placed_at, updated_at=max(updated_at, placed_at),
            currency=doc["currency"], total=Decimal(doc["total"]), buyer_name=buyer.get("name", "")
            or address.get("name", ""), shipping_address=address,
            lines=[OrderLineData(external_id=line["id"], sku=line["sku"], title=line.get("title", "") or line["sku"],
                                 quantity=line["quantity"], unit_price=Decimal(line["unit_price"]), raw=line)
                   for line in doc["lines"]],
            raw=doc,
        )

    def register_webhooks(self, *, callback_url: str, secret: str) -> list[str]:
        """Nothing to subscribe: the site is given the address and its signing secret on the Keys page."""
        return []

    def unregister_webhooks(self, *, webhook_ids: Sequence[str]) -> None:
        """Nothing was subscribed; disconnecting wipes the signing secret, so later deliveries are refused."""
        return None

    # --- listings: the feed ------------------------------------------------------------------------------------

    def create_listing(self, draft: ListingDraft) -> ListingResult:
        """A listing on the site is a row of Haat's feed: live as soon as it is published, keyed by SKU."""
        return ListingResult(ok=True, external_refs={"sku": draft.sku}, state="live")
