"""One Amazon connection spanning several SP-API regions, end to end against the in-process sandbox.

The seller has one sandbox account per region (Amazon.in is in the EU region, Amazon.com in NA), each with its
own selling partner id and tokens, as Amazon gives them. The tests go through the real flows, the sync engine
and the connector; a recording transport shows which region's endpoint each call went to.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Membership
from apps.integrations.connectors.amazon import AmazonConnector
from apps.integrations.connectors.base import ConnectionContext, FulfilmentData, OAuthTokens, StockUpdate
from apps.integrations.connectors.errors import AuthError, PermanentError
from apps.integrations.connectors.registry import build_connector
from apps.integrations.models import Connection, SyncRun
from apps.integrations.sync import sync_connection
from apps.integrations.tests.connectors.test_amazon import Recorder as AmazonRecorder
from apps.integrations.tests.contract import collect_orders, collect_products
from apps.sandbox import dataset
from apps.sandbox.platforms import amazon as sandbox
from apps.sandbox.transport import SANDBOX_TEST_ORIGIN
from tests.factories import make_org, make_shg, make_user

pytestmark = pytest.mark.django_db

INDIA, US = "A21TJRUUN4KGV", "ATVPDKIKX0DER"
EU_SELLER, NA_SELLER = "A2REGIONSEU01", "A2REGIONSNA01"
BASE = SANDBOX_TEST_ORIGIN + "/sandbox"


class Recorder(AmazonRecorder):
    """Every request the connector sends, passed on to the in-process sandbox, by region."""

    def calls(self, suffix: str) -> list[tuple[str, str]]:
        """(region path segment, marketplaceIds) of each request whose path ends with `suffix`."""
        found = []
        for request in self.requests:
            path = request.url.path
            if re.search(suffix, path):
                region = path.split("/sandbox/amazon/", 1)[1].split("/", 1)[0]
                found.append((region, parse_qs(request.url.query.decode()).get("marketplaceIds", [""])[0]))
        return found


@pytest.fixture
def recorder(monkeypatch):
    recorder = Recorder()
    monkeypatch.setattr("apps.integrations.connectors.amazon.new_transport", lambda: recorder)
    return recorder


@pytest.fixture
def eu_account():
    account = sandbox.create_demo_account(EU_SELLER, "Sakhi Crafts (Amazon.in)")
    dataset.ensure_seeded(account)
    return account


@pytest.fixture
def na_account():
    account = sandbox.create_demo_account(NA_SELLER, "Sakhi Crafts (Amazon.com)", marketplace_id=US)
    dataset.ensure_seeded(account)
    return account


@pytest.fixture
def tenant():
    federation = make_org("Regions Federation")
    shg = make_shg(federation, name="Sakhi Regions SHG")
    coordinator = make_user(organization=federation, role=Membership.Role.COORDINATOR)
    return {"shg": shg, "coordinator": coordinator}


@pytest.fixture
def two_regions(tenant, eu_account, na_account):
    """A connection as seed_demo and the add-region flow leave it: home EU (Amazon.in) plus NA (Amazon.com)."""
    return Connection.objects.create(
        shg=tenant["shg"], platform="amazon", display_name="Sakhi Crafts", status=Connection.Status.ACTIVE,
        external_account_id=EU_SELLER, credentials=sandbox.connection_credentials(eu_account, na_account),
        config=sandbox.connection_config(eu_account, BASE, na_account))


def truth(*accounts) -> dict[str, dict]:
    return {sandbox.amazon_order_id(o.key, sandbox.account_region(account)): o.data
            for account in accounts for o in dataset.objects(account, "order")}


def long_ago():
    return timezone.now() - timedelta(days=60)


# --- the add-region flow ----------------------------------------------------------------------------------------------


def _consent(client, location: str, seller: str) -> tuple[str, dict[str, str]]:
    """Sign in to the sandbox's Seller Central at `location` as `seller`, authorise, return the callback path and
    query. Fails when the seller is not offered there (another region's consent page)."""
    assert location.startswith(BASE + "/amazon/"), location
    path = location[len(SANDBOX_TEST_ORIGIN):]
    page = client.get(path)
    html = page.content.decode()
    assert page.status_code == 200 and f'value="{seller}"' in html, html[:2000]
    hidden = {unescape(n): unescape(v) for n, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)}
    answer = client.post(urlsplit(path).path, {**hidden, "selling_partner_id": seller, "decision": "authorize"})
    assert answer.status_code == 302
    callback = urlsplit(answer["Location"])
    return callback.path, {k: v[0] for k, v in parse_qs(callback.query).items()}


def test_a_region_is_added_to_the_same_connection_and_reauthorising_one_keeps_the_other(
        client, tenant, eu_account, na_account, recorder, settings):
    settings.SANDBOX = True
    client.force_login(tenant["coordinator"])
    # Connect Amazon.in: the EU region's Seller Central.
    start = client.post(reverse("integrations:connect", args=[tenant["shg"].pk, "amazon"]), {"marketplace_id": INDIA})
    assert start["Location"].startswith(f"{BASE}/amazon/eu/apps/authorize/consent?")
    path, params = _consent(client, start["Location"], EU_SELLER)
    assert client.get(path, params).status_code == 302
    connection = Connection.objects.get()
    eu_refresh = connection.credentials["regions"]["eu"]["refresh_token"]

    # Add Amazon.com from the marketplaces page: NA's consent page offers only NA accounts.
    page = client.get(reverse("amazon:marketplaces", args=[connection.pk]))
    assert page.status_code == 200 and f'value="{US}"' in page.content.decode()
    start = client.post(reverse("amazon:region_authorise", args=[connection.pk]), {"marketplace_id": US})
    assert start.status_code == 302 and start["Location"].startswith(f"{BASE}/amazon/na/apps/authorize/consent?")
    assert f'value="{EU_SELLER}"' not in client.get(start["Location"][len(SANDBOX_TEST_ORIGIN):]).content.decode()
    path, params = _consent(client, start["Location"], NA_SELLER)
    done = client.get(path, params)
    assert done.status_code == 302 and done["Location"] == reverse("integrations:detail", args=[connection.pk])

    connection = Connection.objects.get()  # the same row: no second connection
    assert connection.status == Connection.Status.ACTIVE, connection.last_error
    assert connection.external_account_id == EU_SELLER, "the home region's seller stays the account id"
    assert connection.config["marketplace_ids"] == [INDIA, US]
    assert connection.config["selling_partner_ids"] == {"eu": EU_SELLER, "na": NA_SELLER}
    assert connection.config["home_region"] == "eu"
    assert set(connection.credentials["regions"]) == {"eu", "na"}
    assert connection.credentials["regions"]["eu"]["refresh_token"] == eu_refresh, "adding NA leaves EU's grant"
    na_refresh = connection.credentials["regions"]["na"]["refresh_token"]

    # Authorising EU again (its token revoked, say) replaces EU's tokens only.
    start = client.post(reverse("amazon:region_authorise", args=[connection.pk]), {"marketplace_id": INDIA})
    path, params = _consent(client, start["Location"], EU_SELLER)
    assert client.get(path, params).status_code == 302
    connection.refresh_from_db()
    assert connection.credentials["regions"]["na"]["refresh_token"] == na_refresh
    assert connection.credentials["regions"]["eu"]["refresh_token"] != eu_refresh
    assert connection.config["marketplace_ids"] == [INDIA, US] and Connection.objects.count() == 1

    # Removing NA forgets its marketplaces, tokens and seller id; the home region cannot be removed.
    refused = client.post(reverse("amazon:region_remove", args=[connection.pk]), {"region": "eu"}, follow=True)
    assert "cannot be removed" in refused.content.decode()
    assert client.post(reverse("amazon:region_remove", args=[connection.pk]), {"region": "na"}).status_code == 302
    connection.refresh_from_db()
    assert connection.config["marketplace_ids"] == [INDIA]
    assert connection.config["selling_partner_ids"] == {"eu": EU_SELLER}
    assert set(connection.credentials["regions"]) == {"eu"}


def test_another_seller_in_a_region_the_connection_has_is_refused(client, tenant, two_regions, recorder, settings):
    settings.SANDBOX = True
    other = sandbox.create_demo_account("A2REGIONSNA02", "Someone else (Amazon.com)", marketplace_id=US)
    client.force_login(tenant["coordinator"])
    start = client.post(reverse("amazon:region_authorise", args=[two_regions.pk]), {"marketplace_id": US})
    path, params = _consent(client, start["Location"], other.account_id)
    response = client.get(path, params)
    assert response.status_code == 400 and "sells there as A2REGIONSNA01" in response.content.decode()
    two_regions.refresh_from_db()
    assert two_regions.config["selling_partner_ids"]["na"] == NA_SELLER


def test_the_marketplaces_page_shows_each_region_and_no_secret(client, tenant, two_regions, recorder):
    client.force_login(tenant["coordinator"])
    page = client.get(reverse("amazon:marketplaces", args=[two_regions.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Europe and India (EU)" in html and "North America (NA)" in html
    assert EU_SELLER in html and NA_SELLER in html
    secrets = [value for tokens in two_regions.credentials["regions"].values() for value in tokens.values()]
    assert secrets and not [s for s in secrets if s in html]
    assert {region for region, _ in recorder.calls(r"/marketplaceParticipations$")} == {"eu", "na"}


def test_a_revoked_region_shows_its_error_and_keeps_its_marketplaces_while_the_others_are_edited(
        client, tenant, two_regions, eu_account, na_account, recorder):
    sandbox.add_marketplaces(eu_account, ["A1F83G8C2ARO7P"])
    sandbox.revoke_authorization(na_account)
    client.force_login(tenant["coordinator"])
    url = reverse("amazon:marketplaces", args=[two_regions.pk])
    html = client.get(url).content.decode()
    assert "Amazon North America (NA): Amazon refused the seller&#x27;s authorisation" in html
    assert "Authorise North America (NA) again" in html
    response = client.post(url, {"marketplace": [INDIA, "A1F83G8C2ARO7P"]})
    assert response.status_code == 302
    two_regions.refresh_from_db()
    assert two_regions.config["marketplace_ids"] == [INDIA, "A1F83G8C2ARO7P", US], "NA's marketplace is kept as it was"


def test_a_region_left_without_a_marketplace_is_refused_on_save(client, tenant, two_regions, recorder):
    client.force_login(tenant["coordinator"])
    response = client.post(reverse("amazon:marketplaces", args=[two_regions.pk]), {"marketplace": [INDIA]})
    assert response.status_code == 400 and "North America (NA)" in response.content.decode()
    two_regions.refresh_from_db()
    assert two_regions.config["marketplace_ids"] == [INDIA, US]


# --- every call goes to its marketplace's region ----------------------------------------------------------------------


def test_one_sync_reads_every_region_with_its_own_token(two_regions, eu_account, na_account, recorder):
    run = sync_connection(connection_id=two_regions.pk, since=long_ago())
    assert run.status == SyncRun.Status.SUCCESS, run.error
    from apps.orders.models import Order

    stored = {o.external_id: o for o in Order.objects.filter(connection=two_regions)}
    expected = truth(eu_account, na_account)
    assert set(stored) == set(expected) and len(expected) == 2 * dataset.objects(na_account, "order").count()
    marketplaces = {o.raw["salesChannel"]["marketplaceId"] for o in stored.values()}
    assert marketplaces == {INDIA, US}, "each order keeps its marketplace in its raw payload"
    assert {o.currency for o in stored.values() if o.raw["salesChannel"]["marketplaceId"] == US} == {"USD"}
    assert set(recorder.calls(r"/orders/2026-01-01/orders$")) == {("eu", INDIA), ("na", US)}
    two_regions.refresh_from_db()
    assert two_regions.cursors.get("orders")


def test_every_page_of_every_region_is_read(eu_account, na_account, recorder):
    context = ConnectionContext(connection_id="regions-pages", credentials=sandbox.connection_credentials(eu_account, na_account),
                                config={**sandbox.connection_config(eu_account, BASE, na_account), "page_size": 7},
                                external_account_id=EU_SELLER)
    orders, pages = collect_orders(AmazonConnector(context, transport=recorder), since=long_ago())
    assert sorted(o.external_id for o in orders) == sorted(truth(eu_account, na_account))
    calls = recorder.calls(r"/orders/2026-01-01/orders$")
    assert pages == len(calls) > 2 and {r for r, _ in calls} == {"eu", "na"}
    assert [r for r, _ in calls] == sorted((r for r, _ in calls), key=["eu", "na"].index), "region after region"


def test_a_revoked_region_fails_the_sync_by_name_and_moves_no_cursor(two_regions, na_account, recorder):
    before = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
    Connection.objects.filter(pk=two_regions.pk).update(cursors={"orders": before})
    eu_tokens = dict(two_regions.credentials["regions"]["eu"])
    sandbox.revoke_authorization(na_account)
    run = sync_connection(connection_id=two_regions.pk)
    assert run.status == SyncRun.Status.FAILED and run.error_type == "AuthError"
    assert "North America (NA)" in run.error and "invalid_grant" in run.error
    two_regions.refresh_from_db()
    assert two_regions.cursors["orders"] == before, "the EU pages were stored, but NA was not read: no cursor move"
    assert two_regions.status == Connection.Status.NEEDS_REAUTH and "North America" in two_regions.last_error
    assert two_regions.credentials["regions"]["eu"] == eu_tokens, "the other region's tokens are untouched"


def test_a_token_is_valid_only_in_its_region(two_regions, recorder):
    connector = build_connector(two_regions)
    credentials = two_regions.credentials["regions"]
    # NA's entry holding EU's token: NA's endpoint refuses it, and the refresh from NA's refresh token then works.
    connector.context.credentials = {"regions": {**credentials, "na": {**credentials["na"],
                                                                        "access_token": credentials["eu"]["access_token"]}}}
    assert connector.marketplace_participations("na")[0]["id"] == US
    paths = [r.url.path for r in recorder.requests]
    assert paths == ["/sandbox/amazon/na/sellers/v1/marketplaceParticipations", "/sandbox/amazon/auth/o2/token",
                     "/sandbox/amazon/na/sellers/v1/marketplaceParticipations"], "refused (403), refreshed, answered"
    assert connector.context.credentials["regions"]["eu"] == credentials["eu"]


def test_stock_and_shipments_go_to_the_region_of_their_marketplace(two_regions, na_account, recorder):
    connector = build_connector(two_regions)
    products = {p.sku: p for p in collect_products(connector)}
    sku = sorted(products)[0]
    assert products[sku].external_refs["marketplace_ids"] == f"{INDIA},{US}", "one product per SKU, every marketplace"
    recorder.requests.clear()
    [result] = connector.push_stock([StockUpdate(sku=sku, quantity=4, external_refs={"marketplace_ids": US})])
    assert result.ok, result.error
    (patch,) = [r for r in recorder.requests if r.method == "PATCH"]
    assert patch.url.path.endswith(f"/sandbox/amazon/na/listings/2021-08-01/items/{NA_SELLER}/{sku}")
    assert parse_qs(patch.url.query.decode())["marketplaceIds"] == [US]
    assert int(dataset.objects(na_account, "product").get(key=sku).data["quantity"]) == 4

    us_order = next(o for o in collect_orders(connector, since=long_ago())[0]
                    if o.raw["salesChannel"]["marketplaceId"] == US and o.raw["fulfillment"]["fulfilledBy"] == "MERCHANT"
                    and o.raw["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED")
    recorder.requests.clear()
    outcome = connector.push_fulfilment(FulfilmentData(
        order_external_id=us_order.external_id, carrier="UPS", tracking_number="1Z999AA10123456784",
        shipped_at=timezone.now(), order_raw=us_order.raw))
    assert outcome.ok, outcome.error
    (post,) = [r for r in recorder.requests if r.method == "POST" and "shipmentConfirmation" in r.url.path]
    assert post.url.path.startswith("/sandbox/amazon/na/orders/v0/orders/")


def test_a_sku_of_one_region_only_lists_that_regions_marketplace(two_regions, na_account, recorder):
    only_eu = dataset.objects(na_account, "product").order_by("key").first()
    only_eu.delete()
    products = {p.sku: p for p in collect_products(build_connector(two_regions))}
    assert products[only_eu.key].external_refs["marketplace_ids"] == INDIA
    assert len(products) == dataset.objects(na_account, "product").count() + 1


# --- connections made before regions ---------------------------------------------------------------------------------


def test_flat_credentials_of_before_are_the_home_regions_and_are_rewritten_per_region(eu_account, recorder):
    flat = sandbox.connection_credentials(eu_account)["regions"]["eu"]
    saved = []
    context = ConnectionContext(connection_id="flat", credentials=dict(flat), external_account_id=EU_SELLER,
                                config={"base_url": f"{BASE}/amazon", "marketplace_ids": [INDIA],
                                        "selling_partner_id": EU_SELLER}, save_credentials=saved.append)
    connector = AmazonConnector(context, transport=recorder)
    assert connector.test_connection()["seller_id"] == EU_SELLER
    assert collect_orders(connector, since=long_ago())[0]
    assert not saved, "a valid flat token is used as it is"
    sandbox.expire_access_tokens(eu_account)
    connector.fetch_orders(since=long_ago())
    assert list(saved[-1]) == ["regions"] and saved[-1]["regions"]["eu"]["refresh_token"] == flat["refresh_token"]
    assert saved[-1]["regions"]["eu"]["access_token"] != flat["access_token"]


def test_a_revoked_single_region_connection_says_what_it_always_said(eu_account, recorder):
    context = ConnectionContext(connection_id="single", credentials=sandbox.connection_credentials(eu_account),
                                config=sandbox.connection_config(eu_account, BASE), external_account_id=EU_SELLER)
    sandbox.revoke_authorization(eu_account)
    with pytest.raises(AuthError) as info:
        AmazonConnector(context, transport=recorder).fetch_orders(since=long_ago())
    assert info.value.message.startswith("Amazon refused the seller's authorisation")


# --- the demo ----------------------------------------------------------------------------------------------------------


def test_the_demo_amazon_channel_spans_two_regions(recorder):
    from django.core.management import call_command

    call_command("seed_demo", "--quiet")
    connection = Connection.objects.get(platform="amazon")
    assert connection.status == Connection.Status.ACTIVE, connection.last_error
    assert AmazonConnector.regions(connection.config) == ["eu", "na"]
    assert connection.config["marketplace_ids"] == [INDIA, US]
    assert set(connection.credentials["regions"]) == {"eu", "na"}
    run = sync_connection(connection_id=connection.pk, since=long_ago())
    assert run.status == SyncRun.Status.SUCCESS, run.error
    from apps.orders.models import Order

    sold_on = {o.raw["salesChannel"]["marketplaceId"] for o in Order.objects.filter(connection=connection)}
    assert sold_on == {INDIA, US}


def _grant(region: str, marketplace: str, seller: str) -> OAuthTokens:
    tokens = {"refresh_token": f"Atzr|new-{region}", "access_token": f"Atza|new-{region}",
              "access_token_expires_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}
    return OAuthTokens(credentials={"regions": {region: tokens}}, external_account_id=seller,
                       config={"marketplace_ids": [marketplace], "selling_partner_id": seller,
                               "selling_partner_ids": {region: seller}, "home_region": region})


def test_a_disconnected_channel_comes_back_through_its_home_region_only():
    config = {"marketplace_ids": [INDIA, US], "selling_partner_id": EU_SELLER, "home_region": "eu",
              "selling_partner_ids": {"eu": EU_SELLER, "na": NA_SELLER}}
    with pytest.raises(PermanentError, match=r"connected in Europe and India \(EU\): authorise that region first"):
        AmazonConnector.merge_grant(tokens=_grant("na", US, NA_SELLER), credentials={}, config=config,
                                    external_account_id=EU_SELLER)
    merged = AmazonConnector.merge_grant(tokens=_grant("eu", INDIA, EU_SELLER), credentials={}, config=config,
                                         external_account_id=EU_SELLER)
    assert list(merged.credentials["regions"]) == ["eu"], "NA's wiped grant is not pretended"
    assert merged.config["marketplace_ids"] == [INDIA] and merged.config["selling_partner_ids"] == {"eu": EU_SELLER}


def test_an_old_flat_grant_is_kept_as_the_home_regions_when_a_region_is_added():
    flat = {"refresh_token": "Atzr|old", "access_token": "Atza|old", "access_token_expires_at": "2026-01-01T00:00:00+00:00"}
    merged = AmazonConnector.merge_grant(tokens=_grant("na", US, NA_SELLER), credentials=flat,
                                         config={"marketplace_ids": [INDIA], "selling_partner_id": EU_SELLER},
                                         external_account_id=EU_SELLER)
    assert list(merged.credentials) == ["regions"] and merged.credentials["regions"]["eu"] == flat
    assert merged.credentials["regions"]["na"]["refresh_token"] == "Atzr|new-na"
    assert merged.external_account_id == EU_SELLER and merged.config["marketplace_ids"] == [INDIA, US]


def test_adding_a_region_whose_account_is_already_its_own_channel_is_refused(
        client, tenant, two_regions, na_account, recorder, settings):
    """Amazon.com already connected on its own: adding NA to the Amazon.in channel would read its orders twice."""
    settings.SANDBOX = True
    client.force_login(tenant["coordinator"])
    removed = client.post(reverse("amazon:region_remove", args=[two_regions.pk]), {"region": "na"})
    assert removed.status_code == 302
    two_regions.refresh_from_db()
    assert set(two_regions.credentials["regions"]) == {"eu"}
    separate = Connection.objects.create(
        shg=tenant["shg"], platform="amazon", display_name="Sakhi Crafts US", status=Connection.Status.ACTIVE,
        external_account_id=NA_SELLER, credentials=sandbox.connection_credentials(na_account),
        config=sandbox.connection_config(na_account, BASE))
    start = client.post(reverse("amazon:region_authorise", args=[two_regions.pk]), {"marketplace_id": US})
    path, params = _consent(client, start["Location"], NA_SELLER)
    response = client.get(path, params)
    assert response.status_code == 400
    assert "already connected to this SHG as “Sakhi Crafts US”" in response.content.decode()
    two_regions.refresh_from_db()
    assert set(two_regions.credentials["regions"]) == {"eu"} and separate.pk != two_regions.pk
