"""Both functions through the programming model, against the emulator over real HTTP."""

from __future__ import annotations

import json
import re

import pytest

from cancel_job.contract import (
    ADT_API_VERSION,
    FAILURES_QUEUE,
    REQUESTS_QUEUE,
    RESULTS_QUEUE,
    STORAGE_CONNECTION,
)
from devtools.adt_emulator import AdtEmulator, Fault
from devtools.queue_pump import HostContext, indexed_functions
from tests.helpers import VALID_TRACEPARENT, functions_by_name, invoke_http, invoke_queue
from tests.spec_schema import assert_valid

TRACE_ID = VALID_TRACEPARENT.split("-")[1]
FAILURE_FIELDS = {
    "jobId",
    "error",
    "httpStatus",
    "adtCorrelationId",
    "entry",
    "dequeueCount",
    "request",
    "failedDateTime",
}


def adt_calls(emulator: AdtEmulator) -> list:
    return [r for r in emulator.requests if r.path.startswith("/jobs/")]


# -- indexing -------------------------------------------------------------------------


ALL_FUNCTIONS = {"cancel_import_job_http", "cancel_import_job_queue", "import_job_status", "queue_depths"}


def test_function_app_indexes_its_functions_with_their_bindings() -> None:
    functions = functions_by_name()
    assert set(functions) == ALL_FUNCTIONS

    status = {b["name"]: b for b in json.loads(functions["import_job_status"].get_function_json())["bindings"]}
    assert status["req"]["route"] == "jobs/imports/{id}"
    assert status["req"]["methods"] == ["GET"] and status["req"]["authLevel"] == "ANONYMOUS"
    assert set(status) == {"req", "$return"}  # reads write nothing to the queues

    http = {b["name"]: b for b in json.loads(functions["cancel_import_job_http"].get_function_json())["bindings"]}
    assert http["req"]["type"] == "httpTrigger"
    assert http["req"]["route"] == "jobs/imports/{id}/cancel"
    assert sorted(http["req"]["methods"]) == ["GET", "POST"]  # GET: the status of the cancel
    assert http["req"]["authLevel"] == "ANONYMOUS"  # App Service authentication is in front
    assert http["$return"]["type"] == "http"

    queue = {b["name"]: b for b in json.loads(functions["cancel_import_job_queue"].get_function_json())["bindings"]}
    assert queue["msg"]["type"] == "queueTrigger"
    assert queue["msg"]["queueName"] == REQUESTS_QUEUE == "import-cancel-requests"
    for bindings in (http, queue):
        assert bindings["results"]["queueName"] == RESULTS_QUEUE == "import-cancel-results"
        assert bindings["failures"]["queueName"] == FAILURES_QUEUE == "import-cancel-failures"
        assert all(b["connection"] == STORAGE_CONNECTION for b in bindings.values() if "connection" in b)


def test_importing_the_app_needs_no_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    import function_app

    monkeypatch.delenv("ADT_ENDPOINT", raising=False)
    reloaded = importlib.reload(function_app)
    assert set(indexed_functions(reloaded.app)) == ALL_FUNCTIONS


def test_a_bad_setting_is_logged_at_start_up(monkeypatch, caplog) -> None:
    import importlib

    import function_app  # the first import in this process logs what it finds; not this test's

    caplog.clear()
    monkeypatch.setenv("ADT_ENDPOINT", "http://adt.example")
    importlib.reload(function_app)
    [record] = [r for r in caplog.records if r.name == "cancel_job" and r.levelname == "ERROR"]
    assert "ADT_ENDPOINT" in record.getMessage() and "plain http" in record.getMessage()


def test_host_json_hands_messages_over_as_sent() -> None:
    """messageEncoding none: the host never poisons a message for its encoding; the message
    rule reads plain and base64 alike."""
    from cancel_job.hostconfig import load_queue_host_config

    assert load_queue_host_config().message_encoding == "none"


# -- HTTP -----------------------------------------------------------------------------


def test_http_cancel_returns_adts_import_job_and_writes_it_to_results(app_env, emulator: AdtEmulator) -> None:
    emulator.add_job("importjob1")
    invoked = invoke_http("importjob1", headers={"traceparent": VALID_TRACEPARENT, "tracestate": "vendor=x"})
    response = invoked.returned
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    job = json.loads(response.get_body())
    assert_valid("ImportJob", job)
    assert job["id"] == "importjob1" and job["status"] == "running"  # ADT answers with the job as it was
    assert invoked.result_json == job
    assert invoked.failure is None

    [call] = adt_calls(emulator)
    assert (call.method, call.path, call.query) == (
        "POST",
        "/jobs/imports/importjob1/cancel",
        f"api-version={ADT_API_VERSION}",
    )
    assert call.authorized
    assert re.fullmatch(rf"00-{TRACE_ID}-[0-9a-f]{{16}}-01", call.headers["traceparent"])
    assert call.headers["tracestate"] == "vendor=x"
    assert call.headers.get("content-length", "0") == "0"


def test_http_bad_id_is_400_and_never_reaches_adt(app_env, emulator: AdtEmulator) -> None:
    invoked = invoke_http("..")
    assert invoked.returned.status_code == 400
    assert invoked.returned.headers["x-ms-error-code"] == "InvalidJobId"
    body = json.loads(invoked.returned.get_body())
    assert_valid("ErrorResponse", body)
    assert body["error"]["code"] == "InvalidJobId"
    assert invoked.result is None
    assert invoked.failure_json["error"]["code"] == "InvalidJobId"
    assert adt_calls(emulator) == []


def test_http_missing_route_id_is_400(app_env, emulator: AdtEmulator) -> None:
    invoked = invoke_http(None)
    assert invoked.returned.status_code == 400
    assert adt_calls(emulator) == []


@pytest.mark.parametrize(("answers", "code"), [("service", "JobNotFound"), ("spec", "ImportJobNotFound")])
def test_http_passes_adt_404_through(app_env, emulator: AdtEmulator, answers, code) -> None:
    """Whatever ADT calls it, with or without x-ms-error-code."""
    emulator.configure(answers=answers)
    invoked = invoke_http("nosuchjob")
    assert invoked.returned.status_code == 404
    assert invoked.returned.headers["x-ms-error-code"] == code
    assert json.loads(invoked.returned.get_body())["error"]["code"] == code


@pytest.mark.parametrize("status", [301, 307, 501])
def test_http_upstream_failure_is_502(app_env, emulator: AdtEmulator, status: int) -> None:
    emulator.add_job("job1")
    emulator.inject(Fault(op="cancel", status=status, headers={"Location": "https://evil.example/steal"}))
    invoked = invoke_http("job1")
    assert invoked.returned.status_code == 502
    assert_valid("ErrorResponse", json.loads(invoked.returned.get_body()))
    assert len(adt_calls(emulator)) == 1  # the redirect was not followed


def test_http_persistent_5xx_is_503_with_retry_after(app_env, emulator: AdtEmulator, monkeypatch) -> None:
    monkeypatch.setenv("CANCEL_MAX_ATTEMPTS", "2")
    emulator.add_job("job1")
    emulator.inject(Fault(op="cancel", status=500, times=5))
    invoked = invoke_http("job1")
    assert invoked.returned.status_code == 503
    assert int(invoked.returned.headers["Retry-After"]) >= 1
    assert invoked.failure is None  # a caller's retry may still succeed: no record for it


def test_http_never_raises_on_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from cancel_job.runtime import reset_service

    monkeypatch.setenv("ADT_ENDPOINT", "http://not-loopback.example")
    reset_service()
    invoked = invoke_http("job1")
    assert invoked.returned.status_code == 500
    body = json.loads(invoked.returned.get_body())
    assert body["error"]["code"] == "ConfigurationError"
    assert "ADT_ENDPOINT" in body["error"]["message"] and "http" in body["error"]["message"]
    reset_service()


# -- queue ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b'{"jobId": "importjob1"}', b"importjob1", b"  importjob1\n", b'{"jobId": "importjob1", "unknown": [1]}'],
)
def test_queue_cancel_writes_the_import_job_to_results(app_env, emulator: AdtEmulator, body: bytes) -> None:
    emulator.add_job("importjob1")
    invoked = invoke_queue(body)
    assert invoked.failure is None
    assert_valid("ImportJob", invoked.result_json)
    assert invoked.result_json["id"] == "importjob1"
    assert [r.path for r in adt_calls(emulator)] == ["/jobs/imports/importjob1/cancel"]


def test_queue_message_trace_context_is_carried(app_env, emulator: AdtEmulator) -> None:
    emulator.add_job("job1")
    message = {"jobId": "job1", "traceparent": VALID_TRACEPARENT, "tracestate": "a=1,b=2"}
    invoke_queue(json.dumps(message))
    [call] = adt_calls(emulator)
    assert call.headers["traceparent"].split("-")[1] == TRACE_ID
    assert call.headers["tracestate"] == "a=1,b=2"


def test_queue_without_trace_uses_the_invocation_context(app_env, emulator: AdtEmulator) -> None:
    emulator.add_job("job1")
    host_parent = "00-11111111111111111111111111111111-2222222222222222-01"
    invoke_queue(
        json.dumps({"jobId": "job1", "traceparent": "00-bad"}),
        context=HostContext("cancel_import_job_queue", trace_parent=host_parent),
    )
    [call] = adt_calls(emulator)
    assert call.headers["traceparent"].split("-")[1] == "1" * 32
    assert "tracestate" not in call.headers


def test_queue_not_found_writes_one_failure_record_and_completes(app_env, emulator: AdtEmulator) -> None:
    invoked = invoke_queue(b'{"jobId": "nosuchjob"}', dequeue_count=1)
    assert invoked.result is None
    record = invoked.failure_json
    assert set(record) == FAILURE_FIELDS
    assert record["jobId"] == "nosuchjob"
    assert record["error"]["code"] == "JobNotFound"
    assert record["httpStatus"] == 404
    assert record["adtCorrelationId"] == adt_calls(emulator)[-1].correlation_id
    assert record["dequeueCount"] == 1
    assert record["request"] == '{"jobId": "nosuchjob"}'
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", record["failedDateTime"])


@pytest.mark.parametrize(
    ("body", "code", "job_id"),
    [
        (b'{"jobId": 5}', "InvalidMessage", None),
        (b"{broken", "InvalidMessage", None),
        (b"\xff\xfe", "InvalidMessage", None),
        (b"a/b", "InvalidMessage", None),  # neither JSON nor a valid id, plain or base64
        (b"", "InvalidMessage", None),
        (b'{"jobId": "../cancel"}', "InvalidJobId", "../cancel"),
    ],
)
def test_queue_unusable_messages_are_recorded_not_retried(app_env, emulator, body: bytes, code: str, job_id) -> None:
    invoked = invoke_queue(body)
    assert invoked.failure_json["error"]["code"] == code
    assert invoked.failure_json["jobId"] == job_id
    assert invoked.failure_json["httpStatus"] is None
    assert invoked.failure_json["request"] == body.decode("utf-8", errors="replace")
    assert adt_calls(emulator) == []


@pytest.mark.parametrize("fault", [Fault(op="cancel", status=503, times=10), Fault(op="cancel", drop=True, times=10)])
def test_queue_transient_trouble_raises_for_redelivery(app_env, emulator, monkeypatch, fault: Fault) -> None:
    monkeypatch.setenv("CANCEL_MAX_ATTEMPTS", "2")
    emulator.add_job("job1")
    emulator.inject(fault)
    with pytest.raises(Exception, match=r"UpstreamUnavailable|Injected503"):
        invoke_queue(b"job1", dequeue_count=1)


# -- identity -------------------------------------------------------------------------


def test_one_token_and_one_connection_for_many_cancels(app_env, emulator: AdtEmulator) -> None:
    tokens_before, connections_before = emulator.token_requests, emulator.adt_connections
    for i in range(20):
        emulator.add_job(f"job{i}")
        assert invoke_http(f"job{i}").returned.status_code == 200
    assert emulator.token_requests - tokens_before == 1
    assert emulator.adt_connections - connections_before == 1


def test_user_assigned_identity_client_id_is_used(app_env, emulator, monkeypatch) -> None:
    from cancel_job.runtime import reset_service

    client_id = "9a8b7c6d-0000-4000-8000-123456789abc"
    monkeypatch.setenv("AZURE_CLIENT_ID", client_id)
    reset_service()
    emulator.add_job("job1")
    assert invoke_http("job1").returned.status_code == 200
    assert client_id in emulator.state.tokens.values()


def test_a_bad_endpoint_url_never_breaks_importing_the_app(monkeypatch, caplog) -> None:
    """urlsplit raises ValueError for an unclosed "[": a configuration error, not an import
    error (which the host would show only as "0 functions found")."""
    import importlib

    import function_app
    from cancel_job.runtime import reset_service

    monkeypatch.setenv("ADT_ENDPOINT", "https://[x")
    reloaded = importlib.reload(function_app)
    assert set(indexed_functions(reloaded.app)) == ALL_FUNCTIONS
    assert any("ADT_ENDPOINT" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    reset_service()
    invoked = invoke_http("job1")
    assert invoked.returned.status_code == 500
    assert invoked.returned.headers["x-ms-error-code"] == "ConfigurationError"
