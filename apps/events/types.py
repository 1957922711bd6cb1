"""The event types Haat publishes and the current schema version of each payload, declared once.

Producers (`events.services.publish`), in-process handlers, the broker relay and partner subscriptions
all name events by these values, so a typo is an error rather than a silent new stream. A consumer reads
`schema_version` to know the payload's shape; bump it when a payload changes incompatibly (adding a
field is not such a change).
"""

from __future__ import annotations

import enum


class EventType(enum.StrEnum):
    # orders.services.upsert_orders (polling and webhooks alike)
    ORDER_CREATED = "order.created"
    ORDER_UPDATED = "order.updated"
    ORDER_CANCELLED = "order.cancelled"
    # orders.services (fulfilment push)
    FULFILMENT_CREATED = "fulfilment.created"
    FULFILMENT_PUSHED = "fulfilment.pushed"
    FULFILMENT_FAILED = "fulfilment.failed"
    # catalog and inventory
    INVENTORY_UPDATED = "inventory.updated"
    PRICE_CHANGED = "price.changed"
    LISTING_UPDATED = "listing.updated"
    RATING_RECEIVED = "rating.received"
    # integrations (sync engine, webhooks, connect flows)
    SYNC_FAILED = "sync.failed"
    CONNECTION_NEEDS_REAUTH = "connection.needs_reauth"
    CONNECTION_DISABLED = "connection.disabled"
    # tenders (GeM bids, IndiaMART inquiries and quotes)
    TENDER_MATCHED = "tender.matched"
    BID_STATUS_CHANGED = "bid.status_changed"
    INQUIRY_RECEIVED = "inquiry.received"
    QUOTE_SENT = "quote.sent"


# Type -> current schema version of its payload (what `publish` stamps on the event).
EVENT_TYPES: dict[str, int] = {event_type.value: 1 for event_type in EventType}

# What each type means: shown to staff and partners (admin, docs/events.md).
DESCRIPTIONS: dict[str, str] = {
    EventType.ORDER_CREATED: "An order Haat had not seen before arrived from a channel (poll or webhook).",
    EventType.ORDER_UPDATED: "A known order changed: status, lines, total, address or tracking.",
    EventType.ORDER_CANCELLED: "An order moved to the cancelled status on its channel.",
    EventType.FULFILMENT_CREATED: "A coordinator recorded a shipment (carrier, tracking number) for an order.",
    EventType.FULFILMENT_PUSHED: "The channel accepted the shipment Haat pushed to it.",
    EventType.FULFILMENT_FAILED: "The channel refused the shipment Haat pushed; the payload carries its answer.",
    EventType.INVENTORY_UPDATED: "The available stock of a SKU changed (an order, a count, a channel's report).",
    EventType.PRICE_CHANGED: "The price or MRP of a SKU changed, in Haat or on a channel.",
    EventType.LISTING_UPDATED: "A channel created, changed or removed its listing of a product.",
    EventType.RATING_RECEIVED: "A buyer rated or reviewed a product or the seller, where the channel exposes ratings.",
    EventType.SYNC_FAILED: "A sync of a connection failed; the payload carries the error type and message.",
    EventType.CONNECTION_NEEDS_REAUTH: "A channel refused the stored credentials; a coordinator must reconnect.",
    EventType.CONNECTION_DISABLED: "A connection was switched off, by a coordinator or because the app was uninstalled.",
    EventType.TENDER_MATCHED: "An imported GeM bid matches the SHG's catalog; the payload has its score and matched words.",
    EventType.BID_STATUS_CHANGED: "A bid on a tender moved in its workflow (draft, submitted, evaluated, awarded, lost).",
    EventType.INQUIRY_RECEIVED: "A new buyer inquiry arrived from IndiaMART (pull or push).",
    EventType.QUOTE_SENT: "A quote answering an inquiry was emailed to the buyer with its PDF and link.",
}


def is_known(value: str) -> bool:
    return value in EVENT_TYPES


def event_type_choices() -> list[tuple[str, str]]:
    return [(value, value) for value in EVENT_TYPES]
