"""The trust rules: what the fleet's pace believes, and what it refuses to believe.

The pace (pacing.py) is shared by every process through one record per ADT instance, and
it obeys ADT's ``Retry-After``. Either can be wrong: a machine's clock runs ahead, someone
edits the record by hand, ADT (or anything in between) names a wait of a day. Believed as
they are, any of these closes the instance for the whole fleet, and nothing repairs it.
So:

1. **The cap.** A ``Retry-After`` above ``ADT_RETRY_AFTER_MAX_SECONDS`` (default 60 s; ADT
   sends 5-14 s) is taken as that cap, and the cap is logged. A longer wait helps nobody:
   the gate would close the instance for everyone for the whole of it.
2. **The horizon.** No legitimate record closes an instance further ahead than the longest
   capped ``Retry-After`` plus the longest line a reservation can stand in plus one turn.
   The line is the longer of a request's whole budget (``CANCEL_DEADLINE_SECONDS``: a turn
   it waits for) and ``MAX_LINE_TURNS`` turns (a turn a refused queue request holds for
   its return, the line rule in pacing.py). A time beyond that horizon is corrupt: it is
   read as no time at all, so the next write overwrites it, and it is logged once per gate.
3. **Whose clock.** The record's times are the storage service's clock, one clock for the
   whole fleet: no machine's own. Each process measures its offset to it from the HTTP
   ``Date`` of its own store calls (:class:`StorageClock`): an answer dated second D that
   took from local ``sent`` to ``received`` says the offset lies in ``[D - received,
   D + 1 - sent]``, and each answer narrows the interval. The pace then never sends early
   (it uses the interval's lower end) and leaves the next holder the spacing plus its own
   remaining uncertainty, so that its possibly late send and the next are still a turn
   apart. A process whose clock is certainly more than a second off says so once.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # settings reads this module's defaults, and pacing_store reads settings
    from .pacing_store import PaceRecord

logger = logging.getLogger("cancel_job")

DEFAULT_RETRY_AFTER_CAP_SECONDS = 60.0


def capped_retry_after(seconds: float, cap: float) -> float:
    """Rule 1: the wait to honour for ADT's ``Retry-After`` of ``seconds``."""
    if seconds <= cap:
        return seconds
    logger.warning(
        "ADT asked to wait %.0f s (Retry-After); waiting %g s, the cap (ADT_RETRY_AFTER_MAX_SECONDS)", seconds, cap
    )
    return cap


# A refused queue request holds a turn at most this many turns ahead: 30 minutes at ADT's
# 1 request/s, a backlog of 1,800 cancels. Further back it holds none and comes back when the
# line is shorter. The longer the line, the longer a hand-edited record can close an instance.
MAX_LINE_TURNS = 1800


def max_line_seconds(requests_per_second: float) -> float:
    """How far ahead a refused queue request may hold a turn (none when spacing is off)."""
    return MAX_LINE_TURNS / requests_per_second if requests_per_second > 0 else 0.0


def horizon_seconds(retry_after_cap: float, deadline_seconds: float, requests_per_second: float) -> float:
    """Rule 2: how far ahead of now a record may legitimately hold a time."""
    spacing = 1.0 / requests_per_second if requests_per_second > 0 else 0.0
    line = max(deadline_seconds, max_line_seconds(requests_per_second))
    return retry_after_cap + line + spacing + MAX_UNCERTAINTY_SECONDS


class Bounded(NamedTuple):
    record: PaceRecord
    corrupt: bool  # some time lay beyond the horizon and was dropped


def within_horizon(record: PaceRecord, now: float, horizon: float) -> Bounded:
    """Rule 2 applied to a record read at ``now`` (the same clock as the record's)."""
    limit = now + horizon

    def kept(moment: float) -> float:
        return moment if moment <= limit else -math.inf

    bounded = record._replace(next_turn=kept(record.next_turn), blocked_until=kept(record.blocked_until))
    return Bounded(bounded, bounded != record)


# How far two clocks may drift apart per second between samples (100 ppm is generous for
# NTP-disciplined machines); the offset's interval widens by that much as it ages.
DRIFT_PER_SECOND = 1e-4
# An uncertainty above this (no useful sample yet) counts as this much: a wider one would
# stall the pace for nothing, and one sample already narrows it to about a second.
MAX_UNCERTAINTY_SECONDS = 2.0
SKEW_WARNING_SECONDS = 1.0
# Narrow enough: probing stops here (a few round trips on loopback, more across a region).
PROBE_TARGET_SECONDS = 0.02
# The first probe of a round is sent at least this far ahead, so that none is in the past.
PROBE_LEAD_SECONDS = 0.05
PROBES_PER_ROUND = 8


class StorageClock:
    """This process's estimate of the storage service's clock (rule 3): an interval
    ``[low, high]`` for the offset (service time minus this machine's wall clock)."""

    def __init__(self, wall: Callable[[], float] = time.time, clock: Callable[[], float] = time.monotonic) -> None:
        self._wall, self._clock = wall, clock
        self._lock = threading.Lock()
        self.low, self.high = -math.inf, math.inf
        self._updated: float | None = None  # monotonic time of the last narrowing
        self._warned = False
        self.round_trip = math.inf  # the fastest answer seen: how sharp a sample can be

    def observe(self, sent: float, received: float, server_date: float) -> None:
        """An answer dated ``server_date`` (whole seconds) to a request sent at local wall
        time ``sent`` and answered at ``received``."""
        sample_low, sample_high = server_date - received, server_date + 1.0 - sent
        self.round_trip = min(self.round_trip, received - sent)
        with self._lock:
            low, high = self._aged()
            low, high = max(low, sample_low), min(high, sample_high)
            if low > high:  # this machine's clock was stepped: start again from this answer
                low, high = sample_low, sample_high
            self.low, self.high, self._updated = low, high, self._clock()
        self._warn_if_off(low, high)

    def _aged(self) -> tuple[float, float]:
        if self._updated is None:
            return self.low, self.high
        drift = DRIFT_PER_SECOND * (self._clock() - self._updated)
        return self.low - drift, self.high + drift

    def _warn_if_off(self, low: float, high: float) -> None:
        off = low if low > SKEW_WARNING_SECONDS else high if high < -SKEW_WARNING_SECONDS else None
        if off is None or self._warned:
            return
        self._warned = True
        logger.warning(
            "this machine's clock is at least %.1f s %s the storage service's; the fleet's pace uses the "
            "storage service's time",
            abs(off),
            "behind" if off > 0 else "ahead of",
            extra={"clockOffsetSeconds": round((low + high) / 2, 3)},
        )

    def now(self) -> float:
        """The storage service's time now, never later than it really is (the interval's low
        end); this machine's own time while nothing is known."""
        low, _ = self._aged()
        return self._wall() + (low if math.isfinite(low) else 0.0)

    def probe_round(self) -> list[float]:
        """When to send the probes of one round (seconds from now, ascending): spread over
        the moments at which a request would reach the service just at a second boundary,
        one for each offset across the interval, so that the seconds they are dated split it
        into ``PROBES_PER_ROUND`` parts. Empty: narrow enough."""
        low, high = self._aged()
        if not math.isfinite(high - low):
            return [0.0]
        width = high - low
        if width <= max(PROBE_TARGET_SECONDS, 2 * self.round_trip):
            return []
        half_trip = self.round_trip / 2 if math.isfinite(self.round_trip) else 0.0
        now = self._wall()
        # A request sent at local t reaches the service at t + half_trip + offset: at the
        # boundary B when t = B - offset - half_trip, between B - high - ... and B - low - ...
        boundary = math.ceil(now + high + half_trip + PROBE_LEAD_SECONDS)
        count = min(PROBES_PER_ROUND, math.ceil(width / PROBE_TARGET_SECONDS))
        first = boundary - high - half_trip - now
        return [first + (k + 0.5) * width / count for k in range(count)]

    @property
    def known(self) -> bool:
        """Has any answer been dated yet?"""
        return self._updated is not None

    def uncertainty(self) -> float:
        low, high = self._aged()
        return min(MAX_UNCERTAINTY_SECONDS, high - low) if math.isfinite(high - low) else MAX_UNCERTAINTY_SECONDS
