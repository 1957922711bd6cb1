"""Fault injection for the sandbox, set by SANDBOX_FAULTS: "error=0.1,429=0.05,latency=0.3,truncate=0.05".

error: share of requests answered with the platform's 5xx; 429: share answered with its rate-limit
answer; latency: seconds of added delay (a float, or "0.1-0.5" for a uniform range); truncate: share of
successful answers whose body is cut in half. Settings are read on every request, so tests override them.
"""

import random
import time
from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class Faults:
    error: float = 0.0
    rate_limit: float = 0.0
    latency: tuple[float, float] = (0.0, 0.0)
    truncate: float = 0.0

    @property
    def any(self) -> bool:
        return bool(self.error or self.rate_limit or self.truncate or self.latency[1])


def parse_faults(spec: str) -> Faults:
    values: dict = {}
    for part in filter(None, (p.strip() for p in (spec or "").split(","))):
        name, _, raw = part.partition("=")
        name = name.strip().lower()
        if name == "latency":
            low, _, high = raw.partition("-")
            values["latency"] = (float(low), float(high or low))
        elif name in ("error", "errors", "5xx"):
            values["error"] = float(raw)
        elif name in ("429", "rate_limit", "ratelimit"):
            values["rate_limit"] = float(raw)
        elif name in ("truncate", "truncated"):
            values["truncate"] = float(raw)
        else:
            raise ValueError(f"Unknown SANDBOX_FAULTS entry {name!r}")
    return Faults(**values)


def current_faults() -> Faults:
    return parse_faults(settings.SANDBOX_FAULTS)


class FaultRoll:
    """One request's draw of faults."""

    def __init__(self, faults: Faults, rng: random.Random | None = None):
        rng = rng or random
        self.faults = faults
        self.server_error = rng.random() < faults.error
        self.rate_limited = not self.server_error and rng.random() < faults.rate_limit
        self.truncate = rng.random() < faults.truncate
        low, high = faults.latency
        self.delay = rng.uniform(low, high) if high else 0.0

    def sleep(self) -> None:
        if self.delay:
            time.sleep(self.delay)


def truncate_body(body: bytes) -> bytes:
    return body[: max(1, len(body) // 2)]
