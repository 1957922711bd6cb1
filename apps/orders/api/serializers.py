"""Orders with their lines and fulfilments, and the tracking a partner adds to a merchant-fulfilled order."""

from __future__ import annotations

from rest_framework import serializers

from apps.orders.models import Fulfilment, Order, OrderLine


class OrderLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = ["id", "external_id", "sku", "title", "quantity", "unit_price", "variant"]
        read_only_fields = fields


class FulfilmentSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:fulfilment-detail")

    class Meta:
        model = Fulfilment
        fields = ["id", "url", "order", "carrier", "tracking_number", "tracking_url", "shipping_method", "shipped_at",
                  "push_state", "attempts", "pushed_at", "external_id", "last_error", "created_at", "updated_at"]
        read_only_fields = fields


class FulfilmentCreateSerializer(serializers.Serializer):
    order = serializers.PrimaryKeyRelatedField(queryset=Order.objects.none())
    carrier = serializers.CharField(max_length=100)
    tracking_number = serializers.CharField(max_length=100)
    tracking_url = serializers.URLField(required=False, allow_blank=True, max_length=200)
    shipping_method = serializers.CharField(required=False, allow_blank=True, max_length=100)
    shipped_at = serializers.DateTimeField(required=False, help_text="Defaults to now.")

    def __init__(self, *args, orders=None, **kwargs):
        super().__init__(*args, **kwargs)
        if orders is not None:
            self.fields["order"].queryset = orders


class OrderSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:order-detail")
    platform = serializers.CharField(source="connection.platform", read_only=True)
    lines = OrderLineSerializer(many=True, read_only=True)
    fulfilments = FulfilmentSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = ["id", "url", "shg", "connection", "platform", "external_id", "number", "status", "raw_status",
                  "placed_at", "remote_updated_at", "currency", "total", "buyer_name", "shipping_address",
                  "fulfilment_channel", "lines", "fulfilments", "created_at", "updated_at"]
        read_only_fields = fields
