from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import translation

from apps.dashboard import charts
from apps.dashboard.selectors import ChartSeries, RevenueChart


@pytest.mark.parametrize(("value", "top"), [
    ("0", "1"), ("0.3", "0.5"), ("1", "1"), ("7", "10"), ("12", "20"), ("199", "200"), ("201", "500"), ("123456", "200000"),
])
def test_nice_ceiling(value, top):
    assert charts.nice_ceiling(Decimal(value)) == Decimal(top)


@pytest.mark.parametrize(("value", "currency", "label"), [
    ("0", "INR", "0"), ("1250", "INR", "1.25K"), ("500000", "INR", "5L"), ("375000", "INR", "3.75L"),
    ("20000000", "INR", "2Cr"), ("2500000", "USD", "2.5M"), ("999", "USD", "999"), ("12.5", "EUR", "12.5"),
])
def test_compact_amount(value, currency, label):
    assert charts.compact_amount(Decimal(value), currency) == label


def make_chart() -> RevenueChart:
    days = [date(2026, 11, 1) + timedelta(days=n) for n in range(3)]
    return RevenueChart(currency="INR", days=days, series=[
        ChartSeries(channel="Shopify", platform="shopify", values=[Decimal("100"), Decimal("0"), Decimal("50")]),
        ChartSeries(channel="Amazon", platform="amazon", values=[Decimal("100"), Decimal("0"), Decimal("0")]),
    ])


def test_stacked_bars_geometry():
    svg = charts.stacked_bars(make_chart())
    # Zero values draw nothing; day 1 stacks two segments, day 3 has one.
    assert len(svg.segments) == 3
    first, second, third = svg.segments
    plot_bottom = charts.HEIGHT - charts.BOTTOM
    plot_height = plot_bottom - charts.TOP
    # Axis top is 200 (nice ceiling of the tallest day): 100 is half the plot height.
    assert float(first.height) == pytest.approx(plot_height / 2, abs=0.1)
    assert float(first.y) == pytest.approx(plot_bottom - plot_height / 2, abs=0.1)
    assert float(second.y) == pytest.approx(charts.TOP, abs=0.1)  # stacked on the first, up to the top
    assert first.x == second.x and first.colour != second.colour
    assert float(third.height) == pytest.approx(plot_height / 4, abs=0.1)
    assert [t.value for t in svg.ticks] == [Decimal(0), Decimal(50), Decimal(100), Decimal(150), Decimal(200)]
    assert [t.label for t in svg.ticks] == ["0", "50", "100", "150", "200"]
    assert svg.legend == [(charts.PALETTE[0], "Shopify"), (charts.PALETTE[1], "Amazon")]
    # Today's label ends at the right edge instead of being cut by it.
    assert svg.labels[-1].text == "03 Nov" and svg.labels[-1].anchor == "end" and float(svg.labels[-1].x) == charts.WIDTH


def test_coordinates_do_not_follow_the_locale():
    with translation.override("de"):  # a decimal-comma locale must not leak into SVG numbers
        svg = charts.stacked_bars(make_chart())
    assert all("," not in s.x + s.y + s.width + s.height for s in svg.segments)


def test_chart_js_data_and_table_rows():
    chart = make_chart()
    data = charts.chart_js_data(chart)
    assert data["labels"] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert [d["data"] for d in data["datasets"]] == [[100.0, 0.0, 50.0], [100.0, 0.0, 0.0]]
    rows = charts.table_rows(chart)
    assert rows[0]["day"] == date(2026, 11, 3) and rows[0]["values"] == [Decimal("50"), Decimal("0")]
