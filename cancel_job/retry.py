"""The retry rule: what is retried, how long to wait, and when to stop.

Retried: 408, 429, 500, 502, 503, 504, connection failures and read timeouts; never any
other 4xx. The wait is the server's (``Retry-After`` in seconds or as an HTTP date, then
``retry-after-ms``, then ``x-ms-retry-after-ms``), else exponential backoff with full
jitter, and at least 1 s after a 429 or 503 that names no wait (ADT allows about one
request per second). A 401 is retried once, at once, with a new token. A cancel stops
after ``max_attempts`` calls, or as soon as the next wait would pass its deadline; the
caller is then told when to try again. 401 and 403 that persist heal by themselves once a
role assignment propagates: the caller is asked to come back in 30 s.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import NamedTuple

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# The least wait after these when the server names none: ADT allows about 1 request/s.
MIN_WAIT_WITHOUT_RETRY_AFTER = {429: 1.0, 503: 1.0}
# ADT's 401/403: the app's role assignment is missing or still propagating (minutes).
AUTH_STATUSES = frozenset({401, 403})
AUTH_RETRY_AFTER_SECONDS = 30.0


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUSES


def server_retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds the server asked us to wait, or None if it did not say (or said nonsense)."""
    value = headers.get("Retry-After")
    if value is not None:
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            now = now or datetime.now(UTC)
            return max(0.0, (when - now).total_seconds())
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        value = headers.get(name)
        if value is not None:
            try:
                millis = float(value)
            except ValueError:
                continue
            if math.isfinite(millis) and millis >= 0:
                return millis / 1000.0
    return None


class RetryPolicy(NamedTuple):
    max_attempts: int
    deadline_seconds: float
    base_delay_seconds: float = 0.5
    max_delay_seconds: float = 8.0

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**(n-1))] for the n-th retry."""
        ceiling = min(self.max_delay_seconds, self.base_delay_seconds * 2 ** (retry_number - 1))
        return rng.uniform(0, ceiling)

    def wait(self, retry_number: int, rng: random.Random, status: int | None, server_wait: float | None) -> float:
        """How long to wait before the n-th retry after an answer with ``status`` (None: no
        answer at all) whose server asked for ``server_wait`` (None: it did not say)."""
        if server_wait is not None:
            return server_wait
        return max(self.backoff(retry_number, rng), MIN_WAIT_WITHOUT_RETRY_AFTER.get(status or 0, 0.0))


class RetryBudget:
    """The attempts and time left for one cancel (its cancel call and any job read)."""

    def __init__(self, policy: RetryPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.clock = clock
        self.started = clock()

    @property
    def deadline(self) -> float:
        return self.started + self.policy.deadline_seconds

    def elapsed(self) -> float:
        return self.clock() - self.started

    def allows(self, attempts_made: int, wait_seconds: float) -> bool:
        """May we wait ``wait_seconds`` and then make attempt number ``attempts_made + 1``?"""
        if attempts_made >= self.policy.max_attempts:
            return False
        return self.clock() + wait_seconds <= self.deadline
