"""Template tags of operations: `{% audit_trail obj %}`, the notifications bell, and health badges.

    {% load ops %}
    {% audit_trail connection %}                      the object's change history (who, when, what)
    {% notifications_bell %}                          a link with the user's unread count
    {% connection_health_map connections as health %} one query for a page of cards, then
    {% with state=health|health_of:connection %}...   "ok", "failing", "probing", "needs_reauth", ...
"""

from __future__ import annotations

from django import template

from apps.ops import selectors
from apps.ops.audit import audit_entries

register = template.Library()


@register.inclusion_tag("ops/_audit_trail.html")
def audit_trail(obj, limit: int = 20):
    return {"entries": audit_entries(obj, limit=limit) if obj is not None and obj.pk else []}


@register.inclusion_tag("ops/_bell.html", takes_context=True)
def notifications_bell(context):
    request = context.get("request")
    user = getattr(request, "user", None)
    return {"unread": selectors.unread_count(user) if user is not None else 0,
            "show": bool(user is not None and user.is_authenticated)}


@register.simple_tag
def connection_health_map(items) -> dict:
    """{connection id: (connection, health)} for cards: items are connections or objects with `.connection`."""
    connections = [getattr(item, "connection", item) for item in items or []]
    healths = selectors.health_by_connection(c.pk for c in connections)
    return {c.pk: (c, healths.get(c.pk)) for c in connections}


@register.filter
def health_of(health_map: dict, connection) -> str:
    entry = (health_map or {}).get(getattr(connection, "pk", connection))
    if entry is None:
        return ""
    return selectors.health_state(*entry)


@register.inclusion_tag("ops/_connection_health.html")
def connection_health(connection):
    """The breaker, latency and last check of one connection (its page)."""
    health = selectors.health_by_connection([connection.pk]).get(connection.pk)
    return {"health": health, "state": selectors.health_state(connection, health)}
