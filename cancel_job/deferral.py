"""The deferral rule: ADT's throttling never uses up a queue message.

The Functions host redelivers a failed queue invocation after host.json's
``visibilityTimeout``, ignores ``Retry-After``, and moves the message to poison after
``maxDequeueCount`` deliveries: a few minutes of steady throttling would turn a cancel into
a failure record without one call reaching ADT. So on the queue path, when the pacing gate
refuses a turn within the request's budget, or ADT's ``Retry-After`` runs past it:

1. A copy of the request goes back on the requests queue, and the current delivery
   completes (a new message: no dequeue is spent). When the gate held the request a turn
   (the line rule, pacing.py), the copy carries it as ``turn`` and is invisible until
   ``RETURN_LEAD_SHARE`` of a request's budget before it, so that it comes back in time
   to wait for it; otherwise it is invisible for the wait plus jitter.
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
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from .contract import ErrorCode
from .messages import CancelRequest
from .outcomes import Failure, to_json
from .settings import DEFAULT_DEADLINE_SECONDS

# Storage queues hide a message for at most 7 days; a deferral is never longer.
MAX_DELAY_SECONDS = 7 * 24 * 3600 - 60
# Jitter: up to this share of the wait more, and at least up to a second, so that the
# copies of one burst do not all come back at the same moment.
JITTER_SHARE = 0.25
JITTER_MIN_SECONDS = 1.0
# A copy holding a turn comes back this share of a request's budget (CANCEL_DEADLINE_SECONDS)
# before it, give or take half a second (a visibility timeout is whole seconds): early enough
# for the host to pick it up in a busy queue, late enough to wait for it within its budget.
RETURN_LEAD_SHARE = 0.5


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
    request: CancelRequest,
    failure: Failure,
    max_seconds: float,
    now: datetime,
    rng: random.Random,
    budget_seconds: float = DEFAULT_DEADLINE_SECONDS,
) -> Deferred | GiveUp:
    """What to do with a throttled queue request (see the module's docstring);
    ``budget_seconds``: a request's budget (CANCEL_DEADLINE_SECONDS)."""
    not_after = request.not_after or now + timedelta(seconds=max_seconds)
    if request.follow_up is not None:
        not_after = min(not_after, request.follow_up.deadline)
    remaining = (not_after - now).total_seconds()
    if remaining <= 0:
        return GiveUp(_gave_up(request, failure), request.deferrals)
    wait = max(0.0, failure.retry_after or 0.0)
    if failure.turn is not None:  # back shortly before its turn, and no jitter: the turn is its own
        later = round(wait - RETURN_LEAD_SHARE * budget_seconds)
    else:
        later = math.ceil(wait + rng.uniform(0, max(JITTER_MIN_SECONDS, wait * JITTER_SHARE)))
    delay = max(1, min(later, math.ceil(remaining), MAX_DELAY_SECONDS))
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
    message["notAfter"] = _rfc3339(not_after)
    message.pop("turn", None)  # a turn is held for one return only
    if failure.turn is not None:
        message["turn"] = _rfc3339(datetime.fromtimestamp(failure.turn, UTC))
    return to_json(message)


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
