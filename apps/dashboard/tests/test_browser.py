"""A real browser at a 360 px phone width: log in, read the overview, open the interactive chart, switch to
Hindi, visit the orders, channels, products and stock pages. No page may scroll sideways. Screenshots go to screenshots/
(git-ignored). Drives Debian's chromium (`make system-packages` installs it); never downloads a browser."""

import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from apps.dashboard.tests.helpers import add, order
from conftest import require_service
from tests.factories import make_connection, make_org, make_shg, make_user

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(settings.BASE_DIR) / "screenshots"
PHONE = {"width": 360, "height": 740}


@pytest.fixture
def phone_data():
    """Made before the browser starts: Playwright's sync API runs an event loop, and the ORM refuses to run
    under one."""
    federation = make_org()
    shg = make_shg(federation, name="Sakhi Bachat Gat")
    shop = make_connection(shg, platform="shopify", display_name="Sakhi Shopify store", last_success_at=timezone.now())
    now = timezone.now()
    woo = make_connection(make_shg(federation, name="Jyoti Mahila Gramin Udyog Sangh"), platform="woocommerce",
                          display_name="Jyoti crafts web store")
    add(*[order(shop, now - timedelta(hours=9 * k), "1234.50") for k in range(40)],
        *[order(woo, now - timedelta(hours=13 * k), "123456.00") for k in range(20)])
    return make_user("asha", organization=federation)


@pytest.fixture
def browser_page(phone_data):
    playwright_api = pytest.importorskip("playwright.sync_api")
    require_service("chromium", bool(shutil.which(CHROMIUM)), f"{CHROMIUM} not found; `make system-packages` installs it")
    SHOTS.mkdir(exist_ok=True)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport=PHONE, device_scale_factor=1, locale="en-IN")
        yield context.new_page()
        context.close()
        browser.close()


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_phone_walkthrough(live_server, phone_data, browser_page):
    user, page = phone_data, browser_page

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("pw-12345-long")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator("h1").inner_text() == "Overview"
    assert page.locator("svg.chart rect").count() > 0
    assert page.get_by_role("heading", name="By SHG").is_visible()
    assert no_sideways_scroll(page)
    page.screenshot(path=str(SHOTS / "overview-360.png"), full_page=True)

    # The SHG filter swaps the overview in place (htmx) and keeps the choice in the address bar.
    page.evaluate("window.notReloaded = true")
    page.get_by_label("SHG", exact=True).select_option(label="Jyoti Mahila Gramin Udyog Sangh")
    page.get_by_role("button", name="Show").click()
    page.locator("h1", has_text="Jyoti Mahila Gramin Udyog Sangh").wait_for()
    assert "?shg=" in page.url and page.evaluate("window.notReloaded") is True
    page.get_by_label("SHG", exact=True).select_option(label="All my SHGs")
    page.get_by_role("button", name="Show").click()
    page.locator("h1", has_text="Overview").filter(has_not_text="Jyoti").wait_for()

    page.get_by_role("button", name="Interactive chart").click()
    page.locator("#revenue-canvas").wait_for(state="visible")
    assert page.evaluate("typeof window.Chart") == "function"
    assert page.locator("svg.chart").is_hidden() and page.locator("#interactive-chart").is_hidden()
    page.screenshot(path=str(SHOTS / "overview-chart-360.png"), full_page=True)

    page.select_option("#lang-select", "hi")
    page.wait_for_load_state("load")
    page.locator("h1", has_text="अवलोकन").wait_for()
    assert page.locator("html").get_attribute("lang") == "hi"
    assert no_sideways_scroll(page)
    page.screenshot(path=str(SHOTS / "overview-hi-360.png"), full_page=True)

    for name, path in (("orders", "/orders/"), ("channels", "/connections/"), ("products", "/catalog/"),
                       ("stock", "/inventory/")):
        page.goto(f"{live_server.url}{path}")
        assert no_sideways_scroll(page), f"{path} scrolls sideways at 360 px"
        page.screenshot(path=str(SHOTS / f"{name}-hi-360.png"), full_page=True)
