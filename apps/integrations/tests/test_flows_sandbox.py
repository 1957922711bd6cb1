"""End to end: a coordinator connects the real connectors through the real flows, against the in-process sandbox.

The sandbox plays each platform over HTTP (fixture `sandbox_http` routes every platform call made through
apps.integrations.http to it); the OAuth consent step is a GET on the sandbox's consent page and following
its redirect back to Haat's callback, as a browser would.
"""

from __future__ import annotations

import importlib
import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.conf import settings
from django.urls import reverse

from apps.accounts.models import Membership
from apps.integrations import flows
from apps.integrations.connectors.registry import get_connector_class
from apps.integrations.models import Connection
from apps.sandbox.transport import SANDBOX_TEST_ORIGIN, sandbox_wsgi_app
from tests.factories import make_org, make_shg, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_http")]


def sandbox_module(slug: str):
    """The platform's sandbox module; the test is skipped while its connector is still being built."""
    try:
        get_connector_class(slug)
    except ImportError:
        pytest.skip(f"the {slug} connector is not installed yet")
    return importlib.import_module(f"apps.sandbox.platforms.{slug}")


@pytest.fixture
def tenant():
    federation = make_org()
    shg = make_shg(federation, name="Sakhi Bachat Gat")
    coordinator = make_user(organization=federation, role=Membership.Role.COORDINATOR)
    return {"shg": shg, "coordinator": coordinator}


@pytest.fixture
def browser(client, tenant):
    client.force_login(tenant["coordinator"])
    return client


def connect_url(shg, slug: str) -> str:
    return reverse("integrations:connect", args=[shg.pk, slug])


def sandbox_path(url: str) -> str:
    """A sandbox URL as a path the test client can GET (the sandbox is this same Django app)."""
    assert url.startswith(SANDBOX_TEST_ORIGIN + "/sandbox/"), url
    return url[len(SANDBOX_TEST_ORIGIN):]


def callback_path(location: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(location)
    assert parts.path.startswith("/connections/oauth/"), location
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


def page_text(response) -> str:
    return response.content.decode()


def hidden_fields(html: str) -> dict[str, str]:
    """The hidden inputs of a consent page's form, as a browser would submit them."""
    return {unescape(name): unescape(value) for name, value in
            re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)}


def state_of(location: str) -> str:
    return parse_qs(urlsplit(location).query)["state"][0]


# --- Flipkart (API keys) ------------------------------------------------------------------------------------------


def test_flipkart_keys_connect_and_go_active(browser, tenant, sandbox_base):
    flipkart = sandbox_module("flipkart")
    account = flipkart.create_demo_account("flows-fk-seller", "Flows FK Seller")
    keys = flipkart.connection_credentials(account)
    response = browser.post(connect_url(tenant["shg"], "flipkart"), keys)
    assert response.status_code == 302, page_text(response)[:2000]
    connection = Connection.objects.get()
    assert connection.status == Connection.Status.ACTIVE and connection.platform == "flipkart"
    assert connection.config["base_url"] == f"{sandbox_base}/flipkart"
    assert connection.external_account_id == keys["app_id"]
    assert connection.credentials["app_secret"] == keys["app_secret"]
    assert connection.credentials.get("access_token"), "the token fetched during the check is kept"
    page = page_text(browser.get(response["Location"]))
    assert keys["app_secret"] not in page and connection.credentials["access_token"] not in page

    # The test button works against the sandbox; a revoked application makes it needs_reauth.
    browser.post(reverse("integrations:test", args=[connection.pk]))
    connection.refresh_from_db()
    assert connection.status == Connection.Status.ACTIVE
    flipkart.revoke_application(account)
    browser.post(reverse("integrations:test", args=[connection.pk]))
    connection.refresh_from_db()
    assert connection.status == Connection.Status.NEEDS_REAUTH and "Flipkart" in connection.last_error


def test_flipkart_wrong_secret_shows_flipkarts_message_and_saves_nothing(browser, tenant):
    flipkart = sandbox_module("flipkart")
    account = flipkart.create_demo_account("flows-fk-wrong", "Flows FK Wrong")
    keys = {**flipkart.connection_credentials(account), "app_secret": "not-the-secret-0000"}
    response = browser.post(connect_url(tenant["shg"], "flipkart"), keys)
    body = page_text(response)
    assert response.status_code == 200
    assert "Bad credentials" in body, body[:3000]
    assert "not-the-secret-0000" not in body
    assert not Connection.objects.exists()


def test_flipkart_disconnect_wipes_the_keys(browser, tenant):
    flipkart = sandbox_module("flipkart")
    account = flipkart.create_demo_account("flows-fk-off", "Flows FK Off")
    browser.post(connect_url(tenant["shg"], "flipkart"), flipkart.connection_credentials(account))
    connection = Connection.objects.get()
    browser.post(reverse("integrations:disconnect", args=[connection.pk]))
    connection.refresh_from_db()
    assert connection.credentials == {} and connection.status == Connection.Status.DISABLED


# --- WooCommerce (API keys) ---------------------------------------------------------------------------------------


def test_woocommerce_keys_connect_and_go_active(browser, tenant, sandbox_base):
    woo = sandbox_module("woocommerce")
    account = woo.create_demo_account("flows-woo", "Flows Woo Store")
    store_url = woo.store_home(account, sandbox_base)
    keys = woo.connection_credentials(account)
    response = browser.post(connect_url(tenant["shg"], "woocommerce"), {"store_url": store_url, **keys})
    assert response.status_code == 302, page_text(response)[:3000]
    connection = Connection.objects.get()
    assert connection.status == Connection.Status.ACTIVE
    assert connection.config["store_url"] == store_url
    assert connection.config["base_url"] == f"{store_url}/wp-json/wc/v3"
    assert connection.external_account_id == "testserver/sandbox/woocommerce/flows-woo"
    assert connection.credentials["consumer_secret"] == keys["consumer_secret"]
    page = page_text(browser.get(response["Location"]))
    assert keys["consumer_secret"] not in page and keys["consumer_key"] not in page

    # Connecting the same store again (rotated keys) updates the same row.
    new_keys = woo.rotate_key(account)
    browser.post(connect_url(tenant["shg"], "woocommerce"), {"store_url": store_url, **new_keys})
    assert Connection.objects.get().credentials["consumer_key"] == new_keys["consumer_key"]

    # The owner deletes the key: the test button says so and the connection needs re-authorisation.
    woo.revoke_key(account)
    response = browser.post(reverse("integrations:test", args=[connection.pk]), follow=True)
    connection.refresh_from_db()
    assert connection.status == Connection.Status.NEEDS_REAUTH
    assert new_keys["consumer_secret"] not in page_text(response)


def test_woocommerce_wrong_secret_shows_woocommerces_message(browser, tenant, sandbox_base):
    woo = sandbox_module("woocommerce")
    account = woo.create_demo_account("flows-woo-wrong", "Flows Woo Wrong")
    wrong = "cs_" + "0" * 40
    response = browser.post(connect_url(tenant["shg"], "woocommerce"), {
        "store_url": woo.store_home(account, sandbox_base), "consumer_key": account.secrets["consumer_key"],
        "consumer_secret": wrong})
    body = page_text(response)
    assert response.status_code == 200
    assert "did not accept this" in body and "woocommerce_rest" in body, body[:3000]
    assert wrong not in body and account.secrets["consumer_key"] not in body
    assert not Connection.objects.exists()


def test_woocommerce_plain_http_store_is_refused(browser, tenant):
    sandbox_module("woocommerce")
    response = browser.post(connect_url(tenant["shg"], "woocommerce"), {
        "store_url": "http://shop.example.in", "consumer_key": "ck_" + "1" * 40, "consumer_secret": "cs_" + "2" * 40})
    assert "HTTPS" in page_text(response)
    assert not Connection.objects.exists()


# --- Shopify (OAuth install flow) ---------------------------------------------------------------------------------


def shopify_consent(browser, location: str) -> str:
    """Open the sandbox's install screen and press Install; return where it redirects (Haat's callback)."""
    path = sandbox_path(location)
    page = browser.get(path)
    assert page.status_code == 200 and "Install" in page_text(page), page_text(page)[:2000]
    answer = browser.post(urlsplit(path).path, {**hidden_fields(page_text(page)), "action": "install"})
    assert answer.status_code == 302, page_text(answer)[:2000]
    return answer["Location"]


def start_shopify(browser, shg, shop: str) -> str:
    response = browser.post(connect_url(shg, "shopify"), {"shop": shop})
    assert response.status_code == 302, page_text(response)[:3000]
    return response["Location"]


@pytest.fixture
def shopify_shop():
    shopify = sandbox_module("shopify")
    return shopify, shopify.create_demo_account("flows-shop", "Flows Shop")


def test_shopify_install_flow_connects_and_goes_active(browser, tenant, shopify_shop, sandbox_base):
    _shopify, account = shopify_shop
    shop = account.account_id
    location = start_shopify(browser, tenant["shg"], shop)
    assert location.startswith(f"{sandbox_base}/shopify/{shop}/admin/oauth/authorize?")
    query = parse_qs(urlsplit(location).query)
    assert query["client_id"] == [settings.SHOPIFY_CLIENT_ID]
    assert query["redirect_uri"] == [f"{settings.SITE_URL}/connections/oauth/shopify/callback/"]
    path, params = callback_path(shopify_consent(browser, location))
    assert set(params) >= {"code", "hmac", "host", "shop", "state", "timestamp"}

    response = browser.get(path, params)
    assert response.status_code == 302, page_text(response)[:3000]
    connection = Connection.objects.get()
    assert connection.status == Connection.Status.ACTIVE and connection.platform == "shopify"
    assert connection.external_account_id == shop
    assert connection.config["base_url"] == f"{sandbox_base}/shopify/{shop}"
    assert connection.config["shop"] == shop
    assert connection.display_name == account.name
    page = page_text(browser.get(response["Location"]))
    assert connection.credentials["access_token"] not in page


def test_shopify_bad_hmac_is_refused(browser, tenant, shopify_shop):
    _shopify, account = shopify_shop
    path, params = callback_path(shopify_consent(browser, start_shopify(browser, tenant["shg"], account.account_id)))
    params["hmac"] = "0" * 64
    response = browser.get(path, params)
    assert response.status_code == 400 and "signature check" in page_text(response)
    assert not Connection.objects.exists()


def test_shopify_tampered_state_is_refused(browser, tenant, shopify_shop):
    _shopify, account = shopify_shop
    path, params = callback_path(shopify_consent(browser, start_shopify(browser, tenant["shg"], account.account_id)))
    params["state"] = params["state"][::-1]
    response = browser.get(path, params)
    assert response.status_code == 400 and "changed on the way" in page_text(response)
    assert not Connection.objects.exists()


def test_shopify_expired_state_is_refused(browser, tenant, shopify_shop, monkeypatch):
    _shopify, account = shopify_shop
    path, params = callback_path(shopify_consent(browser, start_shopify(browser, tenant["shg"], account.account_id)))
    later = flows._now() + flows.STATE_TTL_SECONDS + 1
    monkeypatch.setattr(flows, "_now", lambda: later)
    response = browser.get(path, params)
    assert response.status_code == 400 and "expired" in page_text(response)
    assert not Connection.objects.exists()


def test_shopify_reused_state_is_refused(browser, tenant, shopify_shop):
    _shopify, account = shopify_shop
    path, params = callback_path(shopify_consent(browser, start_shopify(browser, tenant["shg"], account.account_id)))
    assert browser.get(path, params).status_code == 302
    replay = browser.get(path, params)
    assert replay.status_code == 400 and "already used" in page_text(replay)
    assert Connection.objects.count() == 1


def test_shopify_replayed_code_is_refused_by_shopify(browser, tenant, shopify_shop):
    from apps.integrations.connectors.shopify import callback_hmac

    _shopify, account = shopify_shop
    path, params = callback_path(shopify_consent(browser, start_shopify(browser, tenant["shg"], account.account_id)))
    assert browser.get(path, params).status_code == 302
    # A new, valid state, with the code Shopify already exchanged once (signed as Shopify would sign it).
    fresh_state = state_of(start_shopify(browser, tenant["shg"], account.account_id))
    replay = {k: v for k, v in params.items() if k != "hmac"} | {"state": fresh_state}
    replay["hmac"] = callback_hmac(replay, settings.SHOPIFY_CLIENT_SECRET)
    response = browser.get(path, replay)
    assert response.status_code == 400
    assert "already used" in page_text(response), page_text(response)[:3000]
    assert Connection.objects.count() == 1


def test_shopify_cancelled_install_saves_nothing(browser, tenant, shopify_shop):
    _shopify, account = shopify_shop
    path = sandbox_path(start_shopify(browser, tenant["shg"], account.account_id))
    page = browser.get(path)
    answer = browser.post(urlsplit(path).path, {**hidden_fields(page_text(page)), "action": "cancel"})
    assert answer.status_code == 200 and "cancelled" in page_text(answer)
    assert not Connection.objects.exists()


def test_shopify_revoked_token_then_reconnect_updates_the_same_row(browser, tenant, shopify_shop):
    shopify, account = shopify_shop
    path, params = callback_path(shopify_consent(browser, start_shopify(browser, tenant["shg"], account.account_id)))
    browser.get(path, params)
    connection = Connection.objects.get()
    shopify.revoke_token(account)
    browser.post(reverse("integrations:test", args=[connection.pk]))
    connection.refresh_from_db()
    assert connection.status == Connection.Status.NEEDS_REAUTH

    form = browser.get(reverse("integrations:reconnect", args=[connection.pk]))
    assert f'value="{account.account_id}"' in page_text(form)
    response = browser.post(reverse("integrations:reconnect", args=[connection.pk]), {"shop": account.account_id})
    path, params = callback_path(shopify_consent(browser, response["Location"]))
    assert browser.get(path, params).status_code == 302
    connection.refresh_from_db()
    assert Connection.objects.count() == 1 and connection.status == Connection.Status.ACTIVE


def test_shopify_bad_shop_domain_is_refused_before_leaving_haat(browser, tenant):
    sandbox_module("shopify")
    response = browser.post(connect_url(tenant["shg"], "shopify"), {"shop": "evil.example.com/x"})
    assert response.status_code == 200 and "myshopify.com" in page_text(response)
    assert not browser.session.get(flows.SESSION_KEY)


# --- Amazon (website authorization workflow) -------------------------------------------------------------------------


@pytest.fixture
def amazon_seller(monkeypatch):
    amazon = sandbox_module("amazon")
    # python-amazon-sp-api speaks httpx: give its policy transport the in-process sandbox as the network.
    monkeypatch.setattr("apps.integrations.connectors.amazon.new_transport",
                        lambda: httpx.WSGITransport(app=sandbox_wsgi_app()))
    return amazon, amazon.create_demo_account("A1FLOWSSELLER42", "Flows Amazon Seller")


def start_amazon(browser, shg) -> str:
    response = browser.post(connect_url(shg, "amazon"), {"marketplace_id": "A21TJRUUN4KGV"})
    assert response.status_code == 302, page_text(response)[:3000]
    return response["Location"]


def amazon_consent(browser, location: str, seller: str, decision: str = "authorize") -> str:
    path = sandbox_path(location)
    page = browser.get(path)
    assert page.status_code == 200 and "Authorize" in page_text(page), page_text(page)[:2000]
    answer = browser.post(urlsplit(path).path, {**hidden_fields(page_text(page)), "selling_partner_id": seller,
                                                 "decision": decision})
    assert answer.status_code == 302, page_text(answer)[:2000]
    return answer["Location"]


def test_amazon_marketplace_is_a_choice(browser, tenant, amazon_seller):
    body = page_text(browser.get(connect_url(tenant["shg"], "amazon")))
    assert '<select name="marketplace_id"' in body and 'value="A21TJRUUN4KGV"' in body
    response = browser.post(connect_url(tenant["shg"], "amazon"), {"marketplace_id": "NOT-A-MARKETPLACE"})
    assert response.status_code == 200 and "marketplace_id" in response.context["form"].errors


def test_amazon_authorization_connects_and_goes_active(browser, tenant, amazon_seller, sandbox_base):
    _amazon, account = amazon_seller
    location = start_amazon(browser, tenant["shg"])
    assert location.startswith(f"{sandbox_base}/amazon/eu/apps/authorize/consent?"), "Amazon.in is in the EU region"
    assert parse_qs(urlsplit(location).query)["application_id"] == [settings.AMAZON_SP_APP_ID]
    path, params = callback_path(amazon_consent(browser, location, account.account_id))
    assert set(params) >= {"state", "selling_partner_id", "spapi_oauth_code"}
    response = browser.get(path, params)
    assert response.status_code == 302, page_text(response)[:3000]
    connection = Connection.objects.get()
    assert connection.status == Connection.Status.ACTIVE and connection.platform == "amazon"
    assert connection.external_account_id == account.account_id
    assert connection.config["base_url"] == f"{sandbox_base}/amazon"
    assert connection.config["marketplace_ids"] == ["A21TJRUUN4KGV"]
    assert connection.credentials["regions"]["eu"]["refresh_token"].startswith("Atzr|")
    page = page_text(browser.get(response["Location"]))
    assert connection.credentials["regions"]["eu"]["refresh_token"] not in page


def test_amazon_replayed_code_is_refused_by_login_with_amazon(browser, tenant, amazon_seller):
    _amazon, account = amazon_seller
    path, params = callback_path(amazon_consent(browser, start_amazon(browser, tenant["shg"]), account.account_id))
    assert browser.get(path, params).status_code == 302
    replay = {**params, "state": state_of(start_amazon(browser, tenant["shg"]))}
    response = browser.get(path, replay)
    assert response.status_code == 400
    assert "invalid grant" in page_text(response).lower() or "invalid_grant" in page_text(response), page_text(response)[:3000]
    assert Connection.objects.count() == 1


def test_amazon_expired_code_is_refused(browser, tenant, amazon_seller):
    amazon, account = amazon_seller
    path, params = callback_path(amazon_consent(browser, start_amazon(browser, tenant["shg"]), account.account_id))
    amazon.expire_authorization_codes(account)
    response = browser.get(path, params)
    assert response.status_code == 400
    assert not Connection.objects.exists()


def test_amazon_cancelled_consent_is_shown(browser, tenant, amazon_seller):
    _amazon, account = amazon_seller
    location = amazon_consent(browser, start_amazon(browser, tenant["shg"]), account.account_id, decision="cancel")
    path, params = callback_path(location)
    response = browser.get(path, params)
    assert response.status_code == 400 and "did not authorise" in page_text(response)
    assert not Connection.objects.exists()


def test_amazon_tampered_state_is_refused(browser, tenant, amazon_seller):
    _amazon, account = amazon_seller
    path, params = callback_path(amazon_consent(browser, start_amazon(browser, tenant["shg"]), account.account_id))
    response = browser.get(path, {**params, "state": params["state"][:-3] + "abc"})
    assert response.status_code == 400 and "changed on the way" in page_text(response)
    assert not Connection.objects.exists()
