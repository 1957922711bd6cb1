"""A Connection is one SHG's account on one channel: credentials (encrypted), status, schedule, cursors."""

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from encrypted_fields.fields import EncryptedJSONField

from apps.core.models import TimestampedModel


class Connection(TimestampedModel):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACTIVE = "active", "Active"
        NEEDS_REAUTH = "needs_reauth", "Needs re-authorisation"
        ERROR = "error", "Error"
        DISABLED = "disabled", "Disabled"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    shg = models.ForeignKey("accounts.SHG", on_delete=models.CASCADE, related_name="connections")
    platform = models.CharField(max_length=40, db_index=True, help_text="Connector slug, e.g. amazon, shopify.")
    display_name = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    # Tokens, keys and secrets: Fernet-encrypted at rest, never rendered (see docs/operations.md for rotation).
    credentials = EncryptedJSONField(default=dict, blank=True)
    external_account_id = models.CharField(
        max_length=255, blank=True, help_text="Selling partner id, shop domain, store URL or seller id.",
    )
    # Non-secret settings the connector needs: base URL, marketplace ids, location ids, api version...
    config = models.JSONField(default=dict, blank=True)
    poll_interval = models.DurationField(null=True, blank=True, help_text="Empty: the platform's default.")
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    next_sync_at = models.DateTimeField(null=True, blank=True, db_index=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # Per-stream high-water marks, e.g. {"orders": "2026-11-20T10:00:00+00:00"}.
    cursors = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["shg__name", "platform", "display_name"]
        constraints = [
            # Reconnecting the same account updates the row (connection_upsert), never duplicates it.
            models.UniqueConstraint(
                fields=["shg", "platform", "external_account_id"],
                condition=~models.Q(external_account_id=""),
                name="uniq_connection_account",
            ),
        ]
        indexes = [models.Index(fields=["status", "next_sync_at"])]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.platform})"

    @property
    def connector_class(self):
        from apps.integrations.connectors.registry import get_connector_class

        return get_connector_class(self.platform)

    @property
    def effective_poll_interval(self) -> timedelta:
        if self.poll_interval:
            return self.poll_interval
        connector = self.connector_class
        return getattr(connector, "default_poll_interval", None) or settings.SYNC_DEFAULT_POLL_INTERVAL

    @property
    def is_syncable(self) -> bool:
        return self.status in (self.Status.ACTIVE, self.Status.ERROR)


class SyncRun(models.Model):
    """One pull of one stream of one connection: what it read, wrote and spent, and how it ended.

    A running row is also the lock: a partial unique constraint allows one running run per connection
    and stream, on SQLite and PostgreSQL alike (see apps/integrations/sync.py).
    """

    class Stream(models.TextChoices):
        ORDERS = "orders", "Orders"
        PRODUCTS = "products", "Products"
        RATINGS = "ratings", "Ratings and reviews"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCESS = "success", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped (another run was in progress)"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Sync now (dashboard)"
        ADMIN = "admin", "Sync now (admin)"
        COMMAND = "command", "Command line"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="sync_runs")
    stream = models.CharField(max_length=20, choices=Stream.choices, default=Stream.ORDERS)
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.SCHEDULE)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING, db_index=True)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Refreshed after every committed page; a running run whose heartbeat is old was abandoned.
    heartbeat_at = models.DateTimeField(default=timezone.now)
    since = models.DateTimeField(null=True, blank=True, help_text="Start of the window asked of the platform.")
    pages = models.PositiveIntegerField(default=0)
    fetched = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0)
    retries = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    error_type = models.CharField(max_length=40, blank=True)
    # The platform's raw answer behind a permanent error, truncated and with secrets masked.
    error_payload = models.TextField(blank=True)
    cursor_before = models.CharField(max_length=64, blank=True)
    cursor_after = models.CharField(max_length=64, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "stream"], condition=models.Q(status="running"),
                                    name="one_running_sync_per_stream"),
        ]
        indexes = [models.Index(fields=["connection", "-started_at"], name="syncrun_connection_idx")]

    def __str__(self) -> str:
        return f"{self.connection} {self.stream} {self.started_at:%Y-%m-%d %H:%M} {self.status}"

    @property
    def duration(self) -> timedelta | None:
        return self.finished_at - self.started_at if self.finished_at else None


class WebhookEvent(models.Model):
    """One verified delivery from a platform, stored raw before Haat answers 2xx, then processed by a task.

    Unique per (connection, delivery id, body digest): a platform's retry of a delivery is answered 200
    and not processed again. The digest is there because WooCommerce derives its delivery id from the
    webhook id and the current second, so two different deliveries can share one.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", "Received, waiting to be processed"
        PROCESSING = "processing", "Processing"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Nothing to do"
        FAILED = "failed", "Failed"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="webhook_events")
    platform = models.CharField(max_length=40)
    delivery_id = models.CharField(max_length=255, help_text="The platform's delivery id, as sent.")
    body_sha256 = models.CharField(max_length=64)
    topic = models.CharField(max_length=100, blank=True, db_index=True)
    resource_id = models.CharField(max_length=100, blank=True, db_index=True,
                                   help_text="The order or product id the delivery is about, when it says.")
    headers = models.JSONField(default=dict, blank=True)
    body = models.BinaryField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    # When to process again: a retry after a failure, or the lease of a worker that is processing it.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # Set when a privacy request erased the body (Shopify customers/redact, shop/redact).
    redacted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "delivery_id", "body_sha256"], name="uniq_webhook_delivery"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhookevent_due_idx"),
            models.Index(fields=["connection", "-received_at"], name="webhookevent_connection_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.platform} {self.topic or '?'} {self.delivery_id}"
