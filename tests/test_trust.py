"""The trust rules (cancel_job/trust.py): a capped Retry-After, and a horizon beyond which
the shared pacing record is corrupt. Unit level here, on the fake clock of
tests/test_shared_pacing.py, and through the service against the emulator;
tests/test_fleet_trust.py runs them with real processes."""

from __future__ import annotations

import logging
import math
import random
import time

import pytest

from cancel_job.pacing_store import PaceRecord
from cancel_job.trust import (
    DEFAULT_RETRY_AFTER_CAP_SECONDS,
    MAX_LINE_TURNS,
    MAX_UNCERTAINTY_SECONDS,
    StorageClock,
    capped_retry_after,
    horizon_seconds,
    within_horizon,
)
from devtools.adt_emulator import Fault
from tests.helpers import invoke_http
from tests.test_shared_pacing import Fleet

TEN_YEARS = 10 * 365 * 24 * 3600.0


def test_a_retry_after_past_the_cap_is_the_cap_and_says_so(caplog) -> None:
    caplog.set_level(logging.WARNING)
    assert capped_retry_after(14, 60) == 14 and not caplog.records
    assert capped_retry_after(86400, 60) == 60
    [record] = caplog.records
    assert "86400" in record.getMessage() and "ADT_RETRY_AFTER_MAX_SECONDS" in record.getMessage()


def test_the_horizon_is_the_cap_plus_the_longest_line_plus_a_turn_and_the_clocks_uncertainty() -> None:
    assert horizon_seconds(60, 25, 1.0) == 60 + MAX_LINE_TURNS + 1 + MAX_UNCERTAINTY_SECONDS
    assert horizon_seconds(60, 25, 10.0) == 60 + MAX_LINE_TURNS / 10 + 0.1 + MAX_UNCERTAINTY_SECONDS
    # With spacing off nothing is held: the longest wait in line is a request's budget.
    assert horizon_seconds(60, 25, 0) == 60 + 25 + MAX_UNCERTAINTY_SECONDS
    assert DEFAULT_RETRY_AFTER_CAP_SECONDS == 60


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (PaceRecord(1000 + 85, 1000 + 60), PaceRecord(1000 + 85, 1000 + 60)),  # at the edge: kept
        (PaceRecord(1000 + 86, 1000), PaceRecord(-math.inf, 1000)),
        (PaceRecord(1000, 1000 + TEN_YEARS), PaceRecord(1000, -math.inf)),
        (PaceRecord(), PaceRecord()),
    ],
)
def test_times_beyond_the_horizon_are_no_times_at_all(record: PaceRecord, expected: PaceRecord) -> None:
    bounded = within_horizon(record, now=1000, horizon=85)
    assert bounded.record == expected and bounded.corrupt == (record != expected)


def test_a_record_ten_years_ahead_is_overwritten_and_logged_once_per_gate(caplog) -> None:
    caplog.set_level(logging.WARNING)
    fleet = Fleet(rate=1.0)
    far = fleet.wall() + TEN_YEARS
    fleet.store.records["adt.example"] = (PaceRecord(far, far), '"0"')
    gate = fleet.gate(horizon=86)
    started = fleet.time.now
    assert gate.wait_turn(fleet.time.now, fleet.time.now + 25) is None  # a turn now, not in ten years
    assert fleet.time.now - started < 1
    assert fleet.record().next_turn < fleet.wall() + 2 and fleet.record().blocked_until < fleet.wall()
    fleet.store.records["adt.example"] = (PaceRecord(far, far), '"1"')  # corrupted again
    assert gate.wait_turn(fleet.time.now, fleet.time.now + 25) is None
    warnings = [r.getMessage() for r in caplog.records if "beyond the horizon" in r.getMessage()]
    assert len(warnings) == 1 and "adt.example" in warnings[0]


def test_without_a_horizon_the_same_record_closes_the_instance() -> None:
    """The rule is what saves the fleet: an unbounded gate refuses every turn."""
    fleet = Fleet(rate=1.0)
    far = fleet.wall() + TEN_YEARS
    fleet.store.records["adt.example"] = (PaceRecord(far, far), '"0"')
    assert fleet.gate().wait_turn(fleet.time.now, fleet.time.now + 25) == pytest.approx(TEN_YEARS, abs=1)


def test_a_429_is_written_over_a_corrupt_block() -> None:
    fleet = Fleet(rate=1.0)
    far = fleet.wall() + TEN_YEARS
    fleet.store.records["adt.example"] = (PaceRecord(-math.inf, far), '"0"')
    fleet.gate(horizon=86).throttled(10)
    assert fleet.record().blocked_until == pytest.approx(fleet.wall() + 10)


def test_a_day_long_retry_after_blocks_for_the_cap_and_callers_are_told_the_cap(
    app_env, emulator, monkeypatch, caplog
) -> None:
    from cancel_job.runtime import reset_service

    monkeypatch.setenv("ADT_RETRY_AFTER_MAX_SECONDS", "30")
    reset_service()
    emulator.add_job("job1", status="running")
    emulator.inject(Fault(op="cancel", status=429, headers={"Retry-After": "86400"}, times=1))
    answer = invoke_http("job1").returned
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "30"
    assert any("86400" in r.getMessage() and "cap" in r.getMessage() for r in caplog.records)


class Machine:
    """A machine whose wall clock is ``skew`` off the storage service's, calling it."""

    def __init__(self, skew: float) -> None:
        self.true = 1_800_000_000.25  # the storage service's time
        self.skew = skew
        self.mono = 1000.0

    def wall(self) -> float:
        return self.true + self.skew

    def clock(self) -> float:
        return self.mono

    def call(self, storage: StorageClock, out: float, back: float) -> None:
        """A store call: ``out`` seconds to reach the service, ``back`` to return."""
        sent = self.wall()
        self.advance(out)
        date = math.floor(self.true)  # the service dates its answer to the second
        self.advance(back)
        storage.observe(sent, self.wall(), date)

    def advance(self, seconds: float) -> None:
        self.true += seconds
        self.mono += seconds


@pytest.mark.parametrize("skew", [300.0, -300.0, 0.02, 0.0])
def test_the_storage_clock_brackets_the_services_time_and_narrows_with_each_answer(skew: float) -> None:
    rng = random.Random(7)
    machine = Machine(skew)
    storage = StorageClock(machine.wall, machine.clock)
    widths = []
    for _ in range(60):
        machine.call(storage, rng.uniform(0.001, 0.01), rng.uniform(0.001, 0.01))
        assert storage.low <= -skew <= storage.high  # the true offset is always inside
        assert storage.now() <= machine.true  # never later than the service's time
        widths.append(storage.high - storage.low)
        machine.advance(rng.uniform(0.05, 0.4))
    assert widths[0] > 0.9 and widths[-1] < 0.05  # a second at first; tens of ms after a minute of calls
    assert machine.true - storage.now() <= storage.uncertainty() + 1e-9


def test_a_stepped_clock_starts_the_estimate_again(caplog) -> None:
    machine = Machine(0.0)
    storage = StorageClock(machine.wall, machine.clock)
    for _ in range(10):
        machine.call(storage, 0.005, 0.005)
        machine.advance(0.37)
    machine.skew = 120.0  # the machine's clock jumps two minutes ahead
    machine.call(storage, 0.005, 0.005)
    assert storage.low <= -120.0 <= storage.high


def test_a_clock_more_than_a_second_off_is_said_once(caplog) -> None:
    caplog.set_level(logging.WARNING)
    machine = Machine(300.0)
    storage = StorageClock(machine.wall, machine.clock)
    for _ in range(5):
        machine.call(storage, 0.005, 0.005)
        machine.advance(0.3)
    [warning] = [r for r in caplog.records if "clock" in r.getMessage()]
    assert "ahead of the storage service" in warning.getMessage() and warning.clockOffsetSeconds == pytest.approx(
        -300, abs=1
    )
    assert not [r for r in caplog.records if "clock" in r.getMessage() and r is not warning]


def test_an_unknown_offset_counts_as_the_capped_uncertainty() -> None:
    storage = StorageClock()
    assert storage.uncertainty() == MAX_UNCERTAINTY_SECONDS


@pytest.mark.azurite
def test_settling_against_the_storage_service_narrows_the_clock_to_a_few_round_trips(azurite_session) -> None:
    from cancel_job.pacing_store import BlobPaceStore

    store = BlobPaceStore.from_env({"STORAGE_CONNECTION": azurite_session.connection_string})
    assert not store.clock.known
    store.settle(0.05, time.monotonic() + 10)
    assert store.clock.known and store.uncertainty() <= 0.05
    assert store.clock.low <= 0 <= store.clock.high  # this machine and Azurite share a clock
    assert store.transactions <= 1 + 4 * 8  # one answer first, then at most four rounds of probes


def test_settling_against_a_store_that_never_answers_gives_up_at_once() -> None:
    import socket

    from cancel_job.pacing_store import BlobPaceStore, StoreUnavailable

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        connection = (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
            f"BlobEndpoint=http://127.0.0.1:{silent.getsockname()[1]}/devstoreaccount1;"
        )
        store = BlobPaceStore.from_env({"STORAGE_CONNECTION": connection})
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            store.settle(0.05, time.monotonic() + 30)
        assert time.monotonic() - started < 10  # one bounded call (1 s + 2 s), not the 30 s allowed


def test_the_default_cap_is_what_the_app_and_the_deployment_use() -> None:
    from cancel_job.settings import Settings
    from tests.bicep import load

    assert Settings.from_env({"ADT_ENDPOINT": "https://adt.example"}).retry_after_max_seconds == 60
    assert "param retryAfterMaxSeconds int = 60" in load("modules/functionapp.bicep").source
