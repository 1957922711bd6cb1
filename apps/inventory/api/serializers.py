"""Stock as partners read and change it: per variant and location, the ledger, marketplace-held stock apart."""

from __future__ import annotations

from rest_framework import serializers

from apps.catalog.models import Variant
from apps.integrations.models import Connection
from apps.inventory.models import MarketplaceStock, StockItem, StockLocation, StockMovement, StockReservation


class LocationSerializer(serializers.ModelSerializer):
    class Meta:
        model = StockLocation
        fields = ["id", "name", "is_default"]
        read_only_fields = fields


class StockItemSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:stockitem-detail")
    shg = serializers.IntegerField(source="variant.shg_id", read_only=True)
    sku = serializers.CharField(source="variant.sku", read_only=True)
    location = LocationSerializer(read_only=True)
    available = serializers.IntegerField(read_only=True, help_text="On hand minus reserved, never below zero.")

    class Meta:
        model = StockItem
        fields = ["id", "url", "shg", "variant", "sku", "location", "on_hand", "reserved", "available", "updated_at"]
        read_only_fields = fields


class StockMovementSerializer(serializers.ModelSerializer):
    class Meta:
        model = StockMovement
        fields = ["id", "kind", "on_hand_delta", "reserved_delta", "on_hand_after", "reserved_after", "reason",
                  "order_line", "created_at"]
        read_only_fields = fields


class StockAdjustSerializer(serializers.Serializer):
    """A receipt (units in) or an adjustment with a reason, by a change or to a counted quantity."""

    KINDS = [(StockMovement.Kind.RECEIPT.value, "receipt"), (StockMovement.Kind.ADJUSTMENT.value, "adjustment")]

    variant = serializers.PrimaryKeyRelatedField(queryset=Variant.objects.none())
    location = serializers.PrimaryKeyRelatedField(queryset=StockLocation.objects.none(), required=False,
                                                  allow_null=True, default=None,
                                                  help_text="Default: the SHG's default location.")
    kind = serializers.ChoiceField(choices=KINDS, default=StockMovement.Kind.ADJUSTMENT.value)
    delta = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=-1_000_000,
                                     max_value=1_000_000, help_text="Units in (+) or out (-).")
    count = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=0, max_value=1_000_000,
                                     help_text="The counted quantity on hand (instead of delta).")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=255, default="",
                                   help_text="Required for adjustments: count, damage, loss...")

    def __init__(self, *args, variants=None, locations=None, **kwargs):
        super().__init__(*args, **kwargs)
        if variants is not None:
            self.fields["variant"].queryset = variants
        if locations is not None:
            self.fields["location"].queryset = locations

    def validate(self, attrs):
        errors: dict[str, list[str]] = {}
        if (attrs["delta"] is None) == (attrs["count"] is None):
            message = "Give either a change (delta) or a counted quantity (count)."
            errors["delta" if attrs["delta"] is None else "count"] = [message]
        if attrs["kind"] == StockMovement.Kind.RECEIPT:
            if attrs["count"] is not None:
                errors["count"] = ["A receipt is a number of units in: give delta."]
            elif attrs["delta"] is not None and attrs["delta"] <= 0:
                errors["delta"] = ["A receipt adds at least one unit."]
        elif not attrs["reason"].strip():
            errors["reason"] = ["An adjustment needs a reason (count, damage, loss...)."]
        location = attrs.get("location")
        if location is not None and location.shg_id != attrs["variant"].shg_id:
            errors["location"] = ["The location belongs to another SHG."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class StockPushSerializer(serializers.Serializer):
    variants = serializers.PrimaryKeyRelatedField(queryset=Variant.objects.none(), many=True, required=False,
                                                  help_text="Default: every variant of the SHGs the token sees.")
    connections = serializers.PrimaryKeyRelatedField(queryset=Connection.objects.none(), many=True, required=False,
                                                     help_text="Default: every channel that lists them.")

    def __init__(self, *args, variants=None, connections=None, **kwargs):
        super().__init__(*args, **kwargs)
        if variants is not None:
            self.fields["variants"].child_relation.queryset = variants
        if connections is not None:
            self.fields["connections"].child_relation.queryset = connections


class StockPushAcceptedSerializer(serializers.Serializer):
    listings = serializers.IntegerField(help_text="Listings marked for a quantity push.")


class MarketplaceStockSerializer(serializers.ModelSerializer):
    class Meta:
        model = MarketplaceStock
        fields = ["id", "connection", "variant", "sku", "external_id", "quantity", "fetched_at"]
        read_only_fields = fields



class OversoldLineSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="item.variant.sku", read_only=True)
    variant = serializers.IntegerField(source="item.variant_id", read_only=True)
    shg = serializers.IntegerField(source="order.shg_id", read_only=True)
    connection = serializers.IntegerField(source="order.connection_id", read_only=True)
    reserved = serializers.IntegerField(source="quantity", read_only=True, help_text="Units this line holds.")
    oversold = serializers.IntegerField(read_only=True, help_text="Units sold that no stock covers.")

    class Meta:
        model = StockReservation
        fields = ["id", "shg", "order", "order_line", "connection", "variant", "sku", "reserved", "oversold",
                  "created_at", "updated_at"]
        read_only_fields = fields
