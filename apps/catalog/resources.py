"""CSV and XLSX of the catalog and its stock, through django-import-export: one row per variant.

Export uses `VariantResource`. Import is validated row by row in `services.catalog_import_file`: every
bad row and field is named and, if there is one, nothing is written (the file is fixed and sent again).
"""

from __future__ import annotations

from import_export import fields, resources
from import_export.formats.base_formats import CSV, XLSX

from apps.catalog.models import Variant

FORMATS = {"csv": CSV, "xlsx": XLSX}
COLUMNS = ["sku", "title", "description", "brand", "category", "hsn_code", "barcode", "price", "mrp", "currency",
           "weight_grams", "on_hand"]


class VariantResource(resources.ModelResource):
    title = fields.Field(attribute="product__title", column_name="title")
    description = fields.Field(attribute="product__description", column_name="description")
    brand = fields.Field(attribute="product__brand", column_name="brand")
    category = fields.Field(attribute="product__category", column_name="category")
    hsn_code = fields.Field(attribute="product__hsn_code", column_name="hsn_code")
    on_hand = fields.Field(column_name="on_hand")
    reserved = fields.Field(column_name="reserved")
    available = fields.Field(column_name="available")

    class Meta:
        model = Variant
        fields = ["sku", "title", "description", "brand", "category", "hsn_code", "barcode", "price", "mrp", "currency",
                  "weight_grams", "on_hand", "reserved", "available"]
        export_order = fields

    def __init__(self, *, stock: dict[int, dict[str, int]] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.stock = stock or {}

    def dehydrate_on_hand(self, variant: Variant) -> int:
        return self.stock.get(variant.pk, {}).get("on_hand", 0)

    def dehydrate_reserved(self, variant: Variant) -> int:
        return self.stock.get(variant.pk, {}).get("reserved", 0)

    def dehydrate_available(self, variant: Variant) -> int:
        return self.stock.get(variant.pk, {}).get("available", 0)


def catalog_export(*, queryset, file_format: str) -> bytes | str:
    """The variants of `queryset` with their product fields and stock, as CSV or XLSX (two queries)."""
    from apps.inventory.services import available_by_variant

    variants = list(queryset.select_related("product"))
    stock = available_by_variant(variant_ids=[v.pk for v in variants])
    dataset = VariantResource(stock=stock).export(variants)
    return FORMATS[file_format]().export_data(dataset)
