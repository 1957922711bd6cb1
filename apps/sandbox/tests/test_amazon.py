"""The Amazon sandbox, held to Amazon's official Swagger models (../shared/specs/amazon-sp-api/) and LWA's behaviour.

Every answer body is validated with jsonschema against the model's definition, strictly: an object that
the model describes may carry no field the model does not name, so a misspelt or invented field fails.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone
from jsonschema import Draft4Validator

from apps.sandbox import dataset
from apps.sandbox.http import clear_forced_faults, force_faults
from apps.sandbox.platforms import amazon as sandbox
from apps.sandbox.tests.amazon_specs import spec_validator as validator

ROOT = "/sandbox/amazon"
SELLER = "A2HAATSANDBOX1"
INDIA = "A21TJRUUN4KGV"
ALL_DATA = "BUYER,RECIPIENT,PROCEEDS,FULFILLMENT,PACKAGES,CANCELLATION"

pytestmark = pytest.mark.django_db




ORDERS = validator("orders_2026-01-01.json", "SearchOrdersResponse")
ORDER_ERRORS = validator("orders_2026-01-01.json", "ErrorList")
INVENTORY = validator("fbaInventory.json", "GetInventorySummariesResponse")
LISTING_SEARCH = validator("listingsItems_2021-08-01.json", "ItemSearchResults")
LISTING_ITEM = validator("listingsItems_2021-08-01.json", "Item")
SUBMISSION = validator("listingsItems_2021-08-01.json", "ListingsItemSubmissionResponse")
LISTING_ERRORS = validator("listingsItems_2021-08-01.json", "ErrorList")
SHIPMENT_ERRORS = validator("ordersV0.json", "ConfirmShipmentErrorResponse")


@pytest.fixture(autouse=True)
def _no_leftover_faults():
    yield
    clear_forced_faults()


@pytest.fixture
def account():
    account = sandbox.create_demo_account(SELLER, "Sakhi Crafts (sandbox)")
    dataset.ensure_seeded(account)
    return account


@pytest.fixture
def token(account):
    return sandbox.issue_access_token(account)[0]


def get(client, path, token, **params):
    return client.get(f"{ROOT}{path}", params, HTTP_X_AMZ_ACCESS_TOKEN=token)


def search(client, token, **params):
    params.setdefault("lastUpdatedAfter", dataset.iso(timezone.now() - timedelta(days=40)))
    return get(client, "/orders/2026-01-01/orders", token, **params)


def all_orders(client, token, **params) -> list[dict]:
    # Amazon wants every parameter but maxResultsPerPage and includedData repeated unchanged with a token.
    params.setdefault("lastUpdatedAfter", dataset.iso(timezone.now() - timedelta(days=40)))
    orders, next_token = [], None
    while True:
        extra = {"paginationToken": next_token} if next_token else {}
        response = search(client, token, **params, **extra)
        assert response.status_code == 200, response.content
        body = response.json()
        ORDERS.validate(body)
        orders.extend(body["orders"])
        next_token = (body.get("pagination") or {}).get("nextToken")
        if not next_token:
            return orders


def neutral(account) -> dict[str, dict]:
    return {sandbox.amazon_order_id(o.key): o.data for o in dataset.objects(account, "order")}


def assert_amazon_error(response, status: int, code: str, model: Draft4Validator = ORDER_ERRORS) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    model.validate(body)
    assert body["errors"][0]["code"] == code
    assert response["x-amzn-RequestId"]
    return body["errors"][0]


# --- searchOrders ---------------------------------------------------------------------------------------------


def test_search_orders_pages_match_the_official_model(client, account, token):
    orders = all_orders(client, token, includedData=ALL_DATA, maxResultsPerPage="7")
    assert len(orders) == 60 and len({o["orderId"] for o in orders}) == 60
    assert set(neutral(account)) == {o["orderId"] for o in orders}


def test_answers_carry_amazons_headers(client, token):
    response = search(client, token)
    assert response["x-amzn-RateLimit-Limit"] == "0.0056" and response["x-amzn-RequestId"]
    assert response["Content-Type"].startswith("application/json")


def test_included_data_is_honoured(client, token):
    bare = search(client, token, maxResultsPerPage="5").json()["orders"]
    ORDERS.validate({"orders": bare})
    for order in bare:
        assert not {"buyer", "recipient", "proceeds", "fulfillment", "packages"} & set(order)
        assert order["orderItems"] and all("proceeds" not in item and "fulfillment" not in item for item in order["orderItems"])


def test_statuses_and_packages_follow_amazons_vocabulary(client, account, token):
    truth = neutral(account)
    seen = set()
    for order in all_orders(client, token, includedData=ALL_DATA):
        data = truth[order["orderId"]]
        afn = data["fulfilment_channel"] == "marketplace"
        status = order["fulfillment"]["fulfillmentStatus"]
        expected = {"pending": "PENDING", "unshipped": "UNSHIPPED", "cancelled": "CANCELLED"}.get(data["status"], "SHIPPED")
        assert status == expected
        assert order["fulfillment"]["fulfilledBy"] == ("AMAZON" if afn else "MERCHANT")
        packages = order.get("packages", [])
        if afn:
            assert not packages, "the Orders API gives packages for merchant-fulfilled orders only"
            assert "buyerEmail" not in order["buyer"] and "phone" not in order["recipient"]["deliveryAddress"]
        elif data["status"] == "delivered":
            assert {p["packageStatus"]["status"] for p in packages} == {"DELIVERED"}
        elif data["status"] == "returned":
            assert {p["packageStatus"]["detailedStatus"] for p in packages} == {"RETURNED_TO_SELLER"}
        elif data["status"] == "shipped":
            assert packages and all(p["trackingNumber"] and p["carrier"] for p in packages)
        if data["status"] == "cancelled":
            assert all(item["fulfillment"]["quantityUnfulfilled"] == 0 for item in order["orderItems"])
        seen.add((data["status"], afn))
    assert {("delivered", False), ("unshipped", False), ("cancelled", False)} <= seen
    assert any(afn for _, afn in seen)


def test_amounts_are_exact_decimal_strings_that_add_up(client, token):
    for order in all_orders(client, token, includedData="PROCEEDS"):
        total = Decimal(order["proceeds"]["grandTotal"]["amount"])
        items = [Decimal(i["proceeds"]["proceedsTotal"]["amount"]) for i in order["orderItems"]]
        assert total == sum(items)
        for item in order["orderItems"]:
            unit = item["product"]["price"]["unitPrice"]
            assert unit["currencyCode"] == "INR" and unit["amount"] == f"{Decimal(unit['amount']):.2f}"
            assert Decimal(unit["amount"]) * item["quantityOrdered"] == Decimal(item["proceeds"]["proceedsTotal"]["amount"])


def test_last_updated_after_is_inclusive_and_the_bound_is_echoed(client, account, token):
    stamps = sorted(dataset.parse_iso(o["updated_at"]) for o in neutral(account).values())
    middle = stamps[30]
    response = search(client, token, lastUpdatedAfter=dataset.iso(middle))
    body = response.json()
    assert {dataset.parse_iso(o["lastUpdatedTime"]) for o in body["orders"]} == set(stamps[30:])
    assert dataset.parse_iso(body["lastUpdatedBefore"]) >= stamps[-1]


def test_created_after_pages_by_creation_time(client, account, token):
    since = dataset.iso(timezone.now() - timedelta(days=10))
    response = get(client, "/orders/2026-01-01/orders", token, createdAfter=since)
    body = response.json()
    ORDERS.validate(body)
    created = [o["createdTime"] for o in body["orders"]]
    assert created == sorted(created) and all(c >= since for c in created) and "createdBefore" in body
    expected = [o for o in neutral(account).values() if o["created_at"] >= since]
    assert len(created) == len(expected)


def test_filters_by_status_and_fulfiller(client, account, token):
    cancelled = all_orders(client, token, fulfillmentStatuses="CANCELLED", includedData="FULFILLMENT")
    assert cancelled and {o["fulfillment"]["fulfillmentStatus"] for o in cancelled} == {"CANCELLED"}
    by_amazon = all_orders(client, token, fulfilledBy="AMAZON", includedData="FULFILLMENT")
    expected = [o for o in neutral(account).values() if o["fulfilment_channel"] == "marketplace"]
    assert len(by_amazon) == len(expected) > 0


def test_pagination_token_is_bound_to_its_query(client, token):
    first = search(client, token, maxResultsPerPage="10").json()
    next_token = first["pagination"]["nextToken"]
    other = search(client, token, maxResultsPerPage="10", paginationToken=next_token,
                   lastUpdatedAfter=dataset.iso(timezone.now() - timedelta(days=3)))
    assert_amazon_error(other, 400, "InvalidInput")
    assert_amazon_error(search(client, token, paginationToken="garbage!"), 400, "InvalidInput")
    # maxResultsPerPage and includedData may change between pages, as Amazon allows.
    assert search(client, token, maxResultsPerPage="50", includedData="BUYER", paginationToken=next_token).status_code == 200


@pytest.mark.parametrize("params", [
    {"createdAfter": "2026-01-01T00:00:00Z"},  # with the default lastUpdatedAfter: two "after"s
    {"lastUpdatedAfter": ""},
    {"maxResultsPerPage": "0"},
    {"maxResultsPerPage": "101"},
    {"maxResultsPerPage": "ten"},
    {"includedData": "BUYER,SECRETS"},
    {"fulfillmentStatuses": "SHIPPED,LOST"},
    {"fulfilledBy": "SHG"},
    {"marketplaceIds": "ATVPDKIKX0DER"},
    {"lastUpdatedAfter": "yesterday"},
    {"lastUpdatedBefore": "2099-01-01T00:00:00Z"},
])
def test_bad_parameters_get_amazons_400(client, token, params):
    error = assert_amazon_error(search(client, token, **params), 400, "InvalidInput")
    assert error["details"]


# --- auth and faults ------------------------------------------------------------------------------------------------


def test_access_token_checks(client, account, token):
    missing = client.get(f"{ROOT}/orders/2026-01-01/orders", {"lastUpdatedAfter": "2026-01-01T00:00:00Z"})
    assert_amazon_error(missing, 403, "Unauthorized")
    assert "x-amzn-RateLimit-Limit" not in missing
    wrong = assert_amazon_error(search(client, "Atza|made-up"), 403, "Unauthorized")
    assert wrong["message"] == "Access to requested resource is denied." and "revoked, malformed or invalid" in wrong["details"]
    sandbox.expire_access_tokens(account)
    assert "has expired" in assert_amazon_error(search(client, token), 403, "Unauthorized")["details"]
    fresh = sandbox.issue_access_token(account)[0]
    assert search(client, fresh).status_code == 200
    sandbox.revoke_authorization(account)
    assert "revoked" in assert_amazon_error(search(client, fresh), 403, "Unauthorized")["details"]


def test_faults_answer_in_amazons_shapes(client, token):
    force_faults("429", 1)
    throttled = search(client, token)
    error = assert_amazon_error(throttled, 429, "QuotaExceeded")
    assert error["message"] == "You exceeded your quota for the requested resource."
    assert throttled["x-amzn-RateLimit-Limit"] == "0.0056"
    force_faults("error", 1)
    assert_amazon_error(search(client, token), 500, "InternalFailure")
    force_faults("truncate", 1)
    truncated = search(client, token)
    assert truncated.status_code == 200
    with pytest.raises(ValueError):
        json.loads(truncated.content)


# --- confirmShipment --------------------------------------------------------------------------------------------


def shipment(order: dict, **changes) -> dict:
    package = {"packageReferenceId": "1", "carrierCode": "India Post", "carrierName": "India Post",
               "shippingMethod": "Speed Post", "trackingNumber": "EK123456789IN", "shipDate": "2026-11-20T10:00:00Z",
               "orderItems": [{"orderItemId": i["orderItemId"], "quantity": i["quantityOrdered"]} for i in order["orderItems"]]}
    package.update(changes)
    return {"marketplaceId": INDIA, "packageDetail": package}


def confirm(client, token, order_id: str, body) -> object:
    return client.post(f"{ROOT}/orders/v0/orders/{order_id}/shipmentConfirmation", json.dumps(body),
                       content_type="application/json", HTTP_X_AMZ_ACCESS_TOKEN=token)


def find(client, token, *, status: str, fulfilled_by: str = "MERCHANT") -> dict:
    return next(o for o in all_orders(client, token, includedData="FULFILLMENT,PACKAGES")
                if o["fulfillment"]["fulfillmentStatus"] == status and o["fulfillment"]["fulfilledBy"] == fulfilled_by)


def test_confirm_shipment_ships_the_order(client, account, token):
    order = find(client, token, status="UNSHIPPED")
    body = shipment(order)
    validator("ordersV0.json", "ConfirmShipmentRequest").validate(body)
    response = confirm(client, token, order["orderId"], body)
    assert response.status_code == 204 and response.content == b"" and response["x-amzn-RateLimit-Limit"] == "2.0"
    data = neutral(account)[order["orderId"]]
    assert data["status"] == "shipped" and data["tracking"] == {"carrier": "India Post", "number": "EK123456789IN", "url": ""}
    again = next(o for o in all_orders(client, token, includedData="FULFILLMENT,PACKAGES") if o["orderId"] == order["orderId"])
    assert again["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
    assert again["packages"][0]["trackingNumber"] == "EK123456789IN"
    assert dataset.parse_iso(again["lastUpdatedTime"]) > dataset.parse_iso(order["lastUpdatedTime"])


@pytest.mark.parametrize(("changes", "words"), [
    ({"packageReferenceId": "abc"}, "positive number"),
    ({"carrierCode": ""}, "carrierCode"),
    ({"carrierCode": "Other", "carrierName": ""}, "carrierName"),
    ({"shipDate": "02/21/2022"}, "shipDate"),
    ({"orderItems": []}, "at least one"),
    ({"orderItems": [{"orderItemId": "99999999999999", "quantity": 1}]}, "not part of order"),
])
def test_confirm_shipment_refuses_bad_packages(client, account, token, changes, words):
    order = find(client, token, status="UNSHIPPED")
    error = assert_amazon_error(confirm(client, token, order["orderId"], shipment(order, **changes)), 400, "InvalidInput",
                                SHIPMENT_ERRORS)
    assert words in error["details"]
    assert neutral(account)[order["orderId"]]["status"] == "unshipped"


def test_confirm_shipment_refuses_orders_it_cannot_ship(client, token):
    fba = find(client, token, status="SHIPPED", fulfilled_by="AMAZON")
    assert "fulfilled by Amazon" in assert_amazon_error(confirm(client, token, fba["orderId"], shipment(fba)), 400,
                                                        "InvalidInput", SHIPMENT_ERRORS)["details"]
    cancelled = find(client, token, status="CANCELLED")
    assert_amazon_error(confirm(client, token, cancelled["orderId"], shipment(cancelled)), 400, "InvalidInput", SHIPMENT_ERRORS)
    assert_amazon_error(confirm(client, token, "402-9999999-0000000", shipment(cancelled)), 404, "NotFound", SHIPMENT_ERRORS)
    not_json = client.post(f"{ROOT}/orders/v0/orders/{cancelled['orderId']}/shipmentConfirmation", "{",
                           content_type="application/json", HTTP_X_AMZ_ACCESS_TOKEN=token)
    assert_amazon_error(not_json, 400, "InvalidInput", SHIPMENT_ERRORS)


# --- FBA inventory ------------------------------------------------------------------------------------------------


def inventory(client, token, **params):
    params = {"granularityType": "Marketplace", "granularityId": INDIA, "marketplaceIds": INDIA, **params}
    return get(client, "/fba/inventory/v1/summaries", token, **params)


def test_inventory_summaries_match_the_official_model(client, account, token):
    response = inventory(client, token, details="true")
    body = response.json()
    INVENTORY.validate(body)
    summaries = body["payload"]["inventorySummaries"]
    expected = {p.key: sandbox.fba_quantities(account, p.key) for p in dataset.objects(account, "product")}
    expected = {sku: q for sku, q in expected.items() if q is not None}
    assert {s["sellerSku"]: s["inventoryDetails"]["fulfillableQuantity"] for s in summaries} == {
        sku: q["fulfillable"] for sku, q in expected.items()}
    assert body["payload"]["granularity"] == {"granularityType": "Marketplace", "granularityId": INDIA}
    plain = inventory(client, token).json()
    assert all("inventoryDetails" not in s for s in plain["payload"]["inventorySummaries"])


def test_inventory_parameters_are_checked(client, token):
    for params in ({"granularityType": "Country"}, {"granularityId": "ATVPDKIKX0DER"}, {"marketplaceIds": f"{INDIA},{INDIA}"}):
        response = inventory(client, token, **params)
        assert response.status_code == 400
        INVENTORY.validate(response.json())


def test_seller_without_fba_has_no_warehouse_stock(client):
    account = sandbox.create_demo_account("A2NOFBA0001", "Merchant only")
    account.settings["marketplace_fulfilment"] = False
    account.save()
    token = sandbox.issue_access_token(account)[0]
    assert inventory(client, token).json()["payload"]["inventorySummaries"] == []


# --- Listings Items ----------------------------------------------------------------------------------------------


def listings(client, token, seller=SELLER, **params):
    return get(client, f"/listings/2021-08-01/items/{seller}", token, **{"marketplaceIds": INDIA, **params})


def send(client, method: str, token, sku: str, body=None, query: str = f"marketplaceIds={INDIA}", seller=SELLER):
    path = f"{ROOT}/listings/2021-08-01/items/{seller}/{sku}?{query}"
    if method == "get":
        return client.get(path, HTTP_X_AMZ_ACCESS_TOKEN=token)
    return getattr(client, method)(path, json.dumps(body), content_type="application/json", HTTP_X_AMZ_ACCESS_TOKEN=token)


def test_listing_search_pages_match_the_model(client, account, token):
    skus, page_token, pages = [], None, 0
    while True:
        extra = {"pageToken": page_token} if page_token else {}
        body = listings(client, token, includedData="summaries,offers,fulfillmentAvailability,attributes,issues,productTypes",
                        pageSize="20", sortBy="sku", sortOrder="ASC", **extra).json()
        LISTING_SEARCH.validate(body)
        assert body["numberOfResults"] == 24
        skus += [item["sku"] for item in body["items"]]
        pages += 1
        page_token = (body.get("pagination") or {}).get("nextToken")
        if not page_token:
            break
    assert pages == 2 and skus == sorted(p.key for p in dataset.objects(account, "product"))


def test_listing_search_checks_its_parameters(client, token):
    assert_amazon_error(listings(client, token, pageSize="21"), 400, "InvalidInput", LISTING_ERRORS)
    assert_amazon_error(listings(client, token, includedData="summaries,prices"), 400, "InvalidInput", LISTING_ERRORS)
    assert_amazon_error(get(client, f"/listings/2021-08-01/items/{SELLER}", token), 400, "InvalidInput", LISTING_ERRORS)
    assert_amazon_error(listings(client, token, seller="A9OTHERSELLER"), 403, "Unauthorized", LISTING_ERRORS)


def stock_patch(quantity, product_type="PRODUCT"):
    return {"productType": product_type, "patches": [{"op": "replace", "path": "/attributes/fulfillment_availability",
                                                       "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": quantity}]}]}


def price_patch(amount, currency="INR"):
    return {"productType": "PRODUCT", "patches": [{"op": "replace", "path": "/attributes/purchasable_offer", "value": [{
        "marketplace_id": INDIA, "currency": currency, "our_price": [{"schedule": [{"value_with_tax": amount}]}]}]}]}


def test_patch_updates_stock_and_price(client, account, token):
    for body in (stock_patch(9), price_patch(123.45)):
        validator("listingsItems_2021-08-01.json", "ListingsItemPatchRequest").validate(body)
        response = send(client, "patch", token, "AMZ-0001", body)
        assert response.status_code == 200 and response["x-amzn-RateLimit-Limit"] == "5.0"
        SUBMISSION.validate(response.json())
        assert response.json()["status"] == "ACCEPTED" and response.json()["issues"] == []
    product = dataset.objects(account, "product").get(key="AMZ-0001").data
    assert (product["quantity"], product["price"]) == (9, "123.45")
    item = send(client, "get", token, "AMZ-0001", query=f"marketplaceIds={INDIA}&includedData=offers,fulfillmentAvailability")
    LISTING_ITEM.validate(item.json())
    assert item.json()["offers"][0]["price"] == {"amount": "123.45", "currencyCode": "INR"}


@pytest.mark.parametrize("body", [stock_patch(-1), stock_patch("7"), price_patch(0), price_patch(99, "USD"),
                                  {"productType": "PRODUCT", "patches": [{"op": "replace", "path": "/sku", "value": [{}]}]}])
def test_invalid_patch_is_refused_with_issues_and_changes_nothing(client, account, token, body):
    before = dataset.objects(account, "product").get(key="AMZ-0002").data
    response = send(client, "patch", token, "AMZ-0002", body)
    SUBMISSION.validate(response.json())
    assert response.json()["status"] == "INVALID" and response.json()["issues"][0]["severity"] == "ERROR"
    assert dataset.objects(account, "product").get(key="AMZ-0002").data == before


def test_patch_request_errors_and_preview(client, account, token):
    assert_amazon_error(send(client, "patch", token, "AMZ-0003", {"patches": []}), 400, "InvalidInput", LISTING_ERRORS)
    assert_amazon_error(send(client, "patch", token, "AMZ-0003", stock_patch(1), query=""), 400, "InvalidInput", LISTING_ERRORS)
    preview = send(client, "patch", token, "AMZ-0003", stock_patch(55), query=f"marketplaceIds={INDIA}&mode=VALIDATION_PREVIEW")
    SUBMISSION.validate(preview.json())
    assert preview.json()["status"] == "VALID"
    assert dataset.objects(account, "product").get(key="AMZ-0003").data["quantity"] != 55
    unknown = send(client, "patch", token, "NO-SUCH", stock_patch(1))
    assert unknown.json()["status"] == "INVALID"


def test_put_creates_a_listing(client, account, token):
    body = {"productType": "PILLOW", "requirements": "LISTING", "attributes": {
        "item_name": [{"value": "Kantha cushion", "language_tag": "en_IN", "marketplace_id": INDIA}],
        "purchasable_offer": [{"marketplace_id": INDIA, "currency": "INR",
                               "our_price": [{"schedule": [{"value_with_tax": 540}]}]}],
        "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": 3}],
        "list_price": [{"marketplace_id": INDIA, "currency": "INR", "value_with_tax": 650}],
        "color": [{"value": "Indigo", "marketplace_id": INDIA}],
    }}
    validator("listingsItems_2021-08-01.json", "ListingsItemPutRequest").validate(body)
    response = send(client, "put", token, "AMZ-NEW", body)
    SUBMISSION.validate(response.json())
    assert response.json()["status"] == "ACCEPTED"
    product = dataset.objects(account, "product").get(key="AMZ-NEW").data
    assert (product["title"], product["price"], product["mrp"], product["quantity"]) == ("Kantha cushion", "540.00", "650.00", 3)
    assert product["attributes"]["color"][0]["value"] == "Indigo"
    item = send(client, "get", token, "AMZ-NEW",
                query=f"marketplaceIds={INDIA}&includedData=summaries,attributes,productTypes").json()
    LISTING_ITEM.validate(item)
    assert item["summaries"][0]["productType"] == "PILLOW"


def test_put_without_required_attributes_is_invalid(client, account, token):
    response = send(client, "put", token, "AMZ-NEW", {"productType": "PILLOW", "attributes": {}})
    SUBMISSION.validate(response.json())
    assert response.json()["status"] == "INVALID"
    assert {i["attributeNames"][0] for i in response.json()["issues"]} == {"item_name", "purchasable_offer"}
    assert not dataset.objects(account, "product").filter(key="AMZ-NEW").exists()
    assert_amazon_error(send(client, "get", token, "AMZ-NEW"), 404, "NOT_FOUND", LISTING_ERRORS)


# --- Sellers ---------------------------------------------------------------------------------------------------


def test_marketplace_participations(client, account, token):
    response = get(client, "/sellers/v1/marketplaceParticipations", token)
    (entry,) = response.json()["payload"]
    assert entry["marketplace"]["id"] == INDIA and entry["marketplace"]["defaultCurrencyCode"] == "INR"
    assert entry["participation"] == {"isParticipating": True, "hasSuspendedListings": False}
    assert entry["storeName"] == "Sakhi Crafts (sandbox)" and response["x-amzn-RateLimit-Limit"] == "0.016"


# --- Login with Amazon ----------------------------------------------------------------------------------------------


def lwa(client, **form):
    base = {"client_id": django_settings.AMAZON_LWA_CLIENT_ID, "client_secret": django_settings.AMAZON_LWA_CLIENT_SECRET}
    return client.post(f"{ROOT}/auth/o2/token", urlencode({**base, **form}),
                       content_type="application/x-www-form-urlencoded")


def test_refresh_grant_gives_a_working_access_token(client, account):
    response = lwa(client, grant_type="refresh_token", refresh_token=account.secrets["refresh_token"])
    body = response.json()
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["access_token"].startswith("Atza|") and body["token_type"] == "bearer" and body["expires_in"] == 3600
    assert search(client, body["access_token"]).status_code == 200


@pytest.mark.parametrize(("form", "status", "error"), [
    ({"grant_type": ""}, 400, "invalid_request"),
    ({"grant_type": "refresh_token", "client_secret": "wrong"}, 401, "invalid_client"),
    ({"grant_type": "refresh_token", "refresh_token": "Atzr|unknown"}, 400, "invalid_grant"),
    ({"grant_type": "refresh_token"}, 400, "invalid_request"),
    ({"grant_type": "authorization_code", "code": "NOPE", "redirect_uri": "https://h/cb"}, 400, "invalid_grant"),
    ({"grant_type": "password", "username": "x"}, 400, "unsupported_grant_type"),
])
def test_lwa_errors_have_lwas_shape(client, account, form, status, error):
    response = lwa(client, **form)
    assert response.status_code == status
    assert set(response.json()) == {"error", "error_description"} and response.json()["error"] == error


def test_revoked_refresh_token_is_an_invalid_grant(client, account):
    sandbox.revoke_authorization(account)
    response = lwa(client, grant_type="refresh_token", refresh_token=account.secrets["refresh_token"])
    assert response.json()["error"] == "invalid_grant" and "revoked" in response.json()["error_description"]


def test_lwa_takes_only_post(client):
    assert client.get(f"{ROOT}/auth/o2/token").status_code == 405


# --- the consent page ---------------------------------------------------------------------------------------------


def consent_query(**changes) -> dict:
    return {"application_id": django_settings.AMAZON_SP_APP_ID, "state": "st-1", "redirect_uri": "https://haat.example/cb",
            **changes}


def test_consent_issues_a_five_minute_single_use_code(client, account):
    page = client.get(f"{ROOT}/apps/authorize/consent", consent_query())
    assert page.status_code == 200 and SELLER.encode() in page.content
    answer = client.post(f"{ROOT}/apps/authorize/consent", {**consent_query(), "decision": "authorize",
                                                            "selling_partner_id": SELLER})
    assert answer.status_code == 302
    location = urlsplit(answer["Location"])
    params = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert f"{location.scheme}://{location.netloc}{location.path}" == "https://haat.example/cb"
    assert params["state"] == "st-1" and params["selling_partner_id"] == SELLER and len(params["spapi_oauth_code"]) == 20
    row = dataset.objects(account, sandbox.KIND_CODE).get()
    lifetime = dataset.parse_iso(row.data["expires_at"]) - timezone.now()
    assert timedelta(minutes=4) < lifetime <= timedelta(minutes=5)
    exchange = {"grant_type": "authorization_code", "code": params["spapi_oauth_code"], "redirect_uri": "https://haat.example/cb"}
    first = lwa(client, **exchange)
    assert first.status_code == 200 and first.json()["refresh_token"].startswith("Atzr|")
    assert lwa(client, **exchange).json()["error"] == "invalid_grant"


@pytest.mark.parametrize(("changes", "draft"), [
    ({"application_id": "amzn1.sp.solution.someone-else"}, False),
    ({"state": ""}, False),
    ({"redirect_uri": "javascript:alert(1)"}, False),
    ({}, True),
])
def test_consent_page_refuses_bad_requests(client, account, settings, changes, draft):
    settings.AMAZON_AUTH_DRAFT_APP = draft
    response = client.get(f"{ROOT}/apps/authorize/consent", consent_query(**changes))
    assert response.status_code == 400 and b"We're sorry!" in response.content and b"Authorize</button>" not in response.content


def test_draft_app_consents_with_version_beta(client, account, settings):
    settings.AMAZON_AUTH_DRAFT_APP = True
    assert client.get(f"{ROOT}/apps/authorize/consent", consent_query(version="beta")).status_code == 200


def test_consent_form_is_csrf_protected(account):
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(f"{ROOT}/apps/authorize/consent", {**consent_query(), "decision": "authorize",
                                                              "selling_partner_id": SELLER})
    assert response.status_code == 403
    assert not dataset.objects(account, sandbox.KIND_CODE).exists()


# --- the demo's "a buyer just bought" -----------------------------------------------------------------------------------


def test_created_order_is_searchable_at_once(client, account, token):
    response = client.post(f"{ROOT}/_sandbox/orders", json.dumps({"selling_partner_id": SELLER,
                                                                  "items": [{"sku": "AMZ-0004", "quantity": 2}]}),
                           content_type="application/json")
    assert response.status_code == 201
    order_id = response.json()["orderId"]
    ORDERS.validate({"orders": [response.json()["order"]]})
    found = next(o for o in all_orders(client, token, includedData="FULFILLMENT,PROCEEDS") if o["orderId"] == order_id)
    assert found["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"
    assert [(i["product"]["sellerSku"], i["quantityOrdered"]) for i in found["orderItems"]] == [("AMZ-0004", 2)]


@pytest.mark.parametrize(("body", "status"), [
    ({"selling_partner_id": "A9NOBODY"}, 404),
    ({"selling_partner_id": SELLER, "items": [{"sku": "NOPE", "quantity": 1}]}, 400),
    ({"selling_partner_id": SELLER, "items": [{"sku": "AMZ-0001", "quantity": 0}]}, 400),
    ({"selling_partner_id": SELLER, "items": "AMZ-0001"}, 400),
])
def test_create_order_refuses_bad_input(client, account, body, status):
    before = dataset.objects(account, "order").count()
    response = client.post(f"{ROOT}/_sandbox/orders", json.dumps(body), content_type="application/json")
    assert response.status_code == status and response.json()["error"]
    assert dataset.objects(account, "order").count() == before


# --- identities and determinism ------------------------------------------------------------------------------------------


def test_amazon_ids_are_reversible_and_checked():
    order_id = sandbox.amazon_order_id("100042")
    assert len(order_id) == 19 and sandbox.neutral_order_id(order_id) == "100042"
    tampered = order_id[:-1] + ("0" if order_id[-1] != "0" else "1")
    assert sandbox.neutral_order_id(tampered) is None and sandbox.neutral_order_id("not-an-id") is None
    assert sandbox.order_item_id("4203") == "00000000004203"


def test_demo_account_is_idempotent_and_self_authorised(client):
    first = sandbox.create_demo_account("A2IDEMPOTENT1", "One")
    second = sandbox.create_demo_account("A2IDEMPOTENT1", "One renamed")
    assert first.pk == second.pk and first.secrets == second.secrets and second.name == "One renamed"
    assert second.settings["marketplace_fulfilment"] is True
    assert sandbox.connection_config(second, "http://h/sandbox/") == {
        "base_url": "http://h/sandbox/amazon", "marketplace_ids": [INDIA], "selling_partner_id": "A2IDEMPOTENT1",
        "selling_partner_ids": {"eu": "A2IDEMPOTENT1"}, "home_region": "eu"}
    credentials = sandbox.connection_credentials(second)["regions"]["eu"]
    assert credentials["refresh_token"] == first.secrets["refresh_token"]
    assert search(client, credentials["access_token"]).status_code == 200


def test_the_strict_models_reject_invented_fields(client, token):
    from jsonschema import ValidationError

    order = search(client, token, maxResultsPerPage="1", includedData=ALL_DATA).json()["orders"][0]
    ORDERS.validate({"orders": [order]})
    for broken in ({**order, "orderStatus": "Shipped"}, {**order, "orderItems": [{**order["orderItems"][0], "sku": "x"}]}):
        with pytest.raises(ValidationError):
            ORDERS.validate({"orders": [broken]})


# --- a seller on several marketplaces (one region) --------------------------------------------------------------------

UK, DE = "A1F83G8C2ARO7P", "A1PA6795UKMFR9"


@pytest.fixture
def europe(account):
    return sandbox.add_marketplaces(account, [UK, DE])


def test_participations_list_every_marketplace_of_the_seller(client, europe, token):
    response = get(client, "/sellers/v1/marketplaceParticipations", token)
    assert response.status_code == 200
    entries = response.json()["payload"]
    assert [(e["marketplace"]["id"], e["marketplace"]["defaultCurrencyCode"]) for e in entries] == [
        (INDIA, "INR"), (UK, "GBP"), (DE, "EUR")]
    assert all(e["participation"]["isParticipating"] for e in entries)


def test_orders_carry_their_marketplace_and_its_currency(client, europe, token):
    truth = neutral(europe)
    orders = all_orders(client, token, marketplaceIds=f"{INDIA},{UK},{DE}", includedData="PROCEEDS")
    assert len(orders) == len(truth)
    for order in orders:
        expected = truth[order["orderId"]]
        assert order["salesChannel"]["marketplaceId"] == expected["marketplace_id"]
        assert order["proceeds"]["grandTotal"]["currencyCode"] == expected["currency"]
    only_uk = all_orders(client, token, marketplaceIds=UK)
    assert only_uk and {o["salesChannel"]["marketplaceId"] for o in only_uk} == {UK}
    assert len(only_uk) == sum(1 for o in truth.values() if o["marketplace_id"] == UK)


def test_listings_show_one_summary_and_offer_per_marketplace(client, europe, token):
    response = get(client, f"/listings/2021-08-01/items/{SELLER}", token, marketplaceIds=f"{INDIA},{UK},{DE}",
                   includedData="summaries,offers", pageSize=20)
    assert response.status_code == 200
    body = response.json()
    LISTING_SEARCH.validate(body)
    everywhere = [i for i in body["items"] if len(i["summaries"]) == 3]
    assert everywhere and all({o["price"]["currencyCode"] for o in i["offers"]} == {"INR", "GBP", "EUR"}
                              for i in everywhere)
    uk_only = get(client, f"/listings/2021-08-01/items/{SELLER}", token, marketplaceIds=UK, includedData="summaries")
    assert {s["marketplaceId"] for i in uk_only.json()["items"] for s in i["summaries"]} == {UK}
    assert uk_only.json()["numberOfResults"] == len([r for r in dataset.objects(europe, "product")
                                                     if UK in (r.data.get("offers") or {})])


def test_a_patch_changes_only_its_marketplaces_offer(client, europe, token):
    row = next(r for r in dataset.objects(europe, "product").order_by("key") if UK in (r.data.get("offers") or {}))
    home_before = dict(sandbox.offer(europe, row.data, INDIA))
    body = {"productType": "PRODUCT", "patches": [
        {"op": "replace", "path": "/attributes/fulfillment_availability",
         "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 7}]},
        {"op": "replace", "path": "/attributes/purchasable_offer",
         "value": [{"marketplace_id": UK, "currency": "GBP", "our_price": [{"schedule": [{"value_with_tax": 11.5}]}]}]}]}
    response = client.patch(f"{ROOT}/listings/2021-08-01/items/{SELLER}/{row.key}?marketplaceIds={UK}",
                            json.dumps(body), content_type="application/json", HTTP_X_AMZ_ACCESS_TOKEN=token)
    assert response.status_code == 200 and response.json()["status"] == "ACCEPTED", response.content
    row.refresh_from_db()
    assert sandbox.offer(europe, row.data, UK) == {"price": "11.50", "mrp": row.data["offers"][UK]["mrp"], "quantity": 7,
                                                   "currency": "GBP"}
    assert sandbox.offer(europe, row.data, INDIA) == home_before
    home_only = next(r for r in dataset.objects(europe, "product").order_by("key") if not r.data.get("offers"))
    refused = client.patch(f"{ROOT}/listings/2021-08-01/items/{SELLER}/{home_only.key}?marketplaceIds={DE}",
                           json.dumps(body), content_type="application/json", HTTP_X_AMZ_ACCESS_TOKEN=token)
    assert refused.json()["status"] == "INVALID" and "no offer" in refused.json()["issues"][0]["message"]


def test_a_marketplace_the_seller_is_not_on_is_refused(client, europe, token):
    response = search(client, token, marketplaceIds="ATVPDKIKX0DER")
    assert_amazon_error(response, 400, "InvalidInput")


# --- regions: one endpoint, one consent page and one account per region ---------------------------------------------------

US = "ATVPDKIKX0DER"


@pytest.fixture
def us_account():
    account = sandbox.create_demo_account("A2SANDBOXUS01", "Sakhi Crafts (Amazon.com)", marketplace_id=US)
    dataset.ensure_seeded(account)
    return account


def test_a_token_works_only_at_its_regions_endpoint(client, account, token, us_account):
    us_token = sandbox.issue_access_token(us_account)[0]
    participations = "/sellers/v1/marketplaceParticipations"
    assert get(client, f"/eu{participations}", token).status_code == 200
    refused = get(client, f"/na{participations}", token)
    assert refused.status_code == 403 and refused.json()["errors"][0]["code"] == "Unauthorized"
    answer = get(client, f"/na{participations}", us_token)
    assert answer.status_code == 200 and [p["marketplace"]["id"] for p in answer.json()["payload"]] == [US]
    assert get(client, f"/eu{participations}", us_token).status_code == 403
    assert get(client, "/fe/orders/2026-01-01/orders", token, lastUpdatedAfter="2020-01-01T00:00:00Z").status_code == 403


def test_each_region_serves_its_own_orders_with_ids_unique_across_regions(client, account, token, us_account):
    us_token = sandbox.issue_access_token(us_account)[0]
    since = dataset.iso(timezone.now() - timedelta(days=40))
    india = get(client, "/eu/orders/2026-01-01/orders", token, lastUpdatedAfter=since, marketplaceIds=INDIA).json()
    usa = get(client, "/na/orders/2026-01-01/orders", us_token, lastUpdatedAfter=since, marketplaceIds=US).json()
    assert {o["salesChannel"]["marketplaceId"] for o in india["orders"]} == {INDIA}
    assert {o["salesChannel"]["marketplaceId"] for o in usa["orders"]} == {US}
    assert not {o["orderId"] for o in india["orders"]} & {o["orderId"] for o in usa["orders"]}
    assert all(o["orderId"].startswith("11") for o in usa["orders"])
    assert {o["orderItems"][0]["product"]["price"]["unitPrice"]["currencyCode"] for o in usa["orders"]} == {"USD"}
    wrong = get(client, "/na/orders/2026-01-01/orders", us_token, lastUpdatedAfter=since, marketplaceIds=INDIA)
    assert wrong.status_code == 400, "Amazon.in is not a marketplace of the NA account"


def test_the_consent_page_of_a_region_signs_in_that_regions_accounts_only(client, account, us_account, settings):
    settings.AMAZON_AUTH_DRAFT_APP = False
    query = {"application_id": settings.AMAZON_SP_APP_ID, "state": "s1", "redirect_uri": "http://testserver/cb"}
    page = client.get(f"{ROOT}/na/apps/authorize/consent", query).content.decode()
    assert us_account.account_id in page and account.account_id not in page
    page = client.get(f"{ROOT}/eu/apps/authorize/consent", query).content.decode()
    assert account.account_id in page and us_account.account_id not in page
    refused = client.post(f"{ROOT}/na/apps/authorize/consent",
                          {**query, "decision": "authorize", "selling_partner_id": account.account_id})
    assert refused.status_code == 400, "an EU account cannot authorise in NA"
    granted = client.post(f"{ROOT}/na/apps/authorize/consent",
                          {**query, "decision": "authorize", "selling_partner_id": us_account.account_id})
    assert granted.status_code == 302 and "selling_partner_id=A2SANDBOXUS01" in granted["Location"]


def test_marketplaces_of_another_region_need_an_account_there(account):
    with pytest.raises(ValueError, match="another region"):
        sandbox.add_marketplaces(account, [US])
