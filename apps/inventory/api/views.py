"""Stock per variant and location (read; its ledger), adjustments with a reason, "push stock now", and the stock
marketplaces hold in their own warehouses (read, shown apart), scoped to the token's SHGs.

An adjustment goes through `inventory.services.stock_adjust`: one ledger row, `inventory.updated`, and the new
quantity pushed to every channel that lists the variant, exactly as a coordinator's change on the stock page.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.accounts.selectors import scope_by_shg
from apps.catalog.models import Variant
from apps.core.api import error_responses, request_token
from apps.integrations.models import Connection
from apps.inventory.api.filters import (
    MarketplaceStockFilter,
    OversoldLineFilter,
    StockItemFilter,
    StockMovementFilter,
)
from apps.inventory.api.serializers import (
    MarketplaceStockSerializer,
    OversoldLineSerializer,
    StockAdjustSerializer,
    StockItemSerializer,
    StockMovementSerializer,
    StockPushAcceptedSerializer,
    StockPushSerializer,
)
from apps.inventory.models import MarketplaceStock, StockItem, StockLocation, StockMovement, StockReservation
from apps.inventory.selectors import marketplace_stock, oversold_reservations, stock_item_list
from apps.inventory.services import stock_adjust, stock_push_request


class StockItemViewSet(viewsets.ReadOnlyModelViewSet):
    """On hand, reserved and available per SKU and location. Poll with `updated_since` for what changed."""

    queryset = StockItem.objects.none()  # the real one is per token: get_queryset
    serializer_class = StockItemSerializer
    filterset_class = StockItemFilter

    cursor_ordering = "id"

    def get_queryset(self):
        return stock_item_list(principal=request_token(self.request))

    @extend_schema(
        summary="Adjust stock (a receipt, or an adjustment with a reason)",
        description="By `delta` (units in or out) or to a counted `count`. Writes one ledger row, publishes "
                    "`inventory.updated` (to your webhook subscriptions too) and pushes the new quantity, minus each "
                    "channel's buffer, to every channel that lists the variant. On hand never goes below what open "
                    "orders reserve. Stock received lets oversold order lines reserve it, oldest first.",
        request=StockAdjustSerializer, responses={200: StockItemSerializer, **error_responses(400)},
    )
    @action(detail=False, methods=["post"], serializer_class=StockAdjustSerializer, filterset_class=None)
    def adjust(self, request):
        token = request_token(request)
        serializer = StockAdjustSerializer(
            data=request.data, variants=scope_by_shg(Variant.objects.all(), token),
            locations=scope_by_shg(StockLocation.objects.all(), token))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        item = stock_adjust(variant=data["variant"], kind=data["kind"], delta=data["delta"], count=data["count"],
                            reason=data["reason"], location=data["location"])
        item = self.get_queryset().get(pk=item.pk)
        return Response(StockItemSerializer(item, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="Push stock to the channels now",
        description="Marks the listings of these variants (default: all of the token's SHGs) on these channels "
                    "(default: all) for a quantity push, and queues one coalesced, batched push per channel (202). "
                    "Marketplace-fulfilled (FBA) listings are never pushed.",
        request=StockPushSerializer, responses={202: OpenApiResponse(StockPushAcceptedSerializer),
                                                **error_responses(400)},
    )
    @action(detail=False, methods=["post"], serializer_class=StockPushSerializer, filterset_class=None)
    def push(self, request):
        token = request_token(request)
        variants = scope_by_shg(Variant.objects.all(), token)
        serializer = StockPushSerializer(data=request.data, variants=variants,
                                         connections=scope_by_shg(Connection.objects.all(), token))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        chosen = {v.pk for v in data["variants"]} if data.get("variants") else variants.values("id")
        connections = {c.pk for c in data["connections"]} if data.get("connections") else None
        marked = stock_push_request(variant_ids=chosen, connection_ids=connections)
        return Response({"listings": marked}, status=status.HTTP_202_ACCEPTED)


class StockMovementViewSet(viewsets.ReadOnlyModelViewSet):
    """The ledger, newest first: every receipt, adjustment (with its reason), reservation, release and shipment,
    with the balances after it. Filter by `item` to audit one stock item."""

    queryset = StockMovement.objects.none()
    serializer_class = StockMovementSerializer
    filterset_class = StockMovementFilter
    cursor_ordering = ("-created_at", "-id")

    def get_queryset(self):
        return scope_by_shg(StockMovement.objects.all(), request_token(self.request), "item__variant__shg")


class MarketplaceStockViewSet(viewsets.ReadOnlyModelViewSet):
    """Stock a marketplace holds in its own warehouses (Amazon FBA), as last read: never counted, never pushed."""

    queryset = MarketplaceStock.objects.none()
    serializer_class = MarketplaceStockSerializer
    filterset_class = MarketplaceStockFilter
    cursor_ordering = "id"

    def get_queryset(self):
        return marketplace_stock(principal=request_token(self.request))


class OversoldLineViewSet(viewsets.ReadOnlyModelViewSet):
    """Order lines that two channels sold beyond the stock (open reservations with `oversold` > 0): the
    coordinator's to settle. Stock received resolves them, oldest order first; a line leaves this list when
    it is fully reserved, cancelled or shipped."""

    queryset = StockReservation.objects.none()
    serializer_class = OversoldLineSerializer
    filterset_class = OversoldLineFilter
    cursor_ordering = "-id"

    def get_queryset(self):
        return oversold_reservations(principal=request_token(self.request)).order_by()
