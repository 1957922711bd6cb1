"""Products and their variants (SKUs) as partners see and create them."""

from __future__ import annotations

from rest_framework import serializers

from apps.accounts.models import SHG
from apps.catalog.models import Product, Variant

VARIANT_FIELDS = ["sku", "barcode", "weight_grams", "length_cm", "width_cm", "height_cm", "price", "mrp", "currency"]


class VariantSerializer(serializers.ModelSerializer):
    class Meta:
        model = Variant
        fields = ["id", "product", "shg", *VARIANT_FIELDS, "created_at", "updated_at"]
        read_only_fields = fields


class VariantInputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Variant
        fields = VARIANT_FIELDS
        extra_kwargs = {"sku": {"validators": []}}  # uniqueness per SHG is checked by the service


class ProductSerializer(serializers.ModelSerializer):
    variants = VariantSerializer(many=True, read_only=True)

    class Meta:
        model = Product
        fields = ["id", "shg", "title", "description", "brand", "category", "hsn_code", "images", "attributes",
                  "variants", "created_at", "updated_at"]
        read_only_fields = fields


class ProductCreateSerializer(serializers.Serializer):
    shg = serializers.PrimaryKeyRelatedField(queryset=SHG.objects.none())
    title = serializers.CharField(max_length=255)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    brand = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")
    category = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")
    hsn_code = serializers.CharField(required=False, allow_blank=True, max_length=8, default="")
    images = serializers.ListField(child=serializers.URLField(), required=False, default=list)
    attributes = serializers.DictField(required=False, default=dict)
    variants = VariantInputSerializer(many=True, allow_empty=False)

    def __init__(self, *args, shgs=None, **kwargs):
        super().__init__(*args, **kwargs)
        if shgs is not None:
            self.fields["shg"].queryset = shgs
