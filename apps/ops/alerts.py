"""Alerts: evaluate conditions from the database's state, open one alert per (kind, object), notify once.

Why periodic evaluation and not event handlers: a condition such as "no successful sync for two poll
intervals" or "a webhook waiting too long" is the *absence* of an event, and a condition clears without
one. So the every-minute ops tick (apps/ops/tasks.py) computes the full set of current conditions in a
handful of queries and reconciles it with the open alerts: new conditions open an alert and notify,
cleared ones resolve it. A sync's outcome also triggers an immediate evaluation of its connection, so a
failing channel is reported without waiting for the tick. Both paths meet at the partial unique index
(one open alert per kind and key), so concurrent evaluations cannot notify twice.

Noise control: one open alert per (kind, key) stays silent until OPS_ALERT_RENOTIFY has passed (a daily
reminder); an alert that clears and comes back within OPS_ALERT_QUIET_PERIOD is reopened silently; a
connection reports its most specific problem only (needs re-auth > failing > stale), so a platform outage
gives one alert per connection.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Min, Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from apps.integrations.models import Connection, SyncRun, WebhookEvent
from apps.ops.models import Alert, Notification
from apps.ops.services import setting

logger = logging.getLogger(__name__)

CONNECTION_KINDS = (Alert.Kind.NEEDS_REAUTH, Alert.Kind.CONNECTION_FAILING, Alert.Kind.SYNC_STALE, Alert.Kind.SYNC_SLOW,
                    Alert.Kind.WEBHOOK_BACKLOG)
ALL_KINDS = tuple(Alert.Kind.values)


@dataclass
class Condition:
    kind: str
    key: str
    shg_id: int | None
    connection_id: int | None
    title: str
    message: str
    url: str


@dataclass
class EvaluateResult:
    opened: list[Alert]
    reopened: int = 0
    resolved: int = 0
    reminded: int = 0


def _path(name: str, pk: int) -> str:
    try:
        return reverse(name, args=[pk])
    except NoReverseMatch:
        return ""


def _connection_conditions(connections, *, now: datetime, slow_running: set[int]) -> list[Condition]:
    slow_limit = float(setting("OPS_SLOW_SYNC_SECONDS", 300))
    stale_after = int(setting("OPS_STALE_AFTER_INTERVALS", 2))
    found = []
    for connection in connections:
        name = f"{connection.display_name} ({connection.platform})"
        url = _path("integrations:detail", connection.pk)
        key = f"connection:{connection.pk}"
        health = getattr(connection, "health", None)

        def add(kind, title, message, connection=connection, key=key, url=url):
            found.append(Condition(kind, key, connection.shg_id, connection.pk, title[:255], message, url))

        if connection.status == Connection.Status.NEEDS_REAUTH:
            add(Alert.Kind.NEEDS_REAUTH, f"{name} needs to be reconnected",
                f"{connection.platform} no longer accepts Haat's credentials for {name} of {connection.shg.name}: "
                f"orders and stock are not syncing until a coordinator reconnects it.")
        elif health is not None and health.is_failing:
            add(Alert.Kind.CONNECTION_FAILING, f"{name} is failing",
                f"The last {health.consecutive_failures} syncs or checks of {name} of {connection.shg.name} failed, "
                f"so Haat paused it and probes it with growing pauses; it resumes by itself when the platform "
                f"answers again. The last error: {health.last_error or '—'}")
        elif connection.status in (Connection.Status.ACTIVE, Connection.Status.ERROR):
            try:
                interval = connection.effective_poll_interval
            except Exception:  # an uninstalled platform: its connection is failing, not stale
                interval = None
            since = connection.last_success_at or connection.created_at
            if interval is not None and since is not None and now - since > interval * stale_after:
                add(Alert.Kind.SYNC_STALE, f"{name} has not synced recently",
                    f"No successful sync of {name} of {connection.shg.name} since "
                    f"{timezone.localtime(since):%Y-%m-%d %H:%M} (polled every {interval}).")
        latency = health.last_latency if health is not None else None
        if connection.pk in slow_running or (latency is not None and latency > slow_limit):
            found.append(Condition(
                Alert.Kind.SYNC_SLOW, key, connection.shg_id, connection.pk, f"{name} syncs slowly"[:255],
                f"A sync of {name} took longer than {slow_limit:.0f} seconds"
                + (f" (the last one: {latency:.0f} s)." if latency else " and is still running."), url))
    return found


def _webhook_conditions(*, now: datetime, connection_ids: list[int] | None) -> list[Condition]:
    age = setting("OPS_WEBHOOK_BACKLOG_AGE", timedelta(minutes=15))
    count = int(setting("OPS_WEBHOOK_BACKLOG_COUNT", 500))
    pending = WebhookEvent.objects.filter(
        Q(status__in=[WebhookEvent.Status.RECEIVED, WebhookEvent.Status.PROCESSING])
        | Q(status=WebhookEvent.Status.FAILED, next_attempt_at__isnull=False))
    if connection_ids is not None:
        pending = pending.filter(connection_id__in=connection_ids)
    rows = (pending.values("connection_id", "connection__shg_id", "connection__display_name", "platform")
            .annotate(n=Count("id"), oldest=Min("received_at"))
            .filter(Q(n__gte=count) | Q(oldest__lt=now - age)))
    return [Condition(
        Alert.Kind.WEBHOOK_BACKLOG, f"connection:{row['connection_id']}", row["connection__shg_id"],
        row["connection_id"], f"Webhooks of {row['connection__display_name']} are piling up"[:255],
        f"{row['n']} {row['platform']} webhook deliveries are waiting, the oldest since "
        f"{timezone.localtime(row['oldest']):%Y-%m-%d %H:%M}: check that the qcluster runs.",
        _path("integrations:detail", row["connection_id"])) for row in rows]


def _oversold_conditions() -> list[Condition]:
    from apps.inventory.models import StockReservation

    rows = (StockReservation.objects.filter(oversold__gt=0, state=StockReservation.State.ACTIVE)
            .values("order_id", "order__shg_id", "order__connection_id", "order__external_id")
            .distinct().order_by("order_id"))
    return [Condition(
        Alert.Kind.OVERSOLD, f"order:{row['order_id']}", row["order__shg_id"], row["order__connection_id"],
        f"Order {row['order__external_id']} is oversold"[:255],
        f"Order {row['order__external_id']} asks for more than is in stock: ship what there is, or cancel "
        f"the missing units on the channel.", _path("orders:detail", row["order_id"])) for row in rows]


def current_conditions(*, now: datetime, connection_ids: list[int] | None = None) -> dict[tuple[str, str], Condition]:
    connections = Connection.objects.exclude(status=Connection.Status.DISABLED).select_related("shg", "health")
    running = SyncRun.objects.filter(status=SyncRun.Status.RUNNING, stream=SyncRun.Stream.ORDERS,
                                     started_at__lt=now - timedelta(seconds=float(setting("OPS_SLOW_SYNC_SECONDS", 300))))
    if connection_ids is not None:
        connections = connections.filter(pk__in=connection_ids)
        running = running.filter(connection_id__in=connection_ids)
    conditions = _connection_conditions(connections, now=now,
                                        slow_running=set(running.values_list("connection_id", flat=True)))
    conditions += _webhook_conditions(now=now, connection_ids=connection_ids)
    if connection_ids is None:
        conditions += _oversold_conditions()
    return {(c.kind, c.key): c for c in conditions}


@transaction.atomic
def _open(condition: Condition, now: datetime) -> Alert | None:
    """Open the alert, or reopen silently one resolved within the quiet period; None when it was not new."""
    quiet = setting("OPS_ALERT_QUIET_PERIOD", timedelta(hours=6))
    recent = (Alert.objects.select_for_update()
              .filter(kind=condition.kind, key=condition.key, status=Alert.Status.RESOLVED,
                      resolved_at__gte=now - quiet).order_by("-resolved_at").first())
    try:
        with transaction.atomic():
            if recent is not None:
                recent.status, recent.resolved_at = Alert.Status.OPEN, None
                recent.title, recent.message = condition.title, condition.message
                recent.save(update_fields=["status", "resolved_at", "title", "message"])
                return None
            return Alert.objects.create(kind=condition.kind, key=condition.key, shg_id=condition.shg_id,
                                        connection_id=condition.connection_id, title=condition.title,
                                        message=condition.message, url=condition.url, opened_at=now)
    except IntegrityError:
        return None  # another evaluation opened it first


def alerts_evaluate(*, now: datetime | None = None, connection_ids: list[int] | None = None) -> EvaluateResult:
    """Reconcile the open alerts with the current conditions (all, or only these connections' own)."""
    now = now or timezone.now()
    conditions = current_conditions(now=now, connection_ids=connection_ids)
    open_alerts = Alert.objects.filter(status=Alert.Status.OPEN)
    if connection_ids is not None:
        open_alerts = open_alerts.filter(kind__in=CONNECTION_KINDS, connection_id__in=connection_ids)
    open_by_key = {(a.kind, a.key): a for a in open_alerts}
    cleared = [a.pk for k, a in open_by_key.items() if k not in conditions]
    resolved = Alert.objects.filter(pk__in=cleared, status=Alert.Status.OPEN).update(
        status=Alert.Status.RESOLVED, resolved_at=now) if cleared else 0
    opened, reopened = [], 0
    for key, condition in conditions.items():
        if key in open_by_key:
            continue
        alert = _open(condition, now)
        if alert is None:
            reopened += 1
        else:
            opened.append(alert)
    renotify = setting("OPS_ALERT_RENOTIFY", timedelta(hours=24))
    reminders = [a for k, a in open_by_key.items() if k in conditions
                 and a.last_notified_at is not None and a.last_notified_at < now - renotify]
    if opened or reminders:
        alerts_notify(opened + reminders, now=now)
    if opened:
        logger.info("opened %d alert(s): %s", len(opened), ", ".join(f"{a.kind} {a.key}" for a in opened))
    return EvaluateResult(opened=opened, reopened=reopened, resolved=resolved, reminded=len(reminders))


# --- notifying -----------------------------------------------------------------------------------------------


def coordinators_by_shg(shg_ids: set[int]) -> dict[int, list]:
    """The active coordinators and admins of each SHG, directly or through its federation (two queries)."""
    from apps.accounts.models import SHG, Membership

    federation_of = dict(SHG.objects.filter(pk__in=shg_ids).values_list("pk", "federation_id"))
    memberships = (Membership.objects
                   .filter(Q(shg_id__in=shg_ids) | Q(organization_id__in=set(federation_of.values())),
                           role__in=[Membership.Role.ORG_ADMIN, Membership.Role.COORDINATOR], user__is_active=True)
                   .select_related("user"))
    result: dict[int, dict] = defaultdict(dict)
    for membership in memberships:
        targets = [membership.shg_id] if membership.shg_id else \
            [s for s, f in federation_of.items() if f == membership.organization_id]
        for shg_id in targets:
            result[shg_id][membership.user_id] = membership.user
    return {shg_id: list(users.values()) for shg_id, users in result.items()}


def staff_emails() -> list[str]:
    return sorted(set(get_user_model().objects.filter(is_staff=True, is_active=True).exclude(email="")
                      .values_list("email", flat=True)))


def alerts_notify(alerts: list[Alert], *, now: datetime) -> int:
    """In-app notifications for the SHG's coordinators, one e-mail per alert to them and to staff.

    Refused credentials already e-mail the coordinators from the sync engine (notify_needs_reauth), so
    that kind e-mails staff only.
    """
    from django.conf import settings

    coordinators = coordinators_by_shg({a.shg_id for a in alerts if a.shg_id})
    staff = staff_emails()
    notifications, sent = [], 0
    for alert in alerts:
        users = coordinators.get(alert.shg_id, [])
        notifications += [Notification(user=user, alert=alert, created_at=now) for user in users]
        recipients = set(staff)
        if alert.kind != Alert.Kind.NEEDS_REAUTH:
            recipients |= {user.email for user in users if user.email}
        if recipients:
            body = f"{alert.message}\n\n{settings.SITE_URL}{alert.url}\n" if alert.url else f"{alert.message}\n"
            try:
                sent += EmailMessage(f"[Haat] {alert.title}", body, None, [], bcc=sorted(recipients)).send()
            except Exception:
                logger.exception("could not e-mail alert %s", alert.pk)
    Notification.objects.bulk_create(notifications)
    Alert.objects.filter(pk__in=[a.pk for a in alerts]).update(last_notified_at=now, notify_count=F("notify_count") + 1)
    return sent
