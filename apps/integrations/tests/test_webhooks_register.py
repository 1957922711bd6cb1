"""Registering webhooks with the platform on connect and removing them on disconnect, end to end against the
sandboxes: the platform's own signed deliveries reach the endpoint in-process and end in stored orders."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.conf import settings

from apps.integrations import webhooks
from apps.integrations.models import Connection, WebhookEvent
from apps.orders.models import Order
from apps.sandbox import dataset
from apps.sandbox.platforms import shopify as shopify_sandbox
from apps.sandbox.platforms import woocommerce as woo_sandbox
from tests.factories import make_connection, make_shg

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_http")]


@pytest.fixture
def shopify(sandbox_base):
    account = shopify_sandbox.create_demo_account("sakhi-crafts", "Sakhi Crafts")
    connection = make_connection(
        make_shg(name="Sakhi SHG"), platform="shopify", display_name="Sakhi Crafts",
        external_account_id=account.account_id, credentials=shopify_sandbox.connection_credentials(account),
        config=shopify_sandbox.connection_config(account, sandbox_base))
    return account, connection


@pytest.fixture
def woo(sandbox_base):
    account = woo_sandbox.create_demo_account("sakhi-store", "Sakhi Store")
    config = woo_sandbox.connection_config(account, sandbox_base)
    connection = make_connection(
        make_shg(name="Sakhi SHG"), platform="woocommerce", display_name="Sakhi Store",
        external_account_id=config["store_url"], credentials=woo_sandbox.connection_credentials(account),
        config=config)
    return account, connection


def subscriptions(account) -> list[dict]:
    return [row.data for row in dataset.objects(account, "webhook")]


def test_shopify_register_then_a_new_order_arrives_by_webhook(shopify, webhook_inbox,
                                                              django_capture_on_commit_callbacks):
    account, connection = shopify
    outcome = webhooks.webhooks_register(connection)
    assert not outcome.error and len(outcome.registered) == 6
    callback = f"{settings.SITE_URL}/webhooks/shopify/{connection.uuid}/"
    assert {s["callback_url"] for s in subscriptions(account)} == {callback}
    assert {s["topic"] for s in subscriptions(account)} >= {"ORDERS_CREATE", "ORDERS_UPDATED", "APP_UNINSTALLED"}
    connection.refresh_from_db()
    assert connection.config["webhook_ids"] == outcome.registered and connection.config["webhook_url"] == callback
    assert "webhook_secret" not in connection.credentials  # Shopify signs with the app secret
    with django_capture_on_commit_callbacks(execute=True):
        order = shopify_sandbox.create_order(account)
    assert [d["status"] for d in webhook_inbox] == [200]
    stored = Order.objects.get(connection=connection)
    assert stored.external_id == order["id"] and stored.total == Decimal(order["total"])
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED


def test_shopify_registering_again_never_leaves_two_subscriptions(shopify):
    account, connection = shopify
    first = webhooks.webhooks_register(connection)
    second = webhooks.webhooks_register(connection)
    assert not second.error and len(subscriptions(account)) == len(first.registered) == 6


def test_shopify_uninstall_from_the_store_disables_the_connection(shopify, webhook_inbox,
                                                                 django_capture_on_commit_callbacks):
    account, connection = shopify
    webhooks.webhooks_register(connection)
    with django_capture_on_commit_callbacks(execute=True):
        shopify_sandbox.uninstall_app(account)
    assert [d["status"] for d in webhook_inbox] == [200]
    connection.refresh_from_db()
    assert connection.status == Connection.Status.DISABLED and connection.credentials == {}


def test_shopify_unregister_removes_the_subscriptions(shopify):
    account, connection = shopify
    webhooks.webhooks_register(connection)
    outcome = webhooks.webhooks_unregister(connection)
    assert not outcome.error and subscriptions(account) == []
    connection.refresh_from_db()
    assert "webhook_ids" not in connection.config


def test_woocommerce_register_saves_a_secret_answers_the_ping_and_verifies_deliveries(
        woo, webhook_inbox, django_capture_on_commit_callbacks):
    account, connection = woo
    with django_capture_on_commit_callbacks(execute=True):
        outcome = webhooks.webhooks_register(connection)
    assert not outcome.error and len(outcome.registered) == 3
    connection.refresh_from_db()
    secret = connection.credentials["webhook_secret"]
    assert len(secret) >= 40 and {s["secret"] for s in subscriptions(account)} == {secret}
    assert {s["topic"] for s in subscriptions(account)} == {"order.created", "order.updated", "product.updated"}
    # WooCommerce pinged each new webhook, unsigned, and got its 200.
    assert [(d["body"][:11], d["status"]) for d in webhook_inbox] == [(b"webhook_id=", 200)] * 3
    assert not WebhookEvent.objects.exists()
    webhook_inbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        order = woo_sandbox.create_order(account)
    assert [d["status"] for d in webhook_inbox] == [200]
    assert Order.objects.get(connection=connection).external_id == order["id"]
    assert {s["status"] for s in subscriptions(account)} == {"active"}


def test_woocommerce_unregister_deletes_them_and_forgets_the_secret(woo, webhook_inbox):
    account, connection = woo
    webhooks.webhooks_register(connection)
    outcome = webhooks.webhooks_unregister(connection)
    assert not outcome.error and subscriptions(account) == []
    connection.refresh_from_db()
    assert "webhook_secret" not in connection.credentials and "webhook_ids" not in connection.config


def test_a_refusing_platform_does_not_undo_the_connection(woo):
    _account, connection = woo
    connection.credentials = {**connection.credentials, "consumer_secret": "cs_" + "0" * 40}
    connection.save()
    outcome = webhooks.webhooks_register(connection)
    assert outcome.error and not outcome.registered
    assert "cs_" + "0" * 40 not in outcome.error
    connection.refresh_from_db()
    assert connection.status == Connection.Status.ACTIVE and "webhook_ids" not in connection.config


def test_platforms_without_webhooks_register_nothing():
    connection = make_connection(make_shg(), platform="flipkart")
    assert webhooks.webhooks_register(connection) == webhooks.RegistrationOutcome()
    assert webhooks.webhooks_unregister(connection) == webhooks.RegistrationOutcome()


def test_connect_registers_in_a_task_and_disconnect_removes(sandbox_base, webhook_inbox,
                                                            django_capture_on_commit_callbacks):
    from apps.integrations import services

    account = woo_sandbox.create_demo_account("asha-store", "Asha Store")
    config = woo_sandbox.connection_config(account, sandbox_base)
    values = {"store_url": config["store_url"], **woo_sandbox.connection_credentials(account)}
    with django_capture_on_commit_callbacks(execute=True):
        connection = services.connection_connect_api_key(shg=make_shg(), platform="woocommerce", values=values)
    connection.refresh_from_db()
    assert len(connection.config["webhook_ids"]) == 3 and connection.credentials["webhook_secret"]
    assert len(subscriptions(account)) == 3
    outcome = services.connection_disconnect(connection=connection)
    assert outcome.webhook_error == "" and subscriptions(account) == []
    connection.refresh_from_db()
    assert connection.credentials == {} and "webhook_ids" not in connection.config
