"""Reads of buyers' reviews, always scoped by tenancy, for the coordinators' list and the partner API.

Lists never read the channel's raw document (it may hold more about the buyer than the channel shows publicly)
nor the connection's keys. Pages are keyset ("cursor") pages on (published_at, id): stable while new reviews
arrive, and each one reads an index range whatever its depth.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F, QuerySet

from apps.accounts.selectors import Principal, scope_by_shg
from apps.core import keyset
from apps.core.keyset import BadCursor  # noqa: F401  (the views catch it from here)
from apps.reviews.models import Review

PAGE_SIZE = 50
# Ratings at or below this many stars are shown as needing attention (a buyer unhappy enough to say so).
LOW_RATING_MAX = 2


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


def review_page(queryset: QuerySet[Review], *, cursor: str | None, size: int = PAGE_SIZE) -> ReviewPage:
    """One page of a (-published_at, -id) ordered queryset after `cursor`; raises BadCursor."""
    rows, next_cursor = keyset.keyset_page(queryset, field="published_at", cursor=cursor, size=size)
    return ReviewPage(reviews=rows, next_cursor=next_cursor)
