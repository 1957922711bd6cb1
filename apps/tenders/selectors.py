"""Reads of procurement data, always scoped by tenancy; ranking tenders against a catalog lives here.

`tender_matches` is the one place that ranks: PostgreSQL full-text search (SearchVector over the category,
a SearchQuery OR-ing the catalog's words, SearchRank; English stemming) where the database has it, and the
TenderWord index (how many of the catalog's words the category shares) on SQLite.
"""

from __future__ import annotations

from django.db import connection as db
from django.db.models import Count, F, FloatField, Prefetch, Q, QuerySet, Value

from apps.accounts.models import SHG
from apps.accounts.selectors import editable_shg_ids, scope_by_shg, visible_shgs
from apps.tenders.models import Bid, BidStatusChange, Inquiry, Quote, SellerDocument, SellerProfile, Tender
from apps.tenders.text import words


def catalog_terms(shg: SHG) -> list[str]:
    """The words the SHG sells: its products' titles and categories."""
    from apps.catalog.models import Product

    terms: list[str] = []
    for title, category in Product.objects.filter(shg=shg).values_list("title", "category"):
        for word in words(f"{title} {category}"):
            if word not in terms:
                terms.append(word)
    return terms


def uses_full_text() -> bool:
    return db.vendor == "postgresql"


def tender_matches(*, shg: SHG, queryset: QuerySet[Tender] | None = None, terms: list[str] | None = None) -> QuerySet[Tender]:
    """The SHG's tenders that share words with its catalog, annotated with `rank` (higher is closer)."""
    queryset = Tender.objects.filter(shg=shg) if queryset is None else queryset.filter(shg=shg)
    terms = catalog_terms(shg) if terms is None else terms
    if not terms:
        return queryset.none().annotate(rank=Value(0.0, output_field=FloatField()))
    if uses_full_text():
        from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

        vector = SearchVector("category", config="english")
        query = SearchQuery(" OR ".join(terms), search_type="websearch", config="english")
        return queryset.annotate(rank=SearchRank(vector, query)).filter(rank__gt=0)
    return (queryset.annotate(rank=Count("words", filter=Q(words__word__in=terms), output_field=FloatField()))
            .filter(rank__gt=0))


def shgs_for(principal) -> QuerySet[SHG]:
    return visible_shgs(principal).order_by("name")


def tenders_for(principal) -> QuerySet[Tender]:
    return scope_by_shg(Tender.objects.all(), principal)


def tender_list(*, principal, shg: SHG, matched_only: bool = True, include_closed: bool = False) -> QuerySet[Tender]:
    """The SHG's tenders, soonest deadline first; `rank` is the catalog match (0 when not matched)."""
    from django.utils import timezone

    base = tenders_for(principal).filter(shg=shg)
    if not include_closed:
        base = base.filter(deadline__gt=timezone.now())
    queryset = tender_matches(shg=shg, queryset=base) if matched_only else base.annotate(rank=F("match_score"))
    return queryset.select_related("bid").order_by("deadline", "id")


def tender_detail(*, principal, pk: int) -> Tender:
    return (tenders_for(principal).select_related("shg", "connection", "bid")
            .prefetch_related(Prefetch("bid__history", queryset=BidStatusChange.objects.select_related("changed_by")))
            .get(pk=pk))


def bids_for(principal) -> QuerySet[Bid]:
    return scope_by_shg(Bid.objects.all(), principal)


def inquiries_for(principal) -> QuerySet[Inquiry]:
    return scope_by_shg(Inquiry.objects.all(), principal)


def inquiry_list(*, principal, status: str = "", shg_id: int | None = None) -> QuerySet[Inquiry]:
    queryset = inquiries_for(principal).select_related("shg", "connection", "matched_product")
    if status:
        queryset = queryset.filter(status=status)
    if shg_id:
        queryset = queryset.filter(shg_id=shg_id)
    return queryset.order_by("-received_at", "-id")


def inquiry_detail(*, principal, pk: int) -> Inquiry:
    return (inquiries_for(principal).select_related("shg", "matched_product", "connection")
            .prefetch_related(Prefetch("quotes", queryset=Quote.objects.order_by("-created_at", "-id"))).get(pk=pk))


def quotes_for(principal) -> QuerySet[Quote]:
    return scope_by_shg(Quote.objects.all(), principal)


def profiles_for(principal) -> QuerySet[SellerProfile]:
    return scope_by_shg(SellerProfile.objects.all(), principal)


def documents_for(principal) -> QuerySet[SellerDocument]:
    return scope_by_shg(SellerDocument.objects.all(), principal)


def can_edit(user, shg_id: int) -> bool:
    return shg_id in editable_shg_ids(user)
