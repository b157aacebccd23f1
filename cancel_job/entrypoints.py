"""Both entry points, as plain functions of plain values (no Functions runtime here).

``function_app.py`` binds them: it passes the trigger's values in and copies the
returned replies to the HTTP response and the output queues.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .contract import ERROR_CODE_HEADER, ErrorCode
from .messages import CancelRequest, InvalidMessageError, body_text, parse_message
from .observability import log_outcome
from .outcomes import Failure, Outcome, Success, failure_record, to_json
from .service import CancelService
from .settings import ConfigurationError

ServiceProvider = Callable[[], CancelService]

# For the queue path, 401/403 heal by themselves once a new role assignment propagates.
_QUEUE_TRANSIENT_STATUSES = frozenset({401, 403})


@dataclass(frozen=True)
class Invocation:
    """What the host tells us about this invocation."""

    invocation_id: str | None = None
    traceparent: str | None = None
    tracestate: str | None = None


@dataclass(frozen=True)
class HttpReply:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)
    result: str | None = None  # for the results queue
    failure: str | None = None  # for the failures queue


@dataclass(frozen=True)
class QueueReply:
    result: str | None = None
    failure: str | None = None


class RetryDelivery(Exception):
    """Raised to the host so it redelivers the message later."""


def _run(provider: ServiceProvider, request: CancelRequest, invocation: Invocation) -> Outcome:
    try:
        service = provider()
    except ConfigurationError as exc:
        return Failure(ErrorCode.CONFIGURATION_ERROR.value, str(exc), transient=True)
    return service.cancel(request, invocation.traceparent, invocation.tracestate)


def handle_http_cancel(
    provider: ServiceProvider,
    job_id: object,
    headers: Mapping[str, str],
    params: Mapping[str, str],
    invocation: Invocation = Invocation(),
) -> HttpReply:
    started = time.monotonic()
    request = CancelRequest(
        job_id=job_id,
        instance=params.get("instance"),
        traceparent=headers.get("traceparent"),
        tracestate=headers.get("tracestate"),
    )
    outcome = _run(provider, request, invocation)
    log_outcome(outcome, entry="http", duration_seconds=time.monotonic() - started,
                invocation_id=invocation.invocation_id)
    if isinstance(outcome, Success):
        body = to_json(outcome.job)
        return HttpReply(200, body, {"Content-Type": "application/json"}, result=body)
    headers_out = {"Content-Type": "application/json", ERROR_CODE_HEADER: outcome.code}
    retry_after = outcome.retry_after_header
    if retry_after is not None:
        headers_out["Retry-After"] = retry_after
    record = failure_record(outcome, request_text=job_id if isinstance(job_id, str) else "", dequeue_count=0)
    return HttpReply(outcome.http_status, to_json(outcome.error_body()), headers_out, failure=to_json(record))


def handle_queue_message(
    provider: ServiceProvider,
    body: bytes | str | None,
    dequeue_count: int,
    max_dequeue_count: int,
    invocation: Invocation = Invocation(),
) -> QueueReply:
    """Returns what to write; raises RetryDelivery when the host should try again."""
    started = time.monotonic()
    try:
        request = parse_message(body)
    except InvalidMessageError as exc:
        outcome: Outcome = Failure(ErrorCode.INVALID_MESSAGE.value, str(exc), job_id=exc.job_id)
    else:
        outcome = _run(provider, request, invocation)
    duration = time.monotonic() - started
    if isinstance(outcome, Success):
        log_outcome(outcome, entry="queue", duration_seconds=duration,
                    invocation_id=invocation.invocation_id, dequeue_count=dequeue_count)
        return QueueReply(result=to_json(outcome.job))
    retry = outcome.transient or outcome.adt_status in _QUEUE_TRANSIENT_STATUSES
    last_delivery = dequeue_count >= max_dequeue_count
    log_outcome(outcome, entry="queue", duration_seconds=duration, invocation_id=invocation.invocation_id,
                dequeue_count=dequeue_count, retrying=retry and not last_delivery)
    if retry and not last_delivery:
        raise RetryDelivery(f"{outcome.code}: {outcome.message}")
    record = failure_record(outcome, request_text=body_text(body), dequeue_count=dequeue_count)
    return QueueReply(failure=to_json(record))
