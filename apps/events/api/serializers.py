"""Events (the outbox, read-only) and partner webhook subscriptions. A subscription's secret is returned once,
in the answer that creates it; never again."""

from __future__ import annotations

from rest_framework import serializers

from apps.events.models import Event, PartnerWebhookSubscription
from apps.events.types import EVENT_TYPES


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = ["id", "type", "occurred_at", "shg", "connection", "schema_version", "payload"]
        read_only_fields = fields


class SubscriptionSerializer(serializers.ModelSerializer):
    url = serializers.URLField(max_length=500)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=["*", *EVENT_TYPES]), allow_empty=False,
        help_text='Event types to send, or ["*"] for all.',
    )

    class Meta:
        model = PartnerWebhookSubscription
        fields = ["id", "url", "event_types", "description", "is_active", "disabled_reason", "created_at",
                  "updated_at"]
        read_only_fields = ["id", "is_active", "disabled_reason", "created_at", "updated_at"]


class SubscriptionCreatedSerializer(SubscriptionSerializer):
    secret = serializers.CharField(read_only=True, help_text="Signs every delivery (X-Haat-Signature). Shown only now.")

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "secret"]


class TestDeliverySerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    status_code = serializers.IntegerField(allow_null=True)
    body = serializers.CharField(allow_blank=True)
    error = serializers.CharField(allow_blank=True)
