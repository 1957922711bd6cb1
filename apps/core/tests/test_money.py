from decimal import Decimal

import pytest
from django.template import Context, Template

from apps.core.templatetags.money import format_money, group_indian


@pytest.mark.parametrize(("amount", "expected"), [
    (Decimal("0"), "₹0.00"),
    (Decimal("5"), "₹5.00"),
    (Decimal("999.5"), "₹999.50"),
    (Decimal("1000"), "₹1,000.00"),
    (Decimal("123456"), "₹1,23,456.00"),
    (Decimal("1234567.891"), "₹12,34,567.89"),
    (Decimal("123456789.005"), "₹12,34,56,789.01"),
    (Decimal("-98765.4"), "-₹98,765.40"),
    (250, "₹250.00"),
    ("42.1", "₹42.10"),
])
def test_inr_uses_indian_grouping(amount, expected):
    assert format_money(amount, "INR") == expected


@pytest.mark.parametrize(("amount", "currency", "expected"), [
    (Decimal("1234567.5"), "USD", "$1,234,567.50"),
    (Decimal("123456"), "eur", "€123,456.00"),
    (Decimal("1234.4"), "JPY", "¥1,234"),
    (Decimal("1234.5"), "CHF", "CHF 1,234.50"),
    (Decimal("-1000"), "GBP", "-£1,000.00"),
])
def test_other_currencies_use_thousands_grouping(amount, currency, expected):
    assert format_money(amount, currency) == expected


def test_group_indian_edges():
    assert [group_indian(d) for d in ("1", "12", "123", "1234", "12345", "123456", "1234567")] == [
        "1", "12", "123", "1,234", "12,345", "1,23,456", "12,34,567"]


@pytest.mark.parametrize("bad", ["abc", None, "NaN", float("inf"), [1]])
def test_format_money_rejects_non_numbers(bad):
    with pytest.raises(ValueError):
        format_money(bad, "INR")


def test_filter_in_a_template():
    rendered = Template("{% load money %}{{ a|money:'INR' }}|{{ b|money:c }}|{{ none|money }}|{{ bad|money }}").render(
        Context({"a": Decimal("123456"), "b": Decimal("10"), "c": "USD", "none": None, "bad": "n/a"}))
    assert rendered == "₹1,23,456.00|$10.00||n/a"
