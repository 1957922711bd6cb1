"""Storing ratings: new ones once, with their event; bad data refused whole."""

from datetime import UTC, datetime

import pytest

from apps.catalog.models import Product, Variant
from apps.events.models import Event
from apps.integrations.connectors.base import RatingData
from apps.reviews.models import Review
from apps.reviews.services import InvalidRatingData, reviews_upsert
from tests.factories import make_connection, make_org, make_shg

pytestmark = pytest.mark.django_db


@pytest.fixture
def connection():
    shg = make_shg(make_org("Reviews Federation"), name="Reviews SHG")
    product = Product.objects.create(shg=shg, title="Mango pickle")
    Variant.objects.create(product=product, shg=shg, sku="PICKLE-1", price="100.00", mrp="120.00")
    return make_connection(shg)


def rating(external_id: str, stars: int = 5, sku: str = "PICKLE-1", day: int = 1) -> RatingData:
    return RatingData(external_id=external_id, rating=stars, created_at=datetime(2026, 11, day, 10, tzinfo=UTC),
                      sku=sku, product_title="Mango pickle", body="Tasty", reviewer="Anita S.")


def test_new_ratings_are_stored_matched_to_the_variant_and_announced_once(connection):
    first = reviews_upsert(connection=connection, ratings=[rating("1"), rating("2", 3, sku="UNKNOWN")])
    again = reviews_upsert(connection=connection, ratings=[rating("1"), rating("3", 4, day=2)])

    assert (first.created, first.unchanged, again.created, again.unchanged) == (2, 0, 1, 1)
    stored = {r.external_id: r for r in Review.objects.all()}
    assert stored["1"].variant.sku == "PICKLE-1" and stored["2"].variant is None
    events = Event.objects.filter(type="rating.received").order_by("occurred_at", "payload__review_id")
    assert [e.payload["review_id"] for e in events] == ["1", "2", "3"]
    assert events[0].payload["rating"] == 5 and events[0].connection_id == connection.pk


def test_a_page_with_one_bad_rating_stores_nothing_and_names_it(connection):
    bad = rating("9", stars=6)
    with pytest.raises(InvalidRatingData, match="rating 9: 6 is not 1 to 5 stars"):
        reviews_upsert(connection=connection, ratings=[rating("1"), bad])
    assert not Review.objects.exists() and not Event.objects.exists()


def test_queries_do_not_grow_with_the_page(connection, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        reviews_upsert(connection=connection, ratings=[rating(str(n), 1 + n % 5) for n in range(50)])
    assert Review.objects.count() == 50
