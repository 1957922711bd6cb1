"""The value readers connectors share (connectors/parsing.py): what each accepts, and what an error keeps."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from apps.integrations.connectors.errors import PermanentError
from apps.integrations.connectors.parsing import cents, iso_time, payload_text

IST = timezone(timedelta(hours=5, minutes=30))


def test_iso_time_is_aware_utc_whatever_the_offset():
    assert iso_time("2026-11-20T10:15:00Z", "date", platform="P") == datetime(2026, 11, 20, 10, 15, tzinfo=UTC)
    assert iso_time("2026-11-20T15:45:00+05:30", "date", platform="P") == datetime(2026, 11, 20, 10, 15, tzinfo=UTC)
    assert iso_time("2026-11-20T15:45:00+05:30", "date", platform="P").tzinfo is UTC


def test_iso_time_reads_a_bare_time_in_the_platforms_zone():
    assert iso_time("2026-11-20 10:15:00", "date", platform="P") == datetime(2026, 11, 20, 10, 15, tzinfo=UTC)
    in_ist = iso_time("2026-11-20T15:45:00", "date", platform="P", naive_zone=IST)
    assert in_ist == datetime(2026, 11, 20, 10, 15, tzinfo=UTC) and in_ist.tzinfo is UTC


@pytest.mark.parametrize("value", [None, "", 17])
def test_iso_time_missing_names_platform_and_field(value):
    with pytest.raises(PermanentError) as info:
        iso_time(value, "order date", platform="Magento")
    assert str(info.value) == "Magento sent no order date"
    assert info.value.raw == json.dumps(value)


def test_iso_time_unreadable_keeps_the_value_or_the_record():
    with pytest.raises(PermanentError) as info:
        iso_time("20/11/2026", "updateDate", platform="Yandex Market")
    assert str(info.value) == "Yandex Market sent an unreadable updateDate: 20/11/2026"
    assert info.value.raw == "20/11/2026"
    order = {"id": 7, "name": "लक्ष्मी", "created_at": "yesterday"}
    with pytest.raises(PermanentError) as info:
        iso_time(order["created_at"], "order date", order, platform="Magento")
    assert json.loads(info.value.raw) == order and "लक्ष्मी" in info.value.raw
    with pytest.raises(PermanentError) as info:
        iso_time(None, "order date", order, platform="Magento")
    assert json.loads(info.value.raw) == order


def test_cents_reads_strings_and_json_numbers_to_the_cent_half_up():
    assert cents("25.0000", "total", {}, platform="P") == Decimal("25.00")
    assert cents(19.99, "total", {}, platform="P") == Decimal("19.99")  # the float's shortest text, not its binary
    assert cents("10.005", "total", {}, platform="P") == Decimal("10.01")
    assert cents(3, "total", {}, platform="P") == Decimal("3.00")


@pytest.mark.parametrize("value", [None, "", True, False])
def test_cents_refuses_no_amount(value):
    with pytest.raises(PermanentError) as info:
        cents(value, "order total", {"id": 1}, platform="BigCommerce")
    assert str(info.value) == "BigCommerce sent no order total"
    assert json.loads(info.value.raw) == {"id": 1}


@pytest.mark.parametrize("value", ["12,50", "abc", "Infinity"])
def test_cents_refuses_an_unreadable_amount(value):
    with pytest.raises(PermanentError) as info:
        cents(value, "line price", {"id": 1}, platform="Magento")
    assert str(info.value) == f"Magento sent an unreadable line price: {value}"
    assert json.loads(info.value.raw) == {"id": 1}


def test_payload_text_is_json_cut_at_the_limit():
    assert payload_text({"a": "é"}) == '{"a": "é"}'
    assert payload_text({"when": datetime(2026, 1, 1, tzinfo=UTC)}) == '{"when": "2026-01-01 00:00:00+00:00"}'
    assert len(payload_text(["x" * 30_000])) == 20_000
    assert len(payload_text(["x" * 30_000], limit=5000)) == 5000
