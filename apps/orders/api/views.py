"""Orders (read) and fulfilments (read; POST tracking, pushed to the channel by a task)."""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from apps.accounts.selectors import scope_by_shg
from apps.core.api import error_responses, request_token
from apps.orders.api.filters import FulfilmentFilter, OrderFilter
from apps.orders.api.serializers import FulfilmentCreateSerializer, FulfilmentSerializer, OrderSerializer
from apps.orders.models import Fulfilment, Order, OrderLine
from apps.orders.selectors import orders_for
from apps.orders.services import FulfilmentNotAllowed, fulfilment_create


class OrderViewSet(viewsets.ReadOnlyModelViewSet):
    """Orders of every channel, newest placed first. Poll with `updated_since` to read only what changed."""

    queryset = Order.objects.none()  # the real one is per token: get_queryset
    serializer_class = OrderSerializer
    filterset_class = OrderFilter
    cursor_ordering = ("-placed_at", "-id")

    def get_queryset(self):
        return (orders_for(request_token(self.request))
                .select_related("connection")
                .prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("id")),
                                  Prefetch("fulfilments", queryset=Fulfilment.objects.order_by("-shipped_at", "-id"))))


class FulfilmentViewSet(mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                        viewsets.GenericViewSet):
    queryset = Fulfilment.objects.none()
    serializer_class = FulfilmentSerializer
    filterset_class = FulfilmentFilter
    cursor_ordering = "-id"

    def get_queryset(self):
        return scope_by_shg(Fulfilment.objects.all(), request_token(self.request), shg_field="order__shg")

    @extend_schema(
        summary="Add tracking to an order",
        description="Records carrier and tracking on a merchant-fulfilled order and pushes it to the order's channel "
                    "in the background; read `push_state` (pending → pushed, or failed with `last_error`).",
        request=FulfilmentCreateSerializer, responses={201: FulfilmentSerializer, **error_responses(400)},
    )
    def create(self, request):
        orders = orders_for(request_token(request)).select_related("connection", "shg")
        serializer = FulfilmentCreateSerializer(data=request.data, orders=orders)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        order = data.pop("order")
        try:
            fulfilment = fulfilment_create(order=order, **data)
        except FulfilmentNotAllowed as exc:
            raise ValidationError({"order": exc.messages}) from None
        body = FulfilmentSerializer(fulfilment, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED)
