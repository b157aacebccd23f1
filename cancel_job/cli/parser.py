"""The command line's arguments, and ``main``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from ..contract import FAILURES_QUEUE, POISON_QUEUE, REQUESTS_QUEUE, RESULTS_QUEUE, STORAGE_CONNECTION, Setting
from .adt_commands import cmd_cancel, cmd_list, cmd_status
from .output import EXIT_INTERRUPTED, EXIT_USAGE, UsageError
from .queue_commands import cmd_enqueue, cmd_failures, cmd_results
from .redrive import cmd_redrive

EPILOG = """examples:
  python -m cancel_job cancel importjob1 --wait            # cancel, then follow it to "cancelled"
  python -m cancel_job status importjob1                   # the job, as pretty-printed JSON
  python -m cancel_job status importjob1 --json            # the same on one compact line, for scripts
  python -m cancel_job list                                # a table of the instance's jobs
  python -m cancel_job enqueue job-a job-b                 # via the requests queue
  cat ids.txt | python -m cancel_job enqueue -             # ids from stdin, one per line
  python -m cancel_job failures --drain --json             # take the records off the queue, as JSON
  python -m cancel_job redrive failures --code TooManyRequests   # re-enqueue their requests
  python -m cancel_job redrive poison --dry-run            # show what would move, move nothing

ADT commands read ADT_ENDPOINT (or --endpoint) and sign in with DefaultAzureCredential
(az login, a managed identity, ...). Queue commands read STORAGE_CONNECTION (or
--connection-string), or use --account-url https://<account>.queue.core.windows.net with
DefaultAzureCredential. Exit codes: 0 success, 1 the operation failed, 2 usage or
configuration error.
"""


# What --json changes, said per kind of command: the default output differs between them.
_ONE_JOB_JSON = "one compact JSON line, errors included, on stdout (default: the job pretty-printed, errors on stderr)"
_TABLE_JSON = "a JSON array on stdout instead of the table"


def build_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="python -m cancel_job",
        formatter_class=formatter,
        epilog=EPILOG,
        description="Cancel Azure Digital Twins import jobs and see what happened.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, handler: Callable[[argparse.Namespace], int], summary: str, example: str, json_help: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name, help=summary, description=summary, formatter_class=formatter, epilog=f"example:\n  {example}"
        )
        sub.add_argument("--json", action="store_true", help=json_help)
        sub.add_argument(
            "--verbose",
            action="store_true",
            help="show the Azure SDK's own log (azure-identity's attempts, HTTP calls) on stderr",
        )
        sub.set_defaults(handler=handler)
        return sub

    def adt_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--endpoint", help=f"ADT base URL (default: ${Setting.ADT_ENDPOINT.value})")
        sub.add_argument("--instance", help="another allowlisted instance (host name or https URL)")

    def queue_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--connection-string", help=f"storage connection string (default: ${STORAGE_CONNECTION})")
        sub.add_argument(
            "--account-url", help="https://<account>.queue.core.windows.net, signed in with DefaultAzureCredential"
        )
        sub.add_argument("--retries", type=int, default=3, help="retries of a failed storage call (default 3)")

    cancel = command(
        "cancel",
        cmd_cancel,
        "Cancel an import job directly (not through the queue).",
        "python -m cancel_job cancel importjob1 --wait --timeout 600   # follow it to a final status, 10 min at most",
        _ONE_JOB_JSON,
    )
    cancel.add_argument("job_id", metavar="JOB_ID")
    adt_options(cancel)
    cancel.add_argument("--wait", action="store_true", help="poll until the job is final and print it")
    cancel.add_argument("--timeout", type=float, default=600.0, help="give up waiting after this many seconds")

    status = command(
        "status",
        cmd_status,
        "Show an import job, as pretty-printed JSON.",
        "python -m cancel_job status importjob1 --json   # one compact line instead of pretty-printed",
        _ONE_JOB_JSON,
    )
    status.add_argument("job_id", metavar="JOB_ID")
    adt_options(status)

    listing = command(
        "list",
        cmd_list,
        "List the instance's import jobs (all pages), as a table.",
        "python -m cancel_job list --json   # a JSON array of the ImportJobs instead of the table",
        _TABLE_JSON,
    )
    adt_options(listing)

    enqueue = command(
        "enqueue",
        cmd_enqueue,
        "Put cancel requests on the requests queue.",
        "python -m cancel_job enqueue job-a job-b --wait-for-completion   # results are the jobs once final",
        "one JSON line per message sent (jobId, messageId, traceId) instead of text",
    )
    enqueue.add_argument("job_ids", nargs="*", metavar="JOB_ID", help="job ids; '-' reads them from stdin")
    enqueue.add_argument("--file", help="read job ids from this file, one per line ('#' starts a comment)")
    enqueue.add_argument("--traceparent", help="W3C traceparent to continue (default: a new trace per message)")
    enqueue.add_argument("--tracestate", help="W3C tracestate to carry with --traceparent")
    enqueue.add_argument("--instance", help="another allowlisted ADT instance (host name or https URL)")
    enqueue.add_argument(
        "--wait-for-completion", action="store_true", help="have the function follow each job to a final status"
    )
    enqueue.add_argument("--queue-url", help="https URL of the queue, signed in with DefaultAzureCredential")
    enqueue.add_argument("--queue", default=REQUESTS_QUEUE, help=f"queue name (default {REQUESTS_QUEUE})")
    enqueue.add_argument("--progress", action="store_true", help="show a progress bar (default: on a terminal)")
    queue_options(enqueue)

    for name, handler, queue_name in (
        ("results", cmd_results, RESULTS_QUEUE),
        ("failures", cmd_failures, FAILURES_QUEUE),
    ):
        reader = command(
            name,
            handler,
            f"Show the {queue_name} queue (peek; --drain removes).",
            f"python -m cancel_job {name} --drain --json   # take them off the queue; a JSON array, not a table",
            _TABLE_JSON,
        )
        reader.add_argument("--drain", action="store_true", help="receive and delete the messages")
        reader.add_argument("--max", type=int, default=32, help="at most this many messages (default 32)")
        queue_options(reader)

    redrive = command(
        "redrive",
        cmd_redrive,
        f"Put failed work back on {REQUESTS_QUEUE}: poison messages unchanged, or the requests "
        "of failure records with the given codes. Sends first, deletes after.",
        "python -m cancel_job redrive failures --code TooManyRequests --dry-run   # list what would move",
        _TABLE_JSON,
    )
    redrive.add_argument(
        "what", choices=["poison", "failures"], help=f"poison: {POISON_QUEUE}; failures: records on {FAILURES_QUEUE}"
    )
    redrive.add_argument(
        "--code",
        action="append",
        metavar="CODE",
        help="with failures: re-drive records with this error code (repeat for more)",
    )
    redrive.add_argument("--dry-run", action="store_true", help="show what would move, and move nothing")
    redrive.add_argument("--max", type=int, default=1000, help="at most this many messages (default 1000)")
    queue_options(redrive)
    return parser


def _sdk_logging(verbose: bool) -> None:
    """The Azure SDK's log stays off the CLI's stderr unless asked for: without a handler,
    Python prints its warnings there (azure-identity's, dozens of lines per failed sign-in),
    burying the one line that matters."""
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
        logging.getLogger("azure").setLevel(logging.INFO)
    else:
        logging.getLogger("azure").setLevel(logging.CRITICAL)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    _sdk_logging(args.verbose)
    try:
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C: one line with what is known, never a traceback
        note = getattr(args, "interrupted_note", "")
        print(f"interrupted{': ' + note if note else ''}", file=sys.stderr)
        return EXIT_INTERRUPTED
