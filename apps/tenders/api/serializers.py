"""Procurement resources of the partner API: tenders, bids, inquiries, quotes and seller profiles."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.tenders.models import Bid, BidStatusChange, Inquiry, Quote, SellerProfile, Tender
from apps.tenders.services import CHECKLIST


def _choice_field(choices, **kwargs) -> serializers.ChoiceField:
    """A choice field documented inline (its own enum, no shared component): "status" names a different
    set of values on orders, syncs, bids and inquiries, and one schema name for all of them would mislead."""
    values = "|".join(value for value, _label in choices)
    # A pattern, not an enum: drf-spectacular's enum hook would hoist an enum into a shared component again.
    field_class = extend_schema_field({"type": "string", "pattern": f"^({values})$",
                                       "description": f"One of: {values.replace('|', ', ')}."})(type("InlineChoiceField",
                                                                             (serializers.ChoiceField,), {}))
    return field_class(choices=choices, **kwargs)


class TenderSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:tender-detail")
    bid = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = Tender
        fields = ["id", "url", "shg", "source", "bid_number", "category", "ministry", "department", "state", "quantity",
                  "starts_at", "deadline", "emd_amount", "documents", "detail_url", "match_score", "matched_terms",
                  "bid", "created_at", "updated_at"]
        read_only_fields = fields


class BidStatusChangeSerializer(serializers.ModelSerializer):
    from_status = _choice_field([("", ""), *Bid.Status.choices], read_only=True)
    to_status = _choice_field(Bid.Status.choices, read_only=True)

    class Meta:
        model = BidStatusChange
        fields = ["from_status", "to_status", "note", "changed_at"]
        read_only_fields = fields


class BidSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:bid-detail")
    total = serializers.DecimalField(max_digits=16, decimal_places=2, read_only=True, allow_null=True)
    history = BidStatusChangeSerializer(many=True, read_only=True)
    status = _choice_field(Bid.Status.choices, read_only=True)

    class Meta:
        model = Bid
        fields = ["id", "url", "tender", "shg", "status", "unit_price", "quantity", "total", "checklist", "notes",
                  "submitted_at", "history", "created_at", "updated_at"]
        read_only_fields = fields


class BidCreateSerializer(serializers.Serializer):
    tender = serializers.PrimaryKeyRelatedField(queryset=Tender.objects.none())

    def __init__(self, *args, tenders=None, **kwargs):
        super().__init__(*args, **kwargs)
        if tenders is not None:
            self.fields["tender"].queryset = tenders


class BidUpdateSerializer(serializers.Serializer):
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"), required=False)
    quantity = serializers.IntegerField(min_value=1, max_value=2_000_000_000, required=False)
    checklist = serializers.DictField(child=serializers.BooleanField(), required=False,
                                      help_text=f"Items: {', '.join(CHECKLIST)}.")
    notes = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class BidTransitionSerializer(serializers.Serializer):
    to_status = _choice_field(Bid.Status.choices)
    note = serializers.CharField(required=False, allow_blank=True, max_length=1000)


class InquirySerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:inquiry-detail")
    status = _choice_field(Inquiry.Status.choices, read_only=True)

    class Meta:
        model = Inquiry
        fields = ["id", "url", "shg", "connection", "unique_query_id", "query_type", "buyer_name", "company", "email",
                  "mobile", "city", "state", "product_name", "subject", "quantity", "message", "received_at", "status",
                  "matched_product", "created_at", "updated_at"]
        read_only_fields = fields


class InquiryStatusSerializer(serializers.Serializer):
    status = _choice_field(Inquiry.Status.choices)


class QuoteSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:quote-detail")

    class Meta:
        model = Quote
        fields = ["id", "url", "inquiry", "shg", "quantity", "unit_price", "total", "delivery_days", "payment_terms",
                  "validity_days", "message", "sent_at", "sent_to", "created_at"]
        read_only_fields = fields


class QuoteCreateSerializer(serializers.Serializer):
    inquiry = serializers.PrimaryKeyRelatedField(queryset=Inquiry.objects.none())
    quantity = serializers.IntegerField(min_value=1, max_value=2_000_000_000)
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0.01"))
    delivery_days = serializers.IntegerField(min_value=1, max_value=365)
    payment_terms = serializers.CharField(max_length=200)
    validity_days = serializers.IntegerField(min_value=1, max_value=90, default=15)
    message = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)

    def __init__(self, *args, inquiries=None, **kwargs):
        super().__init__(*args, **kwargs)
        if inquiries is not None:
            self.fields["inquiry"].queryset = inquiries


class QuoteSendSerializer(serializers.Serializer):
    to_email = serializers.EmailField(required=False, allow_blank=True, help_text="Default: the inquiry's email.")


class SellerProfileSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:sellerprofile-detail")

    class Meta:
        model = SellerProfile
        fields = ["id", "url", "shg", "organization_type", "legal_name", "pan", "gstin", "udyam_number", "address",
                  "state", "pincode", "bank_account_name", "bank_account_number", "bank_ifsc", "email",
                  "created_at", "updated_at"]
        read_only_fields = ["id", "url", "created_at", "updated_at"]
        extra_kwargs = {"bank_account_number": {"write_only": True}}

    def get_fields(self):
        """The SHG must be one the token may see (another tenant's id is "not found", like everywhere)."""
        from apps.accounts.models import SHG
        from apps.accounts.selectors import visible_shgs

        fields = super().get_fields()
        request = self.context.get("request")
        token = getattr(getattr(request, "user", None), "token", None)
        fields["shg"].queryset = visible_shgs(token) if token is not None else SHG.objects.none()
        return fields
