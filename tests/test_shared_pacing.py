"""The fleet-wide pacing rule (cancel_job/pacing.py SharedGate) on a fake clock.

The store here is an in-memory compare-and-swap store with the same contract as the blob
store, so the rule can be driven step by step; tests/test_fleet.py runs the real blob
store in Azurite with several processes.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time

import pytest

from cancel_job.pacing import (
    CLOCK_MARGIN,
    SEND_TOLERANCE,
    STORE_RETRY_SECONDS,
    WRITE_LEAD_INITIAL_SECONDS,
    WRITE_LEAD_MIN_SECONDS,
    InstanceGate,
    Pacer,
    SharedGate,
    StoreHealth,
    record_name,
)
from cancel_job.pacing_store import PaceRecord, StoreUnavailable, Versioned
from tests.helpers import wait_for
from tests.test_pacing import FakeTime


class MemoryStore:
    """Compare-and-swap on a dict; can lose a race on demand, or fail like an outage."""

    def __init__(self) -> None:
        self.records: dict[str, tuple[PaceRecord, str]] = {}
        self.version = 0
        self.transactions = 0
        self.broken: Exception | None = None
        self.before_write = None  # something another process does between our read and write

    def prepare(self) -> None:
        if self.broken is not None:
            raise self.broken

    def now(self) -> float:  # the tests give each gate its wall clock; this one is exact
        return time.time()

    def uncertainty(self) -> float:
        return 0.0

    def settle(self, uncertainty: float, until: float) -> None:
        pass

    def read(self, instance: str) -> Versioned:
        self._transaction()
        if instance not in self.records:
            return Versioned(PaceRecord(), None)
        record, etag = self.records[instance]
        return Versioned(record, etag)

    def write(self, instance: str, record: PaceRecord, etag: str | None) -> bool:
        self._transaction()
        if self.before_write is not None:
            action, self.before_write = self.before_write, None
            action()
        current = self.records.get(instance)
        if (current[1] if current else None) != etag:
            return False
        self.version += 1
        self.records[instance] = (record, f'"{self.version}"')
        return True

    def _transaction(self) -> None:
        self.transactions += 1
        if self.broken is not None:
            raise self.broken


class Fleet:
    """Gates of several 'processes' on one store and one clock (wall = monotonic + 1e9)."""

    OFFSET = 1e9

    def __init__(self, rate: float = 1.0) -> None:
        self.time = FakeTime()
        self.store = MemoryStore()
        self.rate = rate

    def wall(self) -> float:
        return self.time.now + self.OFFSET

    def gate(self, horizon: float = float("inf"), skew: float = 0.0, late: float = 0.0) -> SharedGate:
        """A process's gate; ``skew``: its wall clock that far ahead; ``late``: it wakes
        that much after every sleep (a busy machine)."""
        local = InstanceGate(self.rate, self.time.clock, self.time.sleep)
        return SharedGate(
            "adt.example",
            self.store,
            self.rate,
            local,
            StoreHealth(self.time.clock),
            self.time.clock,
            (lambda seconds: self.time.sleep(seconds + late)) if late else self.time.sleep,
            lambda: self.wall() + skew,
            random.Random(1),
            horizon=horizon,
        )

    def record(self) -> PaceRecord:
        return self.store.records["adt.example"][0]


def test_processes_take_turns_one_spacing_apart() -> None:
    fleet = Fleet(rate=2.0)
    gates = [fleet.gate() for _ in range(3)]
    sent = []
    for gate in gates * 2:
        assert gate.wait_turn(fleet.time.now, fleet.time.now + 60) is None
        sent.append(fleet.time.now)
    spacing = (1 + CLOCK_MARGIN) / 2.0
    assert [round(b - a, 6) for a, b in itertools.pairwise(sent)] == [round(spacing, 6)] * 5


def test_a_turn_past_the_deadline_is_refused_at_once_and_reserves_nothing() -> None:
    fleet = Fleet(rate=1.0)
    first, second = fleet.gate(), fleet.gate()
    assert first.wait_turn(fleet.time.now, fleet.time.now + 60) is None
    before, slept = fleet.record(), len(fleet.time.sleeps)
    wait = second.wait_turn(fleet.time.now, fleet.time.now + 0.5)
    assert wait == pytest.approx(1 + CLOCK_MARGIN)
    assert len(fleet.time.sleeps) == slept  # refused without waiting
    assert fleet.record() == before  # and nothing reserved


def test_a_429_in_one_process_closes_the_instance_for_the_others() -> None:
    fleet = Fleet(rate=0)  # spacing off: only the 429 rule
    one, other = fleet.gate(), fleet.gate()
    one.throttled(7.0)
    started = fleet.time.now
    assert other.wait_turn(started, started + 60) is None
    assert fleet.time.now - started == pytest.approx(7.0)


@pytest.mark.parametrize("first, second", [(9.0, 3.0), (3.0, 9.0)])
def test_of_two_429s_the_later_end_holds(first: float, second: float) -> None:
    fleet = Fleet(rate=0)
    a, b, c = fleet.gate(), fleet.gate(), fleet.gate()
    started = fleet.time.now
    a.throttled(first)
    b.throttled(second)
    assert fleet.record().blocked_until == pytest.approx(started + fleet.OFFSET + 9.0)
    assert c.wait_turn(started, started + 60) is None
    assert fleet.time.now - started == pytest.approx(9.0)


def test_a_429_that_arrives_while_a_turn_is_awaited_sends_it_behind_the_block() -> None:
    fleet = Fleet(rate=1.0)
    a, b = fleet.gate(), fleet.gate()
    assert a.wait_turn(fleet.time.now, fleet.time.now + 60) is None
    started = fleet.time.now
    fleet.time.on_sleep = lambda: a.throttled(5.0)  # while b sleeps towards its turn
    assert b.wait_turn(started, started + 60) is None
    # b slept until shortly before its turn (a write's lead early, to look again in time);
    # the 429 then closed the instance for 5 s from there.
    assert fleet.time.now - started == pytest.approx((1 + CLOCK_MARGIN) - WRITE_LEAD_MIN_SECONDS + 5.0)


def test_a_holder_that_wakes_too_late_leaves_its_turn_empty_and_takes_the_next() -> None:
    fleet = Fleet(rate=1.0)
    first, late = fleet.gate(), fleet.gate()
    started = fleet.time.now
    assert first.wait_turn(started, started + 60) is None
    turn = fleet.time.now + 1 + CLOCK_MARGIN

    def wake_late() -> None:
        fleet.time.now += 0.2  # a scheduler that woke the holder 0.2 s late

    fleet.time.on_sleep = wake_late
    assert late.wait_turn(fleet.time.now, fleet.time.now + 60) is None
    # Sending 0.19 s after its turn would have come closer than 1 s to the next turn's holder.
    assert fleet.time.now == pytest.approx(turn + 1 + CLOCK_MARGIN)


def test_losing_every_race_until_the_deadline_is_a_refusal_not_a_spin() -> None:
    fleet = Fleet(rate=1.0)
    gate = fleet.gate()
    fleet.store.write = lambda *args: False  # another process always writes first
    started = fleet.time.now
    assert gate.wait_turn(started, started + 0.2) == pytest.approx(1 + CLOCK_MARGIN)
    assert fleet.time.now - started < 0.3  # it gave up at the deadline


def test_a_lost_compare_and_swap_reads_again_and_takes_the_next_turn() -> None:
    fleet = Fleet(rate=1.0)
    mine, theirs = fleet.gate(), fleet.gate()
    started = fleet.time.now
    sent = []
    fleet.store.before_write = lambda: sent.append(theirs.wait_turn(started, started + 60) or fleet.time.now)
    assert mine.wait_turn(started, started + 60) is None  # they won the race; we read again
    assert fleet.time.now - sent[0] == pytest.approx(1 + CLOCK_MARGIN)  # the turn after theirs
    assert fleet.record().next_turn == pytest.approx(fleet.wall() + 1 + CLOCK_MARGIN)


@pytest.mark.parametrize(
    "error",
    [
        StoreUnavailable("ServiceResponseError"),
        StoreUnavailable("HttpResponseError (HTTP 403)"),
    ],
)
def test_an_unavailable_store_falls_back_to_the_process_gate_and_logs_once(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cancel_job")
    fleet = Fleet(rate=1.0)
    gate = fleet.gate()
    fleet.store.broken = error
    sent = []
    for _ in range(3):
        assert gate.wait_turn(fleet.time.now, fleet.time.now + 60) is None
        sent.append(fleet.time.now)
    assert [b - a for a, b in itertools.pairwise(sent)] == [1.0, 1.0]  # the process gate's spacing
    outages = [r for r in caplog.records if "pacing store unavailable" in r.getMessage()]
    assert len(outages) == 1
    assert str(error) in outages[0].getMessage()


def test_after_an_outage_the_store_is_asked_again_and_its_recovery_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="cancel_job")
    fleet = Fleet(rate=1.0)
    gate = fleet.gate()
    fleet.store.broken = StoreUnavailable("ServiceRequestError")
    assert gate.wait_turn(fleet.time.now, fleet.time.now + 60) is None
    asked = fleet.store.transactions
    assert gate.wait_turn(fleet.time.now, fleet.time.now + 60) is None
    assert fleet.store.transactions == asked  # not asked during the pause
    fleet.store.broken = None
    fleet.time.now += STORE_RETRY_SECONDS
    assert gate.wait_turn(fleet.time.now, fleet.time.now + 60) is None
    assert fleet.store.transactions > asked
    assert any("answers again" in r.getMessage() for r in caplog.records)


def test_a_429_during_an_outage_still_closes_this_process_gate() -> None:
    fleet = Fleet(rate=0)
    gate = fleet.gate()
    fleet.store.broken = StoreUnavailable("ServiceRequestError")
    started = fleet.time.now
    gate.throttled(4.0)
    assert gate.wait_turn(started, started + 60) is None
    assert fleet.time.now - started == pytest.approx(4.0)


def test_a_turn_costs_two_transactions_and_a_third_after_a_queued_wait() -> None:
    fleet = Fleet(rate=1.0)
    gate = fleet.gate()
    gate.wait_turn(fleet.time.now, fleet.time.now + 60)
    assert fleet.store.transactions == 2  # read, write; waits only its write's lead
    gate.wait_turn(fleet.time.now, fleet.time.now + 60)
    assert fleet.store.transactions == 5  # read, write, and a read after waiting behind the first


def test_a_turn_on_an_idle_gate_is_reserved_a_write_ahead_so_it_is_sent_on_time() -> None:
    fleet = Fleet(rate=1.0)
    gate = fleet.gate()
    started = fleet.time.now
    assert gate.wait_turn(started, started + 60) is None
    assert fleet.time.now - started == pytest.approx(WRITE_LEAD_INITIAL_SECONDS)  # no write measured yet
    assert fleet.record().next_turn == pytest.approx(fleet.wall() + 1 + CLOCK_MARGIN)
    fleet.time.now += 5  # idle again; the fake store's writes took no time: the least lead
    started = fleet.time.now
    assert gate.wait_turn(started, started + 60) is None
    assert fleet.time.now - started == pytest.approx(WRITE_LEAD_MIN_SECONDS)


def test_a_damaged_record_is_read_as_empty_and_replaced() -> None:
    assert PaceRecord.from_json(b"not json") == PaceRecord()
    assert PaceRecord.from_json(b'{"nextTurn": "soon", "blockedUntil": true}') == PaceRecord()
    assert PaceRecord.from_json(b"[1, 2]") == PaceRecord()
    assert PaceRecord.from_json(PaceRecord(5.5, 7.0).to_json().encode()) == PaceRecord(5.5, 7.0)
    assert PaceRecord.from_json(PaceRecord().to_json().encode()) == PaceRecord(0.0, 0.0)


def test_pacer_without_a_store_gives_process_gates_and_with_one_shared_gates() -> None:
    assert isinstance(Pacer(1.0).gate("a"), InstanceGate)
    store = MemoryStore()
    assert isinstance(Pacer(1.0, store_factory=lambda: store).gate("a"), SharedGate)


def test_a_store_that_cannot_be_built_leaves_the_process_gate(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="cancel_job")

    def broken() -> MemoryStore:
        raise ValueError("STORAGE_CONNECTION names no BlobEndpoint")

    pacer = Pacer(1.0, store_factory=broken)
    assert isinstance(pacer.gate("a"), InstanceGate)
    assert "(ValueError: STORAGE_CONNECTION names no BlobEndpoint)" in caplog.text


def test_the_record_name_is_the_host_and_a_port_other_than_443() -> None:
    from cancel_job.endpoints import parse_endpoint

    assert (
        record_name(parse_endpoint("https://my.api.weu.digitaltwins.azure.net")) == "my.api.weu.digitaltwins.azure.net"
    )
    assert record_name(parse_endpoint("http://127.0.0.1:8123")) == "127.0.0.1-8123"


# -- Edges pinned exactly (each found by make mutate) ---------------------------------------


def test_the_store_is_asked_again_exactly_when_the_retry_time_comes() -> None:
    time = FakeTime()
    health = StoreHealth(time.clock)
    health.failed("down")
    time.now += 14.99
    assert not health.usable()
    time.now += 0.01  # 15 s after the failure
    assert health.usable()


def test_each_outage_is_counted_once() -> None:
    time = FakeTime()
    health = StoreHealth(time.clock)
    for _ in range(2):
        health.failed("down")
        health.failed("still down")
        health.answered()
    assert health.outages == 2


def test_an_outage_and_its_end_are_logged_in_full(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="cancel_job")
    time = FakeTime()
    health = StoreHealth(time.clock)
    health.answered()  # never failed: nothing to say
    assert caplog.messages == []
    health.failed("boom")
    health.answered()
    assert health.usable()  # at once, not only after the retry time
    assert caplog.messages == [
        f"pacing store unavailable (boom); each process paces ADT by itself until it answers again "
        f"(retried every {STORE_RETRY_SECONDS:g} s)",
        "pacing store answers again; the fleet shares one pace per ADT instance",
    ]


def test_a_gate_without_a_rate_has_no_spacing_and_its_tolerance_follows_the_rate() -> None:
    assert Fleet(rate=0.0).gate().spacing == 0.0
    assert Fleet(rate=2.0).gate().tolerance == pytest.approx(SEND_TOLERANCE / 2.0)
    assert Fleet(rate=2.0).gate().spacing == pytest.approx((1 + CLOCK_MARGIN) / 2.0)


def test_a_turn_waits_for_the_callers_own_not_before() -> None:
    fleet = Fleet(rate=1.0)
    started = fleet.time.now
    assert fleet.gate().wait_turn(started + 5, started + 60) is None
    assert fleet.time.now == pytest.approx(started + 5)


def test_a_turn_exactly_at_the_deadline_is_still_taken() -> None:
    fleet = Fleet(rate=1.0)
    when = fleet.time.now + 5
    assert fleet.gate().wait_turn(when, when) is None
    assert fleet.time.now == pytest.approx(when)


def test_lost_races_back_off_more_with_each_conflict() -> None:
    fleet = Fleet(rate=1.0)
    gate = fleet.gate()
    fleet.store.write = lambda *args: False
    started = fleet.time.now
    gate.wait_turn(started, started + 5)
    rng = random.Random(1)
    # 5 ms more of backoff range per conflict, up to 50 ms from the tenth on.
    expected = [rng.uniform(0, min(0.05, 0.005 * k)) for k in range(1, 13)]
    assert fleet.time.sleeps[:12] == pytest.approx(expected)


def test_the_write_lead_follows_a_moving_average_of_write_latency() -> None:
    fleet = Fleet(rate=1.0)
    gate = fleet.gate()
    latencies = iter([0.1, 0.3])
    real_write = fleet.store.write

    def slow_write(*args: object) -> bool:
        fleet.time.now += next(latencies)
        return real_write(*args)

    fleet.store.write = slow_write
    started = fleet.time.now
    gate.wait_turn(started, started + 60)
    assert gate._write_lead() == pytest.approx(0.2)  # twice the one write seen
    gate.wait_turn(fleet.time.now, fleet.time.now + 60)
    assert gate._write_lead() == pytest.approx(2 * (0.1 + 0.25 * (0.3 - 0.1)))  # the newest weighs a quarter


def test_a_429_already_recorded_until_the_same_time_is_not_written_again() -> None:
    fleet = Fleet(rate=1.0)
    gate = fleet.gate()
    gate.throttled(5.0)
    before = fleet.store.transactions
    gate.throttled(5.0)  # the same end: one read, no write
    assert fleet.store.transactions - before == 1


def test_a_429_written_after_an_outage_reports_the_store_back(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="cancel_job")
    fleet = Fleet(rate=1.0)
    gate = fleet.gate()
    gate.health.failed("down")
    fleet.time.now += STORE_RETRY_SECONDS
    gate.throttled(5.0)
    assert caplog.messages[-1] == "pacing store answers again; the fleet shares one pace per ADT instance"
    assert fleet.record().blocked_until == pytest.approx(fleet.wall() + 5.0)


def test_a_429_the_record_already_covers_still_reports_the_store_back(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="cancel_job")
    fleet = Fleet(rate=1.0)
    gate = fleet.gate()
    gate.throttled(60.0)
    gate.health.failed("down")
    fleet.time.now += STORE_RETRY_SECONDS
    gate.throttled(5.0)  # the record's block ends later already: no write, and the store answered
    assert caplog.messages[-1] == "pacing store answers again; the fleet shares one pace per ADT instance"


def test_a_429_that_cannot_be_shared_says_why(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="cancel_job")
    fleet = Fleet(rate=1.0)
    gate = fleet.gate()
    fleet.store.broken = StoreUnavailable("HttpResponseError (HTTP 503)")
    gate.throttled(5.0)
    assert "pacing store unavailable (HttpResponseError (HTTP 503))" in caplog.text
    assert not gate.health.usable()


def test_a_record_name_for_a_plain_instance_name_is_the_name() -> None:
    assert record_name("adt.example") == "adt.example"


def test_a_shared_gate_is_named_for_its_instance_and_uses_the_pacers_store() -> None:
    from cancel_job.endpoints import parse_endpoint

    store = MemoryStore()
    endpoint = parse_endpoint("http://127.0.0.1:8123")
    gate = Pacer(1.0, store_factory=lambda: store).gate(endpoint)
    assert isinstance(gate, SharedGate)
    assert (gate.instance, gate.store) == ("127.0.0.1-8123", store)


def test_a_gate_another_thread_created_meanwhile_is_the_one_returned() -> None:
    pacer = Pacer(1.0)
    existing = pacer.gate("a")

    class Racing(dict):
        """The lock-free look missed the gate that another thread stored just after it."""

        misses = 1

        def get(self, key: object, default: object = None) -> object:
            if self.misses:
                self.misses -= 1
                return None
            return super().get(key, default)

    pacer._gates = Racing(pacer._gates)
    assert pacer.gate("a") is existing


def test_a_shared_gate_runs_on_the_pacers_clock_health_and_fallback() -> None:
    time = FakeTime()
    store = MemoryStore()
    pacer = Pacer(1.0, time.clock, time.sleep, store_factory=lambda: store)
    gate = pacer.gate("a")
    assert isinstance(gate, SharedGate)
    assert isinstance(gate.fallback, InstanceGate) and gate.health is pacer.health
    started = time.now
    assert gate.wait_turn(started, started + 60) is None
    assert time.sleeps and time.now > started  # waited its write's lead on the fake clock


def test_a_429_is_written_at_most_ten_times_against_other_writers() -> None:
    fleet = Fleet(rate=1.0)
    gate = fleet.gate()
    fleet.store.write = lambda *args: (fleet.store._transaction(), False)[1]  # always another process first
    gate.throttled(5.0)
    assert fleet.store.transactions == 20  # ten reads, ten lost writes, then it stops


@pytest.mark.parametrize("skew", [0.020, -0.020])
def test_with_20_ms_of_skew_and_a_late_holder_sends_stay_a_turn_apart(skew: float) -> None:
    """The margin is spacing's 5%; a holder may be at most 2% late: 3% is left for skew."""
    fleet = Fleet(rate=1.0)
    late_holder = fleet.gate(late=SEND_TOLERANCE - 0.001)
    skewed = fleet.gate(skew=skew)
    assert late_holder.wait_turn(fleet.time.now, fleet.time.now + 60) is None
    first = fleet.time.now
    assert skewed.wait_turn(fleet.time.now, fleet.time.now + 60) is None
    assert fleet.time.now - first >= 1.0


def test_a_holder_later_than_its_tolerance_leaves_the_turn_empty() -> None:
    fleet = Fleet(rate=1.0)
    very_late = fleet.gate(late=SEND_TOLERANCE + 0.001)
    assert very_late.wait_turn(fleet.time.now, fleet.time.now + 0.5) is not None  # no turn it could use in time


class HangingStore(MemoryStore):
    """A store that takes ``delay`` to fail, like one that stopped answering; counts calls."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay, self.calls = delay, 0
        self._calls_lock = threading.Lock()

    def read(self, instance: str) -> Versioned:
        with self._calls_lock:
            self.calls += 1
        time.sleep(self.delay)
        raise StoreUnavailable("ReadTimeout")


def test_threads_waiting_through_a_store_outage_make_one_probe(monkeypatch) -> None:
    """Six threads of one process queue at the gate while the store hangs: one of them waits
    out the store's timeout, the others pace by themselves at once. When the outage is due a
    second look, again one thread probes."""
    monkeypatch.setattr("cancel_job.pacing.STORE_RETRY_SECONDS", 0.5)
    store = HangingStore(delay=0.3)
    health = StoreHealth()
    gate = SharedGate("adt.example", store, 0, InstanceGate(0), health)

    def six_threads() -> list[float]:
        took: list[float] = []
        threads = [threading.Thread(target=lambda: took.append(_timed_turn(gate))) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        return took

    first = six_threads()
    assert store.calls == 1 and health.outages == 1
    assert max(first) < 0.3 * 2  # nobody waited out a second timeout
    probe_at = health.next_probe_at
    assert probe_at is not None
    wait_for(lambda: time.monotonic() >= probe_at, timeout=5)
    store.calls = 0
    six_threads()
    assert store.calls == 1  # the probe, and no more


def _timed_turn(gate: SharedGate) -> float:
    started = time.monotonic()
    assert gate.wait_turn(started, started + 10) is None
    return time.monotonic() - started


class SlowTokenStore(MemoryStore):
    """The first caller's token takes ``delay`` to come; the others find it cached."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self._first = threading.Lock()

    def prepare(self) -> None:
        if self._first.acquire(blocking=False):
            time.sleep(self.delay)


def test_a_slow_token_fetch_holds_up_its_own_caller_only() -> None:
    store = SlowTokenStore(delay=1.0)
    gate = SharedGate("adt.example", store, 0, InstanceGate(0), StoreHealth())
    slow = threading.Thread(target=_timed_turn, args=(gate,))
    slow.start()
    wait_for(lambda: store._first.locked(), timeout=5)  # the slow fetch is under way
    assert _timed_turn(gate) < 0.5  # not queued behind it on the gate's lock
    slow.join(timeout=5)


def test_the_pacer_says_how_it_paces_and_builds_a_failed_store_again_at_the_next_probe(monkeypatch, caplog) -> None:
    monkeypatch.setattr("cancel_job.pacing.STORE_RETRY_SECONDS", 0.0)
    assert Pacer(1.0).pacing_in_effect == "process"
    attempts: list[int] = []

    def factory() -> MemoryStore:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("no credential yet")
        return MemoryStore()

    pacer = Pacer(1.0, store_factory=factory)
    assert pacer.pacing_in_effect == "shared"  # as configured, before anything is paced
    assert isinstance(pacer.gate("adt.example"), InstanceGate)  # the factory failed: alone for now
    assert pacer.pacing_in_effect == "fallback"
    gate = pacer.gate("adt.example")  # the next look builds it again
    assert isinstance(gate, SharedGate) and len(attempts) == 2
    assert gate.wait_turn(gate._clock(), gate._clock() + 5) is None
    assert pacer.pacing_in_effect == "shared" and pacer.gate("adt.example") is gate


def test_a_store_that_refuses_is_a_configuration_error_naming_the_role(caplog) -> None:
    caplog.set_level(logging.WARNING)
    fleet = Fleet(rate=1.0)
    fleet.store.broken = StoreUnavailable("HttpResponseError (HTTP 403)", 403)
    assert fleet.gate().wait_turn(fleet.time.now, fleet.time.now + 5) is None  # paced alone
    [record] = [r for r in caplog.records if "pacing store unavailable" in r.getMessage()]
    assert record.levelname == "ERROR" and "Storage Blob Data Owner" in record.getMessage()
    assert record.pacing == "fallback" and record.pacingStoreStatus == 403


def test_the_gates_lock_is_waited_for_only_until_the_callers_deadline() -> None:
    store = SlowTokenStore(delay=0.0)
    gate = SharedGate("adt.example", store, 1.0, InstanceGate(1.0), StoreHealth())
    gate._lock.acquire()  # a caller ahead of us holds it, reserving against a slow store
    answers: list[float | None] = []
    try:
        started = time.monotonic()
        waiter = threading.Thread(target=lambda: answers.append(gate.wait_turn(started, started + 0.3)), daemon=True)
        waiter.start()
        waiter.join(timeout=5)
        assert answers and answers[0] is not None, "it waited for the lock past its deadline"  # refused instead
    finally:
        gate._lock.release()


def test_a_holder_leaves_the_next_its_uncertainty_about_the_stores_clock_on_top_of_the_spacing() -> None:
    fleet = Fleet(rate=1.0)
    fleet.store.uncertainty = lambda: 0.2  # its estimate of the store's time is good to 200 ms
    gate = fleet.gate()
    assert gate.wait_turn(fleet.time.now, fleet.time.now + 60) is None
    sent = fleet.wall()
    assert fleet.record().next_turn == pytest.approx(sent + 1 + CLOCK_MARGIN + 0.2)
