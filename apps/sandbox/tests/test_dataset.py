"""The neutral demo data: prices a buyer of each currency would expect, whole sums where shops price so."""

from decimal import Decimal

import pytest

from apps.sandbox import dataset
from apps.sandbox.platforms import amazon

pytestmark = pytest.mark.django_db


def test_demo_prices_follow_the_currency():
    assert dataset.demo_price(Decimal("1450"), "INR") == Decimal("1450.00")
    assert dataset.demo_price(Decimal("1450"), "USD") == Decimal("17.40")
    assert dataset.demo_price(Decimal("1450"), "UZS") == Decimal("217500")
    assert dataset.convert_demo_price("17.40", "USD", "GBP") == Decimal("13.78")
    assert dataset.convert_demo_price("99.50", "INR", "INR") == Decimal("99.50")


def test_a_dollar_seller_has_dollar_sized_prices_and_orders():
    account = amazon.create_demo_account("A2DATASETUS01", "Dollar seller", marketplace_id="ATVPDKIKX0DER")
    dataset.ensure_seeded(account)
    prices = [Decimal(row.data["price"]) for row in dataset.objects(account, "product")]
    assert prices and max(prices) < 30 and min(prices) > 0
    order = next(iter(dataset.objects(account, "order"))).data
    assert order["currency"] == "USD"
    assert Decimal(order["total"]) == sum(Decimal(ln["unit_price"]) * ln["quantity"] for ln in order["lines"])


def test_an_offer_on_another_marketplace_is_priced_in_its_currency():
    account = amazon.create_demo_account("A2DATASETIN01", "Rupee seller")
    amazon.add_marketplaces(account, ["A1F83G8C2ARO7P"])  # Amazon.co.uk, same (EU) region
    rows = [row.data for row in dataset.objects(account, "product") if row.data.get("offers")]
    offer = rows[0]["offers"]["A1F83G8C2ARO7P"]
    assert offer["currency"] == "GBP"
    assert Decimal(offer["price"]) == dataset.convert_demo_price(rows[0]["price"], "INR", "GBP") < 30
    for order in (row.data for row in dataset.objects(account, "order")):
        assert Decimal(order["total"]) == sum(Decimal(ln["unit_price"]) * ln["quantity"] for ln in order["lines"])
        if order["currency"] == "GBP":
            assert Decimal(order["total"]) < 200
