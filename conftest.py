"""Project-wide fixtures: the in-process sandbox, tenants, and service availability rules."""

import os

import httpx
import pytest

from apps.sandbox.transport import SANDBOX_TEST_ORIGIN, sandbox_session, sandbox_wsgi_app

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_service(name: str, available: bool, why: str = "") -> None:
    """Skip a test that needs a service outside CI; in CI a missing service fails the run."""
    if available:
        return
    message = f"{name} is not available{': ' + why if why else ''}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true requires it)")
    pytest.skip(message)


@pytest.fixture
def sandbox_http(monkeypatch):
    """Route every platform call made through apps.integrations.http to the in-process sandbox."""
    monkeypatch.setattr("apps.integrations.http.new_session", sandbox_session)
    # The Amazon connector speaks httpx (python-amazon-sp-api): its network transport goes in-process too.
    monkeypatch.setattr("apps.integrations.connectors.amazon.new_transport",
                        lambda: httpx.WSGITransport(app=sandbox_wsgi_app()))
    return sandbox_session()


@pytest.fixture
def sandbox_base():
    """The origin at which the in-process sandbox answers; connections' base URLs start with it."""
    return SANDBOX_TEST_ORIGIN + "/sandbox"


@pytest.fixture
def webhook_inbox(monkeypatch, client):
    """Deliver the sandbox's signed webhooks to the app in-process; returns the list of deliveries."""
    deliveries = []

    def deliver(url, body, headers):
        path = url.split("://", 1)[-1]
        path = "/" + path.split("/", 1)[1] if "/" in path else "/"
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k.lower() != "content-type"}
        response = client.generic("POST", path, data=body,
                                  content_type=headers.get("Content-Type", "application/json"), **extra)
        deliveries.append({"url": url, "headers": headers, "body": body, "status": response.status_code})
        return response.status_code

    monkeypatch.setattr("apps.sandbox.http.deliver_webhook", deliver)
    return deliveries
