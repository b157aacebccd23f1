"""Retries, deadlines and definite outcomes under injected faults (the emulator over HTTP)."""

from __future__ import annotations

import json

import pytest

from cancel_job.entrypoints import RetryDelivery, handle_queue_message
from cancel_job.hostconfig import load_queue_host_config
from cancel_job.messages import CancelRequest
from cancel_job.outcomes import Failure, Success
from cancel_job.runtime import build_service
from cancel_job.service import CancelService
from cancel_job.settings import Settings
from devtools.adt_emulator import AdtEmulator, Fault
from tests.helpers import invoke_http, invoke_queue


class FakeTime:
    """A clock that only ``sleep`` moves: waits are recorded, not spent."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def service(app_env, emulator: AdtEmulator) -> CancelService:
    """The real service (and its pacing gates) on a clock that sleeping moves."""
    time = FakeTime()
    real = build_service(Settings.from_env())
    svc = CancelService(real.settings, real.client, sleep=time.sleep, clock=time.clock)
    svc.sleeps = time.sleeps  # type: ignore[attr-defined]
    return svc


def job_calls(emulator: AdtEmulator) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in emulator.requests if r.path.startswith("/jobs/")]


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried(service, emulator, status: int) -> None:
    emulator.add_job("job1")
    emulator.inject(Fault(op="cancel", status=status, times=2))
    outcome = service.cancel(CancelRequest("job1"))
    assert isinstance(outcome, Success)
    assert outcome.attempts == 3
    assert len(service.sleeps) == 2


@pytest.mark.parametrize("status", [400, 403, 404, 409, 412])
def test_other_4xx_are_not_retried(service, emulator, status: int) -> None:
    emulator.add_job("job1")
    emulator.inject(Fault(op="cancel", status=status, times=5, headers={"x-ms-error-code": "Nope"}))
    outcome = service.cancel(CancelRequest("job1"))
    # 403 is not retried here, but is transient: it heals once the role assignment propagates.
    assert isinstance(outcome, Failure) and outcome.transient == (status == 403)
    assert outcome.adt_status == status and outcome.code == "Nope"
    assert job_calls(emulator) == [("POST", "/jobs/imports/job1/cancel")]
    assert service.sleeps == []


def test_a_401_is_retried_once_at_once_with_a_new_token(service, emulator) -> None:
    emulator.add_job("job1")
    emulator.inject(Fault(op="cancel", status=401, times=5, headers={"x-ms-error-code": "Nope"}))
    outcome = service.cancel(CancelRequest("job1"))
    assert isinstance(outcome, Failure) and outcome.adt_status == 401 and outcome.transient
    assert job_calls(emulator) == [("POST", "/jobs/imports/job1/cancel")] * 2
    assert service.sleeps == []


@pytest.mark.parametrize("status", [429, 503])
def test_throttling_without_retry_after_waits_at_least_a_second(service, emulator, status: int) -> None:
    """ADT allows about 1 request/s: a 429 or 503 that names no wait is not retried sooner."""
    emulator.add_job("job1")
    emulator.inject(Fault(op="cancel", status=status, times=3, headers={"x-ms-error-code": "Busy"}))
    assert isinstance(service.cancel(CancelRequest("job1")), Success)
    assert len(service.sleeps) == 3 and all(wait >= 1.0 for wait in service.sleeps)


@pytest.mark.parametrize(
    ("headers", "expected_wait"),
    [({"Retry-After": "2"}, 2.0), ({"retry-after-ms": "1250"}, 1.25), ({"x-ms-retry-after-ms": "40"}, 0.04)],
)
def test_server_wait_is_honoured(service, emulator, headers: dict[str, str], expected_wait: float) -> None:
    emulator.add_job("job1")
    emulator.inject(Fault(op="cancel", status=429, headers=headers))
    assert isinstance(service.cancel(CancelRequest("job1")), Success)
    assert service.sleeps == [pytest.approx(expected_wait)]


def test_backoff_without_server_wait_is_jittered(service, emulator) -> None:
    emulator.add_job("job1")
    emulator.inject(Fault(op="cancel", status=500, times=3))
    assert isinstance(service.cancel(CancelRequest("job1")), Success)
    assert len(service.sleeps) == 3
    assert all(0 <= wait <= 0.5 * 2**i for i, wait in enumerate(service.sleeps))


def test_wait_past_the_deadline_stops_with_retry_after(service, emulator) -> None:
    emulator.add_job("job1")
    # 45 s: past the 5 s budget, within the 60 s cap (tests/test_trust.py caps a longer one).
    emulator.inject(Fault(op="cancel", status=429, headers={"Retry-After": "45"}))
    outcome = service.cancel(CancelRequest("job1"))
    assert isinstance(outcome, Failure) and outcome.transient
    assert outcome.http_status == 429 and outcome.retry_after_header == "45"
    assert service.sleeps == [] and len(job_calls(emulator)) == 1


def test_max_attempts_bound(service, emulator) -> None:
    emulator.add_job("job1")
    emulator.inject(Fault(op="cancel", status=500, times=50))
    outcome = service.cancel(CancelRequest("job1"))
    assert isinstance(outcome, Failure) and outcome.transient and outcome.http_status == 503
    assert len(job_calls(emulator)) == service.settings.max_attempts


def test_http_answers_429_with_retry_after_when_throttled_past_the_deadline(app_env, emulator) -> None:
    emulator.add_job("job1")
    emulator.inject(Fault(op="cancel", status=429, headers={"Retry-After": "30"}))
    response = invoke_http("job1").returned
    assert response.status_code == 429 and response.headers["Retry-After"] == "30"


def test_dropped_connection_is_retried(service, emulator) -> None:
    emulator.add_job("job1")
    emulator.inject(Fault(op="cancel", drop=True))
    outcome = service.cancel(CancelRequest("job1"))
    assert isinstance(outcome, Success) and outcome.attempts == 2


CANCEL_CALL, GET_CALL = ("POST", "/jobs/imports/job1/cancel"), ("GET", "/jobs/imports/job1")


@pytest.mark.parametrize(
    ("answers", "calls"),
    [
        ("service", [CANCEL_CALL] * 2),  # the repeat answers 200 with the job: nothing to settle
        ("spec", [CANCEL_CALL] * 2 + [GET_CALL]),
    ],  # the repeat is refused: the read settles it
)
def test_read_timeout_after_the_cancel_took_effect_is_a_success(app_env, emulator, monkeypatch, answers, calls) -> None:
    monkeypatch.setenv("ADT_READ_TIMEOUT_SECONDS", "0.3")
    emulator.configure(answers=answers)
    svc = build_service(Settings.from_env())
    emulator.add_job("job1")
    emulator.inject(Fault(op="cancel", after_effect=True, delay=1.0, status=200))
    outcome = svc.cancel(CancelRequest("job1"))
    assert isinstance(outcome, Success) and outcome.already_in_effect == (answers == "spec")
    assert outcome.job["status"] in ("running", "cancelling", "cancelled")
    assert job_calls(emulator) == calls
    assert emulator.state.cancels_applied == 1
    svc.client.close()


@pytest.mark.parametrize("answers", ["service", "spec"])
def test_500_after_the_cancel_took_effect_is_a_success(service, emulator, answers) -> None:
    emulator.configure(answers=answers)
    emulator.add_job("job1")
    emulator.inject(Fault(op="cancel", status=500, after_effect=True))
    outcome = service.cancel(CancelRequest("job1"))
    assert isinstance(outcome, Success) and outcome.already_in_effect == (answers == "spec")
    assert emulator.state.cancels_applied == 1


def test_repeated_cancel_of_a_cancelling_job_is_a_success(app_env, emulator) -> None:
    emulator.add_job("job1", status="cancelling")
    invoked = invoke_queue(b"job1")
    assert invoked.failure is None and invoked.result_json["status"] == "cancelling"


@pytest.mark.parametrize("status", ["succeeded", "failed"])
def test_finished_job_is_not_cancellable(app_env, emulator, status: str) -> None:
    emulator.add_job("job1", status=status)
    response = invoke_http("job1").returned
    assert response.status_code == 409
    body = json.loads(response.get_body())
    assert body["error"]["code"] == "JobNotCancellable" and status in body["error"]["message"]
    record = invoke_queue(b"job1").failure_json
    assert record["error"]["code"] == "JobNotCancellable"
    assert record["job"]["status"] == status and record["job"]["id"] == "job1"


@pytest.mark.parametrize(("answers", "code"), [("service", "JobNotFound"), ("spec", "ImportJobNotFound")])
def test_refused_cancel_of_a_vanished_job_reports_adts_not_found(service, emulator, answers, code) -> None:
    emulator.configure(answers=answers)
    emulator.inject(Fault(op="cancel", status=400, headers={"x-ms-error-code": "ValidationFailed"}))
    outcome = service.cancel(CancelRequest("ghost"))
    assert isinstance(outcome, Failure) and outcome.code == code and outcome.adt_status == 404
    assert not outcome.transient


def test_refused_cancel_whose_read_fails_reports_the_reads_error(service, emulator) -> None:
    """The settling read's own error and retry class, not the refusal (a 403 heals by itself)."""
    emulator.add_job("job1", status="cancelling")
    emulator.inject(
        Fault(op="cancel", status=400, headers={"x-ms-error-code": "ValidationFailed"}),
        Fault(op="get", status=403, headers={"x-ms-error-code": "Forbidden"}),
    )
    outcome = service.cancel(CancelRequest("job1"))
    assert isinstance(outcome, Failure) and outcome.code == "Forbidden" and outcome.adt_status == 403
    emulator.inject(
        Fault(op="cancel", status=400, headers={"x-ms-error-code": "ValidationFailed"}),
        Fault(op="get", status=503, times=10),
    )
    outcome = service.cancel(CancelRequest("job1"))
    assert isinstance(outcome, Failure) and outcome.transient and outcome.adt_status == 503


@pytest.mark.parametrize("status", [401, 403])
def test_adts_auth_failures_are_503_on_http_and_retry_on_the_queue(app_env, emulator, status: int) -> None:
    """The caller is not the one unauthorised: the app's role assignment is missing or still
    propagating. Logic Apps do not retry 401/403, and do retry 503."""
    emulator.add_job("job1")
    emulator.inject(Fault(op="cancel", status=status, times=6, headers={"x-ms-error-code": "AuthFailed"}))
    invoked = invoke_http("job1")
    response = invoked.returned
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    assert response.headers["x-ms-error-code"] == "AuthFailed"
    assert json.loads(response.get_body())["error"]["code"] == "AuthFailed"
    assert invoked.failure is None
    with pytest.raises(RetryDelivery):
        invoke_queue(b"job1", dequeue_count=1)
    last = load_queue_host_config().max_dequeue_count
    record = invoke_queue(b"job1", dequeue_count=last).failure_json
    assert record["httpStatus"] == status and record["dequeueCount"] == last


def test_identity_outage_is_transient(app_env, emulator) -> None:
    emulator.add_job("job1")
    emulator.inject(Fault(op="token", status=500, times=50))
    with pytest.raises(RetryDelivery, match="IdentityUnavailable"):
        invoke_queue(b"job1", dequeue_count=1)
    response = invoke_http("job1").returned
    assert response.status_code == 503
    assert json.loads(response.get_body())["error"]["code"] == "IdentityUnavailable"


def test_configuration_error_is_retried_on_the_queue_and_recorded_at_the_end(monkeypatch) -> None:
    from cancel_job.runtime import get_service, reset_service

    monkeypatch.setenv("ADT_ENDPOINT", "https://x.example/with/path")
    reset_service()
    try:
        with pytest.raises(RetryDelivery, match="ConfigurationError"):
            handle_queue_message(get_service, b"job1", 1, 5)
        reply = handle_queue_message(get_service, b"job1", 5, 5)
        assert json.loads(reply.failure)["error"]["code"] == "ConfigurationError"
    finally:
        reset_service()


def test_queue_transient_is_retried_by_raising_until_the_last_delivery(app_env, emulator, monkeypatch) -> None:
    monkeypatch.setenv("CANCEL_MAX_ATTEMPTS", "1")
    emulator.add_job("job1")
    emulator.inject(Fault(op="cancel", status=503, times=100))
    last = load_queue_host_config().max_dequeue_count
    for delivery in range(1, last):
        with pytest.raises(RetryDelivery):
            invoke_queue(b"job1", dequeue_count=delivery)
    record = invoke_queue(b"job1", dequeue_count=last).failure_json
    assert record["dequeueCount"] == last and record["httpStatus"] == 503


# -- instances ------------------------------------------------------------------------


@pytest.fixture
def second_instance(emulator: AdtEmulator):
    with AdtEmulator(token_authority=emulator) as other:
        other.configure(throttle_rate=0)
        yield other


def test_allowlisted_instance_is_served_there(app_env, emulator, second_instance, monkeypatch) -> None:
    from cancel_job.runtime import reset_service

    monkeypatch.setenv("ADT_ALLOWED_ENDPOINTS", second_instance.endpoint)
    reset_service()
    second_instance.add_job("job1")
    invoked = invoke_http("job1", params={"instance": second_instance.endpoint})
    assert invoked.returned.status_code == 200
    assert second_instance.state.cancels_applied == 1
    assert job_calls(emulator) == []
    queued = invoke_queue(json.dumps({"jobId": "job1", "instance": second_instance.endpoint}))
    assert queued.result_json["id"] == "job1"  # a repeat: settled as already in effect


@pytest.mark.parametrize(
    "instance",
    ["evil.example", "https://evil.example", "http://127.0.0.1:1", "https://127.0.0.1", "127.0.0.2", " x", ""],
)
def test_other_instances_get_instance_not_allowed_and_no_request(app_env, emulator, instance: str) -> None:
    emulator.add_job("job1")
    response = invoke_http("job1", params={"instance": instance}).returned
    assert response.status_code == 403
    assert response.headers["x-ms-error-code"] == "InstanceNotAllowed"
    record = invoke_queue(json.dumps({"jobId": "job1", "instance": instance})).failure_json
    assert record["error"]["code"] == "InstanceNotAllowed"
    assert job_calls(emulator) == []


def test_a_bug_is_an_internal_error_not_a_crash(app_env, emulator, monkeypatch, captured_logs) -> None:
    from cancel_job import runtime

    service = runtime.get_service()

    def broken(*args, **kwargs):
        raise RuntimeError("boom Bearer eyJhbGciOi.eyJzdWIi.c2ln")

    monkeypatch.setattr(service, "cancel", broken)
    response = invoke_http("job1").returned
    assert response.status_code == 500 and response.headers["x-ms-error-code"] == "UnexpectedError"
    with pytest.raises(RetryDelivery, match="UnexpectedError"):
        invoke_queue(b"job1", dequeue_count=1)
    last = load_queue_host_config().max_dequeue_count
    record = invoke_queue(b"job1", dequeue_count=last).failure_json
    assert record["error"]["code"] == "UnexpectedError" and record["jobId"] == "job1"
    assert "eyJhbGciOi" not in captured_logs.text
