import django_filters

from apps.accounts.models import SHG
from apps.core.api import UpdatedSinceFilterSet


class SHGFilter(UpdatedSinceFilterSet):
    state = django_filters.CharFilter(lookup_expr="iexact")
    district = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = SHG
        fields = ["state", "district", "is_active", "updated_since"]
