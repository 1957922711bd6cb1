"""The pull loop: read a connection's orders (or products) page by page and store them, losing nothing and
doubling nothing.

- One run per connection and stream at a time. The lock is the running SyncRun row itself: a partial
  unique index allows one `running` row per (connection, stream), so a second run's INSERT fails and
  that run is recorded as skipped. It works the same on SQLite and PostgreSQL. A run whose heartbeat
  is older than `lock_timeout()` died with its worker; the next run marks it failed and takes over.
- The window: since the stored cursor minus SYNC_OVERLAP (late updates and clock skew are re-read; the
  upsert makes re-reading free), or SYNC_BACKFILL back on the first run, or an explicit `since`.
- Every page is handed to `orders.services.upsert_orders` in its own transaction. The cursor (the
  newest platform `updated_at` stored so far) is written in that same transaction, so it is visible
  exactly when the page's data is, never before: per page when the connector returns pages in
  ascending update order (`orders_sorted_by_update`), otherwise once, after the last page.
- Failures are typed: an AuthError marks the connection needs_reauth and tells its coordinators;
  transient errors and rate limits (already retried by the HTTP layer) fail the run and the next one
  is scheduled with a backoff that doubles with each consecutive failure; a PermanentError keeps the
  platform's raw answer on the run. Every failure publishes `sync.failed`. The schedule, the failure
  count and the connection's status follow the orders stream (the scheduled one): a failed products
  import is recorded without delaying the next orders sync.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from apps.core.logging import connection_context, redact
from apps.events.services import publish
from apps.integrations.connectors.base import Capability, Connector, Page
from apps.integrations.connectors.errors import (
    AuthError,
    ConnectorError,
    PermanentError,
    RateLimited,
)
from apps.integrations.connectors.registry import UnknownPlatform, build_connector
from apps.integrations.models import Connection, SyncRun

logger = logging.getLogger(__name__)

# First retry after a failure, doubled per consecutive failure, capped.
RETRY_BASE = timedelta(minutes=1)
MAX_BACKOFF = timedelta(hours=6)
# More pages than this in one run means a connector that never stops paging.
MAX_PAGES = 10_000
MAX_ERROR_LENGTH = 2_000
MAX_PAYLOAD_LENGTH = 8_000
STREAM_CAPABILITIES = {SyncRun.Stream.ORDERS: Capability.ORDERS, SyncRun.Stream.PRODUCTS: Capability.PRODUCTS,
                       SyncRun.Stream.RATINGS: Capability.RATINGS}


def lock_timeout() -> timedelta:
    """How long a silent running run keeps its lock: a django-q2 task is killed after its timeout anyway."""
    return timedelta(seconds=int(settings.Q_CLUSTER.get("timeout") or 600)) + timedelta(minutes=5)


class SyncAborted(Exception):
    """The run could not start (the connection is not syncable); recorded as a skipped run."""


@dataclass
class _Progress:
    high_water: datetime | None = None
    cursor_after: str = ""


# --- cursor ------------------------------------------------------------------------------------------------------


def parse_cursor(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)


def window_start(*, connection: Connection, stream: str, since: datetime | None = None) -> datetime:
    """Where a run starts reading: an explicit `since`, else cursor - overlap, else the backfill horizon."""
    if since is not None:
        return since
    cursor = parse_cursor((connection.cursors or {}).get(stream))
    if cursor is None:
        return timezone.now() - settings.SYNC_BACKFILL
    return cursor - settings.SYNC_OVERLAP


def _advance_cursor(connection: Connection, stream: str, value: datetime) -> str:
    """Move the stored cursor forward to `value` (never back, never past now); call inside the page's
    transaction. Only this stream's key is touched, under a row lock, so other writers keep theirs."""
    value = min(value, timezone.now())
    locked = Connection.objects.select_for_update().only("id", "cursors").get(pk=connection.pk)
    cursors = dict(locked.cursors or {})
    current = parse_cursor(cursors.get(stream))
    if current is not None and current >= value:
        return cursors[stream]
    cursors[stream] = value.isoformat()
    Connection.objects.filter(pk=connection.pk).update(cursors=cursors)
    connection.cursors = cursors
    return cursors[stream]


# --- lock ------------------------------------------------------------------------------------------------------


def _claim(connection: Connection, stream: str, trigger: str, requested_by) -> tuple[SyncRun, bool]:
    """Insert this run as the running one; returns (run, True), or a skipped run and False when one is running."""
    fields = {"connection": connection, "stream": stream, "trigger": trigger, "requested_by": requested_by,
              "cursor_before": str((connection.cursors or {}).get(stream) or "")}
    for _attempt in range(2):
        try:
            with transaction.atomic():
                return SyncRun.objects.create(status=SyncRun.Status.RUNNING, **fields), True
        except IntegrityError:
            now = timezone.now()
            abandoned = SyncRun.objects.filter(
                connection=connection, stream=stream, status=SyncRun.Status.RUNNING,
                heartbeat_at__lt=now - lock_timeout(),
            ).update(status=SyncRun.Status.FAILED, finished_at=now, error_type="Abandoned",
                     error="The worker running this sync stopped answering; the next run took over.")
            if not abandoned:
                break
    now = timezone.now()
    skipped = SyncRun.objects.create(status=SyncRun.Status.SKIPPED, finished_at=now,
                                     error="Another sync of this stream was running.", **fields)
    return skipped, False


def sync_claim(*, connection: Connection, stream: str, trigger: str, requested_by=None) -> tuple[SyncRun, bool]:
    """Claim a run now and run it later (`sync_connection(run_id=...)`): (the new running run, True), or
    (the run already running, False), so a caller can point at the run that will do the work."""
    if stream not in SyncRun.Stream.values:
        raise ValueError(f"Unknown stream {stream!r}; expected one of {SyncRun.Stream.values}")
    run, claimed = _claim(connection, stream, trigger, requested_by)
    if claimed:
        return run, True
    run.delete()  # the skipped row _claim wrote: nothing was skipped, the caller is pointed at the running run
    running = SyncRun.objects.filter(connection=connection, stream=stream, status=SyncRun.Status.RUNNING).first()
    return (running, False) if running is not None else sync_claim(connection=connection, stream=stream,
                                                                   trigger=trigger, requested_by=requested_by)


# --- the run -----------------------------------------------------------------------------------------------------


def sync_connection(*, connection_id: int, stream: str = SyncRun.Stream.ORDERS, since: datetime | None = None,
                    trigger: str = SyncRun.Trigger.SCHEDULE, requested_by=None, run_id: int | None = None) -> SyncRun:
    """Run one sync of one stream of one connection, inline; returns its SyncRun (success, failed or skipped).

    `run_id` is a run already claimed by `sync_claim` (the API answers with its URL before the task runs).
    Errors of the platform are recorded on the run, not raised; an unexpected error (a bug) is recorded
    and raised.
    """
    if stream not in SyncRun.Stream.values:
        raise ValueError(f"Unknown stream {stream!r}; expected one of {SyncRun.Stream.values}")
    if since is not None and timezone.is_naive(since):
        raise ValueError("since must carry a time zone")
    connection = Connection.objects.select_related("shg").get(pk=connection_id)
    claimed_run = SyncRun.objects.filter(pk=run_id, connection=connection).first() if run_id is not None else None
    if run_id is not None and (claimed_run is None or claimed_run.status != SyncRun.Status.RUNNING):
        return claimed_run  # taken over as abandoned while it waited in the queue: nothing left to do
    reason = _why_not_synced(connection, stream)
    if reason and claimed_run is not None:
        SyncRun.objects.filter(pk=claimed_run.pk).update(status=SyncRun.Status.SKIPPED, finished_at=timezone.now(),
                                                         error=reason)
        claimed_run.refresh_from_db()
        return claimed_run
    if reason:
        return SyncRun.objects.create(connection=connection, stream=stream, trigger=trigger, requested_by=requested_by,
                                      status=SyncRun.Status.SKIPPED, finished_at=timezone.now(), error=reason)
    run, claimed = (claimed_run, True) if claimed_run is not None else _claim(connection, stream, trigger, requested_by)
    if not claimed:
        logger.info("sync of connection %s %s skipped: another run holds the lock", connection.pk, stream)
        return run
    connector: Connector | None = None
    progress = _Progress(cursor_after=run.cursor_before)
    with connection_context(connection.pk):  # every log line of the run carries the connection id
        try:
            connector = build_connector(connection)
            if stream == SyncRun.Stream.ORDERS:
                _pull_orders(run, connection, connector, since, progress)
            elif stream == SyncRun.Stream.RATINGS:
                _pull_ratings(run, connection, connector, since, progress)
            else:
                _pull_products(run, connection, connector)
        except (ConnectorError, UnknownPlatform, ImportError) as exc:
            _record_failure(run, connection, connector, exc, progress)
        except Exception as exc:
            _record_failure(run, connection, connector, exc, progress)
            raise
        except BaseException as exc:  # the worker is being stopped: free the lock on the way out
            _record_failure(run, connection, connector, exc, progress)
            raise
        else:
            _record_success(run, connection, connector, progress)
    run.refresh_from_db()
    from apps.ops.services import health_record_run

    health_record_run(run)  # apps.ops: latency, circuit breaker, alerts
    return run


def available_streams(connection: Connection) -> list[str]:
    """The streams this connection's platform offers (what a "Sync now" button may ask for)."""
    try:
        connector_class = connection.connector_class
    except (UnknownPlatform, ImportError):
        return []
    return [stream for stream, capability in STREAM_CAPABILITIES.items() if connector_class.supports(capability)]


def _why_not_synced(connection: Connection, stream: str) -> str:
    """Why this stream of this connection is not read now ("" when it is): a connection waiting for a
    reconnect or disconnected, or a platform that does not offer the stream."""
    if not connection.is_syncable:
        return f"The connection is {connection.get_status_display().lower()}: it is not synced."
    try:
        connector_class = connection.connector_class
    except (UnknownPlatform, ImportError):
        return ""  # the run fails and records why
    if not connector_class.supports(STREAM_CAPABILITIES[stream]):
        return f"{connector_class.name} does not offer its {stream} to Haat."
    return ""


def _stats(connector: Connector | None) -> dict[str, int]:
    if connector is None:
        return {"requests": 0, "retries": 0}
    return {"requests": connector.http.stats.requests, "retries": connector.http.stats.retries}


def _read_page(fetch: Callable[[], Page]) -> Page:
    """Fetch one page; a successful answer whose body could not be read is read once more.

    A body cut short in transit looks exactly like a malformed one (a PermanentError on a 2xx answer); one
    immediate re-read tells a network glitch from a platform that really answers garbage, which then
    fails the run with its raw body kept. Errors with a 4xx status or none are not re-read.
    """
    try:
        return fetch()
    except PermanentError as exc:
        if exc.status_code is None or not 200 <= exc.status_code < 300:
            raise
        logger.info("re-reading a page whose body was unreadable (%s)", exc.message[:200])
        return fetch()


def _pull_orders(run: SyncRun, connection: Connection, connector: Connector, since: datetime | None,
                 progress: _Progress) -> None:
    from apps.orders.services import InvalidOrderData, upsert_orders

    start = window_start(connection=connection, stream=run.stream, since=since)
    SyncRun.objects.filter(pk=run.pk).update(since=start)
    per_page = connector.orders_sorted_by_update
    token: str | None = None
    seen_tokens: set[str] = set()
    pages = 0
    while True:
        page = _read_page(lambda token=token: connector.fetch_orders(since=start, cursor=token))
        pages += 1
        with transaction.atomic():
            try:
                result = upsert_orders(connection=connection, orders=page.items)
            except InvalidOrderData as exc:
                raise PermanentError(f"The connector returned orders that cannot be stored: {exc}") from exc
            newest = max((order.updated_at for order in page.items), default=None)
            if newest is not None and (progress.high_water is None or newest > progress.high_water):
                progress.high_water = newest
            if per_page and progress.high_water is not None:
                progress.cursor_after = _advance_cursor(connection, run.stream, progress.high_water)
            SyncRun.objects.filter(pk=run.pk).update(
                pages=F("pages") + 1, fetched=F("fetched") + len(page.items), created=F("created") + result.created,
                updated=F("updated") + result.updated, unchanged=F("unchanged") + result.unchanged,
                heartbeat_at=timezone.now(), cursor_after=progress.cursor_after, **_stats(connector),
            )
        token = page.next_cursor
        if not token:
            break
        if token in seen_tokens:
            raise PermanentError(f"{connector.name} returned a page cursor it had already returned: paging stopped.")
        if pages >= MAX_PAGES:
            raise PermanentError(f"More than {MAX_PAGES} pages in one run: paging stopped.")
        seen_tokens.add(token)
    if not per_page and progress.high_water is not None:
        with transaction.atomic():
            progress.cursor_after = _advance_cursor(connection, run.stream, progress.high_water)


def _pull_ratings(run: SyncRun, connection: Connection, connector: Connector, since: datetime | None,
                  progress: _Progress) -> None:
    """New ratings and reviews since the stream's cursor, every page; each page commits with its cursor."""
    from apps.reviews.services import InvalidRatingData, reviews_upsert

    start = window_start(connection=connection, stream=run.stream, since=since)
    SyncRun.objects.filter(pk=run.pk).update(since=start)
    token: str | None = None
    seen_tokens: set[str] = set()
    while True:
        page = _read_page(lambda token=token: connector.fetch_ratings(since=start, cursor=token))
        with transaction.atomic():
            try:
                result = reviews_upsert(connection=connection, ratings=page.items)
            except InvalidRatingData as exc:
                raise PermanentError(f"The connector returned ratings that cannot be stored: {exc}") from exc
            newest = max((rating.created_at for rating in page.items), default=None)
            if newest is not None and (progress.high_water is None or newest > progress.high_water):
                progress.high_water = newest
                progress.cursor_after = _advance_cursor(connection, run.stream, newest)
            SyncRun.objects.filter(pk=run.pk).update(
                pages=F("pages") + 1, fetched=F("fetched") + len(page.items), created=F("created") + result.created,
                unchanged=F("unchanged") + result.unchanged, heartbeat_at=timezone.now(),
                cursor_after=progress.cursor_after, **_stats(connector),
            )
        token = page.next_cursor
        if not token:
            break
        if token in seen_tokens or len(seen_tokens) >= MAX_PAGES:
            raise PermanentError(f"{connector.name} kept paging ratings without end: paging stopped.")
        seen_tokens.add(token)


def _pull_products(run: SyncRun, connection: Connection, connector: Connector) -> None:
    """Import the channel's products into the SHG's catalog (new SKUs only; the catalog is the truth)."""
    from apps.catalog.services import channel_products_store
    from apps.orders.services import orderlines_map_variants

    token: str | None = None
    seen_tokens: set[str] = set()
    skipped = 0
    while True:
        page = _read_page(lambda token=token: connector.fetch_products(cursor=token))
        with transaction.atomic():
            # Variants for new SKUs, a listing per SKU'd product, the rest kept for mapping by hand.
            result = channel_products_store(connection=connection, items=page.items,
                                            currency=connector.default_currency)
            skipped += result.unmatched
            SyncRun.objects.filter(pk=run.pk).update(
                pages=F("pages") + 1, fetched=F("fetched") + len(page.items), created=F("created") + result.created,
                unchanged=F("unchanged") + result.matched, heartbeat_at=timezone.now(), **_stats(connector),
            )
        token = page.next_cursor
        if not token:
            break
        if token in seen_tokens or len(seen_tokens) >= MAX_PAGES:
            raise PermanentError(f"{connector.name} kept paging products without end: paging stopped.")
        seen_tokens.add(token)
    with transaction.atomic():
        orderlines_map_variants(shg_id=connection.shg_id)
        if skipped:
            SyncRun.objects.filter(pk=run.pk).update(
                error=f"{skipped} product(s) without a SKU could not be matched: map them by hand on the products page.")


# --- outcomes ---------------------------------------------------------------------------------------------------


def backoff_delay(failures: int, *, retry_after: float | None = None) -> timedelta:
    """The wait before retrying after `failures` consecutive failures: 1, 2, 4... minutes, capped, jittered."""
    exponent = min(max(failures, 1) - 1, 20)
    delay = min(RETRY_BASE * (2 ** exponent), MAX_BACKOFF)
    delay = delay * random.uniform(0.9, 1.1)  # spreads retries of many connections
    if retry_after:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay


def _record_success(run: SyncRun, connection: Connection, connector: Connector | None, progress: _Progress) -> None:
    now = timezone.now()
    with transaction.atomic():
        SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.SUCCESS, finished_at=now, heartbeat_at=now,
                                                 cursor_after=progress.cursor_after, **_stats(connector))
        if run.stream != SyncRun.Stream.ORDERS:
            return  # the schedule, the failure count and the status follow the orders stream
        Connection.objects.filter(pk=connection.pk).update(
            last_sync_at=now, last_success_at=now, consecutive_failures=0, last_error="",
            next_sync_at=now + connection.effective_poll_interval, updated_at=now,
        )
        # A connection that was failing works again (but one disconnected meanwhile stays disconnected).
        Connection.objects.filter(pk=connection.pk, status=Connection.Status.ERROR).update(
            status=Connection.Status.ACTIVE)


def _error_text(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return redact(str(message))[:MAX_ERROR_LENGTH]


def _record_failure(run: SyncRun, connection: Connection, connector: Connector | None, exc: BaseException,
                    progress: _Progress) -> None:
    """Record the failure on the run and the connection, schedule the retry, publish the events.

    Never raises: the caller re-raises the original error when it was not the platform's.
    """
    try:
        _write_failure(run, connection, connector, exc, progress)
    except Exception:
        logger.exception("could not record the failure of sync run %s", run.pk)


def _write_failure(run: SyncRun, connection: Connection, connector: Connector | None, exc: BaseException,
                   progress: _Progress) -> None:
    now = timezone.now()
    message = _error_text(exc)
    is_auth = isinstance(exc, AuthError)
    if isinstance(exc, ConnectorError | UnknownPlatform | ImportError):
        logger.warning("sync of connection %s %s failed: %s", connection.pk, run.stream, type(exc).__name__)
    else:
        logger.error("sync of connection %s %s failed with an unexpected %s", connection.pk, run.stream,
                     type(exc).__name__, exc_info=isinstance(exc, Exception))
    payload = ""
    if isinstance(exc, ConnectorError) and exc.raw:
        payload = redact(exc.raw)[:MAX_PAYLOAD_LENGTH]
    with transaction.atomic():
        locked = Connection.objects.select_for_update().select_related("shg").get(pk=connection.pk)
        # The schedule, the failure count and the status follow the orders stream (the scheduled one); refused
        # credentials are the connection's whatever the stream.
        scheduled = run.stream == SyncRun.Stream.ORDERS
        failures = locked.consecutive_failures + (1 if scheduled else 0)
        updates: dict[str, Any] = {"last_error": message, "updated_at": now}
        if scheduled:
            updates.update(last_sync_at=now, consecutive_failures=failures)
        became_reauth = False
        if is_auth:
            became_reauth = locked.status != Connection.Status.NEEDS_REAUTH
            updates["status"] = Connection.Status.NEEDS_REAUTH
            updates["next_sync_at"] = None
        elif scheduled:
            retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
            updates["next_sync_at"] = now + backoff_delay(failures, retry_after=retry_after)
            if locked.status == Connection.Status.ACTIVE:
                updates["status"] = Connection.Status.ERROR
        Connection.objects.filter(pk=connection.pk).update(**updates)
        SyncRun.objects.filter(pk=run.pk).update(
            status=SyncRun.Status.FAILED, finished_at=now, heartbeat_at=now, error=message,
            error_type=type(exc).__name__[:40], error_payload=payload, cursor_after=progress.cursor_after,
            **_stats(connector),
        )
        publish(type="sync.failed", shg=locked.shg, connection=locked, payload={
            "sync_run_id": run.pk, "stream": run.stream, "error_type": type(exc).__name__, "error": message,
            "consecutive_failures": failures,
            "next_sync_at": updates["next_sync_at"].isoformat() if updates.get("next_sync_at") else None,
        })
        if became_reauth:
            publish(type="connection.needs_reauth", shg=locked.shg, connection=locked,
                    payload={"connection_id": locked.pk, "platform": locked.platform, "error": message})
            transaction.on_commit(lambda: notify_needs_reauth(locked, message))


def coordinator_emails(connection: Connection) -> list[str]:
    """Who looks after this SHG's channels: its coordinators and admins, directly or through its federation."""
    from apps.accounts.models import Membership

    memberships = Membership.objects.filter(
        Q(shg_id=connection.shg_id) | Q(organization_id=connection.shg.federation_id),
        role__in=[Membership.Role.ORG_ADMIN, Membership.Role.COORDINATOR], user__is_active=True,
    ).exclude(user__email="").values_list("user__email", flat=True)
    return sorted(set(memberships))


def notify_needs_reauth(connection: Connection, error: str) -> int:
    """Email the coordinators that a channel stopped accepting Haat's credentials."""
    recipients = coordinator_emails(connection)
    if not recipients:
        return 0
    try:
        path = reverse("integrations:detail", args=[connection.pk])
    except NoReverseMatch:
        path = "/connections/"
    body = (
        f"{connection.display_name} ({connection.platform}) of {connection.shg.name} no longer accepts Haat's "
        f"credentials, so its orders are not being synced.\n\nThe platform said: {error}\n\n"
        f"Reconnect the channel here: {settings.SITE_URL}{path}\n"
    )
    try:
        return send_mail(f"Reconnect {connection.display_name}: orders are not syncing", body, None, recipients)
    except Exception:
        logger.exception("could not email the coordinators of connection %s", connection.pk)
        return 0
