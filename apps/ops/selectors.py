"""Reads for the ops pages: a user's notifications, the staff health board, and each connection's health."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import QuerySet

from apps.integrations.models import Connection
from apps.ops.models import ConnectionHealth, Notification


def notifications_for(user) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user).select_related("alert").order_by("-created_at", "-id")


def unread_count(user) -> int:
    if not getattr(user, "is_authenticated", False):
        return 0
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def health_by_connection(connection_ids) -> dict[int, ConnectionHealth]:
    """One query for a page of connection cards."""
    return {h.connection_id: h for h in ConnectionHealth.objects.filter(connection_id__in=list(connection_ids))}


def health_state(connection: Connection, health: ConnectionHealth | None) -> str:
    """One word for a card: ok, failing, probing, needs_reauth, disabled, pending, error."""
    if connection.status == Connection.Status.NEEDS_REAUTH:
        return "needs_reauth"
    if connection.status in (Connection.Status.DISABLED, Connection.Status.PENDING):
        return connection.status
    if health is not None and health.breaker == ConnectionHealth.Breaker.OPEN:
        return "failing"
    if health is not None and health.breaker == ConnectionHealth.Breaker.HALF_OPEN:
        return "probing"
    return "error" if connection.status == Connection.Status.ERROR else "ok"


@dataclass
class FailureGroup:
    failure: str
    rows: list = field(default_factory=list)


@dataclass
class PlatformBoard:
    platform: str
    total: int = 0
    failing: int = 0
    groups: list[FailureGroup] = field(default_factory=list)


def health_board() -> list[PlatformBoard]:
    """Every connection grouped by platform, then by its failure (healthy ones together), worst first."""
    connections = Connection.objects.select_related("shg", "health").order_by("platform", "shg__name", "display_name")
    boards: dict[str, PlatformBoard] = {}
    grouped: dict[str, dict[str, FailureGroup]] = defaultdict(dict)
    for connection in connections:
        health = getattr(connection, "health", None)
        state = health_state(connection, health)
        board = boards.setdefault(connection.platform, PlatformBoard(connection.platform))
        board.total += 1
        if state in ("ok", "disabled", "pending"):
            failure = "" if state == "ok" else connection.get_status_display()
        else:
            board.failing += 1
            failure = (health.last_error_type if health and health.last_error_type else connection.get_status_display())
        group = grouped[connection.platform].setdefault(failure, FailureGroup(failure))
        group.rows.append({"connection": connection, "health": health, "state": state})
    for platform, board in boards.items():
        board.groups = sorted(grouped[platform].values(), key=lambda g: (g.failure == "", g.failure))
    return sorted(boards.values(), key=lambda b: (-b.failing, b.platform))
