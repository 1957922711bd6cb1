from django.contrib import admin, messages

from apps.tenders import services
from apps.tenders.models import Bid, BidStatusChange, Inquiry, Quote, SellerDocument, SellerProfile, Tender


@admin.register(SellerProfile)
class SellerProfileAdmin(admin.ModelAdmin):
    list_display = ["legal_name", "shg", "organization_type", "pan", "gstin", "udyam_number"]
    search_fields = ["legal_name", "pan", "gstin", "shg__name"]
    list_filter = ["organization_type"]


@admin.register(SellerDocument)
class SellerDocumentAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "shg", "valid_until", "created_at"]
    list_filter = ["kind"]
    search_fields = ["title", "shg__name"]
    readonly_fields = ["file"]


class BidStatusChangeInline(admin.TabularInline):
    model = BidStatusChange
    extra = 0
    fields = ["from_status", "to_status", "changed_at", "changed_by", "note"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Tender)
class TenderAdmin(admin.ModelAdmin):
    list_display = ["bid_number", "category", "shg", "ministry", "deadline", "quantity", "match_score", "source"]
    list_filter = ["source", "shg"]
    search_fields = ["bid_number", "category", "ministry", "department"]
    date_hierarchy = "deadline"
    readonly_fields = ["raw", "search_text", "matched_terms", "match_score"]
    actions = ["rescore"]

    @admin.action(description="Match again against the SHG's catalog")
    def rescore(self, request, queryset):
        from django.db import transaction

        count = 0
        for shg_id in set(queryset.values_list("shg_id", flat=True)):
            with transaction.atomic():
                tenders = list(queryset.filter(shg_id=shg_id).select_related("shg"))
                count += services.tenders_rescore(shg=tenders[0].shg, tenders=tenders)
        messages.success(request, f"{count} tender(s) newly matched.")


@admin.register(Bid)
class BidAdmin(admin.ModelAdmin):
    list_display = ["tender", "shg", "status", "unit_price", "quantity", "submitted_at"]
    list_filter = ["status"]
    search_fields = ["tender__bid_number", "shg__name"]
    readonly_fields = ["status", "submitted_at", "reminders_sent"]  # the workflow moves only through its service
    inlines = [BidStatusChangeInline]


class QuoteInline(admin.TabularInline):
    model = Quote
    extra = 0
    fields = ["quantity", "unit_price", "total", "delivery_days", "sent_at", "sent_to"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Inquiry)
class InquiryAdmin(admin.ModelAdmin):
    list_display = ["unique_query_id", "product_name", "buyer_name", "company", "shg", "status", "received_at"]
    list_filter = ["status", "query_type"]
    search_fields = ["unique_query_id", "product_name", "buyer_name", "company", "email"]
    readonly_fields = ["raw"]
    inlines = [QuoteInline]


@admin.register(Quote)
class QuoteAdmin(admin.ModelAdmin):
    list_display = ["pk", "inquiry", "shg", "total", "sent_at", "sent_to"]
    search_fields = ["inquiry__unique_query_id", "sent_to"]
    readonly_fields = ["total", "sent_at", "sent_to"]
