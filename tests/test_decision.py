"""The outcome decision (cancel_job/decision.py), pinned as pure functions: each answer
ADT can give, and what it means for the cancel or the read, with no client, clock or
network. The same rules are exercised end to end against the emulator elsewhere."""

from __future__ import annotations

import json

import pytest

from cancel_job import assumptions, decision
from cancel_job.adt import AdtResponse
from cancel_job.contract import ERROR_CODE_HEADER, ErrorCode
from cancel_job.decision import CallFacts, SettleByReading
from cancel_job.endpoints import parse_endpoint
from cancel_job.outcomes import Failure, Success
from cancel_job.retry import AUTH_RETRY_AFTER_SECONDS
from cancel_job.trace import resolve_trace

FACTS = CallFacts(parse_endpoint("https://x.example"), "job-1", resolve_trace(None, None), 2, "corr-1")


def answer(status: int, body: object = None, headers: dict[str, str] | None = None) -> AdtResponse:
    raw = b"" if body is None else json.dumps(body).encode()
    return AdtResponse(status, headers or {}, raw)


def job(status: str) -> dict[str, object]:
    return {"id": "job-1", "status": status}


def error(code: str, message: str = "no") -> dict[str, object]:
    return {"error": {"code": code, "message": message}}


class TestCallFacts:
    def test_a_failure_carries_the_call(self) -> None:
        failure = FACTS.failed("Code", "message", adt_status=400, job=job("running"))
        assert failure == Failure(
            code="Code",
            message="message",
            job_id="job-1",
            adt_status=400,
            transient=False,
            retry_after=None,
            job=job("running"),
            endpoint=FACTS.endpoint,
            trace=FACTS.trace,
            attempts=2,
            adt_correlation_id="corr-1",
        )

    def test_a_success_carries_the_call_and_the_job(self) -> None:
        success = FACTS.succeeded(answer(200, job("cancelling")))
        assert success == Success(
            job_id="job-1",
            job=job("cancelling"),
            endpoint=FACTS.endpoint,
            trace=FACTS.trace,
            attempts=2,
            already_in_effect=False,
            adt_correlation_id="corr-1",
        )

    def test_a_success_without_a_json_object_has_an_empty_job(self) -> None:
        assert FACTS.succeeded(answer(200, [1])).job == {}


class TestAttemptVerdict:
    def test_a_200_with_an_import_job_is_final(self) -> None:
        reply = answer(200, job("cancelling"))
        assert decision.attempt_verdict(FACTS, reply, token_renewed=False) is reply

    @pytest.mark.parametrize("status", [400, 403, 404, 409])
    def test_a_client_error_is_final(self, status: int) -> None:
        reply = answer(status, error("Nope"))
        assert decision.attempt_verdict(FACTS, reply, token_renewed=False) is reply

    def test_the_first_401_is_retried_at_once(self) -> None:
        verdict = decision.attempt_verdict(FACTS, answer(401, error("Unauthorized")), token_renewed=False)
        assert isinstance(verdict, Failure)
        assert (verdict.transient, verdict.retry_after, verdict.adt_status) == (True, 0.0, 401)

    def test_a_second_401_is_final(self) -> None:
        reply = answer(401, error("Unauthorized"))
        assert decision.attempt_verdict(FACTS, reply, token_renewed=True) is reply

    @pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
    def test_a_retryable_status_carries_the_server_wait(self, status: int) -> None:
        verdict = decision.attempt_verdict(FACTS, answer(status, headers={"Retry-After": "7"}), token_renewed=False)
        assert isinstance(verdict, Failure)
        assert (verdict.transient, verdict.retry_after, verdict.adt_status) == (True, 7.0, status)

    @pytest.mark.parametrize(("status", "body"), [(200, None), (200, [1]), (202, job("running")), (204, None)])
    def test_a_success_without_an_import_job_is_retried(self, status: int, body: object) -> None:
        verdict = decision.attempt_verdict(FACTS, answer(status, body), token_renewed=False)
        assert isinstance(verdict, Failure)
        assert verdict.code == ErrorCode.UPSTREAM_UNAVAILABLE
        assert (verdict.transient, verdict.adt_status) == (True, status)
        assert verdict.message == f"ADT answered {status} without an ImportJob"

    @pytest.mark.parametrize("status", [300, 302, 399])
    def test_a_redirect_is_final(self, status: int) -> None:
        reply = answer(status)
        assert decision.attempt_verdict(FACTS, reply, token_renewed=False) is reply


class TestCancelOutcome:
    @pytest.mark.parametrize("status", sorted(assumptions.CANCEL_ACCEPTED_STATUSES))
    def test_a_200_on_a_cancellable_job_succeeds(self, status: str) -> None:
        outcome = decision.cancel_outcome(FACTS, answer(200, job(status)))
        assert isinstance(outcome, Success)
        assert outcome.job == job(status)

    @pytest.mark.parametrize("status", sorted(assumptions.NOTHING_TO_CANCEL_STATUSES))
    def test_a_200_on_an_ended_job_is_not_cancellable(self, status: str) -> None:
        outcome = decision.cancel_outcome(FACTS, answer(200, job(status)))
        assert isinstance(outcome, Failure)
        assert (outcome.code, outcome.adt_status, outcome.job) == (ErrorCode.JOB_NOT_CANCELLABLE, 200, job(status))
        assert outcome.message == f"import job is already {status}; there is nothing to cancel"

    def test_the_spec_refusal_is_settled_by_reading(self) -> None:
        refusal = answer(400, error(assumptions.SPEC_CANCEL_REFUSED_CODE))
        assert decision.cancel_outcome(FACTS, refusal) == SettleByReading(refusal)

    def test_another_400_is_a_failure(self) -> None:
        outcome = decision.cancel_outcome(FACTS, answer(400, error("BadRequest", "bad id")))
        assert isinstance(outcome, Failure)
        assert (outcome.code, outcome.message, outcome.adt_status) == ("BadRequest", "bad id", 400)

    def test_a_refusal_code_with_another_status_is_a_failure(self) -> None:
        outcome = decision.cancel_outcome(FACTS, answer(409, error(assumptions.SPEC_CANCEL_REFUSED_CODE)))
        assert isinstance(outcome, Failure)
        assert outcome.adt_status == 409


class TestSettleRefusedCancel:
    REFUSAL = answer(400, error(assumptions.SPEC_CANCEL_REFUSED_CODE, "cannot cancel"))

    @pytest.mark.parametrize("status", sorted(assumptions.CANCEL_ACCEPTED_STATUSES))
    def test_a_cancel_already_in_effect_succeeds(self, status: str) -> None:
        read = FACTS.succeeded(answer(200, job(status)))
        outcome = decision.settle_refused_cancel(FACTS, self.REFUSAL, read)
        assert outcome == read._replace(already_in_effect=True)

    @pytest.mark.parametrize("status", sorted(assumptions.NOTHING_TO_CANCEL_STATUSES))
    def test_an_ended_job_is_not_cancellable_with_the_refusal_status(self, status: str) -> None:
        read = FACTS.succeeded(answer(200, job(status)))
        outcome = decision.settle_refused_cancel(FACTS, self.REFUSAL, read)
        assert isinstance(outcome, Failure)
        assert (outcome.code, outcome.adt_status) == (ErrorCode.JOB_NOT_CANCELLABLE, 400)

    def test_an_unknown_status_keeps_the_refusal_and_the_job(self) -> None:
        read = FACTS.succeeded(answer(200, job("paused")))
        outcome = decision.settle_refused_cancel(FACTS, self.REFUSAL, read)
        assert isinstance(outcome, Failure)
        assert (outcome.code, outcome.message, outcome.adt_status, outcome.job) == (
            assumptions.SPEC_CANCEL_REFUSED_CODE,
            "cannot cancel",
            400,
            job("paused"),
        )


class TestReadOutcome:
    def test_a_200_is_the_job_whatever_its_status(self) -> None:
        outcome = decision.read_outcome(FACTS, answer(200, job("succeeded")))
        assert isinstance(outcome, Success)
        assert outcome.job_status == "succeeded"

    def test_a_404_is_adts_own_error(self) -> None:
        outcome = decision.read_outcome(FACTS, answer(404, error("JobNotFound", "no such job")))
        assert isinstance(outcome, Failure)
        assert (outcome.code, outcome.message, outcome.adt_status, outcome.transient) == (
            "JobNotFound",
            "no such job",
            404,
            False,
        )


class TestFailureOf:
    def test_a_redirect_is_an_upstream_error(self) -> None:
        failure = decision.failure_of(FACTS, answer(307))
        assert (failure.code, failure.adt_status) == (ErrorCode.UPSTREAM_ERROR, 307)
        assert failure.message == "ADT answered 307 (a redirect); redirects are not followed"

    @pytest.mark.parametrize("status", [300, 399])
    def test_the_redirect_range_has_both_ends(self, status: int) -> None:
        failure = decision.failure_of(FACTS, answer(status))
        assert (failure.code, failure.message) == (
            ErrorCode.UPSTREAM_ERROR,
            f"ADT answered {status} (a redirect); redirects are not followed",
        )

    def test_a_bare_429_is_too_many_requests(self) -> None:
        failure = decision.failure_of(FACTS, answer(429))
        assert (failure.code, failure.adt_status) == (ErrorCode.TOO_MANY_REQUESTS, 429)

    def test_a_429_with_a_code_keeps_adts_code(self) -> None:
        failure = decision.failure_of(FACTS, answer(429, error("QuotaExceeded", "quota")))
        assert (failure.code, failure.message) == ("QuotaExceeded", "quota")

    @pytest.mark.parametrize("status", [401, 403])
    def test_an_auth_refusal_heals_later(self, status: int) -> None:
        failure = decision.failure_of(FACTS, answer(status, headers={ERROR_CODE_HEADER: "Forbidden"}))
        assert (failure.code, failure.transient, failure.retry_after) == ("Forbidden", True, AUTH_RETRY_AFTER_SECONDS)

    @pytest.mark.parametrize("status", [401, 403, 400, 499])
    def test_a_client_error_without_a_code_is_named_by_its_status(self, status: int) -> None:
        assert decision.failure_of(FACTS, answer(status)).code == f"Http{status}"

    def test_a_client_error_is_not_transient(self) -> None:
        failure = decision.failure_of(FACTS, answer(404, error("JobNotFound")))
        assert (failure.transient, failure.retry_after) == (False, None)

    @pytest.mark.parametrize("status", [500, 503, 100])
    def test_a_server_error_names_its_status(self, status: int) -> None:
        failure = decision.failure_of(FACTS, answer(status, error("InternalError", "boom")))
        assert (failure.code, failure.adt_status) == ("InternalError", status)
        assert failure.message == f"ADT answered {status}: boom"

    def test_a_server_error_without_a_code_is_an_upstream_error(self) -> None:
        assert decision.failure_of(FACTS, answer(500)).code == ErrorCode.UPSTREAM_ERROR

    def test_the_job_read_is_kept(self) -> None:
        for status in (302, 429, 403, 400, 500):
            assert decision.failure_of(FACTS, answer(status), job=job("x")).job == job("x")
