"""Reads of the outbox."""

from django.db.models import QuerySet

from apps.events.models import Event


def pending_events(*, limit: int = 500) -> QuerySet[Event]:
    """The oldest undispatched events, in order, for the relay."""
    return Event.objects.filter(dispatched_at__isnull=True).order_by("occurred_at", "id")[:limit]


def events_for(*, shg_id: int, types: list[str] | None = None) -> QuerySet[Event]:
    queryset = Event.objects.filter(shg_id=shg_id)
    if types:
        queryset = queryset.filter(type__in=types)
    return queryset.order_by("occurred_at", "id")
