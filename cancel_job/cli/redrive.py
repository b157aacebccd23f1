"""Re-drive: put failed work back on the requests queue once its cause is fixed.

``redrive poison`` moves the messages of ``import-cancel-requests-poison`` back, unchanged.
``redrive failures --code CODE …`` re-enqueues the request of each failure record with one
of the codes, taken from the record itself, as a new request: the marks the app adds to a
request it put back itself (``deferrals``, ``notAfter``, ``turn``, ``followUp``) are dropped, so a
request that ran out of deferrals starts afresh.

Neither can lose a message. Each is hidden while it is handled (received with a
visibility timeout), sent to the requests queue, and only then deleted, with its pop
receipt. A message that cannot be sent, or a record whose request cannot be re-sent, stays
where it was and is reported. A crash between the send and the delete leaves the request
in both places: it may run twice, never not at all (a repeated cancel is safe).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, NamedTuple

from ..contract import FAILURES_QUEUE, POISON_QUEUE, REQUESTS_QUEUE
from ..messages import InvalidMessageError, parse_message, read_queue_json, strict_base64_text
from ..outcomes import TRUNCATION_MARK, to_json
from .output import EXIT_FAILED, EXIT_OK, Progress, UsageError, _table
from .queue_commands import _queue, _storage_error, check_max

# How long a message stays hidden while it is handled; longer than a run of --max 1000.
HIDE_SECONDS = 300
# Marks of a request the app put back itself; a re-driven request starts without them.
APP_MARKS = ("deferrals", "notAfter", "turn", "followUp")


class Planned(NamedTuple):
    message: Any  # the queue message, with its pop receipt
    job_id: str | None
    code: str | None  # the failure record's error code (failures only)
    request: str | None  # what to send; None: it cannot be re-driven
    reason: str = ""  # why not, when request is None


def fresh_request(text: str) -> str:
    """The request to send again: JSON (plain or base64) without the app's own marks, as
    plain JSON; anything else unchanged."""
    for candidate in (text.strip(), strict_base64_text(text.strip())):
        if candidate and candidate.startswith("{"):
            try:
                document = json.loads(candidate)
            except (ValueError, RecursionError):
                return text
            if isinstance(document, dict):
                return to_json({key: value for key, value in document.items() if key not in APP_MARKS})
    return text


def _job_id(request: str) -> str | None:
    try:
        job_id = parse_message(request).job_id
    except InvalidMessageError as exc:
        return exc.job_id
    return job_id if isinstance(job_id, str) else None


def plan_poison(message: Any) -> Planned:
    return Planned(message, _job_id(message.content), None, message.content)


def plan_failure(message: Any, codes: set[str]) -> Planned | None:
    """The record's request, if its code is one of ``codes`` (None: not selected)."""
    record = read_queue_json(message.content)
    error = record.get("error") if isinstance(record, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    if code not in codes:
        return None
    job_id = record.get("jobId") if isinstance(record.get("jobId"), str) else None
    request = record.get("request")
    if not isinstance(request, str) or not request.strip():
        return Planned(message, job_id, code, None, "the record holds no request")
    if request.endswith(TRUNCATION_MARK):
        return Planned(message, job_id, code, None, "the record holds only the start of the request")
    return Planned(message, job_id, code, fresh_request(request))


def _receive_selected(source: Any, args: argparse.Namespace) -> tuple[list[Planned], list[Any]]:
    """Hide messages until ``--max`` are selected or none is left: (selected, passed over)."""
    codes = set(args.code or ())
    selected: list[Planned] = []
    passed: list[Any] = []
    while len(selected) < args.max:
        batch = list(
            source.receive_messages(max_messages=min(32, args.max - len(selected)), visibility_timeout=HIDE_SECONDS)
        )
        if not batch:
            break
        for message in batch:
            planned = plan_poison(message) if args.what == "poison" else plan_failure(message, codes)
            if planned is None:
                passed.append(message)
            else:
                selected.append(planned)
    return selected, passed


def _release(source: Any, messages: list[Any]) -> None:
    """Make hidden messages visible again at once (a failure to do so only delays them)."""
    from azure.core.exceptions import AzureError

    for message in messages:
        try:
            source.update_message(message, visibility_timeout=0)
        except AzureError:
            pass


def _move(source: Any, target: Any, item: Planned) -> str:
    """Send, then delete: the item's status."""
    from azure.core.exceptions import AzureError

    if item.request is None:
        _release(source, [item.message])
        return f"left: {item.reason}"
    try:
        target.send_message(item.request)
    except AzureError as exc:
        _release(source, [item.message])
        return f"left: could not send ({type(exc).__name__})"
    try:
        source.delete_message(item.message)
    except AzureError as exc:
        return f"sent, not deleted ({type(exc).__name__}): it will appear again, and may run twice"
    return "moved"


def _check(args: argparse.Namespace) -> None:
    check_max(args.max)
    if args.what == "failures" and not args.code:
        raise UsageError("redrive failures needs --code CODE (one or more), the error codes to re-drive")
    if args.what == "poison" and args.code:
        raise UsageError("--code selects failure records; redrive poison moves every message")


def cmd_redrive(args: argparse.Namespace) -> int:
    from azure.core.exceptions import AzureError

    _check(args)
    source_name = POISON_QUEUE if args.what == "poison" else FAILURES_QUEUE
    source, target = _queue(args, source_name), _queue(args, REQUESTS_QUEUE)
    try:
        selected, passed = _receive_selected(source, args)
    except AzureError as exc:
        return _storage_error(f"read {source_name}", exc)
    _release(source, passed)
    if args.dry_run:
        _release(source, [item.message for item in selected])
        statuses = ["would move" if item.request is not None else f"would leave: {item.reason}" for item in selected]
    else:
        progress = Progress(len(selected), enabled=len(selected) > 1 and sys.stderr.isatty(), label="re-driving")
        statuses = []
        try:
            for item in selected:
                args.interrupted_note = (
                    f"moved {statuses.count('moved')} of {len(selected)}; the others stay on "
                    f"{source_name}, visible again within {HIDE_SECONDS // 60} minutes"
                )
                statuses.append(_move(source, target, item))
                progress.step()
        finally:
            progress.close()
    _report(selected, statuses, args)
    return EXIT_OK if all(s in ("moved", "would move") for s in statuses) else EXIT_FAILED


def _report(selected: list[Planned], statuses: list[str], args: argparse.Namespace) -> None:
    rows = [
        {
            "messageId": item.message.id,
            "jobId": item.job_id,
            "code": item.code,
            "status": status,
            "request": item.request,
        }
        for item, status in zip(selected, statuses, strict=True)
    ]
    if args.json:
        print(to_json(rows))
        return
    columns = [("messageId", "MESSAGE"), ("jobId", "JOB")]
    columns += [("code", "CODE")] if args.what == "failures" else []
    _table(rows, [*columns, ("status", "STATUS")], sys.stdout)
    verb = "would move" if args.dry_run else "moved"
    print(f"{verb} {statuses.count(verb)} of {len(selected)} to {REQUESTS_QUEUE}", file=sys.stderr)
