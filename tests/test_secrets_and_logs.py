"""No token (the app's for ADT, or a caller's bearer token), identity header or key in logs,
records or errors; logs escaped."""

from __future__ import annotations

import json
import logging

import pytest

from cancel_job.entrypoints import RetryDelivery
from devtools.adt_emulator import Fault
from tests.helpers import invoke_http, invoke_queue

FUNCTION_KEY = "fk-8d2f0c3a9b7e4f1aa5c6d7e8f9a0b1c2"  # what a caller might still send; nothing uses it
# A caller's bearer token as it reaches the function behind App Service authentication.
CALLER_TOKEN = "eyJ0eXAiOiJKV1QifQ.eyJvaWQiOiJjYWxsZXIifQ.c2lnbmF0dXJlLW9mLXRoZS1jYWxsZXI"


def test_no_secret_anywhere(app_env, emulator, captured_logs: pytest.LogCaptureFixture) -> None:
    emulator.add_job("job1")
    emulator.add_job("done", status="succeeded")
    texts: list[str] = []
    headers = {"x-functions-key": FUNCTION_KEY, "traceparent": "garbage", "Authorization": f"Bearer {CALLER_TOKEN}"}
    for job_id in ("job1", "done", "missing", "bad/id"):
        invoked = invoke_http(job_id, headers=headers, params={"code": FUNCTION_KEY})
        texts += [invoked.returned.get_body().decode(), str(invoked.failure), str(invoked.result)]
    emulator.inject(
        Fault(
            op="cancel",
            status=401,
            times=4,
            body={"error": {"code": "Unauthorized", "message": "token eyJabc.eyJdef.sig rejected"}},
        )
    )
    emulator.add_job("job2")
    texts.append(invoke_http("job2").returned.get_body().decode())
    with pytest.raises(RetryDelivery) as retry:
        invoke_queue(b"job2", dequeue_count=1)
    texts.append(str(retry.value))
    emulator.inject(Fault(op="token", status=400, times=20))
    from cancel_job.runtime import reset_service

    reset_service()  # a new credential, so the identity endpoint is asked (and fails)
    texts.append(invoke_http("job2").returned.get_body().decode())

    everything = "\n".join(
        texts
        + [r.getMessage() for r in captured_logs.records]
        + [json.dumps(r.__dict__, default=str) for r in captured_logs.records]
    )
    tokens = list(emulator.state.tokens)
    assert tokens, "the test must have issued tokens to be meaningful"
    for secret in [*tokens, emulator.identity_header, FUNCTION_KEY, CALLER_TOKEN, "eyJabc.eyJdef.sig"]:
        assert secret not in everything
    assert "[redacted" in everything  # the token-shaped text in ADT's error was caught


def test_untrusted_values_are_escaped_in_logs(app_env, emulator, captured_logs) -> None:
    invoke_queue(json.dumps({"jobId": "evil\r\nFAKE outcome=cancelled\x1b[31m"}).encode())
    [record] = [r for r in captured_logs.records if r.name == "cancel_job"]
    message = record.getMessage()
    assert "\n" not in message and "\r" not in message and "\x1b" not in message
    assert "evil\\r\\nFAKE" in message
    assert record.jobId == "evil\\r\\nFAKE outcome=cancelled\\x1b[31m"


def test_one_structured_record_per_outcome(app_env, emulator, captured_logs) -> None:
    emulator.add_job("job1")
    invoke_queue(b"job1", dequeue_count=2)
    [record] = [r for r in captured_logs.records if r.name == "cancel_job"]
    assert record.levelno == logging.INFO
    # The outcome is the job's status as ADT answered the cancel: still running, as the service does.
    assert (record.jobId, record.outcome, record.adtStatus, record.dequeueCount) == ("job1", "running", 200, 2)
    assert record.instance == "127.0.0.1" and record.attempts == 1 and len(record.traceId) == 32
    [call] = [r for r in emulator.requests if r.path.startswith("/jobs/")]
    assert record.adtCorrelationId == call.correlation_id  # what support asks for
    assert record.invocationId and record.durationMs >= 0


def test_status_reads_log_the_jobs_own_status(app_env, emulator, captured_logs) -> None:
    from tests.helpers import invoke_status

    emulator.add_job("job1", status="succeeded")
    invoke_status("job1")
    [record] = [r for r in captured_logs.records if r.name == "cancel_job"]
    assert (record.entry, record.outcome, record.levelno) == ("status", "succeeded", logging.INFO)


def test_a_failed_cancel_logs_what_the_deployed_alert_queries(app_env, emulator, captured_logs) -> None:
    """infra/modules/alerts.bicep counts records whose outcome is failed, split by errorCode."""
    from cancel_job.contract import OUTCOME_FAILED, OUTCOME_FIELD

    emulator.add_job("done", status="succeeded")
    invoke_queue(b"done", dequeue_count=1)
    [record] = [r for r in captured_logs.records if r.name == "cancel_job"]
    assert getattr(record, OUTCOME_FIELD) == OUTCOME_FAILED
    assert record.errorCode == "JobNotCancellable" and record.levelno == logging.WARNING


def _logged_outcome(captured_logs) -> str:
    from cancel_job.contract import OUTCOME_FIELD

    [record] = [r for r in captured_logs.records if r.name == "cancel_job" and hasattr(r, OUTCOME_FIELD)]
    captured_logs.clear()
    return getattr(record, OUTCOME_FIELD)


def test_failed_is_logged_exactly_when_a_failure_record_is_written(app_env, emulator, captured_logs) -> None:
    """The alert counts outcome == failed; each entry point logs it exactly where it writes a
    failure record: never for a transient HTTP answer the caller retries, nor for a read."""
    from cancel_job.contract import OUTCOME_FAILED, OUTCOME_READ_FAILED, OUTCOME_RETRYABLE
    from cancel_job.runtime import reset_service
    from tests.helpers import invoke_status

    seen = []
    # HTTP: a permanent failure leaves a record; a throttled or unavailable ADT does not.
    http = invoke_http("nosuchjob")
    seen.append(("http 404", http.failure is not None, _logged_outcome(captured_logs)))
    emulator.add_job("job1")
    emulator.inject(Fault(op="cancel", status=429, headers={"Retry-After": "30"}))
    http = invoke_http("job1")
    seen.append(("http 429", http.failure is not None, _logged_outcome(captured_logs)))
    reset_service()  # a new process: its gate knows nothing of that 429's 30 s
    emulator.inject(Fault(op="cancel", status=503, times=20, job_id="job1"))
    http = invoke_http("job1")
    seen.append(("http 503", http.failure is not None, _logged_outcome(captured_logs)))
    # A status read never leaves a record, whatever it finds.
    invoke_status("mistyped-id")
    seen.append(("status 404", False, _logged_outcome(captured_logs)))
    # The queue: a record on a permanent failure; none while it redelivers.
    queue = invoke_queue(b"nosuchjob")
    seen.append(("queue 404", queue.failure is not None, _logged_outcome(captured_logs)))
    with pytest.raises(RetryDelivery):
        invoke_queue(b"job1", dequeue_count=1)  # the 503s go on
    seen.append(("queue redelivered", False, _logged_outcome(captured_logs)))
    assert [(name, recorded, outcome == OUTCOME_FAILED) for name, recorded, outcome in seen] == [
        (name, recorded, recorded) for name, recorded, _ in seen
    ]
    assert dict((name, outcome) for name, _, outcome in seen) == {
        "http 404": OUTCOME_FAILED,
        "http 429": OUTCOME_RETRYABLE,
        "http 503": OUTCOME_RETRYABLE,
        "status 404": OUTCOME_READ_FAILED,
        "queue 404": OUTCOME_FAILED,
        "queue redelivered": "retrying",
    }
