"""SHGs: what the token's organization owns or serves, paged with a cursor in constant queries."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.accounts.models import SHG
from tests.api.conftest import client_for
from tests.factories import make_org, make_shg


def test_lists_own_and_served_shgs_only(partner):
    make_shg(make_org("Elsewhere"), name="Not Yours SHG")
    _token, key = __import__("apps.accounts.services", fromlist=["x"]).partner_token_create(
        organization=partner["ngo"], name="NGO")
    names = {row["name"] for row in client_for(key).get("/api/v1/shgs/").json()["results"]}
    assert names == {"Jyoti Weavers SHG"}


def test_federation_token_sees_its_shgs(api, partner):
    body = api.get("/api/v1/shgs/").json()
    assert {row["name"] for row in body["results"]} == {"Asha Mahila SHG", "Jyoti Weavers SHG"}
    assert set(body) == {"next", "previous", "results"}


def test_cursor_pages_cover_everything_once_in_constant_queries(api, partner, django_assert_max_num_queries):
    for n in range(7):
        make_shg(partner["federation"], name=f"Paged SHG {n:02d}")
    seen, url, pages = [], "/api/v1/shgs/?page_size=3", 0
    while url:
        with django_assert_max_num_queries(4):
            body = api.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url, pages = body["next"], pages + 1
    assert pages == 3
    assert sorted(seen) == sorted(SHG.objects.filter(federation=partner["federation"]).values_list("id", flat=True))


def test_updated_since(api, partner):
    SHG.objects.filter(pk=partner["shg"].pk).update(updated_at=timezone.now() - timedelta(days=2))
    since = (timezone.now() - timedelta(days=1)).isoformat()
    names = {row["name"] for row in api.get("/api/v1/shgs/", {"updated_since": since}).json()["results"]}
    assert names == {"Jyoti Weavers SHG"}


def test_bad_filter_value_names_the_field(api):
    body = api.get("/api/v1/shgs/", {"updated_since": "yesterday"}).json()
    assert body["status"] == 400
    assert [item["field"] for item in body["errors"]] == ["updated_since"]
