"""Reads of the catalog. Orders map their lines to variants through `variant_ids_by_sku`."""

from collections.abc import Iterable

from django.db.models import QuerySet

from apps.accounts.selectors import Principal, scope_by_shg
from apps.catalog.models import Product, Variant


def variant_ids_by_sku(*, shg_id: int, skus: Iterable[str]) -> dict[str, int]:
    """The variant id of each SKU the SHG has, in one query (unknown SKUs are simply absent)."""
    wanted = {sku for sku in skus if sku}
    if not wanted:
        return {}
    return dict(Variant.objects.filter(shg_id=shg_id, sku__in=wanted).values_list("sku", "id"))


def product_list(*, principal: Principal) -> QuerySet[Product]:
    return scope_by_shg(Product.objects.all(), principal).select_related("shg").prefetch_related("variants")


def variant_list(*, principal: Principal) -> QuerySet[Variant]:
    return scope_by_shg(Variant.objects.all(), principal).select_related("product", "shg")
