"""One structured log record per outcome, with untrusted values escaped and no secrets."""

from __future__ import annotations

import logging
from typing import Any

from .caller import Caller
from .contract import (
    CALLER_FIELD,
    OUTCOME_FAILED,
    OUTCOME_FIELD,
    OUTCOME_READ_FAILED,
    OUTCOME_RETRYABLE,
    OUTCOME_UNAUTHENTICATED,
    PACING_FIELD,
)
from .outcomes import Failure, Outcome
from .redact import escape_untrusted, redact

logger = logging.getLogger("cancel_job")


def outcome_name(
    outcome: Outcome, *, retrying: bool = False, deferred: bool = False, unrecorded: str | None = None
) -> str:
    """``retrying``, ``deferred`` (put back on the queue while ADT throttles), ``failed`` (a
    failure record is written) or, for a failure that leaves none, ``unrecorded``
    (``retryable``, ``readFailed``); else the job's status: ``cancelling``/``cancelled`` for a
    cancel, whatever ADT reported (``running``, ``succeeded``, ...) for a status read."""
    if retrying:
        return "retrying"
    if deferred:
        return "deferred"
    if isinstance(outcome, Failure):  # "failed" only where a failure record is written
        return unrecorded or OUTCOME_FAILED
    return outcome.job_status or "unknown"


def outcome_fields(
    outcome: Outcome,
    *,
    entry: str,
    duration_seconds: float,
    invocation_id: str | None = None,
    dequeue_count: int | None = None,
    retrying: bool = False,
    next_check_seconds: int | None = None,
    deferred_seconds: int | None = None,
    deferrals: int | None = None,
    unrecorded: str | None = None,
    caller: Caller | None = None,
    pacing: str | None = None,
) -> dict[str, Any]:
    failed = outcome if isinstance(outcome, Failure) else None
    fields: dict[str, Any] = {
        "entry": entry,
        "jobId": escape_untrusted(outcome.job_id) if outcome.job_id is not None else None,
        "instance": outcome.endpoint.host if outcome.endpoint else None,
        OUTCOME_FIELD: outcome_name(
            outcome, retrying=retrying, deferred=deferred_seconds is not None, unrecorded=unrecorded
        ),
        "adtStatus": failed.adt_status if failed else 200,
        "errorCode": failed.code if failed else None,
        "attempts": outcome.attempts,
        "durationMs": round(duration_seconds * 1000, 1),
        "traceId": outcome.trace.trace_id if outcome.trace else None,
        "adtCorrelationId": outcome.adt_correlation_id,
        "invocationId": invocation_id,
    }
    if dequeue_count is not None:
        fields["dequeueCount"] = dequeue_count
    if next_check_seconds is not None:  # follow-through: the job is checked again later
        fields["nextCheckSeconds"] = next_check_seconds
    if deferred_seconds is not None:  # throttled: the request is tried again this much later
        fields["deferredSeconds"] = deferred_seconds
    if deferrals:
        fields["deferrals"] = deferrals
    if pacing is not None:  # shared, process or fallback: an alert counts fallback
        fields[PACING_FIELD] = pacing
    if caller is not None:  # flat, so a query reads it as customDimensions.callerObjectId
        fields[f"{CALLER_FIELD}ObjectId"] = caller.object_id
        fields[f"{CALLER_FIELD}AppId"] = caller.app_id
    if failed:
        fields["errorMessage"] = escape_untrusted(redact(failed.message), limit=500)
    return fields


def log_outcome(outcome: Outcome, **kwargs: Any) -> dict[str, Any] | None:
    name = outcome_name(
        outcome,
        retrying=kwargs.get("retrying", False),
        deferred=kwargs.get("deferred_seconds") is not None,
        unrecorded=kwargs.get("unrecorded"),
    )
    level = (
        logging.WARNING
        if name in (OUTCOME_FAILED, OUTCOME_RETRYABLE, OUTCOME_READ_FAILED, OUTCOME_UNAUTHENTICATED, "retrying")
        else logging.INFO
    )
    if not logger.isEnabledFor(level):  # build nothing for a record nobody reads
        return None
    fields = outcome_fields(outcome, **kwargs)
    summary = " ".join(f"{key}={value}" for key, value in fields.items() if value is not None)
    logger.log(level, "import cancel %s", summary, extra=fields)
    return fields
