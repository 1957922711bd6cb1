"""The one HTTP layer every platform call goes through.

It gives each call a timeout, waits on a token bucket per (connection, operation) kept in the cache so
the limit holds across workers, retries transient failures and 429s with exponential backoff and jitter
(honouring `Retry-After` and platform rate headers), turns failures into typed connector errors, and
counts requests and retries for the SyncRun.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from django.conf import settings
from django.core.cache import cache
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from apps.integrations.connectors.errors import (
    AuthError,
    ConnectorError,
    PermanentError,
    RateLimited,
    TransientError,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: `rate` requests per second on average, bursts of up to `burst`."""

    rate: float
    burst: int = 1


@dataclass
class RequestStats:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    waited_seconds: float = 0.0
    by_operation: dict[str, int] = field(default_factory=dict)

    def count(self, operation: str) -> None:
        self.requests += 1
        self.by_operation[operation] = self.by_operation.get(operation, 0) + 1


class TokenBucket:
    """GCRA over the Django cache: one key per bucket holding the theoretical arrival time.

    With a shared cache (Redis) all workers draw from the same bucket. Updates are not atomic across
    processes, so under heavy contention a few calls may slip through early; the platform's own 429,
    which the retry loop honours, remains the hard limit.
    """

    _local_lock = threading.Lock()

    def __init__(self, key: str, limit: RateLimit):
        self.key = f"haat:ratelimit:{key}"
        self.interval = 1.0 / limit.rate if limit.rate > 0 else 0.0
        self.tolerance = self.interval * max(limit.burst - 1, 0)

    def reserve(self) -> float:
        """Take one token; return how long the caller must wait before using it."""
        if self.interval == 0:
            return 0.0
        with self._local_lock:
            now = time.time()
            tat = max(float(cache.get(self.key) or now), now)
            wait = max(0.0, tat - self.tolerance - now)
            cache.set(self.key, tat + self.interval, timeout=int(self.tolerance + self.interval) + 60)
        return wait


def retry_after_seconds(headers: Any) -> float | None:
    """Read `Retry-After` (seconds or an HTTP date) or a platform's own reset header."""
    for name in ("Retry-After", "X-Ratelimit-Retry", "X-Rate-Limit-Time-Reset-Ms"):
        value = headers.get(name) if headers is not None else None
        if value in (None, ""):
            continue
        try:
            seconds = float(value)
            return seconds / 1000.0 if name.endswith("-Ms") else seconds
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                continue
    return None


def default_classify(response: requests.Response) -> ConnectorError | None:
    """Map an HTTP status to a typed error; None means the answer is usable."""
    status = response.status_code
    if status < 400:
        return None
    message = f"HTTP {status} from {response.request.method} {_safe_url(response.url)}"
    if status in (401, 403):
        return AuthError(message, raw=response.content, status_code=status)
    if status in (420, 429):
        return RateLimited(message, retry_after=retry_after_seconds(response.headers), raw=response.content,
                           status_code=status)
    if status >= 500 or status == 408:
        return TransientError(message, raw=response.content, status_code=status)
    return PermanentError(message, raw=response.content, status_code=status)


def _safe_url(url: str) -> str:
    """The URL without its query string: queries can carry keys (IndiaMART) and are never logged."""
    return url.split("?", 1)[0]


def new_session() -> requests.Session:
    """The requests session for platform calls. Tests replace this to reach the sandbox in-process."""
    session = requests.Session()
    session.headers["User-Agent"] = "Haat/1.0 (+https://github.com/haat)"
    return session


class HttpClient:
    def __init__(
        self,
        *,
        connection_key: str,
        rate_limits: dict[str, RateLimit] | None = None,
        session: requests.Session | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ):
        self.connection_key = connection_key
        self.rate_limits = rate_limits or {}
        self.session = session or new_session()
        self.timeout = timeout if timeout is not None else settings.HTTP_TIMEOUT
        self.max_retries = max_retries if max_retries is not None else settings.HTTP_MAX_RETRIES
        self.stats = RequestStats()

    # --- rate limiting -------------------------------------------------------------------------------------

    def throttle(self, operation: str) -> None:
        limit = self.rate_limits.get(operation) or self.rate_limits.get("default")
        if limit is None:
            return
        wait = TokenBucket(f"{self.connection_key}:{operation}", limit).reserve()
        if wait > 0:
            wait = min(wait, settings.HTTP_MAX_BACKOFF)
            self.stats.waited_seconds += wait
            time.sleep(wait)

    # --- the call ------------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        operation: str = "default",
        classify: Callable[[requests.Response], ConnectorError | None] = default_classify,
        **kwargs: Any,
    ) -> requests.Response:
        """Send one logical request, retried as needed; return the usable response or raise a typed error."""
        kwargs.setdefault("timeout", self.timeout)
        return self.call_with_retries(lambda: self._send_once(method, url, operation, classify, kwargs), operation)

    def call_with_retries(self, attempt: Callable[[], Any], operation: str = "default") -> Any:
        """Run `attempt` with this client's retry policy (also used by clients that bring their own HTTP)."""
        retrying = Retrying(
            retry=retry_if_exception_type((TransientError, RateLimited)),
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            before_sleep=self._before_sleep,
            sleep=time.sleep,
            reraise=True,
        )
        return retrying(attempt)

    def _send_once(self, method, url, operation, classify, kwargs) -> requests.Response:
        self.throttle(operation)
        self.stats.count(operation)
        try:
            response = self.session.request(method, url, **kwargs)
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise TransientError(f"{type(exc).__name__} calling {method} {_safe_url(url)}") from exc
        error = classify(response)
        if error is not None:
            if isinstance(error, RateLimited):
                self.stats.rate_limited += 1
            raise error
        return response

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return min(exc.retry_after, settings.HTTP_MAX_BACKOFF)
        backoff = min(settings.HTTP_MAX_BACKOFF, 0.5 * (2 ** (state.attempt_number - 1)))
        return random.uniform(backoff / 2, backoff)  # jitter spreads retries of many workers

    def _before_sleep(self, state: RetryCallState) -> None:
        self.stats.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        logger.info("retrying %s after %s (attempt %d)", self.connection_key, type(exc).__name__,
                    state.attempt_number)

    # --- helpers -----------------------------------------------------------------------------------------

    @staticmethod
    def json(response: requests.Response) -> Any:
        """Decode a JSON body; a malformed one is a PermanentError that keeps the raw text."""
        try:
            return response.json()
        except (ValueError, json.JSONDecodeError) as exc:
            raise PermanentError(
                f"Malformed JSON from {_safe_url(response.url)}: {exc}", raw=response.content,
                status_code=response.status_code,
            ) from exc
