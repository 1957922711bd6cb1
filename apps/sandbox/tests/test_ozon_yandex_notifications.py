"""The Ozon and Yandex Market sandboxes' notifications: the cabinet forms, and what each change sends."""

from __future__ import annotations

import json

import pytest

from apps.sandbox.platforms import ozon, yandex_market

pytestmark = pytest.mark.django_db

GOOD_ANSWER = (200, {"version": "1.0", "name": "Shop", "time": "2026-11-20T10:00:00Z"})


@pytest.fixture
def sent(monkeypatch):
    deliveries = []
    monkeypatch.setattr("apps.sandbox.http.deliver_webhook",
                        lambda url, body, headers: deliveries.append((url, json.loads(body), headers)) or 200)
    return deliveries


def test_nothing_is_sent_before_the_cabinet_has_a_url(sent):
    yandex_market.create_order(yandex_market.create_demo_account("21650401", "Shop"))
    ozon.create_order(ozon.create_demo_account("2184401", "Seller"))
    assert sent == []


def test_the_yandex_cabinet_pings_then_notifies_orders_and_status_changes(sent):
    account = yandex_market.create_demo_account("21650402", "Shop")
    pings = []
    yandex_market.configure_notifications(account, "https://haat.example/hook",
                                          post=lambda url, payload, timeout: pings.append((payload, timeout)) or GOOD_ANSWER)
    assert pings[0][0]["notificationType"] == "PING" and pings[0][1] == 1.0, "Market waits one second for PING"
    order = yandex_market.create_order(account)
    url, created, headers = sent[0]
    assert url == "https://haat.example/hook" and headers == {"Content-Type": "application/json"}
    assert created == {"notificationType": "ORDER_CREATED", "campaignId": account.settings["campaign_id"],
                       "orderId": int(order["id"]), "createdAt": created["createdAt"],
                       "items": [{"offerId": line["sku"], "count": line["quantity"]} for line in order["lines"]]}
    assert created["createdAt"].endswith("Z")
    yandex_market.update_order(account, order["id"], status="cancelled",
                               ym={"status": "CANCELLED", "substatus": "USER_CHANGED_MIND"})
    assert [(d[1]["notificationType"], d[1].get("status")) for d in sent[1:]] == [
        ("ORDER_STATUS_UPDATED", "CANCELLED"), ("ORDER_CANCELLED", None)]
    assert sent[2][1]["cancelledAt"] == sent[1][1]["updatedAt"]


def test_the_ozon_cabinet_pings_then_pushes_postings(sent):
    account = ozon.create_demo_account("2184402", "Seller")
    ozon.configure_push(account, "https://haat.example/push", post=lambda url, payload, timeout: GOOD_ANSWER)
    order = ozon.create_order(account)
    new = sent[0][1]
    assert new["message_type"] == "TYPE_NEW_POSTING" and new["seller_id"] == 2184402
    assert new["posting_number"] == ozon.posting_number(order["id"]) and new["products"][0]["offer_id"]
    ozon.update_order(account, order["id"], status="delivered")
    changed = sent[1][1]
    assert changed["message_type"] == "TYPE_STATE_CHANGED" and changed["new_state"] == "posting_delivered"
    ozon.update_order(account, order["id"], status="delivered")  # no change, no push
    assert len(sent) == 2


@pytest.mark.parametrize("answer, problem", [
    ((200, {"result": True}), "name"), ((200, {"name": "x", "time": "2026-11-20T10:00:00Z"}), "version"),
    ((404, None), "answered 404"), ((None, None), "did not answer"),
    ((200, {"version": "1", "name": "x", "time": "yesterday"}), "ISO 8601"),
])
def test_a_wrong_ping_answer_is_refused_as_the_platforms_do(answer, problem):
    assert problem in yandex_market.ping_answer_problem(*answer)
    assert problem in ozon.ping_answer_problem(*answer)
    assert yandex_market.ping_answer_problem(*GOOD_ANSWER) == ozon.ping_answer_problem(*GOOD_ANSWER) == ""


def test_the_cabinet_forms_over_http(client):
    yandex_market.create_demo_account("21650403", "Shop")
    ozon.create_demo_account("2184403", "Seller")
    refused = client.post("/sandbox/yandex_market/_sandbox/notifications",
                          data={"account_id": "21650403", "url": "ftp://x"}, content_type="application/json")
    assert refused.status_code == 400 and refused.json()["status"] == "ERROR"
    missing = client.post("/sandbox/ozon/_sandbox/push", data={"account_id": "1", "url": "https://x"},
                          content_type="application/json")
    assert missing.status_code == 404 and missing.json()["code"] == 5
