"""The deferral rule: ADT's throttling never uses up a queue message.

The Functions host redelivers a failed queue invocation after host.json's
``visibilityTimeout``, ignores ``Retry-After``, and moves the message to poison after
``maxDequeueCount`` deliveries: a few minutes of steady throttling would turn a cancel into
a failure record without one call reaching ADT. So on the queue path, when the pacing gate
refuses a turn within the request's budget, or ADT's ``Retry-After`` runs past it:

1. A copy of the request goes back on the requests queue, invisible for the wait plus
   jitter, and the current delivery completes (a new message: no dequeue is spent).
2. The copy carries ``deferrals`` (how often so far) and ``notAfter`` (set at the first
   deferral, ``THROTTLE_DEFERRAL_MAX_SECONDS`` from then), so the loop always ends: a
   request still throttled at ``notAfter`` ends in one ``TooManyRequests`` failure record
   with its deferral count.
3. A follow-up check (follow_through.py) defers the same way and never ends in a
   ``TooManyRequests`` record: ADT accepted its cancel. It ends, as every follow-through
   does, at its own deadline (``FollowThroughExpired``).
4. Only if the copy cannot be sent does the delivery fail, so the host's own redelivery is
   the fallback (entrypoints.py).
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from .contract import ErrorCode
from .messages import CancelRequest
from .outcomes import Failure, to_json

# Storage queues hide a message for at most 7 days; a deferral is never longer.
MAX_DELAY_SECONDS = 7 * 24 * 3600 - 60
# Jitter: up to this share of the wait more, and at least up to a second, so that the
# copies of one burst do not all come back at the same moment.
JITTER_SHARE = 0.25
JITTER_MIN_SECONDS = 1.0


class Deferred(NamedTuple):
    body: str
    delay_seconds: int


class GiveUp(NamedTuple):
    failure: Failure
    deferrals: int


def is_throttled(failure: Failure) -> bool:
    """ADT's limit stood in the way (its 429, or our own gate's refusal); retrying later helps."""
    return failure.transient and (failure.code == ErrorCode.TOO_MANY_REQUESTS or failure.adt_status == 429)


def defer(
    request: CancelRequest, failure: Failure, max_seconds: float, now: datetime, rng: random.Random
) -> Deferred | GiveUp:
    """What to do with a throttled queue request (see the module's docstring)."""
    not_after = request.not_after or now + timedelta(seconds=max_seconds)
    if request.follow_up is not None:
        not_after = min(not_after, request.follow_up.deadline)
    remaining = (not_after - now).total_seconds()
    if remaining <= 0:
        return GiveUp(_gave_up(request, failure), request.deferrals)
    wait = max(0.0, failure.retry_after or 0.0)
    jittered = wait + rng.uniform(0, max(JITTER_MIN_SECONDS, wait * JITTER_SHARE))
    delay = max(1, math.ceil(min(jittered, remaining, MAX_DELAY_SECONDS)))
    return Deferred(deferred_body(request, failure, request.deferrals + 1, not_after), delay)


def _gave_up(request: CancelRequest, failure: Failure) -> Failure:
    if request.follow_up is not None:
        return failure._replace(
            code=ErrorCode.FOLLOW_THROUGH_EXPIRED.value,
            message=f"ADT throttled the follow-up checks until the follow-through deadline "
            f"({request.deferrals} deferrals); the cancel was accepted but not confirmed",
            transient=False,
        )
    return failure._replace(
        code=ErrorCode.TOO_MANY_REQUESTS.value,
        message=f"ADT throttled this request until its deferral deadline ({request.deferrals} deferrals): "
        f"{failure.message}",
        transient=False,
    )


def deferred_body(request: CancelRequest, failure: Failure, deferrals: int, not_after: datetime) -> str:
    """The copy: the message as the producer sent it (its own fields too, such as an id a
    consumer recognises it by), with the trace resolved and the deferral fields set."""
    message: dict[str, Any] = dict(request.fields or {})
    message["jobId"] = failure.job_id if failure.job_id is not None else request.job_id
    if failure.trace is not None:
        message["traceparent"] = failure.trace.parent.header
        if failure.trace.state:
            message["tracestate"] = failure.trace.state
    if request.instance is not None:
        message["instance"] = request.instance
    if request.wait_for_completion is not None:
        message["waitForCompletion"] = request.wait_for_completion
    if request.follow_up is not None:
        message["followUp"] = request.follow_up.to_json()
    message["deferrals"] = deferrals
    message["notAfter"] = not_after.isoformat().replace("+00:00", "Z")
    return to_json(message)
