"""The connect pages through the browser's eyes, against the two test-only connectors of connect_fakes.py."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.models import Membership
from apps.integrations import flows
from apps.integrations.models import Connection
from apps.integrations.tests.connect_fakes import (
    GOOD_KEY,
    GOOD_SECRET,
    FakeOAuthConnector,
    KeysConnector,
    fake_platforms,  # noqa: F401  (fixture)
)
from tests.factories import make_connection, make_org, make_shg, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_platforms")]

KEYS_FORM = {"store_url": "https://shop.example", "consumer_key": GOOD_KEY, "consumer_secret": GOOD_SECRET}


@pytest.fixture
def tenant():
    federation = make_org()
    shg = make_shg(federation, name="Sakhi Bachat Gat")
    coordinator = make_user(organization=federation, role=Membership.Role.COORDINATOR)
    viewer = make_user(organization=federation, role=Membership.Role.VIEWER)
    return {"federation": federation, "shg": shg, "coordinator": coordinator, "viewer": viewer}


@pytest.fixture
def coordinator_client(client, tenant):
    client.force_login(tenant["coordinator"])
    return client


def connect_url(shg, slug):
    return reverse("integrations:connect", args=[shg.pk, slug])


def start_oauth(client, shg, shop="asha.shop.example"):
    response = client.post(connect_url(shg, "testoauth"), {"shop": shop})
    assert response.status_code == 302, response.content.decode()[:500]
    return response["Location"]


def finish_oauth(client, authorize_url, **overrides):
    path, params = FakeOAuthConnector.consent(authorize_url)
    params.update(overrides)
    return client.get(path, params), params


# --- picker -------------------------------------------------------------------------------------------------


def test_picker_shows_one_card_per_platform_with_capabilities(coordinator_client, tenant):
    response = coordinator_client.get(reverse("integrations:picker", args=[tenant["shg"].pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Test Keys Market" in body and "Test OAuth Shop" in body
    assert "Instant order updates" in body  # KeysConnector declares webhooks
    assert connect_url(tenant["shg"], "testkeys") in body and connect_url(tenant["shg"], "testoauth") in body


def test_viewer_cannot_open_the_picker_or_connect(client, tenant):
    client.force_login(tenant["viewer"])
    assert client.get(reverse("integrations:picker", args=[tenant["shg"].pk])).status_code == 404
    assert client.post(connect_url(tenant["shg"], "testkeys"), KEYS_FORM).status_code == 404
    assert not Connection.objects.exists()


def test_unknown_platform_is_404(coordinator_client, tenant):
    assert coordinator_client.get(connect_url(tenant["shg"], "ebay")).status_code == 404


def test_list_links_to_the_picker_of_editable_shgs(coordinator_client, tenant):
    body = coordinator_client.get(reverse("integrations:list")).content.decode()
    assert reverse("integrations:picker", args=[tenant["shg"].pk]) in body


# --- API-key platforms ---------------------------------------------------------------------------------------


def test_key_form_is_generated_from_credential_fields(coordinator_client, tenant):
    response = coordinator_client.get(connect_url(tenant["shg"], "testkeys"))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'type="password" name="consumer_key"' in body and 'type="password" name="consumer_secret"' in body
    assert 'type="text" name="store_url"' in body
    assert '<select name="region"' in body
    for label in ("Store address", "Consumer key", "Consumer secret", "Region"):
        assert f">{label}" in body


def test_good_keys_are_tested_live_then_saved_active(coordinator_client, tenant):
    response = coordinator_client.post(connect_url(tenant["shg"], "testkeys"), {**KEYS_FORM, "region": "in"})
    connection = Connection.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("integrations:detail", args=[connection.pk])
    assert connection.status == Connection.Status.ACTIVE
    assert connection.shg == tenant["shg"] and connection.platform == "testkeys"
    assert connection.credentials == {"consumer_key": GOOD_KEY, "consumer_secret": GOOD_SECRET}
    assert connection.config["store_url"] == "https://shop.example" and connection.config["region"] == "in"
    assert connection.config["base_url"] == "http://testserver/sandbox/testkeys"  # SANDBOX is on in tests
    assert connection.external_account_id == "https://shop.example"
    assert connection.display_name == "Asha's Store"
    assert connection.created_by == tenant["coordinator"]
    assert connection.next_sync_at is not None
    # The connector was built with the sandbox base URL before anything was saved.
    assert KeysConnector.built_with[0]["base_url"] == "http://testserver/sandbox/testkeys"


def test_refused_keys_show_the_platforms_message_and_save_nothing(coordinator_client, tenant, caplog):
    caplog.set_level(logging.DEBUG)
    form = {**KEYS_FORM, "consumer_secret": "cs_wrong_value_typed_by_hand"}
    response = coordinator_client.post(connect_url(tenant["shg"], "testkeys"), form)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Consumer key is invalid. [woocommerce_rest_authentication_error]" in body
    assert not Connection.objects.exists()
    # Neither secret comes back into the page, nor into any log line.
    assert "cs_wrong_value_typed_by_hand" not in body and GOOD_KEY not in body
    assert "https://shop.example" in body  # the non-secret value is kept for the retry
    assert "cs_wrong_value_typed_by_hand" not in caplog.text and GOOD_KEY not in caplog.text


def test_missing_fields_are_reported_next_to_them(coordinator_client, tenant):
    response = coordinator_client.post(connect_url(tenant["shg"], "testkeys"), {"store_url": "https://shop.example"})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"consumer_key", "consumer_secret"}
    assert not KeysConnector.built_with, "no live test with incomplete input"
    assert not Connection.objects.exists()


def test_a_choice_outside_the_list_is_refused(coordinator_client, tenant):
    response = coordinator_client.post(connect_url(tenant["shg"], "testkeys"), {**KEYS_FORM, "region": "mars"})
    assert "region" in response.context["form"].errors
    assert not Connection.objects.exists()


def test_connector_validation_error_is_shown(coordinator_client, tenant):
    response = coordinator_client.post(connect_url(tenant["shg"], "testkeys"), {**KEYS_FORM, "store_url": "http://shop.example"})
    assert "must start with https://" in response.content.decode()
    assert not Connection.objects.exists()


def test_connecting_the_same_account_twice_updates_one_row(coordinator_client, tenant):
    coordinator_client.post(connect_url(tenant["shg"], "testkeys"), KEYS_FORM)
    first = Connection.objects.get()
    KeysConnector.accounts["https://shop.example"] = ("ck_rotated_key_000000", "cs_rotated_secret_0000")
    coordinator_client.post(connect_url(tenant["shg"], "testkeys"), {
        **KEYS_FORM, "consumer_key": "ck_rotated_key_000000", "consumer_secret": "cs_rotated_secret_0000"})
    connection = Connection.objects.get()
    assert connection.pk == first.pk
    assert connection.credentials["consumer_key"] == "ck_rotated_key_000000"


# --- OAuth platforms -------------------------------------------------------------------------------------------


def test_oauth_start_redirects_to_the_consent_page_with_a_state(coordinator_client, tenant):
    location = start_oauth(coordinator_client, tenant["shg"])
    assert location.startswith("http://testserver/sandbox/testoauth/oauth/authorize?")
    query = parse_qs(urlsplit(location).query)
    assert len(query["state"][0]) >= 40
    assert query["redirect_uri"] == ["http://127.0.0.1:8000/connections/oauth/testoauth/callback/"]
    assert not Connection.objects.exists()


def test_oauth_start_refuses_a_bad_start_parameter(coordinator_client, tenant):
    response = coordinator_client.post(connect_url(tenant["shg"], "testoauth"), {"shop": "evil.example.com"})
    assert response.status_code == 200
    assert "is not a shop domain" in response.content.decode()
    assert not coordinator_client.session.get(flows.SESSION_KEY)


def test_oauth_start_is_post_only_for_the_redirect(coordinator_client, tenant):
    response = coordinator_client.get(connect_url(tenant["shg"], "testoauth"))
    assert response.status_code == 200 and 'name="shop"' in response.content.decode()
    assert not coordinator_client.session.get(flows.SESSION_KEY)


def test_oauth_callback_stores_tests_and_activates(coordinator_client, tenant):
    response, _params = finish_oauth(coordinator_client, start_oauth(coordinator_client, tenant["shg"]))
    connection = Connection.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("integrations:detail", args=[connection.pk])
    assert connection.status == Connection.Status.ACTIVE
    assert connection.external_account_id == "asha.shop.example"
    assert connection.display_name == "Shop asha.shop.example"
    assert connection.credentials["access_token"] in FakeOAuthConnector.valid_tokens
    assert connection.config["shop"] == "asha.shop.example"
    assert connection.config["base_url"] == "http://testserver/sandbox/testoauth"
    assert connection.config["scopes"] == "read_orders"
    page = coordinator_client.get(response["Location"]).content.decode()
    assert connection.credentials["access_token"] not in page


def test_two_tabs_each_complete(coordinator_client, tenant):
    first = start_oauth(coordinator_client, tenant["shg"], "one.shop.example")
    second = start_oauth(coordinator_client, tenant["shg"], "two.shop.example")
    assert finish_oauth(coordinator_client, second)[0].status_code == 302
    assert finish_oauth(coordinator_client, first)[0].status_code == 302
    assert set(Connection.objects.values_list("external_account_id", flat=True)) == {"one.shop.example", "two.shop.example"}


def test_missing_state_is_refused(coordinator_client, tenant):
    url = reverse("integrations:oauth_callback", args=["testoauth"])
    response = coordinator_client.get(url, {"code": "x", "shop": "asha.shop.example"})
    assert response.status_code == 400
    assert "has no state" in response.content.decode()


def test_tampered_state_is_refused_and_nothing_saved(coordinator_client, tenant):
    authorize_url = start_oauth(coordinator_client, tenant["shg"])
    path, params = FakeOAuthConnector.consent(authorize_url)
    params = FakeOAuthConnector.sign({**params, "state": params["state"][:-2] + "xx"})  # validly signed, wrong state
    response = coordinator_client.get(path, params)
    assert response.status_code == 400
    assert "changed on the way" in response.content.decode()
    assert not Connection.objects.exists()
    assert not FakeOAuthConnector.used, "the code was never sent to the platform"


def test_reused_state_is_refused(coordinator_client, tenant):
    response, params = finish_oauth(coordinator_client, start_oauth(coordinator_client, tenant["shg"]))
    assert response.status_code == 302
    replay = coordinator_client.get(reverse("integrations:oauth_callback", args=["testoauth"]), params)
    assert replay.status_code == 400
    assert "already used" in replay.content.decode()
    assert Connection.objects.count() == 1


def test_expired_state_is_refused(coordinator_client, tenant, monkeypatch):
    authorize_url = start_oauth(coordinator_client, tenant["shg"])
    later = flows._now() + flows.STATE_TTL_SECONDS + 1
    monkeypatch.setattr(flows, "_now", lambda: later)
    response, _ = finish_oauth(coordinator_client, authorize_url)
    assert response.status_code == 400
    assert "expired" in response.content.decode()
    assert not Connection.objects.exists()


def test_state_of_another_session_is_refused(coordinator_client, tenant):
    authorize_url = start_oauth(coordinator_client, tenant["shg"])
    other = Client()
    other.force_login(make_user(organization=tenant["federation"]))
    response, _ = finish_oauth(other, authorize_url)
    assert response.status_code == 400
    assert not Connection.objects.exists()


def test_state_for_another_platform_is_refused(coordinator_client, tenant, monkeypatch):
    authorize_url = start_oauth(coordinator_client, tenant["shg"])
    # The same state presented at another OAuth platform's callback.
    from apps.integrations.connectors import registry

    monkeypatch.setitem(registry.CONNECTOR_PATHS, "otheroauth", registry.CONNECTOR_PATHS["testoauth"])
    _path, params = FakeOAuthConnector.consent(authorize_url)
    response = coordinator_client.get(reverse("integrations:oauth_callback", args=["otheroauth"]), params)
    assert response.status_code == 400 and "another platform" in response.content.decode()


def test_bad_hmac_is_refused_and_nothing_saved(coordinator_client, tenant):
    authorize_url = start_oauth(coordinator_client, tenant["shg"])
    response, _ = finish_oauth(coordinator_client, authorize_url, hmac="0" * 64)
    assert response.status_code == 400
    assert "hmac does not match" in response.content.decode()
    assert not Connection.objects.exists()


def test_replayed_code_is_refused_by_the_platform(coordinator_client, tenant):
    response, params = finish_oauth(coordinator_client, start_oauth(coordinator_client, tenant["shg"]))
    assert response.status_code == 302
    # A fresh state, but the code the platform already exchanged once.
    second = start_oauth(coordinator_client, tenant["shg"])
    replay = FakeOAuthConnector.sign({**params, "state": parse_qs(urlsplit(second).query)["state"][0]})
    response = coordinator_client.get(reverse("integrations:oauth_callback", args=["testoauth"]), replay)
    assert response.status_code == 400
    assert "invalid_grant" in response.content.decode()
    assert Connection.objects.count() == 1


def test_platform_down_during_exchange_is_a_502_with_a_retry_link(coordinator_client, tenant):
    authorize_url = start_oauth(coordinator_client, tenant["shg"])
    FakeOAuthConnector.exchange_down = True
    response, _ = finish_oauth(coordinator_client, authorize_url)
    assert response.status_code == 502
    assert connect_url(tenant["shg"], "testoauth") in response.content.decode()
    assert not Connection.objects.exists()


def test_declined_consent_is_shown(coordinator_client, tenant):
    authorize_url = start_oauth(coordinator_client, tenant["shg"])
    state = parse_qs(urlsplit(authorize_url).query)["state"][0]
    response = coordinator_client.get(reverse("integrations:oauth_callback", args=["testoauth"]),
                                      {"state": state, "error": "access_denied", "error_description": "The seller said no"})
    assert response.status_code == 400 and "The seller said no" in response.content.decode()
    assert not Connection.objects.exists()


def test_callback_is_404_for_api_key_and_unknown_platforms(coordinator_client):
    assert coordinator_client.get(reverse("integrations:oauth_callback", args=["testkeys"])).status_code == 404
    assert coordinator_client.get(reverse("integrations:oauth_callback", args=["nosuch"])).status_code == 404
    assert coordinator_client.post(reverse("integrations:oauth_callback", args=["testoauth"])).status_code == 405


def test_coordinator_who_lost_access_before_the_callback_is_refused(coordinator_client, tenant):
    authorize_url = start_oauth(coordinator_client, tenant["shg"])
    Membership.objects.filter(user=tenant["coordinator"]).update(role=Membership.Role.VIEWER)
    response, _ = finish_oauth(coordinator_client, authorize_url)
    assert response.status_code == 403
    assert not Connection.objects.exists()


# --- reconnect, test, disconnect --------------------------------------------------------------------------------


def test_reconnect_of_a_needs_reauth_oauth_connection_updates_the_same_row(coordinator_client, tenant):
    finish_oauth(coordinator_client, start_oauth(coordinator_client, tenant["shg"]))
    connection = Connection.objects.get()
    old_token = connection.credentials["access_token"]
    FakeOAuthConnector.valid_tokens.discard(old_token)  # the seller revoked Haat's access
    Connection.objects.filter(pk=connection.pk).update(status=Connection.Status.NEEDS_REAUTH, cursors={"orders": "x"})

    page = coordinator_client.get(reverse("integrations:reconnect", args=[connection.pk]))
    assert 'value="asha.shop.example"' in page.content.decode()  # the shop is prefilled
    response = coordinator_client.post(reverse("integrations:reconnect", args=[connection.pk]), {"shop": "asha.shop.example"})
    finish_oauth(coordinator_client, response["Location"])

    connection.refresh_from_db()
    assert Connection.objects.count() == 1
    assert connection.status == Connection.Status.ACTIVE
    assert connection.credentials["access_token"] != old_token
    assert connection.cursors == {"orders": "x"}, "reconnecting keeps the sync position"


def test_reconnect_with_another_account_is_refused(coordinator_client, tenant):
    finish_oauth(coordinator_client, start_oauth(coordinator_client, tenant["shg"]))
    connection = Connection.objects.get()
    response = coordinator_client.post(reverse("integrations:reconnect", args=[connection.pk]), {"shop": "other.shop.example"})
    response, _ = finish_oauth(coordinator_client, response["Location"])
    assert response.status_code == 400
    assert "this connection is for asha.shop.example" in response.content.decode()
    assert Connection.objects.count() == 1


def test_reconnect_of_an_api_key_connection(coordinator_client, tenant):
    coordinator_client.post(connect_url(tenant["shg"], "testkeys"), KEYS_FORM)
    connection = Connection.objects.get()
    coordinator_client.post(reverse("integrations:disconnect", args=[connection.pk]))
    page = coordinator_client.get(reverse("integrations:reconnect", args=[connection.pk])).content.decode()
    assert 'value="https://shop.example"' in page and GOOD_SECRET not in page
    response = coordinator_client.post(reverse("integrations:reconnect", args=[connection.pk]), KEYS_FORM)
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.status == Connection.Status.ACTIVE and connection.credentials["consumer_secret"] == GOOD_SECRET
    assert Connection.objects.count() == 1


def test_test_button_sets_needs_reauth_when_refused(coordinator_client, tenant):
    connection = make_connection(tenant["shg"], platform="testkeys", config={"store_url": "https://shop.example"},
                                 credentials={"consumer_key": GOOD_KEY, "consumer_secret": "revoked"})
    response = coordinator_client.post(reverse("integrations:test", args=[connection.pk]), follow=True)
    connection.refresh_from_db()
    assert connection.status == Connection.Status.NEEDS_REAUTH
    body = response.content.decode()
    assert "Consumer key is invalid" in body and "Reconnect" in body


def test_test_button_reactivates_a_working_connection(coordinator_client, tenant):
    connection = make_connection(tenant["shg"], platform="testkeys", status=Connection.Status.ERROR,
                                 config={"store_url": "https://shop.example"}, last_error="old failure",
                                 credentials={"consumer_key": GOOD_KEY, "consumer_secret": GOOD_SECRET})
    response = coordinator_client.post(reverse("integrations:test", args=[connection.pk]), follow=True)
    connection.refresh_from_db()
    assert connection.status == Connection.Status.ACTIVE and connection.last_error == ""
    assert "the connection works" in response.content.decode()


def test_disconnect_wipes_credentials_and_unregisters_webhooks(coordinator_client, tenant):
    connection = make_connection(tenant["shg"], platform="testkeys", config={"store_url": "https://shop.example",
                                                                              "webhook_ids": ["11", "12"]},
                                 credentials={"consumer_key": GOOD_KEY, "consumer_secret": GOOD_SECRET})
    response = coordinator_client.post(reverse("integrations:disconnect", args=[connection.pk]))
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.credentials == {} and connection.status == Connection.Status.DISABLED
    assert connection.next_sync_at is None
    assert KeysConnector.unregistered == [["11", "12"]]
    assert "webhook_ids" not in connection.config


def test_disconnect_goes_ahead_when_unregistering_fails_and_records_it(coordinator_client, tenant):
    from apps.integrations.connectors.errors import TransientError

    KeysConnector.unregister_error = TransientError("HTTP 503 from DELETE https://shop.example/wp-json/wc/v3/webhooks/11")
    connection = make_connection(tenant["shg"], platform="testkeys", config={"store_url": "https://shop.example",
                                                                              "webhook_ids": ["11"]})
    response = coordinator_client.post(reverse("integrations:disconnect", args=[connection.pk]), follow=True)
    connection.refresh_from_db()
    assert connection.credentials == {} and connection.status == Connection.Status.DISABLED
    assert "HTTP 503" in connection.last_error and connection.config["webhook_ids"] == ["11"]
    assert "did not confirm removing" in response.content.decode()


def test_state_changes_are_post_only(coordinator_client, tenant):
    connection = make_connection(tenant["shg"], platform="testkeys")
    for name in ("test", "disconnect"):
        assert coordinator_client.get(reverse(f"integrations:{name}", args=[connection.pk])).status_code == 405
    connection.refresh_from_db()
    assert connection.status == Connection.Status.ACTIVE and connection.credentials


def test_csrf_is_enforced(tenant):
    client = Client(enforce_csrf_checks=True)
    client.force_login(tenant["coordinator"])
    connection = make_connection(tenant["shg"], platform="testkeys")
    assert client.post(reverse("integrations:disconnect", args=[connection.pk])).status_code == 403
    assert client.post(connect_url(tenant["shg"], "testkeys"), KEYS_FORM).status_code == 403
    connection.refresh_from_db()
    assert connection.credentials


def test_viewer_sees_the_connection_but_cannot_change_it(client, tenant):
    connection = make_connection(tenant["shg"], platform="testkeys")
    client.force_login(tenant["viewer"])
    page = client.get(reverse("integrations:detail", args=[connection.pk]))
    assert page.status_code == 200 and reverse("integrations:disconnect", args=[connection.pk]) not in page.content.decode()
    assert client.post(reverse("integrations:disconnect", args=[connection.pk])).status_code == 403
    assert client.post(reverse("integrations:test", args=[connection.pk])).status_code == 403
    assert client.get(reverse("integrations:reconnect", args=[connection.pk])).status_code == 403
    connection.refresh_from_db()
    assert connection.credentials


def test_another_tenants_connection_is_404(client, tenant):
    connection = make_connection(tenant["shg"], platform="testkeys")
    client.force_login(make_user(organization=make_org(), role=Membership.Role.ORG_ADMIN))
    for name in ("detail", "reconnect"):
        assert client.get(reverse(f"integrations:{name}", args=[connection.pk])).status_code == 404
    for name in ("test", "disconnect", "reconnect"):
        assert client.post(reverse(f"integrations:{name}", args=[connection.pk])).status_code == 404
    assert client.get(reverse("integrations:picker", args=[tenant["shg"].pk])).status_code == 404
    assert connection.display_name not in client.get(reverse("integrations:list")).content.decode()


def test_detail_page_shows_status_sync_times_error_and_capabilities_but_no_secret(coordinator_client, tenant):
    connection = make_connection(tenant["shg"], platform="testkeys", status=Connection.Status.ERROR,
                                 last_error="HTTP 500 from GET https://shop.example/orders")
    body = coordinator_client.get(reverse("integrations:detail", args=[connection.pk])).content.decode()
    assert connection.display_name in body and "Error" in body
    assert "HTTP 500 from GET https://shop.example/orders" in body
    assert "Instant order updates" in body and "Next sync" in body
    for secret in connection.credentials.values():
        assert secret not in body


def test_anonymous_is_sent_to_login(client, tenant):
    response = client.get(reverse("integrations:picker", args=[tenant["shg"].pk]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
