"""The HTTP layer: typed errors, retries honouring Retry-After, token buckets, request accounting."""

import time

import pytest
import requests
import responses
from django.core.cache import cache

from apps.integrations.connectors.errors import AuthError, PermanentError, RateLimited, TransientError
from apps.integrations.http import HttpClient, RateLimit, TokenBucket, retry_after_seconds

URL = "https://api.example.test/v1/things"


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def no_sleep(monkeypatch):
    slept = []
    monkeypatch.setattr(time, "sleep", lambda seconds: slept.append(seconds))
    return slept


def client(**kwargs):
    return HttpClient(connection_key="test", **kwargs)


@responses.activate
def test_success_counts_one_request():
    responses.get(URL, json={"ok": True})
    http = client()
    assert HttpClient.json(http.request("GET", URL)) == {"ok": True}
    assert http.stats.requests == 1 and http.stats.retries == 0


@responses.activate
def test_429_is_retried_after_retry_after(no_sleep, settings):
    settings.HTTP_MAX_BACKOFF = 60
    responses.get(URL, status=429, headers={"Retry-After": "7"}, json={})
    responses.get(URL, json={"ok": True})
    http = client()
    http.request("GET", URL)
    assert http.stats.requests == 2 and http.stats.retries == 1 and http.stats.rate_limited == 1
    assert 7 in no_sleep


@responses.activate
def test_retry_after_is_capped(no_sleep, settings):
    settings.HTTP_MAX_BACKOFF = 2
    responses.get(URL, status=429, headers={"Retry-After": "86400"}, json={})
    responses.get(URL, json={})
    client().request("GET", URL)
    assert max(no_sleep) <= 2


@responses.activate
def test_server_errors_retry_then_give_up(no_sleep):
    for _ in range(3):
        responses.get(URL, status=503, body="busy")
    http = client(max_retries=2)
    with pytest.raises(TransientError) as info:
        http.request("GET", URL)
    assert http.stats.requests == 3 and http.stats.retries == 2
    assert info.value.raw == "busy"


@responses.activate
def test_connection_errors_are_transient(no_sleep):
    responses.get(URL, body=requests.ConnectionError("reset"))
    with pytest.raises(TransientError):
        client(max_retries=0).request("GET", URL)


@responses.activate
def test_401_is_auth_error_not_retried():
    responses.get(URL, status=401, json={"errors": [{"code": "Unauthorized"}]})
    http = client()
    with pytest.raises(AuthError):
        http.request("GET", URL)
    assert http.stats.requests == 1


@responses.activate
def test_400_is_permanent_and_keeps_body():
    responses.get(URL, status=400, json={"message": "bad field"})
    with pytest.raises(PermanentError) as info:
        client().request("GET", URL)
    assert "bad field" in info.value.raw


@responses.activate
def test_malformed_json_is_permanent_and_keeps_raw():
    responses.get(URL, body='{"orders": [1, 2', content_type="application/json")
    response = client().request("GET", URL)
    with pytest.raises(PermanentError) as info:
        HttpClient.json(response)
    assert info.value.raw == '{"orders": [1, 2'


@responses.activate
def test_persistent_429_raises_rate_limited(no_sleep):
    for _ in range(3):
        responses.get(URL, status=429, json={})
    with pytest.raises(RateLimited):
        client(max_retries=2).request("GET", URL)


@responses.activate
def test_error_messages_never_carry_the_query_string():
    responses.get(URL, status=400, json={})
    with pytest.raises(PermanentError) as info:
        client().request("GET", URL, params={"glusr_crm_key": "SECRETKEY"})
    assert "SECRETKEY" not in str(info.value)


def test_token_bucket_allows_a_burst_then_spaces_calls():
    bucket = TokenBucket("burst-test", RateLimit(rate=2, burst=3))
    waits = [bucket.reserve() for _ in range(5)]
    assert waits[:3] == [0, 0, 0]
    assert waits[3] == pytest.approx(0.5, abs=0.05)
    assert waits[4] == pytest.approx(1.0, abs=0.05)


@responses.activate
def test_throttle_waits_per_operation(no_sleep):
    responses.get(URL, json={})
    http = client(rate_limits={"orders": RateLimit(rate=1, burst=1)})
    for _ in range(3):
        http.request("GET", URL, operation="orders")
    http.request("GET", URL, operation="other")
    assert len([s for s in no_sleep if s > 0]) == 2
    assert http.stats.by_operation == {"orders": 3, "other": 1}


def test_retry_after_parses_http_dates_and_platform_headers():
    assert retry_after_seconds({"Retry-After": "3"}) == 3
    assert retry_after_seconds({"X-Rate-Limit-Time-Reset-Ms": "1500"}) == 1.5
    assert retry_after_seconds({"X-Ratelimit-Retry": "2"}) == 2
    assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0
    assert retry_after_seconds({}) is None
