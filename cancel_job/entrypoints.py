"""Both entry points, as plain functions of plain values (no Functions runtime here).

``function_app.py`` binds them: it passes the trigger's values in and copies the
returned replies to the HTTP response and the output queues.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import NamedTuple
from urllib.parse import urlencode, urlsplit, urlunsplit

from .caller import Caller, caller_from_headers
from .contract import (
    ERROR_CODE_HEADER,
    OUTCOME_READ_FAILED,
    OUTCOME_RETRYABLE,
    OUTCOME_UNAUTHENTICATED,
    CallerAuthentication,
    ErrorCode,
)
from .deferral import Deferred, GiveUp, defer, is_throttled
from .follow_through import Expired, Scheduled, next_step
from .messages import CancelRequest, InvalidMessageError, body_text, parse_message
from .observability import log_outcome, logger
from .outcomes import Failure, Outcome, Success, failure_record, to_json
from .redact import redact
from .service import CancelService
from .settings import ConfigurationError

ServiceProvider = Callable[[], CancelService]
# Puts a message on the requests queue, invisible for a while: (message body, delay in seconds).
LaterSender = Callable[[str, int], None]


class Invocation(NamedTuple):
    """What the host tells us about this invocation."""

    invocation_id: str | None = None
    traceparent: str | None = None
    tracestate: str | None = None


NO_INVOCATION = Invocation()


class HttpReply(NamedTuple):
    status: int
    body: str
    headers: dict[str, str]
    result: str | None = None  # for the results queue
    failure: str | None = None  # for the failures queue


class QueueReply(NamedTuple):
    result: str | None = None
    failure: str | None = None


_jitter = random.Random()


class RetryDelivery(Exception):
    """Raised to the host so it redelivers the message later."""


def _run(
    provider: ServiceProvider,
    request: CancelRequest,
    invocation: Invocation,
    *,
    read: bool = False,
    after_cancel: bool = False,
    can_return: bool = False,
) -> Outcome:
    """Cancel (or, with ``read``, read) the job. A configuration error is an outcome too, and
    so is a bug: no exception leaves an entry point unrecorded. ``can_return``: a throttled
    request goes back on the queue (so the gate may hold it a turn)."""
    try:
        service = provider()
        trace = (request, invocation.traceparent, invocation.tracestate)
        if read:
            return service.read(*trace, after_cancel=after_cancel, can_return=can_return)
        return service.cancel(*trace, can_return=can_return)
    except ConfigurationError as exc:
        return Failure(ErrorCode.CONFIGURATION_ERROR.value, str(exc), transient=True)
    except Exception as exc:  # a bug, not bad input: say so, and let the queue path retry
        logger.error("unexpected %s while handling a request: %s", type(exc).__name__, redact(str(exc))[:300])
        return Failure(
            ErrorCode.UNEXPECTED_ERROR.value,
            f"unexpected {type(exc).__name__}; see the logs",
            job_id=request.job_id if isinstance(request.job_id, str) else None,
            transient=True,
        )


class HttpCall(NamedTuple):
    """The parts of an HTTP request the entry points read."""

    job_id: object
    headers: Mapping[str, str]
    params: Mapping[str, str]
    url: str = ""

    def request(self) -> CancelRequest:
        return CancelRequest(
            job_id=self.job_id,
            instance=self.params.get("instance"),
            traceparent=self.headers.get("traceparent"),
            tracestate=self.headers.get("tracestate"),
        )


# Query parameters a status URL keeps. Callers authenticate with Entra tokens, which a Logic
# App sends on its polls too, so no credential ever travels in a URL.
_LOCATION_PARAMS = ("instance",)
# Boolean query parameters take exactly these spellings, as docs/openapi.json declares.
_FLAG_VALUES = {"true": True, "false": False}


def _flag(call: HttpCall, name: str) -> bool | None:
    """A boolean query parameter (absent is false), or None when it is neither spelling."""
    return _FLAG_VALUES.get(call.params.get(name, "false"))


def status_location(call: HttpCall, job_id: str, *, of_cancel: bool) -> str:
    """The absolute URL to poll for ``job_id``, on the host the caller used.

    ``of_cancel``: the cancel route (``GET …/cancel``, served by the cancel function), so
    that a poll ends as the cancel would have. Otherwise the status route.
    """
    parts = urlsplit(call.url)
    prefix = parts.path.split("/jobs/imports/", 1)[0]
    query = urlencode([(name, call.params[name]) for name in _LOCATION_PARAMS if call.params.get(name)])
    path = f"{prefix}/jobs/imports/{job_id}" + ("/cancel" if of_cancel else "")
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def _pacing(provider: ServiceProvider) -> str | None:
    """How this process paced ADT as the request ended (shared, process or fallback), for the
    outcome log record; None when the service cannot be built (a configuration error)."""
    try:
        return provider().pacer.pacing_in_effect
    except Exception:
        return None


def _unauthenticated(provider: ServiceProvider, caller: Caller | None) -> Failure | None:
    """A call without a caller the platform validated, where one is required: refused, so
    that a deployment whose App Service authentication is off fails closed. A setting that
    cannot be read counts as requiring one."""
    if caller is not None:
        return None
    try:
        required = provider().settings.caller_authentication is CallerAuthentication.PLATFORM
    except Exception:
        required = True
    if not required:
        return None
    return Failure(
        ErrorCode.UNAUTHENTICATED.value,
        "no authenticated caller: this API is served behind App Service authentication "
        "(send an Entra token: Authorization: Bearer ...)",
    )


def _error_reply(outcome: Failure, *, record: bool, request_text: str, caller: Caller | None = None) -> HttpReply:
    """The error answer. ``record``: leave a failure record too, but only for an outcome
    retrying cannot change: Logic Apps retry 429 and 503 by themselves, and a request that
    finally succeeds must not leave records behind."""
    headers = {"Content-Type": "application/json", ERROR_CODE_HEADER: outcome.code}
    retry_after = outcome.retry_after_header
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    record = record and not outcome.transient
    failure = (
        to_json(failure_record(outcome, request_text=request_text, dequeue_count=0, entry="http", caller=caller))
        if record
        else None
    )
    return HttpReply(outcome.http_status, to_json(outcome.error_body()), headers, failure=failure)


def _job_reply(outcome: Success, call: HttpCall, *, poll: bool, poll_seconds: float, of_cancel: bool) -> HttpReply:
    """200 with the ImportJob; with ``poll`` and a job in progress, 202 + Location."""
    body = to_json(outcome.job)
    headers = {"Content-Type": "application/json"}
    if poll and outcome.in_progress:
        headers["Location"] = status_location(call, outcome.job_id, of_cancel=of_cancel)
        headers["Retry-After"] = str(max(1, math.ceil(poll_seconds)))
        return HttpReply(202, body, headers)
    return HttpReply(200, body, headers)


def handle_http_cancel(
    provider: ServiceProvider,
    call: HttpCall,
    invocation: Invocation = NO_INVOCATION,
) -> HttpReply:
    """POST .../cancel[?wait=true]: 200 with the ImportJob, or with ``wait`` 202 + Location
    while the job is still in progress (Logic Apps' asynchronous pattern)."""
    started = time.monotonic()
    request_text = call.job_id if isinstance(call.job_id, str) else ""
    caller = caller_from_headers(call.headers)
    refused = _unauthenticated(provider, caller)
    wait = _flag(call, "wait")
    if refused is not None:
        outcome: Outcome = refused
    elif wait is None:
        outcome = Failure(ErrorCode.INVALID_REQUEST.value, "wait must be true or false", job_id=request_text or None)
    else:
        outcome = _run(provider, call.request(), invocation)
    # An unauthenticated call leaves no record (it must not be able to write to the queues),
    # nor does a transient answer (the caller retries it): neither is "failed" for the alert.
    unrecorded = None
    if refused is not None:
        unrecorded = OUTCOME_UNAUTHENTICATED
    elif isinstance(outcome, Failure) and outcome.transient:
        unrecorded = OUTCOME_RETRYABLE
    log_outcome(
        outcome,
        entry="http",
        duration_seconds=time.monotonic() - started,
        invocation_id=invocation.invocation_id,
        unrecorded=unrecorded,
        caller=caller,
        pacing=_pacing(provider),
    )
    if isinstance(outcome, Failure):
        return _error_reply(outcome, record=refused is None, request_text=request_text, caller=caller)
    reply = _job_reply(
        outcome, call, poll=bool(wait), poll_seconds=provider().settings.status_poll_seconds, of_cancel=True
    )
    return reply._replace(result=reply.body)


def handle_http_status(
    provider: ServiceProvider,
    call: HttpCall,
    invocation: Invocation = NO_INVOCATION,
    *,
    of_cancel: bool = False,
) -> HttpReply:
    """A read of the job: 202 + Location + Retry-After while it is in progress, 200 with
    the final ImportJob once it is not. Reads write nothing to the queues.

    ``GET jobs/imports/{id}`` is a plain read: 200 whatever the final status. With
    ``of_cancel`` it is ``GET jobs/imports/{id}/cancel``, the status of a cancel (the
    Location a cancel hands out): it ends as the cancel would have, 200 at ``cancelled``
    and 409 ``JobNotCancellable`` if the job ended ``succeeded`` or ``failed`` on its own.
    """
    started = time.monotonic()
    caller = caller_from_headers(call.headers)
    refused = _unauthenticated(provider, caller)
    outcome = refused or _run(provider, call.request(), invocation, read=True, after_cancel=of_cancel)
    log_outcome(
        outcome,
        entry="status",
        duration_seconds=time.monotonic() - started,
        invocation_id=invocation.invocation_id,
        unrecorded=OUTCOME_UNAUTHENTICATED if refused else OUTCOME_READ_FAILED,
        caller=caller,
        pacing=_pacing(provider),
    )  # reads leave no record
    if isinstance(outcome, Failure):
        return _error_reply(outcome, record=False, request_text="")
    return _job_reply(
        outcome, call, poll=True, poll_seconds=provider().settings.status_poll_seconds, of_cancel=of_cancel
    )


def _follow_through(
    provider: ServiceProvider, request: CancelRequest, outcome: Success, send: LaterSender | None
) -> Outcome | Scheduled:
    """Schedule the next check of a job still in progress, or end the follow-through."""
    step = next_step(request, outcome, provider().settings, datetime.now(UTC))
    if isinstance(step, Expired):
        return step.failure
    if isinstance(step, Scheduled):
        unsent = _unsent(send, step.body, step.delay_seconds)
        if unsent:  # any failure to schedule: try the whole delivery again
            return Failure(
                ErrorCode.UPSTREAM_UNAVAILABLE.value,
                f"could not schedule the follow-up check ({unsent})",
                job_id=outcome.job_id,
                endpoint=outcome.endpoint,
                trace=outcome.trace,
                transient=True,
            )
        return step
    return outcome


def _unsent(send: LaterSender | None, body: str, delay_seconds: int) -> str | None:
    """Put ``body`` on the requests queue for later; None when sent, else why not (the
    error's type: its message may quote a storage URL)."""
    try:
        if send is None:
            raise RuntimeError("no queue to send to")
        send(body, delay_seconds)
    except Exception as exc:
        return type(exc).__name__
    return None


def _defer_throttled(
    provider: ServiceProvider, request: CancelRequest, outcome: Failure, send: LaterSender | None
) -> Deferred | Failure:
    """Put a throttled request back on the queue for later (deferral.py), or say why not."""
    settings = provider().settings
    step = defer(
        request, outcome, settings.throttle_deferral_max_seconds, datetime.now(UTC), _jitter, settings.deadline_seconds
    )
    if isinstance(step, GiveUp):
        return step.failure
    unsent = _unsent(send, step.body, step.delay_seconds)
    if unsent:  # the copy was not sent: the host's redelivery is the fallback
        return outcome._replace(message=f"{outcome.message}; could not defer it ({unsent})")
    return step


class Postponed(NamedTuple):
    """The request goes on from a message put back on the queue (a follow-up or a deferral)."""

    outcome: Outcome  # what this delivery found
    log_fields: dict[str, int]


def _queue_request(
    provider: ServiceProvider, request: CancelRequest, invocation: Invocation, send_later: LaterSender | None
) -> Outcome | Postponed:
    """Cancel, or with a follow-up message read; then follow through or defer."""
    follow_up = request.follow_up is not None  # a check of a cancel this app made
    can_return = send_later is not None
    outcome = _run(provider, request, invocation, read=follow_up, after_cancel=follow_up, can_return=can_return)
    if isinstance(outcome, Success):
        step = _follow_through(provider, request, outcome, send_later)
        if isinstance(step, Scheduled):
            return Postponed(outcome, {"next_check_seconds": step.delay_seconds})
        return step
    if is_throttled(outcome):
        deferred = _defer_throttled(provider, request, outcome, send_later)
        if isinstance(deferred, Deferred):
            return Postponed(outcome, {"deferred_seconds": deferred.delay_seconds, "deferrals": request.deferrals + 1})
        return deferred
    return outcome


def handle_queue_message(
    provider: ServiceProvider,
    body: bytes | str | None,
    dequeue_count: int,
    max_dequeue_count: int,
    invocation: Invocation = NO_INVOCATION,
    send_later: LaterSender | None = None,
) -> QueueReply:
    """Returns what to write; raises RetryDelivery when the host should try again.

    A follow-up message (see follow_through.py) reads the job instead of cancelling it; a
    throttled request is put back on the queue for later (deferral.py).
    """
    started = time.monotonic()
    logged = {"entry": "queue", "invocation_id": invocation.invocation_id, "dequeue_count": dequeue_count}
    deferrals, request_id = 0, None
    try:
        request = parse_message(body)
    except InvalidMessageError as exc:
        step: Outcome | Postponed = Failure(ErrorCode.INVALID_MESSAGE.value, str(exc), job_id=exc.job_id)
    else:
        deferrals, request_id = request.deferrals, request.request_id
        step = _queue_request(provider, request, invocation, send_later)
    duration = time.monotonic() - started
    logged["pacing"] = _pacing(provider)
    if isinstance(step, Postponed):
        log_outcome(step.outcome, duration_seconds=duration, **logged, **step.log_fields)
        return QueueReply()
    if isinstance(step, Success):
        log_outcome(step, duration_seconds=duration, **logged)
        return QueueReply(result=to_json(step.job))
    retry = step.transient and dequeue_count < max_dequeue_count
    log_outcome(step, duration_seconds=duration, retrying=retry, **logged)
    if retry:
        raise RetryDelivery(f"{step.code}: {step.message}")
    record = failure_record(
        step,
        request_text=body_text(body),
        dequeue_count=dequeue_count,
        entry="queue",
        deferrals=deferrals,
        request_id=request_id,
    )
    return QueueReply(failure=to_json(record))
