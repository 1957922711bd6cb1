"""The ratings stream end to end: WooCommerce reviews read from the sandbox store, stored once, announced once,
and the hourly dispatcher enqueueing only platforms that publish ratings."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.events.models import Event
from apps.integrations.models import SyncRun
from apps.integrations.sync import sync_connection
from apps.integrations.tasks import dispatch_ratings_syncs
from apps.reviews.models import Review
from apps.sandbox.platforms import woocommerce as store
from tests.factories import make_connection, make_org, make_shg

pytestmark = pytest.mark.django_db


@pytest.fixture
def connection(sandbox_http, sandbox_base):
    account = store.create_demo_account("ratings-store", "Ratings Store")
    shg = make_shg(make_org("Ratings Federation"), name="Ratings SHG")
    return make_connection(shg, credentials=store.connection_credentials(account),
                           config=store.connection_config(account, sandbox_base), external_account_id="ratings-store")


def test_reviews_of_the_store_arrive_once_with_skus_and_a_cursor(connection):
    account = store.create_demo_account("ratings-store", "Ratings Store")
    expected = {str(doc.data["id"]): doc.data for doc in account.documents.filter(kind="review")}
    products = store.Store(account).products_by_sku()
    # A review belongs to the product; a variable product's own SKU is empty (its variations carry them).
    parent_sku = {sku: "" if store.Store.is_variable(row.data) else sku for sku, row in products.items()}

    run = sync_connection(connection_id=connection.pk, stream=SyncRun.Stream.RATINGS)

    assert run.status == SyncRun.Status.SUCCESS, run.error
    stored = {r.external_id: r for r in Review.objects.filter(connection=connection)}
    assert set(stored) == set(expected) and len(stored) == 8
    for key, review in stored.items():
        assert review.rating == expected[key]["rating"] and review.sku == parent_sku[expected[key]["sku"]]
        assert review.body == expected[key]["review"] and "<p>" not in review.body
        assert "reviewer_email" not in review.raw
    assert Event.objects.filter(type="rating.received").count() == 8
    connection.refresh_from_db()
    assert connection.cursors["ratings"]

    # A new review, one without stars and one held for moderation: only the first is a rating to report.
    store.create_review(account, sku=expected["1"]["sku"], rating=1, review="Broken lid", reviewer="Ravi Das")
    store.create_review(account, sku=expected["1"]["sku"], rating=0, review="Just a comment")
    store.create_review(account, sku=expected["1"]["sku"], rating=4, review="Pending", status="hold")
    second = sync_connection(connection_id=connection.pk, stream=SyncRun.Stream.RATINGS)

    assert second.status == SyncRun.Status.SUCCESS and second.created == 1
    assert Review.objects.filter(connection=connection).count() == 9
    assert Event.objects.filter(type="rating.received").count() == 9


def test_old_reviews_before_the_window_are_not_read(connection):
    run = sync_connection(connection_id=connection.pk, stream=SyncRun.Stream.RATINGS,
                          since=timezone.now() - timedelta(days=10))
    assert run.status == SyncRun.Status.SUCCESS
    account = store.create_demo_account("ratings-store", "Ratings Store")
    recent = [d for d in account.documents.filter(kind="review")
              if d.updated_at > timezone.now() - timedelta(days=10)]
    assert 0 < Review.objects.count() == len(recent) < 8


def test_a_ratings_run_leaves_the_orders_schedule_alone(connection):
    before = connection.next_sync_at
    sync_connection(connection_id=connection.pk, stream=SyncRun.Stream.RATINGS)
    connection.refresh_from_db()
    assert connection.next_sync_at == before and connection.last_success_at is None


def test_dispatcher_enqueues_ratings_only_for_platforms_that_publish_them(connection, monkeypatch):
    other = make_connection(connection.shg, platform="flipkart")
    queued = []
    monkeypatch.setattr("apps.integrations.tasks.async_task", lambda *args, **kwargs: queued.append(args))
    ids = dispatch_ratings_syncs()
    assert ids == [connection.pk] and other.pk not in ids
    assert queued == [("apps.integrations.tasks.run_sync", connection.pk, "ratings", "schedule", None)]
