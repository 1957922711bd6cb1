"""The Shopify sandbox held to the platform: answers checked against Shopify's published 2025-01 Admin schema,
Shopify's error and throttling shapes, the install flow's signatures and single-use codes, webhook deliveries."""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.conf import settings
from django.utils import timezone
from graphql import (
    FieldNode,
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    InlineFragmentNode,
    build_client_schema,
    get_operation_ast,
    parse,
)

from apps.integrations.connectors import shopify as connector_module
from apps.sandbox import dataset
from apps.sandbox.http import clear_forced_faults, force_faults
from apps.sandbox.models import SandboxObject
from apps.sandbox.platforms import shopify as sandbox

SHOP = "sandbox-weavers.myshopify.com"
API = f"/sandbox/shopify/{SHOP}/admin/api/2025-01/graphql.json"
SPEC = settings.BASE_DIR.parent / "shared" / "specs" / "shopify" / "admin_schema_2025-01.json.gz"

pytestmark = pytest.mark.django_db


@cache
def official_schema():
    """Shopify's schema read here on its own, not through the sandbox's loader."""
    with gzip.open(SPEC, "rt", encoding="utf-8") as handle:
        return build_client_schema(json.load(handle)["data"])


@pytest.fixture(autouse=True)
def _no_faults():
    clear_forced_faults()
    yield
    clear_forced_faults()


@pytest.fixture
def account():
    return sandbox.create_demo_account(SHOP, "Sandbox Weavers")


def gql(client, query, variables=None, *, token=None, account=None, path=API):
    headers = {}
    if token is not False:
        headers["HTTP_X_SHOPIFY_ACCESS_TOKEN"] = token or account.secrets["access_token"]
    return client.post(path, data=json.dumps({"query": query, "variables": variables or {}}),
                       content_type="application/json", **headers)


# --- answers against the schema --------------------------------------------------------------------------------

SCALAR_CHECKS = {
    "String": lambda v: isinstance(v, str), "ID": lambda v: isinstance(v, str) and v.startswith("gid://shopify/"),
    "Int": lambda v: isinstance(v, int) and not isinstance(v, bool), "Boolean": lambda v: isinstance(v, bool),
    "Float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "DateTime": lambda v: isinstance(v, str) and datetime.fromisoformat(v.replace("Z", "+00:00")).tzinfo is not None,
    "Money": lambda v: isinstance(v, str) and Decimal(v).is_finite(),
    "Decimal": lambda v: isinstance(v, str) and Decimal(v).is_finite(),
    "UnsignedInt64": lambda v: isinstance(v, str) and v.isdigit(),
    "URL": lambda v: isinstance(v, str) and urlsplit(v).scheme in ("http", "https"),
    "HTML": lambda v: isinstance(v, str),
}


def assert_schema_shaped(schema, document, data, variables=None):
    """Walk the query with Shopify's types and check every value the answer holds: nullability, lists,
    scalars (custom ones by their documented format), enum values, objects."""
    operation = get_operation_ast(document)

    def check_value(value, type_, selection_set, where):
        if isinstance(type_, GraphQLNonNull):
            assert value is not None, f"{where}: null for a non-null field"
            return check_value(value, type_.of_type, selection_set, where)
        if value is None:
            return
        if isinstance(type_, GraphQLList):
            assert isinstance(value, list), f"{where}: not a list"
            for index, item in enumerate(value):
                check_value(item, type_.of_type, selection_set, f"{where}[{index}]")
            return
        if isinstance(type_, GraphQLEnumType):
            assert value in type_.values, f"{where}: {value!r} is not a {type_.name}"
            return
        if isinstance(type_, GraphQLScalarType):
            check = SCALAR_CHECKS.get(type_.name)
            assert check is not None, f"{where}: no check for scalar {type_.name}"
            assert check(value), f"{where}: {value!r} is not a valid {type_.name}"
            return
        assert isinstance(value, dict), f"{where}: not an object"
        check_selection(value, type_, selection_set, where)

    def check_selection(value, parent, selection_set, where):
        for selection in selection_set.selections:
            if isinstance(selection, InlineFragmentNode):
                condition = schema.get_type(selection.type_condition.name.value)
                if value.get("__typename") in (None, condition.name):
                    check_selection(value, condition, selection.selection_set, where)
                continue
            assert isinstance(selection, FieldNode)
            name = selection.name.value
            key = selection.alias.value if selection.alias else name
            assert key in value, f"{where}.{key} missing from the answer"
            if name == "__typename":
                assert isinstance(value[key], str)
                continue
            field = parent.fields[name]
            check_value(value[key], field.type, selection.selection_set, f"{where}.{key}")

    check_selection(data, schema.query_type if operation.operation.value == "query" else schema.mutation_type,
                    operation.selection_set, "data")


RICH_ORDER_QUERY = """
query Rich($first: Int!, $after: String) {
  orders(first: $first, after: $after, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id legacyResourceId name createdAt updatedAt processedAt cancelledAt cancelReason closed
      displayFinancialStatus displayFulfillmentStatus returnStatus currencyCode paymentGatewayNames email phone test
      subtotalLineItemsQuantity totalPriceSet { shopMoney { amount currencyCode } presentmentMoney { amount currencyCode } }
      shippingAddress { name firstName lastName address1 city province zip country countryCodeV2 phone }
      fulfillments(first: 2) { id legacyResourceId status displayStatus deliveredAt createdAt
        trackingInfo { company number url } }
      lineItems(first: 5) { nodes { id sku title quantity currentQuantity unfulfilledQuantity
        originalUnitPriceSet { shopMoney { amount currencyCode } } variant { id legacyResourceId sku } } }
      fulfillmentOrders(first: 2) { nodes { id status orderId supportedActions { action }
        assignedLocation { location { id } }
        lineItems(first: 5) { nodes { id remainingQuantity totalQuantity lineItem { id } } } } }
    } }
  }
}"""


def test_schema_file_is_the_official_one():
    assert official_schema().get_type("QueryRoot").fields["orders"]
    # The sandbox runs on a vendored copy (so the demo works from a clean clone): byte for byte the official file.
    assert sandbox.schema_path().read_bytes() == SPEC.read_bytes()


def test_every_order_is_shaped_by_the_official_schema(client, account):
    """All 60 orders (every status, partial and full fulfilments) page by page through a rich query."""
    account.settings["plan"] = "plus"  # each page costs nearly what it requests: more than a basic bucket refills
    account.save(update_fields=["settings"])
    order = _unshipped(account, lines=2)
    fo_id = sandbox.gid("FulfillmentOrder", int(order["id"]) * 10 + 1)
    line = sandbox.gid("FulfillmentOrderLineItem", int(order["lines"][0]["id"]) * 10 + 1)
    body = gql(client, connector_module.FULFILMENT_MUTATION, {"fulfillment": {"lineItemsByFulfillmentOrder": [
        {"fulfillmentOrderId": fo_id, "fulfillmentOrderLineItems": [{"id": line, "quantity": 1}]}]}}, account=account).json()
    assert body["data"]["fulfillmentCreate"]["userErrors"] == []  # one order is now partly fulfilled
    seen, after = 0, None
    while True:
        variables = {"first": 14, "after": after}
        response = gql(client, RICH_ORDER_QUERY, variables, account=account).json()
        assert "errors" not in response, response["errors"]
        assert response["extensions"]["cost"]["requestedQueryCost"] <= 1000
        assert_schema_shaped(official_schema(), parse(RICH_ORDER_QUERY), response["data"], variables)
        seen += len(response["data"]["orders"]["edges"])
        info = response["data"]["orders"]["pageInfo"]
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert seen == settings.SANDBOX_ORDERS


@pytest.mark.parametrize("query, variables", [
    (connector_module.ORDERS_QUERY, {"first": 25, "lines": 9, "query": "updated_at:>'2000-01-01T00:00:00Z'"}),
    (connector_module.PRODUCTS_QUERY, {"first": 24, "variants": 5}),
    (connector_module.SHOP_QUERY, {}),
    (connector_module.LOCATION_QUERY, {}),
    (connector_module.VARIANTS_BY_SKU_QUERY, {"first": 10, "query": 'sku:"HAAT-0001" OR sku:"HAAT-0002"'}),
    ("{ products(first: 3) { edges { cursor node { id title handle status vendor productType totalInventory "
     "variants(first: 1) { nodes { id sku price compareAtPrice barcode inventoryQuantity "
     "inventoryItem { id legacyResourceId tracked } product { id title } } } } } } }", {}),
])
def test_answers_are_shaped_by_the_official_schema(client, account, query, variables):
    response = gql(client, query, variables, account=account)
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body, body.get("errors")
    assert_schema_shaped(official_schema(), parse(query), body["data"], variables)
    assert response["X-Shopify-API-Version"] == "2025-01"


@pytest.mark.parametrize("status", ["pending", "unshipped", "shipped", "delivered", "cancelled", "returned"])
def test_every_status_is_worded_in_shopify_enums(account, status):
    schema = official_schema()
    for row in dataset.objects(account, "order"):
        state = sandbox.order_state({**row.data, "status": status})
        assert state["financial"] in schema.get_type("OrderDisplayFinancialStatus").values
        assert state["fulfillment"] in schema.get_type("OrderDisplayFulfillmentStatus").values
        assert state["return"] in schema.get_type("OrderReturnStatus").values
        assert state["cancelled"] == (status == "cancelled")


def test_mutation_answers_are_shaped_by_the_official_schema(client, account):
    product = dataset.objects(account, "product").order_by("key").first().data
    location = gql(client, "{ location { id } }", account=account).json()["data"]["location"]["id"]
    item = sandbox.gid("InventoryItem", int(product["variant_id"]) + 40_000_000)
    cases = [
        (connector_module.SET_STOCK_MUTATION, {"input": {"name": "available", "reason": "correction",
                                                         "ignoreCompareQuantity": True, "quantities": [
                                                             {"inventoryItemId": item, "locationId": location, "quantity": 3}]}}),
        (connector_module.SET_PRICES_MUTATION, {"productId": sandbox.gid("Product", product["id"]), "variants": [
            {"id": sandbox.gid("ProductVariant", product["variant_id"]), "price": "99.50", "compareAtPrice": "120.00"}]}),
        (connector_module.WEBHOOK_CREATE_MUTATION, {"topic": "ORDERS_CREATE", "subscription": {
            "callbackUrl": "https://haat.example/webhooks/shopify/1/", "format": "JSON"}}),
    ]
    for query, variables in cases:
        body = gql(client, query, variables, account=account).json()
        assert "errors" not in body, body
        assert_schema_shaped(official_schema(), parse(query), body["data"], variables)
        assert body["extensions"]["cost"]["requestedQueryCost"] == 10
    stored = dataset.objects(account, "product").get(key=product["sku"]).data
    assert (stored["quantity"], stored["price"], stored["mrp"]) == (3, "99.50", "120.00")


# --- cost, throttling and errors ---------------------------------------------------------------------------------


def test_cost_extension_charges_the_bucket_and_refunds_to_the_actual_cost(client, account):
    body = gql(client, connector_module.ORDERS_QUERY, {"first": 25, "lines": 9, "query": None}, account=account).json()
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 977
    assert 0 < cost["actualQueryCost"] < cost["requestedQueryCost"]
    status = cost["throttleStatus"]
    assert (status["maximumAvailable"], status["restoreRate"]) == (2000.0, 100.0)
    assert 2000 - cost["actualQueryCost"] - 1 <= status["currentlyAvailable"] <= 2000 - cost["actualQueryCost"] + 5


def test_empty_bucket_answers_throttled_in_shopifys_shape(client, account):
    sandbox.set_bucket(account, 0)
    response = gql(client, connector_module.ORDERS_QUERY, {"first": 25, "lines": 9}, account=account)
    assert response.status_code == 200
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["message"] == "Throttled"
    assert body["errors"][0]["extensions"]["code"] == "THROTTLED"
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 977 and cost["actualQueryCost"] is None
    assert cost["throttleStatus"]["currentlyAvailable"] < 977


def test_plan_sets_the_bucket(client, account):
    account.settings["plan"] = "plus"
    account.save(update_fields=["settings"])
    status = gql(client, "{ shop { name } }", account=account).json()["extensions"]["cost"]["throttleStatus"]
    assert (status["maximumAvailable"], status["restoreRate"]) == (20000.0, 1000.0)


def test_query_over_the_single_query_limit_is_refused(client, account):
    body = gql(client, "{ orders(first: 250) { nodes { lineItems(first: 250) { nodes { id } } } } }",
               account=account).json()
    assert body["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert body["errors"][0]["extensions"]["maxCost"] == 1000
    assert "data" not in body


def test_unknown_field_is_refused_by_validation(client, account):
    body = gql(client, "{ shop { name notAField } }", account=account).json()
    assert "notAField" in body["errors"][0]["message"] and body["errors"][0]["locations"]
    assert "data" not in body


def test_connection_without_first_or_last_is_an_error(client, account):
    body = gql(client, "{ orders { nodes { id } } }", account=account).json()
    assert body["errors"][0]["message"] == "you must provide one of first or last"


@pytest.mark.parametrize("token", [False, "shpat_00000000000000000000000000000000"])
def test_missing_or_wrong_token_is_shopifys_401(client, account, token):
    response = gql(client, "{ shop { name } }", token=token, account=account)
    assert response.status_code == 401
    assert response.json() == {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}


def test_revoked_and_expired_tokens_are_refused(client, account):
    revoked = sandbox.issue_tokens(account, expiring=False)["access_token"]
    expiring = sandbox.issue_tokens(account, expiring=True)["access_token"]
    assert gql(client, "{ shop { name } }", token=revoked).status_code == 200
    assert gql(client, "{ shop { name } }", token=expiring).status_code == 200
    sandbox.revoke_token(account, revoked)
    sandbox.expire_token(account, expiring)
    assert gql(client, "{ shop { name } }", token=revoked).status_code == 401
    assert gql(client, "{ shop { name } }", token=expiring).status_code == 401
    assert gql(client, "{ shop { name } }", account=account).status_code == 200


def test_missing_schema_is_a_clear_503(client, account, settings):
    sandbox.admin_schema.cache_clear()
    settings.SANDBOX_SHOPIFY_SCHEMA = "/nonexistent/admin_schema.json.gz"
    try:
        response = gql(client, "{ shop { name } }", account=account)
        assert response.status_code == 503 and "SANDBOX_SHOPIFY_SCHEMA" in response.json()["errors"]
    finally:
        sandbox.admin_schema.cache_clear()


def test_unknown_shop_and_missing_query(client, account):
    other = API.replace(SHOP, "nobody-here.myshopify.com")
    assert gql(client, "{ shop { name } }", account=account, path=other).status_code == 404
    response = client.post(API, data="{}", content_type="application/json",
                           HTTP_X_SHOPIFY_ACCESS_TOKEN=account.secrets["access_token"])
    assert response.status_code == 400
    assert response.json() == {"errors": {"query": "Required parameter missing or invalid"}}


def test_missing_scope_is_access_denied(client, account):
    token = sandbox.issue_tokens(account, scope="read_products", expiring=False)["access_token"]
    body = gql(client, "{ orders(first: 1) { nodes { id } } }", token=token).json()
    error = body["errors"][0]
    assert error["extensions"]["code"] == "ACCESS_DENIED"
    assert "read_orders" in error["message"] and error["path"] == ["orders"]
    assert gql(client, "{ products(first: 1) { nodes { id } } }", token=token).json()["data"]["products"]["nodes"]


def test_location_id_needs_inventory_scope_and_its_name_read_locations(client, account):
    token = sandbox.issue_tokens(account, scope="read_inventory", expiring=False)["access_token"]
    assert gql(client, "{ location { id } }", token=token).json()["data"]["location"]["id"].startswith("gid://")
    body = gql(client, "{ location { id name } }", token=token).json()
    assert body["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"


def test_fault_injection_speaks_shopify(client, account):
    force_faults("error", 1)
    response = gql(client, "{ shop { name } }", account=account)
    assert response.status_code == 500 and response.json() == {"errors": "Internal Server Error"}
    force_faults("429", 1)
    response = gql(client, connector_module.SHOP_QUERY, account=account)
    assert response.status_code == 200
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert body["extensions"]["cost"]["requestedQueryCost"] == 2
    force_faults("429", 1)
    response = client.post(f"/sandbox/shopify/{SHOP}/admin/oauth/access_token", data="{}", content_type="application/json")
    assert response.status_code == 429 and response["Retry-After"] == "2.0"
    force_faults("truncate", 1)
    with pytest.raises(ValueError):
        json.loads(gql(client, "{ shop { name } }", account=account).content)


# --- pagination and search -----------------------------------------------------------------------------------------


def _all_pages(client, account, query, variables, key):
    seen, after, pages = [], None, 0
    while True:
        data = gql(client, query, {**variables, "after": after}, account=account).json()["data"][key]
        seen += data["nodes"]
        pages += 1
        if not data["pageInfo"]["hasNextPage"]:
            return seen, pages
        after = data["pageInfo"]["endCursor"]


PAGE_QUERY = """query P($first: Int!, $after: String, $query: String, $reverse: Boolean) {
  orders(first: $first, after: $after, sortKey: UPDATED_AT, query: $query, reverse: $reverse) {
    pageInfo { hasNextPage endCursor } nodes { legacyResourceId updatedAt } } }"""


def test_cursor_pagination_walks_every_order_once_in_update_order(client, account):
    nodes, pages = _all_pages(client, account, PAGE_QUERY, {"first": 7}, "orders")
    assert pages == 9
    ids = [n["legacyResourceId"] for n in nodes]
    assert sorted(ids) == sorted(dataset.objects(account, "order").values_list("key", flat=True))
    stamps = [(n["updatedAt"], int(n["legacyResourceId"])) for n in nodes]
    assert stamps == sorted(stamps)
    reverse, _ = _all_pages(client, account, PAGE_QUERY, {"first": 11, "reverse": True}, "orders")
    assert [n["legacyResourceId"] for n in reverse] == ids[::-1]


def test_last_and_before(client, account):
    query = """query($before: String) { orders(last: 3, before: $before, sortKey: ID) {
      pageInfo { hasPreviousPage startCursor } nodes { legacyResourceId } } }"""
    first = gql(client, query, {"before": None}, account=account).json()["data"]["orders"]
    keys = sorted(int(k) for k in dataset.objects(account, "order").values_list("key", flat=True))
    assert [int(n["legacyResourceId"]) for n in first["nodes"]] == keys[-3:]
    second = gql(client, query, {"before": first["pageInfo"]["startCursor"]}, account=account).json()["data"]["orders"]
    assert [int(n["legacyResourceId"]) for n in second["nodes"]] == keys[-6:-3]


def test_updated_at_search_filters(client, account):
    stamps = sorted(o.data["updated_at"] for o in dataset.objects(account, "order"))
    since = stamps[40]
    nodes, _ = _all_pages(client, account, PAGE_QUERY, {"first": 50, "query": f"updated_at:>'{since}'"}, "orders")
    assert {n["updatedAt"] for n in nodes} == {s for s in stamps if s > since}
    nodes, _ = _all_pages(client, account, PAGE_QUERY, {"first": 50, "query": f"updated_at:>={since}"}, "orders")
    assert len(nodes) == len([s for s in stamps if s >= since])


def test_orders_older_than_sixty_days_need_read_all_orders(client, account):
    row = dataset.objects(account, "order").order_by("key").first()
    row.data["created_at"] = dataset.iso(timezone.now() - timedelta(days=90))
    row.save(update_fields=["data"])
    nodes, _ = _all_pages(client, account, PAGE_QUERY, {"first": 50}, "orders")
    assert row.key not in {n["legacyResourceId"] for n in nodes}
    token = sandbox.issue_tokens(account, scope="read_all_orders,read_orders", expiring=False)["access_token"]
    data = gql(client, PAGE_QUERY, {"first": 100}, token=token).json()["data"]["orders"]
    assert row.key in {n["legacyResourceId"] for n in data["nodes"]}


def test_sku_search_with_or(client, account):
    data = gql(client, connector_module.VARIANTS_BY_SKU_QUERY,
               {"first": 10, "query": 'sku:"HAAT-0003" OR sku:HAAT-0007 OR sku:"NOPE"'}, account=account).json()["data"]
    assert sorted(n["sku"] for n in data["productVariants"]["nodes"]) == ["HAAT-0003", "HAAT-0007"]


# --- mutations keep Shopify's rules ------------------------------------------------------------------------------


def _stock_input(account, client, quantities, **extra):
    location = gql(client, "{ location { id } }", account=account).json()["data"]["location"]["id"]
    return {"input": {"name": "available", "reason": "correction", "ignoreCompareQuantity": True, **extra,
                      "quantities": [{"locationId": location, **q} for q in quantities]}}


def _item(product):
    return sandbox.gid("InventoryItem", int(product["variant_id"]) + 40_000_000)


def test_inventory_set_quantities_is_all_or_nothing(client, account):
    products = [r.data for r in dataset.objects(account, "product").order_by("key")[:2]]
    before = [p["quantity"] for p in products]
    variables = _stock_input(account, client, [{"inventoryItemId": _item(products[0]), "quantity": 5},
                                               {"inventoryItemId": "gid://shopify/InventoryItem/1", "quantity": 5}])
    answer = gql(client, connector_module.SET_STOCK_MUTATION, variables, account=account).json()
    payload = answer["data"]["inventorySetQuantities"]
    assert payload["inventoryAdjustmentGroup"] is None
    assert payload["userErrors"] == [{"code": "INVALID_INVENTORY_ITEM", "field": ["input", "quantities", "1", "inventoryItemId"],
                                      "message": "The specified inventory item could not be found."}]
    assert [dataset.objects(account, "product").get(key=p["sku"]).data["quantity"] for p in products] == before


def test_inventory_set_quantities_checks_reason_and_compare_quantity(client, account):
    product = dataset.objects(account, "product").order_by("key").first().data
    variables = _stock_input(account, client, [{"inventoryItemId": _item(product), "quantity": 5}])
    variables["input"].update(reason="because", ignoreCompareQuantity=False)
    errors = gql(client, connector_module.SET_STOCK_MUTATION, variables, account=account).json()["data"][
        "inventorySetQuantities"]["userErrors"]
    assert {e["code"] for e in errors} == {"INVALID_REASON", "COMPARE_QUANTITY_REQUIRED"}
    variables["input"].update(reason="correction")
    variables["input"]["quantities"][0]["compareQuantity"] = product["quantity"] + 1
    errors = gql(client, connector_module.SET_STOCK_MUTATION, variables, account=account).json()["data"][
        "inventorySetQuantities"]["userErrors"]
    assert [e["code"] for e in errors] == ["COMPARE_QUANTITY_STALE"]
    variables["input"]["quantities"][0]["compareQuantity"] = product["quantity"]
    payload = gql(client, connector_module.SET_STOCK_MUTATION, variables, account=account).json()["data"][
        "inventorySetQuantities"]
    assert payload["userErrors"] == []
    assert payload["inventoryAdjustmentGroup"]["changes"][0]["quantityAfterChange"] == 5


def test_price_update_refuses_negative_prices_and_foreign_variants(client, account):
    rows = list(dataset.objects(account, "product").order_by("key")[:2])
    product, other = rows[0].data, rows[1].data
    variables = {"productId": sandbox.gid("Product", product["id"]), "variants": [
        {"id": sandbox.gid("ProductVariant", product["variant_id"]), "price": "-1.00"},
        {"id": sandbox.gid("ProductVariant", other["variant_id"]), "price": "10.00"}]}
    mutation = connector_module.SET_PRICES_MUTATION.replace("allowPartialUpdates: true", "allowPartialUpdates: false")
    errors = gql(client, mutation, variables, account=account).json()["data"]["productVariantsBulkUpdate"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [(["variants", "0", "price"], "GREATER_THAN_OR_EQUAL_TO"),
                                                          (["variants", "1", "id"], "PRODUCT_VARIANT_DOES_NOT_EXIST")]
    assert dataset.objects(account, "product").get(key=product["sku"]).data["price"] == product["price"]


def _unshipped(account, lines=2):
    return next(r.data for r in dataset.objects(account, "order").order_by("key")
                if r.data["status"] == "unshipped" and len(r.data["lines"]) >= lines)


def test_fulfillment_create_checks_quantities_then_ships(client, account):
    order = _unshipped(account)
    fo = gql(client, 'query($id: ID!) { order(id: $id) { fulfillmentOrders(first: 1) { nodes { id status lineItems(first: 5) '
                     '{ nodes { id remainingQuantity } } } } } }', {"id": sandbox.gid("Order", order["id"])},
             account=account).json()["data"]["order"]["fulfillmentOrders"]["nodes"][0]
    assert fo["status"] == "OPEN"
    too_many = {"fulfillment": {"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo["id"], "fulfillmentOrderLineItems": [
        {"id": fo["lineItems"]["nodes"][0]["id"], "quantity": fo["lineItems"]["nodes"][0]["remainingQuantity"] + 1}]}]}}
    payload = gql(client, connector_module.FULFILMENT_MUTATION, too_many, account=account).json()["data"]["fulfillmentCreate"]
    assert payload["fulfillment"] is None
    assert payload["userErrors"][0]["message"] == "Invalid fulfillment order line item quantity requested."
    everything = {"fulfillment": {"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo["id"]}],
                                  "trackingInfo": {"company": "Delhivery", "number": "DL123", "url": "https://t.example/DL123"}}}
    payload = gql(client, connector_module.FULFILMENT_MUTATION, everything, account=account).json()["data"]["fulfillmentCreate"]
    assert payload["userErrors"] == [] and payload["fulfillment"]["status"] == "SUCCESS"
    stored = dataset.objects(account, "order").get(key=order["id"]).data
    assert stored["status"] == "shipped"
    assert stored["tracking"] == {"carrier": "Delhivery", "number": "DL123", "url": "https://t.example/DL123"}
    again = gql(client, connector_module.FULFILMENT_MUTATION, everything, account=account).json()["data"]["fulfillmentCreate"]
    assert "unfulfillable status= closed" in again["userErrors"][0]["message"]


# --- OAuth ---------------------------------------------------------------------------------------------------------


def _authorize_url(**overrides):
    params = {"client_id": settings.SHOPIFY_CLIENT_ID, "scope": ",".join(settings.SHOPIFY_SCOPES),
              "redirect_uri": "http://testserver/connections/oauth/shopify/callback/", "state": "s-123", **overrides}
    return f"/sandbox/shopify/{SHOP}/admin/oauth/authorize?{urlencode(params)}"


def _install(client, **overrides):
    url = _authorize_url(**overrides)
    page = client.get(url)
    assert page.status_code == 200
    form = dict(parse_qs(urlsplit(url).query, keep_blank_values=True))
    response = client.post(url.split("?")[0], {**{k: v[0] for k, v in form.items()}, "action": "install"})
    assert response.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}


def _token_request(client, **body):
    body = {"client_id": settings.SHOPIFY_CLIENT_ID, "client_secret": settings.SHOPIFY_CLIENT_SECRET, **body}
    return client.post(f"/sandbox/shopify/{SHOP}/admin/oauth/access_token", data=json.dumps(body),
                       content_type="application/json")


def test_consent_page_offers_install_and_cancel(client, account):
    page = client.get(_authorize_url()).content.decode()
    assert "Install Haat on Sandbox Weavers?" in page
    assert 'value="install"' in page and 'value="cancel"' in page
    assert "View and edit orders" in page


@pytest.mark.parametrize("overrides, expected", [
    ({"client_id": "someone-else"}, "The client_id is invalid"),
    ({"redirect_uri": "javascript:alert(1)"}, "redirect_uri"),
    ({"scope": "read_orders,drop_tables"}, "The access scope is invalid: drop_tables"),
])
def test_consent_page_refuses_bad_requests(client, account, overrides, expected):
    response = client.get(_authorize_url(**overrides))
    assert response.status_code == 400 and expected in response.content.decode()


def test_install_redirects_with_signed_parameters(client, account):
    params = _install(client)
    assert set(params) == {"code", "hmac", "host", "shop", "state", "timestamp"}
    assert params["shop"] == SHOP and params["state"] == "s-123"
    assert base64.b64decode(params["host"] + "==").decode() == "admin.shopify.com/store/sandbox-weavers"
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "hmac")
    expected = hmac.new(settings.SHOPIFY_CLIENT_SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()
    assert params["hmac"] == expected


def test_cancel_does_not_redirect(client, account):
    url = _authorize_url()
    response = client.post(url.split("?")[0], {**{k: v[0] for k, v in parse_qs(urlsplit(url).query).items()},
                                               "action": "cancel"})
    assert response.status_code == 200 and "cancelled" in response.content.decode()
    assert not dataset.objects(account, "auth_code").exists()


def test_code_is_single_use_and_expires(client, account):
    code = _install(client)["code"]
    first = _token_request(client, code=code, expiring="1")
    assert first.status_code == 200
    answer = first.json()
    assert set(answer) == {"access_token", "scope", "expires_in", "refresh_token", "refresh_token_expires_in"}
    assert answer["expires_in"] == 3600 and answer["scope"] == ",".join(settings.SHOPIFY_SCOPES)
    replay = _token_request(client, code=code)
    assert replay.status_code == 400
    assert replay.json() == {"error": "invalid_request",
                             "error_description": "The authorization code was not found or was already used"}
    late = _install(client)["code"]
    sandbox.expire_authorization_codes(account)
    assert _token_request(client, code=late).status_code == 400


def test_non_expiring_exchange_and_bad_client_secret(client, account):
    answer = _token_request(client, code=_install(client)["code"]).json()
    assert set(answer) == {"access_token", "scope"}
    assert gql(client, "{ shop { name } }", token=answer["access_token"]).status_code == 200
    refused = _token_request(client, code=_install(client)["code"], client_secret="wrong")
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


def test_refresh_rotates_the_pair(client, account):
    answer = _token_request(client, code=_install(client)["code"], expiring="1").json()
    fresh = _token_request(client, grant_type="refresh_token", refresh_token=answer["refresh_token"])
    assert fresh.status_code == 200
    new = fresh.json()
    assert new["access_token"] != answer["access_token"] and new["refresh_token"] != answer["refresh_token"]
    assert gql(client, "{ shop { name } }", token=new["access_token"]).status_code == 200
    assert gql(client, "{ shop { name } }", token=answer["access_token"]).status_code == 401
    spent = _token_request(client, grant_type="refresh_token", refresh_token=answer["refresh_token"])
    assert spent.status_code == 400 and spent.json()["error"] == "invalid_grant"


# --- webhooks and the demo's order endpoint ----------------------------------------------------------------------


SUBSCRIBE = connector_module.WEBHOOK_CREATE_MUTATION


def _subscribe(client, account, topic="ORDERS_CREATE", url="http://testserver/webhooks/shopify/demo/"):
    return gql(client, SUBSCRIBE, {"topic": topic, "subscription": {"callbackUrl": url, "format": "JSON"}},
               account=account).json()["data"]["webhookSubscriptionCreate"]


def test_webhook_subscription_rules(client, account):
    assert _subscribe(client, account)["userErrors"] == []
    assert _subscribe(client, account)["userErrors"][0]["message"] == "Address for this topic has already been taken"
    remote = _subscribe(client, account, url="http://haat.example/webhooks/")
    assert remote["userErrors"][0]["message"] == "Address protocol http:// is not supported"
    listed = gql(client, connector_module.WEBHOOKS_QUERY, {"url": "http://testserver/webhooks/shopify/demo/"},
                 account=account).json()["data"]["webhookSubscriptions"]["nodes"]
    assert [(n["topic"], n["endpoint"]["callbackUrl"]) for n in listed] == [
        ("ORDERS_CREATE", "http://testserver/webhooks/shopify/demo/")]
    deleted = gql(client, connector_module.WEBHOOK_DELETE_MUTATION, {"id": listed[0]["id"]}, account=account).json()
    assert deleted["data"]["webhookSubscriptionDelete"]["deletedWebhookSubscriptionId"] == listed[0]["id"]
    again = gql(client, connector_module.WEBHOOK_DELETE_MUTATION, {"id": listed[0]["id"]}, account=account).json()
    assert again["data"]["webhookSubscriptionDelete"]["userErrors"][0]["message"] == "Webhook subscription does not exist"


def test_new_order_sends_a_signed_orders_create(client, account, webhook_inbox):
    _subscribe(client, account)
    _subscribe(client, account, topic="PRODUCTS_UPDATE")
    order = sandbox.create_order(account, skus=[("HAAT-0002", 2)])
    assert len(webhook_inbox) == 1
    delivery = webhook_inbox[0]
    headers = delivery["headers"]
    assert headers["X-Shopify-Topic"] == "orders/create" and headers["X-Shopify-Shop-Domain"] == SHOP
    assert headers["X-Shopify-API-Version"] == "2025-01"
    for name in ("X-Shopify-Webhook-Id", "X-Shopify-Event-Id", "X-Shopify-Triggered-At"):
        assert headers[name]
    digest = hmac.new(settings.SHOPIFY_CLIENT_SECRET.encode(), delivery["body"], hashlib.sha256).digest()
    assert headers["X-Shopify-Hmac-Sha256"] == base64.b64encode(digest).decode()
    payload = json.loads(delivery["body"])
    assert payload["id"] == int(order["id"]) and payload["admin_graphql_api_id"] == f"gid://shopify/Order/{order['id']}"
    assert payload["line_items"][0]["sku"] == "HAAT-0002" and payload["line_items"][0]["quantity"] == 2
    assert payload["financial_status"] in ("paid", "pending") and payload["fulfillment_status"] is None
    assert payload["created_at"].endswith("+05:30")


def test_demo_order_endpoint(client, account, webhook_inbox):
    _subscribe(client, account)
    response = client.post("/sandbox/shopify/_sandbox/orders", data=json.dumps(
        {"shop": SHOP, "line_items": [{"sku": "HAAT-0004", "quantity": 1}]}), content_type="application/json")
    assert response.status_code == 201
    body = response.json()
    assert body["order"]["line_items"][0]["sku"] == "HAAT-0004"
    assert [d["topic"] for d in body["deliveries"]] == ["orders/create"] and len(webhook_inbox) == 1
    bad = client.post("/sandbox/shopify/_sandbox/orders", data=json.dumps(
        {"shop": SHOP, "line_items": [{"sku": "NOPE", "quantity": 1}]}), content_type="application/json")
    assert bad.status_code == 400 and "NOPE" in bad.json()["error"]
    zero = client.post("/sandbox/shopify/_sandbox/orders", data=json.dumps(
        {"shop": SHOP, "line_items": [{"sku": "HAAT-0004", "quantity": 0}]}), content_type="application/json")
    assert zero.status_code == 400
    unknown = client.post("/sandbox/shopify/_sandbox/orders", data=json.dumps({"shop": "x.myshopify.com"}),
                          content_type="application/json")
    assert unknown.status_code == 404
    assert dataset.objects(account, "order").count() == settings.SANDBOX_ORDERS + 1


def test_uninstall_sends_app_uninstalled_and_revokes_everything(client, account, webhook_inbox):
    _subscribe(client, account, topic="APP_UNINSTALLED")
    sandbox.uninstall_app(account)
    assert [d["headers"]["X-Shopify-Topic"] for d in webhook_inbox] == ["app/uninstalled"]
    assert json.loads(webhook_inbox[0]["body"])["myshopify_domain"] == SHOP
    assert gql(client, "{ shop { name } }", account=account).status_code == 401
    assert not dataset.objects(account, "webhook").exists()


def test_demo_account_is_idempotent_and_named_by_shop():
    first = sandbox.create_demo_account("Asha Crafts", "Asha Crafts")
    again = sandbox.create_demo_account("asha-crafts.myshopify.com", "Asha Crafts")
    assert first.pk == again.pk and first.account_id == "asha-crafts.myshopify.com"
    assert first.secrets["access_token"] == again.secrets["access_token"]
    assert SandboxObject.objects.filter(account=first, kind="token").count() == 1
    config = sandbox.connection_config(first, "http://testserver/sandbox")
    assert config["base_url"] == "http://testserver/sandbox/shopify/asha-crafts.myshopify.com"
