"""Prometheus metrics computed from the database at scrape time.

Why not counters in process memory: syncs and webhooks run in qcluster processes, pages in gunicorn
workers, and each keeps its own memory; prometheus-client's multiprocess mode would need a shared
directory on every machine and cleanup of dead workers' files. Every number here is already a row
(SyncRun, WebhookEvent, django-q2's queue, ConnectionHealth, Alert), so a scrape reads the truth with a
few aggregate queries, whichever process or machine did the work. Totals are over the rows kept (sync
runs and webhook deliveries are purged after their retention), which Prometheus' rate() tolerates as
counter resets.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import CollectorRegistry

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 900)


class DatabaseCollector:
    """Reads every metric from the database when scraped."""

    def collect(self):
        yield from _sync_metrics()
        yield from _webhook_metrics()
        yield from _queue_metrics()
        yield from _health_metrics()


def _sync_metrics():
    from apps.integrations.models import SyncRun

    runs = CounterMetricFamily("haat_sync_runs", "Sync runs by platform, stream and outcome.",
                               labels=["platform", "stream", "status"])
    requests = CounterMetricFamily("haat_platform_requests", "HTTP requests sync runs made, by platform.",
                                   labels=["platform"])
    retries = CounterMetricFamily("haat_platform_retries", "Retried HTTP requests of sync runs, by platform.",
                                  labels=["platform"])
    errors = CounterMetricFamily("haat_sync_errors", "Failed sync runs by platform and error type.",
                                 labels=["platform", "error_type"])
    totals: dict[str, list[int]] = {}
    for row in (SyncRun.objects.values("connection__platform", "stream", "status")
                .annotate(n=Count("id"), req=Sum("requests"), ret=Sum("retries")).order_by()):
        platform = row["connection__platform"]
        runs.add_metric([platform, row["stream"], row["status"]], row["n"])
        total = totals.setdefault(platform, [0, 0])
        total[0] += row["req"] or 0
        total[1] += row["ret"] or 0
    for platform, (req, ret) in sorted(totals.items()):
        requests.add_metric([platform], req)
        retries.add_metric([platform], ret)
    for row in (SyncRun.objects.filter(status=SyncRun.Status.FAILED)
                .values("connection__platform", "error_type").annotate(n=Count("id")).order_by()):
        errors.add_metric([row["connection__platform"], row["error_type"] or "unknown"], row["n"])
    yield from (runs, requests, retries, errors)

    duration = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    buckets = {f"le{b}": Count("id", filter=Q(took__lte=timedelta(seconds=b))) for b in LATENCY_BUCKETS}
    latency = HistogramMetricFamily("haat_sync_duration_seconds", "How long finished sync runs took.",
                                    labels=["platform"])
    for row in (SyncRun.objects.filter(finished_at__isnull=False).exclude(status=SyncRun.Status.SKIPPED)
                .annotate(took=duration).values("connection__platform")
                .annotate(n=Count("id"), total=Sum("took"), **buckets).order_by()):
        total = row["total"]
        seconds = total.total_seconds() if hasattr(total, "total_seconds") else float(total or 0) / 1e6
        latency.add_metric([row["connection__platform"]],
                           [(str(float(b)), row[f"le{b}"]) for b in LATENCY_BUCKETS] + [("+Inf", row["n"])],
                           sum_value=seconds)
    yield latency


def _webhook_metrics():
    from apps.integrations.models import WebhookEvent

    events = CounterMetricFamily("haat_webhook_events", "Inbound webhook deliveries by platform and status.",
                                 labels=["platform", "status"])
    for row in WebhookEvent.objects.values("platform", "status").annotate(n=Count("id")).order_by():
        events.add_metric([row["platform"], row["status"]], row["n"])
    yield events


def _queue_metrics():
    from django_q.brokers import get_broker
    from django_q.models import Failure

    from apps.ops.models import Heartbeat

    depth = GaugeMetricFamily("haat_task_queue_depth", "Tasks waiting in the django-q2 broker.")
    try:
        depth.add_metric([], get_broker().queue_size() or 0)
    except Exception:  # a broker that is down has no depth; /readyz says why
        logger.warning("could not read the task queue depth", exc_info=True)
    yield depth
    yield GaugeMetricFamily("haat_tasks_failed", "django-q2 tasks kept as failed.", value=Failure.objects.count())
    beat = Heartbeat.objects.filter(name="qcluster").values_list("beat_at", flat=True).first()
    if beat is not None:
        yield GaugeMetricFamily("haat_qcluster_heartbeat_age_seconds", "Seconds since the qcluster's heartbeat.",
                                value=(timezone.now() - beat).total_seconds())


def _health_metrics():
    from apps.integrations.models import Connection
    from apps.ops.models import Alert, ConnectionHealth

    connections = GaugeMetricFamily("haat_connections", "Connections by platform, status and breaker state.",
                                    labels=["platform", "status", "breaker"])
    for row in (Connection.objects.values("platform", "status", "health__breaker").annotate(n=Count("id"))
                .order_by()):
        connections.add_metric([row["platform"], row["status"], row["health__breaker"] or "closed"], row["n"])
    yield connections
    last = GaugeMetricFamily("haat_connection_last_sync_latency_seconds",
                             "Latency of each connection's last orders sync.", labels=["platform", "connection"])
    for platform, pk, value in (ConnectionHealth.objects.filter(last_latency__isnull=False)
                                .values_list("connection__platform", "connection_id", "last_latency")):
        last.add_metric([platform, str(pk)], value)
    yield last
    alerts = GaugeMetricFamily("haat_alerts_open", "Open alerts by kind.", labels=["kind"])
    for row in Alert.objects.filter(status=Alert.Status.OPEN).values("kind").annotate(n=Count("id")).order_by():
        alerts.add_metric([row["kind"]], row["n"])
    yield alerts


def render_metrics() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    return generate_latest(registry)
