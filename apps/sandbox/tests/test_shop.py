"""apps/sandbox/shop.py: the seller-side changes several sandbox platforms make the same way."""

from decimal import Decimal

import pytest

from apps.sandbox import dataset
from apps.sandbox.models import SandboxAccount
from apps.sandbox.shop import check_order_lines, checkout, round_prices_once

pytestmark = pytest.mark.django_db


@pytest.fixture
def account():
    account = SandboxAccount._default_manager.create(platform="shop-test", account_id="s1", name="Shop")
    dataset.ensure_seeded(account)
    return account


def stock(account) -> dict[str, int]:
    return {row.key: int(row.data.get("quantity") or 0) for row in dataset.objects(account, "product")}


def test_checkout_takes_the_stock_of_the_lines_it_sells(account):
    before = stock(account)
    sku = next(s for s, q in sorted(before.items()) if q >= 2)
    order = checkout(account, [(sku, 2)], not_enough=lambda *_: "short")
    assert [(line["sku"], line["quantity"]) for line in order["lines"]] == [(sku, 2)]
    assert stock(account) == {**before, sku: before[sku] - 2}


def test_checkout_without_lines_sells_the_basket(account):
    before = stock(account)
    order = checkout(account, None, not_enough=lambda *_: "short")
    picked = [s for s, q in sorted(before.items()) if q > 0][:2]
    assert sorted(line["sku"] for line in order["lines"]) == picked


def test_checkout_refuses_in_the_stores_words_and_changes_nothing(account):
    before, orders = stock(account), dataset.objects(account, "order").count()
    sku, have = sorted(before.items())[0]
    with pytest.raises(ValueError, match=f"^{sku} has {have}$"):
        checkout(account, [(sku, have + 1)], not_enough=lambda s, _product, left: f"{s} has {left}")
    with pytest.raises(ValueError, match="No product with SKU NOPE in this store"):
        checkout(account, [("NOPE", 1)], not_enough=lambda *_: "short")
    with pytest.raises(ValueError, match="whole numbers"):
        checkout(account, [(sku, True)], not_enough=lambda *_: "short", whole_quantities=True)
    assert stock(account) == before
    assert dataset.objects(account, "order").count() == orders


def test_check_order_lines(account):
    sku = sorted(stock(account))[0]
    check_order_lines(account, None, unknown="SKU(s)")
    check_order_lines(account, [(sku, 3)], unknown="SKU(s)")
    with pytest.raises(ValueError, match=r"^Unknown offer_id\(s\): X, Y$"):
        check_order_lines(account, [("X", 1), (sku, 1), ("Y", 1)], unknown="offer_id(s)")
    for bad in (0, 1.0, True):
        with pytest.raises(ValueError, match=r"^Quantities must be whole numbers of at least 1$"):
            check_order_lines(account, [(sku, bad)], unknown="SKU(s)")
    check_order_lines(account, [(sku, 9)], unknown="SKU(s)", most=9)
    with pytest.raises(ValueError, match=r"^Quantities must be whole numbers from 1 to 9$"):
        check_order_lines(account, [(sku, 10)], unknown="SKU(s)", most=9)


def test_round_prices_once(account):
    row = dataset.objects(account, "product").order_by("key").first()
    row.data.update(price="10.50", mrp="10.40")
    row.save()
    round_prices_once(account, flag="whole_test_prices")
    row.refresh_from_db()
    assert (row.data["price"], row.data["mrp"]) == (dataset.money(Decimal(11)), dataset.money(Decimal(11)))
    row.data.update(price="7.25")
    row.save()
    round_prices_once(account, flag="whole_test_prices")  # done once: a later price is the seller's
    row.refresh_from_db()
    assert row.data["price"] == "7.25"
    assert SandboxAccount._default_manager.get(pk=account.pk).settings["whole_test_prices"] is True
