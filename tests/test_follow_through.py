"""Follow-through on the queue path: re-check a cancelled job until it is final."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from cancel_job.contract import FAILURES_QUEUE, REQUESTS_QUEUE, RESULTS_QUEUE
from cancel_job.entrypoints import RetryDelivery, handle_queue_message
from cancel_job.follow_through import Expired, Finished, Scheduled, next_step
from cancel_job.messages import CancelRequest, FollowUp, InvalidMessageError, parse_message
from cancel_job.outcomes import Success
from cancel_job.queues import queue_client
from cancel_job.runtime import get_service, reset_service, send_later
from cancel_job.settings import Settings
from cancel_job.trace import resolve_trace
from devtools.azurite import decode_json, drain_queue
from devtools.queue_pump import QueueFunction, QueuePump
from tests.helpers import VALID_TRACEPARENT, invoke_queue

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SETTINGS = Settings.from_env(
    {
        "ADT_ENDPOINT": "https://x.example",
        "FOLLOW_THROUGH_INTERVAL_SECONDS": "10",
        "FOLLOW_THROUGH_MAX_CHECKS": "3",
        "FOLLOW_THROUGH_DEADLINE_SECONDS": "60",
    }
)


def success(status: str) -> Success:
    return Success(
        "job1", {"id": "job1", "status": status}, SETTINGS.allowlist.default, resolve_trace(VALID_TRACEPARENT, "a=1"), 1
    )


def test_no_follow_through_unless_asked() -> None:
    assert isinstance(next_step(CancelRequest("job1"), success("cancelling"), SETTINGS, NOW), Finished)


def test_final_status_ends_it() -> None:
    request = CancelRequest("job1", wait_for_completion=True)
    assert isinstance(next_step(request, success("cancelled"), SETTINGS, NOW), Finished)


def test_first_check_is_scheduled_with_the_same_trace() -> None:
    step = next_step(
        CancelRequest("job1", instance="x.example", wait_for_completion=True), success("cancelling"), SETTINGS, NOW
    )
    assert isinstance(step, Scheduled) and step.delay_seconds == 10
    body = json.loads(step.body)
    assert body["jobId"] == "job1" and body["instance"] == "x.example" and body["waitForCompletion"] is True
    assert body["traceparent"] == VALID_TRACEPARENT and body["tracestate"] == "a=1"
    assert body["followUp"] == {"checks": 1, "deadline": "2026-11-29T12:01:00Z"}
    assert parse_message(step.body.encode()).follow_up == FollowUp(1, NOW + timedelta(seconds=60))


def test_setting_makes_it_the_default_and_the_message_can_opt_out() -> None:
    settings = Settings.from_env({"ADT_ENDPOINT": "https://x.example", "FOLLOW_THROUGH_DEFAULT": "true"})
    assert isinstance(next_step(CancelRequest("job1"), success("cancelling"), settings, NOW), Scheduled)
    opt_out = CancelRequest("job1", wait_for_completion=False)
    assert isinstance(next_step(opt_out, success("cancelling"), settings, NOW), Finished)


@pytest.mark.parametrize("follow", [FollowUp(3, NOW + timedelta(seconds=30)), FollowUp(1, NOW - timedelta(seconds=1))])
def test_bounds_end_in_an_expired_failure(follow: FollowUp) -> None:
    step = next_step(CancelRequest("job1", follow_up=follow), success("cancelling"), SETTINGS, NOW)
    assert isinstance(step, Expired)
    assert step.failure.code == "FollowThroughExpired" and step.failure.job["status"] == "cancelling"


def test_last_wait_is_cut_to_the_deadline() -> None:
    step = next_step(
        CancelRequest("job1", follow_up=FollowUp(1, NOW + timedelta(seconds=4))), success("cancelling"), SETTINGS, NOW
    )
    assert isinstance(step, Scheduled) and step.delay_seconds == 4


@pytest.mark.parametrize(
    "body",
    [
        b'{"jobId": "j", "waitForCompletion": "yes"}',
        b'{"jobId": "j", "followUp": {"checks": -1, "deadline": "x"}}',
        b'{"jobId": "j", "followUp": {"checks": 1, "deadline": "soon"}}',
        b'{"jobId": "j", "followUp": {"checks": 1, "deadline": "2026-01-01T00:00:00"}}',
    ],
)
def test_malformed_follow_through_fields_are_invalid_messages(body: bytes) -> None:
    with pytest.raises(InvalidMessageError):
        parse_message(body)


def test_failure_to_schedule_is_transient(app_env, emulator) -> None:
    emulator.add_job("job1")

    def broken(body: str, delay: int) -> None:
        raise ConnectionError("queue down")

    with pytest.raises(RetryDelivery, match="could not schedule"):
        handle_queue_message(get_service, b'{"jobId": "job1", "waitForCompletion": true}', 1, 5, send_later=broken)


def test_follow_up_reads_and_does_not_cancel_again(app_env, emulator) -> None:
    emulator.add_job("job1", status="cancelled")
    deadline = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    invoked = invoke_queue(json.dumps({"jobId": "job1", "followUp": {"checks": 1, "deadline": deadline}}))
    assert invoked.result_json["status"] == "cancelled"
    assert [(r.method, r.path) for r in emulator.requests if r.path.startswith("/jobs")] == [
        ("GET", "/jobs/imports/job1")
    ]


@pytest.mark.parametrize(("answers", "code"), [("service", "JobNotFound"), ("spec", "ImportJobNotFound")])
def test_follow_up_that_finds_the_job_gone_records_adts_code(app_env, emulator, answers, code) -> None:
    emulator.configure(answers=answers)
    deadline = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    invoked = invoke_queue(json.dumps({"jobId": "gone", "followUp": {"checks": 2, "deadline": deadline}}))
    assert invoked.failure_json["error"]["code"] == code and invoked.failure_json["httpStatus"] == 404


def drain(connection_string: str, queue: str) -> list[dict]:
    return [decode_json(c) for c in drain_queue(connection_string, queue)]


@pytest.mark.azurite
def test_follow_through_reaches_cancelled_end_to_end(app_env, emulator, azurite, monkeypatch) -> None:
    import function_app

    monkeypatch.setenv("STORAGE_CONNECTION", azurite.connection_string)
    monkeypatch.setenv("FOLLOW_THROUGH_INTERVAL_SECONDS", "1")
    reset_service()
    emulator.configure(cancel_duration=2.5)
    emulator.add_job("job1")
    message = {"jobId": "job1", "waitForCompletion": True, "traceparent": VALID_TRACEPARENT}
    queue_client(REQUESTS_QUEUE).send_message(json.dumps(message))
    pump = QueuePump(
        azurite.connection_string,
        QueueFunction.from_app(function_app.app, "cancel_import_job_queue"),
        visibility_timeout_seconds=0,
    )
    pump.run_until_idle(idle_seconds=2.5, max_seconds=30)
    [job] = drain(azurite.connection_string, RESULTS_QUEUE)
    assert job["status"] == "cancelled"
    assert drain(azurite.connection_string, FAILURES_QUEUE) == []
    calls = [
        (r.method, r.headers["traceparent"].split("-")[1]) for r in emulator.requests if r.path.startswith("/jobs")
    ]
    assert calls[0][0] == "POST" and {m for m, _ in calls[1:]} == {"GET"} and len(calls) >= 3
    assert {trace for _, trace in calls} == {VALID_TRACEPARENT.split("-")[1]}  # one trace throughout


@pytest.mark.azurite
def test_follow_through_gives_up_at_its_bounds(app_env, emulator, azurite, monkeypatch) -> None:
    import function_app

    monkeypatch.setenv("STORAGE_CONNECTION", azurite.connection_string)
    monkeypatch.setenv("FOLLOW_THROUGH_INTERVAL_SECONDS", "1")
    monkeypatch.setenv("FOLLOW_THROUGH_MAX_CHECKS", "2")
    reset_service()
    emulator.configure(cancel_duration=3600)
    emulator.add_job("job1")
    handle_queue_message(get_service, b'{"jobId": "job1", "waitForCompletion": true}', 1, 5, send_later=send_later)
    pump = QueuePump(
        azurite.connection_string,
        QueueFunction.from_app(function_app.app, "cancel_import_job_queue"),
        visibility_timeout_seconds=0,
    )
    pump.run_until_idle(idle_seconds=2.5, max_seconds=30)
    [record] = drain(azurite.connection_string, FAILURES_QUEUE)
    assert record["error"]["code"] == "FollowThroughExpired" and record["job"]["status"] == "cancelling"
    assert drain(azurite.connection_string, RESULTS_QUEUE) == []
    gets = [r for r in emulator.requests if r.method == "GET" and r.path == "/jobs/imports/job1"]
    assert len(gets) == 2
