"""Storing ratings read from a channel: new ones are written in bulk and announced as rating.received."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction

from apps.events.services import EventDraft, publish_many
from apps.events.types import EventType
from apps.integrations.connectors.base import RatingData
from apps.reviews.models import Review


class InvalidRatingData(ValueError):
    """A connector handed over a rating that cannot be stored (no id, stars outside 1-5, naive time)."""


@dataclass
class ReviewsUpsertResult:
    created: int
    unchanged: int


def _check(ratings: Sequence[RatingData]) -> None:
    problems = []
    for index, rating in enumerate(ratings):
        if not rating.external_id:
            problems.append(f"rating {index}: no id")
        if isinstance(rating.rating, bool) or not isinstance(rating.rating, int) or not 1 <= rating.rating <= 5:
            problems.append(f"rating {rating.external_id or index}: {rating.rating!r} is not 1 to 5 stars")
        if rating.created_at is None or rating.created_at.tzinfo is None:
            problems.append(f"rating {rating.external_id or index}: the time has no time zone")
    if problems:
        raise InvalidRatingData("; ".join(problems))


def reviews_upsert(*, connection, ratings: Sequence[RatingData]) -> ReviewsUpsertResult:
    """Store the ratings not seen before (a review is immutable here: the first reading is kept) and publish
    one rating.received event for each, in one transaction. Three queries whatever the number of ratings."""
    from apps.catalog.models import Variant

    _check(ratings)
    unique = {rating.external_id: rating for rating in ratings}
    with transaction.atomic():
        known = set(Review.objects.filter(connection=connection, external_id__in=list(unique))
                    .values_list("external_id", flat=True))
        fresh = [rating for key, rating in unique.items() if key not in known]
        skus = {rating.sku for rating in fresh if rating.sku}
        variants = dict(Variant.objects.filter(shg_id=connection.shg_id, sku__in=skus).values_list("sku", "id")) \
            if skus else {}
        rows = [Review(
            shg_id=connection.shg_id, connection=connection, external_id=rating.external_id[:100],
            variant_id=variants.get(rating.sku), product_external_id=rating.product_external_id[:100],
            sku=rating.sku[:100], product_title=rating.product_title[:255], rating=rating.rating,
            title=rating.title[:255], body=rating.body, reviewer=rating.reviewer[:200],
            verified_buyer=rating.verified_buyer, published_at=rating.created_at, raw=rating.raw,
        ) for rating in fresh]
        # ignore_conflicts: a concurrent run storing the same review must not fail this one.
        Review.objects.bulk_create(rows, ignore_conflicts=True)
        publish_many([EventDraft(
            type=EventType.RATING_RECEIVED, shg_id=connection.shg_id, connection_id=connection.pk,
            occurred_at=rating.created_at,
            payload={"review_id": rating.external_id, "rating": rating.rating, "sku": rating.sku,
                     "variant_id": variants.get(rating.sku), "product_id": rating.product_external_id,
                     "product_title": rating.product_title, "title": rating.title, "body": rating.body,
                     "verified_buyer": rating.verified_buyer, "published_at": rating.created_at.isoformat()},
        ) for rating in fresh])
    return ReviewsUpsertResult(created=len(fresh), unchanged=len(unique) - len(fresh))
