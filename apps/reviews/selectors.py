"""Reads of buyers' reviews, always scoped by tenancy, for the coordinators' list and the partner API.

Lists never read the channel's raw document (it may hold more about the buyer than the channel shows publicly)
nor the connection's keys. Pages are keyset ("cursor") pages on (published_at, id): stable while new reviews
arrive, and each one reads an index range whatever its depth.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from django.db.models import F, Q, QuerySet

from apps.accounts.selectors import Principal, scope_by_shg
from apps.reviews.models import Review

PAGE_SIZE = 50
# Ratings at or below this many stars are shown as needing attention (a buyer unhappy enough to say so).
LOW_RATING_MAX = 2


class BadCursor(ValueError):
    pass


@dataclass
class ReviewPage:
    reviews: list[Review]
    next_cursor: str | None


def reviews_for(principal: Principal) -> QuerySet[Review]:
    return scope_by_shg(Review.objects.all(), principal)


def review_list(*, principal: Principal, queryset: QuerySet[Review] | None = None) -> QuerySet[Review]:
    """The principal's reviews (or `queryset`, already scoped) newest published first, with what a row shows
    joined in: one query per page whatever the number of channels, SHGs and products."""
    base = queryset if queryset is not None else reviews_for(principal)
    return (base.select_related("connection", "shg")
            .defer("raw", "connection__credentials")
            .annotate(catalog_product_id=F("variant__product_id"))
            .order_by("-published_at", "-id"))


def review_detail(*, principal: Principal, pk: int) -> Review:
    """One review the principal may see; raises Review.DoesNotExist."""
    return review_list(principal=principal).get(pk=pk)


def is_low(rating: int) -> bool:
    return rating <= LOW_RATING_MAX


def encode_cursor(review: Review) -> str:
    raw = f"{review.published_at.isoformat()}|{review.pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, pk = raw.partition("|")
        published_at = datetime.fromisoformat(stamp)
        if published_at.tzinfo is None:
            raise ValueError
        return published_at, int(pk)
    except (ValueError, UnicodeDecodeError):
        raise BadCursor("This page link is not valid.") from None


def review_page(queryset: QuerySet[Review], *, cursor: str | None, size: int = PAGE_SIZE) -> ReviewPage:
    """One page of a (-published_at, -id) ordered queryset after `cursor`; raises BadCursor."""
    if cursor:
        published_at, pk = decode_cursor(cursor)
        # The redundant `published_at <= x` gives the planner an index range; the OR alone makes it scan.
        queryset = queryset.filter(Q(published_at__lt=published_at) | Q(published_at=published_at, id__lt=pk),
                                   published_at__lte=published_at)
    rows = list(queryset[: size + 1])
    next_cursor = encode_cursor(rows[size - 1]) if len(rows) > size else None
    return ReviewPage(reviews=rows[:size], next_cursor=next_cursor)
