"""The line rule (cancel_job/pacing.py rule 4): a refused queue request holds a turn, and
comes back to use it, so that a backlog drains in order. On a fake clock, with the
in-memory compare-and-swap store of test_shared_pacing.py; tests/test_fleet_trust.py
drains a backlog with real processes."""

from __future__ import annotations

import pytest

from cancel_job.pacing import CLOCK_MARGIN, SEND_TOLERANCE, Place, Refusal
from cancel_job.pacing_store import PaceRecord
from cancel_job.trust import MAX_LINE_TURNS, horizon_seconds, max_line_seconds, within_horizon
from tests.test_shared_pacing import Fleet

RETURNS = Place(can_return=True)
SPACING = 1 + CLOCK_MARGIN  # at 1 request/s


def busy_fleet() -> Fleet:
    """A fleet whose next free turn is a spacing away: someone just sent."""
    fleet = Fleet(rate=1.0)
    assert fleet.gate().wait_turn(fleet.time.now, fleet.time.now + 60) is None
    return fleet


def refused(fleet: Fleet, place: Place = RETURNS, budget: float = 0.5) -> Refusal:
    refusal = fleet.gate().take_turn(fleet.time.now, fleet.time.now + budget, place)
    assert refusal is not None
    return refusal


def test_a_refused_request_that_can_come_back_holds_its_turn_and_the_next_one_queues_behind_it() -> None:
    fleet = busy_fleet()
    first, second = refused(fleet), refused(fleet)
    assert first.turn == pytest.approx(fleet.wall() + SPACING)
    assert second.turn == pytest.approx(first.turn + SPACING)  # behind the held turn, not on it
    assert first.wait == pytest.approx(SPACING)
    assert fleet.record().next_turn == pytest.approx(second.turn + SPACING)


def test_a_request_that_cannot_come_back_holds_nothing() -> None:
    fleet = busy_fleet()
    before = fleet.record()
    assert refused(fleet, Place()).turn is None
    assert fleet.record() == before


def test_the_holder_comes_back_and_sends_at_its_turn_without_writing() -> None:
    fleet = busy_fleet()
    held = refused(fleet).turn
    assert held is not None
    fleet.time.now += 0.5  # the copy is back before its turn
    writes_before, record_before = fleet.store.version, fleet.record()
    gate = fleet.gate()
    assert gate.take_turn(fleet.time.now, fleet.time.now + 25, Place(True, held)) is None
    assert fleet.wall() == pytest.approx(held)
    assert fleet.store.version == writes_before and fleet.record() == record_before


def test_a_newcomer_while_a_turn_is_held_takes_the_turn_after_it() -> None:
    fleet = busy_fleet()
    held = refused(fleet).turn
    assert held is not None
    newcomer = fleet.gate()
    assert newcomer.take_turn(fleet.time.now, fleet.time.now + 60) is None
    assert fleet.wall() == pytest.approx(held + SPACING)


def test_a_holder_back_too_early_is_refused_again_holding_the_same_turn() -> None:
    fleet = busy_fleet()
    refused(fleet)
    held = refused(fleet).turn  # two turns ahead
    assert held is not None
    again = fleet.gate().take_turn(fleet.time.now, fleet.time.now + 0.5, Place(True, held))
    assert again == Refusal(pytest.approx(held - fleet.wall()), held)


def test_a_holder_back_too_late_queues_anew() -> None:
    fleet = busy_fleet()
    held = refused(fleet).turn
    assert held is not None
    fleet.time.now += SPACING + 3 * SEND_TOLERANCE  # past its turn, by more than the tolerance
    new_turn = fleet.record().next_turn
    assert fleet.gate().take_turn(fleet.time.now, fleet.time.now + 60, Place(True, held)) is None
    assert fleet.wall() == pytest.approx(new_turn)


def test_a_429_that_closes_a_held_turn_voids_it() -> None:
    fleet = busy_fleet()
    held = refused(fleet).turn
    assert held is not None
    fleet.gate().throttled(10.0)
    blocked_until = fleet.record().blocked_until
    assert fleet.gate().take_turn(fleet.time.now, fleet.time.now + 60, Place(True, held)) is None
    assert fleet.wall() >= blocked_until > held


def test_a_turn_the_line_never_gave_out_is_not_honoured() -> None:
    fleet = busy_fleet()
    forged = fleet.record().next_turn  # the next free turn, held by nobody
    fleet.time.now += 0.5
    newcomer = fleet.gate()
    assert newcomer.take_turn(fleet.time.now, fleet.time.now + 60) is None  # takes it
    forger = fleet.gate()
    assert forger.take_turn(fleet.time.now, fleet.time.now + 60, Place(True, forged)) is None
    assert fleet.wall() == pytest.approx(forged + SPACING)  # not at the newcomer's turn


def test_no_turn_is_held_further_ahead_than_the_longest_line() -> None:
    fleet = busy_fleet()
    line = max_line_seconds(1.0)
    assert line == MAX_LINE_TURNS
    fleet.store.records["adt.example"] = (PaceRecord(fleet.wall() + line + 1), '"planted"')
    refusal = refused(fleet)
    assert refusal.turn is None and refusal.wait == pytest.approx(line + 1)


def test_the_horizon_believes_a_record_at_the_end_of_the_longest_line() -> None:
    horizon = horizon_seconds(60, 25, 1.0)
    line_end = PaceRecord(next_turn=1000 + max_line_seconds(1.0) + SPACING + 2.0)  # its uncertainty, at most 2 s
    assert not within_horizon(line_end, 1000, horizon).corrupt
    assert within_horizon(PaceRecord(next_turn=1000 + horizon + 1), 1000, horizon).corrupt
