"""The helpers connectors share from connectors/base.py: the refusals a batch push makes before calling the
platform, batching, and the register-each-webhook loop that undoes itself on failure."""

import logging
from decimal import Decimal

import pytest

from apps.integrations.connectors.base import (
    DUPLICATE_SKU,
    ConnectionContext,
    Connector,
    PriceUpdate,
    StockUpdate,
    chunked,
    screen_push,
    stock_problem,
)
from apps.integrations.connectors.errors import PermanentError, TransientError


def test_refusals_keep_their_place_and_valid_updates_keep_their_index():
    updates = [StockUpdate(sku="A", quantity=3), StockUpdate(sku="B", quantity=-1), StockUpdate(sku="A", quantity=4),
               StockUpdate(sku="C", quantity=True), StockUpdate(sku="D", quantity=0)]
    results, valid = screen_push(updates, stock_problem)
    assert [(i, u.sku) for i, u in valid] == [(0, "A"), (4, "D")]
    assert results[0] is None and results[4] is None
    assert [(r.sku, r.ok, r.error) for r in (results[1], results[2], results[3])] == [
        ("B", False, "Stock must be a whole number of at least 0"), ("A", False, DUPLICATE_SKU),
        ("C", False, "Stock must be a whole number of at least 0")]


def test_a_refused_update_does_not_make_the_next_one_for_its_sku_a_duplicate():
    def problem(update):
        return "no price" if update.price <= 0 else ""

    updates = [PriceUpdate(sku="A", price=Decimal(0), currency="INR"), PriceUpdate(sku="A", price=Decimal(5), currency="INR")]
    results, valid = screen_push(updates, problem)
    assert results[0].error == "no price" and results[1] is None
    assert [i for i, _u in valid] == [1]


def test_chunked_keeps_order_and_caps_each_slice():
    assert list(chunked([1, 2, 3, 4, 5], 2)) == [[1, 2], [3, 4], [5]]
    assert list(chunked([], 3)) == []


class Hooks(Connector):
    """Just enough of a connector for _subscribe_each: a platform where some topics already have a subscription."""

    slug = "hooks-test"

    @classmethod
    def default_base_url(cls, context):
        return "https://hooks.example"

    def test_connection(self):
        return {}

    def __init__(self, *, existing=(), fail_on=None, fail_removal=False):
        super().__init__(ConnectionContext(connection_id="c-1", credentials={}, config={}))
        self.existing, self.fail_on, self.fail_removal = set(existing), fail_on, fail_removal
        self.removed: list[list[str]] = []

    def subscribe(self, topic):
        if topic == self.fail_on:
            raise TransientError("the platform is down")
        return f"id-{topic}", topic not in self.existing

    def unregister_webhooks(self, *, webhook_ids):
        self.removed.append(list(webhook_ids))
        if self.fail_removal:
            raise PermanentError("cannot delete")


def test_subscribe_each_returns_every_id_in_topic_order():
    hooks = Hooks(existing={"b"})
    assert hooks._subscribe_each(["a", "b", "c"], hooks.subscribe) == ["id-a", "id-b", "id-c"]
    assert hooks.removed == []


def test_subscribe_each_removes_only_what_it_made_when_one_fails():
    hooks = Hooks(existing={"b"}, fail_on="d")
    with pytest.raises(TransientError):
        hooks._subscribe_each(["a", "b", "c", "d"], hooks.subscribe)
    assert hooks.removed == [["id-a", "id-c"]]


def test_subscribe_each_keeps_the_first_error_when_removal_fails(caplog):
    hooks = Hooks(fail_on="b", fail_removal=True)
    with caplog.at_level(logging.WARNING), pytest.raises(TransientError):
        hooks._subscribe_each(["a", "b"], hooks.subscribe)
    assert hooks.removed == [["id-a"]]
    assert "could not remove the webhooks just made on connection c-1" in caplog.text
