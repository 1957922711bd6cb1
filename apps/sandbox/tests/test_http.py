"""The pieces apps/sandbox/http.py shares between platform modules: the demo's "a buyer just bought" request and
the method-auth-call wrapper. Each platform keeps answering in its own error shape."""

from __future__ import annotations

import json
from importlib import import_module

import pytest
from django.http import HttpResponse, JsonResponse
from django.test import RequestFactory

from apps.sandbox import dataset
from apps.sandbox.http import platform_api, sandbox_endpoint

# platform -> a demo account id its sandbox accepts, what its 404 says
DEMO_PLATFORMS = {
    "bigcommerce": ("demobc", "No sandbox store with that account_id"),
    "magento": ("demo-store", "No sandbox store with that account_id"),
    "woocommerce": ("demo-store", "No sandbox WooCommerce store with that account_id"),
    "flipkart": ("fk-demo-seller", "No sandbox Flipkart account with that account_id"),
    "ozon": ("3090009", "No sandbox Ozon account with that account_id"),
    "wildberries": ("wb-demo", "No sandbox Wildberries account with that account_id"),
    "uzum": ("41009", "No sandbox Uzum account with that account_id"),
    "yandex_market": ("21000009", "No sandbox Yandex Market account with that account_id"),
}


def post(client, platform: str, body) -> HttpResponse:
    return client.post(f"/sandbox/{platform}/_sandbox/orders", json.dumps(body), content_type="application/json")


@pytest.mark.django_db
@pytest.mark.parametrize("platform", sorted(DEMO_PLATFORMS))
def test_demo_order_request(client, platform):
    account_id, not_found = DEMO_PLATFORMS[platform]
    account = import_module(f"apps.sandbox.platforms.{platform}").create_demo_account(account_id, "Demo SHG")
    dataset.ensure_seeded(account)
    sku = sorted(row.data["sku"] for row in dataset.objects(account, "product"))[0]

    placed = post(client, platform, {"account_id": account_id, "skus": [{"sku": sku, "quantity": 1}]})
    assert placed.status_code == 201, placed.content
    assert client.get(f"/sandbox/{platform}/_sandbox/orders").status_code == 405

    refusals = [
        (["not", "an", "object"], 400, "account_id"),
        ({"account_id": 7}, 400, "account_id"),
        ({"account_id": "nobody"}, 404, not_found),
        ({"account_id": account_id, "skus": "ABC"}, 400, "skus must be a list of {sku, quantity}"),
        ({"account_id": account_id, "skus": ["ABC"]}, 400, "skus must be a list of {sku, quantity}"),
        ({"account_id": account_id, "skus": [{"sku": "NO-SUCH-SKU"}]}, 400, "NO-SUCH-SKU"),
    ]
    for body, status, words in refusals:
        response = post(client, platform, body)
        assert response.status_code == status, (body, response.content)
        assert words in response.content.decode(), (body, response.content)


@pytest.mark.django_db
@pytest.mark.parametrize("platform", ["bigcommerce", "magento"])
def test_demo_order_whole_quantities_are_checked_before_the_store(client, platform):
    account_id, _ = DEMO_PLATFORMS[platform]
    import_module(f"apps.sandbox.platforms.{platform}").create_demo_account(account_id, "Demo SHG")
    for quantity in (0, 1.5, True, "2"):
        response = post(client, platform, {"account_id": account_id, "skus": [{"sku": "X", "quantity": quantity}]})
        assert response.status_code == 400
        assert response.json() == {"error": "quantities must be whole numbers of at least 1"}


class Refused(Exception):
    pass


def _authenticate(request, kwargs):
    if request.headers.get("Key") != "right":
        return JsonResponse({"why": "bad key"}, status=401)
    return f"account-{kwargs.get('shop', '')}"


api = platform_api(
    endpoint=sandbox_endpoint(server_error=lambda status, message: JsonResponse({"why": message}, status=status),
                              rate_limited=lambda: JsonResponse({"why": "slow down"}, status=429)),
    authenticate=_authenticate, handled=Refused,
    wrong_method=lambda request: JsonResponse({"why": f"no {request.method}"}, status=405),
    render_error=lambda request, exc: JsonResponse({"why": str(exc), "path": request.path}, status=400))


@api("POST")
def _view(request, account, shop):
    if shop == "bad":
        raise Refused("bad shop")
    return JsonResponse({"account": account})


def test_platform_api_checks_the_method_then_the_credential_then_calls():
    factory = RequestFactory()
    assert _view(factory.get("/x"), shop="s").status_code == 405  # before any credential check
    refused = _view(factory.post("/x"), shop="s")
    assert (refused.status_code, json.loads(refused.content)) == (401, {"why": "bad key"})
    answered = _view(factory.post("/x", headers={"Key": "right"}), shop="s")
    assert json.loads(answered.content) == {"account": "account-s"}
    failed = _view(factory.post("/x", headers={"Key": "right"}), shop="bad")
    assert (failed.status_code, json.loads(failed.content)) == (400, {"why": "bad shop", "path": "/x"})
