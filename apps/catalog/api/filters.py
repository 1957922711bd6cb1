import django_filters

from apps.catalog.models import Listing, Product, Variant
from apps.core.api import UpdatedSinceFilterSet


class ProductFilter(UpdatedSinceFilterSet):
    category = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Product
        fields = ["shg", "category", "updated_since"]


class VariantFilter(UpdatedSinceFilterSet):
    class Meta:
        model = Variant
        fields = ["shg", "product", "sku", "updated_since"]


class ListingFilter(UpdatedSinceFilterSet):
    channel = django_filters.CharFilter(field_name="connection__platform", help_text="Platform slug, e.g. amazon.")
    state = django_filters.MultipleChoiceFilter(choices=Listing.State.choices)
    sku = django_filters.CharFilter(field_name="variant__sku")

    class Meta:
        model = Listing
        fields = ["shg", "connection", "channel", "variant", "sku", "state", "fulfilled_by_marketplace", "updated_since"]
