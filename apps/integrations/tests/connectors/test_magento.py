"""The Magento connector against the in-process sandbox store: the shared contract, then what is Magento's own
(keyset paging over searchCriteria, a page past the end repeating the last one, legacy stock items vs
Multi-Source Inventory, base prices with per-row failures, shipments with tracks), every exchange held to the
official admin REST schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.integrations import services
from apps.integrations.connectors.base import (
    Capability,
    FulfilmentData,
    FulfilmentLine,
    OrderStatus,
    PriceUpdate,
    StockUpdate,
)
from apps.integrations.connectors.errors import AuthError, PermanentError
from apps.integrations.connectors.magento import MagentoConnector, normalize_store_url, render_message, search_params
from apps.integrations.tests.connectors.magento_specs import RecordingAdapter, check_response
from apps.integrations.tests.contract import ConnectorContract, collect_orders, collect_products, unpaced_connector
from apps.sandbox import dataset
from apps.sandbox.http import clear_forced_faults, force_faults
from apps.sandbox.platforms import magento as store
from tests.factories import make_org, make_shg

WRONG_TOKEN = "0" * 32


def connector_for(account, base: str, *, recorder: bool = False, **options) -> MagentoConnector:
    return unpaced_connector(MagentoConnector, store, account, base, recorder=RecordingAdapter if recorder else None, **options)


class TestMagentoConnectorContract(ConnectorContract):
    platform = "magento"

    def make_account(self):
        return store.create_demo_account("contract-store", "Contract Store")

    def make_connector(self, account, base, *, bad_credentials=False):
        extra = {"access_token": WRONG_TOKEN} if bad_credentials else {}
        return connector_for(account, base, page_size=self.page_size, credentials=extra)

    def expected_status(self, neutral):
        # Magento does not track delivery: a delivered order is "complete", read as shipped.
        if neutral["status"] == "delivered":
            return OrderStatus.SHIPPED
        return OrderStatus(neutral["status"])


@pytest.fixture
def account(db):
    account = store.create_demo_account("shg-store", "SHG Store")
    yield account
    clear_forced_faults()


@pytest.fixture
def magento(account, sandbox_http, sandbox_base):
    return connector_for(account, sandbox_base, page_size=10, recorder=True)


def truth(account) -> dict[str, dict]:
    return {row.key: row.data for row in dataset.objects(account, "order")}


def products(account) -> dict[str, dict]:
    return {row.key: row.data for row in dataset.objects(account, "product")}


def unshipped(magento) -> list:
    orders, _ = collect_orders(magento, since=timezone.now() - timedelta(days=40))
    return [o for o in orders if o.status == OrderStatus.UNSHIPPED]


# --- the official schema ----------------------------------------------------------------------------------------


def test_every_exchange_matches_the_official_schema(account, magento):
    magento.test_connection()
    collect_orders(magento, since=timezone.now() - timedelta(days=40))
    refs = {p.sku: p.external_refs for p in collect_products(magento)}
    skus = sorted(refs)[:2]
    magento.push_stock([StockUpdate(sku=skus[0], quantity=4)])
    magento.push_prices([PriceUpdate(sku=skus[1], price=Decimal("99.50"), currency="INR"),
                         PriceUpdate(sku="NO-SUCH-SKU", price=Decimal("1.00"), currency="INR")])
    order = unshipped(magento)[0]
    magento.push_fulfilment(FulfilmentData(order_external_id=order.external_id, carrier="India Post",
                                           tracking_number="EK000000001IN", shipped_at=datetime.now(UTC)))
    legacy = connector_for(account, magento.base_url.split("/magento/")[0], recorder=True, inventory_mode="legacy")
    legacy.push_stock([StockUpdate(sku=skus[0], quantity=6), StockUpdate(sku="NO-SUCH-SKU", quantity=1)])
    checked = magento.http.recorder.check_all() + legacy.http.recorder.check_all()
    assert checked >= 12


def test_error_answers_carry_a_message(account, magento, sandbox_base):
    bad = connector_for(account, sandbox_base, recorder=True, credentials={"access_token": WRONG_TOKEN})
    with pytest.raises(AuthError):
        bad.test_connection()
    method, url, _body, status, data = bad.http.recorder.exchanges[-1]
    assert status == 401
    check_response(method, url, status, data)
    assert render_message(data) == "The consumer isn't authorized to access Magento_Backend::store."


# --- orders ------------------------------------------------------------------------------------------------------


def test_orders_query_uses_search_criteria_in_update_order(account, magento):
    magento.fetch_orders(since=timezone.now() - timedelta(days=3))
    _method, url, _body, _status, data = magento.http.recorder.exchanges[-1]
    assert "searchCriteria%5BfilterGroups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5Bfield%5D=updated_at" in url
    assert "conditionType%5D=gteq" in url and "sortOrders%5D%5B1%5D%5Bfield%5D=entity_id" in url
    stamps = [row["updated_at"] for row in data["items"]]
    assert stamps == sorted(stamps)


def test_paging_loses_nothing_when_orders_change_between_pages(account, magento):
    since = timezone.now() - timedelta(days=40)
    before = set(truth(account))
    first = magento.fetch_orders(since=since)
    assert len(first.items) == 10 and first.next_cursor
    seen = [o.external_id for o in first.items]
    for order_id in (seen[0], seen[3], sorted(before - set(seen))[0]):
        dataset.order_update(account, order_id, status="shipped")
    got = list(seen)
    cursor = first.next_cursor
    while cursor:
        page = magento.fetch_orders(since=since, cursor=cursor)
        got += [o.external_id for o in page.items]
        cursor = page.next_cursor
    assert before <= set(got), f"orders skipped: {before - set(got)}"
    assert {oid for oid in got if got.count(oid) > 1} <= {seen[0], seen[3]}


def test_a_page_past_the_end_repeats_the_last_page_and_the_total_stops_paging(account, magento):
    params = search_params(sorts=[("entity_id", "ASC")], page_size=25, page=99)
    last = magento._search("/orders", params, "orders")[0]
    assert len(last) == 60 - 50, "the sandbox answers the last page again, as Magento does"
    orders, pages = collect_orders(magento, since=timezone.now() - timedelta(days=40))
    assert len(orders) == 60 and pages <= 7, "the total stops paging (one extra page at most, re-read at a boundary)"


def test_more_orders_changed_in_one_second_than_fit_a_page(account, magento):
    rows = list(dataset.objects(account, "order").order_by("key"))[:25]
    same_second = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    for row in rows:
        row.data["updated_at"] = dataset.iso(same_second)
        row.updated_at = same_second
    dataset.SandboxObject.objects.bulk_update(rows, ["data", "updated_at"])
    orders, _ = collect_orders(magento, since=same_second - timedelta(minutes=1))
    ids = [o.external_id for o in orders]
    assert len(ids) == len(set(ids))
    assert {row.key for row in rows} <= set(ids)


def test_configurable_lines_are_read_once_with_the_parent_price(account, magento):
    orders, _ = collect_orders(magento, since=timezone.now() - timedelta(days=40))
    with_child = [o for o in orders if any(i.get("parent_item_id") for i in o.raw["items"])]
    assert with_child, "the sandbox renders Sarees and Apparel as configurable products"
    for order in with_child:
        neutral = truth(account)[order.external_id]
        assert len(order.lines) == len(neutral["lines"])
        assert sum(ln.unit_price * ln.quantity for ln in order.lines) == Decimal(neutral["total"])
    sample = orders[0]
    assert sample.number == f"{int(truth(account)[sample.external_id]['number']):09d}"
    assert sample.shipping_address["city"] and sample.buyer_name


def test_shipped_but_not_invoiced_reads_as_shipped(magento):
    raw = {"state": "processing", "status": "processing", "items": [
        {"item_id": 1, "sku": "A", "qty_ordered": 2, "qty_shipped": 2, "price": 10},
        {"item_id": 2, "sku": "B", "qty_ordered": 1, "qty_shipped": 0, "qty_canceled": 1, "price": 5}]}
    assert magento._status(raw, "processing") == OrderStatus.SHIPPED
    raw["items"][0]["qty_shipped"] = 1
    assert magento._status(raw, "processing") == OrderStatus.UNSHIPPED


def test_an_order_without_items_is_a_clear_error(magento):
    with pytest.raises(PermanentError, match="without items"):
        magento._order({"entity_id": 1, "state": "new", "updated_at": "2026-01-01 00:00:00"})


# --- auth ---------------------------------------------------------------------------------------------------------


def test_a_token_of_the_wrong_shape_fails_before_any_request(account, sandbox_http, sandbox_base):
    connector = connector_for(account, sandbox_base, recorder=True, credentials={"access_token": "ck_consumer-key"})
    with pytest.raises(AuthError, match="32 letters and digits"):
        connector.test_connection()
    assert connector.http.recorder.exchanges == []


def test_a_replaced_token_needs_reauthorisation(account, magento):
    magento.test_connection()
    store.revoke_token(account)
    with pytest.raises(AuthError, match="Magento_Backend::store"):
        magento.test_connection()


def test_plain_http_store_address_is_refused(settings):
    settings.SANDBOX = False
    with pytest.raises(ValueError, match="HTTPS"):
        normalize_store_url("http://shop.example.in")
    assert normalize_store_url("shop.example.in/index.php/rest/default/V1") == "https://shop.example.in"


def test_connect_with_the_form_values(account, sandbox_http):
    shg = make_shg(make_org())
    connection = services.connection_connect_api_key(shg=shg, platform="magento", values={
        "store_url": store.store_home(account, services.sandbox_root()), "store_code": "",
        "access_token": account.secrets["access_token"], "inventory_mode": "", "source_code": ""})
    assert connection.external_account_id == "testserver/sandbox/magento/shg-store#default"
    assert connection.config["base_url"].endswith("/magento/shg-store/rest/default/V1")
    assert connection.credentials == {"access_token": account.secrets["access_token"]}


def test_connect_with_a_wrong_token_saves_nothing(account, sandbox_http):
    shg = make_shg(make_org())
    with pytest.raises(services.ConnectFailed):
        services.connection_connect_api_key(shg=shg, platform="magento", values={
            "store_url": store.store_home(account, services.sandbox_root()), "access_token": WRONG_TOKEN})
    assert not shg.connections.exists()


# --- stock ----------------------------------------------------------------------------------------------------------


def test_msi_is_detected_and_source_items_are_written(account, magento):
    skus = sorted(products(account))[:3]
    results = magento.push_stock([StockUpdate(sku=s, quantity=n) for n, s in enumerate(skus)])
    assert [r.ok for r in results] == [True, True, True]
    assert magento.inventory_target() == ("msi", "default")
    assert [products(account)[s]["quantity"] for s in skus] == [0, 1, 2]
    posts = [x for x in magento.http.recorder.exchanges if x[1].endswith("/inventory/source-items")]
    assert len(posts) == 1, "one call for the batch"


def test_another_source_is_written_apart(account, sandbox_http, sandbox_base):
    connector = connector_for(account, sandbox_base, source_code="pune_workshop")
    sku = sorted(products(account))[0]
    before = products(account)[sku]["quantity"]
    assert connector.push_stock([StockUpdate(sku=sku, quantity=9)])[0].ok
    assert products(account)[sku]["quantity"] == before
    assert products(account)[sku]["magento_sources"] == {"pune_workshop": 9}


def test_an_unknown_source_is_a_clear_error(account, sandbox_http, sandbox_base):
    connector = connector_for(account, sandbox_base, source_code="warehouse_9")
    with pytest.raises(PermanentError, match=r"no inventory source 'warehouse_9'.*default, pune_workshop"):
        connector.push_stock([StockUpdate(sku="X", quantity=1)])


def test_without_msi_the_legacy_stock_item_is_written(account, magento):
    store.configure(account, msi=False)
    sku = sorted(products(account))[1]
    results = magento.push_stock([StockUpdate(sku=sku, quantity=11), StockUpdate(sku="NO-SUCH", quantity=1),
                                  StockUpdate(sku=sku, quantity=-1)])
    assert [r.ok for r in results] == [True, False, False]
    assert "no product" in results[1].error and "at least 0" in results[2].error
    assert magento.inventory_target() == ("legacy", "")
    assert products(account)[sku]["quantity"] == 11


def test_msi_chosen_on_a_store_without_it_fails_clearly(account, sandbox_http, sandbox_base):
    store.configure(account, msi=False)
    connector = connector_for(account, sandbox_base, inventory_mode="msi")
    with pytest.raises(PermanentError, match="Request does not match any route"):
        connector.push_stock([StockUpdate(sku="X", quantity=1)])


# --- prices ----------------------------------------------------------------------------------------------------------


def test_prices_report_refused_rows_and_save_the_rest(account, magento):
    sku = sorted(products(account))[2]
    results = magento.push_prices([
        PriceUpdate(sku=sku, price=Decimal("210.10"), currency="INR"),
        PriceUpdate(sku="NO-SUCH", price=Decimal("5"), currency="INR"),
        PriceUpdate(sku=sku, price=Decimal("3"), currency="USD"),
    ])
    assert [r.ok for r in results] == [True, False, False]
    assert results[1].error.startswith("The SKU is incorrect") and "SKU = NO-SUCH, Store ID: 0" in results[1].error
    assert "sells in INR" in results[2].error
    assert products(account)[sku]["price"] == "210.10"


# --- fulfilment ------------------------------------------------------------------------------------------------------


def test_fulfilment_creates_a_shipment_with_its_track_once(account, magento):
    order = unshipped(magento)[0]
    data = FulfilmentData(order_external_id=order.external_id, carrier="DHL", tracking_number="JD0123",
                          shipped_at=datetime.now(UTC), lines=[FulfilmentLine(ln.external_id, ln.quantity)
                                                               for ln in order.lines])
    first = magento.push_fulfilment(data)
    again = magento.push_fulfilment(data)
    assert first.ok and again.ok and first.external_id == again.external_id
    shipments = [row.data for row in dataset.objects(account, "shipment")]
    assert len(shipments) == 1
    assert shipments[0]["tracks"][0]["carrier_code"] == "dhl" and shipments[0]["tracks"][0]["title"] == "DHL"
    assert truth(account)[order.external_id]["status"] == "shipped"


def test_partial_fulfilment_leaves_the_order_to_ship(account, magento):
    order = next(o for o in unshipped(magento) if len(o.lines) > 1)
    line = order.lines[0]
    result = magento.push_fulfilment(FulfilmentData(
        order_external_id=order.external_id, carrier="India Post", tracking_number="EK1", shipped_at=datetime.now(UTC),
        lines=[FulfilmentLine(line.external_id, line.quantity)]))
    assert result.ok, result
    page = magento.fetch_orders(since=timezone.now() - timedelta(minutes=5))
    again = next(o for o in page.items if o.external_id == order.external_id)
    assert again.status == OrderStatus.UNSHIPPED
    shipped = {ln["item_id"]: ln["qty_shipped"] for ln in again.raw["items"]}
    assert shipped[int(line.external_id)] == line.quantity


def test_fulfilment_refusals(account, magento):
    orders, _ = collect_orders(magento, since=timezone.now() - timedelta(days=40))
    cancelled = next(o for o in orders if o.status == OrderStatus.CANCELLED)
    result = magento.push_fulfilment(FulfilmentData(order_external_id=cancelled.external_id, carrier="DHL",
                                                    tracking_number="X1", shipped_at=datetime.now(UTC)))
    assert not result.ok and "canceled" in result.error
    order = next(o for o in orders if o.status == OrderStatus.UNSHIPPED)
    result = magento.push_fulfilment(FulfilmentData(order_external_id=order.external_id, carrier="DHL",
                                                    tracking_number="X2", shipped_at=datetime.now(UTC),
                                                    lines=[FulfilmentLine("999999", 1)]))
    assert not result.ok and "999999" in result.error
    assert not dataset.objects(account, "shipment").exists()


def test_magento_declares_no_webhooks():
    assert not MagentoConnector.supports(Capability.WEBHOOKS)
    assert not MagentoConnector.supports(Capability.LISTING_CREATE)


def test_truncated_product_page_is_permanent(account, magento):
    force_faults("truncate", 1)
    with pytest.raises(PermanentError) as info:
        magento.fetch_products()
    assert info.value.raw
