"""Catalog writes: products with variants (SKU unique per SHG, MRP >= price) and the import from a channel."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from apps.catalog.models import Product, Variant
from apps.catalog.selectors import variant_ids_by_sku
from apps.catalog.services import product_create, products_import_from_channel
from apps.integrations.connectors.base import ProductData
from tests.factories import make_shg

pytestmark = pytest.mark.django_db


def test_product_with_variants():
    shg = make_shg()
    product = product_create(shg=shg, title="Kantha stole", brand="Sakhi", category="Apparel", hsn_code="6214",
                             images=["https://img.example.in/stole.jpg"], attributes={"material": "silk"},
                             variants=[{"sku": "KS-RED", "price": Decimal("980"), "mrp": Decimal("1200"),
                                        "barcode": "8901234567890", "weight_grams": 180},
                                       {"sku": "KS-BLUE", "price": Decimal("980")}])
    assert product.variants.count() == 2
    assert set(Variant.objects.values_list("shg_id", flat=True)) == {shg.pk}
    assert variant_ids_by_sku(shg_id=shg.pk, skus=["KS-RED", "NOPE", ""]) == {
        "KS-RED": Variant.objects.get(sku="KS-RED").pk}


def test_sku_is_unique_per_shg_not_globally():
    shg, other = make_shg(), make_shg()
    product_create(shg=shg, title="A", variants=[{"sku": "SKU-1"}])
    product_create(shg=other, title="A", variants=[{"sku": "SKU-1"}])
    with pytest.raises(ValidationError):
        product_create(shg=shg, title="B", variants=[{"sku": "SKU-1"}])
    with pytest.raises(ValidationError, match="twice"):
        product_create(shg=shg, title="C", variants=[{"sku": "SKU-2"}, {"sku": "SKU-2"}])
    assert Product.objects.filter(shg=shg).count() == 1, "a refused product leaves nothing behind"


def test_bad_values_are_refused_with_the_field_named():
    shg = make_shg()
    with pytest.raises(ValidationError) as info:
        product_create(shg=shg, title="X", hsn_code="12", variants=[{"sku": "X-1"}])
    assert "hsn_code" in info.value.message_dict
    with pytest.raises(ValidationError) as info:
        product_create(shg=shg, title="X", variants=[{"sku": "X-1", "price": Decimal("10"), "mrp": Decimal("5")}])
    assert "mrp" in info.value.message_dict
    with pytest.raises(ValidationError):
        product_create(shg=shg, title="X", variants=[])
    assert not Product.objects.exists()


def test_the_database_refuses_mrp_below_price():
    shg = make_shg()
    product = product_create(shg=shg, title="X", variants=[{"sku": "X-1", "price": Decimal("10")}])
    with pytest.raises(IntegrityError), transaction.atomic():
        Variant.objects.filter(product=product).update(mrp=Decimal("5"))


def test_import_creates_unknown_skus_and_keeps_known_ones():
    shg = make_shg()
    product_create(shg=shg, title="Known", variants=[{"sku": "K-1", "price": Decimal("50")}])
    result = products_import_from_channel(shg=shg, default_currency="INR", products=[
        ProductData(external_id="1", sku="K-1", title="Renamed on the channel", price=Decimal("70")),
        ProductData(external_id="2", sku="N-1", title="New", price=Decimal("120"), mrp=Decimal("100"),
                    barcode="not-a-gtin"),
        ProductData(external_id="3", sku="", title="No SKU"),
    ])
    assert (result.created, result.unchanged, result.skipped) == (1, 1, ["3"])
    assert Variant.objects.get(sku="K-1").price == Decimal("50.00")
    new = Variant.objects.get(sku="N-1")
    assert new.price == Decimal("120.00") and new.mrp is None and new.barcode == "" and new.currency == "INR"
