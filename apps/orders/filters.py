"""The order list's filters (channel, connection, status, SHG, search), shared with the API later."""

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import SHG
from apps.accounts.selectors import visible_shgs
from apps.integrations.connectors.registry import UnknownPlatform, get_connector_class
from apps.integrations.models import Connection
from apps.orders.models import Order


def platform_name(slug: str) -> str:
    try:
        return get_connector_class(slug).name
    except (UnknownPlatform, ImportError):
        return slug


def _shgs(request):
    return visible_shgs(request.user) if request is not None else SHG.objects.none()


def _connections(request):
    if request is None:
        return Connection.objects.none()
    return Connection.objects.filter(shg__in=visible_shgs(request.user).values("id")).order_by("display_name")


class OrderFilter(django_filters.FilterSet):
    channel = django_filters.ChoiceFilter(label=_("Channel"), field_name="connection__platform", choices=[])
    connection = django_filters.ModelChoiceFilter(label=_("Store"), queryset=_connections)
    status = django_filters.ChoiceFilter(label=_("Status"), choices=Order.Status.choices)
    shg = django_filters.ModelChoiceFilter(label=_("SHG"), queryset=_shgs)
    q = django_filters.CharFilter(label=_("Order number or buyer"), method="search")

    class Meta:
        model = Order
        fields = ["channel", "connection", "status", "shg", "q"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        platforms = _connections(self.request).values_list("platform", flat=True).distinct().order_by("platform")
        self.filters["channel"].extra["choices"] = [(p, platform_name(p)) for p in platforms]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(external_id__iexact=value) | Q(number__iexact=value) | Q(buyer_name__icontains=value))
