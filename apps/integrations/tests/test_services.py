"""Connection services: idempotent upsert, the live checks, disconnect, and what counts as the account id."""

from __future__ import annotations

import logging

import pytest
from django.db import IntegrityError

from apps.integrations import services
from apps.integrations.connectors.base import OAuthTokens
from apps.integrations.connectors.errors import AuthError, RateLimited
from apps.integrations.models import Connection
from apps.integrations.tests.connect_fakes import (
    GOOD_KEY,
    GOOD_SECRET,
    FakeOAuthConnector,
    KeysConnector,
    fake_platforms,  # noqa: F401  (fixture)
)
from tests.factories import make_connection, make_shg

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_platforms")]

VALUES = {"store_url": "https://shop.example", "consumer_key": GOOD_KEY, "consumer_secret": GOOD_SECRET}


@pytest.fixture
def shg():
    return make_shg()


def upsert(shg, **overrides):
    data = {"shg": shg, "platform": "testkeys", "external_account_id": "https://shop.example",
            "credentials": {"consumer_key": "a"}, "config": {"store_url": "https://shop.example"}, "display_name": "Shop"}
    data.update(overrides)
    return services.connection_upsert(**data)


# --- connection_upsert ---------------------------------------------------------------------------------------


def test_upsert_creates_then_updates_the_same_row(shg):
    first, created = upsert(shg)
    Connection.objects.filter(pk=first.pk).update(cursors={"orders": "2026-11-01T00:00:00+00:00"}, consecutive_failures=4,
                                                  status=Connection.Status.NEEDS_REAUTH, last_error="revoked")
    second, created_again = upsert(shg, credentials={"consumer_key": "b"}, config={"region": "in"}, display_name="Other")
    assert created and not created_again and first.pk == second.pk
    second.refresh_from_db()
    assert second.credentials == {"consumer_key": "b"}
    assert second.config == {"store_url": "https://shop.example", "region": "in"}
    assert second.cursors == {"orders": "2026-11-01T00:00:00+00:00"}
    assert second.status == Connection.Status.ACTIVE and second.last_error == "" and second.consecutive_failures == 0
    assert second.display_name == "Shop", "a name once given is kept"
    assert Connection.objects.count() == 1


def test_upsert_drops_a_stale_sandbox_base_url(shg):
    upsert(shg, config={"base_url": "http://testserver/sandbox/testkeys"})
    connection, _ = upsert(shg, config={"store_url": "https://shop.example"})
    assert "base_url" not in connection.config


def test_the_same_account_in_another_shg_is_another_connection(shg):
    upsert(shg)
    upsert(make_shg())
    assert Connection.objects.count() == 2


def test_upsert_requires_an_account_id_and_a_known_platform(shg):
    with pytest.raises(ValueError):
        upsert(shg, external_account_id="")
    from apps.integrations.connectors.registry import UnknownPlatform

    with pytest.raises(UnknownPlatform):
        upsert(shg, platform="nosuch")
    assert not Connection.objects.exists()


def test_upsert_losing_a_race_updates_the_winners_row(shg, monkeypatch):
    winner = make_connection(shg, platform="testkeys", external_account_id="https://shop.example")
    real_create = Connection.objects.create
    calls = []

    class RacingQuerySet:
        """The first lookup misses (the other request has not committed yet); the insert then collides."""

        def __init__(self, qs):
            self.qs = qs

        def filter(self, **kwargs):
            calls.append(kwargs)
            if len(calls) == 1:
                return Connection.objects.none()
            return self.qs.filter(**kwargs)

        def get(self, **kwargs):
            return self.qs.get(**kwargs)

    monkeypatch.setattr(Connection.objects, "select_for_update", lambda: RacingQuerySet(Connection.objects.all()))

    def create(**kwargs):
        raise IntegrityError("uniq_connection_account")

    monkeypatch.setattr(Connection.objects, "create", create)
    connection, created = upsert(shg, credentials={"consumer_key": "new"})
    monkeypatch.setattr(Connection.objects, "create", real_create)
    assert not created and connection.pk == winner.pk
    winner.refresh_from_db()
    assert winner.credentials == {"consumer_key": "new"}


# --- API keys --------------------------------------------------------------------------------------------------


def test_connect_api_key_saves_only_after_a_passing_test(shg):
    with pytest.raises(services.ConnectFailed, match="Consumer key is invalid"):
        services.connection_connect_api_key(shg=shg, platform="testkeys", values={**VALUES, "consumer_key": "ck_bad_0000"})
    assert not Connection.objects.exists()
    connection = services.connection_connect_api_key(shg=shg, platform="testkeys", values=VALUES)
    assert connection.status == Connection.Status.ACTIVE


def test_connect_api_key_on_an_oauth_platform_is_refused(shg):
    with pytest.raises(services.ConnectFailed):
        services.connection_connect_api_key(shg=shg, platform="testoauth", values={})


def test_a_token_cached_during_the_test_is_saved(shg, monkeypatch):
    def test_connection(self):
        self.context.save_credentials({**self.context.credentials, "access_token": "cached-token"})
        return {"external_account_id": "seller-42"}

    monkeypatch.setattr(KeysConnector, "test_connection", test_connection)
    connection = services.connection_connect_api_key(shg=shg, platform="testkeys", values=VALUES)
    assert connection.credentials["access_token"] == "cached-token"
    assert connection.external_account_id == "seller-42"


def test_error_messages_are_masked(shg, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)

    def test_connection(self):
        raise AuthError(f"refused consumer_key={GOOD_KEY} Authorization: Bearer shpat_abcdef0123456789")

    monkeypatch.setattr(KeysConnector, "test_connection", test_connection)
    with pytest.raises(services.ConnectFailed) as info:
        services.connection_connect_api_key(shg=shg, platform="testkeys", values=VALUES)
    assert GOOD_KEY not in info.value.message and "shpat_abcdef0123456789" not in info.value.message
    assert "refused" in info.value.message
    assert GOOD_KEY not in caplog.text


@pytest.mark.parametrize(("info", "expected"), [
    ({"external_account_id": "A1B2"}, "A1B2"),
    ({"seller_id": 991}, "991"),
    ({"name": "no id here"}, "https://shop.example"),
])
def test_external_account_id_precedence(info, expected):
    assert services.external_account_id_for(KeysConnector, info, {"store_url": "https://shop.example"}, {}) == expected


def test_external_account_id_falls_back_to_a_fingerprint_never_the_secret():
    value = services.external_account_id_for(KeysConnector, {}, {}, {"consumer_secret": GOOD_SECRET})
    assert value.startswith("key-") and GOOD_SECRET not in value
    assert value == services.external_account_id_for(KeysConnector, {}, {}, {"consumer_secret": GOOD_SECRET})


# --- OAuth --------------------------------------------------------------------------------------------------


def test_connect_oauth_requires_an_account_id(shg):
    with pytest.raises(services.ConnectFailed, match="did not say which account"):
        services.connection_connect_oauth(shg=shg, platform="testoauth", tokens=OAuthTokens(credentials={"a": "b"}), config={})
    assert not Connection.objects.exists()


# --- connection_test -------------------------------------------------------------------------------------------


def test_check_outcomes_set_the_status(shg, monkeypatch):
    connection = make_connection(shg, platform="testkeys", config={"store_url": "https://shop.example"},
                                 credentials={"consumer_key": GOOD_KEY, "consumer_secret": GOOD_SECRET},
                                 status=Connection.Status.PENDING, next_sync_at=None)
    outcome = services.connection_test(connection=connection)
    assert outcome.ok and connection.status == Connection.Status.ACTIVE and connection.next_sync_at is not None

    def busy(self):
        raise RateLimited("HTTP 429 from GET https://shop.example/x", retry_after=5)

    monkeypatch.setattr(KeysConnector, "test_connection", busy)
    outcome = services.connection_test(connection=connection)
    connection.refresh_from_db()
    assert not outcome.ok and connection.status == Connection.Status.ACTIVE, "a busy platform does not break a connection"
    assert "HTTP 429" in connection.last_error

    def refused(self):
        raise AuthError("token revoked")

    monkeypatch.setattr(KeysConnector, "test_connection", refused)
    services.connection_test(connection=connection)
    connection.refresh_from_db()
    assert connection.status == Connection.Status.NEEDS_REAUTH and connection.last_error == "token revoked"


def test_check_does_not_overwrite_sync_fields_written_meanwhile(shg):
    connection = make_connection(shg, platform="testkeys", config={"store_url": "https://shop.example"},
                                 credentials={"consumer_key": GOOD_KEY, "consumer_secret": GOOD_SECRET})
    Connection.objects.filter(pk=connection.pk).update(cursors={"orders": "advanced"})
    services.connection_test(connection=connection)
    connection.refresh_from_db()
    assert connection.cursors == {"orders": "advanced"}


def test_check_of_a_disconnected_connection_makes_no_call(shg):
    connection = make_connection(shg, platform="testkeys", credentials={}, status=Connection.Status.DISABLED)
    outcome = services.connection_test(connection=connection)
    assert not outcome.ok and not KeysConnector.built_with


def test_check_of_an_uninstalled_platform(shg):
    connection = make_connection(shg, platform="gone")
    assert not services.connection_test(connection=connection).ok


# --- disconnect ----------------------------------------------------------------------------------------------


def test_disconnect_without_webhooks_makes_no_call(shg):
    connection = make_connection(shg, platform="testkeys", config={"store_url": "https://shop.example"})
    outcome = services.connection_disconnect(connection=connection)
    assert outcome.webhook_error == "" and KeysConnector.unregistered == []
    assert outcome.connection.credentials == {} and outcome.connection.status == Connection.Status.DISABLED


def test_disconnect_survives_an_unexpected_connector_bug(shg):
    KeysConnector.unregister_error = KeyError("id")
    connection = make_connection(shg, platform="testkeys", config={"webhook_ids": [1]})
    outcome = services.connection_disconnect(connection=connection)
    assert outcome.webhook_error and outcome.connection.status == Connection.Status.DISABLED
    assert Connection.objects.get().credentials == {}


def test_disconnect_of_an_oauth_platform_without_webhooks(shg):
    connection = make_connection(shg, platform="testoauth", config={"webhook_ids": ["1"]})
    assert FakeOAuthConnector.capabilities == frozenset()
    services.connection_disconnect(connection=connection)
    assert Connection.objects.get().credentials == {}


def test_replace_credentials(shg):
    connection = make_connection(shg, platform="testkeys")
    services.connection_replace_credentials(connection=connection, credentials={"consumer_key": "x"})
    assert Connection.objects.get().credentials == {"consumer_key": "x"}
    with pytest.raises(ValueError):
        services.connection_replace_credentials(connection=connection, credentials=["x"])


def test_credentials_are_encrypted_at_rest(shg):
    from django.db import connection as db

    created = services.connection_connect_api_key(shg=shg, platform="testkeys", values=VALUES)
    with db.cursor() as cursor:
        cursor.execute("SELECT credentials FROM integrations_connection WHERE id = %s", [created.pk])
        raw = cursor.fetchone()[0]
    assert GOOD_SECRET not in str(raw) and GOOD_KEY not in str(raw)


def test_sandbox_config(settings):
    settings.SANDBOX = True
    settings.SANDBOX_ROOT_URL = "http://demo.local:8000/sandbox"
    assert services.sandbox_config(KeysConnector, {}) == {"base_url": "http://demo.local:8000/sandbox/testkeys"}
    settings.SANDBOX = False
    assert services.sandbox_config(KeysConnector, {}) == {}
