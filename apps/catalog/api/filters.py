import django_filters

from apps.catalog.models import Product, Variant
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
