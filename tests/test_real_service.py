"""The app against ADT as the real service answers (cancel_job/assumptions.py), through
the functions, with the emulator over HTTP. The spec's answers are covered alongside."""

from __future__ import annotations

import itertools
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest

from cancel_job import assumptions
from cancel_job.entrypoints import RetryDelivery
from cancel_job.hostconfig import load_queue_host_config
from cancel_job.runtime import reset_service
from devtools.adt_emulator import AdtEmulator, Fault
from tests.helpers import invoke_cancel_status, invoke_http, invoke_queue

THROTTLE_BODY_429 = Fault(op="cancel", status=429, headers={"Retry-After": "1"})


def adt_calls(emulator: AdtEmulator) -> list:
    return [r for r in emulator.requests if r.path.startswith("/jobs/")]


def pacing(monkeypatch: pytest.MonkeyPatch, requests_per_second: float) -> None:
    monkeypatch.setenv("ADT_JOBS_REQUESTS_PER_SECOND", str(requests_per_second))
    reset_service()


# -- the job's status decides the outcome --------------------------------------------------


@pytest.mark.parametrize("status", ["notstarted", "running", "cancelling", "cancelled"])
def test_a_cancel_answered_200_is_a_success_with_the_job_exactly_as_adt_returned_it(app_env, emulator, status) -> None:
    emulator.configure(start_delay=60)
    emulator.add_job("job1", status=status)
    invoked = invoke_http("job1")
    [_call] = adt_calls(emulator)
    assert invoked.returned.status_code == 200 and invoked.failure is None
    assert json.loads(invoked.returned.get_body())["status"] == status
    assert invoked.result == invoked.returned.get_body().decode()
    queued = invoke_queue(b"job1")
    assert queued.failure is None and queued.result_json["status"] == status


@pytest.mark.parametrize(("answers", "http_status"), [("service", 200), ("spec", 400)])
@pytest.mark.parametrize("status", ["succeeded", "failed"])
def test_a_finished_job_is_not_cancellable_whichever_way_adt_says_it(
    app_env, emulator, answers, http_status, status
) -> None:
    emulator.configure(answers=answers)
    adt_job = emulator.add_job("job1", status=status)
    invoked = invoke_http("job1")
    assert invoked.returned.status_code == 409
    assert invoked.returned.headers["x-ms-error-code"] == "JobNotCancellable"
    for record in (invoked.failure_json, invoke_queue(b"job1").failure_json):
        assert record["error"]["code"] == "JobNotCancellable"
        assert record["job"] == adt_job  # exactly as ADT returned it
        assert record["httpStatus"] == http_status  # ADT's status for the cancel
    assert emulator.job_status("job1") == status


def test_a_follow_up_that_finds_the_job_finished_is_not_cancellable(app_env, emulator) -> None:
    adt_job = emulator.add_job("job1", status="succeeded")
    deadline = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    invoked = invoke_queue(json.dumps({"jobId": "job1", "followUp": {"checks": 1, "deadline": deadline}}))
    assert invoked.result is None
    assert invoked.failure_json["error"]["code"] == "JobNotCancellable" and invoked.failure_json["job"] == adt_job
    assert invoked.failure_json["httpStatus"] == 200


def test_follow_through_from_running_ends_cancelled(app_env, emulator) -> None:
    """The cancel is answered with the job still running; the follow-ups see it through."""
    emulator.configure(cancel_accept_delay=0.2, cancel_duration=0.2)
    emulator.add_job("job1")
    sent: list[str] = []
    from cancel_job.entrypoints import handle_queue_message
    from cancel_job.runtime import get_service

    reply = handle_queue_message(
        get_service,
        b'{"jobId": "job1", "waitForCompletion": true}',
        1,
        5,
        send_later=lambda body, delay: sent.append(body),
    )
    assert reply.result is None and len(sent) == 1  # running: not final yet
    from tests.helpers import wait_for

    wait_for(lambda: emulator.job_status("job1") == "cancelled", timeout=5)
    final = invoke_queue(sent[0].encode())
    assert final.failure is None and final.result_json["status"] == "cancelled"


# -- 404, whatever ADT calls it ---------------------------------------------------------------


@pytest.mark.parametrize("code", ["JobNotFound", "ImportJobNotFound", "SubDomainNotFound"])
def test_a_404_passes_through_with_adts_code_and_no_header_needed(app_env, emulator, code) -> None:
    emulator.add_job("job1")
    emulator.inject(Fault(op="cancel", status=404, body={"error": {"code": code, "message": "not here"}}, times=2))
    invoked = invoke_http("job1")
    assert invoked.returned.status_code == 404 and invoked.returned.headers["x-ms-error-code"] == code
    record = invoke_queue(b"job1").failure_json
    assert record["error"]["code"] == code and record["httpStatus"] == 404


# -- throttling --------------------------------------------------------------------------------


def test_throttling_past_the_budget_is_too_many_requests_with_adts_last_retry_after(app_env, emulator) -> None:
    emulator.add_job("job1")
    emulator.inject(THROTTLE_BODY_429, Fault(op="cancel", status=429, headers={"Retry-After": "30"}))
    invoked = invoke_http("job1")
    response = invoked.returned
    assert response.status_code == 429 and response.headers["Retry-After"] == "30"
    assert response.headers["x-ms-error-code"] == "TooManyRequests"
    assert json.loads(response.get_body())["error"]["code"] == "TooManyRequests"
    assert len(adt_calls(emulator)) == 2


def test_throttling_on_the_queue_path_redelivers_then_records(app_env, emulator, monkeypatch) -> None:
    emulator.add_job("job1")
    emulator.inject(Fault(op="cancel", status=429, headers={"Retry-After": "30"}, times=2))
    # No storage here, so the request cannot be deferred (tests/test_fleet.py): the host's
    # own redelivery is the fallback, and the last delivery leaves the record.
    with pytest.raises(RetryDelivery, match=r"TooManyRequests.*could not defer it"):
        invoke_queue(b"job1", dequeue_count=1)
    reset_service()  # a fresh gate: the next delivery comes after the visibility timeout
    last = load_queue_host_config().max_dequeue_count
    record = invoke_queue(b"job1", dequeue_count=last).failure_json
    assert record["error"]["code"] == "TooManyRequests" and record["httpStatus"] == 429
    assert record["adtCorrelationId"] == adt_calls(emulator)[-1].correlation_id


def test_throttling_mode_of_the_emulator_through_the_function(app_env, emulator, monkeypatch) -> None:
    """A bucket with nothing in it: every call gets the service's 429 with 5-14 s."""
    emulator.configure(throttle_rate=1.0, throttle_burst=0.0)
    emulator.add_job("job1")
    response = invoke_http("job1").returned
    assert response.status_code == 429 and response.headers["x-ms-error-code"] == "TooManyRequests"
    low, high = assumptions.THROTTLE_RETRY_AFTER_SECONDS
    assert low <= int(response.headers["Retry-After"]) <= high
    assert len(adt_calls(emulator)) == 1  # 5-14 s is past the 5 s test deadline: no second call


# -- pacing: one gate per instance, per process ---------------------------------------------


def test_after_a_429_no_request_reaches_the_instance_until_retry_after(app_env, emulator, monkeypatch) -> None:
    pacing(monkeypatch, 0)  # spacing off: the 429 rule holds by itself
    emulator.inject(Fault(op="cancel", status=429, headers={"Retry-After": "30"}))
    for i in range(3):
        emulator.add_job(f"job{i}")
    first = invoke_http("job0").returned
    assert first.status_code == 429 and first.headers["Retry-After"] == "30"
    # Another invocation, on another thread, at once: refused without a call to ADT.
    replies = []
    thread = threading.Thread(target=lambda: replies.append(invoke_http("job1").returned))
    thread.start()
    thread.join()
    [second] = replies
    assert second.status_code == 429 and second.headers["x-ms-error-code"] == "TooManyRequests"
    assert 28 <= int(second.headers["Retry-After"]) <= 30
    assert len(adt_calls(emulator)) == 1
    # The queue path is refused the same way, and redelivers.
    with pytest.raises(RetryDelivery, match="TooManyRequests"):
        invoke_queue(b"job2")
    assert len(adt_calls(emulator)) == 1


def test_a_429_from_one_instance_does_not_hold_up_another(app_env, emulator, monkeypatch) -> None:
    with AdtEmulator(token_authority=emulator) as other:
        other.configure(throttle_rate=0)
        monkeypatch.setenv("ADT_ALLOWED_ENDPOINTS", other.endpoint)
        pacing(monkeypatch, 0)
        emulator.add_job("job1")
        other.add_job("job1")
        emulator.inject(Fault(op="cancel", status=429, headers={"Retry-After": "30"}))
        assert invoke_http("job1").returned.status_code == 429
        assert invoke_http("job1", params={"instance": other.endpoint}).returned.status_code == 200


def test_requests_to_one_instance_are_spaced_and_the_service_never_throttles(app_env, emulator, monkeypatch) -> None:
    """Six concurrent cancels at 5 requests/s against an instance throttling at 5/s."""
    rate = 5.0
    pacing(monkeypatch, rate)
    emulator.configure(throttle_rate=rate, throttle_retry_after=(5, 14))
    ids = [f"job{i}" for i in range(6)]
    for job_id in ids:
        emulator.add_job(job_id)
    replies: list = []
    threads = [threading.Thread(target=lambda j=j: replies.append(invoke_http(j).returned)) for j in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in replies) == [200] * 6
    arrivals = sorted(r.at for r in adt_calls(emulator))
    assert len(arrivals) == 6 and all(r.status == 200 for r in adt_calls(emulator))
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert min(gaps) >= 1 / rate - emulator.state.config.throttle_tolerance


def test_the_token_is_fetched_before_the_turn_so_a_slow_identity_does_not_bunch_requests(
    app_env, emulator, monkeypatch
) -> None:
    """A token fetched inside a turn would send that request late, right before the next one."""
    rate = 5.0
    pacing(monkeypatch, rate)
    emulator.inject(Fault(op="token", delay=0.5))
    emulator.add_job("job1")
    emulator.add_job("job2")
    threads = [threading.Thread(target=invoke_http, args=(job_id,)) for job_id in ("job1", "job2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first, second = sorted(r.at for r in adt_calls(emulator))
    assert second - first >= 1 / rate - emulator.state.config.throttle_tolerance


def test_a_turn_past_the_deadline_is_answered_429_at_once(app_env, emulator, monkeypatch) -> None:
    """At 0.25 requests/s (turns at 0, 4 and 8 s) with a 5 s deadline, the third of three
    concurrent cancels has no turn before its deadline."""
    pacing(monkeypatch, 0.25)
    for i in range(3):
        emulator.add_job(f"job{i}")
    replies: list = []
    threads = [threading.Thread(target=lambda i=i: replies.append(invoke_http(f"job{i}").returned)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(r.status_code for r in replies)
    assert codes == [200, 200, 429]
    [refused] = [r for r in replies if r.status_code == 429]
    assert refused.headers["x-ms-error-code"] == "TooManyRequests"
    assert 5 <= int(refused.headers["Retry-After"]) <= 10
    assert len(adt_calls(emulator)) == 2


# -- correlation ids ---------------------------------------------------------------------------


def test_failure_records_carry_adts_correlation_id_when_adt_answered(app_env, emulator) -> None:
    emulator.add_job("job1", status="failed")
    invoked = invoke_http("job1")
    assert invoked.failure_json["adtCorrelationId"] == adt_calls(emulator)[-1].correlation_id
    not_sent = invoke_http("..")
    assert not_sent.failure_json["adtCorrelationId"] is None  # ADT never answered
    emulator.inject(Fault(op="cancel", drop=True, times=10))
    dropped = invoke_queue(b"job1", dequeue_count=load_queue_host_config().max_dequeue_count)
    assert dropped.failure_json["error"]["code"] == "UpstreamUnavailable"
    assert dropped.failure_json["adtCorrelationId"] is None


def test_a_status_read_after_cancel_with_a_spec_refusal_still_settles(app_env, emulator) -> None:
    emulator.configure(answers="spec")
    emulator.add_job("job1", status="cancelled")
    response = invoke_http("job1").returned
    assert response.status_code == 200 and json.loads(response.get_body())["status"] == "cancelled"
    assert invoke_cancel_status("job1").returned.status_code == 200
