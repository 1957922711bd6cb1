"""The dashboard's working pages: connection cards (buttons from capabilities), sync activity with live
progress, the order list's filters, totals per currency and CSV export, the order timeline, inline price and
stock edits, channel buffers."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Membership
from apps.catalog.models import Listing, Product, Variant
from apps.dashboard.tests.helpers import add, order
from apps.integrations.connectors.base import Capability
from apps.integrations.models import SyncRun
from apps.integrations.tests.sync_fakes import FakeShopConnector, fake_platform_fixture  # noqa: F401  (fixture)
from apps.inventory.models import StockItem, StockMovement
from apps.inventory.services import default_location
from apps.orders.models import Fulfilment, OrderLine
from tests.factories import make_connection, make_org, make_shg, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant():
    federation = make_org()
    shg = make_shg(federation, name="Sakhi Bachat Gat")
    shop = make_connection(shg, platform="shopify", display_name="Sakhi Shopify")
    return federation, shg, shop, make_user(organization=federation)


def html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# --- connections ------------------------------------------------------------------------------------------------


def test_connection_cards_offer_what_the_platform_can_do(client, tenant, fake_platform, monkeypatch):
    _federation, shg, _shop, user = tenant
    fake = make_connection(shg, platform="fakeshop", display_name="Fake shop", last_error="HTTP 500 from the platform")
    client.force_login(user)
    page = html(client.get(reverse("integrations:list")))
    assert page.count('class="card conn-card"') == 2
    assert "Sync orders now" in page and "Sync products now" in page and "HTTP 500 from the platform" in page
    assert reverse("integrations:test", args=[fake.pk]) in page and reverse("integrations:disconnect", args=[fake.pk]) in page
    # A platform that cannot bring orders or products in gets no sync button, and "sync now" refuses it.
    monkeypatch.setattr(FakeShopConnector, "capabilities", frozenset({Capability.FULFILMENT_PUSH}))
    page = html(client.get(reverse("integrations:list")))
    card = page[page.index(f'id="connection-{fake.pk}"'):]
    card = card[:card.index("</li>")]
    assert reverse("sync:now", args=[fake.pk]) not in card and reverse("integrations:test", args=[fake.pk]) in card
    response = client.post(reverse("sync:now", args=[fake.pk]), {"stream": "orders"})
    assert response.status_code == 400 and not SyncRun.objects.filter(connection=fake).exists()


def test_connection_cards_viewer_sees_no_buttons_and_reconnect_only_when_needed(client, tenant):
    federation, _shg, shop, _user = tenant
    shop.status = "needs_reauth"
    shop.save()
    viewer = make_user(organization=federation, role=Membership.Role.VIEWER)
    client.force_login(viewer)
    page = html(client.get(reverse("integrations:list")))
    assert "Sakhi Shopify" in page and reverse("integrations:reconnect", args=[shop.pk]) not in page
    assert reverse("integrations:disconnect", args=[shop.pk]) not in page
    client.force_login(make_user(organization=federation))
    page = html(client.get(reverse("integrations:list")))
    assert reverse("integrations:reconnect", args=[shop.pk]) in page
    # Not syncable: no sync button; a test is still offered.
    assert reverse("sync:now", args=[shop.pk]) not in page and reverse("integrations:test", args=[shop.pk]) in page


def test_card_buttons_come_back_to_the_list(client, tenant, fake_platform):
    _federation, shg, _shop, user = tenant
    fake = make_connection(shg, platform="fakeshop")
    client.force_login(user)
    response = client.post(reverse("sync:now", args=[fake.pk]), {"stream": "orders", "next": reverse("integrations:list")})
    assert response.status_code == 302 and response["Location"] == reverse("integrations:list")
    response = client.post(reverse("sync:now", args=[fake.pk]), {"stream": "orders", "next": "https://evil.example/"})
    assert response["Location"] == reverse("sync:runs", args=[fake.pk])


# --- sync activity ------------------------------------------------------------------------------------------------


def test_activity_lists_every_channels_runs_and_polls_only_while_running(client, tenant):
    _federation, _shg, shop, user = tenant
    other = make_connection(make_shg(name="Other SHG"), display_name="Other tenant store")
    done = SyncRun.objects.create(connection=shop, status=SyncRun.Status.FAILED, finished_at=timezone.now(),
                                  error="Shopify said 401", error_type="AuthError", fetched=7)
    SyncRun.objects.create(connection=other, status=SyncRun.Status.SUCCESS)
    client.force_login(user)
    page = html(client.get(reverse("sync:activity")))
    assert "Sakhi Shopify" in page and "Other tenant store" not in page
    assert "<details" in page and "Shopify said 401" in page
    assert 'hx-trigger="every 2s"' not in page
    running = SyncRun.objects.create(connection=shop, stream=SyncRun.Stream.PRODUCTS, pages=3)
    page = html(client.get(reverse("sync:activity")))
    assert 'hx-trigger="every 2s"' in page and "3 pages" in page
    # The poll answers the table only; once the run ends the new table carries no trigger: polling stops.
    running.status, running.finished_at = SyncRun.Status.SUCCESS, timezone.now()
    running.save()
    fragment = html(client.get(reverse("sync:activity"), headers={"HX-Request": "true"}))
    assert fragment.startswith('<div id="runs"') and "<html" not in fragment and "every 2s" not in fragment
    # A run's own page polls the same way.
    assert "every 2s" not in html(client.get(reverse("sync:run_detail", args=[done.pk])))
    live = SyncRun.objects.create(connection=shop, stream=SyncRun.Stream.ORDERS)
    assert "every 2s" in html(client.get(reverse("sync:run_detail", args=[live.pk])))
    assert "every 2s" in html(client.get(reverse("sync:runs", args=[shop.pk])))


# --- orders ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def orders(tenant):
    _federation, shg, shop, user = tenant
    rub = make_connection(shg, platform="woocommerce", display_name="Ozon store")
    now = timezone.now()
    made = add(order(shop, now - timedelta(days=1), "100.00"), order(shop, now - timedelta(days=10), "250.50"),
               order(rub, now - timedelta(days=1), "1000.00", currency="RUB"))
    made[0].buyer_name = "=HYPERLINK(\"http://evil\")"
    made[0].save()
    OrderLine.objects.create(order=made[1], external_id="L1", sku="PICKLE-500", title="Mango pickle", quantity=2,
                             unit_price=Decimal("125.25"))
    return user, made


def test_order_filters_by_date_and_finds_by_sku(client, orders):
    user, (recent, old, rub) = orders
    client.force_login(user)
    day = timezone.localdate() - timedelta(days=3)
    page = html(client.get(reverse("orders:list"), {"placed_from": day.isoformat()}))
    assert recent.number in page and rub.number in page and old.number not in page
    page = html(client.get(reverse("orders:list"), {"placed_to": day.isoformat()}))
    assert old.number in page and recent.number not in page
    page = html(client.get(reverse("orders:list"), {"q": "pickle-500"}))
    assert old.number in page and recent.number not in page


def test_order_totals_are_per_currency(client, orders):
    user, _made = orders
    client.force_login(user)
    page = html(client.get(reverse("orders:list"), {"channel": "shopify"}))
    # The list loads its totals after drawing, with the same filters.
    assert f'hx-get="{reverse("orders:totals")}?channel=shopify"' in page and 'hx-trigger="load"' in page
    fragment = html(client.get(reverse("orders:totals"), headers={"HX-Request": "true"}))
    assert "₹350.50" in fragment and "RUB 1,000.00" in fragment and "<html" not in fragment
    assert "₹1,350.50" not in fragment  # never a sum across currencies
    totals = {t.currency: t.amount for t in client.get(reverse("orders:totals")).context["totals"]}
    assert totals == {"INR": Decimal("350.50"), "RUB": Decimal("1000.00")}
    assert "RUB" not in html(client.get(reverse("orders:totals"), {"channel": "shopify"}))


def test_csv_export_streams_the_filtered_scoped_orders(client, orders):
    user, (recent, old, _rub) = orders
    make_connection(make_shg(name="Secret SHG"))
    add(order(make_connection(make_shg(name="Secret SHG 2")), timezone.now(), "9.99"))
    client.force_login(user)
    response = client.get(reverse("orders:export"), {"status": "unshipped", "channel": "shopify"})
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["order_id", "number", "placed_at"]
    assert sorted(r[0] for r in rows[1:]) == sorted([recent.external_id, old.external_id])
    by_id = {r[0]: r for r in rows[1:]}
    assert by_id[recent.external_id][7].startswith("'=")  # a formula from a buyer's name is defused
    assert by_id[old.external_id][6] == "250.50" and "Secret" not in text


def test_export_keeps_memory_flat(client, tenant, django_assert_max_num_queries):
    """The rows come from one chunked query, not one per order: a big export costs what a small one does."""
    _federation, _shg, shop, user = tenant
    add(*[order(shop, timezone.now() - timedelta(minutes=k), "1.00") for k in range(300)])
    client.force_login(user)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("orders:export"))
        lines = sum(1 for _ in response.streaming_content)
    assert lines == 301


def test_order_page_has_a_timeline(client, tenant):
    _federation, _shg, shop, user = tenant
    (o,) = add(order(shop, timezone.now() - timedelta(days=2), "10.00"))
    Fulfilment.objects.create(order=o, carrier="India Post", tracking_number="EK1IN", shipped_at=timezone.now(),
                              push_state=Fulfilment.PushState.PUSHED,
                              pushed_at=timezone.now() + timedelta(minutes=1))
    client.force_login(user)
    page = html(client.get(reverse("orders:detail", args=[o.pk])))
    timeline = page[page.index('<ol class="timeline">'):]
    order_of = [timeline.index(s) for s in ("Placed on the channel", "Arrived in Haat", "Tracking added: India Post EK1IN",
                                            "Tracking sent to the channel")]
    assert order_of == sorted(order_of)


# --- products and stock ------------------------------------------------------------------------------------------


@pytest.fixture
def catalog(tenant):
    _federation, shg, shop, user = tenant
    product = Product.objects.create(shg=shg, title="Mango pickle")
    variant = Variant.objects.create(product=product, shg=shg, sku="PICKLE-500", price="120.00", mrp="150.00")
    listing = Listing.objects.create(variant=variant, connection=shop, shg=shg, external_id="gid://1", state=Listing.State.LIVE)
    item = StockItem.objects.create(variant=variant, location=default_location(shg_id=shg.pk), on_hand=0)
    return user, variant, listing, item


def test_inline_price_edit_saves_and_queues_the_push(client, catalog, monkeypatch, django_capture_on_commit_callbacks):
    user, variant, listing, _item = catalog
    pushed = []
    monkeypatch.setattr("apps.catalog.tasks.enqueue_price_push", pushed.append)
    client.force_login(user)
    url = reverse("variant_price", args=[variant.pk])
    with django_capture_on_commit_callbacks(execute=True):
        cell = html(client.post(url, {f"v{variant.pk}-price": "130.00", f"v{variant.pk}-mrp": "150.00"},
                                headers={"HX-Request": "true"}))
    assert cell.startswith(f'<td id="price-{variant.pk}"') and "Saved" in cell
    variant.refresh_from_db()
    listing.refresh_from_db()
    assert variant.price == Decimal("130.00") and listing.price_dirty and pushed == [listing.connection_id]
    # MRP below price: refused, the error sits next to the MRP field, nothing saved.
    cell = html(client.post(url, {f"v{variant.pk}-price": "200.00", f"v{variant.pk}-mrp": "150.00"},
                            headers={"HX-Request": "true"}))
    assert f'id="id_v{variant.pk}-mrp-err"' in cell and 'aria-invalid="true"' in cell
    variant.refresh_from_db()
    assert variant.price == Decimal("130.00")


def test_inline_stock_edit_adjusts_with_a_reason_and_pushes(client, catalog, monkeypatch, django_capture_on_commit_callbacks):
    user, variant, listing, item = catalog
    pushed = []
    monkeypatch.setattr("apps.inventory.tasks.enqueue_stock_push", pushed.append)
    client.force_login(user)
    url = reverse("variant_stock", args=[variant.pk])
    with django_capture_on_commit_callbacks(execute=True):
        cell = html(client.post(url, {f"s{variant.pk}-count": "12", f"s{variant.pk}-reason": "Counted on Monday"},
                                headers={"HX-Request": "true"}))
    assert '<span class="avail">12</span>' in cell
    item.refresh_from_db()
    listing.refresh_from_db()
    movement = StockMovement.objects.get(item=item)
    assert item.on_hand == 12 and movement.reason == "Counted on Monday" and movement.created_by == user
    assert listing.stock_dirty and pushed == [listing.connection_id]
    # Below what open orders reserve: refused with the service's reason, nothing changes.
    StockItem.objects.filter(pk=item.pk).update(reserved=5)
    cell = html(client.post(url, {f"s{variant.pk}-count": "2", f"s{variant.pk}-reason": "x"}, headers={"HX-Request": "true"}))
    assert "reserved by open orders" in cell
    item.refresh_from_db()
    assert item.on_hand == 12
    # A missing reason is an error next to its field.
    cell = html(client.post(url, {f"s{variant.pk}-count": "3"}, headers={"HX-Request": "true"}))
    assert f'id="id_s{variant.pk}-reason-err"' in cell


def test_inline_edits_are_refused_to_viewers_and_other_tenants(client, catalog):
    user, variant, _listing, _item = catalog
    outsider = make_user(organization=make_org())
    client.force_login(outsider)
    assert client.post(reverse("variant_price", args=[variant.pk]), {}).status_code == 404
    viewer = make_user(organization=user.memberships.get().organization, role=Membership.Role.VIEWER)
    client.force_login(viewer)
    assert client.post(reverse("variant_stock", args=[variant.pk]), {}).status_code == 403
    page = html(client.get(reverse("catalog:products")))
    assert reverse("variant_price", args=[variant.pk]) not in page


def test_products_page_shows_inline_forms_and_low_stock(client, catalog):
    user, variant, _listing, _item = catalog
    client.force_login(user)
    page = html(client.get(reverse("catalog:products")))
    assert reverse("variant_price", args=[variant.pk]) in page and reverse("variant_stock", args=[variant.pk]) in page
    assert 'class="low"' in page
    page = html(client.get(reverse("inventory:stock")))
    assert 'class="low"' in page and reverse("stock_buffers", args=[_item.pk]) in page


def test_channel_buffers(client, catalog, monkeypatch, django_capture_on_commit_callbacks):
    user, _variant, listing, item = catalog
    StockItem.objects.filter(pk=item.pk).update(on_hand=10)
    pushed = []
    monkeypatch.setattr("apps.inventory.tasks.enqueue_stock_push", pushed.append)
    client.force_login(user)
    url = reverse("stock_buffers", args=[item.pk])
    page = html(client.get(url))
    assert "Sakhi Shopify" in page and ">10<" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"listing": listing.pk, f"l{listing.pk}-buffer": "3", f"l{listing.pk}-maximum": ""})
    assert response.status_code == 302
    listing.refresh_from_db()
    assert (listing.stock_buffer, listing.stock_max, listing.stock_dirty) == (3, None, True)
    assert pushed == [listing.connection_id]
    assert ">7<" in html(client.get(url))
    page = html(client.post(url, {"listing": listing.pk, f"l{listing.pk}-buffer": "-1"}))
    assert f'id="id_l{listing.pk}-buffer-err"' in page
    viewer = make_user(organization=user.memberships.get().organization, role=Membership.Role.VIEWER)
    client.force_login(viewer)
    assert client.post(url, {"listing": listing.pk, f"l{listing.pk}-buffer": "1"}).status_code == 403


def test_full_products_and_stock_pages_fit_the_page_budget(client, tenant, settings):
    """A full page (50 variants, each on four channels, each with its two inline forms) stays under 200 KB with
    its CSS and JS, uncompressed."""
    from pathlib import Path

    from django.contrib.staticfiles import finders

    from apps.dashboard.tests.test_views import PAGE_BUDGET, _parse

    _federation, shg, shop, user = tenant
    channels = [shop] + [make_connection(shg, platform="woocommerce", display_name=f"Store {k}") for k in range(3)]
    location = default_location(shg_id=shg.pk)
    for n in range(50):
        product = Product.objects.create(shg=shg, title=f"Handwoven cotton saree, indigo, design {n}")
        variant = Variant.objects.create(product=product, shg=shg, sku=f"SAREE-INDIGO-{n:03d}", price="1899.00", mrp="2499.00")
        Listing.objects.bulk_create([Listing(variant=variant, connection=c, shg=shg, state=Listing.State.LIVE,
                                             last_pushed_quantity=n) for c in channels])
        StockItem.objects.create(variant=variant, location=location, on_hand=n)
    client.force_login(user)
    for name in ("catalog:products", "inventory:stock"):
        body = client.get(reverse(name)).content
        total = len(body) + sum(Path(finders.find(url.split("/static/", 1)[1])).stat().st_size
                                for url in _parse(body.decode()).assets)
        assert total <= PAGE_BUDGET, f"{name}: {total} bytes"


def _po_entries(path):
    """(msgid, msgid_plural, msgstrs, fuzzy) of each live entry of a .po file (a small reader: no dependency)."""
    import ast
    import re

    entries = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        lines = block.splitlines()
        if not lines or all(line.startswith("#~") for line in lines if line.strip()):
            continue
        fields, current = {}, None
        for line in lines:
            if line.startswith("#"):
                continue
            match = re.match(r'(msgctxt|msgid_plural|msgid|msgstr(?:\[\d\])?) (".*")$', line)
            if match:
                current = match.group(1)
                fields[current] = ast.literal_eval(match.group(2))
            elif line.startswith('"') and current:
                fields[current] += ast.literal_eval(line)
        if fields.get("msgid"):
            strs = [v for k, v in sorted(fields.items()) if k.startswith("msgstr")]
            fuzzy = any(line.startswith("#,") and "fuzzy" in line for line in lines)
            entries.append((fields.get("msgctxt"), fields["msgid"], fields.get("msgid_plural"), strs, fuzzy))
    return entries


def test_hindi_catalogue_is_complete_and_compiled():
    """Every string in locale/hi is translated (none empty, none fuzzy), and the committed .mo says the same as
    the .po (a machine without gettext serves the .mo)."""
    import gettext
    from pathlib import Path

    from django.conf import settings

    folder = Path(settings.BASE_DIR) / "locale" / "hi" / "LC_MESSAGES"
    entries = _po_entries(folder / "django.po")
    assert len(entries) > 300
    untranslated = [msgid for _ctx, msgid, _pl, strs, fuzzy in entries if fuzzy or not all(strs)]
    assert not untranslated, untranslated
    with open(folder / "django.mo", "rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    stale = []
    for ctx, msgid, plural, strs, _fuzzy in entries:
        if plural:
            got = compiled.npgettext(ctx, msgid, plural, 1) if ctx else compiled.ngettext(msgid, plural, 1)
        else:
            got = compiled.pgettext(ctx, msgid) if ctx else compiled.gettext(msgid)
        if got != strs[0]:
            stale.append(msgid)
    assert not stale, f"django.mo is older than django.po: run msgfmt ({stale[:5]})"
