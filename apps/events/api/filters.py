import django_filters

from apps.events.models import Event, PartnerWebhookSubscription
from apps.events.types import EVENT_TYPES


class EventFilter(django_filters.FilterSet):
    type = django_filters.MultipleChoiceFilter(choices=[(t, t) for t in EVENT_TYPES])
    occurred_since = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")

    class Meta:
        model = Event
        fields = ["type", "shg", "connection", "occurred_since"]


class SubscriptionFilter(django_filters.FilterSet):
    class Meta:
        model = PartnerWebhookSubscription
        fields = ["is_active"]
