"""Sync pages and "Sync now": tenancy (404 for others, 403 for viewers), the run list and detail."""

import pytest
from django.urls import reverse

from apps.accounts.models import Membership
from apps.integrations.models import Connection, SyncRun
from apps.integrations.tests.sync_fakes import fake_platform_fixture, make_order  # noqa: F401  (fixture)
from tests.factories import make_connection, make_org, make_shg, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(fake_platform):
    federation = make_org()
    shg = make_shg(federation)
    connection = make_connection(shg, platform="fakeshop", display_name="Sakhi Woo store")
    coordinator = make_user(organization=federation)
    viewer = make_user(shg=shg, role=Membership.Role.VIEWER)
    return connection, coordinator, viewer, fake_platform


def test_sync_now_runs_a_sync_and_shows_it(client, setup, django_capture_on_commit_callbacks):
    connection, coordinator, _viewer, platform = setup
    platform.put(make_order("N-1"), make_order("N-2"))
    client.force_login(coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("sync:now", args=[connection.pk]), {"stream": "orders"})
    assert response.status_code == 302 and response["Location"] == reverse("sync:runs", args=[connection.pk])
    run = SyncRun.objects.get()
    assert run.trigger == SyncRun.Trigger.MANUAL and run.requested_by == coordinator and run.created == 2
    page = client.get(reverse("sync:runs", args=[connection.pk])).content.decode()
    assert "Sakhi Woo store" in page and reverse("sync:run_detail", args=[run.pk]) in page
    detail = client.get(reverse("sync:run_detail", args=[run.pk])).content.decode()
    assert "Sync now (dashboard)" in detail and coordinator.username in detail


def test_sync_now_answers_htmx_with_a_fragment(client, setup, django_capture_on_commit_callbacks):
    connection, coordinator, _viewer, _platform = setup
    client.force_login(coordinator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("sync:now", args=[connection.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 202 and b"started" in response.content


def test_viewers_may_look_but_not_sync(client, setup):
    connection, _coordinator, viewer, _platform = setup
    client.force_login(viewer)
    assert client.get(reverse("sync:runs", args=[connection.pk])).status_code == 200
    assert client.post(reverse("sync:now", args=[connection.pk])).status_code == 403
    assert not SyncRun.objects.exists()


def test_other_tenants_get_404(client, setup):
    connection, _coordinator, _viewer, _platform = setup
    run = SyncRun.objects.create(connection=connection, stream="orders", status=SyncRun.Status.SUCCESS)
    client.force_login(make_user(organization=make_org()))
    assert client.get(reverse("sync:runs", args=[connection.pk])).status_code == 404
    assert client.post(reverse("sync:now", args=[connection.pk])).status_code == 404
    assert client.get(reverse("sync:run_detail", args=[run.pk])).status_code == 404


def test_sync_now_refuses_a_connection_that_needs_reauth(client, setup):
    connection, coordinator, _viewer, _platform = setup
    Connection.objects.filter(pk=connection.pk).update(status=Connection.Status.NEEDS_REAUTH)
    client.force_login(coordinator)
    response = client.post(reverse("sync:now", args=[connection.pk]), follow=True)
    assert "reconnect it before syncing" in response.content.decode()
    assert not SyncRun.objects.exists()


def test_unknown_stream_is_400(client, setup):
    connection, coordinator, _viewer, _platform = setup
    client.force_login(coordinator)
    assert client.post(reverse("sync:now", args=[connection.pk]), {"stream": "invoices"}).status_code == 400


def test_the_run_page_shows_the_error_and_the_raw_answer(client, setup):
    connection, coordinator, _viewer, _platform = setup
    run = SyncRun.objects.create(connection=connection, stream="orders", status=SyncRun.Status.FAILED,
                                 error_type="PermanentError", error="Malformed JSON", error_payload='{"orders": [')
    client.force_login(coordinator)
    page = client.get(reverse("sync:run_detail", args=[run.pk])).content.decode()
    assert "Malformed JSON" in page and "{&quot;orders&quot;: [" in page
