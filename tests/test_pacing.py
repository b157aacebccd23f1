"""The pacing rule (cancel_job/pacing.py) on a clock that only sleeping moves."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from cancel_job.pacing import InstanceGate, Pacer


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self.on_sleep = None  # something to happen while a caller sleeps (another thread's 429)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            action, self.on_sleep = self.on_sleep, None
            action()


def gate(rate: float) -> tuple[InstanceGate, FakeTime]:
    time = FakeTime()
    return InstanceGate(rate, time.clock, time.sleep), time


def test_turns_are_spaced_by_one_over_the_rate() -> None:
    g, time = gate(2.0)
    sent = []
    for _ in range(4):
        assert g.wait_turn(time.now, time.now + 60) is None
        sent.append(time.now)
    assert [b - a for a, b in itertools.pairwise(sent)] == [0.5, 0.5, 0.5]


def test_the_first_turn_is_immediate_and_zero_turns_spacing_off() -> None:
    g, time = gate(1.0)
    assert g.wait_turn(time.now, time.now) is None and time.sleeps == []
    off, off_time = gate(0.0)
    for _ in range(5):
        assert off.wait_turn(off_time.now, off_time.now) is None
    assert off_time.sleeps == []


def test_a_429_closes_the_gate_for_retry_after_even_with_spacing_off() -> None:
    for rate in (0.0, 1.0):
        g, time = gate(rate)
        assert g.wait_turn(time.now, time.now + 60) is None
        g.throttled(7.0)
        start = time.now
        assert g.wait_turn(time.now, start + 60) is None
        assert time.now == pytest.approx(start + 7.0)


def test_a_turn_past_the_deadline_is_refused_at_once_with_the_wait() -> None:
    g, time = gate(1.0)
    g.throttled(30.0)
    assert g.wait_turn(time.now, time.now + 25) == pytest.approx(30.0)
    assert time.sleeps == []  # it did not sleep and then fail
    # Spacing alone can push a turn past the deadline too: the 11th caller at 1/s.
    h, h_time = gate(1.0)
    booked = [h.wait_turn(h_time.now, h_time.now + 100) for _ in range(10)]
    assert booked == [None] * 10
    assert h.wait_turn(h_time.now, h_time.now + 0.5) == pytest.approx(1.0)


def test_a_refused_caller_books_no_turn() -> None:
    g, time = gate(1.0)
    assert g.wait_turn(time.now, time.now) is None
    assert g.wait_turn(time.now, time.now) == pytest.approx(1.0)  # refused
    start = time.now
    assert g.wait_turn(time.now, time.now + 5) is None
    assert time.now == pytest.approx(start + 1.0)  # not 2 s: the refusal left no booking


def test_not_before_is_honoured() -> None:
    g, time = gate(0.0)
    start = time.now
    assert g.wait_turn(start + 3.0, start + 10) is None
    assert time.now == pytest.approx(start + 3.0)
    assert g.wait_turn(start, time.now + 1) is None  # a past not_before means now


def test_a_429_during_the_wait_sends_the_caller_back_in_line() -> None:
    g, time = gate(1.0)
    assert g.wait_turn(time.now, time.now + 60) is None
    start = time.now
    time.on_sleep = lambda: g.throttled(5.0)  # another thread's request got 429 meanwhile
    assert g.wait_turn(time.now, time.now + 60) is None
    assert time.now >= start + 1.0 + 5.0 - 1e-9


def test_a_late_turn_keeps_the_spacing_for_the_next() -> None:
    """Spacing is measured when each request is sent, so a caller that wakes late does
    not bunch up with the one after it."""
    g, time = gate(1.0)
    late = {"by": 0.3}

    def oversleeping(seconds: float) -> None:
        time.sleeps.append(seconds)
        time.now += seconds + late.pop("by", 0.0)

    g._sleep = oversleeping
    assert g.wait_turn(time.now, time.now + 60) is None
    first_booked_turn = time.now + 1.0
    assert g.wait_turn(time.now, time.now + 60) is None  # woke 0.3 s late
    second = time.now
    assert second == pytest.approx(first_booked_turn + 0.3)
    assert g.wait_turn(time.now, time.now + 60) is None
    assert time.now - second >= 1.0 - 1e-9


def test_gates_are_per_instance_and_shared_by_threads() -> None:
    pacer = Pacer(1.0)
    assert pacer.gate("a") is pacer.gate("a") and pacer.gate("a") is not pacer.gate("b")
    pacer.gate("a").throttled(60)
    now = time.monotonic()
    assert pacer.gate("a").wait_turn(now, now + 1) > 59  # refused: its turn is a minute away
    assert pacer.gate("b").wait_turn(now, now + 1) is None  # another instance's gate is open
    gates = []
    threads = [threading.Thread(target=lambda: gates.append(pacer.gate("c"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(g) for g in gates}) == 1


def test_a_not_before_in_the_past_counts_from_now() -> None:
    """The turn is never earlier than now, so a caller whose deadline comes before the next
    free turn is refused at once, even when it says it could have gone long ago."""
    g, time = gate(1.0)
    assert g.wait_turn(0.0, time.now + 60) is None
    assert g.wait_turn(0.0, time.now + 0.5) == 1.0
    assert time.sleeps == []


def test_one_gate_per_instance_however_often_it_is_asked() -> None:
    pacer = Pacer(1.0)
    first = pacer.gate("a")
    assert pacer.gate("a") is first and pacer.gate("b") is not first and pacer.gate(None) is not first


@pytest.mark.parametrize(("first", "second"), [(10.0, 3.0), (3.0, 10.0)])
def test_the_process_gate_keeps_the_longer_of_two_blocks(first: float, second: float) -> None:
    g, time = gate(0)
    g.throttled(first)
    g.throttled(second)
    started = time.now
    assert g.wait_turn(started, started + 60) is None
    assert time.now - started == pytest.approx(10.0)
    assert g.wait_turn(time.now, time.now + 5) is None  # and no longer


def test_keeping_the_spacing_after_a_late_turn_never_sleeps_past_the_deadline() -> None:
    time = FakeTime()
    overslept = []

    def late_once(seconds: float) -> None:  # the first sleeper wakes half a turn late
        time.sleep(seconds + (0.5 if not overslept else 0.0))
        overslept.append(True)

    g = InstanceGate(1.0, time.clock, late_once)
    assert g.wait_turn(time.now, time.now + 60) is None  # sent at 100
    assert g.wait_turn(time.now, time.now + 60) is None  # its turn was 101; it woke at 101.5
    deadline = time.now + 0.7  # the next turn, 102, would have to wait until 102.5
    wait = g.wait_turn(time.now, deadline)
    assert wait == pytest.approx(0.5) and time.now <= deadline
