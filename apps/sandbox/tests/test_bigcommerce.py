"""The BigCommerce sandbox itself, checked against how BigCommerce answers (bigcommerce/api-specs has no licence, so
its shapes are asserted here): v2's 204 on an empty page, RFC 2822 dates and four-decimal money, v3's data/meta,
the rate-limit headers, scopes, all-or-nothing batches and unsigned light webhook payloads."""

from __future__ import annotations

import json
from email.utils import parsedate_to_datetime

import pytest

from apps.sandbox import dataset
from apps.sandbox.http import clear_forced_faults, force_faults
from apps.sandbox.platforms import bigcommerce as store

pytestmark = pytest.mark.django_db
HOOK_URL = "http://testserver/webhooks/bigcommerce/0c5c3bd1-4c52-4b0c-a3a8-63c4a7a9b1d0/"


@pytest.fixture
def account():
    account = store.configure(store.create_demo_account("sandboxbc", "Sandbox Store"), quota=100_000)
    yield account
    clear_forced_faults()


def api(account, route: str) -> str:
    return f"/sandbox/bigcommerce/stores/{account.account_id}/{route}"


def token(account) -> dict:
    return {"HTTP_X_AUTH_TOKEN": account.secrets["access_token"]}


def test_v2_orders_shapes_and_204(client, account):
    response = client.get(api(account, "v2/orders"), {"limit": 5, "sort": "date_modified:asc"}, **token(account))
    orders = response.json()
    assert response.status_code == 200 and len(orders) == 5
    stamps = [parsedate_to_datetime(o["date_modified"]) for o in orders]
    assert stamps == sorted(stamps)
    assert orders[0]["total_inc_tax"].count(".") == 1 and len(orders[0]["total_inc_tax"].split(".")[1]) == 4
    assert orders[0]["products"]["resource"] == f"/orders/{orders[0]['id']}/products"
    empty = client.get(api(account, "v2/orders"), {"page": 99}, **token(account))
    assert empty.status_code == 204 and empty.content == b""
    lines = client.get(api(account, f"v2/orders/{orders[0]['id']}/products"), **token(account)).json()
    assert lines and all(line["order_address_id"] == orders[0]["id"] * 10 + 1 for line in lines)


def test_auth_scope_and_rate_headers(client, account):
    assert client.get(api(account, "v2/store")).status_code == 401
    bad = client.get(api(account, "v3/catalog/products"), HTTP_X_AUTH_TOKEN="nope")
    assert bad.status_code == 401 and bad.json()["status"] == 401
    ok = client.get(api(account, "v2/store"), **token(account))
    assert ok.json()["currency"] == "USD" and ok["X-Rate-Limit-Requests-Quota"] == "100000"
    store.set_scopes(account, ["store_v2_information"])
    denied = client.get(api(account, "v2/orders"), **token(account))
    assert denied.status_code == 403 and denied.json() == [
        {"status": 403, "message": "You don't have a required scope to access the endpoint"}]
    store.configure(account, quota=1)
    client.get(api(account, "v2/store"), **token(account))
    limited = client.get(api(account, "v2/store"), **token(account))
    assert limited.status_code == 429 and limited["X-Rate-Limit-Requests-Left"] == "0"
    force_faults("error", 1)
    failed = client.get(api(account, "v2/store"), **token(account))
    assert failed.status_code == 500 and failed.json()["title"] == "Internal Server Error"


def test_v3_catalog_and_batches(client, account):
    body = client.get(api(account, "v3/catalog/products"), {"include": "variants", "limit": 10}, **token(account)).json()
    assert body["meta"]["pagination"]["total"] == 24 and body["meta"]["pagination"]["links"]["next"]
    tracked = {p["inventory_tracking"] for p in body["data"]}
    assert tracked == {"product", "variant"}
    variant_product = next(p for p in body["data"] if p["inventory_tracking"] == "variant")
    variant = variant_product["variants"][0]
    refused = client.put(api(account, "v3/catalog/variants"),
                         json.dumps([{"id": variant["id"], "inventory_level": 2}, {"id": 1, "inventory_level": 2}]),
                         content_type="application/json", **token(account))
    assert refused.status_code == 422 and refused.json()["errors"] == {"1.id": "variant not found"}
    assert dataset.objects(account, "product").get(key=variant["sku"]).data["quantity"] == variant["inventory_level"]
    too_many = client.put(api(account, "v3/catalog/products"), json.dumps([{"id": 1000}] * 11),
                          content_type="application/json", **token(account))
    assert too_many.status_code == 413


def test_hooks_and_light_deliveries(client, account, monkeypatch):
    created = client.post(api(account, "v3/hooks"), json.dumps({
        "scope": "store/order/*", "destination": HOOK_URL, "is_active": True, "headers": {"X-Secret": "abc"}}),
        content_type="application/json", **token(account))
    assert created.status_code == 200 and created.json()["data"]["store_hash"] == account.account_id
    refused = client.post(api(account, "v3/hooks"), json.dumps({"scope": "store/order/created",
                                                                 "destination": "https://example.org:8443/x"}),
                          content_type="application/json", **token(account))
    assert refused.status_code == 422
    sent = []
    monkeypatch.setattr("apps.sandbox.http.deliver_webhook", lambda url, body, headers: sent.append((url, body, headers)) or 200)
    order = store.create_order(account)
    url, body, headers = sent[0]
    payload = json.loads(body)
    assert url == HOOK_URL and headers["X-Secret"] == "abc"
    assert payload["data"] == {"type": "order", "id": int(order["id"])}
    assert payload["producer"] == f"stores/{account.account_id}" and len(payload["hash"]) == 40


def test_shipments_move_the_status(client, account):
    neutral = next(o.data for o in dataset.objects(account, "order") if o.data["status"] == "unshipped"
                   and len(o.data["lines"]) > 1)
    url = api(account, f"v2/orders/{neutral['id']}/shipments")
    first = neutral["lines"][0]
    body = {"order_address_id": int(neutral["id"]) * 10 + 1, "tracking_number": "T1", "shipping_provider": "",
            "items": [{"order_product_id": int(first["id"]), "quantity": first["quantity"]}]}
    response = client.post(url, json.dumps(body), content_type="application/json", **token(account))
    assert response.status_code == 201
    order = client.get(api(account, f"v2/orders/{neutral['id']}"), **token(account)).json()
    assert order["status_id"] == 3 and order["status"] == "Partially Shipped"
    again = client.post(url, json.dumps(body), content_type="application/json", **token(account))
    assert again.status_code == 400 and "greater than the quantity" in again.json()[0]["message"]


def test_the_demo_order_button(client, account):
    sku = sorted(row.key for row in dataset.objects(account, "product") if row.data["quantity"] > 2)[0]
    response = client.post("/sandbox/bigcommerce/_sandbox/orders", json.dumps({"account_id": account.account_id,
                                                                           "skus": [{"sku": sku, "quantity": 2}]}),
                           content_type="application/json")
    assert response.status_code == 201 and response.json()["order"]
    assert client.post("/sandbox/bigcommerce/_sandbox/orders", json.dumps({"account_id": "nobody"}),
                       content_type="application/json").status_code == 404
    assert client.post("/sandbox/bigcommerce/_sandbox/orders", json.dumps({"account_id": account.account_id,
                                                                       "skus": [{"sku": sku, "quantity": 0}]}),
                       content_type="application/json").status_code == 400
