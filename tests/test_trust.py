"""The trust rules (cancel_job/trust.py): a capped Retry-After, and a horizon beyond which
the shared pacing record is corrupt. Unit level here, on the fake clock of
tests/test_shared_pacing.py, and through the service against the emulator;
tests/test_fleet_trust.py runs them with real processes."""

from __future__ import annotations

import logging
import math

import pytest

from cancel_job.pacing_store import PaceRecord
from cancel_job.trust import DEFAULT_RETRY_AFTER_CAP_SECONDS, capped_retry_after, horizon_seconds, within_horizon
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


def test_the_horizon_is_the_cap_plus_a_whole_budget_plus_a_turn() -> None:
    assert horizon_seconds(60, 25, 1.0) == 86
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
