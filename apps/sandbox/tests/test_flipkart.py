"""The Flipkart sandbox itself: paths, auth answers, pagination, validation and shapes as Flipkart documents them.

Flipkart ships no redistributable spec (none in ../shared/specs/), so the schemas below are written from
its reference (flipkart.github.io/fk-api-platform-docs): field names, types and enums of the answers
the connector relies on, with additional properties allowed as Flipkart's best practices ask.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from decimal import Decimal

import jsonschema
import pytest
from django.utils import timezone

from apps.sandbox import dataset
from apps.sandbox.http import clear_forced_faults, force_faults
from apps.sandbox.platforms import flipkart as fk

ROOT = "/sandbox/flipkart"
ITEM_STATES = ["APPROVED", "PACKING_IN_PROGRESS", "FORM_FAILED", "PACKED", "READY_TO_DISPATCH", "PICKUP_COMPLETE",
               "CANCELLED", "RETURN_REQUESTED", "RETURNED", "SHIPPED", "DELIVERED", "COMPLETED"]
DATETIME = {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$"}
ORDER_ITEM = {
    "type": "object",
    "required": ["orderItemId", "orderId", "orderDate", "status", "quantity", "fsn", "sku", "listingId", "priceComponents",
                 "serviceProfile"],
    "properties": {
        "orderItemId": {"type": "string"}, "orderId": {"type": "string", "pattern": r"^OD\d{18}$"},
        "orderDate": DATETIME, "cancellationDate": DATETIME, "paymentType": {"enum": ["COD", "PREPAID"]},
        "status": {"enum": ITEM_STATES}, "quantity": {"type": "integer", "minimum": 1},
        "fsn": {"type": "string", "pattern": r"^[A-Z0-9]{16}$"}, "sku": {"type": "string"}, "listingId": {"type": "string"},
        "hsn": {"type": "string"}, "title": {"type": "string"}, "packageIds": {"type": "array", "items": {"type": "string"}},
        "priceComponents": {"type": "object", "required": ["sellingPrice", "totalPrice"], "properties": {
            k: {"type": "number"} for k in ("sellingPrice", "totalPrice", "shippingCharge", "customerPrice",
                                            "flipkartDiscount")}},
        "serviceProfile": {"enum": ["Flipkart_Fulfilment", "Seller_Fulfilment", "Smart_Fulfilment", "FBF", "NON_FBF",
                                    "FBF_LITE"]},
        "is_replacement": {"type": "boolean"}, "courierReturn": {"type": "boolean"},
    },
}
SHIPMENT = {
    "type": "object",
    "required": ["shipmentId", "dispatchByDate", "dispatchAfterDate", "updatedAt", "locationId", "hold", "orderItems",
                 "subShipments", "shipmentType"],
    "properties": {
        "shipmentId": {"type": "string"}, "dispatchByDate": DATETIME, "dispatchAfterDate": DATETIME, "updatedAt": DATETIME,
        "locationId": {"type": "string"}, "hold": {"type": "boolean"}, "mps": {"type": "boolean"},
        "packagingPolicy": {"type": "string"},
        "subShipments": {"type": "array", "items": {"type": "object", "required": ["subShipmentId"], "properties": {
            "packages": {"type": "array", "items": {"type": "object", "required": ["name"]}}}}},
        "orderItems": {"type": "array", "minItems": 1, "items": ORDER_ITEM},
        "forms": {"type": "array"}, "shipmentType": {"enum": ["EXPRESS", "NORMAL", "SELF"]},
    },
}
SEARCH_ANSWER = {"type": "object", "required": ["hasMore", "shipments"], "properties": {
    "hasMore": {"type": "boolean"}, "nextPageUrl": {"type": "string"}, "shipments": {"type": "array", "items": SHIPMENT}}}
ADDRESS = {"type": "object", "required": ["firstName", "lastName", "pinCode", "city", "state", "addressLine1"],
           "properties": {k: {"type": ["string", "null"]} for k in (
               "firstName", "lastName", "pinCode", "city", "state", "stateCode", "addressLine1", "addressLine2", "landmark",
               "contactNumber")}}
DETAILS_ANSWER = {"type": "object", "required": ["shipments"], "properties": {"shipments": {"type": "array", "items": {
    "type": "object", "required": ["orderId", "shipmentId", "deliveryAddress", "buyerDetails", "subShipments"],
    "properties": {
        "orderId": {"type": "string"}, "shipmentId": {"type": "string"}, "deliveryAddress": ADDRESS,
        "billingAddress": ADDRESS, "buyerDetails": {"type": "object", "required": ["firstName", "lastName"]},
        "subShipments": {"type": "array", "items": {"type": "object", "properties": {"courierDetails": {
            "type": "object", "properties": {k: {"type": "object", "properties": {
                "trackingId": {"type": ["string", "null"]}, "vendorName": {"type": ["string", "null"]}}}
                for k in ("pickupDetails", "deliveryDetails")}}}}},
    }}}}}
LISTING = {
    "type": "object", "required": ["fulfillment_profile", "listing_id", "listing_status", "price", "product_id"],
    "properties": {
        "listing_id": {"type": "string"}, "product_id": {"type": "string"},
        "price": {"type": "object", "required": ["currency", "mrp", "selling_price"], "properties": {
            "mrp": {"type": "integer", "minimum": 0}, "selling_price": {"type": "integer", "minimum": 0},
            "currency": {"const": "INR"}}},
        "tax": {"type": "object", "required": ["hsn"]}, "listing_status": {"enum": ["ACTIVE", "INACTIVE"]},
        "fulfillment_profile": {"enum": ["NON_FBF", "FBF_LITE", "FBF"]},
        "locations": {"type": "array", "items": {"type": "object", "required": ["id", "status"], "properties": {
            "status": {"enum": ["ENABLED", "DISABLED"]}, "inventory": {"type": "integer"}}}},
        "archived_status": {"enum": ["ARCHIVED", "NONE"]},
    },
}
LISTINGS_ANSWER = {"type": "object", "required": ["available"], "properties": {
    "available": {"type": "object", "additionalProperties": LISTING},
    "unavailable": {"type": "array", "items": {"type": "string"}}, "invalid": {"type": "array", "items": {"type": "string"}}}}
CHANGE_ANSWER = {"type": "object", "additionalProperties": {
    "type": "object", "required": ["attribute_errors", "errors", "status"], "properties": {
        "status": {"enum": ["SUCCESS", "FAILURE", "WARNING"]},
        "errors": {"type": "array", "items": {"type": "object", "required": ["code", "description", "severity"],
                                              "properties": {"severity": {"enum": ["ERROR", "WARNING"]},
                                                             "code": {"type": "integer"}}}},
        "attribute_errors": {"type": "array"}}}}
DISPATCH_ANSWER = {"type": "object", "required": ["shipments"], "properties": {"shipments": {"type": "array", "items": {
    "type": "object", "required": ["shipmentId", "processingStatus"], "properties": {
        "processingStatus": {"enum": ["SUCCESS", "FAILURE"]}}}}}}
ERROR_ANSWER = {"type": "object", "required": ["status", "error", "message", "path"]}


@pytest.fixture
def account(db):
    account = fk.create_demo_account("fk-sandbox-seller", "Sandbox Seller SHG")
    yield account
    clear_forced_faults()


def basic(app_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{app_id}:{secret}".encode()).decode()


def get_token(client, account) -> str:
    response = client.get(f"{ROOT}/oauth-service/oauth/token", {"grant_type": "client_credentials", "scope": "Seller_Api"},
                          HTTP_AUTHORIZATION=basic(account.secrets["app_id"], account.secrets["app_secret"]))
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


@pytest.fixture
def api(client, account):
    """Calls with a fresh bearer token of the account."""
    token = get_token(client, account)

    class Api:
        def get(self, path, params=None):
            return client.get(f"{ROOT}{path}", params or {}, HTTP_AUTHORIZATION=f"Bearer {token}")

        def post(self, path, body):
            return client.post(f"{ROOT}{path}", data=json.dumps(body), content_type="application/json",
                               HTTP_AUTHORIZATION=f"Bearer {token}")

    api = Api()
    api.token = token
    return api


def search(api, kind="preDispatch", states=None, **extra):
    body = {"filter": {"type": kind, "states": states or list(fk.FILTER_TYPES[kind]), **extra.pop("filter", {})},
            **extra}
    return api.post("/sellers/v3/shipments/filter", body)


def search_all(api, kind="preDispatch", **extra):
    response = search(api, kind, **extra)
    pages = [response.json()]
    while pages[-1]["hasMore"]:
        next_url = pages[-1]["nextPageUrl"]
        assert next_url.startswith("/v3/shipments/filter?next_token=")
        response = api.get("/sellers" + next_url.split("?")[0], {"next_token": next_url.split("next_token=")[1]})
        assert response.status_code == 200, response.content
        pages.append(response.json())
    return pages


# --- accounts -----------------------------------------------------------------------------------------------------


def test_demo_account_is_idempotent_and_whole_rupee(account):
    again = fk.create_demo_account("fk-sandbox-seller", "Another name")
    assert again.pk == account.pk and again.secrets == account.secrets
    assert fk.connection_credentials(account) == {"app_id": account.secrets["app_id"],
                                                  "app_secret": account.secrets["app_secret"]}
    assert fk.connection_config(account, "http://127.0.0.1:8000/sandbox/") == {
        "base_url": "http://127.0.0.1:8000/sandbox/flipkart"}
    for product in dataset.objects(account, "product"):
        assert Decimal(product.data["price"]) == Decimal(product.data["price"]).to_integral_value()
        assert Decimal(product.data["mrp"]) >= Decimal(product.data["price"])


def test_ids_are_stable_for_a_seed(account):
    product = dataset.objects(account, "product").order_by("key").first().data
    assert fk.fsn(account, product) == fk.fsn(account, dict(product)) and len(fk.fsn(account, product)) == 16
    assert fk.neutral_order_id(fk.flipkart_order_id("100007")) == "100007"
    assert fk.neutral_order_id("OD123") is None and fk.neutral_order_id("garbage") is None
    assert fk.shipment_id(account, "100007", 0) == fk.shipment_id(account, "100007", 0) != fk.shipment_id(account, "100007", 1)


# --- the token endpoint ---------------------------------------------------------------------------------------------


def test_token_answer(client, account):
    response = client.get(f"{ROOT}/oauth-service/oauth/token", {"grant_type": "client_credentials", "scope": "Seller_Api"},
                          HTTP_AUTHORIZATION=basic(account.secrets["app_id"], account.secrets["app_secret"]))
    data = response.json()
    assert response.status_code == 200
    assert data["token_type"] == "bearer" and data["scope"] == "Seller_Api" and data["expires_in"] == 60 * 24 * 3600
    assert data["access_token"]


@pytest.mark.parametrize(("auth", "query", "status", "error"), [
    (None, {"grant_type": "client_credentials", "scope": "Seller_Api"}, 401, "unauthorized"),
    ("wrong-secret", {"grant_type": "client_credentials", "scope": "Seller_Api"}, 401, "unauthorized"),
    ("right", {"grant_type": "password", "scope": "Seller_Api"}, 400, "unsupported_grant_type"),
    ("right", {"grant_type": "client_credentials", "scope": "Everything"}, 400, "invalid_scope"),
])
def test_token_refusals(client, account, auth, query, status, error):
    headers = {}
    if auth:
        secret = account.secrets["app_secret"] if auth == "right" else auth
        headers["HTTP_AUTHORIZATION"] = basic(account.secrets["app_id"], secret)
    response = client.get(f"{ROOT}/oauth-service/oauth/token", query, **headers)
    assert response.status_code == status
    assert response.json()["error"] == error and response.json()["error_description"]
    if status == 401:
        assert response["WWW-Authenticate"].startswith("Basic")
        assert account.secrets["app_secret"] not in response.content.decode()


def test_token_is_get_only(client, account):
    response = client.post(f"{ROOT}/oauth-service/oauth/token?grant_type=client_credentials&scope=Seller_Api",
                           HTTP_AUTHORIZATION=basic(account.secrets["app_id"], account.secrets["app_secret"]))
    assert response.status_code == 405


def test_revoked_application_gets_no_token(client, account):
    fk.revoke_application(account)
    response = client.get(f"{ROOT}/oauth-service/oauth/token", {"grant_type": "client_credentials", "scope": "Seller_Api"},
                          HTTP_AUTHORIZATION=basic(account.secrets["app_id"], account.secrets["app_secret"]))
    assert response.status_code == 401 and response.json()["error_description"] == "Bad credentials"


# --- bearer auth on the API -----------------------------------------------------------------------------------------


def test_api_auth_answers(client, account, api):
    path = f"{ROOT}/sellers/v3/shipments?orderIds=OD1"
    missing = client.get(path)
    assert missing.status_code == 401 and missing.json()["error"] == "unauthorized"
    unknown = client.get(path, HTTP_AUTHORIZATION="Bearer 00000000-0000-0000-0000-000000000000")
    assert unknown.status_code == 401 and unknown.json() == {"error": "invalid_token",
                                                             "error_description": "Invalid access token"}
    assert 'error="invalid_token"' in unknown["WWW-Authenticate"]
    fk.expire_token(account, api.token)
    expired = api.get("/sellers/v3/shipments", {"orderIds": "OD1"})
    assert expired.status_code == 401 and expired.json()["error_description"] == "Access token expired"
    assert api.token not in expired.content.decode()


def test_revoked_token_and_suspended_access(client, account, api):
    fk.revoke_token(account, api.token)
    assert api.get("/sellers/v3/shipments", {"orderIds": "OD1"}).status_code == 401
    fresh = get_token(client, account)
    fk.suspend_api_access(account)
    denied = client.get(f"{ROOT}/sellers/v3/shipments", {"orderIds": "OD1"}, HTTP_AUTHORIZATION=f"Bearer {fresh}")
    assert denied.status_code == 403 and denied.json()["error"] == "access_denied"


def test_old_tokens_are_pruned(client, account):
    first = get_token(client, account)
    dataset.objects(account, "token").filter(key=first).update(updated_at=timezone.now() - timedelta(days=61))
    get_token(client, account)
    assert not dataset.objects(account, "token").filter(key=first).exists()


# --- the shipment search --------------------------------------------------------------------------------------------


def test_search_pages_cover_every_matching_shipment_once_in_order(account, api):
    pages = search_all(api, "postDispatch", pagination={"pageSize": 3}, sort={"field": "modifiedDate", "order": "asc"})
    assert len(pages) > 1 and "nextPageUrl" not in pages[-1]
    for page in pages:
        jsonschema.validate(page, SEARCH_ANSWER)
        assert len(page["shipments"]) <= 3
    shipments = [s for page in pages for s in page["shipments"]]
    ids = [s["shipmentId"] for s in shipments]
    assert len(ids) == len(set(ids))
    stamps = [s["updatedAt"] for s in shipments]
    assert [dataset.parse_iso(s) for s in stamps] == sorted(dataset.parse_iso(s) for s in stamps)
    expected = {o.data["id"] for o in dataset.objects(account, "order") if o.data["status"] in ("shipped", "delivered",
                                                                                                   "returned")}
    assert {fk.neutral_order_id(s["orderItems"][0]["orderId"]) for s in shipments} == expected
    assert all(s["updatedAt"].endswith("+05:30") for s in shipments)


def test_search_sees_updates_between_pages_without_skipping(account, api):
    first = search(api, pagination={"pageSize": 2}, sort={"field": "modifiedDate", "order": "asc"}).json()
    moved = first["shipments"][0]["orderItems"][0]["orderId"]
    dataset.order_update(account, fk.neutral_order_id(moved), note="touched")
    rest = api.get("/sellers/v3/shipments/filter", {"next_token": first["nextPageUrl"].split("next_token=")[1]}).json()
    assert rest["shipments"], "the next page keeps going from where the first ended"


def test_search_windows_and_states(account, api):
    stamps = sorted(dataset.parse_iso(o.data["updated_at"]) for o in dataset.objects(account, "order"))
    middle = stamps[len(stamps) // 2]
    pages = search_all(api, "preDispatch", filter={"modifiedDate": {"from": middle.isoformat()}})
    for shipment in (s for page in pages for s in page["shipments"]):
        assert dataset.parse_iso(shipment["updatedAt"]) >= middle
        assert {i["status"] for i in shipment["orderItems"]} <= set(fk.PRE_DISPATCH_STATES)
    held = [s for page in pages for s in page["shipments"] if s["hold"]]
    assert all(fk.neutral_order_id(s["orderItems"][0]["orderId"]) in {
        o.data["id"] for o in dataset.objects(account, "order") if o.data["status"] == "pending"} for s in held)


def test_cancelled_search_needs_and_honours_cancellation_type(account, api):
    assert search(api, "cancelled").status_code == 400
    found = set()
    for kind in fk.CANCELLATION_TYPES:
        for page in search_all(api, "cancelled", filter={"cancellationType": kind}):
            for shipment in page["shipments"]:
                assert all(i["status"] == "CANCELLED" and i["cancellationReason"] for i in shipment["orderItems"])
                found.add(shipment["shipmentId"])
    cancelled = [o.data for o in dataset.objects(account, "order") if o.data["status"] == "cancelled"]
    assert len(found) == sum(len(fk.shipment_groups(account, o)) for o in cancelled)


def test_fbf_shipments_only_when_asked(db, client):
    account = fk.create_demo_account("fk-fbf", "FBF seller")
    account.settings["marketplace_fulfilment"] = True
    account.seeded = False
    account.settings.pop("whole_rupee_prices")
    account.save()
    dataset.objects(account, "order").delete()
    dataset.objects(account, "product").delete()
    fk.prepare(account)
    token = get_token(client, account)

    def count(profiles):
        body = {"filter": {"type": "postDispatch", "states": list(fk.POST_DISPATCH_STATES), **profiles},
                "pagination": {"pageSize": 20}}
        total, response = 0, client.post(f"{ROOT}/sellers/v3/shipments/filter", json.dumps(body),
                                         content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}").json()
        total += len(response["shipments"])
        while response["hasMore"]:
            response = client.get(f"{ROOT}/sellers{response['nextPageUrl']}", HTTP_AUTHORIZATION=f"Bearer {token}").json()
            total += len(response["shipments"])
        return total

    assert count({}) < count({"serviceProfiles": ["NON_FBF", "FBF"]})


@pytest.mark.parametrize(("body", "words"), [
    ({}, "filter"),
    ({"filter": {"states": ["APPROVED"]}}, "filter.type"),
    ({"filter": {"type": "preDispatch", "states": ["SHIPPED"]}}, "Invalid filter.states"),
    ({"filter": {"type": "preDispatch"}}, "filter.states is mandatory"),
    ({"filter": {"type": "preDispatch", "states": ["APPROVED"]}, "pagination": {"pageSize": 21}}, "pageSize"),
    ({"filter": {"type": "preDispatch", "states": ["APPROVED"], "modifiedDate": {"from": "yesterday"}}}, "ISO-8601"),
    ({"filter": {"type": "preDispatch", "states": ["APPROVED"]}, "sort": {"field": "price"}}, "sort.field"),
])
def test_search_refuses_bad_requests(api, body, words):
    response = api.post("/sellers/v3/shipments/filter", body)
    assert response.status_code == 400
    jsonschema.validate(response.json(), ERROR_ANSWER)
    assert words in response.json()["message"] and response.json()["path"] == f"{ROOT}/sellers/v3/shipments/filter"


def test_tampered_next_token_is_refused(api):
    assert api.get("/sellers/v3/shipments/filter", {"next_token": "bm90IGEgdG9rZW4"}).status_code == 400


# --- shipments by id and their details ------------------------------------------------------------------------------


def test_shipments_by_order_ids_return_every_shipment(account, api):
    split = next(o.data for o in dataset.objects(account, "order") if len(fk.shipment_groups(account, o.data)) == 2)
    order_id = fk.flipkart_order_id(split["id"])
    answer = api.get("/sellers/v3/shipments", {"orderIds": order_id}).json()
    jsonschema.validate(answer, {"type": "object", "required": ["shipments"],
                                 "properties": {"shipments": {"type": "array", "items": SHIPMENT}}})
    assert len(answer["shipments"]) == 2
    items = [i for s in answer["shipments"] for i in s["orderItems"]]
    assert sorted(i["orderItemId"] for i in items) == sorted(fk.order_item_id(ln["id"]) for ln in split["lines"])
    ids = ",".join(s["shipmentId"] for s in answer["shipments"])
    assert len(api.get("/sellers/v3/shipments", {"shipmentIds": ids}).json()["shipments"]) == 2
    by_item = api.get("/sellers/v3/shipments", {"orderItemIds": items[0]["orderItemId"]}).json()
    assert len(by_item["shipments"]) == 1


def test_shipments_by_ids_need_exactly_one_kind_and_at_most_100(api):
    assert api.get("/sellers/v3/shipments").status_code == 400
    assert api.get("/sellers/v3/shipments", {"orderIds": "OD1", "shipmentIds": "x"}).status_code == 400
    assert api.get("/sellers/v3/shipments", {"orderIds": ",".join(f"OD{n}" for n in range(101))}).status_code == 400


def test_shipment_details_carry_address_and_buyer(account, api):
    order = dataset.objects(account, "order").order_by("key").first().data
    sid = fk.shipment_id(account, order["id"], 0)
    answer = api.get(f"/sellers/v3/shipments/{sid}").json()
    jsonschema.validate(answer, DETAILS_ANSWER)
    [detail] = answer["shipments"]
    assert detail["deliveryAddress"]["pinCode"] == order["address"]["postcode"]
    assert detail["deliveryAddress"]["contactNumber"] == order["buyer"]["phone"]  # self-ship shipments carry it
    assert f"{detail['buyerDetails']['firstName']} {detail['buyerDetails']['lastName']}" == order["buyer"]["name"]


# --- self-ship dispatch -----------------------------------------------------------------------------------------------


def _unshipped_single(account):
    return next(o.data for o in dataset.objects(account, "order").order_by("key")
                if o.data["status"] == "unshipped" and len(fk.shipment_groups(account, o.data)) == 1)


def _dispatch_body(account, order, **overrides):
    now = timezone.now()
    entry = {"shipmentId": fk.shipment_id(account, order["id"], 0), "dispatchDate": now.isoformat(),
             "tentativeDeliveryDate": (now + timedelta(days=3)).isoformat(), "deliveryPartner": "India Post",
             "trackingId": "EK111IN", "locationId": account.settings["location_id"],
             "invoice": {"invoiceDate": now.date().isoformat(), "items": [
                 {"orderItemId": fk.order_item_id(ln["id"]), "quantity": ln["quantity"]} for ln in order["lines"]]}}
    return {"shipments": [{**entry, **overrides}]}


def test_dispatch_ships_and_records_tracking(account, api):
    order = _unshipped_single(account)
    answer = api.post("/sellers/v3/shipments/selfShip/dispatch", _dispatch_body(account, order)).json()
    jsonschema.validate(answer, DISPATCH_ANSWER)
    assert answer["shipments"][0]["processingStatus"] == "SUCCESS"
    after = dataset.objects(account, "order").get(key=order["id"]).data
    assert after["status"] == "shipped" and after["tracking"] == {"carrier": "India Post", "number": "EK111IN", "url": ""}
    assert dataset.parse_iso(after["updated_at"]) > dataset.parse_iso(order["updated_at"])
    detail = api.get(f"/sellers/v3/shipments/{fk.shipment_id(account, order['id'], 0)}").json()["shipments"][0]
    assert detail["subShipments"][0]["courierDetails"]["deliveryDetails"] == {"trackingId": "EK111IN",
                                                                              "vendorName": "India Post"}
    again = api.post("/sellers/v3/shipments/selfShip/dispatch", _dispatch_body(account, order)).json()
    assert again["shipments"][0]["processingStatus"] == "FAILURE" and "SHIPPED" in again["shipments"][0]["errorMessage"]


@pytest.mark.parametrize(("override", "words"), [
    ({"tentativeDeliveryDate": "2001-01-01T00:00:00+05:30"}, "Tentative Delivery Date"),
    ({"dispatchDate": "2999-01-01T00:00:00+05:30"}, "Dispatch Date"),
    ({"invoice": {"invoiceDate": "2024-01-01", "items": []}}, "every order item"),
    ({"invoice": {"items": []}}, "invoiceDate"),
    ({"locationId": "LOCelsewhere"}, "locationId"),
    ({"shipmentId": "no-such-shipment"}, "not found"),
])
def test_dispatch_refusals_are_per_shipment(account, api, override, words):
    order = _unshipped_single(account)
    answer = api.post("/sellers/v3/shipments/selfShip/dispatch", _dispatch_body(account, order, **override)).json()
    assert answer["shipments"][0]["processingStatus"] == "FAILURE"
    assert words in answer["shipments"][0]["errorMessage"] and answer["shipments"][0]["errorCode"]
    assert dataset.objects(account, "order").get(key=order["id"]).data["status"] == "unshipped"


def test_held_shipment_cannot_ship(account, api):
    order = next(o.data for o in dataset.objects(account, "order") if o.data["status"] == "pending"
                 and len(fk.shipment_groups(account, o.data)) == 1)
    answer = api.post("/sellers/v3/shipments/selfShip/dispatch", _dispatch_body(account, order)).json()
    assert "hold" in answer["shipments"][0]["errorMessage"]


def test_dispatch_body_must_be_a_shipments_list(api):
    assert api.post("/sellers/v3/shipments/selfShip/dispatch", {"shipmentIds": ["x"]}).status_code == 400


# --- listings ------------------------------------------------------------------------------------------------------


def test_listing_search_and_get(account, api):
    answer = api.post("/sellers/listings/v3/search", {"page_id": None}).json()
    skus = sorted(dataset.objects(account, "product").values_list("key", flat=True))
    assert answer["has_more"] is False and answer["next_page_id"] is None
    assert [item["sku_id"] for item in answer["listings"]] == skus
    got = api.get(f"/sellers/listings/v3/{skus[0]},NO-SUCH-SKU, bad").json()
    jsonschema.validate(got, LISTINGS_ANSWER)
    assert list(got["available"]) == [skus[0]] and got["unavailable"] == ["NO-SUCH-SKU"] and got["invalid"] == [" bad"]
    listing = got["available"][skus[0]]
    assert listing["product_id"] == answer["listings"][0]["product_id"]
    assert listing["locations"][0]["id"] == account.settings["location_id"]
    assert api.get("/sellers/listings/v3/" + ",".join(skus[:11])).status_code == 400
    assert api.post("/sellers/listings/v3/search", {"filters": {"lisitng_status": "INACTIVE"}}).json()["listings"] == []


def test_listing_search_pages(account, api):
    account.settings["listing_page_size"] = 10
    account.save(update_fields=["settings"])
    first = api.post("/sellers/listings/v3/search", {"page_id": None}).json()
    second = api.post("/sellers/listings/v3/search", {"page_id": first["next_page_id"]}).json()
    assert first["has_more"] and len(first["listings"]) == 10
    assert not {i["sku_id"] for i in first["listings"]} & {i["sku_id"] for i in second["listings"]}


def test_inventory_update_per_sku(account, api):
    products = {o.key: o.data for o in dataset.objects(account, "product")}
    good, other = sorted(products)[:2]
    location = account.settings["location_id"]
    body = {
        good: {"product_id": fk.fsn(account, products[good]), "locations": [{"id": location, "status": "ENABLED",
                                                                             "inventory": 42}]},
        other: {"product_id": "WRONGFSN", "locations": [{"id": location, "status": "ENABLED", "inventory": 1}]},
        "NO-SUCH-SKU": {"product_id": "X", "locations": []},
    }
    answer = api.post("/sellers/listings/v3/update/inventory", body).json()
    jsonschema.validate(answer, CHANGE_ANSWER)
    assert {sku: a["status"] for sku, a in answer.items()} == {good: "SUCCESS", other: "FAILURE", "NO-SUCH-SKU": "FAILURE"}
    fresh = {o.key: o.data for o in dataset.objects(account, "product")}
    assert fresh[good]["quantity"] == 42 and fresh[other]["quantity"] == products[other]["quantity"]
    bad = api.post("/sellers/listings/v3/update/inventory", {good: {
        "product_id": fk.fsn(account, products[good]), "locations": [{"id": "LOCx", "status": "ENABLED", "inventory": 1}]}})
    assert bad.json()[good]["status"] == "FAILURE" and "location" in bad.json()[good]["errors"][0]["description"]
    eleven = {f"S{n}": {} for n in range(11)}
    assert api.post("/sellers/listings/v3/update/inventory", eleven).status_code == 400


def test_price_update_rules(account, api):
    products = {o.key: o.data for o in dataset.objects(account, "product")}
    sku = sorted(products)[0]
    product_id = fk.fsn(account, products[sku])

    def push(price):
        return api.post("/sellers/listings/v3/update/price", {sku: {"product_id": product_id, "price": price}}).json()[sku]

    assert push({"mrp": 150, "selling_price": 123.45, "currency": "INR"})["status"] == "FAILURE"
    assert "greater than MRP" in push({"mrp": 100, "selling_price": 120, "currency": "INR"})["errors"][0]["description"]
    assert push({"mrp": 150, "selling_price": 120, "currency": "USD"})["status"] == "FAILURE"
    assert push({"mrp": 150, "selling_price": 120, "currency": "INR"})["status"] == "SUCCESS"
    fresh = dataset.objects(account, "product").get(key=sku).data
    assert (fresh["price"], fresh["mrp"]) == ("120.00", "150.00")


# --- faults, new orders ---------------------------------------------------------------------------------------------


def test_fault_injection_in_flipkarts_shapes(account, api):
    force_faults("error", 1)
    failed = api.get("/sellers/v3/shipments", {"orderIds": "OD1"})
    assert failed.status_code == 500
    jsonschema.validate(failed.json(), ERROR_ANSWER)
    force_faults("429", 1)
    limited = api.get("/sellers/v3/shipments", {"orderIds": "OD1"})
    assert limited.status_code == 429 and limited["Retry-After"] == str(fk.RETRY_AFTER_SECONDS)
    force_faults("truncate", 1)
    cut = search(api)
    with pytest.raises(ValueError):
        json.loads(cut.content)


def test_demo_order_button(client, account, api):
    sku = dataset.objects(account, "product").order_by("key").first().key
    response = client.post(f"{ROOT}/_sandbox/orders", json.dumps({"account_id": account.account_id,
                                                                  "skus": [{"sku": sku, "quantity": 2}]}),
                           content_type="application/json")
    assert response.status_code == 201
    placed = response.json()
    shipments = api.get("/sellers/v3/shipments", {"orderIds": placed["orderId"]}).json()["shipments"]
    assert [i["status"] for s in shipments for i in s["orderItems"]] == ["APPROVED"]
    assert [s["shipmentId"] for s in shipments] == placed["shipmentIds"]
    assert client.post(f"{ROOT}/_sandbox/orders", json.dumps({"account_id": "nobody"}),
                       content_type="application/json").status_code == 404
    assert client.post(f"{ROOT}/_sandbox/orders", json.dumps({"account_id": account.account_id,
                                                              "skus": [{"sku": "NOPE", "quantity": 1}]}),
                       content_type="application/json").status_code == 400


def test_flipkarts_own_test_orders_call(account, api):
    listing = api.post("/sellers/listings/v3/search", {}).json()["listings"][0]
    answer = api.post("/sellers/orders/sandbox/test_orders", {"orderItems": [{"listingId": listing["listing_id"],
                                                                              "quantity": 1}]}).json()
    assert answer["orderId"].startswith("OD") and answer["orderItems"][0]["listingId"] == listing["listing_id"]
    assert api.post("/sellers/orders/sandbox/test_orders", {"orderItems": [{"listingId": "LSTnope"}]}).status_code == 400


def test_create_order_validates(account):
    with pytest.raises(ValueError, match="Unknown SKU"):
        fk.create_order(account, skus=[("NOPE", 1)])
    sku = dataset.objects(account, "product").order_by("key").first().key
    with pytest.raises(ValueError, match="at least 1"):
        fk.create_order(account, skus=[(sku, 0)])
    assert fk.create_order(account, skus=[(sku, 1)])["status"] == "unshipped"
