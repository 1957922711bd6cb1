"""Shared pieces of the sandbox's HTTP face: fault injection around each platform view, JSON answers,
the method-auth-call wrapper of platform API views, the demo's "a buyer just bought" request, and signed
webhook deliveries to the app.

Each platform module (platforms/<slug>.py) supplies its own error, auth and rate-limit answers, so faults
and refusals look exactly like the real platform's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

import requests
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from apps.sandbox.faults import FaultRoll, Faults, current_faults, truncate_body
from apps.sandbox.models import SandboxAccount

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


def platform_api(*, endpoint: Callable, wrong_method: Callable[[HttpRequest], HttpResponse],
                 authenticate: Callable[[HttpRequest, dict], SandboxAccount | HttpResponse],
                 handled: type[Exception], render_error: Callable[[HttpRequest, Any], HttpResponse]):
    """The decorator factory of one platform's authenticated API views: `@api("GET", "POST")` on a view
    `view(request, account, *args, **kwargs)`.

    In this order, as the platforms answer: fault injection (`endpoint`), the method check, the platform's own
    credential check (`authenticate` gets the URL kwargs, returns the account or the refusal to answer),
    then the view, whose `handled` exceptions become the platform's error shape through `render_error`.
    """

    def for_methods(*methods: str):
        def decorator(view: Callable[..., HttpResponse]):
            @endpoint
            @wraps(view)
            def wrapper(request: HttpRequest, *args, **kwargs):
                if request.method not in methods:
                    return wrong_method(request)
                account = authenticate(request, kwargs)
                if isinstance(account, HttpResponse):
                    return account
                try:
                    return view(request, account, *args, **kwargs)
                except handled as exc:
                    return render_error(request, exc)

            return wrapper

        return decorator

    return for_methods


class DemoOrderRefused(Exception):
    """A demo-order request the sandbox cannot serve; the view answers `status` in its platform's error shape."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def read_demo_order(request: HttpRequest, *, platform: str, not_found: str,
                    account_required: str = "account_id is required",
                    whole_quantities: bool = False) -> tuple[SandboxAccount, list[tuple[str, int]] | None]:
    """The demo's "a buyer just bought" body, {"account_id", "skus": [{"sku", "quantity"}]?}: the account and the
    (sku, quantity) pairs, None for "the platform picks". Raises DemoOrderRefused (400 or 404).

    Quantities are left to each platform's create_order unless `whole_quantities` asks for the check here.
    """
    body = read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("account_id"), str):
        raise DemoOrderRefused(400, account_required)
    account = SandboxAccount._default_manager.filter(platform=platform, account_id=body["account_id"]).first()
    if account is None:
        raise DemoOrderRefused(404, not_found)
    if body.get("skus") is None:
        return account, None
    rows = body["skus"]
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise DemoOrderRefused(400, "skus must be a list of {sku, quantity}")
    skus = [(str(row.get("sku", "")), row.get("quantity", 1)) for row in rows]
    if whole_quantities and not all(isinstance(q, int) and not isinstance(q, bool) and q > 0 for _sku, q in skus):
        raise DemoOrderRefused(400, "quantities must be whole numbers of at least 1")
    return account, skus


def store_demo_order_view(request: HttpRequest, *, platform: str,
                          place: Callable[[SandboxAccount, list[tuple[str, int]] | None], dict]) -> HttpResponse:
    """The demo's "a buyer just bought" button for a store sandbox whose errors are {"error": ...} (BigCommerce,
    Magento): POST {"account_id", "skus"?} -> 201 with what `place(account, skus)` answers. Sandbox only, no auth."""
    if request.method != "POST":
        response = HttpResponse(status=405)
        response["Allow"] = "POST"
        return response
    try:
        account, skus = read_demo_order(request, platform=platform, not_found="No sandbox store with that account_id",
                                        account_required="account_id (the store id) is required", whole_quantities=True)
        body = place(account, skus)
    except DemoOrderRefused as exc:
        return JsonResponse({"error": exc.message}, status=exc.status)
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse(body, status=201)


def deliver_webhook(url: str, body: bytes, headers: dict[str, str]) -> int | None:
    """POST a signed delivery to the app. Tests replace this to deliver in-process."""
    try:
        response = requests.post(url, data=body, headers=headers, timeout=10)
        return response.status_code
    except requests.RequestException as exc:
        logger.warning("sandbox webhook delivery to %s failed: %s", url.split("?")[0], type(exc).__name__)
        return None


# --- notification URLs a seller pastes into a marketplace cabinet (Ozon push, Yandex Market API notifications) ----


class CallbackUrlRefused(Exception):
    """The cabinet would not save the URL: its PING got no answer in the documented shape."""


def post_json(url: str, payload: dict, timeout: float) -> tuple[int | None, Any]:
    """POST one notification and read the answer (the cabinet checks the PING's). Tests and the demo seed
    replace it through the platforms' `post=` argument."""
    try:
        response = requests.post(url, json=payload, timeout=timeout)
    except requests.RequestException as exc:
        logger.warning("sandbox notification to %s failed: %s", url.split("?")[0], type(exc).__name__)
        return None, None
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, None


def ping_answer_problem(status: int | None, answer: Any, *, max_name_length: int | None = None) -> str:
    """What is wrong with an answer to a PING: both platforms want 200 with `version`, `name` (Yandex: at most
    `max_name_length` characters) and the `time` of the answer (ISO 8601); "" when it is right."""
    if status != 200:
        return f"answered {status}" if status else "did not answer"
    if not isinstance(answer, dict):
        return "answered without a JSON object"
    for name in ("name", "version"):
        value = answer.get(name)
        if max_name_length is not None and not (isinstance(value, str) and 1 <= len(value) <= max_name_length):
            return f"the answer's {name} must be a string of 1 to {max_name_length} characters"
        if not isinstance(value, str) or not value:
            return f"the answer has no {name}"
    try:
        datetime.fromisoformat(str(answer.get("time")).replace("Z", "+00:00"))
    except ValueError:
        return "the answer's time is not an ISO 8601 date-time"
    return ""


def save_callback_url(account: SandboxAccount, url: Any, *, setting: str, ping: dict, timeout: float,
                      problem: Callable[[int | None, Any], str], refused: type[CallbackUrlRefused], sender: str,
                      post: Callable[[str, dict, float], tuple[int | None, Any]] | None = None) -> None:
    """Save a notification URL in the account's `setting` as a cabinet does: only after `ping` gets the
    documented answer; raises `refused` saying what was wrong."""
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise refused("The address must start with https://")
    status, answer = (post or post_json)(url, ping, timeout)
    wrong = problem(status, answer)
    if wrong:
        kind = ping.get("message_type") or ping.get("notificationType") or "a check"
        raise refused(f"{sender} sent {kind} to {url} and the service {wrong}")
    account.settings = {**account.settings, setting: url}
    account.save(update_fields=["settings"])


def send_to_callback_url(account: SandboxAccount, setting: str, payload: dict, *, kind: str) -> int | None:
    """POST a notification to the URL saved in the account's `setting`, if any; returns the HTTP status."""
    url = account.settings.get(setting)
    if not url:
        return None
    status = deliver_webhook(url, json.dumps(payload).encode(), {"Content-Type": "application/json"})
    if status != 200:
        logger.info("sandbox %s notification answered %s", kind, status)
    return status
