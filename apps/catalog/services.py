"""Writes of the catalog: create products with their variants, and the first import from a channel.

The catalog is the SHG's source of truth: importing from a channel creates what Haat does not know yet
and never overwrites what it does (prices and stock are pushed from here to the channels, not back).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.accounts.models import SHG
from apps.catalog.models import Product, Variant
from apps.integrations.connectors.base import ProductData


@dataclass
class ImportResult:
    created: int = 0
    unchanged: int = 0
    # Products the channel returned without a SKU: nothing to match them by; the coordinator maps them.
    skipped: list[str] = field(default_factory=list)


@transaction.atomic
def product_create(*, shg: SHG, title: str, variants: list[dict[str, Any]], description: str = "", brand: str = "",
                   category: str = "", hsn_code: str = "", images: list[str] | None = None,
                   attributes: dict[str, Any] | None = None) -> Product:
    """Create a product and its variants (each a dict of Variant fields, `sku` required), validated first."""
    if not variants:
        raise ValidationError({"variants": "A product has at least one variant."})
    product = Product(shg=shg, title=title, description=description, brand=brand, category=category,
                      hsn_code=hsn_code, images=images or [], attributes=attributes or {})
    product.full_clean()
    product.save()
    rows = []
    seen: set[str] = set()
    for data in variants:
        variant = Variant(product=product, shg=shg, **data)
        if variant.sku in seen:
            raise ValidationError({"variants": f"SKU {variant.sku} appears twice."})
        seen.add(variant.sku)
        variant.full_clean()  # also checks the SKU is free in this SHG
        rows.append(variant)
    Variant.objects.bulk_create(rows)
    return product


def _clean_price(value: Decimal | None) -> Decimal | None:
    if value is None or value < 0:
        return None
    return value.quantize(Decimal("0.01"))


@transaction.atomic
def products_import_from_channel(*, shg: SHG, products: list[ProductData], default_currency: str) -> ImportResult:
    """Create a product and variant for every SKU the SHG's catalog lacks; leave known SKUs untouched."""
    result = ImportResult()
    by_sku: dict[str, ProductData] = {}
    for item in products:
        sku = (item.sku or "").strip()
        if not sku:
            result.skipped.append(item.external_id)
            continue
        by_sku.setdefault(sku, item)
    known = set(Variant.objects.filter(shg=shg, sku__in=list(by_sku)).values_list("sku", flat=True))
    result.unchanged = len(known)
    new = [(sku, item) for sku, item in by_sku.items() if sku not in known]
    if not new:
        return result
    new_products = Product.objects.bulk_create(
        [Product(shg=shg, title=(item.title or sku)[:255]) for sku, item in new]
    )
    variants = []
    for product, (sku, item) in zip(new_products, new, strict=True):
        price, mrp = _clean_price(item.price), _clean_price(item.mrp)
        if price is not None and mrp is not None and mrp < price:
            mrp = None  # a channel's inconsistent MRP is not worth failing the import; the coordinator sets it
        barcode = item.barcode if item.barcode and item.barcode.isdigit() and len(item.barcode) in (8, 12, 13, 14) else ""
        variants.append(Variant(product=product, shg=shg, sku=sku[:100], barcode=barcode, price=price, mrp=mrp,
                                currency=(item.currency or default_currency or "INR").upper()[:3]))
    Variant.objects.bulk_create(variants)
    result.created = len(variants)
    return result
