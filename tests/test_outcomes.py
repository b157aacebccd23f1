"""Outcomes pinned exactly: each code's HTTP status, Retry-After, the failure record's shape
and its caps at their boundaries (docs/testing.md)."""

from __future__ import annotations

import json
import re

import pytest

from cancel_job.contract import ErrorCode
from cancel_job.endpoints import parse_endpoint
from cancel_job.outcomes import Failure, Success, failure_record, to_json, utc_now_rfc3339
from cancel_job.trace import resolve_trace

TRACE = resolve_trace(None, None)
ENDPOINT = parse_endpoint("https://x.example")


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (ErrorCode.INVALID_MESSAGE, 400),
        (ErrorCode.INVALID_REQUEST, 400),
        (ErrorCode.INVALID_JOB_ID, 400),
        (ErrorCode.INSTANCE_NOT_ALLOWED, 403),
        (ErrorCode.JOB_NOT_CANCELLABLE, 409),
        (ErrorCode.UPSTREAM_ERROR, 502),
        (ErrorCode.FOLLOW_THROUGH_EXPIRED, 502),  # not one of our own 4xx: the job never settled
        (ErrorCode.CONFIGURATION_ERROR, 500),
        (ErrorCode.UNEXPECTED_ERROR, 500),
    ],
)
def test_each_own_code_has_its_status(code: ErrorCode, status: int) -> None:
    assert Failure(code.value, "m").http_status == status


def test_an_upstream_error_is_502_whatever_adt_answered() -> None:
    assert Failure(ErrorCode.UPSTREAM_ERROR.value, "m", adt_status=418).http_status == 502


@pytest.mark.parametrize(
    ("adt_status", "status"), [(399, 502), (400, 400), (404, 404), (499, 499), (500, 502), (None, 502)]
)
def test_adts_own_4xx_pass_through_and_anything_else_is_502(adt_status: int | None, status: int) -> None:
    assert Failure("SomethingOfAdts", "m", adt_status=adt_status).http_status == status


@pytest.mark.parametrize(
    ("failure", "status"),
    [
        (Failure("X", "m", adt_status=429, transient=True), 429),
        (Failure(ErrorCode.TOO_MANY_REQUESTS.value, "m", transient=True), 429),  # our own refusal
        (Failure("X", "m", adt_status=503, transient=True), 503),
        (Failure(ErrorCode.INVALID_JOB_ID.value, "m", transient=True), 503),  # transient wins over the table
        (Failure(ErrorCode.CONFIGURATION_ERROR.value, "m", adt_status=503, transient=True), 503),
    ],
)
def test_transient_failures_are_429_when_throttled_else_503(failure: Failure, status: int) -> None:
    assert failure.http_status == status


@pytest.mark.parametrize(
    ("retry_after", "header"),
    [(None, "1"), (0.0, "1"), (0.2, "1"), (1.0, "1"), (1.01, "2"), (14.0, "14"), (29.5, "30")],
)
def test_retry_after_header_is_whole_seconds_rounded_up_and_at_least_1(retry_after: float | None, header: str) -> None:
    assert Failure("x", "m", transient=True, retry_after=retry_after).retry_after_header == header
    assert Failure("x", "m", transient=False, retry_after=retry_after).retry_after_header is None


def test_the_error_body_is_adts_error_shape() -> None:
    assert Failure("JobNotFound", "no such job").error_body() == {
        "error": {"code": "JobNotFound", "message": "no such job"}
    }


def test_the_failure_record_has_every_field() -> None:
    failed = Failure(
        "JobNotCancellable", "done", job_id="j1", adt_status=200, job={"id": "j1"}, adt_correlation_id="corr-1"
    )
    record = failure_record(failed, request_text="j1", dequeue_count=2, entry="queue")
    assert set(record) == {
        "jobId",
        "error",
        "httpStatus",
        "adtCorrelationId",
        "entry",
        "dequeueCount",
        "request",
        "failedDateTime",
        "job",
    }
    assert (
        record["jobId"],
        record["error"],
        record["httpStatus"],
        record["adtCorrelationId"],
        record["dequeueCount"],
        record["request"],
        record["job"],
    ) == ("j1", {"code": "JobNotCancellable", "message": "done"}, 200, "corr-1", 2, "j1", {"id": "j1"})
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["failedDateTime"])
    assert "job" not in failure_record(Failure("X", "m"), request_text="", dequeue_count=0, entry="queue")
    assert failure_record(Failure("X", "m"), request_text="", dequeue_count=0, entry="queue")["jobId"] is None


def test_the_request_is_kept_whole_up_to_4096_characters() -> None:
    def recorded(text: str) -> str:
        return failure_record(Failure("X", "m"), request_text=text, dequeue_count=1, entry="queue")["request"]

    assert recorded("r" * 4096) == "r" * 4096
    assert recorded("r" * 4097) == "r" * 4096 + "...[truncated]"


def test_the_job_id_is_kept_whole_up_to_256_characters() -> None:
    def recorded(job_id: str) -> str:
        record = failure_record(Failure("X", "m", job_id=job_id), request_text="", dequeue_count=1, entry="queue")
        return record["jobId"]

    assert recorded("j" * 256) == "j" * 256
    assert recorded("j" * 257) == "j" * 256 + "...[truncated]"


def test_to_json_is_compact_and_keeps_unicode() -> None:
    assert to_json({"a": [1, "é"]}) == '{"a":[1,"é"]}'
    assert json.loads(to_json({"k": "\u2028"})) == {"k": "\u2028"}


def test_utc_now_is_rfc3339_with_milliseconds() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", utc_now_rfc3339())


@pytest.mark.parametrize(
    ("status", "in_progress"),
    [
        ("notstarted", True),
        ("running", True),
        ("cancelling", True),
        ("cancelled", False),
        ("succeeded", False),
        ("failed", False),
        ("somethingnew", False),
        (None, False),
        (3, False),
    ],
)
def test_whether_a_job_will_still_change(status: object, in_progress: bool) -> None:
    success = Success("j1", {"status": status}, ENDPOINT, TRACE, attempts=1)
    assert success.in_progress is in_progress
    assert success.job_status == (status if isinstance(status, str) else None)
    assert not success.already_in_effect and success.adt_correlation_id is None
