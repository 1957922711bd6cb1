"""Events of the token's SHGs (read), and its organization's webhook subscriptions (create, list, delete, test)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from apps.accounts.selectors import scope_by_shg
from apps.core.api import error_responses, request_token
from apps.events.api.filters import EventFilter, SubscriptionFilter
from apps.events.api.serializers import (
    EventSerializer,
    SubscriptionCreatedSerializer,
    SubscriptionSerializer,
    TestDeliverySerializer,
)
from apps.events.models import Event, PartnerWebhookSubscription
from apps.events.subscriptions import subscription_create, subscription_send_test


class EventViewSet(viewsets.ReadOnlyModelViewSet):
    """The outbox, oldest first: what happened to the SHGs the token sees (the same envelopes webhooks carry)."""

    queryset = Event.objects.none()  # the real one is per token: get_queryset
    serializer_class = EventSerializer
    filterset_class = EventFilter
    cursor_ordering = ("occurred_at", "id")

    def get_queryset(self):
        return scope_by_shg(Event.objects.all(), request_token(self.request))


class SubscriptionViewSet(mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                          mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Where Haat POSTs the token's organization's events, signed with the subscription's secret."""

    queryset = PartnerWebhookSubscription.objects.none()
    serializer_class = SubscriptionSerializer
    filterset_class = SubscriptionFilter
    cursor_ordering = "-id"

    def get_queryset(self):
        return PartnerWebhookSubscription.objects.filter(organization_id=request_token(self.request).organization_id)

    @extend_schema(request=SubscriptionSerializer,
                   responses={201: SubscriptionCreatedSerializer, **error_responses(400)})
    def create(self, request):
        serializer = SubscriptionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            subscription, secret = subscription_create(
                organization=request_token(request).organization, url=data["url"],
                event_types=list(data["event_types"]), description=data.get("description", ""))
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages) from None
        body = SubscriptionCreatedSerializer(subscription).data
        body["secret"] = secret
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Send a signed test delivery now", request=None,
                   responses={200: TestDeliverySerializer, **error_responses(404)})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        attempt = subscription_send_test(subscription=self.get_object())
        return Response({"ok": attempt.ok, "status_code": attempt.status_code, "body": attempt.body,
                         "error": attempt.error})
