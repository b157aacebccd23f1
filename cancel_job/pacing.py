"""The pacing rule: one gate per ADT instance, per process, shared by every invocation.

ADT's Jobs API allows about 1 request per second per instance and answers 429 with a
``Retry-After`` of 5-14 s to anything faster (see assumptions.py). A 429 costs far more
than waiting our turn, so every request to an instance passes its gate first:

1. After a 429 with ``Retry-After: N``, nothing goes to that instance, from any thread,
   until N seconds have passed.
2. Requests to one instance are at least ``1 / ADT_JOBS_REQUESTS_PER_SECOND`` apart,
   measured when each is sent (a thread that wakes late does not bunch the next one).
   0 turns spacing off; rule 1 still holds.
3. Waiting counts against the request's deadline. A caller whose turn would come after
   its deadline is told at once how long it would have had to wait, and waits not at all.

Turns are handed out in arrival order. The gate is per process: instances of a scaled-out
app do not coordinate, and the 429 rule (1) is what keeps them in line.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable


class InstanceGate:
    """The gate of one ADT instance."""

    def __init__(
        self,
        requests_per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / requests_per_second if requests_per_second > 0 else 0.0
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._next_turn = float("-inf")  # the earliest time the next caller in line may send
        self._last_sent = float("-inf")
        self._blocked_until = float("-inf")

    def wait_turn(self, not_before: float, deadline: float) -> float | None:
        """Wait until this caller may send (``not_before`` and ``deadline`` on the gate's
        clock). Returns None when it may send now, or, without having waited, how many
        seconds from now its turn would have come when that is past ``deadline``."""
        while True:
            with self._lock:
                now = self._clock()
                turn = max(now, not_before, self._next_turn, self._blocked_until)
                if turn > deadline:
                    return turn - now
                self._next_turn = turn + self.interval
            if turn > now:
                self._sleep(turn - now)
            if self._take_turn():
                return None
            # A 429 arrived while we waited: queue again behind it.

    def _take_turn(self) -> bool:
        while True:
            with self._lock:
                now = self._clock()
                if self._blocked_until > now:
                    return False
                gap = self._last_sent + self.interval - now
                if gap <= 0:
                    self._last_sent = now
                    return True
            self._sleep(gap)  # the previous turn was taken late: keep the spacing

    def throttled(self, retry_after_seconds: float) -> None:
        """ADT answered 429: close the gate for ``retry_after_seconds`` from now."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + retry_after_seconds)


class Pacer:
    """The gates of every ADT instance this process talks to."""

    def __init__(
        self,
        requests_per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.requests_per_second = requests_per_second
        self._clock, self._sleep = clock, sleep
        self._gates: dict[Hashable, InstanceGate] = {}
        self._lock = threading.Lock()

    def gate(self, instance: Hashable) -> InstanceGate:
        gate = self._gates.get(instance)
        if gate is None:
            with self._lock:
                gate = self._gates.setdefault(
                    instance, InstanceGate(self.requests_per_second, self._clock, self._sleep)
                )
        return gate
