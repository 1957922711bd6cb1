"""The OpenAPI schema is valid, and a bounded schemathesis run against the app in-process finds no 5xx and
no answer outside the schema."""

from __future__ import annotations

import pytest
import schemathesis
import yaml
from django.db import transaction
from hypothesis import HealthCheck, Phase, given, settings
from openapi_spec_validator import validate
from schemathesis import checks as st_checks

from apps.events.services import publish
from apps.integrations.models import SyncRun
from config.wsgi import application
from tests.api.test_orders import make_order
from tests.factories import make_connection


@pytest.fixture
def schema_doc(client) -> dict:
    response = client.get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_schema_validates(schema_doc):
    validate(schema_doc)
    paths = set(schema_doc["paths"])
    assert {"/api/v1/shgs/", "/api/v1/connections/{id}/sync/", "/api/v1/orders/", "/api/v1/fulfilments/",
            "/api/v1/webhook-subscriptions/{id}/test/", "/api/v1/listings/", "/api/v1/listings/{id}/publish/",
            "/api/v1/inventory/", "/api/v1/inventory/adjust/", "/api/v1/inventory/push/", "/api/v1/stock-movements/",
            "/api/v1/marketplace-stock/", "/api/v1/connections/{id}/import-listings/"} <= paths
    assert "patch" in schema_doc["paths"]["/api/v1/variants/{id}/"]
    assert "put" not in schema_doc["paths"]["/api/v1/variants/{id}/"]
    assert schema_doc["components"]["securitySchemes"]["tokenAuth"]["type"] == "apiKey"


@pytest.mark.django_db(transaction=True)
def test_schemathesis_finds_no_server_errors(partner, schema_doc, monkeypatch):
    connection = make_connection(partner["shg"])
    for n in range(3):
        make_order(connection, n)
    SyncRun.objects.create(connection=connection, status=SyncRun.Status.SUCCESS)
    with transaction.atomic():
        publish(type="order.created", shg=partner["shg"], payload={"n": 1})
    # No outbound calls from generated requests: connect tests and test deliveries answer from a dead endpoint.
    monkeypatch.setattr("apps.integrations.http.new_session", _refusing_session)
    monkeypatch.setattr("apps.events.subscriptions.new_session", _refusing_session)
    monkeypatch.setattr("apps.core.api.PartnerTokenThrottle.THROTTLE_RATES", {"partner_token": "100000/min"})

    schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
    failures, statuses = [], []

    for operation in schema.get_all_operations():
        op = operation.ok()
        try:
            _runner(op, partner["key"], statuses)()
        except Exception as exc:  # every operation runs; failures are reported together
            failures.append(f"{op.method.upper()} {op.path}: {type(exc).__name__}: {exc}")
    assert not failures, "\n\n".join(failures[:10])
    operations = len(list(schema.get_all_operations()))
    assert len(statuses) >= 2 * operations, (len(statuses), operations)
    assert statuses.count(200) + statuses.count(201) >= operations // 2, sorted(set(statuses))


CHECKS = [st_checks.not_a_server_error, st_checks.status_code_conformance, st_checks.content_type_conformance,
          st_checks.response_schema_conformance]


def _runner(op, key: str, statuses: list[int]):
    """A few derandomized examples of one operation, each answer checked against the schema."""

    @settings(max_examples=4, derandomize=True, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy())
    def run(case):
        case.headers = {**(case.headers or {}), "Authorization": f"Token {key}"}
        response = case.call()
        statuses.append(response.status_code)
        case.validate_response(response, checks=CHECKS)

    return run


class _refusing_session:
    def __init__(self, *args, **kwargs):
        self.headers = {}

    def request(self, *args, **kwargs):
        import requests

        raise requests.ConnectionError("no network in this test")

    post = request
    get = request

    def close(self):
        return None

    def mount(self, *args, **kwargs):
        return None
