"""Products, their variants (SKUs) and listings (a variant on one channel) as partners see, create and change them."""

from __future__ import annotations

from rest_framework import serializers

from apps.accounts.models import SHG
from apps.catalog.models import Listing, Product, Variant
from apps.integrations.models import Connection

VARIANT_FIELDS = ["sku", "barcode", "weight_grams", "length_cm", "width_cm", "height_cm", "price", "mrp", "currency"]
PRODUCT_FIELDS = ["title", "description", "brand", "category", "hsn_code", "images", "attributes"]


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


class VariantUpdateSerializer(serializers.ModelSerializer):
    """Everything of a variant but its SKU, which the channels know it by (a new SKU is a new variant)."""

    class Meta:
        model = Variant
        fields = [name for name in VARIANT_FIELDS if name != "sku"]

    def to_internal_value(self, data):
        if isinstance(data, dict) and "sku" in data:
            raise serializers.ValidationError({"sku": ["The SKU never changes; create a new variant instead."]})
        return super().to_internal_value(data)


class ProductSerializer(serializers.ModelSerializer):
    variants = VariantSerializer(many=True, read_only=True)

    class Meta:
        model = Product
        fields = ["id", "shg", *PRODUCT_FIELDS, "variants", "created_at", "updated_at"]
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


class ProductUpdateSerializer(serializers.Serializer):
    """A PATCH of a product's description; its variants change through variants/{id}/."""

    title = serializers.CharField(max_length=255, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    brand = serializers.CharField(required=False, allow_blank=True, max_length=100)
    category = serializers.CharField(required=False, allow_blank=True, max_length=100)
    hsn_code = serializers.CharField(required=False, allow_blank=True, max_length=8)
    images = serializers.ListField(child=serializers.URLField(), required=False)
    attributes = serializers.DictField(required=False)


class ListingSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:listing-detail")
    sku = serializers.CharField(source="variant.sku", read_only=True)
    platform = serializers.CharField(source="connection.platform", read_only=True)
    currency = serializers.CharField(source="variant.currency", read_only=True)
    price = serializers.DecimalField(source="effective_price", max_digits=12, decimal_places=2, read_only=True,
                                     allow_null=True, help_text="What the channel should charge: the override, else "
                                                                "the variant's price.")
    mrp = serializers.DecimalField(source="effective_mrp", max_digits=12, decimal_places=2, read_only=True,
                                   allow_null=True)

    class Meta:
        model = Listing
        fields = ["id", "url", "shg", "variant", "sku", "connection", "platform", "state", "external_id", "channel_sku",
                  "external_refs", "product_type", "currency", "price", "mrp", "price_override", "mrp_override",
                  "stock_buffer", "stock_max", "fulfilled_by_marketplace", "last_pushed_quantity", "last_pushed_price",
                  "last_pushed_at", "last_error", "created_at", "updated_at"]
        read_only_fields = fields


class ListingCreateSerializer(serializers.Serializer):
    variant = serializers.PrimaryKeyRelatedField(queryset=Variant.objects.none())
    connection = serializers.PrimaryKeyRelatedField(queryset=Connection.objects.none())
    product_type = serializers.CharField(required=False, allow_blank=True, max_length=100, default="",
                                         help_text="Amazon's product type (e.g. HANDBAG); other channels ignore it.")
    price_override = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False,
                                              allow_null=True, default=None)
    mrp_override = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False,
                                            allow_null=True, default=None)
    publish = serializers.BooleanField(default=False, help_text="Send it to the channel now (else it stays a draft "
                                                                "until POST .../publish/).")

    def __init__(self, *args, variants=None, connections=None, **kwargs):
        super().__init__(*args, **kwargs)
        if variants is not None:
            self.fields["variant"].queryset = variants
        if connections is not None:
            self.fields["connection"].queryset = connections


class ListingUpdateSerializer(serializers.Serializer):
    price_override = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False,
                                              allow_null=True, help_text="null: use the variant's price.")
    mrp_override = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False,
                                            allow_null=True)
    stock_buffer = serializers.IntegerField(min_value=0, max_value=1_000_000, required=False, allow_null=True,
                                            help_text="Units held back from this channel (null: the connection's).")
    stock_max = serializers.IntegerField(min_value=0, max_value=1_000_000, required=False, allow_null=True,
                                         help_text="The most this channel is shown (null: no cap).")
    channel_sku = serializers.CharField(max_length=255, required=False, allow_blank=True,
                                        help_text="Only while the listing is a draft or refused.")
    product_type = serializers.CharField(max_length=100, required=False, allow_blank=True,
                                         help_text="Only while the listing is a draft or refused.")


class ListingPushedSerializer(serializers.Serializer):
    stock = serializers.BooleanField(help_text="A quantity push was queued.")
    price = serializers.BooleanField(help_text="A price push was queued.")
