"""Fixtures of the partner API tests: a partner organization with a token, and an API client that uses it."""

from __future__ import annotations

import importlib

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.accounts.models import Organization
from apps.accounts.services import partner_token_create
from tests.factories import make_org, make_shg


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def partner(db):
    """A federation with one SHG, an NGO partner serving a second federation's SHG, and the NGO's token."""
    federation = make_org("Vidarbha SHG Federation")
    own = make_shg(federation, name="Asha Mahila SHG")
    ngo = make_org("Seva NGO", kind=Organization.Kind.NGO)
    served = make_shg(federation, name="Jyoti Weavers SHG")
    ngo.served_shgs.add(served)
    token, key = partner_token_create(organization=federation, name="Integration")
    return {"federation": federation, "shg": own, "served": served, "ngo": ngo, "token": token, "key": key}


def client_for(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def api(partner) -> APIClient:
    return client_for(partner["key"])


@pytest.fixture
def woo(sandbox_http, sandbox_base):
    """A WooCommerce store in the in-process sandbox: its module, account, store URL and REST keys."""
    module = importlib.import_module("apps.sandbox.platforms.woocommerce")
    account = module.create_demo_account("api-woo", "API Woo Store")
    return {"module": module, "account": account, "store_url": module.store_home(account, sandbox_base),
            "keys": module.connection_credentials(account)}


def assert_error(response, status: int, fields: set[str | None] | None = None) -> dict:
    """The one error shape, and (when given) exactly which fields it names."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) >= {"status", "code", "detail", "errors"}, body
    assert body["status"] == status
    if fields is not None:
        assert {item["field"] for item in body["errors"]} == fields, body
    return body
