"""Operations state: each connection's health and circuit breaker, alerts, in-app notifications, and the
qcluster heartbeat.

Health lives here rather than on `integrations.Connection` so the sync engine's table keeps its own
columns; the row is created on a connection's first recorded sync or probe.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ConnectionHealth(models.Model):
    """How one connection is doing: its last success and failure, the latency of its last sync, and the
    circuit breaker the dispatcher consults before queueing a sync (apps/ops/services.py)."""

    class Breaker(models.TextChoices):
        CLOSED = "closed", "Closed (syncing)"
        OPEN = "open", "Open (paused after failures)"
        HALF_OPEN = "half_open", "Half-open (probing)"

    connection = models.OneToOneField("integrations.Connection", on_delete=models.CASCADE, related_name="health")
    breaker = models.CharField(max_length=20, choices=Breaker.choices, default=Breaker.CLOSED, db_index=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    # How many times in a row the breaker opened without closing: the probe backoff doubles with it.
    open_count = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(null=True, blank=True)
    probe_at = models.DateTimeField(null=True, blank=True, db_index=True,
                                    help_text="When an open breaker is probed next.")
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_type = models.CharField(max_length=40, blank=True)
    last_latency = models.FloatField(null=True, blank=True, help_text="Seconds the last orders sync took.")
    last_check_at = models.DateTimeField(null=True, blank=True, help_text="Last periodic test_connection.")
    last_check_ok = models.BooleanField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "connection health"
        verbose_name_plural = "connection health"
        ordering = ["connection__platform", "connection_id"]

    def __str__(self) -> str:
        return f"{self.connection_id}: {self.breaker}"

    @property
    def is_failing(self) -> bool:
        return self.breaker != self.Breaker.CLOSED


class Alert(models.Model):
    """One condition that needs a person, deduplicated on (kind, key) while it is open.

    A partial unique constraint allows one open alert per (kind, key): a second evaluation finds it and
    stays silent. When the condition clears the alert is resolved; if it comes back within the quiet
    period the same row is reopened without a new notification.
    """

    class Kind(models.TextChoices):
        CONNECTION_FAILING = "connection_failing", _("Channel failing")
        SYNC_STALE = "sync_stale", _("No successful sync for two poll intervals")
        SYNC_SLOW = "sync_slow", _("Sync slower than the limit")
        NEEDS_REAUTH = "needs_reauth", _("Needs re-authorisation")
        OVERSOLD = "oversold", _("Oversold order")
        WEBHOOK_BACKLOG = "webhook_backlog", _("Webhook backlog")

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    kind = models.CharField(max_length=30, choices=Kind.choices, db_index=True)
    # What the alert is about, e.g. "connection:12" or "order:991": the deduplication key with the kind.
    key = models.CharField(max_length=100)
    shg = models.ForeignKey("accounts.SHG", null=True, blank=True, on_delete=models.CASCADE, related_name="alerts")
    connection = models.ForeignKey("integrations.Connection", null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="alerts")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN, db_index=True)
    title = models.CharField(max_length=255)
    message = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True, help_text="Where to act on it (a path).")
    opened_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    last_notified_at = models.DateTimeField(null=True, blank=True)
    notify_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "key"], condition=Q(status="open"), name="one_open_alert_per_key"),
        ]
        indexes = [models.Index(fields=["kind", "key", "-resolved_at"], name="alert_key_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.title}"


class Notification(models.Model):
    """An alert as one user sees it in the dashboard (the bell); read once they mark it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="notifications")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_unread_idx")]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.alert_id}"


class Heartbeat(models.Model):
    """A timestamp a scheduled task writes every minute: /readyz reads it to know a qcluster is alive."""

    name = models.CharField(max_length=50, unique=True)
    beat_at = models.DateTimeField()
    host = models.CharField(max_length=255, blank=True)

    def __str__(self) -> str:
        return f"{self.name} @ {self.beat_at:%H:%M:%S}"
