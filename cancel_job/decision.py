"""What ADT's answers mean for one cancel or read: the outcome decision.

Pure functions of the call's facts so far and ADT's answers: no I/O, no clock, no state.
``service.py`` sends, paces and retries, and asks here what each answer means:

- :func:`attempt_verdict`: is one attempt's answer final, or worth another attempt?
- :func:`cancel_outcome`, :func:`read_outcome`: what a final answer means for the operation;
- :func:`judge_cancel`: the job's status decides what a cancel achieved;
- :func:`settle_refused_cancel`: a refused cancel, settled by the job's status read next.

Where ADT departs from its spec, the rule reads the departure from :mod:`assumptions`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from . import assumptions
from .adt import AdtResponse
from .contract import ErrorCode
from .endpoints import Endpoint
from .outcomes import Failure, Outcome, Success
from .retry import AUTH_RETRY_AFTER_SECONDS, AUTH_STATUSES, is_retryable_status, server_retry_after
from .trace import TraceContext


@dataclass(frozen=True)
class CallFacts:
    """What every record of the call carries: where, what, which trace, the attempts made,
    and ADT's correlation id from its last answer."""

    endpoint: Endpoint
    job_id: str
    trace: TraceContext
    attempts: int
    correlation_id: str | None

    def failed(
        self,
        code: str,
        message: str,
        *,
        adt_status: int | None = None,
        transient: bool = False,
        retry_after: float | None = None,
        job: dict[str, Any] | None = None,
    ) -> Failure:
        return Failure(
            code=code,
            message=message,
            job_id=self.job_id,
            adt_status=adt_status,
            transient=transient,
            retry_after=retry_after,
            job=job,
            endpoint=self.endpoint,
            trace=self.trace,
            attempts=self.attempts,
            adt_correlation_id=self.correlation_id,
        )

    def succeeded(self, answer: AdtResponse) -> Success:
        return Success(
            job_id=self.job_id,
            job=answer.json_object() or {},
            endpoint=self.endpoint,
            trace=self.trace,
            attempts=self.attempts,
            adt_correlation_id=self.correlation_id,
        )


class SettleByReading(NamedTuple):
    """ADT refused the cancel as its spec says it may: only the job's status, read next,
    can say what happened (see :func:`settle_refused_cancel`)."""

    refusal: AdtResponse


def attempt_verdict(facts: CallFacts, answer: AdtResponse, *, token_renewed: bool) -> AdtResponse | Failure:
    """One attempt's answer: returned as it is when retrying cannot change it, else a
    transient Failure that says when to try again.

    ``token_renewed``: the one retry with a new token after a 401 has been made already.
    """
    if answer.status == 401 and not token_renewed:
        # A token ADT no longer accepts: once, at once, with a new one.
        return failure_of(facts, answer)._replace(transient=True, retry_after=0.0)
    if is_retryable_status(answer.status):
        return failure_of(facts, answer)._replace(transient=True, retry_after=server_retry_after(answer.headers))
    if 200 <= answer.status < 300 and (answer.status != 200 or answer.json_object() is None):
        # The request may have taken effect; a retry will tell (via the refusal path).
        return facts.failed(
            ErrorCode.UPSTREAM_UNAVAILABLE.value,
            f"ADT answered {answer.status} without an ImportJob",
            adt_status=answer.status,
            transient=True,
        )
    return answer


def read_outcome(facts: CallFacts, answer: AdtResponse) -> Outcome:
    """A final answer to a read (GET) of the job."""
    return facts.succeeded(answer) if answer.status == 200 else failure_of(facts, answer)


def cancel_outcome(facts: CallFacts, answer: AdtResponse) -> Outcome | SettleByReading:
    """A final answer to the cancel (POST), or the need to read the job to settle it."""
    if answer.status == 200:
        return judge_cancel(facts, facts.succeeded(answer), answered=200)
    if (
        answer.status == assumptions.SPEC_CANCEL_REFUSED_STATUS
        and answer.error_code == assumptions.SPEC_CANCEL_REFUSED_CODE
    ):
        return SettleByReading(answer)
    return failure_of(facts, answer)


def settle_refused_cancel(facts: CallFacts, refusal: AdtResponse, read: Success) -> Outcome:
    """The cancel was refused (400 ValidationFailed); the job's status, read after it,
    says what happened.

    This settles both a retry of a cancel whose first answer was lost and a repeated
    delivery of a cancel that already succeeded.
    """
    if read.job_status in assumptions.CANCEL_ACCEPTED_STATUSES:
        return read._replace(already_in_effect=True)
    if read.job_status in assumptions.NOTHING_TO_CANCEL_STATUSES:
        return judge_cancel(facts, read, answered=refusal.status)
    return failure_of(facts, refusal, job=read.job)


def judge_cancel(facts: CallFacts, job: Success, *, answered: int) -> Outcome:
    """The job's status decides what a cancel achieved, whichever way ADT said it.

    ``answered`` is ADT's HTTP status for the cancel (or the read), kept in the record.
    """
    status = job.job_status
    if status in assumptions.NOTHING_TO_CANCEL_STATUSES:
        return facts.failed(
            ErrorCode.JOB_NOT_CANCELLABLE.value,
            f"import job is already {status}; there is nothing to cancel",
            adt_status=answered,
            job=job.job,
        )
    return job


def failure_of(facts: CallFacts, answer: AdtResponse, *, job: dict[str, Any] | None = None) -> Failure:
    """The Failure that an answer other than a 200 with an ImportJob stands for."""
    status = answer.status
    if 300 <= status < 400:
        return facts.failed(
            ErrorCode.UPSTREAM_ERROR.value,
            f"ADT answered {status} (a redirect); redirects are not followed",
            adt_status=status,
            job=job,
        )
    if status == assumptions.THROTTLED_STATUS and not answer.error_code:
        return facts.failed(ErrorCode.TOO_MANY_REQUESTS.value, answer.error_message, adt_status=status, job=job)
    if status in AUTH_STATUSES:  # not the caller's doing: heals once the role propagates
        return facts.failed(
            answer.error_code or f"Http{status}",
            answer.error_message,
            adt_status=status,
            transient=True,
            retry_after=AUTH_RETRY_AFTER_SECONDS,
            job=job,
        )
    if 400 <= status < 500:
        return facts.failed(answer.error_code or f"Http{status}", answer.error_message, adt_status=status, job=job)
    return facts.failed(
        answer.error_code or ErrorCode.UPSTREAM_ERROR.value,
        f"ADT answered {status}: {answer.error_message}",
        adt_status=status,
        job=job,
    )
