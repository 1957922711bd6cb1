import django_filters

from apps.core.api import UpdatedSinceFilterSet
from apps.orders.models import Fulfilment, Order


class OrderFilter(UpdatedSinceFilterSet):
    channel = django_filters.CharFilter(field_name="connection__platform", help_text="Platform slug, e.g. woocommerce.")
    status = django_filters.MultipleChoiceFilter(choices=Order.Status.choices)
    placed_since = django_filters.IsoDateTimeFilter(field_name="placed_at", lookup_expr="gte")
    placed_before = django_filters.IsoDateTimeFilter(field_name="placed_at", lookup_expr="lt")

    class Meta:
        model = Order
        fields = ["shg", "connection", "channel", "status", "fulfilment_channel", "updated_since", "placed_since",
                  "placed_before"]


class FulfilmentFilter(UpdatedSinceFilterSet):
    class Meta:
        model = Fulfilment
        fields = ["order", "push_state", "updated_since"]
