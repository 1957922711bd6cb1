"""Orders and fulfilments: filters, incremental reads with updated_since, cursor pages in constant queries,
and tracking POSTed through the API pushed to the channel (the in-process WooCommerce sandbox)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.orders.models import Fulfilment, Order, OrderLine
from apps.sandbox import dataset
from tests.api.conftest import assert_error
from tests.api.test_connections import connect
from tests.factories import make_connection


def make_order(connection, n: int, **fields) -> Order:
    defaults = {"connection": connection, "shg": connection.shg, "external_id": f"EXT-{n}", "currency": "INR",
                "total": Decimal("250.00"), "placed_at": timezone.now() - timedelta(hours=n), "status": "unshipped"}
    defaults.update(fields)
    order = Order.objects.create(**defaults)
    OrderLine.objects.bulk_create([OrderLine(order=order, external_id=f"{n}-{i}", sku=f"SKU-{i}", quantity=1,
                                             unit_price=Decimal("125.00")) for i in range(2)])
    return order


@pytest.fixture
def orders(partner):
    woo = make_connection(partner["shg"], platform="woocommerce")
    amazon = make_connection(partner["served"], platform="amazon")
    rows = [make_order(woo, n) for n in range(6)] + [make_order(amazon, n, external_id=f"AMZ-{n}", status="shipped")
                                                     for n in range(6, 9)]
    return {"woo": woo, "amazon": amazon, "rows": rows}


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_list_has_lines_and_is_newest_first(api, orders):
    body = api.get("/api/v1/orders/").json()
    assert [row["id"] for row in body["results"]] == [o.pk for o in orders["rows"]]
    first = body["results"][0]
    assert len(first["lines"]) == 2 and first["lines"][0]["sku"] == "SKU-0" and first["platform"] == "woocommerce"
    assert first["total"] == "250.00"


def test_filters_status_channel_shg(api, orders, partner):
    assert len(ids(api.get("/api/v1/orders/", {"status": "shipped"}))) == 3
    assert len(ids(api.get("/api/v1/orders/", {"channel": "woocommerce"}))) == 6
    assert len(ids(api.get("/api/v1/orders/", {"shg": partner["served"].pk}))) == 3
    assert_error(api.get("/api/v1/orders/", {"status": "lost"}), 400, {"status"})


def test_updated_since_reads_only_what_changed(api, orders):
    Order.objects.update(updated_at=timezone.now() - timedelta(days=1))
    since = timezone.now() - timedelta(minutes=1)
    assert ids(api.get("/api/v1/orders/", {"updated_since": since.isoformat()})) == []
    changed = orders["rows"][2]
    changed.status = "shipped"
    changed.save()
    assert ids(api.get("/api/v1/orders/", {"updated_since": since.isoformat()})) == [changed.pk]


def test_cursor_pages_in_constant_queries(api, orders, django_assert_max_num_queries):
    for n in range(9, 30):
        make_order(orders["woo"], n)
    seen, url = [], "/api/v1/orders/?page_size=10"
    while url:
        # auth + token use, page, lines, fulfilments: the same for 10 orders as for 1
        with django_assert_max_num_queries(5):
            body = api.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert len(seen) == len(set(seen)) == Order.objects.count()


def test_bad_cursor_is_404_in_the_error_shape(api, orders):
    assert_error(api.get("/api/v1/orders/", {"cursor": "garbage"}), 404)


def test_fulfilment_errors_name_their_fields(api, orders):
    order = orders["rows"][0]
    assert_error(api.post("/api/v1/fulfilments/", {"order": order.pk}, format="json"), 400,
                 {"carrier", "tracking_number"})
    marketplace = make_order(orders["amazon"], 99, external_id="FBA-1", fulfilment_channel="marketplace")
    assert_error(api.post("/api/v1/fulfilments/", {"order": marketplace.pk, "carrier": "Delhivery",
                                                   "tracking_number": "D1"}, format="json"), 400, {"order"})
    assert not Fulfilment.objects.exists()


def test_tracking_is_pushed_to_the_channel(api, partner, woo, django_capture_on_commit_callbacks):
    connection_id = connect(api, partner, woo).json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"/api/v1/connections/{connection_id}/sync/", {}, format="json").status_code == 202
    order = Order.objects.filter(connection_id=connection_id, status="unshipped", fulfilment_channel="merchant").first()
    assert order is not None
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/fulfilments/", {"order": order.pk, "carrier": "India Post",
                                                     "tracking_number": "EK123456789IN"}, format="json")
    assert response.status_code == 201, response.content
    fulfilment = api.get(response.json()["url"]).json()
    assert fulfilment["push_state"] == "pushed", fulfilment
    trackings = [row.data for row in dataset.objects(woo["account"], "tracking").filter(key__startswith=f"{order.external_id}:")]
    assert [t["tracking_number"] for t in trackings] == ["EK123456789IN"]
    detail = api.get(f"/api/v1/orders/{order.pk}/").json()
    assert [f["tracking_number"] for f in detail["fulfilments"]] == ["EK123456789IN"]
    # The same parcel again is refused, and names the order.
    assert_error(api.post("/api/v1/fulfilments/", {"order": order.pk, "carrier": "India Post",
                                                   "tracking_number": "EK123456789IN"}, format="json"), 400, {"order"})
