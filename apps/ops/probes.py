"""/healthz and /readyz checks: what a load balancer and an orchestrator ask.

Liveness touches nothing outside the process (a database outage must not get every web worker
restarted). Readiness checks what serving needs: the database, the cache, the task broker, the event
bus when one is configured, and a qcluster that ran its every-minute heartbeat recently.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection as db_connection
from django.utils import timezone

from apps.ops.services import setting


def _database() -> str:
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _cache() -> str:
    key, value = f"haat:readyz:{uuid.uuid4().hex}", "1"
    cache.set(key, value, timeout=10)
    ok = cache.get(key) == value
    cache.delete(key)
    if not ok:
        raise RuntimeError("the cache did not return what was written")
    return "ok"


def _broker() -> str:
    from django_q.brokers import get_broker

    if not get_broker().ping():
        raise RuntimeError("the django-q2 broker did not answer")
    return "ok"


def _event_bus() -> str:
    if not settings.EVENT_BUS_URL:
        return "not configured"
    from kombu import Connection as BrokerConnection

    with BrokerConnection(settings.EVENT_BUS_URL, connect_timeout=3) as bus:
        bus.ensure_connection(max_retries=1, timeout=3)
    return "ok"


def _qcluster() -> str:
    from apps.ops.models import Heartbeat

    max_age = timedelta(seconds=float(setting("OPS_HEARTBEAT_MAX_AGE", 180)))
    beat = Heartbeat.objects.filter(name="qcluster").values_list("beat_at", flat=True).first()
    if beat is None:
        raise RuntimeError("no qcluster heartbeat yet (is `manage.py qcluster` running?)")
    age = timezone.now() - beat
    if age > max_age:
        raise RuntimeError(f"the last qcluster heartbeat is {int(age.total_seconds())} s old")
    return f"ok ({int(age.total_seconds())} s ago)"


_USERINFO = re.compile(r"://[^@/\s]+@")  # broker URLs in error messages carry passwords

CHECKS: dict[str, Callable[[], str]] = {
    "database": _database, "cache": _cache, "broker": _broker, "event_bus": _event_bus, "qcluster": _qcluster,
}


def readiness() -> tuple[bool, dict[str, dict]]:
    """Run every check; returns (all ok, {name: {"status": "ok"|"fail", "detail", "ms"}})."""
    results, ready = {}, True
    for name, check in CHECKS.items():
        started = time.monotonic()
        try:
            detail, status = check(), "ok"
        except Exception as exc:  # each failure is reported, none stops the others
            detail, status, ready = f"{type(exc).__name__}: {_USERINFO.sub('://***@', str(exc))[:200]}", "fail", False
        results[name] = {"status": status, "detail": detail, "ms": round((time.monotonic() - started) * 1000, 1)}
    return ready, results
