"""Catalog pages: the matrix in a constant number of queries, upload with row errors, export, hand mapping."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.catalog.models import ChannelProduct, Listing, Variant
from apps.catalog.services import product_create
from apps.inventory.models import StockMovement
from apps.inventory.services import stock_adjust
from tests.factories import make_connection, make_shg, make_user

pytestmark = pytest.mark.django_db


def fill(shg, n: int, channels, start: int = 0) -> None:
    for i in range(start, start + n):
        variant = product_create(shg=shg, title=f"Product {i:03}", variants=[{"sku": f"SKU-{shg.pk}-{i}", "price": "10"}]
                                 ).variants.get()
        stock_adjust(variant=variant, kind=StockMovement.Kind.RECEIPT, delta=i + 1)
        Listing.objects.bulk_create([Listing(variant=variant, connection=c, shg=shg, state=Listing.State.LIVE) for c in channels])


def test_matrix_query_count_does_not_grow_with_rows(client, django_assert_max_num_queries):
    shg = make_shg()
    channels = [make_connection(shg, platform="shopify"), make_connection(shg, platform="flipkart")]
    client.force_login(make_user(shg=shg))
    fill(shg, 3, channels)
    with django_assert_max_num_queries(12) as small:
        response = client.get(reverse("catalog:products"))
    assert response.status_code == 200 and "SKU-" in response.text
    fill(shg, 40, channels, start=3)
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = client.get(reverse("catalog:products"))
    assert response.text.count("Live") >= 80


def test_other_shgs_products_are_not_shown(client):
    mine, theirs = make_shg(), make_shg()
    product_create(shg=theirs, title="Secret pickle", variants=[{"sku": "PICKLE-1"}])
    client.force_login(make_user(shg=mine))
    assert "Secret pickle" not in client.get(reverse("catalog:products")).text
    assert b"PICKLE-1" not in client.get(reverse("catalog:export", args=["csv"])).content


def test_upload_with_a_bad_row_lists_it_and_imports_nothing(client):
    shg = make_shg()
    client.force_login(make_user(shg=shg))
    bad = SimpleUploadedFile("catalog.csv", b"sku,title,price,mrp\nA-1,Good,10,12\nA-2,Bad,20,5\n", content_type="text/csv")
    response = client.post(reverse("catalog:import"), {"shg": shg.pk, "file": bad})
    assert response.status_code == 200
    assert "<td>3</td><td>mrp</td>" in response.text.replace("\n", "")
    assert not Variant.objects.exists()
    good = SimpleUploadedFile("catalog.csv", b"sku,title,price,mrp,on_hand\nA-1,Good,10,12,5\n", content_type="text/csv")
    response = client.post(reverse("catalog:import"), {"shg": shg.pk, "file": good})
    assert response.status_code == 302 and Variant.objects.get().sku == "A-1"
    export = client.get(reverse("catalog:export", args=["csv"]))
    assert export["Content-Type"].startswith("text/csv") and b"A-1" in export.content


def test_map_an_unmatched_channel_product(client):
    shg = make_shg()
    connection = make_connection(shg, platform="shopify")
    variant = product_create(shg=shg, title="Shawl", variants=[{"sku": "SHAWL-1"}]).variants.get()
    item = ChannelProduct.objects.create(connection=connection, shg=shg, external_id="gid://shopify/Product/9", title="Shawl")
    client.force_login(make_user(shg=shg))
    assert "gid://shopify/Product/9" in client.get(reverse("catalog:unmatched")).text
    response = client.post(reverse("catalog:unmatched_map", args=[item.pk]), {"sku": "SHAWL-1"})
    assert response.status_code == 302
    assert Listing.objects.get(connection=connection).variant == variant


def test_stock_page_adjust_and_ledger(client):
    shg = make_shg()
    variant = product_create(shg=shg, title="Shawl", variants=[{"sku": "SHAWL-1"}]).variants.get()
    item = stock_adjust(variant=variant, kind=StockMovement.Kind.RECEIPT, delta=3)
    client.force_login(make_user(shg=shg))
    assert "SHAWL-1" in client.get(reverse("inventory:stock")).text
    client.post(reverse("inventory:adjust", args=[item.pk]), {"kind": "adjustment", "quantity": 7, "reason": "count"})
    item.refresh_from_db()
    assert item.on_hand == 7
    ledger = client.get(reverse("inventory:ledger", args=[item.pk])).text
    assert "The ledger adds up." in ledger
    viewer = make_user(shg=make_shg())
    client.force_login(viewer)
    assert client.get(reverse("inventory:ledger", args=[item.pk])).status_code == 404
