"""Products and variants: create with variants (validated, nothing half-written), read, tenancy."""

from __future__ import annotations

from apps.catalog.models import Product, Variant
from tests.api.conftest import assert_error
from tests.factories import make_org, make_shg

PRODUCT = {"title": "Handloom cotton saree", "category": "Sarees", "hsn_code": "5208",
           "variants": [{"sku": "SAREE-RED", "price": "1200.00", "mrp": "1500.00"},
                        {"sku": "SAREE-BLUE", "price": "1200.00"}]}


def test_create_and_read(api, partner):
    response = api.post("/api/v1/products/", {"shg": partner["shg"].pk, **PRODUCT}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert [v["sku"] for v in body["variants"]] == ["SAREE-BLUE", "SAREE-RED"]
    assert api.get(f"/api/v1/products/{body['id']}/").json()["title"] == PRODUCT["title"]
    skus = {row["sku"] for row in api.get("/api/v1/variants/", {"product": body["id"]}).json()["results"]}
    assert skus == {"SAREE-RED", "SAREE-BLUE"}


def test_bad_input_names_fields_and_writes_nothing(api, partner):
    bad = {**PRODUCT, "hsn_code": "12", "variants": [{"sku": "X-1", "price": "100.00", "mrp": "50.00"}]}
    body = assert_error(api.post("/api/v1/products/", {"shg": partner["shg"].pk, **bad}, format="json"), 400)
    assert {item["field"] for item in body["errors"]} & {"hsn_code", "mrp"}
    assert_error(api.post("/api/v1/products/", {"shg": partner["shg"].pk, **PRODUCT, "variants": []}, format="json"),
                 400, {"variants"})
    assert_error(api.post("/api/v1/products/", {"shg": make_shg(make_org("Else")).pk, **PRODUCT}, format="json"),
                 400, {"shg"})
    assert not Product.objects.exists() and not Variant.objects.exists()


def test_duplicate_sku_in_the_shg_is_refused(api, partner):
    assert api.post("/api/v1/products/", {"shg": partner["shg"].pk, **PRODUCT}, format="json").status_code == 201
    again = {**PRODUCT, "title": "Another", "variants": [{"sku": "SAREE-RED"}]}
    assert_error(api.post("/api/v1/products/", {"shg": partner["shg"].pk, **again}, format="json"), 400)
    assert Product.objects.count() == 1
