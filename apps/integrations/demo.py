"""Demo connections to the sandbox marketplaces, created by `seed_demo`.

Each demo SHG gets real connections to sandbox accounts, made the way a coordinator's connect would make
them: the connector's live `test_connection()` names the account (so reconnecting from the dashboard
updates the same row), webhooks are registered with the platform, and the connection is scheduled.
At seed time the web server is not running yet, so these calls reach the sandbox in-process; afterwards
every call goes over HTTP to SANDBOX_ROOT_URL like any platform's.
"""

from __future__ import annotations

from contextlib import contextmanager
from importlib import import_module
from urllib.parse import urlsplit

from django.conf import settings

from apps.integrations.connectors.base import ConnectionContext
from apps.integrations.connectors.errors import ConnectorError
from apps.integrations.connectors.registry import get_connector_class
from apps.integrations.http import HttpClient

# (SHG index in seed order, platform, sandbox account id, store name)
DEMO_CHANNELS = [
    (0, "amazon", "A2HAATSAKHIPUNE", "Sakhi Crafts (Amazon.in + Amazon.com)"),
    (0, "woocommerce", "sakhi-crafts", "Sakhi Crafts web store"),
    (1, "flipkart", "jeevika-didi", "Jeevika Didi (Flipkart)"),
    (1, "shopify", "jeevika-didi-store", "Jeevika Didi Store"),
    (2, "shopify", "kudumbashree-annapoorna", "Annapoorna Foods"),
    (2, "woocommerce", "annapoorna-foods", "Annapoorna Foods web store"),
    (1, "magento", "jeevika-didi-magento", "Jeevika Didi Magento store"),
    (2, "bigcommerce", "annapoorna1", "Annapoorna Foods (BigCommerce)"),
    (0, "ozon", "2184417", "Sakhi Crafts (Ozon)"),
    (1, "wildberries", "jeevika-didi-wb", "Jeevika Didi (Wildberries)"),
    (2, "website", "annapoorna-foods-site", "Annapoorna Foods own website"),
    (2, "yandex_market", "21650001", "Annapoorna Foods (Yandex Market)"),
    (1, "uzum", "41650", "Jeevika Didi (Uzum Market)"),
    (0, "gem", "bidplus", "GeM open bids"),
    (0, "indiamart", "sakhi-crafts-indiamart", "Sakhi Crafts (IndiaMART)"),
]
# The demo Amazon seller's accounts in other SP-API regions, on the same connection (selling partner id, store name,
# marketplace): Amazon.in is in the EU region, Amazon.com in NA, each authorised separately.
DEMO_AMAZON_REGIONS = {
    "A2HAATSAKHIPUNE": [("A2HAATSAKHIUSA", "Sakhi Crafts (Amazon.com)", "ATVPDKIKX0DER")],
}
# Sandbox accounts left unconnected, for trying each platform's real connect flow from the dashboard.
SPARE_ACCOUNTS = [
    ("amazon", "A2HAATSPARE01", "Spare Amazon seller"),
    ("flipkart", "spare-flipkart-seller", "Spare Flipkart seller"),
    ("shopify", "spare-shop", "Spare Shopify shop"),
    ("woocommerce", "spare-store", "Spare WooCommerce store"),
    ("magento", "spare-magento-store", "Spare Magento store"),
    ("bigcommerce", "spare1", "Spare BigCommerce store"),
    ("ozon", "2184499", "Spare Ozon seller"),
    ("wildberries", "spare-wb-seller", "Spare Wildberries seller"),
    ("website", "spare-site", "Spare shop website"),
    ("yandex_market", "21650099", "Spare Yandex Market shop"),
    ("uzum", "41699", "Spare Uzum Market shop"),
    ("indiamart", "spare-indiamart-seller", "Spare IndiaMART seller"),
]


def _in_process_session(root: str):
    """A requests session that serves SANDBOX_ROOT_URL's origin from this process's Django app."""
    import requests

    from apps.sandbox.transport import WSGIAdapter

    parts = urlsplit(root)
    session = requests.Session()
    session.mount(f"{parts.scheme}://{parts.netloc}/", WSGIAdapter())
    return session


@contextmanager
def _in_process(session):
    """Serve the sandbox from this process while seeding: Amazon's httpx calls and the sandbox's deliveries."""
    import httpx
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    from apps.integrations.connectors import amazon
    from apps.sandbox import http as sandbox_http
    from apps.sandbox.transport import sandbox_wsgi_app

    original, original_deliver = amazon.new_transport, sandbox_http.deliver_webhook
    # The sandbox's in-process app keeps this process's database connection open around each request, whichever
    # of the two transports (requests for most platforms, httpx for Amazon) makes it.
    amazon.new_transport = lambda: httpx.WSGITransport(app=sandbox_wsgi_app())
    # Deliveries the sandbox sends while seeding (WooCommerce's creation ping) reach the app in-process too.
    sandbox_http.deliver_webhook = lambda url, body, headers: session.post(url, data=body, headers=headers).status_code
    # The seeding transaction's connection must survive the in-process requests (see sandbox.transport).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        amazon.new_transport, sandbox_http.deliver_webhook = original, original_deliver
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def seed_demo_connections(*, shgs, user) -> list[str]:
    if not settings.SANDBOX:
        return ["SANDBOX is off: no demo channels connected."]
    from apps.integrations.services import sandbox_root

    root = sandbox_root()
    session = _in_process_session(root)
    lines: list[str] = []
    with _in_process(session):
        _seed_channels(shgs, user, root, session, lines)
        _seed_opening_stock(shgs, session, lines)
    for platform, account_id, name in SPARE_ACCOUNTS:
        import_module(f"apps.sandbox.platforms.{platform}").create_demo_account(account_id, name)
    lines.append(f"Spare sandbox accounts to connect yourself, with their keys: {root}/")
    return lines


DEMO_OPENING_STOCK = 150


def _seed_opening_stock(shgs, session, lines) -> None:
    """Read every channel's catalogue and count the SHGs' stock once, as a coordinator does before selling: without
    it every order the first sync brings would be flagged as oversold. Variants already counted are left alone."""
    from apps.catalog.models import Variant
    from apps.integrations import http as http_module
    from apps.integrations.connectors.base import Capability
    from apps.integrations.models import Connection, SyncRun
    from apps.integrations.sync import sync_connection
    from apps.inventory.models import StockItem
    from apps.inventory.services import stock_set_counts

    original = http_module.new_session
    http_module.new_session = lambda: session
    try:
        for connection in Connection.objects.filter(shg__in=shgs).order_by("id"):
            if connection.connector_class.supports(Capability.PRODUCTS):
                sync_connection(connection_id=connection.pk, stream=SyncRun.Stream.PRODUCTS,
                                trigger=SyncRun.Trigger.COMMAND)
    finally:
        http_module.new_session = original
    counted = set(StockItem.objects.filter(variant__shg__in=shgs).values_list("variant_id", flat=True))
    for shg in shgs:
        ids = [pk for pk in Variant.objects.filter(shg=shg).values_list("id", flat=True) if pk not in counted]
        stock_set_counts(shg_id=shg.pk, counts=dict.fromkeys(ids, DEMO_OPENING_STOCK), reason="Opening count (demo)")
        if ids:
            lines.append(f"{shg.name}: {len(ids)} products counted at {DEMO_OPENING_STOCK} units each")


def _seed_channels(shgs, user, root, session, lines) -> None:
    from apps.integrations import webhooks
    from apps.integrations.services import connection_upsert, external_account_id_for

    for index, platform, account_id, name in DEMO_CHANNELS:
        module = import_module(f"apps.sandbox.platforms.{platform}")
        account = module.create_demo_account(account_id, name)
        # Amazon: the same seller's accounts in other regions join this one connection.
        others = [module.create_demo_account(other_id, other_name, marketplace_id=marketplace)
                  for other_id, other_name, marketplace in DEMO_AMAZON_REGIONS.get(account_id, [])]
        config = module.connection_config(account, root, *others)
        credentials = dict(module.connection_credentials(account, *others))
        cls = get_connector_class(platform)
        captured = dict(credentials)
        context = ConnectionContext(connection_id=f"demo-{platform}-{account_id}", credentials=dict(credentials),
                                    config=dict(config), save_credentials=lambda c, captured=captured: captured.update(c))
        http = HttpClient(connection_key=context.connection_id, rate_limits=cls.rate_limits, session=session)
        try:
            info = cls(context, http=http).test_connection() or {}
        except ConnectorError as exc:
            # One sandbox failing must not stop the demo; the coordinator can connect it from the dashboard.
            lines.append(f"{shgs[index].name}: could not connect {name} [{platform}]: {exc.message}")
            continue
        external_id = external_account_id_for(cls, info, config, credentials)
        connection, _ = connection_upsert(
            shg=shgs[index], platform=platform, external_account_id=external_id, credentials=captured, config=config,
            display_name=name, created_by=user,
        )
        outcome = webhooks.webhooks_register(connection, http=HttpClient(
            connection_key=str(connection.pk), rate_limits=cls.rate_limits, session=session))
        suffix = " (webhooks registered)" if getattr(outcome, "registered", None) else ""
        if platform in PASTED_NOTIFICATION_URLS:
            suffix = _paste_notification_url(module, account, connection)
        lines.append(f"{shgs[index].name}: {connection.display_name} [{platform}]{suffix}")


# Platforms whose seller pastes Haat's notification URL in the cabinet: the demo pastes it in the sandbox's
# cabinet, which checks it with a PING as the platform does.
PASTED_NOTIFICATION_URLS = {"yandex_market": ("configure_notifications", "NotificationUrlRefused"),
                            "ozon": ("configure_push", "PushUrlRefused")}


def _ping_in_process(url: str, payload: dict, timeout: float):
    """The cabinet's PING, served by this process (the web server is not up yet). Django's test client, because
    it sends from 127.0.0.1 like the sandbox on this machine, and these notifications are verified by address."""
    import json

    from django.test import Client

    parts = urlsplit(url)
    response = Client(HTTP_HOST=parts.netloc).post(parts.path, data=json.dumps(payload), content_type="application/json")
    try:
        return response.status_code, json.loads(response.content)
    except ValueError:
        return response.status_code, None


def _paste_notification_url(module, account, connection) -> str:
    from apps.integrations import webhooks

    configure, refused = PASTED_NOTIFICATION_URLS[connection.platform]
    try:
        getattr(module, configure)(account, webhooks.webhook_callback_url(connection), post=_ping_in_process)
    except getattr(module, refused) as exc:
        return f" (notification URL not accepted: {exc})"
    return " (notification URL set in the sandbox cabinet)"
