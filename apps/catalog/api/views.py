"""Products (read, create with variants, update), variants (read, update) and listings (read, create on a channel
that accepts new listings, update price overrides and stock limits, publish, push), scoped to the token's SHGs.
Views validate and call the catalog services; the services hold the rules."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.accounts.selectors import scope_by_shg, visible_shgs
from apps.catalog.api.filters import ListingFilter, ProductFilter, VariantFilter
from apps.catalog.api.serializers import (
    ListingCreateSerializer,
    ListingPushedSerializer,
    ListingSerializer,
    ListingUpdateSerializer,
    ProductCreateSerializer,
    ProductSerializer,
    ProductUpdateSerializer,
    VariantSerializer,
    VariantUpdateSerializer,
)
from apps.catalog.models import Listing, Product, Variant
from apps.catalog.selectors import listing_list, product_list, variant_list
from apps.catalog.services import (
    listing_create,
    listing_publish,
    listing_push,
    listing_update,
    product_create,
    product_update,
    variant_update,
)
from apps.core.api import ConflictError, error_responses, request_token
from apps.integrations.models import Connection


class ProductViewSet(mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                     viewsets.GenericViewSet):
    queryset = Product.objects.none()  # the real one is per token: get_queryset
    serializer_class = ProductSerializer
    filterset_class = ProductFilter
    cursor_ordering = "-id"

    def get_queryset(self):
        return product_list(principal=request_token(self.request))  # variants prefetched, ordered by SKU

    @extend_schema(summary="Create a product with its variants", request=ProductCreateSerializer,
                   responses={201: ProductSerializer, **error_responses(400)})
    def create(self, request):
        serializer = ProductCreateSerializer(data=request.data, shgs=visible_shgs(request_token(request)))
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        product = product_create(variants=[dict(v) for v in data.pop("variants")], **data)
        product = self.get_queryset().get(pk=product.pk)
        return Response(ProductSerializer(product).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Change a product's description", request=ProductUpdateSerializer,
                   responses={200: ProductSerializer, **error_responses(400, 404)})
    def partial_update(self, request, pk=None):
        product = self.get_object()
        serializer = ProductUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        product_update(product=product, data=dict(serializer.validated_data))
        return Response(ProductSerializer(self.get_queryset().get(pk=product.pk)).data)


class VariantViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Variant.objects.none()
    serializer_class = VariantSerializer
    filterset_class = VariantFilter
    cursor_ordering = "-id"

    def get_queryset(self):
        return variant_list(principal=request_token(self.request))

    @extend_schema(
        summary="Change a variant's price, MRP, currency, barcode or sizes",
        description="MRP must stay at least the price; the currency must be the one of every channel the variant is "
                    "listed on. A new price is published as `price.changed` and pushed, in batches, to the listings "
                    "without a price override. The SKU never changes.",
        request=VariantUpdateSerializer, responses={200: VariantSerializer, **error_responses(400, 404)},
    )
    def partial_update(self, request, pk=None):
        variant = self.get_object()
        serializer = VariantUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        variant_update(variant=variant, data=dict(serializer.validated_data))
        return Response(VariantSerializer(self.get_queryset().get(pk=variant.pk)).data)


class ListingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """A variant on one channel: its state there, the price it should have, and what Haat last pushed.
    Poll with `updated_since` to read state changes and pushes."""

    queryset = Listing.objects.none()
    serializer_class = ListingSerializer
    filterset_class = ListingFilter
    cursor_ordering = "-id"

    def get_queryset(self):
        return listing_list(principal=request_token(self.request))

    def _detail(self, listing: Listing, code: int = status.HTTP_200_OK) -> Response:
        listing = self.get_queryset().get(pk=listing.pk)
        return Response(ListingSerializer(listing, context=self.get_serializer_context()).data, status=code)

    @extend_schema(
        summary="List a variant on a channel",
        description="Only on channels that accept new listings from Haat (`listing_create` in platforms/). The "
                    "price (the variant's, or the override) must be set, MRP at least the price, in the channel's "
                    "currency. With `publish: true` it is sent to the channel at once: the answer's `state` is then "
                    "`pending`, `live`, or `error` with the channel's words in `last_error`.",
        request=ListingCreateSerializer, responses={201: ListingSerializer, **error_responses(400)},
    )
    def create(self, request):
        token = request_token(request)
        serializer = ListingCreateSerializer(
            data=request.data, variants=scope_by_shg(Variant.objects.select_related("product", "shg"), token),
            connections=scope_by_shg(Connection.objects.all(), token))
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        listing = listing_create(variant=data["variant"], connection=data["connection"],
                                 product_type=data["product_type"], price=data["price_override"],
                                 mrp=data["mrp_override"])
        if data["publish"]:
            listing = listing_publish(listing=listing)
        return self._detail(listing, status.HTTP_201_CREATED)

    @extend_schema(summary="Change price overrides, stock buffer or maximum",
                   description="Price changes are validated (MRP at least price, the channel's currency), published "
                               "as `price.changed` and pushed; a new buffer or maximum pushes the quantity again.",
                   request=ListingUpdateSerializer, responses={200: ListingSerializer, **error_responses(400, 404)})
    def partial_update(self, request, pk=None):
        listing = self.get_object()
        serializer = ListingUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        listing_update(listing=listing, data=dict(serializer.validated_data))
        return self._detail(listing)

    @extend_schema(summary="Send a draft or refused listing to its channel", request=None,
                   responses={200: ListingSerializer, **error_responses(400, 404, 409)})
    @action(detail=True, methods=["post"])
    def publish(self, request, pk=None):
        listing = self.get_object()
        if listing.state not in (Listing.State.DRAFT, Listing.State.ERROR):
            raise ConflictError(f"The listing is {listing.state}; only a draft or refused listing is published.")
        return self._detail(listing_publish(listing=listing))

    @extend_schema(summary="Push the listing's quantity and price again",
                   description="Queues the same coalesced, batched pushes as a change would (202).", request=None,
                   responses={202: OpenApiResponse(ListingPushedSerializer), **error_responses(404, 409)})
    @action(detail=True, methods=["post"])
    def push(self, request, pk=None):
        listing = self.get_object()
        if listing.state not in (Listing.State.LIVE, Listing.State.PENDING):
            raise ConflictError(f"The listing is {listing.state}; publish it first.")
        return Response(listing_push(listing=listing), status=status.HTTP_202_ACCEPTED)
