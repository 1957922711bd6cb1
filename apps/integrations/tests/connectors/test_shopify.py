"""The Shopify connector against the in-process Shopify sandbox: the shared contract, then what is Shopify's own
(cost-based throttling, expiring tokens, the install flow, webhooks, query validity against the real schema)."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from graphql import parse, validate

from apps.integrations.connectors import shopify as module
from apps.integrations.connectors.base import (
    ConnectionContext,
    FulfilmentData,
    FulfilmentLine,
    ListingDraft,
    OrderStatus,
    PriceUpdate,
    StockUpdate,
)
from apps.integrations.connectors.errors import AuthError, PermanentError, RateLimited, TransientError
from apps.integrations.connectors.shopify import ShopifyConnector
from apps.integrations.http import HttpClient
from apps.integrations.tests.contract import ConnectorContract, collect_orders
from apps.sandbox import dataset
from apps.sandbox.http import clear_forced_faults
from apps.sandbox.platforms import shopify as sandbox

SHOP = "contract-crafts.myshopify.com"
REDIRECT_URI = "http://testserver/connections/oauth/shopify/callback/"


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Cost-bucket state and token buckets live in the cache; each test starts from a clean one."""
    cache.clear()
    yield
    cache.clear()
    clear_forced_faults()


def make_account(shop: str = SHOP, *, plan: str = "plus"):
    account = sandbox.create_demo_account(shop, "Contract Crafts")
    # The test settings cap any wait at 50 ms, far below what a standard bucket needs to refill, so the
    # shared suite runs against a Plus shop; the throttling tests below use the standard plan.
    account.settings["plan"] = plan
    account.save(update_fields=["settings"])
    return account


def make_connector(account, base: str, *, credentials: dict | None = None, saved: list | None = None,
                   page_size: int = 25, **config) -> ShopifyConnector:
    creds = credentials if credentials is not None else sandbox.connection_credentials(account)
    context = ConnectionContext(
        connection_id=f"shopify-test-{account.pk}", credentials=dict(creds),
        config={**sandbox.connection_config(account, base), "page_size": page_size, **config},
        external_account_id=account.account_id,
        save_credentials=(saved.append if saved is not None else (lambda creds: None)),
    )
    return ShopifyConnector(context)


class TestShopifyConnectorContract(ConnectorContract):
    platform = "shopify"

    def make_account(self):
        return make_account()

    def make_connector(self, account, base, *, bad_credentials=False):
        credentials = sandbox.connection_credentials(account)
        if bad_credentials:
            credentials = {**credentials, "access_token": "shpat_" + "0" * 32}
        return make_connector(account, base, credentials=credentials, page_size=self.page_size)


# --- queries against Shopify's schema and cost rules ---------------------------------------------------------------


DOCUMENTS = sorted(name for name in dir(module) if name.endswith(("_QUERY", "_MUTATION")))


@pytest.mark.parametrize("name", DOCUMENTS)
def test_every_document_is_valid_against_shopifys_schema(name):
    errors = validate(sandbox.admin_schema(), parse(getattr(module, name)))
    assert errors == [], (name, errors)


def test_documents_cover_every_call_the_connector_makes():
    """The validated documents are exactly those the connector sends."""
    source = Path(module.__file__).read_text()
    sent = set(re.findall(r"_graphql\(\s*([A-Z_]+)", source))
    assert sent == set(DOCUMENTS)


@pytest.mark.parametrize("page_size", [1, 7, 20, 25, 36, 80, 500])
def test_page_sizes_keep_each_query_under_shopifys_cost_limit(page_size):
    schema = sandbox.admin_schema()
    first, lines, cost = module.order_page_sizes(page_size)
    document = parse(module.ORDERS_QUERY)
    operation = document.definitions[0]
    assert sandbox.query_cost(schema, document, operation, {"first": first, "lines": lines}) == cost <= 1000
    assert lines >= 5 and first <= page_size
    first, variants, cost = module.product_page_sizes(page_size)
    document = parse(module.PRODUCTS_QUERY)
    assert sandbox.query_cost(schema, document, document.definitions[0], {"first": first, "variants": variants}) == cost
    assert cost <= 1000 and variants >= 5


@pytest.mark.parametrize("name, cost, variables", [
    ("ORDER_LINES_QUERY", module.ORDER_LINES_COST, {"id": "gid://shopify/Order/1"}),
    ("PRODUCT_VARIANTS_QUERY", module.PRODUCT_VARIANTS_COST, {"id": "gid://shopify/Product/1"}),
    ("SHOP_QUERY", module.SHOP_COST, {}),
    ("LOCATION_QUERY", module.LOCATION_COST, {}),
    ("FULFILLMENT_ORDERS_QUERY", module.FULFILLMENT_ORDERS_COST, {"id": "gid://shopify/Order/1"}),
    ("WEBHOOKS_QUERY", module.WEBHOOKS_COST, {"url": "https://haat.example/webhooks/"}),
    ("VARIANTS_BY_SKU_QUERY", module.variants_by_sku_cost(100), {"first": 100, "query": "sku:A"}),
])
def test_declared_costs_are_shopifys(name, cost, variables):
    document = parse(getattr(module, name))
    assert sandbox.query_cost(sandbox.admin_schema(), document, document.definitions[0], variables) == cost <= 1000


# --- orders ----------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_pages_follow_cursors_in_update_order(sandbox_http, sandbox_base):
    account = make_account()
    connector = make_connector(account, sandbox_base, page_size=7)
    pages, orders, cursor = 0, [], None
    while True:
        page = connector.fetch_orders(since=timezone.now() - timedelta(days=40), cursor=cursor)
        pages += 1
        orders += page.items
        assert len(page.items) <= 7
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == 9 and len({o.external_id for o in orders}) == 60
    stamps = [(o.updated_at, int(o.external_id)) for o in orders]
    assert stamps == sorted(stamps), "orders_sorted_by_update promises ascending pages"
    assert connector.http.stats.by_operation == {"orders": 9}


@pytest.mark.django_db
def test_order_with_more_lines_than_one_query_holds(sandbox_http, sandbox_base):
    account = make_account()
    skus = sorted(dataset.objects(account, "product").values_list("key", flat=True))[:12]
    order = sandbox.create_order(account, skus=[(sku, 1) for sku in skus])
    connector = make_connector(account, sandbox_base, page_size=36)  # five lines per order fit in one query
    orders, _pages = collect_orders(connector, since=timezone.now() - timedelta(minutes=5))
    fetched = next(o for o in orders if o.external_id == order["id"])
    assert sorted(line.sku for line in fetched.lines) == skus
    assert [line.external_id for line in fetched.lines] == [line["id"] for line in order["lines"]]
    assert connector.http.stats.by_operation["orders"] == 2  # the page, then the other seven lines in one query
    assert fetched.number == f"#{order['number']}" and fetched.buyer_name == order["address"]["name"]
    assert fetched.shipping_address["postcode"] == order["address"]["postcode"]


def node(**fields):
    base = {"displayFinancialStatus": "PAID", "displayFulfillmentStatus": "UNFULFILLED", "returnStatus": "NO_RETURN",
            "cancelledAt": None, "paymentGatewayNames": ["Razorpay"], "fulfillments": []}
    return {**base, **fields}


@pytest.mark.parametrize("fields, expected", [
    ({}, OrderStatus.UNSHIPPED),
    ({"displayFinancialStatus": "PENDING"}, OrderStatus.PENDING),
    ({"displayFinancialStatus": "PENDING", "paymentGatewayNames": ["Cash on Delivery (COD)"]}, OrderStatus.UNSHIPPED),
    ({"displayFinancialStatus": "AUTHORIZED"}, OrderStatus.UNSHIPPED),
    ({"displayFulfillmentStatus": "PARTIALLY_FULFILLED"}, OrderStatus.UNSHIPPED),
    ({"displayFulfillmentStatus": "ON_HOLD"}, OrderStatus.PENDING),
    ({"displayFulfillmentStatus": "FULFILLED", "fulfillments": [{"status": "SUCCESS", "displayStatus": "IN_TRANSIT"}]},
     OrderStatus.SHIPPED),
    ({"displayFulfillmentStatus": "FULFILLED", "fulfillments": [
        {"status": "SUCCESS", "displayStatus": "DELIVERED"}, {"status": "SUCCESS", "displayStatus": "IN_TRANSIT"}]},
     OrderStatus.SHIPPED),
    ({"displayFulfillmentStatus": "FULFILLED", "fulfillments": [
        {"status": "SUCCESS", "displayStatus": "DELIVERED"}, {"status": "CANCELLED", "displayStatus": "CANCELED"}]},
     OrderStatus.DELIVERED),
    ({"displayFulfillmentStatus": "FULFILLED", "returnStatus": "RETURN_REQUESTED",
      "fulfillments": [{"status": "SUCCESS", "deliveredAt": "2025-01-01T00:00:00Z"}]}, OrderStatus.DELIVERED),
    ({"displayFulfillmentStatus": "FULFILLED", "returnStatus": "RETURNED"}, OrderStatus.RETURNED),
    ({"displayFulfillmentStatus": "RESTOCKED"}, OrderStatus.CANCELLED),
    ({"cancelledAt": "2025-01-01T00:00:00Z", "displayFinancialStatus": "REFUNDED"}, OrderStatus.CANCELLED),
])
def test_status_words_map_to_one_status(fields, expected):
    status, raw = module.order_status(node(**fields))
    assert status == expected and raw


@pytest.mark.django_db
def test_rest_and_graphql_vocabularies_agree_on_every_order(sandbox_http, sandbox_base):
    """orders/* webhooks carry REST words; polling reads GraphQL words: both must give the same status."""
    account = make_account()
    connector = make_connector(account, sandbox_base)
    for row in dataset.objects(account, "order"):
        body = json.dumps(sandbox.rest_order(account, row.data)).encode()
        message = connector.parse_webhook(body=body, headers={"X-Shopify-Topic": "orders/updated",
                                                              "X-Shopify-Webhook-Id": f"w-{row.key}"})
        assert message.orders[0].status == OrderStatus(row.data["status"]), row.data["status"]


# --- throttling --------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_throttled_answer_is_rate_limited_with_the_wait_the_bucket_needs(sandbox_http, sandbox_base):
    account = make_account(plan="basic")
    connector = make_connector(account, sandbox_base)
    connector.http.max_retries = 0
    sandbox.set_bucket(account, 0)
    with pytest.raises(RateLimited) as info:
        connector.fetch_orders(since=timezone.now() - timedelta(days=1))
    _first, _lines, cost = module.order_page_sizes(25)
    # (requested - available) / restoreRate, less what refilled while a loaded machine got to the request
    assert cost / 100 - 2.0 <= info.value.retry_after <= cost / 100
    assert json.loads(info.value.raw)["errors"][0]["extensions"]["code"] == "THROTTLED"


@pytest.mark.django_db
def test_throttled_query_is_retried_after_that_wait(sandbox_http, sandbox_base, settings):
    settings.HTTP_MAX_BACKOFF = 5.0
    account = make_account(plan="basic")
    connector = make_connector(account, sandbox_base)
    _first, _lines, cost = module.order_page_sizes(25)
    sandbox.set_bucket(account, cost - 150)  # 1.5 s short: a margin for a loaded machine
    started = time.monotonic()
    page = connector.fetch_orders(since=timezone.now() - timedelta(days=40))
    assert page.items and connector.http.stats.rate_limited == 1 and connector.http.stats.retries == 1
    assert time.monotonic() - started >= 0.15


@pytest.mark.django_db
def test_connector_waits_for_the_bucket_instead_of_being_throttled(sandbox_http, sandbox_base, settings):
    settings.HTTP_MAX_BACKOFF = 5.0
    account = make_account(plan="basic")
    connector = make_connector(account, sandbox_base)
    _first, _lines, cost = module.order_page_sizes(25)
    sandbox.set_bucket(account, cost - 150 + module.SHOP_COST)
    connector.test_connection()  # its answer tells the connector how full the bucket is
    connector.fetch_orders(since=timezone.now() - timedelta(days=40))
    assert connector.http.stats.rate_limited == 0
    assert connector.http.stats.waited_seconds >= 0.2


@pytest.mark.django_db
def test_the_bucket_state_is_shared_by_connections_to_the_same_shop(sandbox_http, sandbox_base, settings):
    settings.HTTP_MAX_BACKOFF = 5.0
    account = make_account(plan="basic")
    _first, _lines, cost = module.order_page_sizes(25)
    sandbox.set_bucket(account, cost - 150 + module.SHOP_COST)
    make_connector(account, sandbox_base).test_connection()
    other = make_connector(account, sandbox_base)  # another worker, same shop
    other.fetch_orders(since=timezone.now() - timedelta(days=40))
    assert other.http.stats.rate_limited == 0 and other.http.stats.waited_seconds >= 0.15


# --- tokens --------------------------------------------------------------------------------------------------------


def expiring_credentials(account) -> dict:
    answer = sandbox.issue_tokens(account, expiring=True)
    return module._token_credentials(answer)


@pytest.mark.django_db
def test_expired_token_is_refreshed_retried_and_saved(sandbox_http, sandbox_base):
    account = make_account()
    credentials = expiring_credentials(account)
    sandbox.expire_token(account, credentials["access_token"])  # Shopify says expired before our clock does
    saved: list = []
    connector = make_connector(account, sandbox_base, credentials=credentials, saved=saved)
    assert connector.fetch_orders(since=timezone.now() - timedelta(days=40)).items
    assert len(saved) == 1
    fresh = saved[0]
    assert fresh["access_token"] != credentials["access_token"]
    assert fresh["refresh_token"] != credentials["refresh_token"]
    assert datetime.fromisoformat(fresh["expires_at"]) > datetime.now(UTC) + timedelta(minutes=55)
    assert connector.http.stats.by_operation == {"orders": 2, "oauth": 1}
    stale = make_connector(account, sandbox_base, credentials={**credentials, "expires_at": fresh["expires_at"]})
    with pytest.raises(AuthError):  # the old pair was spent by the rotation
        stale.test_connection()


@pytest.mark.django_db
def test_token_known_to_be_expiring_is_refreshed_before_the_call(sandbox_http, sandbox_base):
    account = make_account()
    credentials = {**expiring_credentials(account), "expires_at": (datetime.now(UTC) + timedelta(seconds=30)).isoformat()}
    saved: list = []
    connector = make_connector(account, sandbox_base, credentials=credentials, saved=saved)
    connector.test_connection()
    assert connector.http.stats.by_operation == {"oauth": 1, "shop": 1}
    assert saved and connector.context.credentials["access_token"] == saved[0]["access_token"]


@pytest.mark.django_db
def test_revoked_token_needs_reauthorisation(sandbox_http, sandbox_base):
    account = make_account()
    connector = make_connector(account, sandbox_base)
    sandbox.revoke_token(account)
    with pytest.raises(AuthError) as info:
        connector.fetch_orders(since=timezone.now() - timedelta(days=1))
    assert info.value.status_code == 401 and "Reconnect" in info.value.message


@pytest.mark.django_db
def test_revoked_pair_is_auth_error_and_nothing_is_saved(sandbox_http, sandbox_base):
    account = make_account()
    saved: list = []
    connector = make_connector(account, sandbox_base, credentials=expiring_credentials(account), saved=saved)
    sandbox.uninstall_app(account)
    with pytest.raises(AuthError) as info:
        connector.test_connection()
    assert "refused the sign-in" in info.value.message and saved == []
    assert "shprt_" not in (info.value.raw or "") and "shpat_" not in info.value.message


@pytest.mark.django_db
def test_missing_scope_is_auth_error(sandbox_http, sandbox_base):
    account = make_account()
    token = sandbox.issue_tokens(account, scope="read_products", expiring=False)["access_token"]
    connector = make_connector(account, sandbox_base, credentials={"access_token": token})
    with pytest.raises(AuthError) as info:
        connector.fetch_orders(since=timezone.now() - timedelta(days=1))
    assert "read_orders" in info.value.message


# --- malformed answers (a fake Shopify, since the sandbox answers by the schema) ---------------------------------


def fake_connector(**config) -> ShopifyConnector:
    context = ConnectionContext(connection_id="fake", credentials={"access_token": "shpat_fake"},
                                config={"shop": "fake-shop.myshopify.com", **config})
    return ShopifyConnector(context, http=HttpClient(connection_key="fake", session=requests.Session(), max_retries=0))


FAKE_URL = "https://fake-shop.myshopify.com/admin/api/2025-01/graphql.json"


@responses.activate
def test_answer_missing_promised_fields_is_permanent_and_keeps_raw():
    responses.post(FAKE_URL, json={"data": {"orders": {"pageInfo": {"hasNextPage": False}, "nodes": [
        {"id": "gid://shopify/Order/1", "lineItems": {"nodes": [], "pageInfo": {"hasNextPage": False}}}]}}})
    with pytest.raises(PermanentError) as info:
        fake_connector().fetch_orders(since=timezone.now())
    assert "Unexpected order" in info.value.message and "gid://shopify/Order/1" in info.value.raw


@responses.activate
def test_graphql_errors_are_permanent_and_internal_errors_transient():
    responses.post(FAKE_URL, json={"errors": [{"message": "Field 'x' doesn't exist", "extensions": {"code": "undefinedField"}}]})
    with pytest.raises(PermanentError) as info:
        fake_connector().test_connection()
    assert "doesn't exist" in info.value.message
    responses.replace(responses.POST, FAKE_URL, json={"errors": [{"message": "Internal error", "extensions": {
        "code": "INTERNAL_SERVER_ERROR"}}]})
    with pytest.raises(TransientError):
        fake_connector().test_connection()


@responses.activate
def test_frozen_shop_is_a_clear_permanent_error():
    responses.post(FAKE_URL, status=402, json={"errors": "Unavailable Shop"})
    with pytest.raises(PermanentError) as info:
        fake_connector().test_connection()
    assert "frozen" in info.value.message


@responses.activate
def test_truncated_token_answer_never_keeps_the_token():
    responses.post("https://fake-shop.myshopify.com/admin/oauth/access_token",
                   body='{"access_token": "shpat_0123456789abcdef", "scope": "read_or')
    connector = fake_connector()
    connector.context.credentials = {"access_token": "shpat_old", "refresh_token": "shprt_old",
                                     "expires_at": "2000-01-01T00:00:00+00:00"}
    with pytest.raises(PermanentError) as info:
        connector.refresh()
    assert "shpat_0123456789abcdef" not in (info.value.raw or "") + info.value.message
    assert "[redacted]" in info.value.raw


# --- the install flow ------------------------------------------------------------------------------------------


def start(account, base, *, state="state-abc", shop=None):
    params = {"shop": shop or account.account_id}
    config = {**params, "base_url": ShopifyConnector.sandbox_base_url(sandbox_root=base, params=params)}
    return ShopifyConnector.authorization_url(state=state, redirect_uri=REDIRECT_URI, params=params, config=config), config


def consent(client, url: str, **form_overrides) -> dict[str, str]:
    """Open the sandbox's install screen, press Install, return the callback's query parameters."""
    parts = urlsplit(url)
    page = client.get(f"{parts.path}?{parts.query}")
    assert page.status_code == 200 and b"Install" in page.content
    form = {k: v[0] for k, v in parse_qs(parts.query).items()}
    response = client.post(parts.path, {**form, **form_overrides, "action": "install"})
    assert response.status_code == 302 and response["Location"].startswith(REDIRECT_URI)
    return {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}


def signed(params: dict[str, str]) -> dict[str, str]:
    return {**params, "hmac": module.callback_hmac(params, settings.SHOPIFY_CLIENT_SECRET)}


@pytest.mark.django_db
def test_authorization_url_carries_state_scopes_and_redirect(sandbox_base):
    account = make_account()
    url, _config = start(account, sandbox_base)
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert parts.path == f"/sandbox/shopify/{account.account_id}/admin/oauth/authorize"
    assert query == {"client_id": settings.SHOPIFY_CLIENT_ID, "scope": ",".join(settings.SHOPIFY_SCOPES),
                     "redirect_uri": REDIRECT_URI, "state": "state-abc"}


def test_authorization_url_on_the_real_host_and_shop_cleaning():
    url = ShopifyConnector.authorization_url(state="s", redirect_uri=REDIRECT_URI, params={"shop": "https://Asha-Crafts.myshopify.com/admin"},
                                             config={})
    assert url.startswith("https://asha-crafts.myshopify.com/admin/oauth/authorize?client_id=")
    assert module.clean_shop("asha-crafts") == "asha-crafts.myshopify.com"
    for bad in ("evil.com", "asha_crafts.myshopify.com", "-asha.myshopify.com", "asha.myshopify.com.evil.com", ""):
        with pytest.raises(PermanentError):
            ShopifyConnector.authorization_url(state="s", redirect_uri=REDIRECT_URI, params={"shop": bad}, config={})
    assert ShopifyConnector.sandbox_base_url(sandbox_root="http://testserver/sandbox", params={"shop": "evil.com/x"})


@pytest.mark.django_db
def test_install_flow_end_to_end(client, sandbox_http, sandbox_base):
    account = make_account()
    url, config = start(account, sandbox_base)
    params = consent(client, url)
    assert params["state"] == "state-abc"
    ShopifyConnector.verify_callback(params=params, config=config)
    http = HttpClient(connection_key="oauth-test")
    tokens = ShopifyConnector.exchange_code(callback_params=params, redirect_uri=REDIRECT_URI, http=http, config=config)
    assert tokens.external_account_id == account.account_id and tokens.display_name == "Contract Crafts"
    assert tokens.config == {"shop": account.account_id, "currency": "INR"}
    assert set(tokens.credentials) == {"access_token", "scope", "expires_at", "refresh_token", "refresh_token_expires_at"}
    connector = ShopifyConnector(ConnectionContext(connection_id="new", credentials=tokens.credentials,
                                                   config={**config, **tokens.config}))
    assert connector.test_connection()["account_id"] == account.account_id
    with pytest.raises(AuthError) as info:  # the code is single-use
        ShopifyConnector.exchange_code(callback_params=params, redirect_uri=REDIRECT_URI, http=http, config=config)
    assert "already used" in info.value.message


@pytest.mark.django_db
def test_expired_code_is_refused(client, sandbox_http, sandbox_base):
    account = make_account()
    url, config = start(account, sandbox_base)
    params = consent(client, url)
    sandbox.expire_authorization_codes(account)
    with pytest.raises(AuthError):
        ShopifyConnector.exchange_code(callback_params=params, redirect_uri=REDIRECT_URI,
                                       http=HttpClient(connection_key="oauth-test"), config=config)


@pytest.mark.django_db
def test_tampered_callbacks_are_refused(client, sandbox_base):
    account = make_account()
    url, config = start(account, sandbox_base)
    params = consent(client, url)
    ShopifyConnector.verify_callback(params=params, config=config)
    now = str(int(time.time()))
    cases = [
        {**params, "state": "someone-elses"},  # any changed parameter breaks the hmac
        {**params, "hmac": "0" * 64},
        {k: v for k, v in params.items() if k != "hmac"},
        signed({**{k: v for k, v in params.items() if k != "hmac"}, "shop": "other-shop.myshopify.com"}),
        signed({**{k: v for k, v in params.items() if k != "hmac"}, "shop": "evil.example.com"}),
        signed({**{k: v for k, v in params.items() if k != "hmac"}, "timestamp": str(int(now) - 3 * 86400)}),
        signed({k: v for k, v in params.items() if k not in ("hmac", "code")}),
    ]
    for case in cases:
        with pytest.raises(AuthError):
            ShopifyConnector.verify_callback(params=case, config=config)
    with pytest.raises(AuthError):  # a state issued for another shop
        ShopifyConnector.verify_callback(params=params, config={**config, "shop": "other-shop"})


@pytest.mark.django_db
def test_fewer_scopes_than_needed_is_refused(client, sandbox_http, sandbox_base):
    account = make_account()
    url, config = start(account, sandbox_base)
    params = consent(client, url, scope="read_orders,read_products")  # the merchant's page was tampered with
    with pytest.raises(AuthError) as info:
        ShopifyConnector.exchange_code(callback_params=params, redirect_uri=REDIRECT_URI,
                                       http=HttpClient(connection_key="oauth-test"), config=config)
    assert "write_inventory" in info.value.message


# --- webhooks ----------------------------------------------------------------------------------------------------


CALLBACK = "http://testserver/webhooks/shopify/contract/"


@pytest.mark.django_db
def test_register_is_idempotent_and_unregister_removes(sandbox_http, sandbox_base):
    account = make_account()
    connector = make_connector(account, sandbox_base)
    ids = connector.register_webhooks(callback_url=CALLBACK, secret="ignored")
    assert len(ids) == len(module.WEBHOOK_TOPICS) and all(i.startswith("gid://shopify/WebhookSubscription/") for i in ids)
    topics = sorted(r.data["topic"] for r in dataset.objects(account, "webhook"))
    assert topics == sorted(module.WEBHOOK_TOPICS)
    assert connector.register_webhooks(callback_url=CALLBACK, secret="ignored") == ids
    assert dataset.objects(account, "webhook").count() == len(ids)
    connector.unregister_webhooks(webhook_ids=[*ids, "gid://shopify/WebhookSubscription/1"])
    assert not dataset.objects(account, "webhook").exists()


@pytest.mark.django_db
def test_new_order_webhook_is_verified_and_parsed_like_polling(sandbox_http, sandbox_base, webhook_inbox):
    account = make_account()
    connector = make_connector(account, sandbox_base)
    connector.register_webhooks(callback_url=CALLBACK, secret="ignored")
    order = sandbox.create_order(account, skus=[("HAAT-0001", 2), ("HAAT-0005", 1)])
    assert len(webhook_inbox) == 1
    delivery = webhook_inbox[0]
    body, headers = delivery["body"], delivery["headers"]
    secret = settings.SHOPIFY_CLIENT_SECRET
    assert ShopifyConnector.verify_webhook(body=body, headers={k.lower(): v for k, v in headers.items()}, secret=secret)
    assert not ShopifyConnector.verify_webhook(body=body + b" ", headers=headers, secret=secret)
    assert not ShopifyConnector.verify_webhook(body=body, headers=headers, secret="another-secret")
    assert not ShopifyConnector.verify_webhook(body=body, headers={"X-Shopify-Topic": "orders/create"}, secret=secret)
    message = connector.parse_webhook(body=body, headers=headers)
    assert message.topic == "orders/create" and message.delivery_id == headers["X-Shopify-Webhook-Id"]
    pushed = message.orders[0]
    polled = next(o for o in collect_orders(connector, since=timezone.now() - timedelta(minutes=5))[0]
                  if o.external_id == order["id"])
    for field in ("external_id", "status", "currency", "total", "placed_at", "updated_at", "number", "buyer_name"):
        assert getattr(pushed, field) == getattr(polled, field), field
    assert pushed.shipping_address == polled.shipping_address
    assert [(ln.external_id, ln.sku, ln.quantity, ln.unit_price) for ln in pushed.lines] == [
        (ln.external_id, ln.sku, ln.quantity, ln.unit_price) for ln in polled.lines]


@pytest.mark.django_db
def test_other_topics(sandbox_http, sandbox_base, webhook_inbox):
    account = make_account()
    connector = make_connector(account, sandbox_base)
    product = dataset.objects(account, "product").order_by("key").first().data
    payload = {"id": int(product["id"]), "admin_graphql_api_id": f"gid://shopify/Product/{product['id']}",
               "title": product["title"], "variants": [
                   {"id": int(product["variant_id"]), "sku": product["sku"], "title": "Default Title", "price": "99.00",
                    "compare_at_price": "120.00", "inventory_item_id": 42, "inventory_quantity": 4, "barcode": ""},
                   {"id": 9, "sku": "", "title": "No SKU", "price": "1.00", "inventory_item_id": 43}]}
    headers = {"X-Shopify-Topic": "products/update", "X-Shopify-Webhook-Id": "w-1"}
    products = connector.parse_webhook(body=json.dumps(payload).encode(), headers=headers).products
    assert len(products) == 1
    assert (products[0].sku, products[0].price, products[0].mrp, products[0].quantity, products[0].currency) == (
        product["sku"], Decimal("99.00"), Decimal("120.00"), 4, "INR")
    assert products[0].external_refs["inventory_item_id"] == "gid://shopify/InventoryItem/42"
    for topic in ("app/uninstalled", "customers/data_request", "customers/redact", "shop/redact", "products/delete",
                  "orders/delete", "collections/update"):
        message = connector.parse_webhook(body=b'{"id": 1}', headers={"X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": "w"})
        assert message.action == topic and not message.orders and not message.products and message.payload == {"id": 1}
    connector.register_webhooks(callback_url=CALLBACK, secret="ignored")
    sandbox.uninstall_app(account)
    delivery = webhook_inbox[-1]
    assert connector.parse_webhook(body=delivery["body"], headers=delivery["headers"]).action == "app/uninstalled"


def test_unusable_deliveries_are_permanent_errors_keeping_the_body():
    connector = fake_connector()
    headers = {"X-Shopify-Topic": "orders/create", "X-Shopify-Webhook-Id": "w-2"}
    for body in (b'{"id": 1, "line_it', b'[1, 2]', b'{"id": 5, "line_items": [{"id": 1}]}'):
        with pytest.raises(PermanentError) as info:
            connector.parse_webhook(body=body, headers=headers)
        assert info.value.raw == body.decode()
    with pytest.raises(PermanentError):
        connector.parse_webhook(body=b"{}", headers={"X-Shopify-Topic": "orders/create"})


# --- pushes --------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_stock_push_finds_skus_checks_input_and_sets_the_primary_location(sandbox_http, sandbox_base):
    account = make_account()
    connector = make_connector(account, sandbox_base)
    skus = sorted(dataset.objects(account, "product").values_list("key", flat=True))[:3]
    results = connector.push_stock([
        StockUpdate(sku=skus[0], quantity=11), StockUpdate(sku="NOT-SOLD-HERE", quantity=1),
        StockUpdate(sku=skus[1], quantity=-2), StockUpdate(sku=skus[2], quantity=5), StockUpdate(sku=skus[2], quantity=6),
    ])
    assert [r.ok for r in results] == [True, False, False, False, True]
    assert "not on any product" in results[1].error and "0 or more" in results[2].error
    truth = {r.key: r.data["quantity"] for r in dataset.objects(account, "product")}
    assert (truth[skus[0]], truth[skus[2]]) == (11, 6)
    assert connector.http.stats.by_operation == {"products": 1, "stock": 2}  # one SKU lookup, the location, one mutation


@pytest.mark.django_db
def test_invalid_stock_sends_nothing(sandbox_http, sandbox_base):
    connector = make_connector(make_account(), sandbox_base)
    results = connector.push_stock([StockUpdate(sku="HAAT-0001", quantity=-1), StockUpdate(sku="HAAT-0002", quantity=True)])
    assert [r.ok for r in results] == [False, False] and connector.http.stats.requests == 0


@pytest.mark.django_db
def test_stock_push_resends_the_rest_when_shopify_refuses_one(sandbox_http, sandbox_base):
    account = make_account()
    connector = make_connector(account, sandbox_base)
    good = StockUpdate(sku="HAAT-0001", quantity=9)
    bad = StockUpdate(sku="HAAT-0002", quantity=2_000_000_000)
    results = connector.push_stock([good, bad])
    assert [r.ok for r in results] == [True, False] and "INVALID_QUANTITY_TOO_HIGH" in results[1].error
    assert dataset.objects(account, "product").get(key="HAAT-0001").data["quantity"] == 9


@pytest.mark.django_db
def test_price_push_checks_currency_and_keeps_mrp_when_not_given(sandbox_http, sandbox_base):
    account = make_account()
    connector = make_connector(account, sandbox_base)
    before = dataset.objects(account, "product").get(key="HAAT-0003").data
    results = connector.push_prices([
        PriceUpdate(sku="HAAT-0003", price=Decimal("210.5"), currency="INR"),
        PriceUpdate(sku="HAAT-0004", price=Decimal("10"), currency="USD"),
        PriceUpdate(sku="HAAT-0005", price=Decimal("-1"), currency="INR"),
    ])
    assert [r.ok for r in results] == [True, False, False]
    assert "sells in INR, not USD" in results[1].error
    after = dataset.objects(account, "product").get(key="HAAT-0003").data
    assert (after["price"], after["mrp"]) == ("210.50", before["mrp"])


@pytest.mark.django_db
def test_partial_then_complete_fulfilment(sandbox_http, sandbox_base):
    account = make_account()
    connector = make_connector(account, sandbox_base)
    orders, _ = collect_orders(connector, since=timezone.now() - timedelta(days=40))
    order = next(o for o in orders if o.status == OrderStatus.UNSHIPPED and len(o.lines) >= 2)
    first_line = order.lines[0]
    result = connector.push_fulfilment(FulfilmentData(
        order_external_id=order.external_id, carrier="India Post", tracking_number="EK1IN", shipped_at=datetime.now(UTC),
        lines=[FulfilmentLine(first_line.external_id, first_line.quantity)]))
    assert result.ok and result.external_id
    polled = next(o for o in collect_orders(connector, since=timezone.now() - timedelta(minutes=5))[0]
                  if o.external_id == order.external_id)
    assert polled.status == OrderStatus.UNSHIPPED and polled.raw_status.startswith("PARTIALLY_FULFILLED")
    result = connector.push_fulfilment(FulfilmentData(order_external_id=order.external_id, carrier="India Post",
                                                      tracking_number="EK2IN", shipped_at=datetime.now(UTC),
                                                      tracking_url="https://track.example/EK2IN"))
    assert result.ok
    neutral = dataset.objects(account, "order").get(key=order.external_id).data
    assert neutral["status"] == "shipped"
    assert neutral["tracking"] == {"carrier": "India Post", "number": "EK2IN", "url": "https://track.example/EK2IN"}
    again = connector.push_fulfilment(FulfilmentData(order_external_id=order.external_id, carrier="India Post",
                                                     tracking_number="EK3IN", shipped_at=datetime.now(UTC)))
    assert not again.ok and "Nothing is left to fulfil" in again.error


@pytest.mark.django_db
def test_fulfilment_of_unknown_order_or_line(sandbox_http, sandbox_base):
    account = make_account()
    connector = make_connector(account, sandbox_base)
    missing = connector.push_fulfilment(FulfilmentData(order_external_id="1", carrier="x", tracking_number="y",
                                                       shipped_at=datetime.now(UTC)))
    assert not missing.ok and "not in this Shopify store" in missing.error
    order = next(r.data for r in dataset.objects(account, "order").order_by("key") if r.data["status"] == "unshipped")
    wrong_line = connector.push_fulfilment(FulfilmentData(
        order_external_id=order["id"], carrier="x", tracking_number="y", shipped_at=datetime.now(UTC),
        lines=[FulfilmentLine("999999", 1)]))
    assert not wrong_line.ok and "999999" in wrong_line.error
    assert dataset.objects(account, "order").get(key=order["id"]).data["status"] == "unshipped"


# --- listings ------------------------------------------------------------------------------------------------------


def draft(**overrides) -> ListingDraft:
    fields = {"sku": "SHG-NEW-1", "title": "Kantha stole", "description": "Hand-stitched.\n\nCotton & silk <soft>.",
              "price": Decimal("850"), "currency": "INR", "quantity": 7, "brand": "Asha SHG", "barcode": "8901234567890",
              "mrp": Decimal("999.5"), "product_type": "Stoles", "images": ["https://cdn.example.in/stole.jpg"]}
    return ListingDraft(**{**fields, **overrides})


def product_rows(account) -> dict[str, dict]:
    return {r.key: r.data for r in dataset.objects(account, "product")}


@pytest.mark.parametrize("name, variables", [
    ("PRODUCT_CREATE_MUTATION", {"product": {"title": "x"}}),
    ("LISTING_VARIANT_MUTATION", {"productId": "gid://shopify/Product/1", "variants": []}),
    ("PRODUCT_DELETE_MUTATION", {"input": {"id": "gid://shopify/Product/1"}}),
])
def test_listing_mutations_cost_what_the_connector_declares(name, variables):
    document = parse(getattr(module, name))
    assert sandbox.query_cost(sandbox.admin_schema(), document, document.definitions[0], variables) == module.MUTATION_COST


@pytest.mark.django_db
def test_create_listing_makes_a_priced_stocked_product_that_later_syncs_find(sandbox_http, sandbox_base):
    account = make_account()
    connector = make_connector(account, sandbox_base)
    assert module.Capability.LISTING_CREATE in connector.capabilities
    before = product_rows(account)
    result = connector.create_listing(draft())
    assert result.ok and result.state == "active", result.error
    new = {k: v for k, v in product_rows(account).items() if k not in before}
    assert len(new) == 1
    made = next(iter(new.values()))
    assert (made["sku"], made["price"], made["mrp"], made["barcode"], made["quantity"], made["tracked"]) == (
        "SHG-NEW-1", "850.00", "999.50", "8901234567890", 7, True)
    assert (made["title"], made["vendor"], made["category"], made["status"]) == ("Kantha stole", "Asha SHG", "Stoles", "ACTIVE")
    assert made["description_html"] == "<p>Hand-stitched.</p><p>Cotton &amp; silk &lt;soft&gt;.</p>"
    assert made["images"] == ["https://cdn.example.in/stole.jpg"]
    assert result.external_refs == {"product_id": f"gid://shopify/Product/{made['id']}",
                                    "variant_id": f"gid://shopify/ProductVariant/{made['variant_id']}",
                                    "inventory_item_id": sandbox._inventory_item_id(made)}
    # productCreate, the variant, the location and the stock; one SKU lookup first.
    assert connector.http.stats.by_operation == {"products": 1, "listings": 2, "stock": 2}
    # What polling and the pushes see afterwards: the same SKU, price and stock.
    synced = [p for p in collect_products(connector) if p.sku == "SHG-NEW-1"]
    assert [(p.price, p.mrp, p.quantity, p.external_refs) for p in synced] == [
        (Decimal("850.00"), Decimal("999.50"), 7, result.external_refs)]
    assert connector.push_stock([StockUpdate(sku="SHG-NEW-1", quantity=3)])[0].ok
    assert product_rows(account)[f"product-{made['id']}"]["quantity"] == 3


def collect_products(connector) -> list:
    items, cursor = [], None
    while True:
        page = connector.fetch_products(cursor=cursor)
        items += page.items
        cursor = page.next_cursor
        if not cursor:
            return items


@pytest.mark.django_db
def test_listing_without_mrp_above_price_has_no_compare_at_price(sandbox_http, sandbox_base):
    account = make_account()
    result = make_connector(account, sandbox_base).create_listing(draft(mrp=Decimal("850"), barcode="", images=[]))
    assert result.ok
    made = next(d for d in product_rows(account).values() if d["sku"] == "SHG-NEW-1")
    assert (made["mrp"], made["barcode"], made["images"]) == (None, None, [])


@pytest.mark.django_db
def test_existing_sku_is_not_listed_twice(sandbox_http, sandbox_base):
    account = make_account()
    connector = make_connector(account, sandbox_base)
    before = product_rows(account)
    result = connector.create_listing(draft(sku="HAAT-0002"))
    assert not result.ok and "already has a product with SKU HAAT-0002" in result.error
    assert result.external_refs["product_id"] == f"gid://shopify/Product/{before['HAAT-0002']['id']}"
    assert product_rows(account) == before


@pytest.mark.django_db
@pytest.mark.parametrize("overrides, words", [
    ({"sku": " "}, "SKU and a title"),
    ({"title": ""}, "SKU and a title"),
    ({"price": Decimal("0")}, "positive price"),
    ({"price": Decimal("NaN")}, "positive price"),
    ({"mrp": Decimal("10")}, "MRP cannot be below"),
    ({"quantity": -1}, "whole number"),
    ({"quantity": True}, "whole number"),
    ({"images": ["file:///etc/passwd"]}, "http(s)"),
])
def test_bad_drafts_send_nothing(sandbox_http, sandbox_base, overrides, words):
    connector = make_connector(make_account(), sandbox_base)
    result = connector.create_listing(draft(**overrides))
    assert not result.ok and result.state == "rejected" and words in result.error
    assert connector.http.stats.requests == 0


@pytest.mark.django_db
def test_listing_in_another_currency_is_refused_before_any_write(sandbox_http, sandbox_base):
    account = make_account()
    connector = make_connector(account, sandbox_base)
    before = product_rows(account)
    result = connector.create_listing(draft(currency="USD"))
    assert not result.ok and "sells in INR" in result.error
    assert product_rows(account) == before and connector.http.stats.requests == 0


@pytest.mark.django_db
def test_refused_stock_deletes_the_half_made_product(sandbox_http, sandbox_base):
    account = make_account()
    connector = make_connector(account, sandbox_base, location_id="123")  # a location the shop does not have
    before = product_rows(account)
    result = connector.create_listing(draft())
    assert not result.ok and "stock not set" in result.error and "INVALID_LOCATION" in result.error
    assert "could not be deleted" not in result.error
    assert product_rows(account) == before


@pytest.mark.django_db
def test_failure_after_create_deletes_the_product_and_raises(sandbox_http, sandbox_base, monkeypatch):
    account = make_account()
    connector = make_connector(account, sandbox_base)
    before = product_rows(account)

    def lost(*args, **kwargs):
        raise TransientError("Shopify failed to answer")

    monkeypatch.setattr(connector, "_finish_listing", lost)
    with pytest.raises(TransientError, match="Shopify failed to answer"):
        connector.create_listing(draft())
    assert product_rows(account) == before


@pytest.mark.django_db
def test_a_product_that_cannot_be_deleted_is_named(sandbox_http, sandbox_base, monkeypatch):
    account = make_account()
    connector = make_connector(account, sandbox_base, location_id="123")
    real = connector._graphql

    def refuse_delete(query, variables, **kwargs):
        if query is module.PRODUCT_DELETE_MUTATION:
            variables = {"input": {"id": "gid://shopify/Product/1"}}  # not this product: Shopify says it does not exist
        return real(query, variables, **kwargs)

    monkeypatch.setattr(connector, "_graphql", refuse_delete)
    result = connector.create_listing(draft())
    assert not result.ok and "could not be deleted" in result.error and "Product does not exist" in result.error
    assert any(d["title"] == "Kantha stole" for d in product_rows(account).values())


@pytest.mark.django_db
def test_sandbox_product_mutations_answer_with_shopifys_user_errors():
    account = make_account()
    grant = {"scope": ",".join(settings.SHOPIFY_SCOPES)}
    blank = sandbox.execute_graphql(account, grant, module.PRODUCT_CREATE_MUTATION, {"product": {"title": " "}}, None)
    assert blank["data"]["productCreate"] == {"product": None, "userErrors": [{"field": ["title"],
                                                                               "message": "Title can't be blank"}]}
    made = sandbox.execute_graphql(account, grant, module.PRODUCT_CREATE_MUTATION, {"product": {"title": "Jute bag"}},
                                   None)["data"]["productCreate"]["product"]
    variant = made["variants"]["nodes"][0]["id"]
    quantities = sandbox.execute_graphql(account, grant, module.LISTING_VARIANT_MUTATION, {
        "productId": made["id"], "variants": [{"id": variant, "inventoryQuantities": [
            {"availableQuantity": 1, "locationId": sandbox._location_id(account)}]}]}, None)
    assert quantities["data"]["productVariantsBulkUpdate"]["userErrors"][0]["code"] == \
        "NO_INVENTORY_QUANTITIES_ON_VARIANTS_UPDATE"
    gone = sandbox.execute_graphql(account, grant, module.PRODUCT_DELETE_MUTATION, {"input": {"id": made["id"]}}, None)
    assert gone["data"]["productDelete"] == {"deletedProductId": made["id"], "userErrors": []}
    again = sandbox.execute_graphql(account, grant, module.PRODUCT_DELETE_MUTATION, {"input": {"id": made["id"]}}, None)
    assert again["data"]["productDelete"]["userErrors"] == [{"field": ["id"], "message": "Product does not exist"}]
    read_only = sandbox.execute_graphql(account, {"scope": "read_products"}, module.PRODUCT_CREATE_MUTATION,
                                        {"product": {"title": "Jute bag"}}, None)
    assert read_only["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"


@pytest.mark.django_db
def test_catalog_listing_is_published_to_the_store_and_goes_live(sandbox_http, sandbox_base):
    from apps.catalog.models import Listing
    from apps.catalog.services import listing_create, listing_publish, product_create
    from tests.factories import make_connection, make_shg

    account = make_account()
    shg = make_shg()
    variant = product_create(shg=shg, title="Madhubani coaster set", variants=[
        {"sku": "MADHU-1", "price": "420", "mrp": "500"}]).variants.get()
    connection = make_connection(shg, platform="shopify", credentials=sandbox.connection_credentials(account),
                                 external_account_id=account.account_id,
                                 config=sandbox.connection_config(account, sandbox_base))
    listing = listing_publish(listing=listing_create(variant=variant, connection=connection))
    assert listing.state == Listing.State.LIVE, listing.last_error
    made = next(d for d in product_rows(account).values() if d["sku"] == "MADHU-1")
    assert listing.external_id == listing.external_refs["product_id"] == f"gid://shopify/Product/{made['id']}"
    assert (made["title"], made["price"], made["mrp"], made["quantity"]) == ("Madhubani coaster set", "420.00",
                                                                              "500.00", listing.last_pushed_quantity)
