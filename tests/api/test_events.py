"""Events (read) and webhook subscriptions: the secret is shown once, test deliveries are signed."""

from __future__ import annotations

import json

from django.db import transaction

from apps.events.models import PartnerWebhookSubscription
from apps.events.services import publish
from apps.events.subscriptions import verify_signature
from tests.api.conftest import assert_error

SUBS = "/api/v1/webhook-subscriptions/"


def test_events_of_the_tokens_shgs(api, partner):
    from tests.factories import make_org, make_shg

    with transaction.atomic():
        mine = publish(type="order.created", shg=partner["shg"], payload={"order_id": 1})
        publish(type="order.created", shg=make_shg(make_org("Other")), payload={"order_id": 2})
        publish(type="sync.failed", shg=partner["served"], payload={"error": "x"})
    rows = api.get("/api/v1/events/", {"type": "order.created"}).json()["results"]
    assert [row["id"] for row in rows] == [str(mine.pk)]
    assert len(api.get("/api/v1/events/").json()["results"]) == 2


def test_subscription_secret_is_returned_once(api, partner):
    response = api.post(SUBS, {"url": "https://partner.example.org/haat", "event_types": ["order.created"]},
                        format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    secret = body["secret"]
    assert secret.startswith("whsec_")
    subscription = PartnerWebhookSubscription.objects.get()
    assert subscription.organization == partner["federation"] and subscription.secret == secret
    assert secret not in api.get(SUBS).content.decode()
    assert secret not in api.get(f"{SUBS}{subscription.pk}/").content.decode()


def test_subscription_validation_names_fields(api):
    assert_error(api.post(SUBS, {"url": "http://partner.example.org/", "event_types": ["order.created"]},
                          format="json"), 400, {"url"})
    assert_error(api.post(SUBS, {"url": "https://partner.example.org/", "event_types": ["order.exploded"]},
                          format="json"), 400, {"event_types.0"})
    assert not PartnerWebhookSubscription.objects.exists()


def test_delete(api):
    sub_id = api.post(SUBS, {"url": "https://p.example.org/h", "event_types": ["*"]}, format="json").json()["id"]
    assert api.delete(f"{SUBS}{sub_id}/").status_code == 204
    assert not PartnerWebhookSubscription.objects.exists()


class _Receiver:
    def __init__(self):
        self.calls = []

    def post(self, url, data, headers, timeout, allow_redirects):
        self.calls.append({"url": url, "body": data, "headers": headers})

        class _Response:
            status_code = 200
            content = b"ok"
            text = "ok"

        return _Response()


def test_test_delivery_is_signed(api, monkeypatch):
    receiver = _Receiver()
    monkeypatch.setattr("apps.events.subscriptions.new_session", lambda: receiver)
    created = api.post(SUBS, {"url": "https://p.example.org/h", "event_types": ["*"]}, format="json").json()
    body = api.post(f"{SUBS}{created['id']}/test/").json()
    assert body == {"ok": True, "status_code": 200, "body": "ok", "error": ""}
    call = receiver.calls[0]
    assert call["url"] == "https://p.example.org/h"
    assert json.loads(call["body"])["type"] == "webhook.test"
    assert verify_signature(secret=created["secret"], timestamp=call["headers"]["X-Haat-Timestamp"], body=call["body"],
                            signature=call["headers"]["X-Haat-Signature"])
