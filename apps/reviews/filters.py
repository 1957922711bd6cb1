"""The reviews page's filters: channel, store, SHG, stars, with or without words, since a day, SKU or product."""

from datetime import datetime, time

import django_filters
from django import forms
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import SHG
from apps.accounts.selectors import visible_shgs
from apps.integrations.connectors.registry import UnknownPlatform, get_connector_class
from apps.integrations.models import Connection
from apps.reviews.models import Review
from apps.reviews.selectors import LOW_RATING_MAX

LOW = "low"
RATING_CHOICES = [
    (LOW, _("1–2 stars (low)")),
    ("5", _("5 stars")), ("4", _("4 stars")), ("3", _("3 stars")), ("2", _("2 stars")), ("1", _("1 star")),
]
WITH_TEXT, STARS_ONLY = "yes", "no"


def platform_name(slug: str) -> str:
    try:
        return get_connector_class(slug).name
    except (UnknownPlatform, ImportError):
        return slug


def _shgs(request):
    return visible_shgs(request.user).order_by("name") if request is not None else SHG.objects.none()


def _connections(request):
    if request is None:
        return Connection.objects.none()
    return (Connection.objects.filter(shg__in=visible_shgs(request.user).values("id"))
            .only("id", "display_name", "platform").order_by("display_name"))


class ReviewListFilter(django_filters.FilterSet):
    channel = django_filters.ChoiceFilter(label=_("Channel"), field_name="connection__platform", choices=[])
    connection = django_filters.ModelChoiceFilter(label=_("Store"), queryset=_connections)
    shg = django_filters.ModelChoiceFilter(label=_("SHG"), queryset=_shgs)
    rating = django_filters.ChoiceFilter(label=_("Stars"), choices=RATING_CHOICES, method="filter_rating")
    text = django_filters.ChoiceFilter(label=_("Words"), method="filter_text",
                                       choices=[(WITH_TEXT, _("With words")), (STARS_ONLY, _("Stars only"))])
    published_from = django_filters.DateFilter(label=_("Published from"), method="filter_published_from",
                                               widget=forms.DateInput(attrs={"type": "date"}))
    q = django_filters.CharFilter(label=_("SKU or product"), method="search")

    class Meta:
        model = Review
        fields = ["channel", "connection", "shg", "rating", "text", "published_from", "q"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        platforms = _connections(self.request).values_list("platform", flat=True).distinct().order_by("platform")
        self.filters["channel"].extra["choices"] = [(p, platform_name(p)) for p in platforms]

    def filter_rating(self, queryset, name, value):
        return queryset.filter(rating__lte=LOW_RATING_MAX) if value == LOW else queryset.filter(rating=int(value))

    def filter_text(self, queryset, name, value):
        written = ~Q(body="") | ~Q(title="")
        return queryset.filter(written) if value == WITH_TEXT else queryset.exclude(written)

    def filter_published_from(self, queryset, name, value):
        # A local calendar day turned into an instant, so the (shg, published_at) index serves the filter.
        return queryset.filter(published_at__gte=timezone.make_aware(datetime.combine(value, time.min)))

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(sku__iexact=value) | Q(product_title__icontains=value))
