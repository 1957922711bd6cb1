"""The orders CSV export: streamed row by row so memory stays flat whether the filter matches ten orders or a
million. The queryset comes from the order list (tenancy scope and filters already applied), so the file holds
exactly what the coordinator sees on the page, all pages of it."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from django.db.models import QuerySet
from django.utils import timezone

from apps.orders.models import Order

HEADER = ["order_id", "number", "placed_at", "status", "channel_status", "currency", "total", "buyer", "shg",
          "channel", "platform", "shipped_by", "postcode"]
# Rows fetched per round trip: server-side cursor on PostgreSQL, chunked reads elsewhere.
CHUNK = 2000


class _Echo:
    """A file-like object whose write returns the line, so csv.writer feeds a generator."""

    def write(self, value: str) -> str:
        return value


def order_rows(queryset: QuerySet[Order]) -> Iterator[list]:
    fields = ("external_id", "number", "placed_at", "status", "raw_status", "currency", "total", "buyer_name",
              "shg__name", "connection__display_name", "connection__platform", "fulfilment_channel",
              "shipping_address__postcode")
    local = timezone.get_current_timezone()
    for row in queryset.values_list(*fields).iterator(chunk_size=CHUNK):
        values = list(row)
        values[2] = values[2].astimezone(local).isoformat(timespec="seconds")
        values[6] = f"{values[6]:f}"
        values[12] = values[12] or ""
        yield values


def _safe(value) -> str:
    """Spreadsheet programs run cells starting with = + - @ as formulas: a buyer's name must not."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_lines(rows: Iterable[list]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(HEADER)  # BOM: Excel then reads the Devanagari and ₹ in UTF-8
    for row in rows:
        # The total (index 6) is a number we formatted; every other text may come from a buyer or a platform.
        yield writer.writerow([v if i == 6 else _safe(v) for i, v in enumerate(row)])
