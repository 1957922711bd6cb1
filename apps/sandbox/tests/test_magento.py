"""The Magento sandbox itself: its answers held to Adobe's official admin REST schema, and Magento's own behaviour
(searchCriteria groups and conditions, the last page repeated past the end, routes that exist only with MSI,
errors with placeholders, shipments that move the order on)."""

from __future__ import annotations

import json

import pytest

from apps.integrations.tests.connectors.magento_specs import check_response
from apps.sandbox import dataset
from apps.sandbox.http import clear_forced_faults, force_faults
from apps.sandbox.platforms import magento as store

pytestmark = pytest.mark.django_db


@pytest.fixture
def account():
    account = store.create_demo_account("sandbox-store", "Sandbox Store")
    yield account
    clear_forced_faults()


def api(account, route: str, code: str = "default") -> str:
    return f"/sandbox/magento/{account.account_id}/rest/{code}/V1/{route}"


def bearer(account) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {account.secrets['access_token']}"}


def get(client, account, route, **params):
    response = client.get(api(account, route), params, **bearer(account))
    data = response.json()
    check_response("GET", "http://testserver" + api(account, route), response.status_code, data)
    return response.status_code, data


def test_orders_search_groups_conditions_and_schema(client, account):
    orders = {row.key: row.data for row in dataset.objects(account, "order")}
    first, second = sorted(orders)[:2]
    status, data = get(client, account, "orders", **{
        "searchCriteria[filter_groups][0][filters][0][field]": "entity_id",
        "searchCriteria[filter_groups][0][filters][0][value]": first,
        "searchCriteria[filter_groups][0][filters][1][field]": "entity_id",
        "searchCriteria[filter_groups][0][filters][1][value]": second,
        "searchCriteria[filterGroups][1][filters][0][field]": "entity_id",
        "searchCriteria[filterGroups][1][filters][0][value]": f"{first},{second},9",
        "searchCriteria[filterGroups][1][filters][0][conditionType]": "in",
    })
    assert status == 200 and data["total_count"] == 2
    assert sorted(str(o["entity_id"]) for o in data["items"]) == [first, second]
    assert data["search_criteria"]["filter_groups"][0]["filters"][1]["value"] == second


def test_a_page_past_the_end_is_the_last_page_again(client, account):
    _status, last = get(client, account, "orders", **{"searchCriteria[pageSize]": "25",
                                                      "searchCriteria[currentPage]": "3"})
    _status, beyond = get(client, account, "orders", **{"searchCriteria[pageSize]": "25",
                                                        "searchCriteria[currentPage]": "30"})
    assert [o["entity_id"] for o in beyond["items"]] == [o["entity_id"] for o in last["items"]]
    assert beyond["total_count"] == 60


def test_products_stock_items_and_store_configs_match_the_schema(client, account):
    _status, products = get(client, account, "products", **{"searchCriteria[pageSize]": "5"})
    assert products["total_count"] == 24 and len(products["items"]) == 5
    sku = products["items"][0]["sku"]
    status, item = get(client, account, f"stockItems/{sku}")
    assert status == 200 and item["qty"] == dataset.objects(account, "product").get(key=sku).data["quantity"]
    status, configs = get(client, account, "store/storeConfigs")
    assert status == 200 and configs[0]["base_currency_code"] == "INR"


def test_auth_and_route_errors(client, account):
    response = client.get(api(account, "orders"), HTTP_AUTHORIZATION="Bearer " + "0" * 32)
    assert response.status_code == 401
    assert response.json() == {"message": "The consumer isn't authorized to access %resources.",
                               "parameters": {"resources": "Magento_Sales::actions_view"}}
    assert client.get(api(account, "nothing/here"), **bearer(account)).json()["message"] == \
        "Request does not match any route."
    store.configure(account, msi=False)
    response = client.get(api(account, "inventory/sources"), **bearer(account))
    assert response.status_code == 404


def test_faults_look_like_magento_and_its_host(client, account):
    force_faults("error", 1)
    response = client.get(api(account, "orders"), **bearer(account))
    assert response.status_code == 500 and response.json()["message"].startswith("Internal Error.")
    force_faults("429", 1)
    response = client.get(api(account, "orders"), **bearer(account))
    assert response.status_code == 429 and response["Retry-After"] == "1"


def test_ship_validates_then_moves_the_order_on(client, account):
    neutral = next(o.data for o in dataset.objects(account, "order") if o.data["status"] == "unshipped")
    order_id = neutral["id"]
    url = api(account, f"order/{order_id}/ship")
    bad = client.post(url, json.dumps({"items": [{"order_item_id": 1, "qty": 1}]}), content_type="application/json",
                      **bearer(account))
    assert bad.status_code == 400 and "does not belong to the order" in bad.json()["message"]
    body = {"items": [{"order_item_id": int(line["id"]), "qty": line["quantity"]} for line in neutral["lines"]],
            "tracks": [{"track_number": "EK1", "title": "India Post", "carrier_code": "custom"}], "notify": True}
    response = client.post(url, json.dumps(body), content_type="application/json", **bearer(account))
    assert response.status_code == 200 and isinstance(response.json(), int)
    assert dataset.objects(account, "order").get(key=order_id).data["status"] == "shipped"
    again = client.post(url, json.dumps(body), content_type="application/json", **bearer(account))
    assert again.status_code == 400 and "does not allow a shipment" in again.json()["message"]
    _status, shipments = get(client, account, "shipments", **{
        "searchCriteria[filterGroups][0][filters][0][field]": "order_id",
        "searchCriteria[filterGroups][0][filters][0][value]": order_id})
    assert shipments["total_count"] == 1 and shipments["items"][0]["tracks"][0]["track_number"] == "EK1"


def test_source_items_are_all_or_nothing(client, account):
    sku = sorted(row.key for row in dataset.objects(account, "product"))[0]
    before = dataset.objects(account, "product").get(key=sku).data["quantity"]
    body = {"sourceItems": [{"sku": sku, "source_code": "default", "quantity": 3, "status": 1},
                            {"sku": sku, "source_code": "nowhere", "quantity": 3, "status": 1}]}
    response = client.post(api(account, "inventory/source-items"), json.dumps(body), content_type="application/json",
                           **bearer(account))
    assert response.status_code == 400 and response.json()["message"] == "Validation Failed"
    assert dataset.objects(account, "product").get(key=sku).data["quantity"] == before


def test_create_order_reduces_stock(account):
    sku = sorted(row.key for row in dataset.objects(account, "product")
                 if row.data["quantity"] > 1)[0]
    before = dataset.objects(account, "product").get(key=sku).data["quantity"]
    order = store.create_order(account, skus=[(sku, 1)])
    assert order["status"] == "unshipped"
    assert dataset.objects(account, "product").get(key=sku).data["quantity"] == before - 1


def test_the_demo_order_button(client, account):
    sku = sorted(row.key for row in dataset.objects(account, "product") if row.data["quantity"] > 2)[0]
    response = client.post("/sandbox/magento/_sandbox/orders", json.dumps({"account_id": account.account_id,
                                                                           "skus": [{"sku": sku, "quantity": 2}]}),
                           content_type="application/json")
    assert response.status_code == 201 and response.json()["order"]
    assert client.post("/sandbox/magento/_sandbox/orders", json.dumps({"account_id": "nobody"}),
                       content_type="application/json").status_code == 404
    assert client.post("/sandbox/magento/_sandbox/orders", json.dumps({"account_id": account.account_id,
                                                                       "skus": [{"sku": sku, "quantity": 0}]}),
                       content_type="application/json").status_code == 400
