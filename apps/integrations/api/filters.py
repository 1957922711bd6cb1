import django_filters

from apps.core.api import UpdatedSinceFilterSet
from apps.integrations.models import Connection, SyncRun


class ConnectionFilter(UpdatedSinceFilterSet):
    class Meta:
        model = Connection
        fields = ["shg", "platform", "status", "updated_since"]


class SyncRunFilter(django_filters.FilterSet):
    started_since = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="gte")

    class Meta:
        model = SyncRun
        fields = ["connection", "stream", "status", "started_since"]
