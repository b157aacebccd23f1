"""What the CLI prints: rich tables, the progress bar and the --wait status line (plain
when piped), results and errors, and the exit codes they mean."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any, TextIO

from ..contract import NO_CREDENTIAL, ErrorCode
from ..outcomes import Failure, to_json

if TYPE_CHECKING:  # rich is imported when output is made: the CLI starts faster
    from rich.console import Console
    from rich.status import Status

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports a process that SIGINT ended
# Failures that mean "the command was wrong", not "the operation failed".
_USAGE_CODES = {
    ErrorCode.INVALID_JOB_ID.value,
    ErrorCode.INSTANCE_NOT_ALLOWED.value,
    ErrorCode.CONFIGURATION_ERROR.value,
}


class UsageError(Exception):
    pass


def _console(stream: TextIO) -> Console:
    """A rich console on ``stream``: colour and live lines on a terminal; plain text, never
    wrapped, when piped or captured."""
    from rich.console import Console

    terminal = stream.isatty()
    return Console(
        file=stream, force_terminal=terminal, no_color=not terminal, width=None if terminal else 10_000, highlight=False
    )


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str]], out: TextIO) -> None:
    from rich import box
    from rich.table import Table

    console = _console(out)
    if not rows:
        console.print("(none)")
        return
    # Boxes only on a terminal: piped output stays columns of plain text for grep and awk.
    table = Table(
        box=box.SIMPLE_HEAD if console.is_terminal else None,
        pad_edge=False,
        header_style="bold" if console.is_terminal else "",
    )
    for _, title in columns:
        table.add_column(title, overflow="fold" if console.is_terminal else "ignore", no_wrap=not console.is_terminal)
    for row in rows:
        table.add_row(*(str(row.get(key)) if row.get(key) is not None else "" for key, _ in columns))
    console.print(table)


def _report_failure(failure: Failure, args: argparse.Namespace) -> int:
    if args.json:
        extra = {"job": failure.job} if failure.job is not None else {}
        print(
            to_json(
                {
                    **failure.error_body(),
                    "httpStatus": failure.adt_status,
                    "adtCorrelationId": failure.adt_correlation_id,
                    **extra,
                }
            )
        )
    elif failure.code == ErrorCode.IDENTITY_UNAVAILABLE and NO_CREDENTIAL in failure.message and not args.verbose:
        print(NOT_SIGNED_IN, file=sys.stderr)  # the operator needs one thing: how to sign in
    else:
        where = f" (ADT answered {failure.adt_status})" if failure.adt_status else ""
        print(f"error: {failure.code}{where}: {failure.message}", file=sys.stderr)
    return EXIT_USAGE if failure.code in _USAGE_CODES else EXIT_FAILED


NOT_SIGNED_IN = (
    f"error: {ErrorCode.IDENTITY_UNAVAILABLE.value}: no Azure sign-in to get a token for ADT with\n"
    "  sign in with `az login` (or `azd auth login`); for a service principal set AZURE_CLIENT_ID, "
    "AZURE_TENANT_ID and AZURE_CLIENT_SECRET; on Azure, the managed identity's IDENTITY_ENDPOINT and IDENTITY_HEADER\n"
    "  --verbose shows what each credential answered"
)


def _print_job(job: dict[str, Any], args: argparse.Namespace) -> None:
    print(to_json(job) if args.json else json.dumps(job, indent=2))


class Progress:
    """A progress bar on stderr for long batches (rich's), ended by ``close``."""

    def __init__(self, total: int, enabled: bool, stream: TextIO | None = None, label: str = "enqueueing") -> None:
        self.enabled = enabled
        self._bar = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn(label),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=_console(stream or sys.stderr),
            )
            self._task = self._bar.add_task(label, total=total)
            self._bar.start()

    def step(self) -> None:
        if self._bar is not None:
            self._bar.advance(self._task)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


class WaitStatus:
    """The ``--wait`` progress: a live status line on a terminal, plain lines otherwise,
    always ended before a result or an error is printed."""

    def __init__(self, enabled: bool, stream: TextIO | None = None) -> None:
        self._console = _console(stream or sys.stderr) if enabled else None
        self._live: Status | None = None

    def show(self, text: str) -> None:
        if self._console is None:
            return
        if not self._console.is_terminal:
            self._console.print(text)
        elif self._live is None:
            self._live = self._console.status(text)
            self._live.start()
        else:
            self._live.update(text)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()  # the status line goes, so the result or error starts clean
