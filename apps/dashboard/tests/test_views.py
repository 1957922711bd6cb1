"""The overview page, and what every dashboard page owes a phone user: viewport, labels, Hindi, weight."""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse
from django.utils import timezone

from apps.dashboard.tests.helpers import add, order
from apps.orders.models import Order
from tests.factories import make_connection, make_org, make_shg, make_user

pytestmark = pytest.mark.django_db

PAGE_BUDGET = 200 * 1024


@pytest.fixture
def coordinator():
    federation = make_org()
    sakhi = make_shg(federation, name="Sakhi Bachat Gat")
    jyoti = make_shg(federation, name="Jyoti Mahila Mandal")
    shop = make_connection(sakhi, platform="shopify", display_name="Sakhi Shopify")
    woo = make_connection(jyoti, platform="woocommerce", display_name="Jyoti Woo")
    now = timezone.now()
    add(order(shop, now, "123456.00"), order(woo, now, "10.00", status=Order.Status.DELIVERED))
    return make_user(organization=federation), sakhi, jyoti


def test_home_is_the_overview(client, coordinator):
    user, _sakhi, _jyoti = coordinator
    client.force_login(user)
    response = client.get(reverse("home"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "₹1,23,466.00" in page  # both SHGs today, Indian grouping
    assert "Sakhi Bachat Gat" in page and "Jyoti Mahila Mandal" in page
    assert "Sakhi Shopify" in page and "#" in page
    assert "<svg" in page and 'id="revenue-data"' in page
    assert "chart-4.6.1.umd.min.js" in page  # only as a data attribute: loaded on request
    assert not re.search(r"<script[^>]+chart-4\.6\.1", page)


def test_shg_filter_and_htmx_partial(client, coordinator):
    user, _sakhi, jyoti = coordinator
    client.force_login(user)
    response = client.get(reverse("home"), {"shg": jyoti.pk}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="overview")
    page = response.content.decode()
    assert "<html" not in page and "Jyoti Mahila Mandal" in page
    assert "₹10.00" in page and "1,23,456" not in page
    assert "HX-Request" in response["Vary"]
    # The back button's history restore asks for the whole page.
    restore = client.get(reverse("home"), {"shg": jyoti.pk}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="overview",
                         HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert "<html" in restore.content.decode()


def test_foreign_shg_is_refused_without_leaking(client, coordinator):
    user, _sakhi, _jyoti = coordinator
    stranger = make_shg(name="Not Yours SHG")
    add(order(make_connection(stranger, platform="shopify"), timezone.now(), "777.00"))
    client.force_login(user)
    page = client.get(reverse("home"), {"shg": stranger.pk}).content.decode()
    assert "Select a valid choice" in page and "Not Yours SHG" not in page and "777" not in page


def test_navigation_reaches_every_section(client, coordinator):
    user, _sakhi, _jyoti = coordinator
    client.force_login(user)
    page = client.get(reverse("home")).content.decode()
    for name in ("home", "integrations:list", "orders:list", "catalog:products", "inventory:stock", "shg_list"):
        assert f'href="{reverse(name)}"' in page, name
    assert f'href="{reverse("home")}" aria-current="page"' in page


def test_shg_page_links_to_its_overview(client, coordinator):
    user, sakhi, _jyoti = coordinator
    client.force_login(user)
    page = client.get(reverse("shg_detail", args=[sakhi.pk])).content.decode()
    assert f'href="{reverse("home")}?shg={sakhi.pk}"' in page


def test_health_cards_offer_sync_now_to_coordinators_only(client, coordinator):
    from apps.accounts.models import Membership

    user, sakhi, _jyoti = coordinator
    shop = sakhi.connections.get()
    client.force_login(user)
    page = client.get(reverse("home")).content.decode()
    assert f'action="{reverse("sync:now", args=[shop.pk])}"' in page
    viewer = make_user(organization=sakhi.federation, role=Membership.Role.VIEWER)
    client.force_login(viewer)
    page = client.get(reverse("home")).content.decode()
    assert "Sakhi Shopify" in page and reverse("sync:now", args=[shop.pk]) not in page


def test_anonymous_goes_to_login(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_hindi_switch(client, coordinator):
    user, _sakhi, _jyoti = coordinator
    client.force_login(user)
    response = client.post(reverse("set_language"), {"language": "hi", "next": reverse("home")})
    assert response.status_code == 302
    page = client.get(reverse("home")).content.decode()
    assert '<html lang="hi">' in page
    assert "अवलोकन" in page and "ऑर्डर" in page  # "Overview" and "Orders" in the navigation
    assert "₹1,23,466.00" in page


class _Page(HTMLParser):
    """Collects what the checks below need: viewport meta, form fields and their labels, static assets."""

    def __init__(self):
        super().__init__()
        self.viewport = False
        self.labels_for: set[str] = set()
        self.fields: list[dict] = []
        self.assets: list[str] = []
        self._label_depth = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "meta" and a.get("name") == "viewport":
            self.viewport = True
        elif tag == "label":
            self._label_depth += 1
            if a.get("for"):
                self.labels_for.add(a["for"])
        elif tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit", "button"):
            self.fields.append({**a, "_wrapped": self._label_depth > 0})
        elif tag == "link" and a.get("rel") == "stylesheet":
            self.assets.append(a["href"])
        elif tag == "script" and a.get("src"):
            self.assets.append(a["src"])

    def handle_endtag(self, tag):
        if tag == "label":
            self._label_depth -= 1


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def _pages(sakhi):
    return [reverse("home"), reverse("orders:list"), reverse("integrations:list"), reverse("shg_list"),
            reverse("shg_detail", args=[sakhi.pk]), reverse("catalog:products"), reverse("inventory:stock"),
            reverse("sync:activity"), reverse("catalog:unmatched"), reverse("catalog:import")]


def test_every_page_has_viewport_and_labelled_fields(client, coordinator):
    user, sakhi, _jyoti = coordinator
    client.logout()
    login = client.get(reverse("login")).content.decode()
    client.force_login(user)
    for html in [login, *(client.get(url).content.decode() for url in _pages(sakhi))]:
        page = _parse(html)
        assert page.viewport
        for field in page.fields:
            labelled = field["_wrapped"] or field.get("id") in page.labels_for or field.get("aria-label")
            assert labelled, f"unlabelled field {field}"


@pytest.mark.parametrize("name", ["home", "orders:list", "integrations:list", "catalog:products", "inventory:stock",
                                  "sync:activity", "catalog:unmatched", "shg_list"])
def test_first_load_fits_the_page_budget(client, coordinator, name, settings):
    user, sakhi, _jyoti = coordinator
    shop = sakhi.connections.get()
    # A full page of orders (the list shows 50), with long buyer names as real data has.
    add(*[order(shop, timezone.now(), "1234.50") for _ in range(60)])
    Order.objects.filter(connection=shop).update(buyer_name="Shrimati Anjali Venkataraghavan Subramaniam")
    client.force_login(user)
    html = client.get(reverse(name)).content
    page = _parse(html.decode())
    assert page.assets, "the page should reference its stylesheet"
    total = len(html)
    for url in page.assets:
        assert url.startswith(settings.STATIC_URL if settings.STATIC_URL.startswith("/") else "/" + settings.STATIC_URL)
        path = finders.find(url.split("/static/", 1)[1])
        assert path, f"{url} is not a static file of this project (no CDN)"
        total += Path(path).stat().st_size
    print(f"{name}: {total} bytes")
    assert total <= PAGE_BUDGET, f"{name}: {total} bytes"
