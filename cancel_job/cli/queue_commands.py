"""The queue commands (enqueue, results, failures): a connection string (Azurite,
``STORAGE_CONNECTION``) or an account URL with DefaultAzureCredential."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TextIO

from ..assumptions import CANCELLABLE_STATUSES
from ..contract import CALLER_FIELD, FAILURES_QUEUE, RESULTS_QUEUE, STORAGE_CONNECTION
from ..job_id import InvalidJobIdError, validate_job_id
from ..messages import read_queue_json
from ..outcomes import to_json
from ..redact import redact
from ..trace import TraceParent, new_trace_parent, parse_traceparent, parse_tracestate
from .output import EXIT_FAILED, EXIT_OK, Progress, UsageError, _table

if TYPE_CHECKING:  # the SDK is imported by the commands that use it
    from azure.storage.queue import QueueClient

_DRAIN_HIDE_SECONDS = 300
# A look (no --drain) hides what it reads only while it pages through, then releases it.
_LOOK_HIDE_SECONDS = 30


def _queue(args: argparse.Namespace, name: str) -> QueueClient:
    """A queue client that sends and reads plain text (host.json ``messageEncoding: none``)."""
    from azure.storage.queue import ExponentialRetry, QueueClient

    if args.retries < 0:
        raise UsageError("--retries must be 0 or more")

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
    """Every id, each with where it came from; one invalid id stops the whole batch."""
    raw: list[tuple[str, str]] = []  # (id, where: "argument 2", "stdin line 3", "ids.txt line 5")
    for number, value in enumerate(args.job_ids, 1):
        raw += _lines(stdin, "stdin") if value == "-" else [(value, f"argument {number}")]
    if args.file:
        try:
            with open(args.file, encoding="utf-8") as handle:
                raw += _lines(handle, args.file)
        except OSError as exc:
            raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise UsageError(f"{args.file} is not UTF-8 text (byte {exc.start}); nothing was enqueued") from None
    if not raw:
        raise UsageError("no job ids: give them as arguments, with --file, or '-' for stdin")
    ids = []
    for value, where in raw:
        try:
            ids.append(validate_job_id(value))
        except InvalidJobIdError as exc:
            raise UsageError(f"{where}: invalid job id {_shown(value)}: {exc}; nothing was enqueued") from None
    return ids


def _shown(value: str, limit: int = 60) -> str:
    """An untrusted id for an error line: control characters escaped, long ones cut."""
    escaped = value.encode("unicode_escape").decode("ascii")
    return repr(escaped if len(escaped) <= limit else escaped[:limit] + "...")


def _lines(handle: Iterable[str], source: str) -> list[tuple[str, str]]:
    """The ids of a file or stdin, with their line numbers ('#' starts a comment)."""
    return [
        (line.strip(), f"{source} line {number}")
        for number, line in enumerate(handle, 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]


def cmd_enqueue(args: argparse.Namespace) -> int:
    from azure.core.exceptions import AzureError

    job_ids = _read_ids(args, sys.stdin)
    _check_trace_options(args)
    queue = _queue(args, args.queue)
    progress = Progress(len(job_ids), enabled=args.progress or (len(job_ids) > 1 and sys.stderr.isatty()))
    args.interrupted_note = f"nothing was enqueued of {len(job_ids)}"
    try:
        for done, job_id in enumerate(job_ids):
            if done:
                args.interrupted_note = (
                    f"enqueued {done} of {len(job_ids)} (the last {job_ids[done - 1]}); the rest were not"
                )
            message, parent = _cancel_message(args, job_id)
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


def _check_trace_options(args: argparse.Namespace) -> None:
    if args.traceparent is not None and parse_traceparent(args.traceparent) is None:
        raise UsageError("--traceparent is not a valid W3C traceparent")
    if args.tracestate is not None:
        if args.traceparent is None:
            raise UsageError("--tracestate needs --traceparent")
        if parse_tracestate(args.tracestate) is None:
            raise UsageError("--tracestate is not a valid W3C tracestate")


def _cancel_message(args: argparse.Namespace, job_id: str) -> tuple[dict[str, Any], TraceParent]:
    """One request message, in the given trace (checked already) or a new one."""
    parent = parse_traceparent(args.traceparent) if args.traceparent else None
    parent = parent or new_trace_parent()
    message: dict[str, Any] = {"jobId": job_id, "traceparent": parent.header}
    if args.tracestate:
        message["tracestate"] = args.tracestate
    if args.instance:
        message["instance"] = args.instance
    if args.wait_for_completion:
        message["waitForCompletion"] = True
    return message, parent


def _read_queue(
    args: argparse.Namespace, name: str, columns: list[tuple[str, str]], flatten: Callable[[Any], dict[str, Any]]
) -> int:
    from azure.core.exceptions import AzureError

    check_max(args.max)
    queue = _queue(args, name)
    try:
        received = _receive_up_to(queue, args.max, _DRAIN_HIDE_SECONDS if args.drain else _LOOK_HIDE_SECONDS)
    except AzureError as exc:
        return _storage_error(f"read {name}", exc)
    items = [read_queue_json(message.content) for message in received]
    if args.json:
        print(to_json(items))
    else:
        _table([flatten(item) for item in items], columns, sys.stdout)
    sys.stdout.flush()
    try:
        for message in received:
            if args.drain:
                queue.delete_message(message)
            else:  # a look: visible again at once
                queue.update_message(message, visibility_timeout=0)
        queued = queue.get_queue_properties().approximate_message_count or 0
        remaining = queued - (0 if args.drain else len(received))
    except AzureError as exc:
        what = "remove the printed messages from" if args.drain else "release the messages read from"
        return _storage_error(f"{what} {name} (they will reappear)", exc)
    if remaining > 0:
        print(f"{remaining} more on {name} (--max {len(received) + remaining} shows them)", file=sys.stderr)
    return EXIT_OK


def check_max(most: int) -> None:
    """``--max`` of every queue command: how many messages at the most, from 1."""
    if most < 1:
        raise UsageError("--max must be a whole number from 1")


def _receive_up_to(queue: Any, most: int, hide_seconds: int) -> list[Any]:
    """Up to ``most`` messages, 32 a call (Storage's limit), hidden while they are read: a
    peek sees only the first 32, so even a look receives and then releases them."""
    received: list[Any] = []
    while len(received) < most and (
        batch := list(
            queue.receive_messages(max_messages=min(32, most - len(received)), visibility_timeout=hide_seconds)
        )
    ):
        received += batch
    return received


def cmd_results(args: argparse.Namespace) -> int:
    return _read_queue(
        args,
        RESULTS_QUEUE,
        [("id", "JOB"), ("status", "STATUS"), ("lastActionDateTime", "LAST ACTION"), ("note", "NOTE")],
        result_row,
    )


def result_row(item: Any) -> dict[str, Any]:
    """A result as a table row, with a note that reads the status for the operator: ADT
    answers an accepted cancel while the job is still ``running`` (assumptions, fact 1)."""
    if not isinstance(item, dict):
        return {"id": str(item)[:60]}
    status = item.get("status")
    if status in CANCELLABLE_STATUSES:
        note = f"cancel accepted; ADT stops the job within seconds (python -m cancel_job status {item.get('id')})"
    elif status == "cancelling":
        note = "cancel accepted; stopping"
    elif status == "cancelled":
        note = "stopped"
    else:
        note = ""
    return {**item, "note": note}


def cmd_failures(args: argparse.Namespace) -> int:
    return _read_queue(
        args,
        FAILURES_QUEUE,
        [
            ("job", "JOB"),
            ("code", "CODE"),
            ("httpStatus", "HTTP"),
            ("entry", "ENTRY"),
            ("caller", "CALLER"),
            ("delivery", "DELIVERY"),
            ("failedDateTime", "FAILED"),
            ("message", "MESSAGE"),
        ],
        failure_row,
    )


def failure_row(item: Any) -> dict[str, Any]:
    """A failure record as a table row: where it came from (records written before the
    ``entry`` field: HTTP is delivery 0), its queue delivery, and for a request with no
    job id the start of the request itself."""
    if not isinstance(item, dict):
        return {"message": str(item)[:60]}
    error = item.get("error")
    error = error if isinstance(error, dict) else {}
    message = str(error.get("message", ""))
    entry = item.get("entry") or ("http" if item.get("dequeueCount") == 0 else "queue")
    job = item.get("jobId") or f"({_shown(str(item.get('request', '')), 30)[1:-1]})"
    caller = item.get(CALLER_FIELD)
    return {
        **item,
        "job": job,
        "entry": entry,
        # who asked over HTTP: the object id on the allow-list (queue records have none)
        "caller": caller.get("objectId") if isinstance(caller, dict) else None,
        "delivery": item.get("dequeueCount") if entry == "queue" else None,
        "code": error.get("code"),
        "message": message[:80] + ("..." if len(message) > 80 else ""),
    }
