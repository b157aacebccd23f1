"""Follow-through on the queue path: keep re-checking a cancelled job until it is final.

A request with ``waitForCompletion`` (or ``FOLLOW_THROUGH_DEFAULT``) does not end at
``cancelling``. The app puts a follow-up message on the requests queue, invisible for
``FOLLOW_THROUGH_INTERVAL_SECONDS`` (an output binding cannot delay a message, so it is
sent with azure-storage-queue); the follow-up reads the job instead of cancelling it.
When the job is final, its ImportJob goes to the results queue. After
``FOLLOW_THROUGH_MAX_CHECKS`` checks or ``FOLLOW_THROUGH_DEADLINE_SECONDS``, a failure
record ``FollowThroughExpired`` (with the job as last read) ends it.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from .contract import ErrorCode
from .messages import CancelRequest, FollowUp
from .outcomes import Failure, Success, to_json
from .settings import Settings


class Finished(NamedTuple):
    """Nothing (more) to follow: report the job."""


class Scheduled(NamedTuple):
    body: str
    delay_seconds: int


class Expired(NamedTuple):
    failure: Failure


Step = Finished | Scheduled | Expired


def wants_follow_through(request: CancelRequest, settings: Settings) -> bool:
    if request.follow_up is not None:
        return True
    if request.wait_for_completion is not None:
        return request.wait_for_completion
    return settings.follow_through_default


def next_step(request: CancelRequest, outcome: Success, settings: Settings, now: datetime) -> Step:
    if not wants_follow_through(request, settings) or not outcome.in_progress:
        return Finished()
    follow = request.follow_up or FollowUp(0, now + timedelta(seconds=settings.follow_through_deadline_seconds))
    remaining = (follow.deadline - now).total_seconds()
    if follow.checks >= settings.follow_through_max_checks or remaining <= 0:
        return Expired(
            Failure(
                ErrorCode.FOLLOW_THROUGH_EXPIRED.value,
                f"import job is still {outcome.job_status} after {follow.checks} follow-up checks; "
                "the cancel was accepted but not confirmed",
                job_id=outcome.job_id,
                job=outcome.job,
                endpoint=outcome.endpoint,
                trace=outcome.trace,
                attempts=outcome.attempts,
            )
        )
    delay = max(1, math.ceil(min(settings.follow_through_interval_seconds, remaining)))
    return Scheduled(follow_up_body(request, outcome, FollowUp(follow.checks + 1, follow.deadline)), delay)


def follow_up_body(request: CancelRequest, outcome: Success, follow: FollowUp) -> str:
    """The follow-up message: the same job, instance and trace, marked as a re-check."""
    message: dict[str, Any] = {
        "jobId": outcome.job_id,
        "traceparent": outcome.trace.parent.header,
        "waitForCompletion": True,
        "followUp": follow.to_json(),
    }
    if outcome.trace.state:
        message["tracestate"] = outcome.trace.state
    if request.instance is not None:
        message["instance"] = request.instance
    return to_json(message)
