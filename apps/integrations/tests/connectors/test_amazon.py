"""The Amazon connector against the in-process Amazon sandbox: the shared contract plus Amazon's own cases.

The connector runs unchanged: python-amazon-sp-api builds the requests, Haat's policy transport carries
them to `httpx.WSGITransport` over this process's Django app. A few cases need answers the sandbox never
gives (Amazon's own 429 pacing header values, a malformed 200, the official `x-amzn-api-sandbox`
examples): those use `httpx.MockTransport` under the same policy transport.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from apps.accounts.models import SHG, Organization
from apps.integrations import services
from apps.integrations.checks import connector_capabilities_implemented
from apps.integrations.connectors.amazon import AmazonConnector, classify, operation_for
from apps.integrations.connectors.base import (
    AuthKind,
    Capability,
    ConnectionContext,
    FulfilmentChannel,
    FulfilmentData,
    FulfilmentLine,
    ListingDraft,
    OrderStatus,
    PriceUpdate,
    StockUpdate,
)
from apps.integrations.connectors.errors import AuthError, PermanentError, RateLimited
from apps.integrations.http import HttpClient
from apps.integrations.models import Connection
from apps.integrations.tests.contract import ConnectorContract, collect_orders, collect_products
from apps.sandbox import dataset
from apps.sandbox.http import force_faults
from apps.sandbox.platforms import amazon as sandbox
from apps.sandbox.tests.amazon_specs import SPECS, spec_validator
from apps.sandbox.transport import sandbox_wsgi_app

BASE = "http://testserver/sandbox"
SELLER = "A2HAATSAKHI01"
INDIA = "A21TJRUUN4KGV"




class Recorder(httpx.BaseTransport):
    """Keeps every request the connector sends, then passes it to the in-process sandbox."""

    def __init__(self):
        self.inner = httpx.WSGITransport(app=sandbox_wsgi_app())
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.inner.handle_request(request)

    def bodies(self, method: str) -> list[dict]:
        return [json.loads(r.content) for r in self.requests if r.method == method]


def make_connector(account, *, credentials=None, config=None, saved=None, transport=None) -> AmazonConnector:
    context = ConnectionContext(
        connection_id=f"amazon-test-{account.pk}-{time.monotonic_ns()}",
        credentials=credentials if credentials is not None else sandbox.connection_credentials(account),
        config={**sandbox.connection_config(account, BASE), "page_size": 25, **(config or {})},
        external_account_id=account.account_id,
        save_credentials=(saved.append if saved is not None else (lambda creds: None)),
    )
    return AmazonConnector(context, transport=transport or httpx.WSGITransport(app=sandbox_wsgi_app()))


def fresh_credentials() -> dict:
    return {"refresh_token": "Atzr|test", "access_token": "Atza|test",
            "access_token_expires_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}


def mock_connector(handler, *, config=None) -> AmazonConnector:
    """A connector over `handler` (an httpx.MockTransport function), with a valid-looking token."""
    context = ConnectionContext(connection_id=f"amazon-mock-{time.monotonic_ns()}", credentials=fresh_credentials(),
                                config={"marketplace_ids": [INDIA], **(config or {})}, external_account_id=SELLER)
    return AmazonConnector(context, transport=httpx.MockTransport(handler))


class TestAmazonConnectorContract(ConnectorContract):
    platform = "amazon"

    def make_account(self):
        return sandbox.create_demo_account(SELLER, "Sakhi Crafts (sandbox)")

    def make_connector(self, account, base, *, bad_credentials=False):
        credentials = sandbox.connection_credentials(account)
        if bad_credentials:
            credentials = {"refresh_token": "Atzr|not-a-token-amazon-issued"}
        context = ConnectionContext(connection_id=f"contract-{account.pk}", credentials=credentials,
                                    config={**sandbox.connection_config(account, base), "page_size": self.page_size},
                                    external_account_id=account.account_id)
        return AmazonConnector(context, transport=httpx.WSGITransport(app=sandbox_wsgi_app()))

    def external_order_id(self, neutral):
        return sandbox.amazon_order_id(neutral["id"])

    def expected_status(self, neutral):
        # Amazon's order status ends at SHIPPED; delivery and return show only in package status, and the
        # Orders API gives packages for merchant-fulfilled orders only. An FBA order that was delivered or
        # returned therefore reads SHIPPED: Amazon has no word for it in this API.
        if neutral["fulfilment_channel"] == "marketplace" and neutral["status"] in ("delivered", "returned"):
            return OrderStatus.SHIPPED
        return OrderStatus(neutral["status"])


@pytest.fixture
def account(db):
    account = sandbox.create_demo_account(SELLER, "Sakhi Crafts (sandbox)")
    dataset.ensure_seeded(account)
    return account


@pytest.fixture
def connector(account):
    return make_connector(account)


def long_ago():
    return timezone.now() - timedelta(days=40)


def truth(account) -> dict[str, dict]:
    return {sandbox.amazon_order_id(o.key): o.data for o in dataset.objects(account, "order")}


# --- description ----------------------------------------------------------------------------------------------


def _usage_plan(spec_file: str, path: str, method: str) -> tuple[float, int]:
    spec = json.loads((SPECS / spec_file).read_text())
    rate, burst = re.search(r"\| ([\d.]+) \| (\d+) \|", spec["paths"][path][method]["description"]).groups()
    return float(rate), int(burst)


def test_descriptor_is_truthful():
    cls = AmazonConnector
    assert cls.auth_kind == AuthKind.OAUTH
    assert cls.capabilities == {Capability.ORDERS, Capability.PRODUCTS, Capability.STOCK_PUSH, Capability.PRICE_PUSH,
                                Capability.LISTING_CREATE, Capability.FULFILMENT_PUSH, Capability.MARKETPLACE_INVENTORY}
    assert Capability.WEBHOOKS not in cls.capabilities, "Amazon notifies through SQS/EventBridge, not HTTP webhooks"
    assert cls.orders_sorted_by_update is False
    (field,) = cls.oauth_start_fields
    assert field.stored_in == "config" and (INDIA, "Amazon.in (India)") in field.choices
    assert not [e for e in connector_capabilities_implemented(None) if "Amazon" in e.msg]


@pytest.mark.parametrize(("operation", "spec_file", "path", "method"), [
    ("searchOrders", "orders_2026-01-01.json", "/orders/2026-01-01/orders", "get"),
    ("confirmShipment", "ordersV0.json", "/orders/v0/orders/{orderId}/shipmentConfirmation", "post"),
    ("getInventorySummaries", "fbaInventory.json", "/fba/inventory/v1/summaries", "get"),
    ("searchListingsItems", "listingsItems_2021-08-01.json", "/listings/2021-08-01/items/{sellerId}", "get"),
    ("getListingsItem", "listingsItems_2021-08-01.json", "/listings/2021-08-01/items/{sellerId}/{sku}", "get"),
    ("patchListingsItem", "listingsItems_2021-08-01.json", "/listings/2021-08-01/items/{sellerId}/{sku}", "patch"),
    ("putListingsItem", "listingsItems_2021-08-01.json", "/listings/2021-08-01/items/{sellerId}/{sku}", "put"),
])
def test_rate_limits_are_amazons_usage_plans(operation, spec_file, path, method):
    rate, burst = _usage_plan(spec_file, path, method)
    limit = AmazonConnector.rate_limits[operation]
    assert (limit.rate, limit.burst) == (rate, burst)


def test_requests_are_named_by_operation():
    assert operation_for("GET", "/sandbox/amazon/orders/2026-01-01/orders") == "searchOrders"
    assert operation_for("POST", "/orders/v0/orders/402-1-2/shipmentConfirmation") == "confirmShipment"
    assert operation_for("PATCH", "/listings/2021-08-01/items/A1/SKU/WITH/SLASH") == "patchListingsItem"
    assert operation_for("GET", "/listings/2021-08-01/items/A1") == "searchListingsItems"
    assert operation_for("POST", "/auth/o2/token") == "lwaToken"


def test_region_follows_the_marketplace():
    context = ConnectionContext(connection_id="x", credentials={}, config={"marketplace_ids": ["ATVPDKIKX0DER"]})
    assert AmazonConnector.default_base_url(context) == "https://sellingpartnerapi-na.amazon.com"
    context.config = {"marketplace_id": INDIA}
    assert AmazonConnector.default_base_url(context) == "https://sellingpartnerapi-eu.amazon.com"
    context.config = {"marketplace_ids": [INDIA, "ATVPDKIKX0DER"]}  # a connection spanning two regions: EU is home
    assert AmazonConnector.default_base_url(context) == "https://sellingpartnerapi-eu.amazon.com"
    assert AmazonConnector.regions(context.config) == ["eu", "na"]
    context.config = {"marketplace_ids": ["A19VAU5U5O7RUX"]}
    with pytest.raises(PermanentError, match="Unknown"):
        AmazonConnector.default_base_url(context)


# --- orders ---------------------------------------------------------------------------------------------------


def test_orders_come_in_pages_of_the_configured_size(account):
    recorder = Recorder()
    connector = make_connector(account, transport=recorder, config={"page_size": 25})
    orders, pages = collect_orders(connector, since=long_ago())
    assert pages == 3 and len(orders) == 60
    queries = [parse_qs(urlsplit(str(r.url)).query) for r in recorder.requests if "orders/2026-01-01" in str(r.url)]
    assert all(q["maxResultsPerPage"] == ["25"] for q in queries)
    assert [("paginationToken" in q) for q in queries] == [False, True, True]
    assert queries[0]["includedData"] == ["BUYER,RECIPIENT,PROCEEDS,FULFILLMENT,PACKAGES"]
    assert queries[0]["marketplaceIds"] == [INDIA]


def test_page_size_is_capped_at_amazons_maximum(account):
    recorder = Recorder()
    connector = make_connector(account, transport=recorder, config={"page_size": 500})
    page = connector.fetch_orders(since=long_ago())
    assert len(page.items) == 60 and page.next_cursor is None
    assert "maxResultsPerPage=100" in str(recorder.requests[-1].url)


def test_cursor_carries_its_own_query(account, connector):
    first = connector.fetch_orders(since=long_ago())
    # Amazon refuses a paginationToken with other parameters; the cursor keeps the first call's lastUpdatedAfter.
    second = connector.fetch_orders(since=timezone.now(), cursor=first.next_cursor)
    assert second.items and not {o.external_id for o in first.items} & {o.external_id for o in second.items}


def test_unreadable_cursor_is_a_clear_error(connector):
    with pytest.raises(PermanentError, match="cursor"):
        connector.fetch_orders(since=long_ago(), cursor="not-a-cursor")


def test_delivery_and_returns_come_from_package_status(account, connector):
    orders, _ = collect_orders(connector, since=long_ago())
    known = truth(account)
    seen = set()
    for order in orders:
        neutral = known[order.external_id]
        if neutral["fulfilment_channel"] == "merchant" and neutral["status"] == "delivered":
            assert (order.status, order.raw_status) == (OrderStatus.DELIVERED, "SHIPPED:DELIVERED")
            seen.add("delivered")
        if neutral["fulfilment_channel"] == "merchant" and neutral["status"] == "returned":
            assert (order.status, order.raw_status) == (OrderStatus.RETURNED, "SHIPPED:RETURNED_TO_SELLER")
            seen.add("returned")
        if neutral["fulfilment_channel"] == "marketplace":
            assert order.fulfilment_channel == FulfilmentChannel.MARKETPLACE
            seen.add("fba")
    assert {"delivered", "fba"} <= seen


def test_orders_carry_buyer_address_and_exact_money(account, connector):
    orders, _ = collect_orders(connector, since=long_ago())
    order = next(o for o in orders if o.status == OrderStatus.UNSHIPPED and o.fulfilment_channel == "merchant")
    neutral = truth(account)[order.external_id]
    assert order.buyer_name == neutral["buyer"]["name"]
    assert order.shipping_address["postcode"] == neutral["address"]["postcode"]
    assert order.shipping_address["phone"] == neutral["buyer"]["phone"]
    assert sum(line.unit_price * line.quantity for line in order.lines) == order.total
    assert all(isinstance(line.unit_price, Decimal) for line in order.lines)


def test_official_sandbox_examples_are_read():
    """The static examples in Amazon's own model (orders_2026-01-01.json) go through the connector's mapping."""
    spec = json.loads((SPECS / "orders_2026-01-01.json").read_text())
    examples = spec["paths"]["/orders/2026-01-01/orders"]["get"]["responses"]["200"]["x-amzn-api-sandbox"]["static"]
    answer = examples[0]["response"]

    def handler(request):
        return httpx.Response(200, json=answer, headers={"x-amzn-RateLimit-Limit": "0.0056"})

    page = mock_connector(handler).fetch_orders(since=datetime(2024, 12, 25, tzinfo=UTC))
    (order,) = page.items
    assert order.external_id == "250-1234567-8901234"
    assert (order.status, order.currency, order.total) == (OrderStatus.SHIPPED, "JPY", Decimal("19940"))
    assert order.fulfilment_channel == FulfilmentChannel.MARKETPLACE
    assert [(ln.sku, ln.quantity, ln.unit_price) for ln in order.lines] == [
        ("ECHO-DOT-4-JP-CHARCOAL", 1, Decimal("5980")), ("FIRE-TV-4K-MAX-JP", 2, Decimal("6980"))]
    assert page.next_cursor, "the example carries a nextToken"
    for example in examples[1:]:
        result = mock_connector(lambda request, body=example["response"]: httpx.Response(200, json=body)).fetch_orders(
            since=datetime(2024, 12, 20, tzinfo=UTC))
        assert all(o.lines and o.total > 0 for o in result.items)


# --- rate limits, errors ------------------------------------------------------------------------------------------


def test_429_waits_for_the_rate_amazon_announces(monkeypatch, settings):
    settings.HTTP_MAX_BACKOFF = 30
    slept = []
    monkeypatch.setattr(time, "sleep", slept.append)
    answers = [
        httpx.Response(429, json={"errors": [{"code": "QuotaExceeded", "message": "You exceeded your quota for the "
                                              "requested resource.", "details": ""}]},
                       headers={"x-amzn-RateLimit-Limit": "0.5", "x-amzn-RequestId": "r1"}),
        httpx.Response(200, json={"payload": [{"marketplace": {"id": INDIA, "name": "Amazon.in"},
                                               "participation": {"isParticipating": True, "hasSuspendedListings": False},
                                               "storeName": "Sakhi"}]},
                       headers={"x-amzn-RateLimit-Limit": "0.5"}),
    ]
    connector = mock_connector(lambda request: answers.pop(0))
    info = connector.test_connection()
    assert info["display_name"] == "Sakhi"
    assert 2.0 in slept, "one request's worth of quota at 0.5 req/s comes back after 2 s"
    assert connector.http.stats.rate_limited == 1 and connector.http.stats.retries == 1
    # The next calls are paced at the rate Amazon said applies to this seller, not the default table.
    assert connector.http.rate_limits["getMarketplaceParticipations"].rate == 0.5
    assert AmazonConnector.rate_limits["getMarketplaceParticipations"].rate == 0.016


def test_persistent_quota_exceeded_from_the_sandbox_raises_with_amazons_pace(connector):
    connector.http.max_retries = 1
    force_faults("429", 5)
    with pytest.raises(RateLimited) as info:
        connector.fetch_orders(since=long_ago())
    assert info.value.retry_after == pytest.approx(1 / 0.0056)
    assert "QuotaExceeded" in info.value.message


def test_malformed_success_body_is_permanent_and_keeps_raw():
    body = b'{"orders": [{"orderId": "402-'
    connector = mock_connector(lambda request: httpx.Response(200, content=body,
                                                              headers={"content-type": "application/json"}))
    with pytest.raises(PermanentError) as info:
        connector.fetch_orders(since=long_ago())
    assert info.value.raw == body.decode()


def test_truncated_listing_page_is_permanent(connector):
    force_faults("truncate", 1)
    with pytest.raises(PermanentError) as info:
        connector.fetch_products()
    assert info.value.raw and info.value.raw.startswith('{"')


def test_amazons_error_words_reach_the_error():
    def handler(request):
        return httpx.Response(400, json={"errors": [{"code": "InvalidInput", "message": "Invalid Input",
                                                     "details": "lastUpdatedAfter is in the future"}]})

    with pytest.raises(PermanentError) as info:
        mock_connector(handler).fetch_orders(since=long_ago())
    assert "InvalidInput" in info.value.message and "lastUpdatedAfter is in the future" in info.value.message
    assert json.loads(info.value.raw)["errors"][0]["code"] == "InvalidInput"


def test_classify_reads_retry_after_before_the_rate_header():
    response = httpx.Response(429, headers={"Retry-After": "7", "x-amzn-RateLimit-Limit": "2"}, content=b"{}")
    assert classify(response, "searchOrders").retry_after == 7


# --- tokens ---------------------------------------------------------------------------------------------------------


def test_expired_access_token_is_refreshed_and_persisted(account):
    saved = []
    connector = make_connector(account, saved=saved)
    old = connector.context.credentials["regions"]["eu"]["access_token"]
    sandbox.expire_access_tokens(account)  # Amazon's clock says expired, the stored expiry does not know yet
    page = connector.fetch_orders(since=long_ago())
    assert page.items
    fresh = saved[-1]["regions"]["eu"]
    assert fresh["access_token"] != old and fresh["refresh_token"] == account.secrets["refresh_token"]
    assert connector.http.stats.by_operation == {"searchOrders": 2, "lwaToken": 1}


def test_token_near_expiry_is_refreshed_before_calling(account):
    saved = []
    credentials = sandbox.connection_credentials(account)
    credentials["regions"]["eu"]["access_token_expires_at"] = (datetime.now(UTC) + timedelta(seconds=20)).isoformat()
    connector = make_connector(account, credentials=credentials, saved=saved)
    connector.test_connection()
    assert connector.http.stats.by_operation == {"lwaToken": 1, "getMarketplaceParticipations": 1}
    expires_at = saved[-1]["regions"]["eu"]["access_token_expires_at"]
    assert datetime.fromisoformat(expires_at) > datetime.now(UTC) + timedelta(minutes=50)


def test_revoked_authorisation_is_auth_error_without_secrets(account):
    connector = make_connector(account)
    secret_values = [account.secrets["refresh_token"], connector.context.credentials["regions"]["eu"]["access_token"],
                     django_settings.AMAZON_LWA_CLIENT_SECRET]
    sandbox.revoke_authorization(account)
    with pytest.raises(AuthError) as info:
        connector.fetch_orders(since=long_ago())
    assert "invalid_grant" in info.value.message and "Authorise Haat again" in info.value.message
    assert not any(value in str(info.value) or value in (info.value.raw or "") for value in secret_values)
    assert connector.http.stats.by_operation == {"searchOrders": 1, "lwaToken": 1}, "one refresh, then give up"


def test_revoked_authorisation_puts_the_connection_in_needs_reauth(account, sandbox_http):
    federation = Organization.objects.create(name="Amazon test federation")
    shg = SHG.objects.create(federation=federation, name="Sakhi", registration_number="MH-PUN-2026-0001",
                             state="Maharashtra", district="Pune", contact_person="Sunita", phone="+91 98220 41234")
    connection = Connection.objects.create(
        shg=shg, platform="amazon", display_name="Amazon.in", external_account_id=account.account_id,
        credentials=sandbox.connection_credentials(account), config=sandbox.connection_config(account, BASE),
        status=Connection.Status.ACTIVE,
    )
    assert services.connection_test(connection=connection).ok
    sandbox.revoke_authorization(account)
    outcome = services.connection_test(connection=connection)
    connection.refresh_from_db()
    assert not outcome.ok and connection.status == Connection.Status.NEEDS_REAUTH


def test_refused_app_credentials_are_permanent_not_reauth(account, monkeypatch):
    connector = make_connector(account, credentials={"refresh_token": account.secrets["refresh_token"]})
    # Amazon expired the old client secret (rotation) while Haat's settings still hold it.
    rotated = {**sandbox.registered_app(), "client_secret": "amzn1.oa2-cs.v1.rotated-by-amazon"}
    monkeypatch.setattr(sandbox, "registered_app", lambda: rotated)
    with pytest.raises(PermanentError, match="AMAZON_LWA_CLIENT_SECRET") as info:
        connector.test_connection()
    assert not isinstance(info.value, AuthError)


def test_a_broken_token_answer_keeps_no_token_in_the_error():
    leaked = b'{"access_token":"Atza|IwEBIsecretsecretsecret","refresh_token":"Atzr|IwEBImoresecret","expires_in":36'

    def handler(request):
        return httpx.Response(200, content=leaked, headers={"content-type": "application/json"})

    context = ConnectionContext(connection_id="lwa-broken", credentials={"refresh_token": "Atzr|stored"},
                                config={"marketplace_ids": [INDIA]}, external_account_id=SELLER)
    with pytest.raises(PermanentError) as info:
        AmazonConnector(context, transport=httpx.MockTransport(handler)).refresh()
    assert info.value.raw and "secret" not in info.value.raw and "secret" not in str(info.value)


def test_missing_refresh_token_is_auth_error(account):
    connector = make_connector(account, credentials={})
    with pytest.raises(AuthError, match="authorise Haat again"):
        connector.test_connection()
    assert connector.http.stats.requests == 0


def test_config_alone_names_the_seller(account):
    """A connection built only from connection_config/credentials (as seed_demo does) knows its seller."""
    context = ConnectionContext(connection_id="config-only", credentials=sandbox.connection_credentials(account),
                                config=sandbox.connection_config(account, BASE))
    connector = AmazonConnector(context, transport=httpx.WSGITransport(app=sandbox_wsgi_app()))
    assert connector.test_connection()["seller_id"] == account.account_id
    assert collect_products(connector)


def test_test_connection_refuses_a_marketplace_the_seller_does_not_sell_on(account):
    connector = make_connector(account, config={"marketplace_ids": ["A1F83G8C2ARO7P"]})
    with pytest.raises(PermanentError, match=r"does not sell on Amazon.co.uk .*it sells on Amazon.in"):
        connector.test_connection()


# --- OAuth: the website authorization workflow -----------------------------------------------------------------------


def test_authorization_url_carries_state_and_the_app(settings):
    settings.AMAZON_AUTH_DRAFT_APP = False
    url = AmazonConnector.authorization_url(state="s-123", redirect_uri="https://haat.example/connect/amazon/callback",
                                            params={"marketplace_id": INDIA}, config={"marketplace_id": INDIA})
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "sellercentral.amazon.in", "/apps/authorize/consent")
    assert query == {"application_id": [settings.AMAZON_SP_APP_ID], "state": ["s-123"],
                     "redirect_uri": ["https://haat.example/connect/amazon/callback"]}
    settings.AMAZON_AUTH_DRAFT_APP = True
    url = AmazonConnector.authorization_url(state="s", redirect_uri="https://h/cb", params={"marketplace_id": "A1F83G8C2ARO7P"},
                                            config={})
    assert urlsplit(url).netloc == "sellercentral-europe.amazon.com" and parse_qs(urlsplit(url).query)["version"] == ["beta"]


def test_authorization_url_refuses_an_unknown_marketplace():
    with pytest.raises(PermanentError):
        AmazonConnector.authorization_url(state="s", redirect_uri="https://h/cb", params={"marketplace_id": "XX"}, config={})


def _consent(client, account, url: str, decision: str = "authorize") -> dict[str, str]:
    """Sign in to the sandbox's Seller Central, press a button, and return the callback's query parameters."""
    parts = urlsplit(url)
    page = client.get(parts.path, dict(parse_qs(parts.query)))
    assert page.status_code == 200 and b"Authorize" in page.content
    form = {k: v[0] for k, v in parse_qs(parts.query).items()}
    answer = client.post(parts.path, {**form, "decision": decision, "selling_partner_id": account.account_id})
    assert answer.status_code == 302
    location = urlsplit(answer["Location"])
    return {k: v[0] for k, v in parse_qs(location.query).items()}


@pytest.fixture
def oauth_start(account):
    config = {"marketplace_id": INDIA, "base_url": f"{BASE}/amazon"}
    redirect_uri = "http://testserver/connections/oauth/amazon/callback"
    url = AmazonConnector.authorization_url(state="state-xyz", redirect_uri=redirect_uri, params={"marketplace_id": INDIA},
                                            config=config)
    return url, redirect_uri, config


def test_consent_round_trip_gives_a_working_connection(client, account, sandbox_http, oauth_start):
    url, redirect_uri, config = oauth_start
    assert url.startswith(f"{BASE}/amazon/eu/apps/authorize/consent?"), "the consent page of Amazon.in's region"
    callback = _consent(client, account, url)
    assert callback["state"] == "state-xyz" and callback["selling_partner_id"] == account.account_id
    AmazonConnector.verify_callback(params=callback, config=config)
    tokens = AmazonConnector.exchange_code(callback_params=callback, redirect_uri=redirect_uri,
                                           http=HttpClient(connection_key="oauth-test"), config=config)
    assert tokens.external_account_id == account.account_id
    assert tokens.config == {"marketplace_ids": [INDIA], "selling_partner_id": account.account_id,
                             "selling_partner_ids": {"eu": account.account_id}, "home_region": "eu"}
    assert set(tokens.credentials["regions"]["eu"]) == {"refresh_token", "access_token", "access_token_expires_at"}
    assert tokens.credentials["regions"]["eu"]["refresh_token"] != account.secrets["refresh_token"], \
        "a new grant, not the demo one"
    context = ConnectionContext(connection_id="oauth-made", credentials=tokens.credentials, config={**config, **tokens.config},
                                external_account_id=tokens.external_account_id)
    assert AmazonConnector(context).test_connection()["seller_id"] == account.account_id


def test_replayed_code_is_rejected(client, account, sandbox_http, oauth_start):
    url, redirect_uri, config = oauth_start
    callback = _consent(client, account, url)
    http = HttpClient(connection_key="oauth-replay")
    AmazonConnector.exchange_code(callback_params=callback, redirect_uri=redirect_uri, http=http, config=config)
    with pytest.raises(AuthError, match="invalid_grant"):
        AmazonConnector.exchange_code(callback_params=callback, redirect_uri=redirect_uri, http=http, config=config)


def test_expired_code_is_rejected(client, account, sandbox_http, oauth_start):
    url, redirect_uri, config = oauth_start
    callback = _consent(client, account, url)
    sandbox.expire_authorization_codes(account)  # five minutes passed
    with pytest.raises(AuthError, match="invalid_grant"):
        AmazonConnector.exchange_code(callback_params=callback, redirect_uri=redirect_uri,
                                      http=HttpClient(connection_key="oauth-late"), config=config)


def test_code_is_bound_to_its_redirect_uri(client, account, sandbox_http, oauth_start):
    url, _redirect_uri, config = oauth_start
    callback = _consent(client, account, url)
    with pytest.raises(AuthError):
        AmazonConnector.exchange_code(callback_params=callback, redirect_uri="https://evil.example/cb",
                                      http=HttpClient(connection_key="oauth-evil"), config=config)


def test_tampered_code_is_rejected(client, account, sandbox_http, oauth_start):
    url, redirect_uri, config = oauth_start
    callback = _consent(client, account, url)
    callback["spapi_oauth_code"] = callback["spapi_oauth_code"][::-1]
    with pytest.raises(AuthError):
        AmazonConnector.exchange_code(callback_params=callback, redirect_uri=redirect_uri,
                                      http=HttpClient(connection_key="oauth-tampered"), config=config)


@pytest.mark.parametrize("params", [
    {"state": "s", "selling_partner_id": SELLER},
    {"state": "s", "spapi_oauth_code": "ANDGXVFYZQKNRRPPLOKC"},
    {"state": "s", "spapi_oauth_code": "ANDGXVFYZQ", "selling_partner_id": "a2haat<script>"},
    {"state": "s", "spapi_oauth_code": "AND GXV", "selling_partner_id": SELLER},
    {"state": "s", "error": "access_denied", "error_description": "The seller did not authorise the application."},
])
def test_tampered_or_refused_callbacks_are_rejected(params):
    with pytest.raises(AuthError):
        AmazonConnector.verify_callback(params=params, config={})


def test_cancel_on_the_consent_page_comes_back_refused(client, account, oauth_start):
    url, _redirect_uri, config = oauth_start
    callback = _consent(client, account, url, decision="cancel")
    assert callback["state"] == "state-xyz" and "spapi_oauth_code" not in callback
    with pytest.raises(AuthError, match="did not authorise"):
        AmazonConnector.verify_callback(params=callback, config=config)


# --- pushes ------------------------------------------------------------------------------------------------------------


def test_stock_and_price_patches_match_the_official_model(account):
    recorder = Recorder()
    connector = make_connector(account, transport=recorder)
    refs = {p.sku: p.external_refs for p in collect_products(connector)}
    sku = sorted(refs)[3]
    [stock] = connector.push_stock([StockUpdate(sku=sku, quantity=0, external_refs=refs[sku])])
    [price] = connector.push_prices([PriceUpdate(sku=sku, price=Decimal("199.90"), currency="INR", mrp=Decimal("249.00"),
                                                 external_refs=refs[sku])])
    assert stock.ok and price.ok and price.raw["status"] == "ACCEPTED"
    validator = spec_validator("listingsItems_2021-08-01.json", "ListingsItemPatchRequest")
    bodies = recorder.bodies("PATCH")
    assert len(bodies) == 2
    for body in bodies:
        validator.validate(body)
    offer = bodies[1]["patches"][0]["value"][0]
    assert offer["our_price"][0]["schedule"][0]["value_with_tax"] == 199.9 and offer["currency"] == "INR"
    assert bodies[1]["patches"][1]["path"] == "/attributes/list_price"
    product = dataset.objects(account, "product").get(key=sku).data
    assert (product["quantity"], product["price"], product["mrp"]) == (0, "199.90", "249.00")


def test_price_in_another_currency_is_refused_before_any_call(connector):
    [result] = connector.push_prices([PriceUpdate(sku="AMZ-0001", price=Decimal("10"), currency="USD")])
    assert not result.ok and "INR" in result.error
    [result] = connector.push_prices([PriceUpdate(sku="AMZ-0001", price=Decimal("300"), currency="INR", mrp=Decimal("200"))])
    assert not result.ok and "MRP" in result.error
    assert connector.http.stats.requests == 0


def test_stock_push_reports_each_sku(connector, account):
    results = connector.push_stock([StockUpdate(sku="AMZ-0002", quantity=4), StockUpdate(sku="NO-SUCH-SKU", quantity=1),
                                    StockUpdate(sku="AMZ-0003", quantity=-1)])
    assert [r.ok for r in results] == [True, False, False]
    assert "does not exist" in results[1].error and results[1].raw["status"] == "INVALID"
    assert "0 or more" in results[2].error
    assert dataset.objects(account, "product").get(key="AMZ-0002").data["quantity"] == 4


def test_create_listing_sends_a_valid_put_and_the_listing_appears(account):
    recorder = Recorder()
    connector = make_connector(account, transport=recorder)
    draft = ListingDraft(sku="AMZ-NEW-1", title="Kantha stitch cushion", description="Hand-stitched by Sakhi SHG.",
                         price=Decimal("540.00"), currency="INR", quantity=12, brand="Sakhi", barcode="8901234567890",
                         mrp=Decimal("650.00"), product_type="PILLOW", images=["https://img.example/1.jpg"],
                         attributes={"color": [{"value": "Indigo", "marketplace_id": INDIA}]})
    result = connector.create_listing(draft)
    assert result.ok and result.state == "pending" and result.external_refs["submission_id"]
    (body,) = recorder.bodies("PUT")
    spec_validator("listingsItems_2021-08-01.json", "ListingsItemPutRequest").validate(body)
    assert not {"MarketplaceId", "MarketplaceIds", "marketplace_ids", "marketplaceIds"} & set(body), "no library keys"
    assert body["attributes"]["externally_assigned_product_identifier"][0]["type"] == "ean"
    put = next(r for r in recorder.requests if r.method == "PUT")
    assert parse_qs(urlsplit(str(put.url)).query) == {"marketplaceIds": [INDIA]}
    listed = {p.sku: p for p in collect_products(connector)}["AMZ-NEW-1"]
    assert (listed.title, listed.price, listed.quantity) == ("Kantha stitch cushion", Decimal("540.00"), 12)
    assert listed.external_refs["product_type"] == "PILLOW"


def test_invalid_listing_is_refused_before_any_call(connector):
    result = connector.create_listing(ListingDraft(sku="X-1", title="Jute bag", description="", price=Decimal("0"),
                                                   currency="INR", quantity=1))
    assert not result.ok and "product type" in result.error and "positive" in result.error
    assert connector.http.stats.requests == 0


def _merchant_order(account, connector, *, min_lines=1):
    orders, _ = collect_orders(connector, since=long_ago())
    return next(o for o in orders if o.status == OrderStatus.UNSHIPPED and o.fulfilment_channel == "merchant"
                and len(o.lines) >= min_lines and o.raw_status == "UNSHIPPED")


def test_fulfilment_matches_confirm_shipment_and_names_other_carriers(account):
    recorder = Recorder()
    connector = make_connector(account, transport=recorder)
    order = _merchant_order(account, connector)
    result = connector.push_fulfilment(FulfilmentData(
        order_external_id=order.external_id, carrier="Shree Maruti Courier", tracking_number="SMC000123",
        shipped_at=datetime.now(UTC), order_raw=order.raw))
    assert result.ok and result.external_id == "1"
    (body,) = recorder.bodies("POST")[-1:]
    spec_validator("ordersV0.json", "ConfirmShipmentRequest").validate(body)
    assert body["packageDetail"]["carrierCode"] == "Other" and body["packageDetail"]["carrierName"] == "Shree Maruti Courier"
    neutral = truth(account)[order.external_id]
    assert neutral["status"] == "shipped" and neutral["tracking"]["carrier"] == "Shree Maruti Courier"


def test_partial_shipment_keeps_the_order_to_ship(account, connector):
    order = _merchant_order(account, connector, min_lines=2)
    first, rest = order.lines[0], order.lines[1:]
    shipped = connector.push_fulfilment(FulfilmentData(
        order_external_id=order.external_id, carrier="India Post", tracking_number="EK000000001IN",
        shipped_at=datetime.now(UTC), lines=[FulfilmentLine(first.external_id, first.quantity)], order_raw=order.raw))
    assert shipped.ok
    again = {o.external_id: o for o in collect_orders(connector, since=long_ago())[0]}[order.external_id]
    assert (again.status, again.raw_status) == (OrderStatus.UNSHIPPED, "PARTIALLY_SHIPPED")
    done = connector.push_fulfilment(FulfilmentData(
        order_external_id=order.external_id, carrier="India Post", tracking_number="EK000000002IN",
        shipped_at=datetime.now(UTC), lines=[FulfilmentLine(ln.external_id, ln.quantity) for ln in rest],
        order_raw=again.raw))
    assert done.ok and done.external_id == "2"
    final = {o.external_id: o for o in collect_orders(connector, since=long_ago())[0]}[order.external_id]
    assert final.status == OrderStatus.SHIPPED


def test_amazons_refusal_of_a_shipment_is_reported(account, connector):
    order = _merchant_order(account, connector)
    line = order.lines[0]
    result = connector.push_fulfilment(FulfilmentData(
        order_external_id=order.external_id, carrier="India Post", tracking_number="EK1IN", shipped_at=datetime.now(UTC),
        lines=[FulfilmentLine(line.external_id, line.quantity + 5)], order_raw=order.raw))
    assert not result.ok and "exceeds the quantity ordered" in result.error


def test_fba_orders_are_not_confirmed(account, connector):
    orders, _ = collect_orders(connector, since=long_ago())
    order = next(o for o in orders if o.fulfilment_channel == FulfilmentChannel.MARKETPLACE)
    before = connector.http.stats.requests
    result = connector.push_fulfilment(FulfilmentData(order_external_id=order.external_id, carrier="India Post",
                                                      tracking_number="EK1IN", shipped_at=datetime.now(UTC), order_raw=order.raw))
    assert not result.ok and "FBA" in result.error and connector.http.stats.requests == before


# --- FBA inventory -----------------------------------------------------------------------------------------------------


def test_marketplace_inventory_is_amazons_warehouse_stock(account, connector):
    page = connector.fetch_marketplace_inventory()
    expected = {p.key: sandbox.fba_quantities(account, p.key) for p in dataset.objects(account, "product")}
    expected = {sku: q["fulfillable"] for sku, q in expected.items() if q is not None}
    assert expected and {p.sku: p.quantity for p in page.items} == expected
    assert all(p.external_refs["fn_sku"].startswith("X00") for p in page.items)
    assert page.next_cursor is None


# --- several marketplaces on one connection ---------------------------------------------------------------------------

UK, DE, US = "A1F83G8C2ARO7P", "A1PA6795UKMFR9", "ATVPDKIKX0DER"
MULTI_SELLER = "A2HAATMULTI01"


@pytest.fixture
def multi_account(db):
    account = sandbox.create_demo_account(MULTI_SELLER, "Sakhi Crafts Europe (sandbox)")
    return sandbox.add_marketplaces(account, [UK, DE])


def multi_connector(account, marketplace_ids, transport=None):
    return make_connector(account, config={"marketplace_ids": marketplace_ids}, transport=transport)


def test_orders_of_every_chosen_marketplace_come_in_one_call_each_in_its_currency(multi_account):
    recorder = Recorder()
    connector = multi_connector(multi_account, [INDIA, UK, DE], transport=recorder)
    orders, pages = collect_orders(connector, since=long_ago())
    expected = truth(multi_account)
    assert {o.external_id for o in orders} == set(expected)
    for order in orders:
        assert order.currency == expected[order.external_id]["currency"]
        assert order.currency == {INDIA: "INR", UK: "GBP", DE: "EUR"}[order.raw["salesChannel"]["marketplaceId"]]
    assert {o.currency for o in orders} == {"INR", "GBP", "EUR"}
    searches = [r for r in recorder.requests if r.url.path.endswith("/orders/2026-01-01/orders")]
    assert len(searches) == pages
    assert all(parse_qs(r.url.query.decode())["marketplaceIds"] == [f"{INDIA},{UK},{DE}"] for r in searches)


def test_orders_of_a_marketplace_not_chosen_are_not_read(multi_account):
    orders, _ = collect_orders(multi_connector(multi_account, [INDIA, DE]), since=long_ago())
    assert orders and {o.raw["salesChannel"]["marketplaceId"] for o in orders} == {INDIA, DE}
    assert len(orders) == sum(1 for o in truth(multi_account).values() if o["marketplace_id"] in (INDIA, DE))


def test_products_record_the_marketplaces_each_listing_is_offered_on(multi_account):
    products = {p.sku: p for p in collect_products(multi_connector(multi_account, [INDIA, UK, DE]))}
    rows = {row.key: row.data for row in dataset.objects(multi_account, "product")}
    assert set(products) == set(rows)
    for sku, product in products.items():
        expected = [INDIA] + [m for m in (UK, DE) if m in (rows[sku].get("offers") or {})]
        assert product.external_refs["marketplace_ids"] == ",".join(expected)
        assert product.currency == "INR"  # the home marketplace's price is the one shown
    assert {p.external_refs["marketplace_ids"] for p in products.values()} == {INDIA, f"{INDIA},{UK},{DE}"}


def test_stock_goes_to_each_marketplace_the_listing_is_on(multi_account):
    recorder = Recorder()
    connector = multi_connector(multi_account, [INDIA, UK, DE], transport=recorder)
    refs = {p.sku: p.external_refs for p in collect_products(connector)}
    everywhere = next(sku for sku, r in refs.items() if r["marketplace_ids"].count(",") == 2)
    home_only = next(sku for sku, r in refs.items() if r["marketplace_ids"] == INDIA)
    results = connector.push_stock([StockUpdate(sku=everywhere, quantity=5, external_refs=refs[everywhere]),
                                    StockUpdate(sku=home_only, quantity=2, external_refs=refs[home_only])])
    assert [r.ok for r in results] == [True, True]
    patches = [r for r in recorder.requests if r.method == "PATCH"]
    assert sorted((r.url.path.rsplit("/", 1)[1], parse_qs(r.url.query.decode())["marketplaceIds"][0]) for r in patches) \
        == sorted([(everywhere, INDIA), (everywhere, UK), (everywhere, DE), (home_only, INDIA)])
    validator = spec_validator("listingsItems_2021-08-01.json", "ListingsItemPatchRequest")
    for body in recorder.bodies("PATCH"):
        validator.validate(body)
    product = dataset.objects(multi_account, "product").get(key=everywhere).data
    assert [sandbox.offer(multi_account, product, m)["quantity"] for m in (INDIA, UK, DE)] == [5, 5, 5]


def test_prices_go_only_where_the_currency_is_the_listings_and_the_rest_is_named(multi_account):
    connector = multi_connector(multi_account, [INDIA, UK, DE])
    refs = {p.sku: p.external_refs for p in collect_products(connector)}
    sku = next(s for s, r in refs.items() if r["marketplace_ids"].count(",") == 2)
    before = dataset.objects(multi_account, "product").get(key=sku).data
    [result] = connector.push_prices([PriceUpdate(sku=sku, price=Decimal("12.50"), currency="GBP", external_refs=refs[sku])])
    after = dataset.objects(multi_account, "product").get(key=sku).data
    assert sandbox.offer(multi_account, after, UK)["price"] == "12.50"
    assert sandbox.offer(multi_account, after, INDIA)["price"] == before["price"]
    assert sandbox.offer(multi_account, after, DE)["price"] == sandbox.offer(multi_account, before, DE)["price"]
    assert not result.ok and "Amazon.in (India) prices are in INR" in result.error and "EUR" in result.error
    [refused] = connector.push_prices([PriceUpdate(sku=sku, price=Decimal("9"), currency="USD", external_refs=refs[sku])])
    assert not refused.ok and "not USD" in refused.error


def test_a_connection_made_before_several_marketplaces_keeps_working(account):
    """Old connections keep `marketplace_id` (one marketplace) and listings without `marketplace_ids` refs."""
    recorder = Recorder()
    connector = make_connector(account, transport=recorder, config={"marketplace_ids": None, "marketplace_id": INDIA})
    orders, _ = collect_orders(connector, since=long_ago())
    assert {o.currency for o in orders} == {"INR"}
    [result] = connector.push_stock([StockUpdate(sku="AMZ-0002", quantity=3, external_refs={"product_type": "PRODUCT"})])
    assert result.ok
    (patch,) = [r for r in recorder.requests if r.method == "PATCH"]
    assert parse_qs(patch.url.query.decode())["marketplaceIds"] == [INDIA]


def test_participations_name_every_marketplace_with_region_and_currency(multi_account):
    found = multi_connector(multi_account, [INDIA]).marketplace_participations()
    assert [(p["id"], p["currency"], p["region"], p["participating"]) for p in found] == [
        (INDIA, "INR", "eu", True), (UK, "GBP", "eu", True), (DE, "EUR", "eu", True)]


# --- choosing the marketplaces after connecting -----------------------------------------------------------------------


def amazon_connection_account():
    return dataset.get_account("amazon", MULTI_SELLER)


@pytest.fixture
def amazon_connection(multi_account):
    from tests.factories import make_org, make_shg

    shg = make_shg(make_org("Amazon Federation"), name="Europe SHG")
    return Connection.objects.create(
        shg=shg, platform="amazon", display_name="Sakhi Europe", status=Connection.Status.ACTIVE,
        external_account_id=MULTI_SELLER, credentials=sandbox.connection_credentials(multi_account),
        config=sandbox.connection_config(multi_account, BASE))


def test_the_coordinator_picks_marketplaces_from_amazons_participations(client, amazon_connection, sandbox_http,
                                                                        django_capture_on_commit_callbacks):
    from django.urls import reverse

    from apps.accounts.models import Membership
    from apps.catalog.models import Listing
    from tests.factories import make_user

    client.force_login(make_user(organization=amazon_connection.shg.federation, role=Membership.Role.COORDINATOR))
    url = reverse("amazon:marketplaces", args=[amazon_connection.pk])
    page = client.get(url)
    assert page.status_code == 200
    for name in (b"Amazon.in (India)", b"Amazon.co.uk (United Kingdom)", b"Amazon.de (Germany)"):
        assert name in page.content
    refused = client.post(url, {"marketplace": [INDIA, US]})
    assert refused.status_code == 400 and b"cannot be chosen" in refused.content
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"marketplace": [UK, INDIA]})
    assert response.status_code == 302
    amazon_connection.refresh_from_db()
    assert amazon_connection.config["marketplace_ids"] == [INDIA, UK]
    # The listings were read again and know where each is offered.
    refs = [listing.external_refs.get("marketplace_ids") for listing in Listing.objects.filter(connection=amazon_connection)]
    assert len(refs) == dataset.objects(amazon_connection_account(), "product").count()
    assert set(refs) == {f"{INDIA},{UK}", INDIA}


def test_only_editors_of_the_tenant_reach_the_marketplace_page(client, amazon_connection):
    from django.urls import reverse

    from apps.accounts.models import Membership
    from tests.factories import make_connection, make_org, make_user

    url = reverse("amazon:marketplaces", args=[amazon_connection.pk])
    client.force_login(make_user(organization=amazon_connection.shg.federation, role=Membership.Role.VIEWER))
    assert client.get(url).status_code == 403
    client.force_login(make_user(organization=make_org("Elsewhere"), role=Membership.Role.ORG_ADMIN))
    assert client.get(url).status_code == 404 and client.post(url, {"marketplace": [INDIA]}).status_code == 404
    woo = make_connection(amazon_connection.shg, platform="woocommerce")
    client.force_login(make_user(organization=amazon_connection.shg.federation, role=Membership.Role.ORG_ADMIN))
    assert client.get(reverse("amazon:marketplaces", args=[woo.pk])).status_code == 404
