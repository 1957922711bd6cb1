"""Revenue chart geometry: the overview draws its chart as inline SVG on the server.

Why not only Chart.js: its minified build alone is 210 KB, above the whole page budget for a phone on a
slow connection. The SVG needs no script and prints; Chart.js (vendored) is loaded only when a coordinator
asks for the interactive chart, from the same numbers (`chart_js_data`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from apps.dashboard.selectors import RevenueChart

# Colour-blind-safe (Okabe-Ito) colours, one per channel in a fixed order.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
# A narrow viewBox keeps the axis text legible when a 360 px phone scales the chart down.
WIDTH, HEIGHT = 400, 190
LEFT, BOTTOM, TOP = 50, 22, 8


# Coordinates are strings formatted here, not floats: the template engine would localize floats (slowly,
# and with a decimal comma in some locales, which breaks SVG).
@dataclass
class Segment:
    x: str
    y: str
    width: str
    height: str
    colour: str
    title: str


@dataclass
class Tick:
    y: str
    value: Decimal
    label: str


@dataclass
class Label:
    x: str
    text: str
    anchor: str = "middle"


def _coord(value: float) -> str:
    return f"{value:.1f}"


@dataclass
class SvgChart:
    width: int
    height: int
    left: int
    plot_bottom: float
    segments: list[Segment]
    ticks: list[Tick]
    labels: list[Label]
    legend: list[tuple[str, str]]


def nice_ceiling(value: Decimal) -> Decimal:
    """The smallest 1, 2 or 5 times a power of ten that is at least `value` (a readable axis top)."""
    if value <= 0:
        return Decimal("1")
    exponent = value.adjusted()
    for step in (Decimal(1), Decimal(2), Decimal(5), Decimal(10)):
        top = step.scaleb(exponent)
        if top >= value:
            return top.quantize(Decimal(1), rounding=ROUND_CEILING) if exponent >= 0 else top
    return Decimal(10).scaleb(exponent)  # pragma: no cover - the loop always returns


def compact_amount(value: Decimal, currency: str) -> str:
    """Short axis labels that fit a phone: lakh and crore for INR (2.5L, 1.2Cr), K and M elsewhere."""
    steps = [(Decimal(10) ** 7, "Cr"), (Decimal(10) ** 5, "L"), (Decimal(10) ** 3, "K")] if currency == "INR" else [
        (Decimal(10) ** 6, "M"), (Decimal(10) ** 3, "K")]
    for size, suffix in steps:
        if abs(value) >= size:
            return f"{(value / size).quantize(Decimal('0.01')).normalize():f}{suffix}"
    return f"{value.quantize(Decimal('0.01')).normalize():f}"


def stacked_bars(chart: RevenueChart) -> SvgChart:
    days = len(chart.days)
    plot_width = WIDTH - LEFT
    plot_height = HEIGHT - BOTTOM - TOP
    slot = plot_width / days
    totals = [sum((s.values[n] for s in chart.series), Decimal("0")) for n in range(days)]
    top = nice_ceiling(max(totals, default=Decimal("0")))
    scale = plot_height / float(top)
    segments = []
    for n, day in enumerate(chart.days):
        base = HEIGHT - BOTTOM
        for index, series in enumerate(chart.series):
            value = series.values[n]
            if not value:
                continue
            height = float(value) * scale
            base -= height
            segments.append(Segment(
                x=_coord(LEFT + n * slot + slot * 0.15), y=_coord(base), width=_coord(slot * 0.7),
                height=_coord(height), colour=PALETTE[index % len(PALETTE)],
                title=f"{day.isoformat()} {series.channel}: {value} {chart.currency}",
            ))
    ticks = [Tick(y=_coord(HEIGHT - BOTTOM - plot_height * k / 4), value=top * k / 4,
                  label=compact_amount(top * k / 4, chart.currency)) for k in range(5)]
    # Every seventh day, ending on today; today's label is right-aligned so it stays inside the chart.
    labels = [Label(x=_coord(LEFT + n * slot + slot / 2), text=day.strftime("%d %b"))
              for n, day in enumerate(chart.days) if n % 7 == (days - 1) % 7]
    if labels:
        labels[-1].x, labels[-1].anchor = _coord(WIDTH), "end"
    legend = [(PALETTE[i % len(PALETTE)], s.channel) for i, s in enumerate(chart.series)]
    return SvgChart(width=WIDTH, height=HEIGHT, left=LEFT, plot_bottom=HEIGHT - BOTTOM, segments=segments,
                    ticks=ticks, labels=labels, legend=legend)


def chart_js_data(chart: RevenueChart) -> dict:
    """The same numbers in Chart.js's `data` shape (labels plus one stacked dataset per channel)."""
    return {
        "currency": chart.currency,
        "labels": [day.isoformat() for day in chart.days],
        "datasets": [
            {"label": s.channel, "data": [float(v) for v in s.values], "backgroundColor": PALETTE[i % len(PALETTE)]}
            for i, s in enumerate(chart.series)
        ],
    }


def table_rows(chart: RevenueChart) -> list[dict]:
    """Day by day rows for the chart's accessible table, newest first."""
    rows = [{"day": day, "values": [s.values[n] for s in chart.series]} for n, day in enumerate(chart.days)]
    return rows[::-1]
