"""The numbers of the coordinator's overview, read in a fixed number of queries whatever the data size.

Every read is scoped to the SHGs the user may see (apps.accounts.selectors). Aggregation happens in the
database, grouped by SHG and currency: amounts in different currencies are never added together.
Counting rules: an order counts when it is not cancelled; revenue leaves out cancelled and returned orders.
Orders and revenue per day come from apps.orders' DailyOrderTotal rollup, which applies those rules.
"Needs action" is merchant-fulfilled orders not yet shipped, tracking pushes that failed, and order lines
the stock could not cover (apps.inventory's oversold reservations).
Days are calendar days in the project's time zone (Asia/Kolkata by default), today included.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Q, Sum
from django.utils import timezone

from apps.accounts.selectors import visible_shgs
from apps.integrations.connectors.base import Capability
from apps.integrations.connectors.registry import UnknownPlatform, get_connector_class
from apps.integrations.models import Connection, SyncRun
from apps.inventory.models import StockReservation
from apps.orders.models import DailyOrderTotal, Fulfilment, Order

WINDOWS = (("today", 1), ("week", 7), ("month", 30))
CHART_DAYS = 30
ACTION_LIST_SIZE = 10
# A connection whose last success is older than this many poll intervals is called stale.
STALE_AFTER_INTERVALS = 3



@dataclass
class Window:
    orders: int = 0
    revenue: dict[str, Decimal] = field(default_factory=dict)

    def add(self, orders: int, currency: str, amount: Decimal | None) -> None:
        self.orders += orders
        if amount:
            self.revenue[currency] = self.revenue.get(currency, Decimal("0")) + amount


@dataclass
class ShgNumbers:
    shg_id: int | None
    name: str
    today: Window = field(default_factory=Window)
    week: Window = field(default_factory=Window)
    month: Window = field(default_factory=Window)
    unshipped: int = 0
    oldest_unshipped: datetime | None = None  # on the total only (the first of `action_orders`)
    failed_pushes: int = 0
    oversold_lines: int = 0
    oversold_units: int = 0

    @property
    def needs_action(self) -> int:
        return self.unshipped + self.failed_pushes + self.oversold_lines


@dataclass
class ConnectionHealth:
    connection: Connection
    channel: str
    health: str  # ok, syncing (was stale, a sync is running), stale, error, needs_reauth, pending
    last_success_at: datetime | None
    next_sync_at: datetime | None
    last_error: str
    sync_due: bool = False
    # False for a channel that only pushes (the SHG's own website): nothing to poll, no "Sync now".
    polled: bool = True


@dataclass
class ChartSeries:
    channel: str
    platform: str
    values: list[Decimal]


@dataclass
class RevenueChart:
    currency: str
    days: list[date]
    series: list[ChartSeries]

    @property
    def total(self) -> Decimal:
        return sum((sum(s.values, Decimal("0")) for s in self.series), Decimal("0"))


@dataclass
class Overview:
    shgs: list[ShgNumbers]
    total: ShgNumbers
    charts: list[RevenueChart]
    action_orders: list[Order]
    connections: list[ConnectionHealth]
    today: date


def channel_name(platform: str) -> str:
    try:
        return get_connector_class(platform).name
    except (UnknownPlatform, ImportError):
        return platform


def overview_for(user: AbstractBaseUser, *, shg_id: int | None = None, now: datetime | None = None) -> Overview:
    """Everything the overview page shows, for all the user's SHGs or one of them (already validated).

    Ten queries: SHGs, the windows' totals per SHG and currency, the chart's per day, platform and currency
    (both from the daily totals), orders to ship, failed pushes, oversold lines, the oldest orders to ship (ids,
    then rows), connections and their running syncs.
    """
    now = timezone.localtime(now or timezone.now())
    today = now.date()
    shgs = visible_shgs(user)
    if shg_id is not None:
        shgs = shgs.filter(pk=shg_id)
    shg_rows = list(shgs.order_by("name").values_list("id", "name"))
    # A plain id list (a coordinator has tens of SHGs, not thousands) spares every later query the
    # tenancy subquery with its DISTINCT and joins.
    shg_ids = [pk for pk, _name in shg_rows]
    numbers = {pk: ShgNumbers(shg_id=pk, name=name) for pk, name in shg_rows}
    total = ShgNumbers(shg_id=None, name="")

    orders = Order.objects.filter(shg_id__in=shg_ids)
    days = [today - timedelta(days=n) for n in range(CHART_DAYS - 1, -1, -1)]
    month = DailyOrderTotal.objects.filter(shg_id__in=shg_ids, day__range=(days[0], today))
    # The today / 7 / 30-day windows per SHG and currency, summed in the database: a row per SHG and currency.
    sums = {}
    for name, window_days in WINDOWS:
        within = Q(day__gte=today - timedelta(days=window_days - 1))
        sums[f"{name}_n"] = Sum("orders", filter=within, default=0)
        sums[f"{name}_revenue"] = Sum("revenue", filter=within)
    for row in month.values("shg_id", "currency").annotate(**sums).order_by():
        for target in (numbers.get(row["shg_id"]), total):
            if target is None:
                continue
            for name, _window_days in WINDOWS:
                getattr(target, name).add(row[f"{name}_n"], row["currency"], row[f"{name}_revenue"])
    charts = _revenue_charts(month, days=days)

    # Orders to ship, of any age, from the daily totals (a count over the orders table reads every unshipped row).
    to_ship = DailyOrderTotal.objects.filter(shg_id__in=shg_ids, to_ship__gt=0)
    for row in to_ship.values("shg_id").annotate(n=Sum("to_ship")).order_by():
        for target in (numbers.get(row["shg_id"]), total):
            if target is not None:
                target.unshipped += row["n"]
    failed = Fulfilment.objects.filter(order__shg_id__in=shg_ids, push_state=Fulfilment.PushState.FAILED)
    for row in failed.values("order__shg_id").annotate(n=Count("id")).order_by():
        for target in (numbers.get(row["order__shg_id"]), total):
            if target is not None:
                target.failed_pushes += row["n"]

    # Lines two channels sold from the same last units: still held (active), part of them not in stock.
    oversold = StockReservation.objects.filter(order__shg_id__in=shg_ids, oversold__gt=0,
                                               state=StockReservation.State.ACTIVE)
    for row in oversold.values("order__shg_id").annotate(lines=Count("id"), units=Sum("oversold")).order_by():
        for target in (numbers.get(row["order__shg_id"]), total):
            if target is not None:
                target.oversold_lines += row["lines"]
                target.oversold_units += row["units"]

    # Ids first, without joins (the (status, placed_at) index is walked oldest first and stops after ten),
    # then the ten rows with their channel and SHG.
    unshipped = orders.filter(status=Order.Status.UNSHIPPED, fulfilment_channel=Order.Channel.MERCHANT)
    oldest_ids = list(unshipped.order_by("placed_at", "id").values_list("id", flat=True)[:ACTION_LIST_SIZE])
    action_orders = list(
        Order.objects.filter(id__in=oldest_ids).select_related("connection", "shg")
        .only("id", "number", "external_id", "placed_at", "total", "currency", "connection__display_name",
              "connection__platform", "shg__name")
        .order_by("placed_at", "id")
    )
    # The oldest of all is the first of the list; per SHG, the page shows counts only.
    total.oldest_unshipped = action_orders[0].placed_at if action_orders else None
    connections = connection_health(shg_ids=shg_ids, now=now)
    return Overview(shgs=list(numbers.values()), total=total, charts=charts, action_orders=action_orders,
                    connections=connections, today=today)


def _revenue_charts(month, *, days: list[date]) -> list[RevenueChart]:
    """Revenue per channel (platform) per day, one chart per currency (largest first), from the daily totals
    summed per day, platform and currency in the database."""
    index = {day: n for n, day in enumerate(days)}
    per_currency: dict[str, dict[str, list[Decimal]]] = defaultdict(dict)
    rows = month.values("day", "connection__platform", "currency").annotate(amount=Sum("revenue")).order_by()
    for row in rows:
        series = per_currency[row["currency"]].setdefault(row["connection__platform"], [Decimal("0")] * len(days))
        series[index[row["day"]]] += row["amount"] or Decimal("0")
    charts = [
        RevenueChart(currency=currency, days=days, series=[
            ChartSeries(channel=channel_name(platform), platform=platform, values=values)
            for platform, values in sorted(by_platform.items())
        ])
        for currency, by_platform in per_currency.items()
    ]
    return sorted(charts, key=lambda chart: chart.total, reverse=True)


def connection_health(*, shg_ids: list[int], now: datetime) -> list[ConnectionHealth]:
    """Every connection that is not disconnected, worst first: what a coordinator should look at."""
    connections = (
        Connection.objects.filter(shg_id__in=shg_ids)
        .exclude(status=Connection.Status.DISABLED)
        .select_related("shg")
        .only("id", "platform", "display_name", "status", "last_success_at", "next_sync_at", "last_error",
              "poll_interval", "shg__name")
    )
    connections = list(connections)
    # A stale channel whose sync is running right now (the first one after connecting, say) is being fixed.
    running = set(SyncRun.objects.filter(connection_id__in=[c.pk for c in connections],
                                         status=SyncRun.Status.RUNNING).values_list("connection_id", flat=True))
    result = []
    for connection in connections:
        polled = _polled(connection.platform)
        result.append(ConnectionHealth(
            connection=connection, channel=channel_name(connection.platform),
            health=_health(connection, now) if polled or connection.status != Connection.Status.ACTIVE else "ok",
            last_success_at=connection.last_success_at, next_sync_at=connection.next_sync_at,
            last_error=connection.last_error if connection.status != Connection.Status.ACTIVE else "",
            sync_due=polled and connection.next_sync_at is not None and connection.next_sync_at <= now,
            polled=polled,
        ))
        if result[-1].health == "stale" and connection.pk in running:
            result[-1].health = "syncing"
    order = {"needs_reauth": 0, "error": 1, "stale": 2, "pending": 3, "syncing": 4, "ok": 5}
    return sorted(result, key=lambda h: (order[h.health], h.connection.shg.name, h.channel))


def _polled(platform: str) -> bool:
    """Whether Haat pulls this platform's orders (a push-only channel is never "not synced recently")."""
    try:
        return get_connector_class(platform).supports(Capability.ORDERS)
    except (UnknownPlatform, ImportError):
        return True  # reported as an error by _health


def _health(connection: Connection, now: datetime) -> str:
    if connection.status == Connection.Status.NEEDS_REAUTH:
        return "needs_reauth"
    if connection.status == Connection.Status.ERROR:
        return "error"
    if connection.status == Connection.Status.PENDING:
        return "pending"
    try:
        interval = connection.effective_poll_interval
    except (UnknownPlatform, ImportError):
        return "error"
    if connection.last_success_at is None or now - connection.last_success_at > interval * STALE_AFTER_INTERVALS:
        return "stale"
    return "ok"


@dataclass
class CurrencyTotal:
    currency: str
    orders: int
    amount: Decimal


def totals_by_currency(orders) -> list[CurrencyTotal]:
    """Order count and sum per currency of a (filtered, scoped) order queryset, in one grouped query.

    Lists across channels mix rupees, roubles, sums and dollars: each currency gets its own line, never a sum."""
    rows = (orders.order_by().values("currency").annotate(n=Count("id"), amount=Sum("total")).order_by("-n", "currency"))
    return [CurrencyTotal(currency=r["currency"], orders=r["n"], amount=r["amount"] or Decimal("0")) for r in rows]


@dataclass
class TimelineEntry:
    at: datetime
    kind: str  # placed, seen, changed, tracking, pushed, push_failed
    text: str


def order_timeline(order: Order) -> list[TimelineEntry]:
    """What happened to an order, oldest first, from what is stored: no extra query beyond the prefetched
    fulfilments (order_detail prefetches them)."""
    from django.utils.translation import gettext as _

    entries = [TimelineEntry(order.placed_at, "placed", _("Placed on the channel")),
               TimelineEntry(order.created_at, "seen", _("Arrived in Haat"))]
    if order.remote_updated_at and order.remote_updated_at > order.placed_at:
        entries.append(TimelineEntry(order.remote_updated_at, "changed",
                                     _("Last changed on the channel (now: %(status)s)") % {"status": order.get_status_display()}))
    for f in order.fulfilments.all():
        entries.append(TimelineEntry(f.created_at, "tracking", _("Tracking added: %(carrier)s %(number)s")
                                     % {"carrier": f.carrier, "number": f.tracking_number}))
        if f.pushed_at:
            entries.append(TimelineEntry(f.pushed_at, "pushed", _("Tracking sent to the channel")))
        elif f.push_state == Fulfilment.PushState.FAILED:
            entries.append(TimelineEntry(f.updated_at, "push_failed", _("Sending the tracking failed")))
    return sorted(entries, key=lambda e: e.at)
