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
   capped ``Retry-After`` plus the longest queue a reservation can stand in (a request's
   whole budget, ``CANCEL_DEADLINE_SECONDS``, since a turn past the deadline is never
   reserved) plus one turn. A time beyond that horizon is corrupt: it is read as no time at
   all, so the next write overwrites it, and it is logged once per gate.
3. **Whose clock.** The record's times are wall-clock seconds, each process's own. The
   horizon bounds what a skewed clock can do to the others (a process minutes fast no
   longer stalls the fleet); it does not make two skewed machines keep a common pace.
"""

from __future__ import annotations

import logging
import math
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


def horizon_seconds(retry_after_cap: float, deadline_seconds: float, spacing: float) -> float:
    """Rule 2: how far ahead of now a record may legitimately hold a time."""
    return retry_after_cap + deadline_seconds + spacing


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
