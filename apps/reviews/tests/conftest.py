"""Reviews of two SHGs a federation's users and token may see, and one of another federation that they may not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.accounts.models import Membership, Organization
from apps.accounts.services import partner_token_create
from apps.catalog.models import Product, Variant
from apps.integrations.connectors.base import RatingData
from apps.reviews.services import reviews_upsert
from tests.api.conftest import _fresh_throttle_counts, client_for  # noqa: F401  (an autouse fixture, a helper)
from tests.factories import make_connection, make_org, make_shg, make_user

START = datetime(2026, 11, 1, 9, tzinfo=UTC)


def rating(n: int, stars: int = 5, sku: str = "PICKLE-1", **fields) -> RatingData:
    data = {"external_id": f"R-{n}", "rating": stars, "created_at": START + timedelta(hours=n), "sku": sku,
            "product_title": "Mango pickle", "body": f"Review number {n}", "reviewer": f"Buyer {n}",
            "raw": {"id": n, "reviewer_email": f"buyer{n}@example.org"}}
    data.update(fields)
    return RatingData(**data)


@pytest.fixture
def world(db):
    federation = make_org("Reviews Federation")
    own = make_shg(federation, name="Asha Pickles SHG")
    ngo = make_org("Seva NGO", kind=Organization.Kind.NGO)
    served = make_shg(federation, name="Jyoti Weavers SHG")
    ngo.served_shgs.add(served)
    product = Product.objects.create(shg=own, title="Mango pickle")
    variant = Variant.objects.create(product=product, shg=own, sku="PICKLE-1", price="100.00", mrp="120.00")
    woo = make_connection(own, platform="woocommerce", display_name="Asha web shop")
    amazon = make_connection(served, platform="amazon", display_name="Jyoti on Amazon")
    foreign_shg = make_shg(make_org("Other Federation"), name="Secret Other SHG")
    foreign = make_connection(foreign_shg, platform="woocommerce", display_name="Secret other shop")
    reviews_upsert(connection=woo, ratings=[
        rating(1, 5), rating(2, 1, body="Arrived broken", title="Bad"), rating(3, 4, body=""),
        rating(4, 2, sku="UNKNOWN-9", verified_buyer=True),
    ])
    reviews_upsert(connection=amazon, ratings=[rating(5, 3, sku="SAREE-1", product_title="Cotton saree")])
    reviews_upsert(connection=foreign, ratings=[rating(6, 1, body="Secret foreign review", reviewer="Secret Buyer")])
    _token, key = partner_token_create(organization=federation, name="Integration")
    _ngo_token, ngo_key = partner_token_create(organization=ngo, name="NGO")
    coordinator = make_user("asha-coordinator", organization=federation, role=Membership.Role.COORDINATOR)
    return {"federation": federation, "own": own, "served": served, "ngo": ngo, "woo": woo, "amazon": amazon,
            "foreign": foreign, "product": product, "variant": variant, "key": key, "ngo_key": ngo_key,
            "coordinator": coordinator}
