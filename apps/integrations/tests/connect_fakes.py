"""Two small test-only connectors for the connect-flow tests, and a fixture that puts them in the registry.

They play a platform in memory: `KeysConnector` accepts one key pair per store, `FakeOAuthConnector`
issues single-use codes from its "consent page" (`consent()`), signs callbacks like Shopify (hmac over the
sorted query) and refuses replayed codes. The real connectors are exercised end to end against the
sandbox in test_flows.py.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from apps.integrations.connectors import registry
from apps.integrations.connectors.base import (
    AuthKind,
    Capability,
    ConnectionContext,
    Connector,
    CredentialField,
    OAuthTokens,
)
from apps.integrations.connectors.errors import AuthError, PermanentError, TransientError

GOOD_KEY = "ck_live_0123456789abcdef"
GOOD_SECRET = "cs_live_fedcba9876543210"


class KeysConnector(Connector):
    slug = "testkeys"
    name = "Test Keys Market"
    auth_kind = AuthKind.API_KEY
    capabilities = frozenset({Capability.WEBHOOKS})
    credential_fields = (
        CredentialField("store_url", "Store address", stored_in="config", help_text="Like https://shop.example"),
        CredentialField("consumer_key", "Consumer key", secret=True),
        CredentialField("consumer_secret", "Consumer secret", secret=True),
        CredentialField("region", "Region", required=False, stored_in="config", choices=(("in", "India"), ("eu", "Europe"))),
    )
    docs_url = "https://docs.example/keys"

    # The "platform": store URL -> (key, secret); the test sets it up.
    accounts: dict[str, tuple[str, str]] = {}
    unregistered: list[list[str]] = []
    unregister_error: Exception | None = None
    down = False
    built_with: list[dict[str, Any]] = []

    @classmethod
    def reset(cls) -> None:
        cls.accounts = {"https://shop.example": (GOOD_KEY, GOOD_SECRET)}
        cls.unregistered = []
        cls.unregister_error = None
        cls.down = False
        cls.built_with = []

    @classmethod
    def default_base_url(cls, context: ConnectionContext) -> str:
        return context.config.get("store_url", "https://invalid.example")

    def test_connection(self) -> dict[str, Any]:
        KeysConnector.built_with.append({"config": dict(self.context.config), "base_url": self.base_url})
        if KeysConnector.down:
            raise TransientError("HTTP 503 from GET https://shop.example/wp-json/wc/v3/system_status")
        store = self.context.config.get("store_url", "")
        if not store.startswith("https://"):
            raise ValueError("The store address must start with https://")
        expected = KeysConnector.accounts.get(store)
        given = (self.context.credentials.get("consumer_key"), self.context.credentials.get("consumer_secret"))
        if expected is None or expected != given:
            raise AuthError("Consumer key is invalid. [woocommerce_rest_authentication_error]", status_code=401)
        return {"name": "Asha's Store"}

    def unregister_webhooks(self, *, webhook_ids: Sequence[str]) -> None:
        if KeysConnector.unregister_error is not None:
            raise KeysConnector.unregister_error
        KeysConnector.unregistered.append(list(webhook_ids))


class FakeOAuthConnector(Connector):
    slug = "testoauth"
    name = "Test OAuth Shop"
    auth_kind = AuthKind.OAUTH
    capabilities = frozenset()
    oauth_start_fields = (CredentialField("shop", "Shop domain", help_text="Like asha.shop.example"),)
    app_secret = "fake-app-secret-for-hmac"

    issued: dict[str, str] = {}
    used: set[str] = set()
    valid_tokens: set[str] = set()
    exchange_down = False

    @classmethod
    def reset(cls) -> None:
        cls.issued, cls.used, cls.valid_tokens = {}, set(), set()
        cls.exchange_down = False

    @classmethod
    def default_base_url(cls, context: ConnectionContext) -> str:
        return f"https://{context.config['shop']}"

    @classmethod
    def authorization_url(cls, *, state: str, redirect_uri: str, params: dict[str, str], config: dict[str, Any]) -> str:
        shop = params.get("shop", "")
        if not shop.endswith(".shop.example"):
            raise PermanentError(f"{shop!r} is not a shop domain (like asha.shop.example)")
        base = config.get("base_url") or f"https://{shop}"
        return f"{base}/oauth/authorize?" + urlencode({"state": state, "redirect_uri": redirect_uri, "shop": shop})

    @classmethod
    def sign(cls, params: dict[str, str]) -> dict[str, str]:
        message = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "hmac")
        return {**params, "hmac": hmac.new(cls.app_secret.encode(), message.encode(), hashlib.sha256).hexdigest()}

    @classmethod
    def consent(cls, authorize_url: str, *, shop: str | None = None) -> tuple[str, dict[str, str]]:
        """The platform's consent page said yes: return (redirect path, signed callback params)."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
        code = secrets.token_hex(8)
        cls.issued[code] = shop or query["shop"]
        params = cls.sign({"code": code, "shop": shop or query["shop"], "state": query["state"], "timestamp": "1700000000"})
        return urlsplit(query["redirect_uri"]).path, params

    @classmethod
    def verify_callback(cls, *, params: dict[str, str], config: dict[str, Any]) -> None:
        expected = cls.sign(params)["hmac"]
        if not hmac.compare_digest(expected, params.get("hmac", "")):
            raise AuthError("The callback's hmac does not match: it was not sent by the platform")
        if params.get("shop") != config.get("shop"):
            raise AuthError("The callback is for another shop than the one you started with")

    @classmethod
    def exchange_code(cls, *, callback_params: dict[str, str], redirect_uri: str, http, config: dict[str, Any]) -> OAuthTokens:
        if cls.exchange_down:
            raise TransientError("HTTP 503 from POST https://asha.shop.example/oauth/access_token")
        code = callback_params.get("code", "")
        if code in cls.used or code not in cls.issued:
            raise AuthError("invalid_grant: the authorization code was already used or is unknown", status_code=400)
        cls.used.add(code)
        token = "tok_" + secrets.token_hex(12)
        cls.valid_tokens.add(token)
        return OAuthTokens(credentials={"access_token": token}, external_account_id=cls.issued[code],
                           display_name=f"Shop {cls.issued[code]}", config={"scopes": "read_orders"})

    def test_connection(self) -> dict[str, Any]:
        if self.context.credentials.get("access_token") not in FakeOAuthConnector.valid_tokens:
            raise AuthError("[API] Invalid API key or access token (unrecognized login or wrong password)", status_code=401)
        return {"shop": self.context.config.get("shop")}


@pytest.fixture
def fake_platforms(monkeypatch):
    """Only the two fake platforms are in the registry for the test."""
    monkeypatch.setattr(registry, "CONNECTOR_PATHS", {
        "testkeys": f"{__name__}.KeysConnector",
        "testoauth": f"{__name__}.FakeOAuthConnector",
    })
    registry.get_connector_class.cache_clear()
    KeysConnector.reset()
    FakeOAuthConnector.reset()
    yield
    registry.get_connector_class.cache_clear()
