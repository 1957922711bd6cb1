"""Every /api/v1/ route that names an object answers 404 to another tenant's token, for every method.

The routes are read from the resolver, so a viewset added to any app's api/urls.py is swept without
editing this file; a route whose argument the sweep cannot fill fails until tests/tenant_objects.py
learns it (the session sweep in tests/test_tenancy_sweep.py leaves "api/" to this one).
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from apps.accounts.services import partner_token_create
from apps.catalog.models import Listing
from apps.catalog.services import product_create
from apps.events.subscriptions import subscription_create
from apps.inventory.models import MarketplaceStock, StockMovement, StockReservation
from tests import tenant_objects
from tests.api.conftest import client_for
from tests.factories import make_org

_ARG = re.compile(r"<(?:[^>:]+:)?(?P<name>[^>]+)>|\(\?P<(?P<rname>[^>]+)>[^)]*\)")


def _routes(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield (prefix + str(entry.pattern)).replace("^", "").replace("$", ""), entry


def _api_detail_routes() -> list[tuple[str, URLPattern]]:
    return [(route, pattern) for route, pattern in _routes(get_resolver().url_patterns)
            if route.startswith("api/v1/") and _ARG.search(route)]


def _object_for(route: str, objects: dict):
    segment = route.removeprefix("api/v1/").split("/")[0]
    return {
        "shgs": objects["shg"], "connections": objects["connection"], "sync-runs": objects["syncrun"],
        "orders": objects["order"], "fulfilments": objects["fulfilment"], "events": objects["event"],
        "webhook-subscriptions": objects["subscription"], "products": objects["product"],
        "variants": objects["variant"], "listings": objects["listing"], "inventory": objects["stockitem"],
        "marketplace-stock": objects["marketplacestock"], "stock-movements": objects["movement"],
        "oversold-lines": objects["oversold"],
        "tenders": objects.get("tender"), "bids": objects.get("bid"), "inquiries": objects.get("inquiry"),
        "quotes": objects.get("quote"), "seller-profiles": objects.get("sellerprofile"),
        "reviews": objects.get("review"),
    }.get(segment)


@pytest.fixture
def tenant_a(db):
    from django.db import transaction

    from apps.events.services import publish

    objects = tenant_objects.build_tenant_a()
    with transaction.atomic():
        objects["event"] = publish(type="order.created", shg=objects["shg"], payload={"order_id": objects["order"].pk})
    objects["product"] = product_create(shg=objects["shg"], title="Tenant A secret product",
                                        variants=[{"sku": "TENANT-A-SKU"}])
    objects["variant"] = objects["product"].variants.get()
    objects["listing"] = Listing.objects.create(variant=objects["variant"], connection=objects["connection"],
                                                shg=objects["shg"], state=Listing.State.LIVE, external_id="TENANT-A-LISTING")
    objects["movement"] = StockMovement.objects.create(item=objects["stockitem"], kind="receipt", on_hand_delta=5,
                                                       on_hand_after=5, reserved_after=0)
    objects["oversold"] = StockReservation.objects.create(order=objects["order"], item=objects["stockitem"], quantity=0,
                                                          oversold=2)
    objects["marketplacestock"] = MarketplaceStock.objects.create(
        connection=objects["connection"], variant=objects["variant"], sku="TENANT-A-SKU", quantity=3,
        fetched_at=timezone.now())
    objects["subscription"], _secret = subscription_create(organization=objects["federation"],
                                                           url="https://tenant-a.example.org/hook", event_types=["*"])
    return objects


def test_every_detail_route_is_404_for_another_tenant(tenant_a):
    _token, key = partner_token_create(organization=make_org("Outsider Federation"), name="Outsider")
    outsider = client_for(key)
    routes = _api_detail_routes()
    assert len(routes) >= 8, routes
    checked, unknown, leaks = [], [], []
    for route, pattern in routes:
        obj = _object_for(route, tenant_a)
        if obj is None:
            unknown.append(route)
            continue
        path = "/" + _ARG.sub(str(obj.pk), route)
        methods = [m.upper() for m in pattern.callback.actions] if hasattr(pattern.callback, "actions") else ["GET"]
        for method in methods:
            response = outsider.generic(method, path, data="{}", content_type="application/json")
            checked.append((method, path))
            if response.status_code != 404:
                leaks.append((method, path, response.status_code))
    assert not unknown, f"teach the sweep these routes' objects: {unknown}"
    assert not leaks, leaks
    assert len(checked) >= len(routes)


def test_the_owner_sees_the_same_routes(tenant_a):
    _token, key = partner_token_create(organization=tenant_a["federation"], name="Owner")
    owner = client_for(key)
    for route, pattern in _api_detail_routes():
        if "get" not in getattr(pattern.callback, "actions", {}):
            continue
        obj = _object_for(route, tenant_a)
        path = "/" + _ARG.sub(str(obj.pk), route)
        assert owner.get(path).status_code == 200, path
