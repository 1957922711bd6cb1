"""The order list's filters (channel, connection, status, SHG, search), shared with the API later."""

from datetime import date, datetime, time, timedelta

import django_filters
from django import forms
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import SHG
from apps.accounts.selectors import visible_shgs
from apps.integrations.connectors.registry import UnknownPlatform, get_connector_class
from apps.integrations.models import Connection
from apps.orders.models import Order, OrderLine


def platform_name(slug: str) -> str:
    try:
        return get_connector_class(slug).name
    except (UnknownPlatform, ImportError):
        return slug


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _shgs(request):
    return visible_shgs(request.user) if request is not None else SHG.objects.none()


def _connections(request):
    if request is None:
        return Connection.objects.none()
    return (Connection.objects.filter(shg__in=visible_shgs(request.user).values("id"))
            .only("id", "display_name", "platform").order_by("display_name"))


class OrderFilter(django_filters.FilterSet):
    channel = django_filters.ChoiceFilter(label=_("Channel"), field_name="connection__platform", choices=[])
    connection = django_filters.ModelChoiceFilter(label=_("Store"), queryset=_connections)
    status = django_filters.ChoiceFilter(label=_("Status"), choices=Order.Status.choices)
    shg = django_filters.ModelChoiceFilter(label=_("SHG"), queryset=_shgs)
    placed_from = django_filters.DateFilter(label=_("Placed from"), method="placed_from_day",
                                            widget=forms.DateInput(attrs={"type": "date"}))
    placed_to = django_filters.DateFilter(label=_("Placed until"), method="placed_to_day",
                                          widget=forms.DateInput(attrs={"type": "date"}))
    q = django_filters.CharFilter(label=_("Order id, buyer or SKU"), method="search")

    class Meta:
        model = Order
        fields = ["channel", "connection", "status", "shg", "placed_from", "placed_to", "q"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        platforms = _connections(self.request).values_list("platform", flat=True).distinct().order_by("platform")
        self.filters["channel"].extra["choices"] = [(p, platform_name(p)) for p in platforms]

    # Local calendar days turned into a range of instants, so the (shg, placed_at) index serves the filter.
    def placed_from_day(self, queryset, name, value):
        return queryset.filter(placed_at__gte=_day_start(value))

    def placed_to_day(self, queryset, name, value):
        return queryset.filter(placed_at__lt=_day_start(value + timedelta(days=1)))

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        # EXISTS rather than a join on lines: an order with two matching lines is listed once.
        has_sku = Exists(OrderLine.objects.filter(order=OuterRef("pk"), sku__iexact=value))
        return queryset.filter(Q(external_id__iexact=value) | Q(number__iexact=value) | Q(buyer_name__icontains=value)
                               | has_sku)
