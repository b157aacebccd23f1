"""The queue commands (enqueue, results, failures): a connection string (Azurite,
``STORAGE_CONNECTION``) or an account URL with DefaultAzureCredential."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from ..contract import FAILURES_QUEUE, RESULTS_QUEUE, STORAGE_CONNECTION
from ..job_id import InvalidJobIdError, validate_job_id
from ..messages import read_queue_json
from ..outcomes import to_json
from ..redact import redact
from ..trace import new_trace_parent, parse_traceparent, parse_tracestate
from .output import EXIT_FAILED, EXIT_OK, Progress, UsageError, _table

_DRAIN_HIDE_SECONDS = 300


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
