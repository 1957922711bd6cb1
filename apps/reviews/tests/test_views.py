"""The coordinators' reviews page: scoped to the user's SHGs, filtered (also through htmx), cursor-paged, low ratings
highlighted, in Hindi too, and in the same number of queries for one review as for fifty of many SHGs."""

from __future__ import annotations

import re

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.accounts.models import Membership
from apps.reviews.services import reviews_upsert
from apps.reviews.tests.conftest import rating
from tests.factories import make_connection, make_org, make_shg, make_user

pytestmark = pytest.mark.django_db
URL = reverse("reviews:list")


def rows(html: str) -> list[str]:
    """The review bodies of the rendered rows, in order."""
    return re.findall(r'<p class="review-body">(.*?)</p>', html)


def test_list_shows_only_the_users_reviews_and_highlights_low_ones(client, world):
    client.force_login(world["coordinator"])
    html = client.get(URL).content.decode()
    assert rows(html) == ["Review number 5", "Review number 4", "Arrived broken", "Review number 1"]
    assert "Secret" not in html and "example.org" not in html
    assert "Asha web shop" in html and "Jyoti on Amazon" in html and "Jyoti Weavers SHG" in html
    low_rows = re.findall(r'<tr class="low">.*?</tr>', html, re.S)
    assert len(low_rows) == 2 and "Arrived broken" in low_rows[0] + low_rows[1]
    assert all("Low rating" in row for row in low_rows) and html.count("Low rating") == 2
    assert 'aria-current="page"' in re.search(r'<a href="/reviews/"[^>]*>', html).group(0)


def test_filters(client, world):
    client.force_login(world["coordinator"])

    def bodies(**params):
        response = client.get(URL, params)
        assert response.status_code == 200
        return rows(response.content.decode())

    assert bodies(rating="low") == ["Review number 4", "Arrived broken"]
    assert bodies(rating="5") == ["Review number 1"]
    assert bodies(channel="amazon") == ["Review number 5"]
    assert bodies(connection=world["woo"].pk, text="yes") == ["Review number 4", "Arrived broken", "Review number 1"]
    assert "Stars only" in client.get(URL, {"text": "no"}).content.decode()
    assert bodies(text="no") == []
    assert bodies(shg=world["served"].pk) == ["Review number 5"]
    assert bodies(q="pickle") == ["Review number 4", "Arrived broken", "Review number 1"]
    assert bodies(q="saree-1") == ["Review number 5"]
    assert bodies(published_from="2026-11-02") == []
    # Another federation's SHG is not a choice: the filter is ignored with its error, nothing foreign shows.
    response = client.get(URL, {"shg": world["foreign"].shg_id})
    html = response.content.decode()
    assert "Select a valid choice" in html and "Secret" not in html and len(rows(html)) == 4


def test_htmx_filter_answers_the_results_and_more_answers_rows(client, world):
    client.force_login(world["coordinator"])
    response = client.get(URL, {"rating": "low"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="review-results")
    html = response.content.decode()
    assert html.startswith('<div id="review-results"') and "<html" not in html
    assert rows(html) == ["Review number 4", "Arrived broken"]
    reviews_upsert(connection=world["woo"], ratings=[rating(n, 4) for n in range(10, 70)])
    first = client.get(URL).content.decode()
    after = re.search(r'after=([\w-]+)"', first).group(1)
    assert len(rows(first)) == 50
    more = client.get(URL, {"after": after}, HTTP_HX_REQUEST="true").content.decode()
    assert more.lstrip().startswith("<tr") and "<table" not in more
    assert rows(more) == [f"Review number {n}" for n in range(19, 9, -1)] + ["Review number 5", "Review number 4",
                                                                             "Arrived broken", "Review number 1"]
    assert "Older reviews" not in more and "Back to the newest" in more


def test_a_bad_page_link_shows_the_newest_with_a_warning(client, world):
    client.force_login(world["coordinator"])
    html = client.get(URL, {"after": "not-a-cursor"}).content.decode()
    assert "This page link is not valid" in html and len(rows(html)) == 4


def test_login_required_and_hindi(client, world):
    assert client.get(URL).status_code == 302
    client.force_login(world["coordinator"])
    client.cookies["django_language"] = "hi"
    html = client.get(URL, HTTP_ACCEPT_LANGUAGE="hi").content.decode()
    assert "समीक्षाएँ" in html and "कम रेटिंग" in html and "5 में से 1 सितारे" in html


def _queries(client, user) -> int:
    client.force_login(user)
    with CaptureQueriesContext(db_connection) as context:
        assert client.get(URL).status_code == 200
    return len(context.captured_queries)


def test_query_count_does_not_grow_with_reviews_shgs_or_channels(client, django_assert_max_num_queries):
    federation = make_org("Query Federation")
    user = make_user("query-coordinator", organization=federation, role=Membership.Role.COORDINATOR)
    first = make_connection(make_shg(federation), platform="woocommerce")
    reviews_upsert(connection=first, ratings=[rating(1, 1)])
    one = _queries(client, user)
    for s in range(8):
        shop = make_connection(make_shg(federation), platform="woocommerce" if s % 2 else "amazon")
        reviews_upsert(connection=shop, ratings=[rating(100 * s + n, 1 + n % 5) for n in range(10)])
    with django_assert_max_num_queries(one):
        client.get(URL, {"rating": "low", "text": "yes"})
    assert _queries(client, user) == one
