"""Yandex Market API notifications and Ozon push notifications through the inbound endpoint.

Neither platform signs: each publishes the networks it sends from and names the account in the body. These
tests hold Haat to that verification, to the answer shapes the platforms document, to storing a repeated
notification once, and to reading the order itself through the connector (never the body's summary).
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from django.urls import reverse

from apps.integrations import services, webhooks
from apps.integrations.models import WebhookEvent
from apps.orders.models import Order
from apps.sandbox.platforms import ozon as ozon_sandbox
from apps.sandbox.platforms import yandex_market as ym_sandbox
from tests.factories import make_org, make_shg, make_user

pytestmark = pytest.mark.django_db

YANDEX_ADDRESS = "5.45.207.10"  # in 5.45.207.0/25, one of Market's published networks
OZON_ADDRESS = "91.223.93.20"  # in 91.223.93.0/24, one of Ozon's
ELSEWHERE = "203.0.113.9"


@pytest.fixture
def ym(sandbox_http):
    account = ym_sandbox.create_demo_account("21650301", "Notified Yandex shop")
    connection = services.connection_connect_api_key(shg=make_shg(make_org()), platform="yandex_market", values={
        "api_key": account.secrets["api_key"], "campaign_id": str(account.settings["campaign_id"]),
        "business_id": str(account.settings["business_id"])})
    return account, connection


@pytest.fixture
def oz(sandbox_http):
    account = ozon_sandbox.create_demo_account("2184301", "Notified Ozon seller")
    connection = services.connection_connect_api_key(shg=make_shg(make_org()), platform="ozon", values={
        "client_id": account.account_id, "api_key": account.secrets["api_key"]})
    return account, connection


def url_of(connection) -> str:
    return reverse("webhooks:receive", kwargs={"platform": connection.platform, "connection_uuid": connection.uuid})


def post(client, connection, payload, *, address: str, **extra):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.generic("POST", url_of(connection), data=body, content_type="application/json",
                          REMOTE_ADDR=address, **extra)


def ym_order_created(account, order_id: int = 50_000_001) -> dict:
    return {"notificationType": "ORDER_CREATED", "campaignId": account.settings["campaign_id"], "orderId": order_id,
            "createdAt": "2026-11-20T10:00:00Z", "items": [{"offerId": "X", "count": 1}]}


def oz_new_posting(account, number: str = "30000001-0001-1") -> dict:
    return {"message_type": "TYPE_NEW_POSTING", "posting_number": number, "in_process_at": "2026-11-20T10:00:00Z",
            "products": [{"sku": 1, "offer_id": "X", "quantity": 1}], "warehouse_id": 1,
            "seller_id": int(account.account_id)}


def assert_app_answer(answer: dict) -> None:
    assert set(answer) == {"version", "name", "time"}
    assert answer["name"] and answer["version"]
    assert answer["time"].endswith("Z") and datetime.fromisoformat(answer["time"].replace("Z", "+00:00"))


# --- PING --------------------------------------------------------------------------------------------------------


def test_yandex_ping_is_answered_with_version_name_time_and_nothing_stored(ym, client, settings):
    settings.SANDBOX = False
    _account, connection = ym
    response = post(client, connection, {"notificationType": "PING", "time": "2026-11-20T10:00:00Z"},
                    address=YANDEX_ADDRESS)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert_app_answer(response.json())
    assert not WebhookEvent.objects.exists()


def test_ozon_ping_is_answered_with_version_name_time_and_nothing_stored(oz, client, settings):
    settings.SANDBOX = False
    _account, connection = oz
    response = post(client, connection, {"message_type": "TYPE_PING", "time": "2026-11-20T10:00:00Z"},
                    address=OZON_ADDRESS)
    assert response.status_code == 200
    assert_app_answer(response.json())
    assert not WebhookEvent.objects.exists()


# --- the source address ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("address", [ELSEWHERE, "127.0.0.1", OZON_ADDRESS, ""])
def test_yandex_refuses_a_sender_outside_markets_networks_and_counts_it(ym, client, settings, address):
    settings.SANDBOX = False  # loopback is the sandbox's address, accepted only with the sandbox on
    account, connection = ym
    response = post(client, connection, ym_order_created(account), address=address)
    assert response.status_code == 403
    assert response.json() == {"error": {"type": "UNKNOWN", "message": "The request does not come from the platform"}}
    assert webhooks.bad_signature_count(connection.uuid) == 1
    assert not WebhookEvent.objects.exists()


def test_ozon_refuses_a_sender_outside_ozons_networks_and_counts_it(oz, client, settings):
    settings.SANDBOX = False
    _account, connection = oz
    response = post(client, connection, {"message_type": "TYPE_PING"}, address=YANDEX_ADDRESS)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "ERROR_UNKNOWN" and response.json()["error"]["details"] is None
    assert webhooks.bad_signature_count(connection.uuid) == 1


def test_the_networks_are_a_setting(ym, client, settings):
    settings.SANDBOX = False
    settings.YANDEX_MARKET_NOTIFICATION_NETWORKS = ["198.51.100.0/24"]
    _account, connection = ym
    assert post(client, connection, {"notificationType": "PING"}, address=YANDEX_ADDRESS).status_code == 403
    assert post(client, connection, {"notificationType": "PING"}, address="198.51.100.7").status_code == 200


def test_x_forwarded_for_is_ignored_unless_the_proxy_is_trusted(ym, client, settings):
    settings.SANDBOX = False
    _account, connection = ym
    ping = {"notificationType": "PING"}
    forwarded = {"HTTP_X_FORWARDED_FOR": YANDEX_ADDRESS}
    assert post(client, connection, ping, address="10.0.0.5", **forwarded).status_code == 403
    settings.WEBHOOK_TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert post(client, connection, ping, address="10.0.0.5", **forwarded).status_code == 200
    # A hop the caller wrote to the left of its own address is not believed: the right-most untrusted one counts.
    spoofed = {"HTTP_X_FORWARDED_FOR": f"{YANDEX_ADDRESS}, {ELSEWHERE}"}
    assert post(client, connection, ping, address="10.0.0.5", **spoofed).status_code == 403
    # A trusted proxy's header does not help a request that did not come through the proxy.
    assert post(client, connection, ping, address=ELSEWHERE, **forwarded).status_code == 403


def test_client_address_walks_the_forwarded_chain_from_the_right(settings):
    settings.WEBHOOK_TRUSTED_PROXIES = ["10.0.0.0/8", "192.168.1.1"]
    headers = {"X-Forwarded-For": f"{ELSEWHERE}, {YANDEX_ADDRESS}, 10.1.1.1"}
    assert webhooks.client_address("10.0.0.5", headers) == YANDEX_ADDRESS
    assert webhooks.client_address("192.168.1.1", {"X-Forwarded-For": "garbage, 10.1.1.1"}) == ""
    assert webhooks.client_address("::ffff:5.45.207.10", {}) == YANDEX_ADDRESS
    settings.WEBHOOK_TRUSTED_PROXIES = []
    assert webhooks.client_address("10.0.0.5", headers) == "10.0.0.5"


# --- the account named in the body ---------------------------------------------------------------------------


def test_ozon_refuses_a_notification_for_another_seller(oz, client, settings):
    settings.SANDBOX = False
    account, connection = oz
    response = post(client, connection, {**oz_new_posting(account), "seller_id": 999}, address=OZON_ADDRESS)
    assert response.status_code == 403
    assert response.json()["error"] == {"code": "ERROR_UNKNOWN", "message": "The notification is for another account",
                                        "details": None}
    assert webhooks.bad_signature_count(connection.uuid) == 1
    no_seller = oz_new_posting(account)
    del no_seller["seller_id"]
    assert post(client, connection, no_seller, address=OZON_ADDRESS).status_code == 403
    assert not WebhookEvent.objects.exists()


def test_yandex_refuses_a_notification_for_another_campaign(ym, client, settings):
    settings.SANDBOX = False
    account, connection = ym
    response = post(client, connection, {**ym_order_created(account), "campaignId": 1}, address=YANDEX_ADDRESS)
    assert response.status_code == 403 and response.json()["error"]["type"] == "UNKNOWN"
    assert not WebhookEvent.objects.exists()


# --- malformed bodies ------------------------------------------------------------------------------------------


def test_a_malformed_yandex_notification_is_a_clear_400_and_kept(ym, client, settings):
    settings.SANDBOX = False
    _account, connection = ym
    response = post(client, connection, b"{not json", address=YANDEX_ADDRESS)
    assert response.status_code == 400
    assert response.json() == {"error": {"type": "WRONG_EVENT_FORMAT",
                                         "message": "The notification is not a JSON object"}}
    event = WebhookEvent.objects.get()
    assert bytes(event.body) == b"{not json" and event.status == WebhookEvent.Status.FAILED
    assert "not JSON" in event.last_error
    again = post(client, connection, b"{not json", address=YANDEX_ADDRESS)
    assert again.status_code == 400 and WebhookEvent.objects.count() == 1


def test_an_ozon_notification_without_message_type_is_a_clear_400_and_kept(oz, client, settings,
                                                                            django_capture_on_commit_callbacks):
    settings.SANDBOX = False
    account, connection = oz
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, connection, {"posting_number": "1-1-1", "seller_id": int(account.account_id)},
                        address=OZON_ADDRESS)
    assert response.status_code == 400
    assert response.json()["error"] == {"code": "ERROR_PARAMETER_VALUE_MISSED",
                                        "message": "The notification has no message_type", "details": None}
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.FAILED and "message_type" in event.last_error


# --- storing once, and the order read through the connector ---------------------------------------------------


def test_a_yandex_new_order_is_stored_once_and_read_through_the_api(ym, client, settings,
                                                                    django_capture_on_commit_callbacks):
    account, connection = ym
    order = ym_sandbox.create_order(account)  # no URL configured yet: nothing is sent
    payload = ym_order_created(account, int(order["id"]))
    settings.SANDBOX = False
    with django_capture_on_commit_callbacks(execute=True):
        first = post(client, connection, payload, address=YANDEX_ADDRESS)
    assert first.status_code == 200
    assert_app_answer(first.json())
    with django_capture_on_commit_callbacks(execute=True):
        repeat = post(client, connection, payload, address=YANDEX_ADDRESS)
    assert repeat.status_code == 200, "a repeat is acknowledged, not refused (Market would count it as a failure)"
    event = WebhookEvent.objects.get()
    assert event.delivery_id == f"ORDER_CREATED:{order['id']}:2026-11-20T10:00:00Z"
    assert event.resource_id == order["id"] and event.topic == "ORDER_CREATED"
    assert event.status == WebhookEvent.Status.PROCESSED, event.last_error
    stored = Order.objects.get(connection=connection, external_id=order["id"])
    # The body named one "X" line; the order came from the API, with the sandbox's real lines and total.
    assert sorted(stored.lines.values_list("sku", flat=True)) == sorted(line["sku"] for line in order["lines"])
    assert stored.total > 0


def test_an_ozon_new_posting_is_stored_once_and_read_through_the_api(oz, client, settings,
                                                                     django_capture_on_commit_callbacks):
    account, connection = oz
    order = ozon_sandbox.create_order(account)
    number = ozon_sandbox.posting_number(order["id"])
    settings.SANDBOX = False
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            response = post(client, connection, oz_new_posting(account, number), address=OZON_ADDRESS)
        assert response.status_code == 200 and response.json() == {"result": True}
    event = WebhookEvent.objects.get()
    assert event.delivery_id == f"TYPE_NEW_POSTING:{number}:2026-11-20T10:00:00Z"
    assert event.status == WebhookEvent.Status.PROCESSED, event.last_error
    stored = Order.objects.get(connection=connection, external_id=number)
    assert sorted(stored.lines.values_list("sku", flat=True)) == sorted(line["sku"] for line in order["lines"])


def test_a_notification_about_a_posting_ozon_does_not_know_fails_without_an_order(oz, client, settings,
                                                                                   django_capture_on_commit_callbacks):
    settings.SANDBOX = False
    account, connection = oz
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, connection, oz_new_posting(account, "99999999-0001-1"),
                    address=OZON_ADDRESS).status_code == 200
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.FAILED and "posting" in event.last_error
    assert not Order.objects.filter(connection=connection).exists()


def test_other_notification_types_are_kept_and_ignored(ym, client, settings, django_capture_on_commit_callbacks):
    settings.SANDBOX = False
    account, connection = ym
    chat = {"notificationType": "CHAT_CREATED", "businessId": account.settings["business_id"], "chatId": 7,
            "createdAt": "2026-11-20T10:00:00Z"}
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, connection, chat, address=YANDEX_ADDRESS).status_code == 200
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.IGNORED


# --- end to end through the sandboxes ---------------------------------------------------------------------------


@pytest.fixture
def inbox(client, monkeypatch, django_capture_on_commit_callbacks):
    """The sandbox's notifications delivered in-process, from 127.0.0.1 (the sandbox's address)."""
    answers = []

    def post_json(url, payload, timeout):
        response = client.generic("POST", "/" + url.split("://", 1)[1].split("/", 1)[1],
                                  data=json.dumps(payload).encode(), content_type="application/json")
        answers.append(response)
        return response.status_code, response.json()

    def deliver(url, body, headers):
        with django_capture_on_commit_callbacks(execute=True):
            status, _answer = post_json(url, json.loads(body), 10)
        return status

    monkeypatch.setattr("apps.sandbox.http.deliver_webhook", deliver)
    return post_json, answers


def test_yandex_end_to_end_through_the_sandbox_cabinet(ym, inbox):
    post_json, answers = inbox
    account, connection = ym
    assert webhooks.webhooks_register(connection).registered == [], "no registration API: nothing registered"
    ym_sandbox.configure_notifications(account, webhooks.webhook_callback_url(connection), post=post_json)
    assert answers[-1].status_code == 200, "the cabinet's PING was answered as Market checks it"
    order = ym_sandbox.create_order(account)
    stored = Order.objects.get(connection=connection, external_id=order["id"])
    assert stored.status == "unshipped"
    ym_sandbox.update_order(account, order["id"], status="cancelled",
                            ym={"status": "CANCELLED", "substatus": "USER_CHANGED_MIND"})
    stored.refresh_from_db()
    assert stored.status == "cancelled"
    topics = list(WebhookEvent.objects.order_by("id").values_list("topic", "status"))
    assert topics == [("ORDER_CREATED", "processed"), ("ORDER_STATUS_UPDATED", "processed"),
                      ("ORDER_CANCELLED", "processed")]


def test_ozon_end_to_end_through_the_sandbox_cabinet(oz, inbox):
    post_json, _answers = inbox
    account, connection = oz
    ozon_sandbox.configure_push(account, webhooks.webhook_callback_url(connection), post=post_json)
    order = ozon_sandbox.create_order(account)
    number = ozon_sandbox.posting_number(order["id"])
    assert Order.objects.get(connection=connection, external_id=number).status == "unshipped"
    ozon_sandbox.update_order(account, order["id"], status="cancelled")
    assert Order.objects.get(connection=connection, external_id=number).status == "cancelled"
    assert list(WebhookEvent.objects.order_by("id").values_list("topic", flat=True)) == [
        "TYPE_NEW_POSTING", "TYPE_POSTING_CANCELLED"]


def test_the_sandbox_cabinet_refuses_a_url_that_answers_ping_wrongly(ym):
    account, _connection = ym
    with pytest.raises(ym_sandbox.NotificationUrlRefused, match="name"):
        ym_sandbox.configure_notifications(account, "https://shop.example/notify",
                                           post=lambda url, payload, timeout: (200, {"result": True}))
    with pytest.raises(ozon_sandbox.PushUrlRefused, match="answered 500"):
        ozon_sandbox.configure_push(ozon_sandbox.create_demo_account("2184302", "x"), "https://shop.example/push",
                                    post=lambda url, payload, timeout: (500, None))
    assert "notification_url" not in account.settings


# --- the channel page -------------------------------------------------------------------------------------------


def test_the_channel_page_shows_the_url_to_paste_in_the_cabinet(oz, client):
    _account, connection = oz
    client.force_login(make_user(organization=connection.shg.federation))
    page = client.get(reverse("integrations:detail", args=[connection.pk])).content.decode()
    assert webhooks.webhook_callback_url(connection) in page
    assert "Push notifications" in page
