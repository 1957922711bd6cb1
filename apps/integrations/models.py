"""A Connection is one SHG's account on one channel: credentials (encrypted), status, schedule, cursors."""

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
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
