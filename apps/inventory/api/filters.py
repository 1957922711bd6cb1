import django_filters

from apps.core.api import UpdatedSinceFilterSet
from apps.inventory.models import MarketplaceStock, StockItem, StockMovement, StockReservation


class StockItemFilter(UpdatedSinceFilterSet):
    shg = django_filters.NumberFilter(field_name="variant__shg")
    sku = django_filters.CharFilter(field_name="variant__sku")
    available_below = django_filters.NumberFilter(method="filter_available_below",
                                                  help_text="Items with fewer than this many units available.")

    class Meta:
        model = StockItem
        fields = ["shg", "variant", "sku", "location", "updated_since", "available_below"]

    def filter_available_below(self, queryset, name, value):
        from django.db.models import F

        return queryset.annotate(_available=F("on_hand") - F("reserved")).filter(_available__lt=value)


class StockMovementFilter(django_filters.FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=StockMovement.Kind.choices)
    created_since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")

    class Meta:
        model = StockMovement
        fields = ["item", "kind", "order_line", "created_since"]


class MarketplaceStockFilter(django_filters.FilterSet):
    fetched_since = django_filters.IsoDateTimeFilter(field_name="fetched_at", lookup_expr="gte")

    class Meta:
        model = MarketplaceStock
        fields = ["connection", "variant", "sku", "fetched_since"]


class OversoldLineFilter(UpdatedSinceFilterSet):
    shg = django_filters.NumberFilter(field_name="order__shg")
    connection = django_filters.NumberFilter(field_name="order__connection")
    sku = django_filters.CharFilter(field_name="item__variant__sku")

    class Meta:
        model = StockReservation
        fields = ["shg", "connection", "order", "sku", "updated_since"]
