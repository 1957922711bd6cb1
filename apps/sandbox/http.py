"""Shared pieces of the sandbox's HTTP face: fault injection around each platform view, JSON answers,
and signed webhook deliveries to the app.

Each platform module (platforms/<slug>.py) supplies its own error and rate-limit answers, so faults
look exactly like the real platform's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

import requests
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from apps.sandbox.faults import FaultRoll, Faults, current_faults, truncate_body

FORCED_FAULTS_KEY = "haat:sandbox:forced-faults"


def force_faults(kind: str, count: int = 1) -> None:
    """Make the next `count` sandbox answers fail as `kind` ("error", "429", "truncate"): for tests."""
    if kind not in ("error", "429", "truncate"):
        raise ValueError(kind)
    cache.set(FORCED_FAULTS_KEY, [kind] * count, timeout=600)


def clear_forced_faults() -> None:
    cache.delete(FORCED_FAULTS_KEY)


# --- stopping one platform (an outage drill: `manage.py sandbox_platform stop <slug>`, or the sandbox page) ------
# A file per stopped platform under SANDBOX_STATE_DIR: the web server that plays the sandbox, the qcluster and
# the command see the same flag without a table, and checking it costs a stat, not a query.


def _stop_flag(slug: str):
    from pathlib import Path

    from django.conf import settings

    if not slug.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"Not a platform slug: {slug!r}")
    return Path(settings.SANDBOX_STATE_DIR) / f"stopped-{slug}"


def platform_stopped(slug: str) -> bool:
    return _stop_flag(slug).exists()


def platform_stop(slug: str) -> None:
    """Every endpoint of this platform answers 503 (in its own error shape) until platform_start."""
    flag = _stop_flag(slug)
    flag.parent.mkdir(parents=True, exist_ok=True)
    flag.touch()


def platform_start(slug: str) -> None:
    _stop_flag(slug).unlink(missing_ok=True)


def stopped_platforms() -> list[str]:
    from pathlib import Path

    from django.conf import settings

    folder = Path(settings.SANDBOX_STATE_DIR)
    return sorted(p.name.removeprefix("stopped-") for p in folder.glob("stopped-*")) if folder.is_dir() else []


def _take_forced_fault() -> str | None:
    queue = cache.get(FORCED_FAULTS_KEY) or []
    if not queue:
        return None
    cache.set(FORCED_FAULTS_KEY, queue[1:], timeout=600)
    return queue[0]

logger = logging.getLogger(__name__)

ErrorRenderer = Callable[[int, str], HttpResponse]


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    response = JsonResponse(data, status=status, safe=False, json_dumps_params={"ensure_ascii": False})
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def read_json(request: HttpRequest) -> Any:
    """The request body as JSON, or None when it is not JSON (platform views answer 400 then)."""
    try:
        return json.loads(request.body or b"null")
    except ValueError:
        return None


def sandbox_endpoint(*, server_error: ErrorRenderer, rate_limited: Callable[[], HttpResponse]):
    """Wrap a platform view with the fault injection of SANDBOX_FAULTS, rendered in the platform's shapes."""

    def decorator(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            if platform_stopped(view.__module__.rsplit(".", 1)[-1]):
                return server_error(503, "Service unavailable (this sandbox platform is stopped)")
            forced = _take_forced_fault()
            faults = current_faults()
            if forced is None and not faults.any:
                return view(request, *args, **kwargs)
            roll = FaultRoll(faults if forced is None else Faults())
            if forced == "error":
                roll.server_error = True
            elif forced == "429":
                roll.rate_limited = True
            elif forced == "truncate":
                roll.truncate = True
            roll.sleep()
            if roll.server_error:
                return server_error(500, "Internal server error (sandbox fault injection)")
            if roll.rate_limited:
                return rate_limited()
            response = view(request, *args, **kwargs)
            if roll.truncate and response.status_code == 200 and not getattr(response, "streaming", False):
                response.content = truncate_body(response.content)
            return response

        return wrapper

    return decorator


def deliver_webhook(url: str, body: bytes, headers: dict[str, str]) -> int | None:
    """POST a signed delivery to the app. Tests replace this to deliver in-process."""
    try:
        response = requests.post(url, data=body, headers=headers, timeout=10)
        return response.status_code
    except requests.RequestException as exc:
        logger.warning("sandbox webhook delivery to %s failed: %s", url.split("?")[0], type(exc).__name__)
        return None
