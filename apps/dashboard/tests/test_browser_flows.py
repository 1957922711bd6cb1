"""A coordinator's day in a real browser (Debian's chromium through the `playwright` package; never a downloaded
browser), against the live app and its sandbox Shopify over real HTTP on loopback: log in, connect the shop
through OAuth, sync, see the orders, add tracking (pushed to the shop), import the shop's products, change a
stock count inline and see the push recorded, switch to Hindi. Screenshots go to screenshots/ (git-ignored)."""

import os
import re
import shutil
from pathlib import Path

import pytest
from django.conf import settings

from conftest import require_service
from tests.factories import make_org, make_shg, make_user

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(settings.BASE_DIR) / "screenshots"


@pytest.fixture
def world(live_server, settings):
    """Everything the ORM must make before the browser starts (Playwright's sync API runs an event loop and the
    ORM refuses to run under one). The app and the sandbox both answer at the live server's address."""
    from apps.sandbox.platforms import shopify

    settings.SITE_URL = live_server.url
    settings.SANDBOX_ROOT_URL = f"{live_server.url}/sandbox"
    settings.SANDBOX_WEBHOOK_TARGET = live_server.url
    federation = make_org()
    make_shg(federation, name="Sakhi Bachat Gat")
    account = shopify.create_demo_account("sakhi-browser", "Sakhi browser shop")
    user = make_user("meera", organization=federation)
    return {"user": user, "shop": account.account_id, "url": live_server.url}


@pytest.fixture
def page(world):
    playwright_api = pytest.importorskip("playwright.sync_api")
    require_service("chromium", bool(shutil.which(CHROMIUM)), f"{CHROMIUM} not found; `make system-packages` installs it")
    SHOTS.mkdir(exist_ok=True)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 412, "height": 900}, locale="en-IN")
        context.set_default_timeout(30_000)
        yield context.new_page()
        context.close()
        browser.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"flow-{name}.png"), full_page=True)


def test_connect_sync_ship_restock_in_hindi(world, page):
    base = world["url"]

    # Log in.
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(world["user"].username)
    page.get_by_label("Password").fill("pw-12345-long")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{base}/")
    shot(page, "1-overview")

    # Connect the sandbox Shopify through OAuth: Haat's form, Shopify's install screen, back to Haat.
    page.goto(f"{base}/connections/")
    page.get_by_role("link", name="Connect a channel for Sakhi Bachat Gat").click()
    page.get_by_role("link", name="Connect Shopify").click()
    page.locator("input[name=shop]").fill(world["shop"])
    page.get_by_role("button", name="Continue to Shopify").click()
    page.wait_for_url(re.compile(r".*/sandbox/shopify/.*/admin/oauth/authorize.*"))
    shot(page, "2-shopify-consent")
    page.get_by_role("button", name="Install").click()
    page.wait_for_url(re.compile(r".*/connections/\d+/$"))
    assert "is connected" in page.locator(".messages").inner_text()
    shot(page, "3-connected")

    # Sync now from the channel's card; the run shows up in the sync activity, finished.
    page.goto(f"{base}/connections/")
    card = page.locator(".conn-card", has_text="Sakhi browser shop")
    card.get_by_role("button", name="Sync orders now").click()
    page.wait_for_url(f"{base}/connections/")
    assert "started" in page.locator(".messages").inner_text()
    page.goto(f"{base}/sync/")
    page.locator("#runs .badge.success").first.wait_for()
    shot(page, "4-sync-activity")

    # The orders are in the one list; open an unshipped one and add tracking: it is sent to the shop.
    page.goto(f"{base}/orders/?status=unshipped")
    rows = page.locator("#order-rows tr td:first-child a")
    assert rows.count() > 0
    shot(page, "5-orders")
    rows.first.click()
    page.get_by_label("Carrier").fill("India Post")
    page.get_by_label("Tracking number").fill("EK123456789IN")
    page.get_by_role("button", name="Save and send to the channel").click()
    page.locator(".messages", has_text="Tracking saved").wait_for()
    assert page.locator("article.card", has_text="EK123456789IN").locator(".badge.ok").count() == 1
    assert "Tracking sent to the channel" in page.locator("ol.timeline").inner_text()
    shot(page, "6-tracking")

    # Import the shop's products, then count the first variant's stock inline: the shop is sent the quantity.
    page.goto(f"{base}/catalog/")
    page.get_by_text("Import a channel's products").click()
    page.get_by_role("button", name="Import from Sakhi browser shop").click()
    page.locator(".messages", has_text="matched").wait_for()
    stock_cell = page.locator("td[id^=stock-]").first
    cell_id = stock_cell.get_attribute("id")
    stock_cell.locator("input[name$='-count']").fill("17")
    stock_cell.locator("input[name$='-reason']").fill("Counted in the store room")
    stock_cell.get_by_role("button", name="Save count").click()
    page.locator(f"#{cell_id} .saved").wait_for()
    available = page.locator(f"#{cell_id} .avail").inner_text()
    page.reload()
    row = page.locator(f"tr:has(#{cell_id})")
    assert f"· {available}" in row.inner_text(), row.inner_text()
    shot(page, "7-stock-pushed")

    # Switch to Hindi: the same page, in Hindi.
    with page.expect_navigation():
        page.select_option("#lang-select", "hi")
    assert page.locator("html").get_attribute("lang") == "hi"
    page.locator("nav", has_text="अवलोकन").wait_for()
    page.goto(f"{base}/connections/")
    card = page.locator(".conn-card").first
    assert "ऑर्डर अभी सिंक करें" in card.inner_text() and "इस चैनल के सिंक" in card.inner_text()
    shot(page, "8-hindi")
