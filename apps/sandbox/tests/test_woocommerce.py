"""The WooCommerce sandbox itself, checked against how WooCommerce and WordPress answer (their REST controllers:
WC_REST_Authentication, WC_REST_CRUD_Controller, WC_REST_Webhooks, WC_Webhook). No official machine-readable
spec of the WooCommerce REST API exists to validate against (its docs are prose), so each shape is asserted here."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from apps.sandbox import dataset
from apps.sandbox.http import clear_forced_faults, force_faults
from apps.sandbox.platforms import woocommerce as store

pytestmark = pytest.mark.django_db
HOOK_URL = "http://testserver/webhooks/woocommerce/0c5c3bd1-4c52-4b0c-a3a8-63c4a7a9b1d0/"


@pytest.fixture
def account():
    account = store.create_demo_account("sandbox-store", "Sandbox Store")
    yield account
    clear_forced_faults()


def basic(account, secret: str | None = None) -> dict:
    token = f"{account.secrets['consumer_key']}:{secret or account.secrets['consumer_secret']}"
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(token.encode()).decode()}


def api(account, route: str) -> str:
    return f"/sandbox/woocommerce/{account.account_id}/wp-json/{route}"


def get(client, account, route, auth=True, **params):
    return client.get(api(account, route), params, **(basic(account) if auth else {}))


def send(client, account, method, route, body, auth=True):
    return getattr(client, method)(api(account, route), data=json.dumps(body), content_type="application/json",
                                   **(basic(account) if auth else {}))


# --- the demo store -----------------------------------------------------------------------------------------------


def test_demo_account_is_idempotent_and_keyed_like_woocommerce(account):
    again = store.create_demo_account("sandbox-store", "Other name")
    assert again.pk == account.pk and again.secrets == account.secrets
    assert account.secrets["consumer_key"].startswith("ck_") and len(account.secrets["consumer_key"]) == 43
    assert account.secrets["consumer_secret"].startswith("cs_") and len(account.secrets["consumer_secret"]) == 43
    config = store.connection_config(account, "http://127.0.0.1:8000/sandbox/")
    assert config == {"store_url": "http://127.0.0.1:8000/sandbox/woocommerce/sandbox-store",
                      "base_url": "http://127.0.0.1:8000/sandbox/woocommerce/sandbox-store/wp-json/wc/v3"}
    assert set(store.connection_credentials(account)) == {"consumer_key", "consumer_secret"}
    with pytest.raises(ValueError):
        store.create_demo_account("Not A Slug", "x")


# --- authentication ----------------------------------------------------------------------------------------------


def test_no_key_is_unauthenticated_for_the_routes_permission_check(client, account):
    response = get(client, account, "wc/v3/orders", auth=False)
    assert response.status_code == 401
    assert response.json() == {"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources.",
                               "data": {"status": 401}}
    response = send(client, account, "post", "wc/v3/products", {"name": "x"}, auth=False)
    assert response.status_code == 401 and response.json()["code"] == "woocommerce_rest_cannot_create"


def test_wrong_secret_and_deleted_key(client, account):
    response = client.get(api(account, "wc/v3/orders"), **basic(account, secret="cs_" + "1" * 40))
    assert response.status_code == 401 and response.json()["code"] == "woocommerce_rest_authentication_error"
    assert response.json()["message"] == "Consumer secret is invalid."
    assert response["WWW-Authenticate"].startswith('Basic realm="WooCommerce API.')
    store.revoke_key(account)
    response = get(client, account, "wc/v3/orders")
    assert response.status_code == 401 and response.json()["code"] == "woocommerce_rest_cannot_view"
    assert "WWW-Authenticate" not in response


def test_query_string_keys_work_too(client, account):
    response = client.get(api(account, "wc/v3/orders"), {"consumer_key": account.secrets["consumer_key"],
                                                         "consumer_secret": account.secrets["consumer_secret"]})
    assert response.status_code == 200
    assert "consumer_secret" not in response.get("Link", "")


def test_read_only_key_cannot_write_even_where_no_route_is(client, account):
    store.set_key_permissions(account, "read")
    assert get(client, account, "wc/v3/orders").status_code == 200
    for route in ("wc/v3/products/batch", "wc/v3/no-such-route"):
        response = send(client, account, "post", route, {})
        assert response.status_code == 401
        assert response.json()["message"] == "The API key provided does not have write permissions."


def test_key_of_a_customer_is_forbidden(client, account):
    account.secrets = {**account.secrets, "key_user_role": "customer"}
    account.save()
    response = get(client, account, "wc/v3/system_status")
    assert response.status_code == 403 and response.json()["code"] == "woocommerce_rest_cannot_view"


def test_unknown_route_and_method(client, account):
    for response in (get(client, account, "wc/v3/nothing"), send(client, account, "delete", "wc/v3/orders", {})):
        assert response.status_code == 404
        assert response.json() == {"code": "rest_no_route", "data": {"status": 404},
                                   "message": "No route was found matching the URL and request method."}


# --- collections ---------------------------------------------------------------------------------------------------


def test_paging_headers_defaults_and_links(client, account):
    response = get(client, account, "wc/v3/orders")
    rows = response.json()
    assert len(rows) == 10  # per_page defaults to 10
    assert response["X-WP-Total"] == "60" and response["X-WP-TotalPages"] == "6"
    created = [r["date_created_gmt"] for r in rows]
    assert created == sorted(created, reverse=True)  # orderby=date, order=desc by default
    link = response["Link"]
    assert 'rel="next"' in link and 'rel="prev"' not in link
    next_url = link.split(";")[0].strip("<>")
    assert parse_qs(urlsplit(next_url).query)["page"] == ["2"]
    last = get(client, account, "wc/v3/orders", page=6)
    assert 'rel="prev"' in last["Link"] and 'rel="next"' not in last["Link"]
    assert get(client, account, "wc/v3/orders", page=7).json() == []


def test_parameters_are_validated_as_wordpress_does(client, account):
    response = get(client, account, "wc/v3/orders", per_page=101, orderby="price", modified_after="yesterday")
    body = response.json()
    assert response.status_code == 400 and body["code"] == "rest_invalid_param"
    assert body["data"]["params"]["per_page"] == "per_page must be between 1 (inclusive) and 100 (inclusive)"
    assert body["data"]["params"]["modified_after"] == "Invalid date."
    assert body["data"]["details"]["orderby"]["code"] == "rest_not_in_enum"
    assert get(client, account, "wc/v3/orders", status="shipped").status_code == 400


def test_modified_order_and_strict_after(client, account):
    rows = get(client, account, "wc/v3/orders", orderby="modified", order="asc", per_page=100).json()
    stamps = [(r["date_modified_gmt"], r["id"]) for r in rows]
    assert stamps == sorted(stamps)
    pivot = rows[30]["date_modified_gmt"]
    after = get(client, account, "wc/v3/orders", orderby="modified", order="asc", per_page=100, modified_after=pivot,
                dates_are_gmt="true").json()
    assert after and all(r["date_modified_gmt"] > pivot for r in after)


def test_an_offset_in_the_date_is_read_as_local_time(client, account):
    """WP_Date_Query converts a date with an offset to the site's zone (Asia/Kolkata), even for the GMT column."""
    rows = get(client, account, "wc/v3/orders", orderby="modified", order="asc", per_page=100).json()
    newest = rows[-1]["date_modified_gmt"]
    just_before = (dataset.parse_iso(newest + "Z") - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    naive = get(client, account, "wc/v3/orders", modified_after=just_before, dates_are_gmt="true").json()
    with_z = get(client, account, "wc/v3/orders", modified_after=just_before + "Z", dates_are_gmt="true").json()
    assert rows[-1]["id"] in [r["id"] for r in naive]
    assert rows[-1]["id"] not in [r["id"] for r in with_z]


def test_page_numbers_shift_when_an_order_changes_between_pages(client, account):
    """Why the connector pages by keyset: on a real store, page 2 skips an order when one on page 1 changes."""
    params = {"orderby": "modified", "order": "asc", "per_page": 10}
    first = get(client, account, "wc/v3/orders", page=1, **params).json()
    everything = {r["id"] for r in get(client, account, "wc/v3/orders", per_page=100).json()}
    dataset.order_update(account, str(first[0]["id"]), status="shipped")
    seen = {r["id"] for r in first}
    for page in range(2, 8):
        seen |= {r["id"] for r in get(client, account, "wc/v3/orders", page=page, **params).json()}
    assert len(everything - seen) == 1


# --- orders ----------------------------------------------------------------------------------------------------


def test_order_shape(client, account):
    response = get(client, account, "wc/v3/orders", per_page=100)
    raw = response.content
    assert b"\\/wp-json\\/wc\\/v3\\/orders" in raw  # json_encode escapes slashes
    order = next(o for o in response.json() if o["status"] == "processing")
    neutral = dataset.objects(account, "order").get(key=str(order["id"])).data
    assert order["total"] == neutral["total"] and isinstance(order["total"], str)
    assert order["date_modified_gmt"] == neutral["updated_at"].rstrip("Z")
    local = dataset.parse_iso(neutral["updated_at"]) + timedelta(hours=5, minutes=30)
    assert order["date_modified"] == local.strftime("%Y-%m-%dT%H:%M:%S")
    line = order["line_items"][0]
    assert isinstance(line["price"], float) and isinstance(line["quantity"], int) and line["sku"]
    assert order["billing"]["country"] == "IN" and len(order["billing"]["state"]) == 2
    assert order["number"] == str(order["id"]) and order["currency_symbol"] == "₹"


def test_status_words_map_from_neutral(client, account):
    rows = get(client, account, "wc/v3/orders", per_page=100).json()
    words = {}
    for row in rows:
        words.setdefault(dataset.objects(account, "order").get(key=str(row["id"])).data["status"], set()).add(row["status"])
    assert words["unshipped"] == {"processing"} and words["shipped"] == {"completed"}
    assert words["delivered"] == {"completed"} and words["cancelled"] == {"cancelled"}
    assert words["pending"] <= {"pending", "on-hold"}
    assert words.get("returned", {"refunded"}) == {"refunded"}


def test_status_update_and_validation(client, account):
    order = next(o for o in get(client, account, "wc/v3/orders", per_page=100).json() if o["status"] == "processing")
    route = f"wc/v3/orders/{order['id']}"
    bad = send(client, account, "put", route, {"status": "shipped"})
    assert bad.status_code == 400 and bad.json()["code"] == "rest_invalid_param"
    response = send(client, account, "put", route, {"status": "completed"})
    assert response.status_code == 200 and response.json()["status"] == "completed"
    assert response.json()["date_completed_gmt"] and response.json()["date_modified_gmt"] > order["date_modified_gmt"]
    assert dataset.objects(account, "order").get(key=str(order["id"])).data["status"] == "shipped"
    missing = send(client, account, "put", "wc/v3/orders/1", {"status": "completed"})
    assert missing.status_code == 400 and missing.json()["code"] == "woocommerce_rest_shop_order_invalid_id"
    assert get(client, account, "wc/v3/orders/1").status_code == 404


def test_cancelling_restocks(client, account):
    order = next(o for o in get(client, account, "wc/v3/orders", per_page=100).json() if o["status"] == "processing")
    line = order["line_items"][0]
    before = dataset.objects(account, "product").get(key=line["sku"]).data["quantity"]
    send(client, account, "put", f"wc/v3/orders/{order['id']}", {"status": "cancelled"})
    assert dataset.objects(account, "product").get(key=line["sku"]).data["quantity"] == before + line["quantity"]


def test_order_notes(client, account):
    order_id = get(client, account, "wc/v3/orders").json()[0]["id"]
    route = f"wc/v3/orders/{order_id}/notes"
    assert send(client, account, "post", route, {}).json()["code"] == "rest_missing_callback_param"
    created = send(client, account, "post", route, {"note": "Shipped", "customer_note": True})
    assert created.status_code == 201 and created["Location"].endswith(f"/notes/{created.json()['id']}")
    send(client, account, "post", route, {"note": "Internal"})
    assert [n["note"] for n in get(client, account, route, type="customer").json()] == ["Shipped"]
    assert len(get(client, account, route).json()) == 2
    assert get(client, account, "wc/v3/orders/1/notes").json()["code"] == "woocommerce_rest_order_invalid_id"


# --- products -----------------------------------------------------------------------------------------------------


def test_variable_products_and_sku_search(client, account):
    rows = get(client, account, "wc/v3/products", per_page=100).json()
    variable = next(r for r in rows if r["type"] == "variable")
    assert variable["sku"] == "" and variable["manage_stock"] is False and len(variable["variations"]) == 1
    variations = get(client, account, f"wc/v3/products/{variable['id']}/variations").json()
    assert [v["id"] for v in variations] == variable["variations"]
    sku = variations[0]["sku"]
    found = get(client, account, "wc/v3/products", sku=sku).json()
    assert [(f["type"], f["parent_id"]) for f in found] == [("variation", variable["id"])]
    simple = next(r for r in rows if r["type"] == "simple")
    assert simple["regular_price"] > simple["sale_price"] and simple["on_sale"] and simple["price"] == simple["sale_price"]


def test_batch_limits_and_item_errors(client, account):
    too_many = send(client, account, "post", "wc/v3/products/batch", {"update": [{"id": 1}] * 101})
    assert too_many.status_code == 413
    assert too_many.json()["message"] == "Unable to accept more than 100 items for this request."
    assert send(client, account, "post", "wc/v3/products/batch", {}).json() == []
    simple = next(r for r in get(client, account, "wc/v3/products", per_page=100).json() if r["type"] == "simple")
    answer = send(client, account, "post", "wc/v3/products/batch",
                  {"update": [{"id": simple["id"], "stock_quantity": "12"}, {"id": 424242, "stock_quantity": 1}]}).json()
    assert answer["update"][0]["stock_quantity"] == 12
    assert answer["update"][1] == {"id": 424242, "error": {"code": "woocommerce_rest_product_invalid_id",
                                                           "message": "Invalid ID.", "data": {"status": 400}}}


def test_direct_update_checks_types_and_duplicate_skus(client, account):
    rows = [r for r in get(client, account, "wc/v3/products", per_page=100).json() if r["type"] == "simple"]
    response = send(client, account, "put", f"wc/v3/products/{rows[0]['id']}", {"regular_price": 10})
    assert response.status_code == 400 and response.json()["data"]["params"]["regular_price"] == \
        "regular_price is not of type string."
    response = send(client, account, "put", f"wc/v3/products/{rows[0]['id']}", {"sku": rows[1]["sku"]})
    assert response.status_code == 400 and response.json()["code"] == "product_invalid_sku"
    assert response.json()["data"]["resource_id"] == rows[1]["id"]


def test_creating_a_product(client, account):
    body = {"name": "Bamboo basket", "type": "simple", "sku": "NEW-1", "regular_price": "350.00",
            "sale_price": "300.00", "manage_stock": True, "stock_quantity": 4}
    response = send(client, account, "post", "wc/v3/products", body)
    assert response.status_code == 201 and response.json()["id"] > 100060
    assert response["Location"].endswith(f"/wc/v3/products/{response.json()['id']}")
    assert send(client, account, "post", "wc/v3/products", body).json()["code"] == "product_invalid_sku"


# --- webhooks ------------------------------------------------------------------------------------------------------


def test_webhook_lifecycle(client, account, webhook_inbox):
    created = send(client, account, "post", "wc/v3/webhooks",
                   {"name": "Haat", "topic": "order.updated", "delivery_url": HOOK_URL, "secret": "s3cret"})
    hook = created.json()
    assert created.status_code == 201 and hook["status"] == "active" and hook["resource"] == "order"
    assert "secret" not in hook
    [ping] = webhook_inbox
    assert ping["body"] == f"webhook_id={hook['id']}".encode() and "X-WC-Webhook-Signature" not in ping["headers"]

    webhook_inbox.clear()
    old_order = dataset.objects(account, "order").order_by("key").first()
    store.update_order(account, old_order.key, status="shipped")
    [delivery] = webhook_inbox
    headers = delivery["headers"]
    expected = base64.b64encode(hmac.new(b"s3cret", delivery["body"], hashlib.sha256).digest()).decode()
    assert headers["X-WC-Webhook-Signature"] == expected
    assert headers["X-WC-Webhook-Resource"] == "order" and headers["X-WC-Webhook-Event"] == "updated"
    assert headers["X-WC-Webhook-Source"].endswith("/sandbox/woocommerce/sandbox-store/")
    assert json.loads(delivery["body"])["id"] == int(old_order.key)

    webhook_inbox.clear()
    store.create_order(account)  # order.updated is not sent for an order made in the last 10 seconds
    assert webhook_inbox == []

    trash = send(client, account, "delete", f"wc/v3/webhooks/{hook['id']}", {})
    assert trash.status_code == 501 and trash.json()["code"] == "woocommerce_rest_trash_not_supported"
    gone = client.delete(api(account, f"wc/v3/webhooks/{hook['id']}") + "?force=true", **basic(account))
    assert gone.status_code == 200 and gone.json()["id"] == hook["id"]
    assert get(client, account, f"wc/v3/webhooks/{hook['id']}").status_code == 404


def test_webhook_is_disabled_after_repeated_failures(client, account, monkeypatch):
    monkeypatch.setattr("apps.sandbox.http.deliver_webhook", lambda url, body, headers: 500)
    hook = send(client, account, "post", "wc/v3/webhooks",
                {"topic": "order.updated", "delivery_url": HOOK_URL, "secret": "s"}).json()
    order_id = dataset.objects(account, "order").order_by("key").first().key
    for _ in range(7):
        store.update_order(account, order_id)
    assert get(client, account, f"wc/v3/webhooks/{hook['id']}").json()["status"] == "disabled"


def test_webhook_validation(client, account):
    bad_topic = send(client, account, "post", "wc/v3/webhooks", {"topic": "order.shipped", "delivery_url": HOOK_URL})
    assert bad_topic.json()["code"] == "woocommerce_rest_webhook_invalid_topic"
    bad_url = send(client, account, "post", "wc/v3/webhooks", {"topic": "order.created", "delivery_url": "ftp://x"})
    assert bad_url.json()["code"] == "woocommerce_rest_webhook_invalid_delivery_url"


# --- the Shipment Tracking extension -----------------------------------------------------------------------------------


def test_shipment_tracking_routes(client, account):
    providers = client.get(api(account, "wc-shipment-tracking/v3/shipment-trackings/providers"))
    assert providers.status_code == 200 and "India Post" in providers.json()["India"]  # public route
    order_id = get(client, account, "wc/v3/orders").json()[0]["id"]
    route = f"wc-shipment-tracking/v3/orders/{order_id}/shipment-trackings"
    assert send(client, account, "post", route, {"tracking_provider": "DTDC"}).json()["code"] == \
        "rest_missing_callback_param"
    item = send(client, account, "post", route, {"tracking_provider": "DTDC", "tracking_number": "D123"})
    assert item.status_code == 201 and item.json()["tracking_link"].endswith("strCnno=D123&TrkType2=awb_no")
    assert [t["tracking_number"] for t in get(client, account, route).json()] == ["D123"]
    assert dataset.objects(account, "order").get(key=str(order_id)).data["tracking"]["number"] == "D123"
    store.configure(account, shipment_tracking=False)
    assert get(client, account, route).json()["code"] == "rest_no_route"


# --- fault injection and the demo button ---------------------------------------------------------------------------


def test_faults_look_like_wordpress_and_the_host(client, account):
    force_faults("error", 1)
    response = get(client, account, "wc/v3/orders")
    assert response.status_code == 500 and response.json()["code"] == "internal_server_error"
    force_faults("429", 1)
    response = get(client, account, "wc/v3/orders")
    assert response.status_code == 429 and response["Retry-After"] == str(store.RETRY_AFTER_SECONDS)
    assert b"429 Too Many Requests" in response.content


def test_demo_order_button(client, account, webhook_inbox):
    send(client, account, "post", "wc/v3/webhooks", {"topic": "order.created", "delivery_url": HOOK_URL, "secret": "s"})
    webhook_inbox.clear()
    product = next(p.data for p in dataset.objects(account, "product") if p.data["quantity"] >= 2)
    response = client.post("/sandbox/woocommerce/_sandbox/orders", data=json.dumps(
        {"account_id": account.account_id, "skus": [{"sku": product["sku"], "quantity": 2}]}),
        content_type="application/json")
    assert response.status_code == 201
    body = response.json()
    assert body["order"]["status"] == "processing" and body["order"]["line_items"][0]["quantity"] == 2
    assert [d["topic"] for d in body["deliveries"]] == ["order.created"] and len(webhook_inbox) == 1
    assert dataset.objects(account, "product").get(key=product["sku"]).data["quantity"] == product["quantity"] - 2
    too_many = client.post("/sandbox/woocommerce/_sandbox/orders", data=json.dumps(
        {"account_id": account.account_id, "skus": [{"sku": product["sku"], "quantity": 10_000}]}),
        content_type="application/json")
    assert too_many.status_code == 400 and "not enough stock" in too_many.json()["error"]
    unknown = client.post("/sandbox/woocommerce/_sandbox/orders", data=json.dumps({"account_id": "nope"}),
                          content_type="application/json")
    assert unknown.status_code == 404


def test_new_orders_are_recent_and_processing(account):
    order = store.create_order(account)
    assert order["status"] == "unshipped"
    assert dataset.parse_iso(order["created_at"]) >= timezone.now().replace(microsecond=0) - timedelta(seconds=5)
