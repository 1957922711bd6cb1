"""The Connection admin: lists and filters, credentials never shown, write-only replacement, the test action."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from apps.integrations.models import Connection
from apps.integrations.tests.connect_fakes import (
    GOOD_KEY,
    GOOD_SECRET,
    fake_platforms,  # noqa: F401  (fixture)
)
from tests.factories import make_connection, make_shg

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_platforms")]

SECRET_VALUES = {"consumer_key": GOOD_KEY, "consumer_secret": GOOD_SECRET}


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("staff", "staff@example.in", "pw-12345-long")
    client.force_login(user)
    return client


@pytest.fixture
def connection():
    return make_connection(make_shg(name="Sakhi Bachat Gat"), platform="testkeys", display_name="Asha's Store",
                           config={"store_url": "https://shop.example"}, credentials=dict(SECRET_VALUES))


def change_url(connection):
    return reverse("admin:integrations_connection_change", args=[connection.pk])


def form_data(connection, **overrides):
    data = {"shg": connection.shg_id, "platform": connection.platform, "display_name": connection.display_name,
            "status": connection.status, "external_account_id": connection.external_account_id,
            "config": json.dumps(connection.config), "poll_interval": "", "next_sync_at_0": "", "next_sync_at_1": "",
            "last_error": "", "cursors": json.dumps(connection.cursors), "replace_credentials": ""}
    data.update(overrides)
    return data


def test_changelist_search_and_filters(staff_client, connection):
    url = reverse("admin:integrations_connection_changelist")
    response = staff_client.get(url, {"q": "Sakhi"})
    body = response.content.decode()
    assert response.context["cl"].result_count == 1 and "Asha&#x27;s Store" in body
    assert staff_client.get(url, {"q": "nobody-matches-this"}).context["cl"].result_count == 0
    assert staff_client.get(url, {"status__exact": "active", "platform": "testkeys"}).context["cl"].result_count == 1
    assert staff_client.get(url, {"status__exact": "disabled"}).context["cl"].result_count == 0
    for secret in SECRET_VALUES.values():
        assert secret not in body


def test_change_page_names_the_stored_values_but_never_shows_them(staff_client, connection):
    body = staff_client.get(change_url(connection)).content.decode()
    assert "2 values: consumer_key, consumer_secret" in body
    assert 'name="replace_credentials"' in body
    assert 'name="credentials"' not in body
    for secret in SECRET_VALUES.values():
        assert secret not in body


def test_saving_without_replacement_keeps_the_credentials(staff_client, connection):
    response = staff_client.post(change_url(connection), form_data(connection, display_name="Renamed"))
    assert response.status_code == 302, response.content.decode()[:2000]
    connection.refresh_from_db()
    assert connection.display_name == "Renamed" and connection.credentials == SECRET_VALUES


def test_credentials_can_be_replaced_write_only(staff_client, connection):
    replacement = {"consumer_key": "ck_replaced_by_staff_01", "consumer_secret": "cs_replaced_by_staff_01"}
    response = staff_client.post(change_url(connection), form_data(connection, replace_credentials=json.dumps(replacement)))
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.credentials == replacement
    body = staff_client.get(change_url(connection)).content.decode()
    assert "cs_replaced_by_staff_01" not in body


def test_invalid_replacement_is_refused_without_echoing_it(staff_client, connection):
    typed = '{"consumer_secret": "cs_typed_but_broken_json"'
    response = staff_client.post(change_url(connection), form_data(connection, replace_credentials=typed))
    body = response.content.decode()
    assert response.status_code == 200 and "Not valid JSON" in body
    assert "cs_typed_but_broken_json" not in body
    connection.refresh_from_db()
    assert connection.credentials == SECRET_VALUES
    for bad in ("[]", "{}", '{"": "x"}'):
        response = staff_client.post(change_url(connection), form_data(connection, replace_credentials=bad))
        assert response.status_code == 200 and response.context["adminform"].form.errors


def test_test_connection_action(staff_client, connection):
    broken = make_connection(connection.shg, platform="testkeys", config={"store_url": "https://shop.example"},
                             credentials={"consumer_key": GOOD_KEY, "consumer_secret": "revoked"})
    response = staff_client.post(reverse("admin:integrations_connection_changelist"),
                                 {"action": "test_connection", "_selected_action": [connection.pk, broken.pk]}, follow=True)
    body = response.content.decode()
    assert "the connection works" in body and "Consumer key is invalid" in body
    broken.refresh_from_db()
    connection.refresh_from_db()
    assert connection.status == Connection.Status.ACTIVE and broken.status == Connection.Status.NEEDS_REAUTH
    assert GOOD_KEY not in body


def test_history_records_no_secret(staff_client, connection):
    from django.contrib.admin.models import LogEntry

    staff_client.post(change_url(connection), form_data(connection, replace_credentials=json.dumps({"k": "cs_in_history_0"})))
    assert not any("cs_in_history_0" in (entry.change_message or "") for entry in LogEntry.objects.all())
