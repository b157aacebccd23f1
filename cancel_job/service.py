"""The cancel itself: validate, pick the trace, call ADT with retries, settle the outcome.

Independent of the Functions runtime; both entry points and the CLI call
:meth:`CancelService.cancel`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from . import assumptions, decision
from .adt import AdtClient, AdtResponse, IdentityError, TransportError
from .contract import ErrorCode
from .decision import CallFacts
from .endpoints import Endpoint, InstanceNotAllowedError
from .job_id import InvalidJobIdError, validate_job_id
from .messages import CancelRequest
from .outcomes import Failure, Outcome
from .pacing import NO_PLACE, Pacer, Place, Refusal, StoreFactory
from .retry import RetryBudget, RetryPolicy
from .settings import Settings
from .telemetry import SpanHandle, client_span, operation_span, suppressed_http_instrumentation
from .trace import TraceContext, parse_traceparent, resolve_trace
from .trust import capped_retry_after, horizon_seconds


class _Call:
    """One cancel's shared state: where, what, which trace, the attempts made, and ADT's
    correlation id from its last answer."""

    def __init__(
        self, endpoint: Endpoint, job_id: str, trace: TraceContext, budget: RetryBudget, place: Place = NO_PLACE
    ) -> None:
        self.endpoint, self.job_id, self.trace, self.budget = endpoint, job_id, trace, budget
        self.place = place  # in the instance's line: whether it can come back, and any turn it holds
        self.attempts = 0
        self.correlation_id: str | None = None
        self.token_renewed = False  # after a 401, the one retry with a new token was made
        self.identity_final = False  # no credential could even try: no wait will help

    @property
    def facts(self) -> CallFacts:
        """The call as it stands, for the outcome decision and the records."""
        return CallFacts(self.endpoint, self.job_id, self.trace, self.attempts, self.correlation_id)


# One request to ADT: (endpoint, job id, headers) -> ADT's answer.
Send = Callable[[Endpoint, str, dict[str, str]], AdtResponse]

# The ADT operations, named for spans by their route (low cardinality: never the job id).
CANCEL = ("POST", "/jobs/imports/{id}/cancel")
GET = ("GET", "/jobs/imports/{id}")
LIST = ("GET", "/jobs/imports")


def _list_page(
    client: AdtClient, next_link: str | None, endpoint: Endpoint, _job_id: str, headers: dict[str, str]
) -> AdtResponse:
    return client.list_page(endpoint, headers, next_link)


def _traced(span: SpanHandle, call: _Call, outcome: Outcome) -> Outcome:
    span.set("adt.import_job.id", call.job_id)
    span.set("server.address", call.endpoint.host)
    span.set("adt.attempts", call.attempts)
    span.set("adt.correlation_id", call.correlation_id)
    if isinstance(outcome, Failure):
        span.set("error.type", outcome.code)
        span.error(outcome.code)
    else:
        span.set("adt.import_job.status", outcome.job_status)
    return outcome


class CancelService:
    """Cancels and reads import jobs by the rules; one per process, shared by all invocations."""

    def __init__(
        self,
        settings: Settings,
        client: AdtClient,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        pace_store_factory: StoreFactory | None = None,
    ) -> None:
        """``pace_store_factory``: the fleet's shared pacing store (None: this process paces alone)."""
        self.settings, self.client, self.sleep, self.clock = settings, client, sleep, clock
        self.rng = rng or random.Random()
        self.policy = RetryPolicy(settings.max_attempts, settings.deadline_seconds)
        horizon = horizon_seconds(
            settings.retry_after_max_seconds, settings.deadline_seconds, settings.jobs_requests_per_second
        )
        self.pacer = Pacer(settings.jobs_requests_per_second, clock, sleep, pace_store_factory, horizon=horizon)

    def cancel(
        self,
        request: CancelRequest,
        invocation_traceparent: object = None,
        invocation_tracestate: object = None,
        *,
        can_return: bool = False,
    ) -> Outcome:
        """``can_return``: the request goes back on the queue when the instance is busy, so
        a refusal holds it a turn to come back to (the line rule, pacing.py)."""
        return self._operation(
            "cancel import job", self._cancel, request, invocation_traceparent, invocation_tracestate, can_return
        )

    def read(
        self,
        request: CancelRequest,
        invocation_traceparent: object = None,
        invocation_tracestate: object = None,
        *,
        after_cancel: bool = False,
        can_return: bool = False,
    ) -> Outcome:
        """Read the job (GET), under the same validation, identity, trace and retry rules.

        ``after_cancel``: the read follows up a cancel (a follow-through check, or a poll of
        the status URL a cancel handed out), so a job that ended on its own is
        ``JobNotCancellable``, as it would have been for the cancel itself.
        """
        work = self._read_after_cancel if after_cancel else self._read
        return self._operation(
            "read import job", work, request, invocation_traceparent, invocation_tracestate, can_return
        )

    def _operation(
        self,
        name: str,
        work: Callable[[_Call], Outcome],
        request: CancelRequest,
        invocation_traceparent: object,
        invocation_tracestate: object,
        can_return: bool,
    ) -> Outcome:
        """Apply the rules, then do ``work`` inside the function's span."""
        call = self._prepare(request, invocation_traceparent, invocation_tracestate)
        if isinstance(call, Failure):
            return call
        call.place = Place(can_return, request.turn)
        with operation_span(name, call.trace, parse_traceparent(invocation_traceparent)) as span:
            return _traced(span, call, work(call))

    def _read(self, call: _Call) -> Outcome:
        answer = self._send_with_retries(call, self.client.get, GET)
        if isinstance(answer, Failure):
            return answer
        return decision.read_outcome(call.facts, answer)

    def _read_after_cancel(self, call: _Call) -> Outcome:
        read = self._read(call)
        return read if isinstance(read, Failure) else decision.judge_cancel(call.facts, read, answered=200)

    def list_jobs(self, instance: str | None = None) -> list[dict[str, Any]] | Failure:
        """All import jobs of the instance, following ``nextLink`` (which must stay on it)."""
        call = self._call_on(instance, "", resolve_trace(None, None))
        if isinstance(call, Failure):
            return call
        jobs: list[dict[str, Any]] = []
        next_link: str | None = None
        while True:
            send = partial(_list_page, self.client, next_link)
            call.budget = RetryBudget(self.policy, self.clock)  # each page gets the full budget
            answer = self._send_with_retries(call, send, LIST)
            if isinstance(answer, Failure):
                return answer
            if answer.status != 200:
                return decision.failure_of(call.facts, answer)
            page = answer.json_object() or {}
            jobs += [job for job in page.get("value", []) if isinstance(job, dict)]
            next_link = page.get("nextLink") if isinstance(page.get("nextLink"), str) else None
            if next_link is None:
                return jobs

    def _prepare(
        self, request: CancelRequest, invocation_traceparent: object, invocation_tracestate: object
    ) -> _Call | Failure:
        """Apply the trace, job-id and instance rules; nothing has been sent yet."""
        trace = resolve_trace(request.traceparent, request.tracestate, invocation_traceparent, invocation_tracestate)
        requested_id = request.job_id if isinstance(request.job_id, str) else None
        try:
            job_id = validate_job_id(request.job_id)
        except InvalidJobIdError as exc:
            return Failure(ErrorCode.INVALID_JOB_ID.value, str(exc), job_id=requested_id, trace=trace)
        return self._call_on(request.instance, job_id, trace)

    def _call_on(self, instance: str | None, job_id: str, trace: TraceContext) -> _Call | Failure:
        """The instance rule: only the configured endpoint or an allowlisted one."""
        try:
            endpoint = self.settings.allowlist.resolve(instance)
        except InstanceNotAllowedError as exc:
            return Failure(ErrorCode.INSTANCE_NOT_ALLOWED.value, str(exc), job_id=job_id or None, trace=trace)
        return _Call(endpoint, job_id, trace, RetryBudget(self.policy, self.clock))

    def _cancel(self, call: _Call) -> Outcome:
        answer = self._send_with_retries(call, self.client.cancel, CANCEL)
        if isinstance(answer, Failure):
            return answer
        outcome = decision.cancel_outcome(call.facts, answer)
        if not isinstance(outcome, decision.SettleByReading):
            return outcome
        # A read that fails reports its own error, with its own retry class: it is what
        # we could not find out.
        read = self._read(call)
        if isinstance(read, Failure):
            return read
        return decision.settle_refused_cancel(call.facts, outcome.refusal, read)

    def _send_with_retries(self, call: _Call, send: Send, operation: tuple[str, str]) -> AdtResponse | Failure:
        """Send until an answer that retrying cannot change, or until the budget is spent.

        Every attempt waits its turn at the instance's gate (the pacing rule). Returns
        ADT's answer (a 200 with a JSON object, or a status not worth retrying) or a
        transient Failure carrying when to try again.
        """
        gate = self.pacer.gate(call.endpoint)
        not_before = self.clock()
        problem: Failure | None = None
        retries = 0
        while True:
            answer: AdtResponse | Failure | None = self._token_failure(call, not_before)
            if answer is None:
                refusal = gate.take_turn(not_before, call.budget.deadline, call.place)
                call.place = call.place._replace(held=None)  # a held turn is used once; a retry queues
                if refusal is not None:
                    return self._paced_out(call, refusal, problem)
                call.attempts += 1
                answer = self._attempt(call, send, operation)
            if isinstance(answer, AdtResponse):
                return answer
            if call.identity_final:  # nobody to get a token from: say so now, without waiting
                return answer
            problem = answer
            retries += 1
            server_wait = problem.retry_after
            if server_wait is not None:  # the trust rules: no Retry-After closes the instance for long
                server_wait = capped_retry_after(server_wait, self.settings.retry_after_max_seconds)
            wait = self.policy.wait(retries, self.rng, problem.adt_status, server_wait)
            if problem.adt_status == assumptions.THROTTLED_STATUS:
                gate.throttled(wait)
            if not call.budget.allows(retries, wait):
                return problem._replace(retry_after=wait)
            not_before = self.clock() + wait

    def _token_failure(self, call: _Call, not_before: float) -> Failure | None:
        """Have a token before taking a turn at the gate: the turn is for the request itself,
        and a token fetched inside it would send this request late, bunched with the next."""
        if self.client.has_token():
            return None
        delay = not_before - self.clock()
        if delay > 0:  # a retry after an identity failure waits its backoff first
            self.sleep(delay)
        try:
            with suppressed_http_instrumentation():
                self.client.ensure_token(timeout=call.budget.deadline - self.clock())
        except IdentityError as exc:
            call.attempts += 1
            call.identity_final = exc.final
            return call.facts.failed(ErrorCode.IDENTITY_UNAVAILABLE.value, str(exc), transient=True)
        return None

    def _paced_out(self, call: _Call, refusal: Refusal, problem: Failure | None) -> Failure:
        """The gate would open only after the deadline: say so now rather than sleep and fail."""
        rate = self.settings.jobs_requests_per_second
        limit = f"ADT allows about {rate:g} request(s) per second per instance" if rate else "ADT throttled"
        held = "; that turn is held for this request" if refusal.turn is not None else ""
        return call.facts.failed(
            ErrorCode.TOO_MANY_REQUESTS.value,
            f"{limit}; this instance's next free turn is in {refusal.wait:.1f} s, after this request's deadline{held}",
            adt_status=problem.adt_status if problem else None,
            transient=True,
            retry_after=refusal.wait,
        )._replace(turn=refusal.turn)

    def _attempt(self, call: _Call, send: Send, operation: tuple[str, str]) -> AdtResponse | Failure:
        method, route = operation
        with client_span(f"{method} {route}", call.trace) as (headers, span):
            span.set("http.request.method", method)
            span.set("url.template", route)
            span.set("server.address", call.endpoint.host)
            try:
                answer = send(call.endpoint, call.job_id, headers)
            except IdentityError as exc:
                span.error("IdentityUnavailable")
                return call.facts.failed(ErrorCode.IDENTITY_UNAVAILABLE.value, str(exc), transient=True)
            except TransportError as exc:
                span.error(str(exc))
                return call.facts.failed(ErrorCode.UPSTREAM_UNAVAILABLE.value, str(exc), transient=True)
            span.set("http.response.status_code", answer.status)
            call.correlation_id = answer.correlation_id
            span.set("adt.correlation_id", call.correlation_id)
            if answer.status >= 400:
                span.error(answer.error_code or str(answer.status))
            if answer.status == 401:  # a token ADT no longer accepts: a new one next time
                self.client.forget_token()
        verdict = decision.attempt_verdict(call.facts, answer, token_renewed=call.token_renewed)
        if answer.status == 401:
            call.token_renewed = True
        return verdict
