"""The pacing rule: one gate per ADT instance, shared by the whole fleet.

ADT's Jobs API allows about 1 request per second per instance and answers 429 with a
``Retry-After`` of 5-14 s to anything faster (see assumptions.py). The limit is the
instance's, whoever calls, and the app runs as a fleet: Flex Consumption runs the queue
function and the HTTP functions in many processes on many machines. A 429 costs far more
than waiting our turn, so every request to an instance passes its gate first:

1. After a 429 with ``Retry-After: N``, nothing goes to that instance, from any thread of
   any process, until N seconds have passed. Of two such 429s, the later end holds.
2. Requests to one instance are at least ``1 / ADT_JOBS_REQUESTS_PER_SECOND`` apart (plus
   ``CLOCK_MARGIN`` of that across processes, for clock skew between machines). 0 turns
   spacing off; rule 1 still holds.
3. Waiting counts against the request's deadline. A caller whose turn would come after
   its deadline is told at once how long it would have had to wait, and waits not at all.
4. The line rule: a backlog drains in order. A refused caller that can come back (a queue
   request, which goes back on the queue for later: deferral.py) holds that turn: the
   record's ``nextTurn`` moves past it, so nobody else takes it, and the request comes
   back shortly before it and uses it. A turn is held at most ``MAX_LINE_TURNS`` turns
   ahead (trust.py); a held turn that a 429 closed, or that its holder came back too late
   for, is void, and the holder queues again. Other callers (HTTP) hold nothing: they
   retry when they like, with ``Retry-After``. In a backlog a process holds turns in blocks
   (one compare-and-swap for each of its callers waiting, up to ``MAX_BLOCK_TURNS``) and
   hands the spares to its next refused callers without a store call: the one record per
   instance must not become the fleet's bottleneck while the backlog is refused.

``ADT_PACING_SCOPE`` chooses who shares a gate. ``shared`` (the default wherever a storage
account is configured): every process, through one record per instance in the storage
account (:class:`SharedGate`, pacing_store.py), changed only by compare-and-swap so that
each turn has exactly one winner. ``process``: each process on its own
(:class:`InstanceGate`); a fleet then keeps in line only through the 429s it gets.

The shared store fails open: when it does not answer within a bounded time, or refuses,
the process paces itself with its own gate, logs that once per outage, and tries the
store again after ``STORE_RETRY_SECONDS``. A 429 costs a delay; a store outage must never
cost a cancel.
"""

from __future__ import annotations

import collections
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Hashable
from typing import NamedTuple, Protocol

from .contract import PACING_FALLBACK, PACING_FIELD, PACING_STORE_ROLE, PacingScope
from .pacing_store import PaceRecord, PaceStore, StoreUnavailable
from .trust import max_line_seconds, within_horizon

logger = logging.getLogger("cancel_job")

# Turns taken by different machines are spaced by this share of a turn more, for the skew
# between their clocks and their paths to ADT: 50 ms at ADT's 1 request/s. Azure's hosts
# keep their clocks within about a millisecond of each other (time sync from the host).
CLOCK_MARGIN = 0.05
# A holder that wakes later than this share of a turn after its turn leaves it empty. Kept
# below the margin, so that the margin's rest (3% of a turn: 30 ms at 1 request/s) covers
# the skew between two machines' clocks: the gap between sends stays at least 1/rate.
SEND_TOLERANCE = 0.02
# Each turn leaves the next holder its uncertainty about the store's clock on top of the
# spacing. A process that just started knows that clock only to a second, so its first
# reservation waits, at most MAX_SETTLE_SECONDS and half its remaining budget, until the
# uncertainty is this share of a turn (about 3 s of probing from a cold start).
SETTLED_UNCERTAINTY = 0.1
MAX_SETTLE_SECONDS = 5.0
# After the store failed, each process paces itself this long before asking it again.
STORE_RETRY_SECONDS = 15.0
# A turn is reserved at least this far ahead of the read that reserves it: twice the
# process's recent write latency (a moving average), 100 ms before its first write. On an
# idle gate the holder can send only once its write has returned; without the lead it would
# send that much after its turn while the next holder, who reserved ahead, sends on time.
WRITE_LEAD_FACTOR = 2.0
WRITE_LEAD_MIN_SECONDS = 0.01
WRITE_LEAD_INITIAL_SECONDS = 0.1
WRITE_LATENCY_WEIGHT = 0.25  # of the newest write in the moving average
# Of two processes that read the same record, one writes it; the other waits up to this
# long (jittered, growing) before it reads again.
CONFLICT_BACKOFF_SECONDS = 0.005
CONFLICT_BACKOFF_CAP_SECONDS = 0.05
# The line rule's blocks: at most this many turns held in one compare-and-swap (the host's
# concurrency per process). A process that stops being refused leaves its spares empty.
MAX_BLOCK_TURNS = 6
# A 429 is written to the record in at most this many tries; past that, the other
# processes' writes are frequent enough that their own 429s are being recorded too.
MAX_THROTTLE_WRITES = 10


class Refusal(NamedTuple):
    """No turn before the caller's deadline."""

    wait: float  # seconds from now until the turn the caller could have had
    turn: float | None = None  # a turn held for the caller's return, on the store's clock (the line rule)


class Place(NamedTuple):
    """What a caller brings to the line: whether it can come back later (a refusal then
    holds it a turn), and the turn an earlier refusal held for it (the store's clock)."""

    can_return: bool = False
    held: float | None = None


NO_PLACE = Place()


class Gate(Protocol):
    def take_turn(self, not_before: float, deadline: float, place: Place = NO_PLACE) -> Refusal | None: ...

    def wait_turn(self, not_before: float, deadline: float) -> float | None: ...

    def throttled(self, retry_after_seconds: float) -> None: ...


class _Waiting:
    def take_turn(self, not_before: float, deadline: float, place: Place = NO_PLACE) -> Refusal | None:
        raise NotImplementedError

    def wait_turn(self, not_before: float, deadline: float) -> float | None:
        """Wait until this caller may send (``not_before`` and ``deadline`` on the gate's
        clock). Returns None when it may send now, or, without having waited, how many
        seconds from now its turn would have come when that is past ``deadline``."""
        refusal = self.take_turn(not_before, deadline)
        return None if refusal is None else refusal.wait


class InstanceGate(_Waiting):
    """The gate of one ADT instance, in this process only: it holds no turns (a caller that
    comes back may come back to another process)."""

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

    def take_turn(self, not_before: float, deadline: float, place: Place = NO_PLACE) -> Refusal | None:
        """Wait until this caller may send (``not_before`` and ``deadline`` on the gate's
        clock): None when it may send now, else, without having waited, a Refusal saying
        how many seconds from now its turn would have come."""
        while True:
            with self._lock:
                now = self._clock()
                turn = max(now, not_before, self._next_turn, self._blocked_until)
                if turn > deadline:
                    return Refusal(turn - now)
                self._next_turn = turn + self.interval
            if turn > now:
                self._sleep(turn - now)
            taken = self._take_turn(deadline)
            if taken is True:
                return None
            if taken is not False:
                return Refusal(taken)  # the spacing would carry it past the deadline
            # A 429 arrived while we waited: queue again behind it.

    def _take_turn(self, deadline: float) -> bool | float:
        """True: sent now. False: a 429 closed the gate meanwhile. A number: the previous
        turn was taken late, and keeping the spacing would pass the deadline; how long."""
        while True:
            with self._lock:
                now = self._clock()
                if self._blocked_until > now:
                    return False
                gap = self._last_sent + self.interval - now
                if gap <= 0:
                    self._last_sent = now
                    return True
                if now + gap > deadline:
                    return gap
            self._sleep(gap)  # the previous turn was taken late: keep the spacing

    def throttled(self, retry_after_seconds: float) -> None:
        """ADT answered 429: close the gate for ``retry_after_seconds`` from now."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + retry_after_seconds)


class StoreHealth:
    """Whether to ask the shared store now; logs each outage once, and its end.

    During an outage one caller at a time probes the store (every ``STORE_RETRY_SECONDS``);
    the others pace by themselves meanwhile rather than each wait out another timeout.
    ``failures`` counts the store's failures, so that a caller who queued while the store
    was still answering sees it has failed since."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._retry_at: float | None = None  # None: the store answers
        self.outages = 0
        self.failures = 0

    @property
    def next_probe_at(self) -> float | None:
        """When the store will be probed next (None: it answers)."""
        return self._retry_at

    def usable(self) -> bool:
        """True when the store answers, or for the one caller whose turn it is to probe it."""
        retry_at = self._retry_at
        if retry_at is None:
            return True
        with self._lock:
            retry_at = self._retry_at  # again, under the lock: another caller may have changed it
            if retry_at is None:
                return True
            if self._clock() < retry_at:
                return False
            self._retry_at = self._clock() + STORE_RETRY_SECONDS  # this caller probes; the others wait for it
            return True

    def failed(self, reason: str, status: int | None = None) -> None:
        with self._lock:
            first = self._retry_at is None
            self.failures += 1
            self._retry_at = self._clock() + STORE_RETRY_SECONDS
        if not first:
            return
        self.outages += 1
        fields = {PACING_FIELD: PACING_FALLBACK, "pacingStoreStatus": status}
        if status in (401, 403):  # not an outage that passes: a role is missing
            logger.error(
                "pacing store unavailable (%s): a configuration error: the app's identity needs %s on the "
                "storage account (infra/modules/storage.bicep assigns it); until it has it, each process "
                "paces ADT by itself and the fleet may draw 429s",
                reason,
                PACING_STORE_ROLE,
                extra=fields,
            )
            return
        logger.warning(
            "pacing store unavailable (%s); each process paces ADT by itself until it answers "
            "again (retried every %g s)",
            reason,
            STORE_RETRY_SECONDS,
            extra=fields,
        )

    def answered(self) -> None:
        if self._retry_at is None:
            return
        with self._lock:
            recovered, self._retry_at = self._retry_at is not None, None
        if recovered:
            logger.warning("pacing store answers again; the fleet shares one pace per ADT instance")


class SharedGate(_Waiting):
    """The gate of one ADT instance, shared by every process through ``store``.

    Times in the record are wall-clock (every machine's clock), the caller's are
    monotonic; each call converts between them. One reservation at a time per process
    (the others of the process wait on a lock), so the store sees at most one writer per
    process. A turn costs two transactions (read, write), a third when it was queued
    (a read after the wait, to see a 429 that arrived meanwhile), and two more per lost
    compare-and-swap.
    """

    def __init__(
        self,
        instance: str,
        store: PaceStore,
        requests_per_second: float,
        fallback: InstanceGate,
        health: StoreHealth,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] | None = None,
        rng: random.Random | None = None,
        horizon: float = math.inf,
    ) -> None:
        """``wall_clock``: the record's clock; by default the store's own time (the trust rules)."""
        self.instance, self.store, self.fallback, self.health = instance, store, fallback, health
        self.horizon = horizon
        self._corrupt_logged = False
        self.spacing = (1.0 + CLOCK_MARGIN) / requests_per_second if requests_per_second > 0 else 0.0
        # A holder later than this for its turn would leave too little of the margin for skew.
        self.tolerance = SEND_TOLERANCE / requests_per_second if requests_per_second > 0 else float("inf")
        self.max_line = max_line_seconds(requests_per_second)
        self._clock, self._sleep, self._wall = clock, sleep, wall_clock or store.now
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._waiting_lock = threading.Lock()  # guards the count, which waiting callers change
        self._waiting = 0  # callers waiting for the lock: a block holds a turn for each
        self._spares: collections.deque[float] = collections.deque()  # held turns nobody has yet (store clock)
        self._write_latency: float | None = None  # moving average, seconds

    def take_turn(self, not_before: float, deadline: float, place: Place = NO_PLACE) -> Refusal | None:
        """As :meth:`InstanceGate.take_turn`, for the whole fleet; and the line rule: a
        refusal holds a turn for a caller that can come back, and a caller that holds one
        uses it."""
        if not self.health.usable():
            return self.fallback.take_turn(not_before, deadline)
        failures_seen = self.health.failures
        held = place.held
        try:
            self.store.prepare()  # the token, before the lock: a slow fetch holds up this caller only
            if self.spacing:  # a process's first turn waits for its clock to be known (trust rule 3)
                now = self._clock()
                until = now + min(MAX_SETTLE_SECONDS, (deadline - now) / 2)
                self.store.settle(self.spacing * SETTLED_UNCERTAINTY, until)
            while True:
                # The callers ahead in this process hold the lock while they reserve: wait for
                # them only until this caller's own deadline.
                if not self._acquire(deadline):
                    return Refusal(self.spacing)
                try:
                    if self.health.failures != failures_seen:  # it failed for the caller ahead of us
                        break
                    reserved = self._held_or_next(held, not_before, deadline, place.can_return)
                    held = None  # a held turn is presented once; after that, the caller queues
                finally:
                    self._lock.release()
                self.health.answered()
                if isinstance(reserved, Refusal):
                    return reserved
                if reserved.queued and self._closed_meanwhile(reserved):
                    continue  # a 429 closed the instance while we waited: queue again behind it
                self._sleep_until(reserved.at)
                if self._clock() - reserved.at <= self.tolerance:
                    return None
                # Too late to use the turn without bunching the next one: leave it empty.
        except StoreUnavailable as exc:
            self.health.failed(str(exc), exc.status)
        return self.fallback.take_turn(not_before, deadline)

    def _acquire(self, deadline: float) -> bool:
        with self._waiting_lock:
            self._waiting += 1
        try:
            return self._lock.acquire(timeout=max(0.0, deadline - self._clock()))
        finally:
            with self._waiting_lock:
                self._waiting -= 1

    def _held_or_next(
        self, held: float | None, not_before: float, deadline: float, can_return: bool
    ) -> _Turn | Refusal:
        """Under the lock: the caller's held turn, else a spare, else the next free turn."""
        reserved = self._use_held(held, deadline) if held is not None else None
        if reserved is None and can_return and held is None:
            reserved = self._use_spare(deadline)
        return reserved if reserved is not None else self._reserve(not_before, deadline, can_return)

    def _use_spare(self, deadline: float) -> _Turn | Refusal | None:
        """A turn this process's block holds and nobody has yet: no store call. Nobody else
        can have an earlier free turn to offer (the record's next turn is past every spare),
        so a spare past the deadline is this caller's refusal, and one before it its turn."""
        now, wall = self._clock(), self._wall()
        while self._spares and self._spares[0] < wall - self.tolerance:
            self._spares.popleft()  # passed unused: the backlog ended here
        if not self._spares:
            return None
        return _claim(self._spares.popleft(), now, wall, deadline)

    def _use_held(self, held: float, deadline: float) -> _Turn | Refusal | None:
        """A turn an earlier refusal held for this caller (the store's clock): a _Turn to use,
        a Refusal holding it still when it is past this delivery's deadline too (the request
        came back early), or None when it is void: a 429 closed it, the caller came back too
        late for it, or it is not a turn the line gave out. The caller then queues anew."""
        current = self.store.read(self.instance)
        now, wall = self._clock(), self._wall()
        record = self._believable(current.record, wall)
        given_out = wall - self.tolerance <= held < record.next_turn
        if not given_out or record.blocked_until > held:
            return None
        return _claim(held, now, wall, deadline)

    def _reserve(self, not_before: float, deadline: float, can_return: bool = False) -> _Turn | Refusal:
        """Take the next free turn by compare-and-swap: a _Turn (monotonic time), or, when
        that is past ``deadline``, a Refusal: how many seconds from now the turn would come,
        and, for a caller that can come back, the turn itself, held for it."""
        conflicts = 0
        while True:
            current = self.store.read(self.instance)
            now, wall = self._clock(), self._wall()
            offset = wall - now  # monotonic -> wall clock, read again each attempt
            record = self._believable(current.record, wall)
            earliest = wall + self._write_lead()
            turn = max(earliest, not_before + offset, record.next_turn, record.blocked_until)
            in_time = turn <= deadline + offset
            if not in_time and not (can_return and self.spacing and turn - wall <= self.max_line):
                return Refusal(turn - wall)
            # The next holder's turn is a spacing after ours, plus how late ours may really be sent.
            step = self.spacing + self.store.uncertainty() if self.spacing else 0.0
            block = 1 if in_time else self._block_size(turn - wall, step)
            if self._timed_write(record._replace(next_turn=turn + block * step), current.etag):
                if in_time:
                    return _Turn(turn - offset, queued=turn > earliest)
                self._spares.extend(turn + k * step for k in range(1, block))
                return Refusal(turn - wall, turn)
            conflicts += 1
            self._sleep(self._rng.uniform(0, min(CONFLICT_BACKOFF_CAP_SECONDS, CONFLICT_BACKOFF_SECONDS * conflicts)))
            if self._clock() >= deadline:  # lost every race until the deadline: a refusal, like a late turn
                # The turn it saw was at or before the deadline, so about now, and someone else
                # took it: the next free one is a spacing away.
                return Refusal(self.spacing)

    def _block_size(self, ahead: float, step: float) -> int:
        """How many turns to hold at once, from ``ahead`` seconds on: one for this caller and
        one for each caller of the process waiting behind it, within the longest line."""
        within_line = 1 + int((self.max_line - ahead) // step) if step else 1
        return max(1, min(MAX_BLOCK_TURNS, 1 + self._waiting, within_line))

    def _closed_meanwhile(self, reserved: _Turn) -> bool:
        """Read the record once more shortly before the turn (a read takes about as long as a
        write), so the read does not make the holder late: did a 429 close the instance?"""
        self._sleep_until(reserved.at - self._write_lead())
        wall = self._wall()
        turn_on_wall = wall + (reserved.at - self._clock())
        return self._believable(self.store.read(self.instance).record, wall).blocked_until > turn_on_wall

    def _believable(self, record: PaceRecord, wall: float) -> PaceRecord:
        """The record less any time beyond the horizon (the trust rules): such a time is
        corrupt, and the next write replaces it. Said once per gate."""
        bounded = within_horizon(record, wall, self.horizon)
        if bounded.corrupt and not self._corrupt_logged:
            self._corrupt_logged = True
            logger.warning(
                "pacing record %s held a time beyond the horizon of %.0f s (nextTurn %+.0f s, blockedUntil %+.0f s "
                "from now): a fast clock, a hand edit or an uncapped Retry-After; it is overwritten",
                self.instance,
                self.horizon,
                record.next_turn - wall,
                record.blocked_until - wall,
            )
        return bounded.record

    def _sleep_until(self, moment: float) -> None:
        delay = moment - self._clock()
        if delay > 0:
            self._sleep(delay)

    def _write_lead(self) -> float:
        if self._write_latency is None:
            return WRITE_LEAD_INITIAL_SECONDS
        return max(WRITE_LEAD_MIN_SECONDS, WRITE_LEAD_FACTOR * self._write_latency)

    def _timed_write(self, record: PaceRecord, etag: str | None) -> bool:
        started = self._clock()
        written = self.store.write(self.instance, record, etag)
        took = self._clock() - started
        previous = self._write_latency
        self._write_latency = took if previous is None else previous + WRITE_LATENCY_WEIGHT * (took - previous)
        return written

    def throttled(self, retry_after_seconds: float) -> None:
        """ADT answered 429: close the instance for every process, until the later of this
        and any earlier 429's end."""
        self.fallback.throttled(retry_after_seconds)
        if not self.health.usable():
            return
        try:
            # Our "now" may be behind the store's by its uncertainty: the block ends no earlier.
            until = self._wall() + retry_after_seconds + self.store.uncertainty()
            for _ in range(MAX_THROTTLE_WRITES):  # each lost race is another process's write: look again
                current = self.store.read(self.instance)
                record = self._believable(current.record, self._wall())
                if record.blocked_until >= until:
                    break
                if self.store.write(self.instance, record._replace(blocked_until=until), current.etag):
                    break
        except StoreUnavailable as exc:
            self.health.failed(str(exc), exc.status)
            return
        self.health.answered()


def _claim(turn: float, now: float, wall: float, deadline: float) -> _Turn | Refusal:
    """A turn that is the caller's own (held for it, or a spare): a _Turn to use when it
    comes by ``deadline`` (``now`` and ``deadline`` monotonic, ``turn`` and ``wall`` on the
    store's clock), else a Refusal that keeps holding it."""
    if turn > deadline + (wall - now):
        return Refusal(turn - wall, turn)
    return _Turn(turn - (wall - now), queued=True)


class _Turn(NamedTuple):
    """A reserved turn, on the caller's (monotonic) clock. ``queued``: it waits behind
    another holder's turn, a 429 or a backoff (worth a second look before it is used),
    not only for its own write's lead."""

    at: float
    queued: bool


StoreFactory = Callable[[], PaceStore]


class Pacer:
    """The gates of every ADT instance this process talks to: shared by the fleet when a
    ``store_factory`` is given, else this process's own."""

    def __init__(
        self,
        requests_per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        store_factory: StoreFactory | None = None,
        horizon: float = math.inf,
    ) -> None:
        """``horizon``: how far ahead a shared record may hold a time (the trust rules)."""
        self.requests_per_second = requests_per_second
        self.horizon = horizon
        self._clock, self._sleep = clock, sleep
        self._store_factory = store_factory
        self._store: PaceStore | None = None
        self.health = StoreHealth(clock)
        self._gates: dict[Hashable, Gate] = {}
        self._local: dict[Hashable, InstanceGate] = {}  # each instance's own gate, kept across retries
        self._lock = threading.Lock()

    def gate(self, instance: Hashable) -> Gate:
        gate = self._gates.get(instance)
        if gate is None:
            with self._lock:
                gate = self._gates.get(instance) or self._new_gate(instance)
        return gate

    @property
    def store(self) -> PaceStore | None:
        return self._store

    @property
    def pacing_in_effect(self) -> str:
        """How this process paces now: ``shared`` (the fleet's store), ``process`` (on its own
        by choice) or ``fallback`` (the store is configured but out, refused or not built)."""
        if self._store_factory is None:
            return PacingScope.PROCESS.value
        if self.health.next_probe_at is not None:
            return PACING_FALLBACK
        return PacingScope.SHARED.value

    def _new_gate(self, instance: Hashable) -> Gate:
        """Under the lock: the instance's gate, cached once it is final. A store that could not
        be built is built again at the next probe, not given up on for the process's life."""
        local = self._local.get(instance) or self._local.setdefault(
            instance, InstanceGate(self.requests_per_second, self._clock, self._sleep)
        )
        if self._store_factory is None:
            self._gates[instance] = local
            return local
        if self._store is None:
            if not self.health.usable():
                return local
            try:
                self._store = self._store_factory()
            except Exception as exc:  # a store that cannot be built (its settings): pace alone for now
                self.health.failed(f"{type(exc).__name__}: {exc}")
                return local
        gate = self._gates[instance] = SharedGate(
            record_name(instance),
            self._store,
            self.requests_per_second,
            local,
            self.health,
            self._clock,
            self._sleep,
            horizon=self.horizon,
        )
        return gate


def record_name(instance: Hashable) -> str:
    """The shared record's name for an instance: its host, and its port unless the default."""
    host, port = getattr(instance, "host", None), getattr(instance, "port", None)
    if host is None:
        return str(instance)
    return host if port in (None, 443) else f"{host}-{port}"
