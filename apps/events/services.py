"""Publishing to the outbox. Call inside the transaction that makes the change: the event commits or
rolls back with it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from apps.core.bulk import BulkWriter
from apps.events.models import Event, uuid7
from apps.events.types import EVENT_TYPES


class UnknownEventType(ValueError):
    pass


@dataclass
class EventDraft:
    """An event to publish in bulk (see publish_many)."""

    type: str
    shg_id: int
    payload: dict[str, Any]
    connection_id: int | None = None
    occurred_at: datetime | None = None
    id: uuid.UUID = field(default_factory=uuid7)


def _schema_version(event_type: str) -> int:
    try:
        return EVENT_TYPES[event_type]
    except KeyError:
        raise UnknownEventType(f"Unknown event type {event_type!r}; add it to apps/events/types.py") from None


def _require_transaction() -> None:
    # Outside a transaction the event could commit without its change, or the change without it.
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("publish() must run inside the transaction of the change it describes")


def publish(*, type: str, shg, connection=None, payload: dict[str, Any]) -> Event:
    """Write one event to the outbox, in the caller's transaction."""
    _require_transaction()
    version = _schema_version(type)
    return Event.objects.create(type=type, shg=shg, connection=connection, schema_version=version, payload=payload)


EVENT_COLUMNS = ["id", "type", "occurred_at", "shg", "connection", "schema_version", "payload", "attempts",
                 "last_error"]
_PAYLOAD_ENCODER = DjangoJSONEncoder(separators=(",", ":"), ensure_ascii=False)


def publish_many(drafts: list[EventDraft]) -> int:
    """Write many events in one statement whatever their number (the bulk paths: a page of orders)."""
    if not drafts:
        return 0
    _require_transaction()
    now = timezone.now()
    versions = {draft.type: _schema_version(draft.type) for draft in drafts}
    encode = _PAYLOAD_ENCODER.encode
    rows = [
        (draft.id, draft.type, draft.occurred_at or now, draft.shg_id, draft.connection_id, versions[draft.type],
         encode(draft.payload), 0, "")
        for draft in drafts
    ]
    BulkWriter(Event, EVENT_COLUMNS).insert(rows)
    return len(rows)


def mark_dispatched(*, event_ids: list[uuid.UUID]) -> int:
    """Stamp events the relay has delivered."""
    return Event.objects.filter(id__in=event_ids, dispatched_at__isnull=True).update(dispatched_at=timezone.now())
