"""The transactional outbox: every business event is a row written in the same transaction as the change
it describes, so an event exists if and only if its change was committed. A relay (a later issue) reads
undispatched rows in order, sends them to the broker and to partners' subscriptions, and stamps them.
"""

import os
import time
import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone
from encrypted_fields.fields import EncryptedCharField

from apps.core.models import TimestampedModel


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7): 48 bits of Unix milliseconds, then randomness.

    Outbox rows are written in bulk on every order page; ids that grow with time append to the primary
    key's index instead of scattering over it, and sort in the order events happened.
    """
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return uuid.UUID(int=value)


class Event(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # Few indexes on purpose (every order page inserts a row per order): (shg, type, occurred_at) serves the
    # per-SHG and per-type reads, the partial index the relay, occurred_at the admin's date browsing.
    type = models.CharField(max_length=64, help_text="e.g. order.created, sync.failed")
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    shg = models.ForeignKey("accounts.SHG", on_delete=models.CASCADE, related_name="events", db_index=False)
    # Kept when a connection is deleted: the event still happened.
    connection = models.ForeignKey("integrations.Connection", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="events")
    schema_version = models.PositiveSmallIntegerField(default=1)
    payload = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        indexes = [
            # The relay's query: the oldest undispatched events first.
            models.Index(fields=["occurred_at"], name="event_undispatched_idx", condition=Q(dispatched_at__isnull=True)),
            models.Index(fields=["shg", "type", "occurred_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.occurred_at:%Y-%m-%d %H:%M:%S}"


class PartnerWebhookSubscription(TimestampedModel):
    """A partner organization's endpoint that receives Haat's events, signed, for the SHGs it may see.

    Which SHGs: those of the organization's own federation and those it serves (the same rule as its API
    tokens, apps.accounts.selectors). The secret signs every delivery; it is stored encrypted and shown
    once, when it is created or rotated (apps/events/subscriptions.py).
    """

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE,
                                     related_name="webhook_subscriptions")
    url = models.URLField("URL", max_length=500, help_text="HTTPS endpoint that accepts POSTed JSON.")
    event_types = models.JSONField(default=list, help_text='Event types to send, e.g. ["order.created"]; ["*"] for all.')
    secret = EncryptedCharField(max_length=200, editable=False)
    is_active = models.BooleanField(default=True, db_index=True)
    description = models.CharField(max_length=200, blank=True)
    # Why Haat switched it off (the endpoint answered 410 Gone), for staff.
    disabled_reason = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["organization__name", "url"]

    def __str__(self) -> str:
        return f"{self.organization} → {self.url}"

    def wants(self, event_type: str) -> bool:
        return "*" in self.event_types or event_type in self.event_types


class WebhookDelivery(models.Model):
    """One event sent to one subscription: attempts, the last answer, and when to try again.

    Unique per (subscription, event), so fanning an event out twice never sends it twice.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        RETRYING = "retrying", "Failed, will retry"
        FAILED = "failed", "Failed, gave up"

    subscription = models.ForeignKey(PartnerWebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="webhook_deliveries")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="The first characters of the endpoint's answer.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event"], name="uniq_delivery_per_subscription_event"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due_idx")]

    def __str__(self) -> str:
        return f"{self.event.type} → {self.subscription.url} ({self.status})"

