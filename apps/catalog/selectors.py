"""Reads of the catalog. Orders map their lines to variants through `variant_ids_by_sku`."""

from collections.abc import Iterable

from django.db import connection
from django.db.models import QuerySet

from apps.accounts.selectors import Principal, scope_by_shg
from apps.catalog.models import Product, Variant


def variant_ids_by_sku(*, shg_id: int, skus: Iterable[str]) -> dict[str, int]:
    """The variant id of each SKU the SHG has, in one query (unknown SKUs are simply absent).

    Plain SQL on purpose: every page of every order sync maps its lines here, and the ORM's per-value
    preparation of a long IN list costs more than the query.
    """
    wanted = sorted({sku for sku in skus if sku})
    if not wanted:
        return {}
    qn = connection.ops.quote_name
    if connection.vendor == "postgresql":
        matching, params = "= ANY(%s)", [shg_id, wanted]  # one array parameter
    else:
        matching, params = f"IN ({', '.join(['%s'] * len(wanted))})", [shg_id, *wanted]
    sql = (f"SELECT {qn('sku')}, {qn('id')} FROM {qn(Variant._meta.db_table)} "  # noqa: S608
           f"WHERE {qn('shg_id')} = %s AND {qn('sku')} {matching}")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return dict(cursor.fetchall())


def product_list(*, principal: Principal) -> QuerySet[Product]:
    return scope_by_shg(Product.objects.all(), principal).select_related("shg").prefetch_related("variants")


def variant_list(*, principal: Principal) -> QuerySet[Variant]:
    return scope_by_shg(Variant.objects.all(), principal).select_related("product", "shg")


def variant_matrix(*, principal: Principal, shg_id: int | None = None) -> QuerySet[Variant]:
    """Variants with their product and listings (state per channel) for the catalog page: three queries a page
    whatever its size (variants+products, listings+connections, counted by the paginator)."""
    from django.db.models import Prefetch

    from apps.catalog.models import Listing

    queryset = variant_list(principal=principal)
    if shg_id:
        queryset = queryset.filter(shg_id=shg_id)
    return queryset.order_by("product__title", "sku").prefetch_related(
        Prefetch("listings", queryset=Listing.objects.select_related("connection").order_by("connection_id")))


def unmatched_products(*, principal: Principal):
    from apps.catalog.models import ChannelProduct

    return (scope_by_shg(ChannelProduct.objects.filter(mapped_to__isnull=True), principal)
            .select_related("connection", "shg").order_by("connection_id", "title"))


def listing_list(*, principal: Principal):
    """Listings of the principal's SHGs with their variant and channel (one query a page)."""
    from apps.catalog.models import Listing

    return scope_by_shg(Listing.objects.all(), principal).select_related("variant", "connection")
