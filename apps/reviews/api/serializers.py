"""A review as partners read it: the stars, the words and the product, never the channel's raw document."""

from __future__ import annotations

from rest_framework import serializers

from apps.reviews.models import Review


class ReviewSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:review-detail")
    platform = serializers.CharField(source="connection.platform", read_only=True)
    product = serializers.IntegerField(source="catalog_product_id", read_only=True, allow_null=True,
                                       help_text="The catalog product of the matched variant, or null.")
    reviewer = serializers.CharField(read_only=True, help_text="The name the channel shows publicly with the review.")

    class Meta:
        model = Review
        # `raw` stays out: the channel's document can hold more about the buyer than the channel publishes.
        fields = ["id", "url", "shg", "connection", "platform", "external_id", "rating", "title", "body", "reviewer",
                  "verified_buyer", "variant", "product", "sku", "product_external_id", "product_title",
                  "published_at", "received_at"]
        read_only_fields = fields
