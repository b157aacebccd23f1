"""The ADT commands (cancel, status, list): the function's core, rules and errors, signed in
with DefaultAzureCredential."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

from ..contract import Setting
from ..messages import CancelRequest
from ..outcomes import Failure, Outcome, Success, to_json
from ..settings import ConfigurationError, Settings
from .output import EXIT_OK, UsageError, WaitStatus, _print_job, _report_failure, _table

# Polling a job for --wait: ADT's Jobs API allows about one request per second.
_FIRST_POLL_SECONDS, _MAX_POLL_SECONDS = 1.0, 10.0


def _service(args: argparse.Namespace):
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
