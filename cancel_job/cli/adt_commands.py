"""The ADT commands (cancel, status, list): the function's core, rules and errors, signed in
with DefaultAzureCredential."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..contract import Setting
from ..messages import CancelRequest
from ..outcomes import Failure, Outcome, Success, to_json
from ..settings import ConfigurationError, Settings

if TYPE_CHECKING:  # built by the commands that call ADT, not by the queue commands
    from ..service import CancelService

from .output import EXIT_OK, UsageError, WaitStatus, _print_job, _report_failure, _table

# Polling a job for --wait: ADT's Jobs API allows about one request per second.
_FIRST_POLL_SECONDS, _MAX_POLL_SECONDS = 1.0, 10.0
# A wait this long or longer is said on stderr, so the CLI never seems to hang.
ANNOUNCE_WAIT_SECONDS = 1.0


def _service(args: argparse.Namespace) -> CancelService:
    from ..identity import developer_credential
    from ..runtime import build_service

    env = dict(os.environ)
    if args.endpoint:
        env[Setting.ADT_ENDPOINT.value] = args.endpoint
    try:
        settings = Settings.from_env(env)
    except ConfigurationError as exc:
        about_endpoint = str(exc).startswith(f"{Setting.ADT_ENDPOINT.value} ")
        hint = f" (pass --endpoint or set {Setting.ADT_ENDPOINT.value})" if about_endpoint else ""
        raise UsageError(f"{exc}{hint}") from None
    return build_service(settings, lambda: developer_credential(settings), sleep=announcing_sleep)


def announcing_sleep(seconds: float, sleep: Callable[[float], None] = time.sleep) -> None:
    """The service's waits, said on stderr when they are long (a status line on a terminal):
    a second CLI call right after another can wait out ADT's throttling for 5-14 s."""
    if seconds < ANNOUNCE_WAIT_SECONDS:
        sleep(seconds)
        return
    status = WaitStatus(enabled=True)
    status.show(
        f"waiting {seconds:.0f} s before calling ADT: its rate limit (a 429's Retry-After, "
        "or the pace of about 1 request/s) or a retry's backoff"
    )
    try:
        sleep(seconds)
    finally:
        status.close()


def _wait_until_final(
    service: CancelService, accepted: Success, args: argparse.Namespace, sleep: Callable[[float], None] = time.sleep
) -> Outcome:
    """Poll the job with growing pauses (never faster than ADT's 1 request/s)."""
    outcome: Outcome = accepted
    started = time.monotonic()
    pause = _FIRST_POLL_SECONDS
    request = CancelRequest(accepted.job_id, args.instance, accepted.trace.parent.header, accepted.trace.state)
    status = WaitStatus(enabled=not args.json)
    try:
        while isinstance(outcome, Success) and outcome.in_progress:
            elapsed = time.monotonic() - started
            remaining = args.timeout - elapsed
            if remaining <= 0:
                return Failure(
                    "WaitTimedOut",
                    f"import job is still {outcome.job_status} after {elapsed:.0f} s",
                    job_id=outcome.job_id,
                    job=outcome.job,
                )
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
    again = f"python -m cancel_job status {args.job_id}"
    args.interrupted_note = f"the cancel of {args.job_id} may or may not have reached ADT; see: {again}"
    outcome = service.cancel(CancelRequest(args.job_id, args.instance))
    if isinstance(outcome, Success) and args.wait:
        args.interrupted_note = (
            f"the cancel of {args.job_id} was sent and accepted (the job was "
            f"{outcome.job_status}); keep watching with: {again}"
        )
        outcome = _wait_until_final(service, outcome, args)
    if isinstance(outcome, Failure):
        return _report_failure(outcome, args)
    _print_job(outcome.job, args)
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    args.interrupted_note = "nothing was changed (a read)"
    outcome = _service(args).read(CancelRequest(args.job_id, args.instance))
    if isinstance(outcome, Failure):
        return _report_failure(outcome, args)
    _print_job(outcome.job, args)
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    args.interrupted_note = "nothing was changed (a read)"
    jobs = _service(args).list_jobs(args.instance)
    if isinstance(jobs, Failure):
        return _report_failure(jobs, args)
    if args.json:
        print(to_json(jobs))
    else:
        _table(
            jobs,
            [("id", "ID"), ("status", "STATUS"), ("createdDateTime", "CREATED"), ("finishedDateTime", "FINISHED")],
            sys.stdout,
        )
    return EXIT_OK
