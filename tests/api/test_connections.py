"""Connections through the API: connect WooCommerce with keys checked live (write-only), test, sync (202)."""

from __future__ import annotations

from apps.integrations.models import Connection, SyncRun
from apps.orders.models import Order
from tests.api.conftest import assert_error
from tests.factories import make_connection, make_org, make_shg


def connect(api, partner, woo, **overrides):
    payload = {"shg": partner["shg"].pk, "platform": "woocommerce",
               "credentials": {"store_url": woo["store_url"], **woo["keys"]}}
    payload.update(overrides)
    return api.post("/api/v1/connections/", payload, format="json")


def test_connect_woocommerce_with_live_checked_keys(api, partner, woo):
    response = connect(api, partner, woo)
    assert response.status_code == 201, response.content
    body = response.json()
    connection = Connection.objects.get()
    assert body["id"] == connection.pk and body["status"] == "active" and body["platform"] == "woocommerce"
    assert "orders" in body["capabilities"] and "fulfilment_push" in body["capabilities"]
    assert connection.credentials["consumer_secret"] == woo["keys"]["consumer_secret"]
    for secret in woo["keys"].values():
        assert secret not in response.content.decode()
        assert secret not in api.get(f"/api/v1/connections/{connection.pk}/").content.decode()
        assert secret not in api.get("/api/v1/connections/").content.decode()
    # The same store again updates the same connection.
    assert connect(api, partner, woo).status_code == 201
    assert Connection.objects.count() == 1


def test_refused_keys_are_400_on_credentials_and_nothing_is_saved(api, partner, woo):
    wrong = "cs_" + "0" * 40
    response = connect(api, partner, woo, credentials={"store_url": woo["store_url"],
                                                       "consumer_key": woo["keys"]["consumer_key"],
                                                       "consumer_secret": wrong})
    body = assert_error(response, 400, {"credentials"})
    assert wrong not in response.content.decode() and woo["keys"]["consumer_key"] not in response.content.decode()
    assert "woocommerce_rest" in body["errors"][0]["message"]
    assert not Connection.objects.exists()


def test_missing_and_unknown_fields_are_each_named(api, partner, woo):
    response = connect(api, partner, woo, credentials={"store_url": woo["store_url"], "api_token": "x"})
    assert_error(response, 400, {"credentials.consumer_key", "credentials.consumer_secret", "credentials.api_token"})
    response = api.post("/api/v1/connections/", {}, format="json")
    assert_error(response, 400, {"shg", "platform", "credentials"})


def test_oauth_platform_and_foreign_shg_are_refused(api, partner, woo):
    assert_error(connect(api, partner, woo, platform="shopify"), 400, {"platform"})
    foreign = make_shg(make_org("Another"))
    assert_error(connect(api, partner, woo, shg=foreign.pk), 400, {"shg"})
    assert not Connection.objects.exists()


def test_test_action_reports_the_platform_answer(api, partner, woo):
    connection_id = connect(api, partner, woo).json()["id"]
    body = api.post(f"/api/v1/connections/{connection_id}/test/").json()
    assert body["ok"] is True and body["status"] == "active"
    woo["module"].revoke_key(woo["account"])
    body = api.post(f"/api/v1/connections/{connection_id}/test/").json()
    assert body["ok"] is False and body["status"] == "needs_reauth"


def test_sync_answers_202_with_the_run_url_and_the_run_pulls_orders(api, partner, woo,
                                                                      django_capture_on_commit_callbacks):
    connection_id = connect(api, partner, woo).json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/connections/{connection_id}/sync/", {"stream": "orders"}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    run = SyncRun.objects.get(pk=body["sync_run"]["id"])
    assert response["Location"] == body["sync_run"]["url"] == f"http://testserver/api/v1/sync-runs/{run.pk}/"
    assert body["already_running"] is False
    # Tasks run inline in the tests: the claimed run has done its work.
    run_body = api.get(response["Location"]).json()
    assert run_body["status"] == "success", run_body
    assert run_body["fetched"] > 0 and Order.objects.filter(connection_id=connection_id).count() == run_body["created"]


def test_sync_points_at_the_run_already_running(api, partner):
    connection = make_connection(partner["shg"])
    running = SyncRun.objects.create(connection=connection, stream="orders", status=SyncRun.Status.RUNNING)
    response = api.post(f"/api/v1/connections/{connection.pk}/sync/", {}, format="json")
    assert response.status_code == 202
    assert response.json()["sync_run"]["id"] == running.pk and response.json()["already_running"] is True
    assert SyncRun.objects.count() == 1


def test_sync_of_a_disconnected_connection_is_409_and_bad_stream_400(api, partner):
    connection = make_connection(partner["shg"], status=Connection.Status.DISABLED)
    assert_error(api.post(f"/api/v1/connections/{connection.pk}/sync/", {}, format="json"), 409)
    assert not SyncRun.objects.exists()
    active = make_connection(partner["shg"])
    assert_error(api.post(f"/api/v1/connections/{active.pk}/sync/", {"stream": "tenders"}, format="json"), 400,
                 {"stream"})


def test_sync_runs_filter_by_connection(api, partner):
    one, two = make_connection(partner["shg"]), make_connection(partner["shg"])
    SyncRun.objects.create(connection=one, status=SyncRun.Status.SUCCESS)
    SyncRun.objects.create(connection=two, status=SyncRun.Status.SUCCESS)
    rows = api.get("/api/v1/sync-runs/", {"connection": one.pk}).json()["results"]
    assert [row["connection"] for row in rows] == [one.pk]


def test_platforms_describe_their_connect_fields(api):
    rows = {row["slug"]: row for row in api.get("/api/v1/platforms/").json()}
    woo = rows["woocommerce"]
    assert woo["auth_kind"] == "api_key"
    assert {f["name"] for f in woo["credential_fields"]} == {"store_url", "consumer_key", "consumer_secret"}


def test_a_channel_whose_cabinet_takes_the_notification_url_shows_it_others_do_not(api, partner, woo):
    """Ozon and Yandex Market have no API to register a notification URL: the partner reads the one to paste."""
    ozon = make_connection(partner["shg"], platform="ozon", external_account_id="2184417")
    woo_id = connect(api, partner, woo).json()["id"]
    url = api.get(f"/api/v1/connections/{ozon.pk}/").json()["notification_url"]
    assert url.endswith(f"/webhooks/ozon/{ozon.uuid}/")
    assert api.get(f"/api/v1/connections/{woo_id}/").json()["notification_url"] is None
