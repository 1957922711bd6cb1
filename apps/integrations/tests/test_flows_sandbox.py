"""End to end: a coordinator connects the real connectors through the real flows, against the in-process sandbox.

The sandbox plays each platform over HTTP (fixture `sandbox_http` routes every platform call made through
apps.integrations.http to it); the OAuth consent step is a GET on the sandbox's consent page and following
its redirect back to Haat's callback, as a browser would.
"""

from __future__ import annotations

import importlib
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.urls import reverse

from apps.accounts.models import Membership
from apps.integrations.connectors.registry import get_connector_class
from apps.integrations.models import Connection
from apps.sandbox.transport import SANDBOX_TEST_ORIGIN
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


__all__ = ["callback_path", "sandbox_path", "urlencode"]
