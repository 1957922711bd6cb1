"""CSV and XLSX import and export: row-by-row validation, all-or-nothing, stock counts through the ledger."""

from __future__ import annotations

import io

import openpyxl
import pytest

from apps.catalog.models import Product, Variant
from apps.catalog.resources import catalog_export
from apps.catalog.services import ImportRejected, catalog_import_file, product_create
from apps.inventory.models import StockItem, StockMovement
from tests.factories import make_shg

pytestmark = pytest.mark.django_db

GOOD = (
    "sku,title,brand,price,mrp,currency,hsn_code,on_hand\n"
    "SAREE-1,Madhubani saree,Mithila,900,1200,INR,5208,4\n"
    "BAG-1,Jute bag,,250,250,INR,,10\n"
)


def test_good_csv_creates_products_variants_and_stock():
    shg = make_shg()
    result = catalog_import_file(shg=shg, content=GOOD.encode(), file_format="csv")
    assert (result.created, result.updated, result.stock_changed) == (2, 0, 2)
    saree = Variant.objects.get(shg=shg, sku="SAREE-1")
    assert saree.product.title == "Madhubani saree" and str(saree.mrp) == "1200.00"
    item = StockItem.objects.get(variant=saree)
    assert item.on_hand == 4 and item.movements.get().kind == StockMovement.Kind.ADJUSTMENT


def test_one_bad_row_imports_nothing_and_names_every_bad_row_and_field():
    shg = make_shg()
    content = (
        b"sku,title,price,mrp,currency,hsn_code,on_hand\n"
        b"OK-1,Fine,100,120,INR,,1\n"
        b"BAD-1,Cheap,200,150,INR,12,2\n"
        b",No sku,10,10,inr,,-3\n"
        b"OK-1,Twice,1,1,INR,,\n"
    )
    with pytest.raises(ImportRejected) as caught:
        catalog_import_file(shg=shg, content=content, file_format="csv")
    named = {(row, field) for row, field, _message in caught.value.row_errors}
    assert {(3, "mrp"), (3, "hsn_code"), (4, "sku"), (4, "currency"), (4, "on_hand"), (5, "sku")} <= named
    assert not any(row == 2 for row, _f, _m in caught.value.row_errors)
    assert Product.objects.count() == 0 and Variant.objects.count() == 0 and StockItem.objects.count() == 0


def test_import_updates_known_skus_and_counts_through_the_ledger():
    shg = make_shg()
    product_create(shg=shg, title="Old title", variants=[{"sku": "SAREE-1", "price": "800"}])
    result = catalog_import_file(shg=shg, content=GOOD.encode(), file_format="csv")
    assert (result.created, result.updated) == (1, 1)
    saree = Variant.objects.get(shg=shg, sku="SAREE-1")
    assert saree.product.title == "Madhubani saree" and str(saree.price) == "900.00"
    assert Product.objects.filter(shg=shg).count() == 2


def test_xlsx_round_trip():
    shg = make_shg()
    catalog_import_file(shg=shg, content=GOOD.encode(), file_format="csv")
    data = catalog_export(queryset=Variant.objects.filter(shg=shg), file_format="xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    rows = list(sheet.values)
    assert rows[0][:3] == ("sku", "title", "description")
    by_sku = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert by_sku["BAG-1"]["on_hand"] == 10 and by_sku["BAG-1"]["available"] == 10
    other = make_shg()
    result = catalog_import_file(shg=other, content=data, file_format="xlsx")
    assert result.created == 2 and StockItem.objects.get(variant__shg=other, variant__sku="SAREE-1").on_hand == 4


def test_unreadable_file_is_a_clear_error():
    with pytest.raises(Exception, match=r"cannot be read|name the columns"):
        catalog_import_file(shg=make_shg(), content=b"\x00\x01garbage", file_format="xlsx")
