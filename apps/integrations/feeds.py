"""The website channel's read-only feed of live stock and prices, and the keys that guard it.

An SHG's own site (connectors/website.py) has no API Haat could push to, so the site reads this feed
instead: every listing of its connection that is live or pending, with the price the channel should show
and the quantity it may sell. The quantity is computed exactly as a stock push computes it for every
other channel (apps.inventory: available minus the listing's buffer, capped by its maximum, the
connection's defaults applying), so the site and the marketplaces never disagree.

Paging is by key (listing id), so a page costs the same three queries however big the catalog, and the
CSV is streamed page by page: memory stays flat. The feed key and the order signing secret live in the
connection's encrypted credentials, are shown once (on connect, then on each rotation) and compared in
constant time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from apps.catalog.models import Listing
from apps.catalog.services import channel_currency
from apps.integrations.connectors.website import new_feed_key, new_signing_secret
from apps.integrations.models import Connection
from apps.inventory.services import available_by_variant, push_quantity
from apps.inventory.tasks import _settings as connection_stock_settings

PLATFORM = "website"
FEED_KEY_HEADER = "X-Haat-Feed-Key"
DEFAULT_PAGE_SIZE = 500
MAX_PAGE_SIZE = 1000
# Listings the site may sell: the same states a stock push goes to (drafts, refused and delisted are not shown).
FEED_STATES = (Listing.State.LIVE, Listing.State.PENDING)
CSV_COLUMNS = ("sku", "title", "price", "mrp", "currency", "quantity", "state", "updated_at")


class FeedError(ValueError):
    """A request the feed cannot answer (a bad cursor or limit): 400 with this message."""


# --- who is asking -----------------------------------------------------------------------------------------------


def feed_connection(*, connection_uuid: UUID | str, key: str) -> Connection | None:
    """The website connection whose feed key this is, or None (unknown, disconnected or wrong key alike)."""
    connection = (Connection.objects.filter(uuid=connection_uuid, platform=PLATFORM)
                  .exclude(status=Connection.Status.DISABLED).order_by().first())
    if connection is None:
        return None
    stored = str((connection.credentials or {}).get("feed_key") or "")
    if not stored or not key or not hmac.compare_digest(stored.encode(), key.encode()):
        return None
    return connection


# --- the rows ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedRow:
    sku: str
    title: str
    price: Decimal | None
    mrp: Decimal | None
    currency: str
    quantity: int
    state: str
    updated_at: str

    def as_json(self) -> dict[str, Any]:
        return {"sku": self.sku, "title": self.title, "price": _money(self.price), "mrp": _money(self.mrp),
                "currency": self.currency, "quantity": self.quantity, "state": self.state, "updated_at": self.updated_at}

    def as_csv(self) -> list[str]:
        return [self.sku, self.title, _money(self.price) or "", _money(self.mrp) or "", self.currency,
                str(self.quantity), self.state, self.updated_at]


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(Decimal("0.01")))


def encode_cursor(listing_id: int) -> str:
    return base64.urlsafe_b64encode(f"l{listing_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise FeedError("cursor is not one this feed gave") from None
    if not text.startswith("l") or not text[1:].isdigit():
        raise FeedError("cursor is not one this feed gave")
    return int(text[1:])


def page_size(value: str | None) -> int:
    if value in (None, ""):
        return DEFAULT_PAGE_SIZE
    if not value.isdigit() or not 1 <= int(value) <= MAX_PAGE_SIZE:
        raise FeedError(f"limit must be a whole number from 1 to {MAX_PAGE_SIZE}")
    return int(value)


def feed_page(*, connection: Connection, after_id: int = 0, limit: int = DEFAULT_PAGE_SIZE) -> tuple[list[FeedRow], int | None]:
    """One page of the feed after listing `after_id`, and the id to continue after (None at the end).

    Two queries: the listings with their variants and products, and the stock totals of those variants.
    """
    listings = list(Listing.objects.filter(connection=connection, state__in=FEED_STATES, id__gt=after_id,
                                           fulfilled_by_marketplace=False)
                    .select_related("variant__product").order_by("id")[:limit + 1])
    more = len(listings) > limit
    listings = listings[:limit]
    totals = available_by_variant(variant_ids={listing.variant_id for listing in listings}) if listings else {}
    default_buffer, default_max = connection_stock_settings(connection)
    currency = channel_currency(connection)
    rows = []
    for listing in listings:
        available = totals.get(listing.variant_id, {}).get("available", 0)
        quantity = push_quantity(
            available=available,
            buffer=listing.stock_buffer if listing.stock_buffer is not None else default_buffer,
            maximum=listing.stock_max if listing.stock_max is not None else default_max)
        rows.append(FeedRow(sku=listing.channel_sku or listing.variant.sku, title=listing.variant.product.title,
                            price=listing.effective_price, mrp=listing.effective_mrp, currency=currency,
                            quantity=quantity, state=listing.state, updated_at=listing.updated_at.isoformat()))
    return rows, (listings[-1].id if more else None)


def feed_rows(*, connection: Connection, chunk: int = DEFAULT_PAGE_SIZE) -> Iterator[FeedRow]:
    """Every row of the feed, read page by page (for the streamed CSV): memory bounded by `chunk`."""
    after_id = 0
    while True:
        rows, next_id = feed_page(connection=connection, after_id=after_id, limit=chunk)
        yield from rows
        if next_id is None:
            return
        after_id = next_id


# --- the keys -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebsiteKeys:
    """Keys as shown to the coordinator once; never stored anywhere but the encrypted credentials."""

    signing_secret: str = ""
    feed_key: str = ""


def _shown(credentials: dict[str, Any]) -> bool:
    # The encrypted field keeps strings (a stored False would come back as "False"): "no" until shown.
    return str(credentials.get("keys_shown", "yes")).lower() != "no"


def website_keys_state(connection: Connection) -> dict[str, bool]:
    credentials = connection.credentials or {}
    return {"configured": bool(credentials.get("signing_secret") and credentials.get("feed_key")),
            "revealed": _shown(credentials)}


@transaction.atomic
def website_keys_reveal(*, connection: Connection) -> WebsiteKeys | None:
    """The keys made at connect, once: None when they were already shown (rotate to get new ones)."""
    locked = Connection.objects.select_for_update().get(pk=connection.pk, platform=PLATFORM)
    credentials = dict(locked.credentials or {})
    if _shown(credentials) or not credentials.get("signing_secret"):
        return None
    credentials["keys_shown"] = "yes"
    Connection.objects.filter(pk=locked.pk).update(credentials=credentials, updated_at=timezone.now())
    connection.credentials = credentials
    return WebsiteKeys(signing_secret=credentials["signing_secret"], feed_key=credentials["feed_key"])


@transaction.atomic
def website_keys_rotate(*, connection: Connection, signing_secret: bool = False, feed_key: bool = False) -> WebsiteKeys:
    """Replace the signing secret and/or the feed key; the old ones stop working at once. Returns the new ones."""
    if not (signing_secret or feed_key):
        raise ValueError("Choose the signing secret, the feed key or both.")
    locked = Connection.objects.select_for_update().get(pk=connection.pk, platform=PLATFORM)
    if locked.status == Connection.Status.DISABLED:
        raise ValueError("This channel is disconnected; reconnect it to get new keys.")
    credentials = dict(locked.credentials or {})
    new = WebsiteKeys(signing_secret=new_signing_secret() if signing_secret else "",
                      feed_key=new_feed_key() if feed_key else "")
    if new.signing_secret:
        credentials["signing_secret"] = new.signing_secret
    if new.feed_key:
        credentials["feed_key"] = new.feed_key
    credentials["keys_shown"] = "yes"
    Connection.objects.filter(pk=locked.pk).update(credentials=credentials, updated_at=timezone.now())
    connection.credentials = credentials
    return new
