"""Token authentication, revocation, throttling per token and the error shape of 401/404/405/429."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.accounts.services import partner_token_create, partner_token_revoke
from apps.core.api import PartnerTokenThrottle
from tests.api.conftest import assert_error, client_for

SHGS = "/api/v1/shgs/"


def test_no_token_is_401_in_the_error_shape(client, partner):
    response = client.get(SHGS)
    body = assert_error(response, 401, set())
    assert body["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Token"


def test_unknown_and_malformed_tokens_are_401(partner):
    assert_error(client_for("haat_not-a-real-key").get(SHGS), 401)
    assert_error(client_for("nothaat").get(SHGS), 401)


def test_a_revoked_token_is_401(api, partner):
    assert api.get(SHGS).status_code == 200
    partner_token_revoke(token=partner["token"])
    body = assert_error(api.get(SHGS), 401)
    assert partner["key"] not in str(body)


def test_the_key_is_stored_hashed_only(partner):
    token = partner["token"]
    token.refresh_from_db()
    assert partner["key"] not in {token.key_hash, token.key_prefix, token.name}


def test_throttle_is_per_token(api, partner, monkeypatch):
    monkeypatch.setattr(PartnerTokenThrottle, "THROTTLE_RATES", {"partner_token": "3/min"})
    for _ in range(3):
        assert api.get(SHGS).status_code == 200
    response = api.get(SHGS)
    body = assert_error(response, 429)
    assert body["code"] == "throttled" and body["retry_after"] >= 1
    assert int(response["Retry-After"]) >= 1
    # Another token of the same partner has its own budget.
    _token, other_key = partner_token_create(organization=partner["federation"], name="Second")
    assert client_for(other_key).get(SHGS).status_code == 200


def test_unknown_route_and_method_use_the_error_shape(api, partner):
    body = assert_error(api.get(f"{SHGS}999999/"), 404)
    assert body["code"] == "not_found"
    assert_error(api.delete(f"{SHGS}{partner['shg'].pk}/"), 405)


@pytest.mark.parametrize("name", ["api:schema", "api:docs", "api:redoc"])
def test_schema_and_docs_are_public_and_served_locally(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 200
    if name != "api:schema":
        page = response.content.decode()
        assert "cdn.jsdelivr" not in page and "unpkg.com" not in page
        assert "/static/drf_spectacular_sidecar/" in page
