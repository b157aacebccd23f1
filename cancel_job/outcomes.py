"""What a cancel ended in, and how each entry point reports it.

A cancel ends in :class:`Success` or :class:`Failure`. ``transient`` on a
failure means "the same request may succeed later"; the HTTP entry point turns it into
429/503 with ``Retry-After``, the queue entry point into a redelivery.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any, NamedTuple

from . import assumptions
from .caller import Caller
from .contract import CALLER_FIELD, ErrorCode
from .endpoints import Endpoint
from .trace import TraceContext

# A failure record must fit one base64-encoded storage message (64 KiB) even when every
# character needs a six-byte JSON escape, so the untrusted parts are capped.
MAX_RECORDED_REQUEST_CHARS = 4096
MAX_RECORDED_JOB_ID_CHARS = 256

_OWN_HTTP_STATUS = {
    ErrorCode.INVALID_MESSAGE: 400,
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.INVALID_JOB_ID: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.INSTANCE_NOT_ALLOWED: 403,
    ErrorCode.JOB_NOT_CANCELLABLE: 409,
    ErrorCode.UPSTREAM_ERROR: 502,
}


class Success(NamedTuple):
    job_id: str
    job: dict[str, Any]
    endpoint: Endpoint
    trace: TraceContext
    attempts: int
    already_in_effect: bool = False  # an earlier cancel had taken effect; we read the job
    adt_correlation_id: str | None = None  # ADT's mise-correlation-id of its last answer

    @property
    def job_status(self) -> str | None:
        status = self.job.get("status")
        return status if isinstance(status, str) else None

    @property
    def in_progress(self) -> bool:
        """Will the job still change? (Unknown statuses count as settled.)"""
        return self.job_status in assumptions.IN_PROGRESS_STATUSES


class Failure(NamedTuple):
    code: str
    message: str
    job_id: str | None = None
    adt_status: int | None = None  # ADT's HTTP status, when ADT answered
    transient: bool = False
    retry_after: float | None = None
    job: dict[str, Any] | None = None
    endpoint: Endpoint | None = None
    trace: TraceContext | None = None
    attempts: int = 0
    adt_correlation_id: str | None = None  # ADT's mise-correlation-id, when ADT answered
    turn: float | None = None  # a turn the line holds for the request's return (the store's clock, epoch s)

    @property
    def http_status(self) -> int:
        """The status the HTTP entry point answers with."""
        if self.adt_status is None and self.code in (ErrorCode.CONFIGURATION_ERROR, ErrorCode.UNEXPECTED_ERROR):
            return 500  # our own trouble, not ADT's (whose codes may look alike)
        if self.transient:
            throttled = self.adt_status == 429 or self.code == ErrorCode.TOO_MANY_REQUESTS
            return 429 if throttled else 503
        if self.code in _OWN_HTTP_STATUS:
            return _OWN_HTTP_STATUS[ErrorCode(self.code)]
        if self.adt_status is not None and 400 <= self.adt_status < 500:
            return self.adt_status
        return 502

    @property
    def retry_after_header(self) -> str | None:
        if not self.transient:
            return None
        return str(max(1, math.ceil(self.retry_after or 1)))

    def error_body(self) -> dict[str, Any]:
        """ADT's ErrorResponse shape."""
        return {"error": {"code": self.code, "message": self.message}}


Outcome = Success | Failure


def utc_now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# What ends a capped field in a record: the rest was cut off.
TRUNCATION_MARK = "...[truncated]"


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + TRUNCATION_MARK


def failure_record(
    failed: Failure,
    *,
    request_text: str,
    dequeue_count: int,
    entry: str,
    deferrals: int = 0,
    request_id: str | None = None,
    caller: Caller | None = None,
) -> dict[str, Any]:
    """The record on the failures queue. ``deferrals``: how often ADT's throttling put the
    request back on the queue first; ``request_id``: the producer's own id for the request
    (each field is there only when it has a value)."""
    record: dict[str, Any] = {
        "jobId": None if failed.job_id is None else _cap(failed.job_id, MAX_RECORDED_JOB_ID_CHARS),
        "error": {"code": failed.code, "message": failed.message},
        "httpStatus": failed.adt_status,
        "adtCorrelationId": failed.adt_correlation_id,
        "entry": entry,  # "http" or "queue"
        "dequeueCount": dequeue_count,
        "request": _cap(request_text, MAX_RECORDED_REQUEST_CHARS),
        "failedDateTime": utc_now_rfc3339(),
    }
    if deferrals:
        record["deferrals"] = deferrals
    if request_id is not None:
        record["requestId"] = request_id
    if failed.job is not None:
        record["job"] = failed.job
    if caller is not None:  # who asked, as App Service authentication validated them (HTTP)
        record[CALLER_FIELD] = caller.to_json()
    return record


def to_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
