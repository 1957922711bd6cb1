"""Tenders (read), bids (create, change, step through the workflow), inquiries (read, status), quotes
(create, send) and seller profiles. Every queryset is scoped to the token's SHGs; writes go through
apps.tenders.services, whose ValidationErrors become the API's 400 shape."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from apps.core.api import UpdatedSinceFilterSet, error_responses, request_token
from apps.tenders import selectors, services
from apps.tenders.api import serializers as s
from apps.tenders.models import Bid, Inquiry, Quote, SellerProfile, Tender


class TenderFilter(UpdatedSinceFilterSet):
    matched = django_filters.BooleanFilter(method="filter_matched", help_text="Only tenders matching the catalog.")
    deadline_after = django_filters.IsoDateTimeFilter(field_name="deadline", lookup_expr="gte")

    class Meta:
        model = Tender
        fields = ["shg", "source", "matched", "deadline_after", "updated_since"]

    def filter_matched(self, queryset, name, value):
        return queryset.filter(match_score__gt=0) if value else queryset.filter(match_score=0)


class TenderViewSet(viewsets.ReadOnlyModelViewSet):
    """GeM bids imported for the token's SHGs, soonest deadline first, with their catalog match."""

    queryset = Tender.objects.none()
    serializer_class = s.TenderSerializer
    filterset_class = TenderFilter
    cursor_ordering = ("deadline", "id")

    def get_queryset(self):
        return selectors.tenders_for(request_token(self.request)).select_related("bid")


class BidViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    queryset = Bid.objects.none()
    serializer_class = s.BidSerializer
    filterset_fields = ["shg", "status", "tender"]
    cursor_ordering = ("-id",)

    def get_queryset(self):
        return selectors.bids_for(request_token(self.request)).select_related("tender").prefetch_related("history")

    def _answer(self, bid: Bid, code=status.HTTP_200_OK) -> Response:
        bid = self.get_queryset().get(pk=bid.pk)
        return Response(s.BidSerializer(bid, context=self.get_serializer_context()).data, status=code)

    @extend_schema(summary="Start a bid on a tender", request=s.BidCreateSerializer,
                   responses={201: s.BidSerializer, **error_responses(400)})
    def create(self, request):
        serializer = s.BidCreateSerializer(data=request.data, tenders=selectors.tenders_for(request_token(request)))
        serializer.is_valid(raise_exception=True)
        bid = services.bid_start(tender=serializer.validated_data["tender"])
        return self._answer(bid, status.HTTP_201_CREATED)

    @extend_schema(summary="Set price, quantity, checklist or notes (before submission)", request=s.BidUpdateSerializer,
                   responses={200: s.BidSerializer, **error_responses(400)})
    def partial_update(self, request, pk=None):
        bid = self.get_object()
        serializer = s.BidUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        bid = services.bid_update(bid=bid, **serializer.validated_data)
        return self._answer(bid)

    @extend_schema(summary="Record the bid's next step", description="Allowed steps follow the workflow: draft → "
                   "documents → priced → submitted (uploaded on GeM by the coordinator; Haat does not submit) → "
                   "technical_evaluation → financial_evaluation → awarded, or lost / withdrawn.",
                   request=s.BidTransitionSerializer, responses={200: s.BidSerializer, **error_responses(400)})
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        bid = self.get_object()
        serializer = s.BidTransitionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        bid = services.bid_transition(bid=bid, **serializer.validated_data)
        return self._answer(bid)


class InquiryViewSet(viewsets.ReadOnlyModelViewSet):
    """IndiaMART buyer inquiries, newest first."""

    queryset = Inquiry.objects.none()
    serializer_class = s.InquirySerializer
    filterset_fields = ["shg", "status"]
    cursor_ordering = ("-received_at", "-id")

    def get_queryset(self):
        return selectors.inquiries_for(request_token(self.request))

    @extend_schema(summary="Mark an inquiry new, quoted, won or lost", request=s.InquiryStatusSerializer,
                   responses={200: s.InquirySerializer, **error_responses(400)})
    @action(detail=True, methods=["post"])
    def status(self, request, pk=None):
        inquiry = self.get_object()
        serializer = s.InquiryStatusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        inquiry = services.inquiry_set_status(inquiry=inquiry, status=serializer.validated_data["status"])
        return Response(s.InquirySerializer(inquiry, context=self.get_serializer_context()).data)


class QuoteViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    queryset = Quote.objects.none()
    serializer_class = s.QuoteSerializer
    filterset_fields = ["shg", "inquiry"]
    cursor_ordering = ("-id",)

    def get_queryset(self):
        return selectors.quotes_for(request_token(self.request))

    @extend_schema(summary="Compose a quote (the total is computed)", request=s.QuoteCreateSerializer,
                   responses={201: s.QuoteSerializer, **error_responses(400)})
    def create(self, request):
        serializer = s.QuoteCreateSerializer(data=request.data,
                                             inquiries=selectors.inquiries_for(request_token(request)))
        serializer.is_valid(raise_exception=True)
        quote = services.quote_create(**serializer.validated_data)
        return Response(s.QuoteSerializer(quote, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(summary="Email the quote to the buyer with its PDF and a signed link",
                   request=s.QuoteSendSerializer, responses={200: s.QuoteSerializer, **error_responses(400)})
    @action(detail=True, methods=["post"])
    def send(self, request, pk=None):
        quote = self.get_object()
        serializer = s.QuoteSendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        quote = services.quote_send(quote=quote, to_email=serializer.validated_data.get("to_email", ""))
        return Response(s.QuoteSerializer(quote, context=self.get_serializer_context()).data)


class SellerProfileViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                           mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """Each SHG's procurement identity: PAN, GSTIN (checksum verified), Udyam, bank IFSC."""

    queryset = SellerProfile.objects.none()
    serializer_class = s.SellerProfileSerializer
    filterset_fields = ["shg"]
    cursor_ordering = ("-id",)

    def get_queryset(self):
        return selectors.profiles_for(request_token(self.request))

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = services.seller_profile_upsert(shg=data.pop("shg"), data=data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        shg = data.pop("shg", serializer.instance.shg)
        if shg != serializer.instance.shg:
            raise ValidationError({"shg": ["A profile stays with its SHG."]})
        serializer.instance = services.seller_profile_upsert(shg=shg, data=data)
