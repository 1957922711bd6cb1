"""Filters of the partner API's reviews: where a review came from, how many stars, when, about what."""

import django_filters
from django.db.models import Q

from apps.reviews.models import Review

STARS = [(n, str(n)) for n in range(1, 6)]


class ReviewFilter(django_filters.FilterSet):
    channel = django_filters.CharFilter(field_name="connection__platform", help_text="Platform slug, e.g. woocommerce.")
    rating = django_filters.TypedMultipleChoiceFilter(choices=STARS, coerce=int,
                                                      help_text="Exact stars (repeatable: rating=1&rating=2).")
    min_rating = django_filters.TypedChoiceFilter(field_name="rating", lookup_expr="gte", choices=STARS, coerce=int,
                                                  help_text="At least this many stars.")
    max_rating = django_filters.TypedChoiceFilter(field_name="rating", lookup_expr="lte", choices=STARS, coerce=int,
                                                  help_text="At most this many stars, e.g. 2 for the unhappy buyers.")
    received_since = django_filters.IsoDateTimeFilter(
        field_name="received_at", lookup_expr="gte",
        help_text="Stored by Haat at or after this instant (ISO 8601 with a time zone): the incremental poll.")
    updated_since = django_filters.IsoDateTimeFilter(
        field_name="received_at", lookup_expr="gte",
        help_text="The same as received_since: a review never changes once stored (the first reading is kept).")
    published_since = django_filters.IsoDateTimeFilter(field_name="published_at", lookup_expr="gte",
                                                       help_text="Published on the channel at or after this instant.")
    published_before = django_filters.IsoDateTimeFilter(field_name="published_at", lookup_expr="lt")
    product = django_filters.NumberFilter(field_name="variant__product_id",
                                          help_text="A catalog product's id (reviews matched to one of its variants).")
    product_external_id = django_filters.CharFilter(help_text="The channel's id of the reviewed product.")
    sku = django_filters.CharFilter(help_text="The reviewed product's SKU as the channel gave it.")
    has_text = django_filters.BooleanFilter(method="filter_has_text",
                                            help_text="true: reviews with a title or text; false: stars only.")

    class Meta:
        model = Review
        fields = ["shg", "connection", "channel", "rating", "min_rating", "max_rating", "received_since",
                  "updated_since", "published_since", "published_before", "variant", "product", "product_external_id",
                  "sku", "verified_buyer", "has_text"]

    def filter_has_text(self, queryset, name, value):
        written = ~Q(body="") | ~Q(title="")
        return queryset.filter(written) if value else queryset.exclude(written)
