"""Command line: ``python -m cancel_job enqueue JOB_ID [JOB_ID ...]``.

Puts cancel requests on the requests queue, base64-encoded as the Functions host
expects. Exit codes: 0 all enqueued, 1 the storage service failed, 2 usage or
configuration error (nothing was enqueued).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from .contract import REQUESTS_QUEUE, STORAGE_CONNECTION
from .job_id import InvalidJobIdError, validate_job_id
from .outcomes import to_json
from .trace import new_trace_parent, parse_traceparent, parse_tracestate

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

_EPILOG = """examples:
  python -m cancel_job enqueue importjob1
  python -m cancel_job enqueue job-a job-b --traceparent 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
  python -m cancel_job enqueue importjob1 --queue-url https://myacct.queue.core.windows.net/import-cancel-requests

Without --queue-url the connection string comes from --connection-string or the
STORAGE_CONNECTION setting (for Azurite, the usual local setup). With --queue-url the
CLI signs in with DefaultAzureCredential (az login, a managed identity, ...).
"""


class UsageError(Exception):
    pass


def build_message(job_id: str, traceparent: str, tracestate: str | None, instance: str | None) -> str:
    message: dict[str, Any] = {"jobId": job_id, "traceparent": traceparent}
    if tracestate:
        message["tracestate"] = tracestate
    if instance:
        message["instance"] = instance
    return to_json(message)


def _queue_client(args: argparse.Namespace):
    from azure.storage.queue import ExponentialRetry, QueueClient, TextBase64EncodePolicy

    # The SDK's default waits 15 s and more between tries; an operator wants an answer.
    options = {
        "message_encode_policy": TextBase64EncodePolicy(),
        "retry_policy": ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=args.retries),
    }
    if args.queue_url:
        if not args.queue_url.startswith("https://"):
            raise UsageError("--queue-url must be an https:// URL of the queue")
        from azure.identity import DefaultAzureCredential

        return QueueClient.from_queue_url(
            args.queue_url, credential=DefaultAzureCredential(), **options
        )
    connection = args.connection_string or os.environ.get(STORAGE_CONNECTION)
    if not connection:
        raise UsageError(f"no queue given: pass --queue-url, --connection-string or set {STORAGE_CONNECTION}")
    try:
        return QueueClient.from_connection_string(connection, args.queue, **options)
    except ValueError:
        raise UsageError("the storage connection string is not valid") from None


def _enqueue(args: argparse.Namespace) -> int:
    try:
        job_ids = [validate_job_id(job_id) for job_id in args.job_ids]
    except InvalidJobIdError as exc:
        raise UsageError(f"invalid job id: {exc}") from None
    if args.traceparent is not None and parse_traceparent(args.traceparent) is None:
        raise UsageError("--traceparent is not a valid W3C traceparent")
    if args.tracestate is not None:
        if args.traceparent is None:
            raise UsageError("--tracestate needs --traceparent")
        if parse_tracestate(args.tracestate) is None:
            raise UsageError("--tracestate is not a valid W3C tracestate")
    queue = _queue_client(args)
    from azure.core.exceptions import AzureError

    for job_id in job_ids:
        parent = parse_traceparent(args.traceparent) if args.traceparent else new_trace_parent()
        body = build_message(job_id, parent.header, args.tracestate, args.instance)
        try:
            sent = queue.send_message(body)
        except AzureError as exc:
            print(f"error: could not enqueue {job_id}: {type(exc).__name__}: {_first_line(exc)}", file=sys.stderr)
            return EXIT_FAILED
        if args.json:
            print(json.dumps({"jobId": job_id, "messageId": sent.id, "traceId": parent.trace_id}))
        else:
            print(f"enqueued {job_id} (message {sent.id}, trace {parent.trace_id})")
    return EXIT_OK


def _first_line(exc: BaseException) -> str:
    from .redact import redact

    text = str(exc).strip().splitlines()
    return redact(text[0])[:300] if text else ""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cancel_job",
        description="Operate adt-import-cancel from a terminal.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_EPILOG,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    enqueue = commands.add_parser(
        "enqueue", help="put cancel requests on the requests queue",
        description="Put one cancel request per job id on the requests queue.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_EPILOG,
    )
    enqueue.add_argument("job_ids", nargs="+", metavar="JOB_ID", help="import job id(s) to cancel")
    enqueue.add_argument("--traceparent", help="W3C traceparent to continue (default: a new trace per message)")
    enqueue.add_argument("--tracestate", help="W3C tracestate to carry with --traceparent")
    enqueue.add_argument("--instance", help="another allowlisted ADT instance (host name or https URL)")
    enqueue.add_argument("--connection-string", help=f"storage connection string (default: ${STORAGE_CONNECTION})")
    enqueue.add_argument("--queue-url", help="https URL of the queue, signed in with DefaultAzureCredential")
    enqueue.add_argument("--queue", default=REQUESTS_QUEUE, help=f"queue name (default {REQUESTS_QUEUE})")
    enqueue.add_argument("--retries", type=int, default=3, help="retries of a failed storage call (default 3)")
    enqueue.add_argument("--json", action="store_true", help="print one JSON object per message")
    enqueue.set_defaults(handler=_enqueue)
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
