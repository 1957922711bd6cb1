"""GET /api/v1/reviews/: scoped to the token's SHGs, every filter, cursor pages in constant queries, no raw document."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.reviews.models import Review
from apps.reviews.services import reviews_upsert
from apps.reviews.tests.conftest import client_for, rating

pytestmark = pytest.mark.django_db
URL = "/api/v1/reviews/"


def external_ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["external_id"] for row in response.json()["results"]]


def test_list_is_the_tokens_reviews_newest_first_without_the_raw_document(world):
    response = client_for(world["key"]).get(URL)
    assert external_ids(response) == ["R-5", "R-4", "R-3", "R-2", "R-1"]
    body = response.content.decode()
    assert "Secret" not in body and "@example.org" not in body and "reviewer_email" not in body
    row = next(r for r in response.json()["results"] if r["external_id"] == "R-2")
    assert row["rating"] == 1 and row["title"] == "Bad" and row["body"] == "Arrived broken"
    assert row["platform"] == "woocommerce" and row["connection"] == world["woo"].pk and row["shg"] == world["own"].pk
    assert row["variant"] == world["variant"].pk and row["product"] == world["product"].pk and row["sku"] == "PICKLE-1"
    assert "raw" not in row and row["url"].endswith(f"{URL}{row['id']}/")
    unmatched = next(r for r in response.json()["results"] if r["external_id"] == "R-4")
    assert unmatched["variant"] is None and unmatched["product"] is None and unmatched["verified_buyer"] is True
    # A partner serving one SHG sees only that SHG's reviews.
    assert external_ids(client_for(world["ngo_key"]).get(URL)) == ["R-5"]


def test_detail_and_another_tenants_review_is_404(world):
    api = client_for(world["key"])
    mine = Review.objects.get(external_id="R-2")
    assert api.get(f"{URL}{mine.pk}/").json()["body"] == "Arrived broken"
    foreign = Review.objects.get(connection=world["foreign"])
    response = api.get(f"{URL}{foreign.pk}/")
    assert response.status_code == 404 and "Secret" not in response.content.decode()
    assert client_for(world["ngo_key"]).get(f"{URL}{mine.pk}/").status_code == 404


def test_read_only_and_needs_a_token(world):
    api = client_for(world["key"])
    mine = Review.objects.get(external_id="R-2")
    assert api.post(URL, {"rating": 5}, format="json").status_code == 405
    assert api.patch(f"{URL}{mine.pk}/", {"rating": 5}, format="json").status_code == 405
    assert api.delete(f"{URL}{mine.pk}/").status_code == 405
    assert client_for("haat_not-a-key").get(URL).status_code == 401


@pytest.mark.parametrize(("params", "expected"), [
    ({"channel": "amazon"}, ["R-5"]),
    ({"connection": "woo"}, ["R-4", "R-3", "R-2", "R-1"]),
    ({"shg": "served"}, ["R-5"]),
    ({"rating": [1, 2]}, ["R-4", "R-2"]),
    ({"min_rating": 4}, ["R-3", "R-1"]),
    ({"max_rating": 3}, ["R-5", "R-4", "R-2"]),
    ({"min_rating": 2, "max_rating": 4}, ["R-5", "R-4", "R-3"]),
    ({"sku": "PICKLE-1"}, ["R-3", "R-2", "R-1"]),
    ({"variant": "variant"}, ["R-3", "R-2", "R-1"]),
    ({"product": "product"}, ["R-3", "R-2", "R-1"]),
    ({"product_external_id": "P-7"}, ["R-1"]),
    ({"has_text": "true"}, ["R-5", "R-4", "R-2", "R-1"]),
    ({"has_text": "false"}, ["R-3"]),
    ({"verified_buyer": "true"}, ["R-4"]),
    ({"published_since": "2026-11-01T11:00:00Z"}, ["R-5", "R-4", "R-3", "R-2"]),
    ({"published_before": "2026-11-01T11:00:00Z"}, ["R-1"]),
])
def test_filters(world, params, expected):
    Review.objects.filter(external_id="R-1").update(product_external_id="P-7")
    objects = {"woo": world["woo"].pk, "served": world["served"].pk, "variant": world["variant"].pk,
               "product": world["product"].pk}
    query = {key: objects.get(value, value) if isinstance(value, str) else value for key, value in params.items()}
    assert external_ids(client_for(world["key"]).get(URL, query)) == expected


def test_received_since_and_updated_since_read_only_the_reviews_stored_since(world):
    Review.objects.update(received_at=timezone.now() - timedelta(days=1))
    since = timezone.now() - timedelta(minutes=1)
    api = client_for(world["key"])
    assert external_ids(api.get(URL, {"received_since": since.isoformat()})) == []
    # An old review (published long ago) read today is still seen by the poll: it is stored now.
    reviews_upsert(connection=world["woo"], ratings=[rating(0, 2)])
    assert external_ids(api.get(URL, {"received_since": since.isoformat()})) == ["R-0"]
    assert external_ids(api.get(URL, {"updated_since": since.isoformat()})) == ["R-0"]


def test_bad_filter_values_are_400_naming_the_filter(world):
    api = client_for(world["key"])
    for params, field in [({"rating": 6}, "rating"), ({"max_rating": 0}, "max_rating"),
                          ({"received_since": "yesterday"}, "received_since"), ({"product": "pickle"}, "product")]:
        response = api.get(URL, params)
        assert response.status_code == 400, (params, response.content)
        assert {item["field"] for item in response.json()["errors"]} == {field}


def test_cursor_pages_in_constant_queries(world, django_assert_max_num_queries):
    reviews_upsert(connection=world["woo"], ratings=[rating(n, 1 + n % 5) for n in range(10, 40)])
    reviews_upsert(connection=world["amazon"], ratings=[rating(n, 1 + n % 5, sku="SAREE-1") for n in range(40, 55)])
    api = client_for(world["key"])
    seen, url = [], f"{URL}?page_size=10"
    while url:
        # token lookup, its last-use stamp, the page: the same for 10 reviews of two SHGs and channels as for 1
        with django_assert_max_num_queries(3):
            body = api.get(url).json()
        seen += [row["external_id"] for row in body["results"]]
        url = body["next"]
    assert len(seen) == len(set(seen)) == 50
    assert seen == sorted(seen, key=lambda external_id: -int(external_id.split("-")[1]))


def test_schema_documents_the_filters_and_no_raw_document(client):
    import yaml

    schema = yaml.safe_load(client.get("/api/schema/").content)
    operation = schema["paths"]["/api/v1/reviews/"]["get"]
    params = {p["name"] for p in operation["parameters"]}
    assert {"connection", "channel", "rating", "min_rating", "max_rating", "received_since", "updated_since",
            "product", "variant", "sku", "has_text", "cursor", "page_size"} <= params
    assert "/api/v1/reviews/{id}/" in schema["paths"]
    assert "raw" not in schema["components"]["schemas"]["Review"]["properties"]
