"""Long work shows progress: one plain line per step in CI and pipes, bars on a terminal."""

from __future__ import annotations

import ast
import inspect
import io
import re

from devtools import bench_clients, bench_queues
from devtools.progress import Progress


def test_off_a_terminal_each_step_is_one_line_and_the_run_one_more() -> None:
    stream = io.StringIO()
    with Progress("bench", 2, stream=stream) as steps:
        with steps.step("first thing", total=3) as step:
            step.advance()
            step.update(3)
            assert not step.shown
        with steps.step("second thing"):
            pass
    assert stream.getvalue().splitlines() == [
        "bench [1/2] first thing...",
        "bench [2/2] second thing...",
        "bench: 2 of 2 steps in 0 s",
    ]


def test_a_stream_that_is_no_terminal_gets_plain_lines_without_escape_codes() -> None:
    stream = io.StringIO()  # isatty() is False, as for a pipe or a CI log
    with Progress("soak", 1, stream=stream) as steps, steps.step("draining"):
        pass
    assert "\x1b[" not in stream.getvalue() and stream.getvalue().startswith("soak [1/1] draining...")


def test_on_a_terminal_each_step_gets_a_bar_with_its_count() -> None:
    stream = io.StringIO()
    with Progress("soak", 1, stream=stream, terminal=True) as steps, steps.step("sending", total=4) as step:
        assert step.shown
        step.advance(3)
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue())
    assert "soak [1/1] sending" in shown and "4/4" in shown


def _steps_in(function: object) -> int:
    tree = ast.parse(inspect.getsource(function))  # type: ignore[arg-type]
    return sum(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "step"
        for node in ast.walk(tree)
    )


def test_the_benchmarks_step_count_is_the_steps_it_takes() -> None:
    """A run's lines say [k/n]: n must be the number of steps its measurements go through."""
    assert _steps_in(bench_clients.measure_clients) == bench_clients.CLIENT_STEPS
    assert _steps_in(bench_queues.measure_queues) == bench_queues.QUEUE_STEPS
