"""django-q2 tasks of operations and their schedules.

- `ops_tick` every minute: the qcluster heartbeat, probes of open circuit breakers whose cool-down has
  passed, and alert evaluation. One task, so a stuck cluster shows as one stale heartbeat.
- `check_connections` every OPS_CHECK_MINUTES: the periodic `test_connection()` of working connections.
"""

from __future__ import annotations

from apps.ops.alerts import alerts_evaluate
from apps.ops.services import breakers_probe_due, connections_check_due, heartbeat_beat, setting

TICK_SCHEDULE_NAME = "haat: ops tick"
CHECK_SCHEDULE_NAME = "haat: test connections"


def ops_tick() -> dict:
    heartbeat_beat()
    probed = breakers_probe_due()
    result = alerts_evaluate()
    return {"probed": {str(k): v for k, v in probed.items()}, "opened": len(result.opened),
            "resolved": result.resolved, "reminded": result.reminded}


def check_connections() -> int:
    return connections_check_due()


def ensure_schedules() -> None:
    """Create or repair the ops schedules (idempotent; also done by migration 0002)."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(name=TICK_SCHEDULE_NAME, defaults={
        "func": "apps.ops.tasks.ops_tick", "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1})
    Schedule.objects.update_or_create(name=CHECK_SCHEDULE_NAME, defaults={
        "func": "apps.ops.tasks.check_connections", "schedule_type": Schedule.MINUTES,
        "minutes": int(setting("OPS_CHECK_MINUTES", 60)), "repeats": -1})
