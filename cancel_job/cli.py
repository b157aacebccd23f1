"""The operator's command line: ``python -m cancel_job COMMAND`` (or ``adt-import-cancel``).

ADT commands (cancel, status, list) use the same core, rules and errors as the function,
signed in with DefaultAzureCredential. Queue commands (enqueue, results, failures) use a
connection string (Azurite, ``STORAGE_CONNECTION``) or an account URL with
DefaultAzureCredential.

Exit codes: 0 success; 1 the operation failed (ADT refused or failed, storage failed,
``--wait`` timed out); 2 usage or configuration error (nothing was done).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TextIO

from .contract import FAILURES_QUEUE, REQUESTS_QUEUE, RESULTS_QUEUE, STORAGE_CONNECTION, ErrorCode, Setting
from .job_id import InvalidJobIdError, validate_job_id
from .messages import CancelRequest, read_queue_json
from .outcomes import Failure, Outcome, Success, to_json
from .redact import redact
from .settings import ConfigurationError, Settings
from .trace import new_trace_parent, parse_traceparent, parse_tracestate

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# Failures that mean "the command was wrong", not "the operation failed".
_USAGE_CODES = {ErrorCode.INVALID_JOB_ID.value, ErrorCode.INSTANCE_NOT_ALLOWED.value,
                ErrorCode.CONFIGURATION_ERROR.value}
# Polling a job for --wait: ADT's Jobs API allows about one request per second.
_FIRST_POLL_SECONDS, _MAX_POLL_SECONDS = 1.0, 10.0
_DRAIN_HIDE_SECONDS = 300

EPILOG = """examples:
  python -m cancel_job cancel importjob1 --wait            # cancel, then follow it to "cancelled"
  python -m cancel_job status importjob1 --json
  python -m cancel_job list
  python -m cancel_job enqueue job-a job-b                 # via the requests queue
  cat ids.txt | python -m cancel_job enqueue -             # ids from stdin, one per line
  python -m cancel_job failures --drain --json

ADT commands read ADT_ENDPOINT (or --endpoint) and sign in with DefaultAzureCredential
(az login, a managed identity, ...). Queue commands read STORAGE_CONNECTION (or
--connection-string), or use --account-url https://<account>.queue.core.windows.net with
DefaultAzureCredential. Exit codes: 0 success, 1 the operation failed, 2 usage or
configuration error.
"""


class UsageError(Exception):
    pass


# -- output ------------------------------------------------------------------------------


def _console(stream: TextIO):
    """A rich console on ``stream``: colour and live lines on a terminal; plain text, never
    wrapped, when piped or captured."""
    from rich.console import Console

    terminal = stream.isatty()
    return Console(file=stream, force_terminal=terminal, no_color=not terminal,
                   width=None if terminal else 10_000, highlight=False)


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str]], out: TextIO) -> None:
    from rich import box
    from rich.table import Table

    console = _console(out)
    if not rows:
        console.print("(none)")
        return
    # Boxes only on a terminal: piped output stays columns of plain text for grep and awk.
    table = Table(box=box.SIMPLE_HEAD if console.is_terminal else None, pad_edge=False,
                  header_style="bold" if console.is_terminal else "")
    for _, title in columns:
        table.add_column(title, overflow="fold" if console.is_terminal else "ignore", no_wrap=not console.is_terminal)
    for row in rows:
        table.add_row(*(str(row.get(key)) if row.get(key) is not None else "" for key, _ in columns))
    console.print(table)


def _report_failure(failure: Failure, args: argparse.Namespace) -> int:
    if args.json:
        extra = {"job": failure.job} if failure.job is not None else {}
        print(to_json({**failure.error_body(), "httpStatus": failure.adt_status,
                       "adtCorrelationId": failure.adt_correlation_id, **extra}))
    else:
        where = f" (ADT answered {failure.adt_status})" if failure.adt_status else ""
        print(f"error: {failure.code}{where}: {failure.message}", file=sys.stderr)
    return EXIT_USAGE if failure.code in _USAGE_CODES else EXIT_FAILED


def _print_job(job: dict[str, Any], args: argparse.Namespace) -> None:
    print(to_json(job) if args.json else json.dumps(job, indent=2))


class Progress:
    """A progress bar on stderr for long batches (rich's), ended by ``close``."""

    def __init__(self, total: int, enabled: bool, stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self._bar = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("enqueueing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 console=_console(stream or sys.stderr))
            self._task = self._bar.add_task("enqueue", total=total)
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
        self._live = None

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


# -- ADT commands ----------------------------------------------------------------------


def _service(args: argparse.Namespace):
    from .identity import developer_credential
    from .runtime import build_service

    env = dict(os.environ)
    if args.endpoint:
        env[Setting.ADT_ENDPOINT.value] = args.endpoint
    try:
        settings = Settings.from_env(env)
    except ConfigurationError as exc:
        about_endpoint = str(exc).startswith(f"{Setting.ADT_ENDPOINT.value} ")
        hint = f" (pass --endpoint or set {Setting.ADT_ENDPOINT.value})" if about_endpoint else ""
        raise UsageError(f"{exc}{hint}") from None
    return build_service(settings, lambda: developer_credential(settings))


def _wait_until_final(service, outcome: Success, args: argparse.Namespace,
                      sleep: Callable[[float], None] = time.sleep) -> Outcome:
    """Poll the job with growing pauses (never faster than ADT's 1 request/s)."""
    started = time.monotonic()
    pause = _FIRST_POLL_SECONDS
    request = CancelRequest(outcome.job_id, args.instance, outcome.trace.parent.header, outcome.trace.state)
    status = WaitStatus(enabled=not args.json)
    try:
        while isinstance(outcome, Success) and outcome.in_progress:
            elapsed = time.monotonic() - started
            remaining = args.timeout - elapsed
            if remaining <= 0:
                return Failure("WaitTimedOut", f"import job is still {outcome.job_status} after {elapsed:.0f} s",
                               job_id=outcome.job_id, job=outcome.job)
            status.show(f"{outcome.job_id}: {outcome.job_status} ({elapsed:.0f} s)")
            # The last pause is cut to what is left, so the wait lasts the whole --timeout.
            sleep(min(pause, remaining))
            pause = min(pause * 1.5, _MAX_POLL_SECONDS)
            outcome = service.read(request, after_cancel=True)  # a job that ends on its own: JobNotCancellable
        return outcome
    finally:
        status.close()


def cmd_cancel(args: argparse.Namespace) -> int:
    if args.wait and not (args.timeout > 0 and args.timeout < float("inf")):
        raise UsageError("--timeout must be a positive number of seconds")
    service = _service(args)
    outcome = service.cancel(CancelRequest(args.job_id, args.instance))
    if isinstance(outcome, Success) and args.wait:
        outcome = _wait_until_final(service, outcome, args)
    if isinstance(outcome, Failure):
        return _report_failure(outcome, args)
    _print_job(outcome.job, args)
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    outcome = _service(args).read(CancelRequest(args.job_id, args.instance))
    if isinstance(outcome, Failure):
        return _report_failure(outcome, args)
    _print_job(outcome.job, args)
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    jobs = _service(args).list_jobs(args.instance)
    if isinstance(jobs, Failure):
        return _report_failure(jobs, args)
    if args.json:
        print(to_json(jobs))
    else:
        _table(jobs, [("id", "ID"), ("status", "STATUS"), ("createdDateTime", "CREATED"),
                      ("finishedDateTime", "FINISHED")], sys.stdout)
    return EXIT_OK


# -- queue commands --------------------------------------------------------------------


def _queue(args: argparse.Namespace, name: str):
    """A queue client that sends and reads plain text (host.json ``messageEncoding: none``)."""
    from azure.storage.queue import ExponentialRetry, QueueClient

    # The SDK's default waits 15 s and more between tries; an operator wants an answer.
    options: dict[str, Any] = {
        "retry_policy": ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=args.retries),
    }
    queue_url = getattr(args, "queue_url", None)
    if queue_url or args.account_url:
        url = queue_url or f"{args.account_url.rstrip('/')}/{name}"
        if not url.startswith("https://"):
            raise UsageError("--queue-url and --account-url must be https:// URLs")
        from azure.identity import DefaultAzureCredential

        return QueueClient.from_queue_url(url, credential=DefaultAzureCredential(), **options)
    connection = args.connection_string or os.environ.get(STORAGE_CONNECTION)
    if not connection:
        raise UsageError(f"no queue given: pass --account-url, --connection-string or set {STORAGE_CONNECTION}")
    try:
        return QueueClient.from_connection_string(connection, name, **options)
    except ValueError:
        raise UsageError("the storage connection string is not valid") from None


def _storage_error(action: str, exc: BaseException) -> int:
    lines = str(exc).strip().splitlines()
    detail = redact(lines[0])[:300] if lines else ""
    print(f"error: could not {action}: {type(exc).__name__}: {detail}", file=sys.stderr)
    return EXIT_FAILED


def _read_ids(args: argparse.Namespace, stdin: TextIO) -> list[str]:
    raw: list[str] = []
    for value in args.job_ids:
        raw += _lines(stdin) if value == "-" else [value]
    if args.file:
        try:
            with open(args.file, encoding="utf-8") as handle:
                raw += _lines(handle)
        except OSError as exc:
            raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise UsageError(f"{args.file} is not UTF-8 text (byte {exc.start}); nothing was enqueued") from None
    if not raw:
        raise UsageError("no job ids: give them as arguments, with --file, or '-' for stdin")
    ids = []
    for number, value in enumerate(raw, 1):
        try:
            ids.append(validate_job_id(value))
        except InvalidJobIdError as exc:
            raise UsageError(f"invalid job id #{number}: {exc}") from None
    return ids


def _lines(handle: Iterable[str]) -> list[str]:
    return [line.strip() for line in handle if line.strip() and not line.lstrip().startswith("#")]


def cmd_enqueue(args: argparse.Namespace) -> int:
    from azure.core.exceptions import AzureError

    job_ids = _read_ids(args, sys.stdin)
    if args.traceparent is not None and parse_traceparent(args.traceparent) is None:
        raise UsageError("--traceparent is not a valid W3C traceparent")
    if args.tracestate is not None:
        if args.traceparent is None:
            raise UsageError("--tracestate needs --traceparent")
        if parse_tracestate(args.tracestate) is None:
            raise UsageError("--tracestate is not a valid W3C tracestate")
    queue = _queue(args, args.queue)
    progress = Progress(len(job_ids), enabled=args.progress or (len(job_ids) > 1 and sys.stderr.isatty()))
    try:
        for job_id in job_ids:
            parent = parse_traceparent(args.traceparent) if args.traceparent else new_trace_parent()
            message: dict[str, Any] = {"jobId": job_id, "traceparent": parent.header}
            if args.tracestate:
                message["tracestate"] = args.tracestate
            if args.instance:
                message["instance"] = args.instance
            if args.wait_for_completion:
                message["waitForCompletion"] = True
            try:
                sent = queue.send_message(to_json(message))
            except AzureError as exc:
                progress.close()
                return _storage_error(f"enqueue {job_id}", exc)
            if args.json:
                print(json.dumps({"jobId": job_id, "messageId": sent.id, "traceId": parent.trace_id}))
            elif not progress.enabled:
                print(f"enqueued {job_id} (message {sent.id}, trace {parent.trace_id})")
            progress.step()
    finally:
        progress.close()
    if progress.enabled and not args.json:
        print(f"enqueued {len(job_ids)} cancel requests on {args.queue}")
    return EXIT_OK


def _read_queue(args: argparse.Namespace, name: str, columns: list[tuple[str, str]],
                flatten: Callable[[Any], dict[str, Any]]) -> int:
    from azure.core.exceptions import AzureError

    queue = _queue(args, name)
    received: list[Any] = []
    try:
        if args.drain:
            # Hide the messages while they are printed; delete them only afterwards, so a
            # crash in between loses nothing (they reappear when the timeout ends).
            while len(received) < args.max and (batch := list(queue.receive_messages(
                    max_messages=min(32, args.max - len(received)), visibility_timeout=_DRAIN_HIDE_SECONDS))):
                received += batch
        else:  # a peek sees at most 32 messages (a Storage limit); --drain reads them all
            received = list(queue.peek_messages(max_messages=min(32, args.max)))
    except AzureError as exc:
        return _storage_error(f"read {name}", exc)
    items = [read_queue_json(message.content) for message in received]
    if args.json:
        print(to_json(items))
    else:
        _table([flatten(item) for item in items], columns, sys.stdout)
    sys.stdout.flush()
    if args.drain:
        try:
            for message in received:
                queue.delete_message(message)
        except AzureError as exc:
            return _storage_error(f"remove the printed messages from {name} (they will reappear)", exc)
    return EXIT_OK


def cmd_results(args: argparse.Namespace) -> int:
    return _read_queue(args, RESULTS_QUEUE, [("id", "JOB"), ("status", "STATUS"),
                                             ("lastActionDateTime", "LAST ACTION")],
                       lambda item: item if isinstance(item, dict) else {"id": str(item)[:60]})


def cmd_failures(args: argparse.Namespace) -> int:
    def flatten(item: Any) -> dict[str, Any]:
        if not isinstance(item, dict):
            return {"message": str(item)[:60]}
        error = item.get("error") if isinstance(item.get("error"), dict) else {}
        message = str(error.get("message", ""))
        return {**item, "code": error.get("code"), "message": message[:80] + ("..." if len(message) > 80 else "")}

    return _read_queue(args, FAILURES_QUEUE, [("jobId", "JOB"), ("code", "CODE"), ("httpStatus", "HTTP"),
                                              ("dequeueCount", "DELIVERY"), ("failedDateTime", "FAILED"),
                                              ("message", "MESSAGE")], flatten)


# -- parser -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="python -m cancel_job", formatter_class=formatter, epilog=EPILOG,
                                     description="Cancel Azure Digital Twins import jobs and see what happened.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], int], summary: str, example: str):
        sub = commands.add_parser(name, help=summary, description=summary, formatter_class=formatter,
                                  epilog=f"example:\n  {example}")
        sub.add_argument("--json", action="store_true", help="machine-readable output")
        sub.set_defaults(handler=handler)
        return sub

    def adt_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--endpoint", help=f"ADT base URL (default: ${Setting.ADT_ENDPOINT.value})")
        sub.add_argument("--instance", help="another allowlisted instance (host name or https URL)")

    def queue_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--connection-string", help=f"storage connection string (default: ${STORAGE_CONNECTION})")
        sub.add_argument("--account-url", help="https://<account>.queue.core.windows.net, signed in with "
                                               "DefaultAzureCredential")
        sub.add_argument("--retries", type=int, default=3, help="retries of a failed storage call (default 3)")

    cancel = command("cancel", cmd_cancel, "Cancel an import job directly (not through the queue).",
                     "python -m cancel_job cancel importjob1 --wait --timeout 600")
    cancel.add_argument("job_id", metavar="JOB_ID")
    adt_options(cancel)
    cancel.add_argument("--wait", action="store_true", help="poll until the job is final and print it")
    cancel.add_argument("--timeout", type=float, default=600.0, help="give up waiting after this many seconds")

    status = command("status", cmd_status, "Show an import job.", "python -m cancel_job status importjob1")
    status.add_argument("job_id", metavar="JOB_ID")
    adt_options(status)

    listing = command("list", cmd_list, "List the instance's import jobs (all pages).", "python -m cancel_job list")
    adt_options(listing)

    enqueue = command("enqueue", cmd_enqueue, "Put cancel requests on the requests queue.",
                      "python -m cancel_job enqueue job-a job-b --wait-for-completion")
    enqueue.add_argument("job_ids", nargs="*", metavar="JOB_ID", help="job ids; '-' reads them from stdin")
    enqueue.add_argument("--file", help="read job ids from this file, one per line ('#' starts a comment)")
    enqueue.add_argument("--traceparent", help="W3C traceparent to continue (default: a new trace per message)")
    enqueue.add_argument("--tracestate", help="W3C tracestate to carry with --traceparent")
    enqueue.add_argument("--instance", help="another allowlisted ADT instance (host name or https URL)")
    enqueue.add_argument("--wait-for-completion", action="store_true",
                         help="have the function follow each job to a final status")
    enqueue.add_argument("--queue-url", help="https URL of the queue, signed in with DefaultAzureCredential")
    enqueue.add_argument("--queue", default=REQUESTS_QUEUE, help=f"queue name (default {REQUESTS_QUEUE})")
    enqueue.add_argument("--progress", action="store_true", help="show a progress bar (default: on a terminal)")
    queue_options(enqueue)

    for name, handler, queue_name in (("results", cmd_results, RESULTS_QUEUE),
                                      ("failures", cmd_failures, FAILURES_QUEUE)):
        reader = command(name, handler, f"Show the {queue_name} queue (peek; --drain removes).",
                         f"python -m cancel_job {name} --drain --json")
        reader.add_argument("--drain", action="store_true", help="receive and delete the messages")
        reader.add_argument("--max", type=int, default=32, help="at most this many messages (default 32)")
        queue_options(reader)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    try:
        return args.handler(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
