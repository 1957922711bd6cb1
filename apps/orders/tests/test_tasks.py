"""Pushing fulfilments: success, failures that retry with backoff, failures that do not, and the retry sweep."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.events.models import Event
from apps.integrations.connectors.base import FulfilmentResult
from apps.integrations.connectors.errors import AuthError, RateLimited, TransientError
from apps.integrations.tests.sync_fakes import fake_platform_fixture, make_order  # noqa: F401  (fixture)
from apps.orders.models import Fulfilment, Order
from apps.orders.services import PUSH_RETRY_DELAYS, fulfilment_create, upsert_orders
from apps.orders.tasks import dispatch_due_fulfilments, push_fulfilment
from tests.factories import make_connection, make_org, make_shg, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def fulfilment(fake_platform):
    connection = make_connection(make_shg(), platform="fakeshop")
    upsert_orders(connection=connection, orders=[make_order("F-1", lines=[("L1", "SKU-1", 2, "10.00")])])
    order = Order.objects.get()
    # Created without running its task (no on-commit in these tests): each test pushes it itself.
    return fulfilment_create(order=order, carrier="India Post", tracking_number="EK123456789IN")


def test_success_is_recorded_with_an_event(fulfilment, fake_platform):
    assert push_fulfilment(fulfilment.pk) == Fulfilment.PushState.PUSHED
    fulfilment.refresh_from_db()
    assert fulfilment.pushed_at and fulfilment.external_id == "SHIP-1" and fulfilment.attempts == 1
    assert Event.objects.filter(type="fulfilment.pushed").count() == 1
    assert fake_platform.pushed[0].lines[0].quantity == 2
    assert push_fulfilment(fulfilment.pk) == "not-claimed", "a pushed parcel is never pushed again"
    assert len(fake_platform.pushed) == 1


def test_transient_failures_retry_with_growing_delays_then_give_up(fulfilment, fake_platform):
    fake_platform.fulfilment_answers = [TransientError("HTTP 503 from POST /shipments")] * (len(PUSH_RETRY_DELAYS) + 1)
    for attempt, delay in enumerate(PUSH_RETRY_DELAYS, start=1):
        before = timezone.now()
        assert push_fulfilment(fulfilment.pk) == Fulfilment.PushState.RETRYING
        fulfilment.refresh_from_db()
        assert fulfilment.attempts == attempt and "HTTP 503" in fulfilment.last_error
        assert before + delay <= fulfilment.next_attempt_at <= timezone.now() + delay
        Fulfilment.objects.filter(pk=fulfilment.pk).update(next_attempt_at=timezone.now())
    assert push_fulfilment(fulfilment.pk) == Fulfilment.PushState.FAILED
    assert Event.objects.filter(type="fulfilment.failed").count() == 1


def test_the_sweep_pushes_due_retries(fulfilment, fake_platform):
    fake_platform.fulfilment_answers = [RateLimited("HTTP 429", retry_after=5)]
    push_fulfilment(fulfilment.pk)
    assert dispatch_due_fulfilments() == 0, "not due yet"
    Fulfilment.objects.filter(pk=fulfilment.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert dispatch_due_fulfilments() == 1  # django-q2 runs it inline in the tests
    fulfilment.refresh_from_db()
    assert fulfilment.push_state == Fulfilment.PushState.PUSHED and fulfilment.attempts == 2


def test_a_refusal_is_not_retried(fulfilment, fake_platform):
    fake_platform.fulfilment_answers = [FulfilmentResult(ok=False, error="Invalid carrier code 'India Post'")]
    assert push_fulfilment(fulfilment.pk) == Fulfilment.PushState.FAILED
    fulfilment.refresh_from_db()
    assert fulfilment.last_error == "Invalid carrier code 'India Post'" and fulfilment.next_attempt_at is None


def test_refused_credentials_ask_for_a_reconnect(fulfilment, fake_platform):
    fake_platform.fulfilment_answers = [AuthError("HTTP 401 from POST /shipments")]
    assert push_fulfilment(fulfilment.pk) == Fulfilment.PushState.FAILED
    fulfilment.refresh_from_db()
    assert "reconnect" in fulfilment.last_error


def test_a_push_lost_with_its_worker_is_retried(fulfilment, fake_platform):
    Fulfilment.objects.filter(pk=fulfilment.pk).update(push_state=Fulfilment.PushState.PUSHING,
                                                       updated_at=timezone.now() - timedelta(hours=1))
    assert dispatch_due_fulfilments() == 1
    fulfilment.refresh_from_db()
    assert fulfilment.push_state == Fulfilment.PushState.PUSHED


def test_a_coordinator_retries_a_failed_push(client, fulfilment, fake_platform, django_capture_on_commit_callbacks):
    fake_platform.fulfilment_answers = [FulfilmentResult(ok=False, error="Order is on hold")]
    push_fulfilment(fulfilment.pk)
    order = fulfilment.order
    user = make_user(organization=order.shg.federation)
    client.force_login(user)
    page = client.get(reverse("orders:detail", args=[order.pk])).content.decode()
    assert "Order is on hold" in page and "Send again now" in page
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("orders:fulfilment_retry", args=[fulfilment.pk]))
    fulfilment.refresh_from_db()
    assert fulfilment.push_state == Fulfilment.PushState.PUSHED
    client.force_login(make_user(organization=make_org()))
    assert client.post(reverse("orders:fulfilment_retry", args=[fulfilment.pk])).status_code == 404
