"""The OAuth machinery of flows.py: state issue, binding, expiry, single use, bounds.

End-to-end connects of the real connectors against the in-process sandbox are in test_flows_sandbox.py.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.sessions.backends.db import SessionStore

from apps.integrations import flows, services
from apps.integrations.models import Connection
from apps.integrations.tests.connect_fakes import (
    FakeOAuthConnector,
    KeysConnector,
    fake_platforms,  # noqa: F401  (fixture)
)
from tests.factories import make_shg

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_platforms")]


@pytest.fixture
def session():
    return SessionStore()


@pytest.fixture
def shg():
    return make_shg()


def state_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["state"][0]


def begin(session, shg, shop="asha.shop.example", **kwargs):
    return flows.oauth_begin(session, connector_class=FakeOAuthConnector, shg=shg, params={"shop": shop}, **kwargs)


def test_states_are_random_and_bound_to_shg_platform_and_params(session, shg):
    first, second = begin(session, shg), begin(session, shg, "two.shop.example")
    assert state_of(first) != state_of(second)
    pending = flows.oauth_take(session, platform="testoauth", state=state_of(second))
    assert pending.shg_id == shg.pk and pending.platform == "testoauth"
    assert pending.params == {"shop": "two.shop.example"}
    assert pending.config == {"shop": "two.shop.example", "base_url": "http://testserver/sandbox/testoauth"}


def test_the_redirect_uri_is_site_url_plus_the_callback_path(settings):
    settings.SITE_URL = "https://haat.example.org"
    assert flows.redirect_uri("shopify") == "https://haat.example.org/connections/oauth/shopify/callback/"


def test_sandbox_off_leaves_the_platforms_own_hosts(session, shg, settings):
    settings.SANDBOX = False
    url = begin(session, shg)
    assert url.startswith("https://asha.shop.example/oauth/authorize?")
    assert "base_url" not in flows.oauth_take(session, platform="testoauth", state=state_of(url)).config


def test_sandbox_root_follows_the_setting(session, shg, settings):
    settings.SANDBOX_ROOT_URL = "http://127.0.0.1:8000/sandbox/"
    assert services.sandbox_root() == "http://127.0.0.1:8000/sandbox"
    assert begin(session, shg).startswith("http://127.0.0.1:8000/sandbox/testoauth/oauth/authorize?")


def test_a_state_is_single_use(session, shg):
    state = state_of(begin(session, shg))
    flows.oauth_take(session, platform="testoauth", state=state)
    with pytest.raises(flows.StateRejected, match="already used"):
        flows.oauth_take(session, platform="testoauth", state=state)


def test_an_unknown_or_altered_state_is_refused_and_leaves_the_others(session, shg):
    state = state_of(begin(session, shg))
    for bad in (state[:-1] + ("A" if state[-1] != "A" else "B"), "x" * len(state), state + "x"):
        with pytest.raises(flows.StateRejected, match="changed on the way"):
            flows.oauth_take(session, platform="testoauth", state=bad)
    assert flows.oauth_take(session, platform="testoauth", state=state).params["shop"] == "asha.shop.example"


def test_a_missing_state_is_refused(session, shg):
    begin(session, shg)
    for missing in (None, ""):
        with pytest.raises(flows.StateRejected, match="no state"):
            flows.oauth_take(session, platform="testoauth", state=missing)


def test_a_state_expires_after_ten_minutes_and_is_consumed(session, shg, monkeypatch):
    issued = flows._now()
    state = state_of(begin(session, shg))
    monkeypatch.setattr(flows, "_now", lambda: issued + 10 * 60 - 1)
    assert not flows.PendingAuthorization(state="s", platform="p", shg_id=1, issued_at=issued).expired
    monkeypatch.setattr(flows, "_now", lambda: issued + 10 * 60 + 1)
    with pytest.raises(flows.StateRejected, match="expired"):
        flows.oauth_take(session, platform="testoauth", state=state)
    assert not session[flows.SESSION_KEY]


def test_a_state_is_refused_at_another_platforms_callback(session, shg):
    state = state_of(begin(session, shg))
    with pytest.raises(flows.StateRejected, match="another platform"):
        flows.oauth_take(session, platform="shopify", state=state)
    with pytest.raises(flows.StateRejected, match="already used"):
        flows.oauth_take(session, platform="testoauth", state=state)


def test_pending_states_are_bounded_oldest_first(session, shg):
    states = [state_of(begin(session, shg, f"s{n}.shop.example")) for n in range(flows.MAX_PENDING + 2)]
    assert len(session[flows.SESSION_KEY]) == flows.MAX_PENDING
    with pytest.raises(flows.StateRejected):
        flows.oauth_take(session, platform="testoauth", state=states[0])
    newest = flows.oauth_take(session, platform="testoauth", state=states[-1])
    assert newest.params["shop"] == f"s{flows.MAX_PENDING + 1}.shop.example"


def test_expired_states_are_pruned_when_a_new_one_is_issued(session, shg, monkeypatch):
    begin(session, shg, "old.shop.example")
    later = flows._now() + flows.STATE_TTL_SECONDS + 5
    monkeypatch.setattr(flows, "_now", lambda: later)
    begin(session, shg, "new.shop.example")
    assert [e["params"]["shop"] for e in session[flows.SESSION_KEY]] == ["new.shop.example"]


def test_the_session_holds_only_json_and_no_secret(session, shg):
    import json

    begin(session, shg)
    stored = json.dumps(session[flows.SESSION_KEY])
    assert FakeOAuthConnector.app_secret not in stored


def test_a_refused_start_stores_no_state(session, shg):
    with pytest.raises(services.ConnectFailed, match="not a shop domain"):
        begin(session, shg, "evil.example.com")
    assert not session.get(flows.SESSION_KEY)


def test_api_key_connectors_cannot_start_oauth(session, shg):
    with pytest.raises(services.ConnectFailed):
        flows.oauth_begin(session, connector_class=KeysConnector, shg=shg, params={})


def test_complete_stores_then_tests(session, shg):
    url = begin(session, shg)
    pending = flows.oauth_take(session, platform="testoauth", state=state_of(url))
    _path, params = FakeOAuthConnector.consent(url)
    connection, outcome = flows.oauth_complete(pending=pending, connector_class=FakeOAuthConnector, callback_params=params,
                                               shg=shg, user=None)
    assert outcome.ok and connection.status == Connection.Status.ACTIVE
    assert Connection.objects.get().credentials["access_token"] in FakeOAuthConnector.valid_tokens


def test_complete_keeps_a_grant_whose_first_check_fails(session, shg, monkeypatch):
    url = begin(session, shg)
    pending = flows.oauth_take(session, platform="testoauth", state=state_of(url))
    _path, params = FakeOAuthConnector.consent(url)
    monkeypatch.setattr(FakeOAuthConnector, "valid_tokens", set())  # the first call is refused
    original = FakeOAuthConnector.exchange_code.__func__

    def exchange(cls, **kwargs):
        tokens = original(cls, **kwargs)
        cls.valid_tokens.clear()
        return tokens

    monkeypatch.setattr(FakeOAuthConnector, "exchange_code", classmethod(exchange))
    connection, outcome = flows.oauth_complete(pending=pending, connector_class=FakeOAuthConnector, callback_params=params,
                                               shg=shg, user=None)
    assert not outcome.ok and "Invalid API key" in outcome.message
    assert connection.status == Connection.Status.NEEDS_REAUTH
    assert Connection.objects.get().credentials, "the grant is kept so staff can see what happened"
