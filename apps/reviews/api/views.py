"""Buyers' ratings and reviews of every channel that publishes them (read only), scoped to the token's SHGs."""

from __future__ import annotations

from rest_framework import viewsets

from apps.core.api import request_token
from apps.reviews.api.filters import ReviewFilter
from apps.reviews.api.serializers import ReviewSerializer
from apps.reviews.models import Review
from apps.reviews.selectors import review_list


class ReviewViewSet(viewsets.ReadOnlyModelViewSet):
    """Reviews newest published first. Poll with `received_since` (the time you started the previous poll) to read
    only the reviews stored since; `max_rating=2` lists the unhappy buyers."""

    queryset = Review.objects.none()  # the real one is per token: get_queryset
    serializer_class = ReviewSerializer
    filterset_class = ReviewFilter
    cursor_ordering = ("-published_at", "-id")

    def get_queryset(self):
        return review_list(principal=request_token(self.request))
