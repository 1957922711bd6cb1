"""Keyset ("cursor") pages over lists ordered newest first by a time and the id, for the dashboard's long lists.

Offset pages get slower the deeper one goes and shift when new rows arrive; a cursor holding the last row's
(time, id) reads an index range and stays put. The cursor is opaque to users (base64 of "iso-time|id").
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet


class BadCursor(ValueError):
    """A page link that was edited, cut short or made by something else."""


def encode_cursor(moment: datetime, pk: int) -> str:
    raw = f"{moment.isoformat()}|{pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """(time, id) from a cursor; raises BadCursor for anything encode_cursor did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, pk = raw.partition("|")
        moment = datetime.fromisoformat(stamp)
        if moment.tzinfo is None:
            raise ValueError
        return moment, int(pk)
    except (ValueError, UnicodeDecodeError):
        raise BadCursor("This page link is not valid.") from None


def keyset_page(queryset: QuerySet, *, field: str, cursor: str | None, size: int) -> tuple[list[Any], str | None]:
    """The rows of a queryset ordered by (-field, -id) after `cursor`, and the cursor of the next page (None on
    the last). Raises BadCursor."""
    if cursor:
        moment, pk = decode_cursor(cursor)
        # The redundant `field <= x` gives the planner an index range; the OR alone makes it scan.
        queryset = queryset.filter(Q(**{f"{field}__lt": moment}) | Q(**{field: moment, "id__lt": pk}),
                                   **{f"{field}__lte": moment})
    rows = list(queryset[: size + 1])
    last = rows[size - 1] if len(rows) > size else None
    return rows[:size], (encode_cursor(getattr(last, field), last.pk) if last is not None else None)
