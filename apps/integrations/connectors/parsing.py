"""Reading the values platforms send that several connectors read the same way: ISO 8601 times, money to the
cent, and the payload text a PermanentError keeps.

Each connector binds these to its own words once (`functools.partial(iso_time, platform="Magento")`), so its
errors still name the platform. A platform whose values differ (RFC 2822 dates, money kept unrounded, times
kept in their own offset) keeps its own reader: only identical behaviour lives here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from apps.integrations.connectors.errors import PermanentError

CENT = Decimal("0.01")
NO_PAYLOAD: Any = object()  # no record given: an error keeps the value itself


def payload_text(value: Any, limit: int = 20_000) -> str:
    """A payload as the text an error keeps: JSON with the buyer's own script (not \\u escapes), cut at `limit`."""
    return json.dumps(value, ensure_ascii=False, default=str)[:limit]


def iso_time(value: Any, what: str, payload: Any = NO_PAYLOAD, *, platform: str, naive_zone: tzinfo = UTC) -> datetime:
    """An ISO 8601 time ("Z" accepted) as an aware UTC datetime; one without an offset is read in `naive_zone`.

    A missing or unreadable value is a PermanentError naming the platform and the field, keeping `payload`
    (the record the value came from) as text, or the value itself when no payload is given. The payload is
    only turned into text on failure: this runs for every order read.
    """
    if not isinstance(value, str) or not value:
        raw = json.dumps(value, default=str) if payload is NO_PAYLOAD else payload_text(payload)
        raise PermanentError(f"{platform} sent no {what}", raw=raw)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raw = value if payload is NO_PAYLOAD else payload_text(payload)
        raise PermanentError(f"{platform} sent an unreadable {what}: {value[:40]}", raw=raw) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=naive_zone)).astimezone(UTC)


def cents(value: Any, what: str, payload: Any, *, platform: str) -> Decimal:
    """Money to the cent (half up) from a decimal string or a JSON number, read through its shortest text so a
    float's binary error never reaches the amount. None, "" and booleans are "no amount" (PermanentError)."""
    if isinstance(value, bool) or value is None or value == "":
        raise PermanentError(f"{platform} sent no {what}", raw=payload_text(payload))
    try:
        return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise PermanentError(f"{platform} sent an unreadable {what}: {str(value)[:40]}", raw=payload_text(payload)) from None
