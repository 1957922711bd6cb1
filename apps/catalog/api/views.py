"""Products (read, create with variants) and variants (read), scoped to the token's SHGs."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from apps.accounts.selectors import visible_shgs
from apps.catalog.api.filters import ProductFilter, VariantFilter
from apps.catalog.api.serializers import ProductCreateSerializer, ProductSerializer, VariantSerializer
from apps.catalog.models import Product, Variant
from apps.catalog.selectors import product_list, variant_list
from apps.catalog.services import product_create
from apps.core.api import error_responses, request_token


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


class VariantViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Variant.objects.none()
    serializer_class = VariantSerializer
    filterset_class = VariantFilter
    cursor_ordering = "-id"

    def get_queryset(self):
        return variant_list(principal=request_token(self.request))
