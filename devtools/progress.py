"""Progress of long work (make bench, the soaks, make mutate), on stderr so that stdout keeps
only the report.

On a terminal: rich's live display, one bar per step with what it is doing, its count when
the step knows its size, and the time it has taken. Elsewhere (CI logs, pipes, files): one
plain line as each step starts, ``bench [3/9] fleet drain, 8 processes...``, then one line
for the whole run; nothing redraws, so a log stays readable.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID


class Step:
    """One step's count, for steps that know their size (messages, mutants)."""

    def __init__(self, bar: RichProgress | None, task: TaskID | None) -> None:
        self._bar, self._task = bar, task

    @property
    def shown(self) -> bool:
        """Whether a count is displayed: work spent only on the count can be skipped if not."""
        return self._bar is not None

    def advance(self, amount: int = 1) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, amount)

    def update(self, completed: int | None) -> None:
        """``None``: the count is unknown for now; the bar stays where it is."""
        if self._bar is not None and self._task is not None and completed is not None:
            self._bar.update(self._task, completed=completed)


class Progress:
    """``steps`` is how many steps the run has, for the ``[k/n]`` of each line."""

    def __init__(self, name: str, steps: int, stream: TextIO | None = None, terminal: bool | None = None) -> None:
        self.name, self.steps = name, steps
        self.stream = stream or sys.stderr
        self.terminal = self.stream.isatty() if terminal is None else terminal
        self._done = 0
        self._started = time.monotonic()
        self._bar: RichProgress | None = None

    def __enter__(self) -> Progress:
        if self.terminal:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            console = Console(file=self.stream, force_terminal=True)
            self._bar = RichProgress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            )
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
        else:
            self._line(f"{self.name}: {self._done} of {self.steps} steps in {time.monotonic() - self._started:.0f} s")

    @contextmanager
    def step(self, what: str, total: int | None = None) -> Iterator[Step]:
        self._done += 1
        label = f"{self.name} [{self._done}/{self.steps}] {what}"
        if self._bar is None:
            self._line(f"{label}...")
            yield Step(None, None)
            return
        task = self._bar.add_task(label, total=total)
        try:
            yield Step(self._bar, task)
        finally:
            # A step that knew no size shows as one unit, full once it is over.
            self._bar.update(task, total=total or 1, completed=total or 1)

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)
