"""Logic Apps' asynchronous pattern: 202 + Location + Retry-After until the job is final,
through the emulator's life cycle; every response checked against docs/openapi.json."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from cancel_job.contract import QUEUE_ONLY_CODES, ErrorCode
from devtools.adt_emulator import AdtEmulator, Fault
from tests.helpers import functions_by_name, invoke_cancel_status, invoke_http, invoke_queue, invoke_status, wait_for
from tests.openapi_check import assert_matches_openapi, openapi

CANCEL, STATUS = "/jobs/imports/{id}/cancel", "/jobs/imports/{id}"


def status_from_location(location: str):
    """Poll Location as a Logic App does, through whichever function serves its route."""
    parts = urlsplit(location)
    params = {k: v[0] for k, v in parse_qs(parts.query).items()}
    if parts.path.endswith("/cancel"):
        invoked = invoke_cancel_status(parts.path.rsplit("/", 2)[1], params=params)
        assert invoked.result is None and invoked.failure is None  # a poll writes nothing
        return invoked.returned
    return invoke_status(parts.path.rsplit("/", 1)[1], params=params)


@pytest.mark.parametrize(("answers", "answered_status"), [("service", "running"), ("spec", "cancelling")])
def test_wait_true_polls_until_cancelled(app_env, emulator: AdtEmulator, monkeypatch, answers, answered_status) -> None:
    monkeypatch.setenv("STATUS_POLL_SECONDS", "2")
    emulator.configure(answers=answers, cancel_accept_delay=0.3, cancel_duration=0.3)
    emulator.add_job("job1")
    invoked = invoke_http("job1", params={"wait": "true"})
    accepted = invoked.returned
    assert accepted.status_code == 202  # ADT's job still running right after the cancel: in progress
    assert_matches_openapi(CANCEL, "post", accepted)
    assert accepted.headers["Retry-After"] == "2"
    location = accepted.headers["Location"]
    assert location == "https://myapp.azurewebsites.net/api/jobs/imports/job1/cancel"
    assert json.loads(accepted.get_body())["status"] == answered_status  # exactly as ADT returned it
    assert invoked.result_json["status"] == answered_status  # the results queue gets the cancel's ImportJob

    in_progress = status_from_location(location)
    assert in_progress.status_code == 202 and in_progress.headers["Location"] == location
    assert_matches_openapi(CANCEL, "get", in_progress)

    final = wait_for(lambda: (r := status_from_location(location)).status_code == 200 and r, timeout=10)
    assert json.loads(final.get_body())["status"] == "cancelled"
    assert "Location" not in final.headers
    assert_matches_openapi(CANCEL, "get", final)


def test_without_wait_the_cancel_answers_200(app_env, emulator) -> None:
    emulator.add_job("job1")
    response = invoke_http("job1").returned
    assert response.status_code == 200 and "Location" not in response.headers
    assert_matches_openapi(CANCEL, "post", response)


def test_wait_on_a_job_already_cancelled_answers_200(app_env, emulator) -> None:
    emulator.add_job("job1", status="cancelled")
    response = invoke_http("job1", params={"wait": "true"}).returned
    assert response.status_code == 200 and json.loads(response.get_body())["status"] == "cancelled"


def test_location_keeps_the_instance_and_never_a_credential(app_env, emulator, monkeypatch) -> None:
    from cancel_job.runtime import reset_service

    monkeypatch.setenv("ADT_ALLOWED_ENDPOINTS", f"http://localhost:{emulator.port}")
    reset_service()
    emulator.add_job("job1")
    instance = f"http://localhost:{emulator.port}"
    response = invoke_http("job1", params={"wait": "true", "instance": instance, "code": "key123"}).returned
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query == {"instance": [instance]}  # a code= a caller sent is not echoed into a URL
    assert status_from_location(response.headers["Location"]).status_code == 202


@pytest.mark.parametrize("status", ["notstarted", "running", "cancelling"])
def test_status_is_202_while_in_progress(app_env, emulator, status) -> None:
    emulator.configure(start_delay=60)
    emulator.add_job("job1", status=status)
    response = invoke_status("job1")
    assert response.status_code == 202 and response.headers["Retry-After"]
    assert_matches_openapi(STATUS, "get", response)


@pytest.mark.parametrize("status", ["succeeded", "failed", "cancelled", "someday-new"])
def test_status_is_200_when_final_or_unknown(app_env, emulator, status) -> None:
    emulator.add_job("job1", status=status)
    response = invoke_status("job1")
    assert response.status_code == 200
    assert json.loads(response.get_body())["status"] == status
    assert_matches_openapi(STATUS, "get", response)  # the status enum is extensible


def test_status_reads_follow_the_same_rules(app_env, emulator) -> None:
    # job-id rule: nothing reaches ADT
    bad = invoke_status("..")
    assert bad.status_code == 400 and bad.headers["x-ms-error-code"] == ErrorCode.INVALID_JOB_ID
    assert_matches_openapi(STATUS, "get", bad)
    # instance rule
    denied = invoke_status("job1", params={"instance": "evil.example"})
    assert denied.status_code == 403
    assert_matches_openapi(STATUS, "get", denied)
    assert [r for r in emulator.requests if r.path.startswith("/jobs")] == []
    # not found passes through
    missing = invoke_status("nosuchjob")
    assert missing.status_code == 404 and missing.headers["x-ms-error-code"] == "JobNotFound"
    assert_matches_openapi(STATUS, "get", missing)
    # retries and trace
    emulator.add_job("job1", status="cancelled")
    emulator.inject(Fault(op="get", status=503))
    tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert invoke_status("job1", headers={"traceparent": tp}).status_code == 200
    gets = [r for r in emulator.requests if r.method == "GET" and r.path == "/jobs/imports/job1"]
    assert len(gets) == 2 and all(r.headers["traceparent"].split("-")[1] == tp.split("-")[1] for r in gets)


def test_invalid_wait_value_is_400(app_env, emulator) -> None:
    emulator.add_job("job1")
    response = invoke_http("job1", params={"wait": "maybe"}).returned
    assert response.status_code == 400 and response.headers["x-ms-error-code"] == "InvalidRequest"
    assert_matches_openapi(CANCEL, "post", response)
    assert emulator.job_status("job1") == "running"


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda e: None, 404),
        (lambda e: e.add_job("job1", status="succeeded"), 409),
        (lambda e: (e.add_job("job1"), e.inject(Fault(op="cancel", status=429, headers={"Retry-After": "60"}))), 429),
        (lambda e: (e.add_job("job1"), e.inject(Fault(op="cancel", status=307))), 502),
        (lambda e: (e.add_job("job1"), e.inject(Fault(op="cancel", status=500, times=20))), 503),
        # ADT's 403 is about the app's role, not the caller: 503, which Logic Apps retry.
        (lambda e: (e.add_job("job1"), e.inject(Fault(op="cancel", status=403))), 503),
    ],
)
def test_cancel_errors_match_the_openapi_document(app_env, emulator, monkeypatch, setup, expected) -> None:
    monkeypatch.setenv("CANCEL_MAX_ATTEMPTS", "2")
    setup(emulator)
    response = invoke_http("job1").returned
    assert response.status_code == expected
    assert_matches_openapi(CANCEL, "post", response)


def test_openapi_document_is_valid_and_matches_the_app() -> None:
    from openapi_spec_validator import validate

    from tests.helpers import functions_by_name

    validate(openapi())
    routes = set()
    for fn in functions_by_name().values():
        for binding in json.loads(fn.get_function_json())["bindings"]:
            if binding["type"] == "httpTrigger":
                routes |= {("/" + binding["route"], m.lower()) for m in binding["methods"]}
    documented = {(path, method) for path, item in openapi()["paths"].items() for method in item}
    assert routes == documented
    described = json.dumps(openapi())
    http_codes = set(ErrorCode) - QUEUE_ONLY_CODES
    assert all(code.value in described for code in http_codes)


def test_queue_results_unchanged_by_the_async_pattern(app_env, emulator) -> None:
    emulator.add_job("job1")
    assert invoke_queue(b"job1").result_json["status"] == "running"  # as ADT answered the cancel


@pytest.mark.parametrize("final", ["succeeded", "failed"])
def test_a_poll_after_cancel_that_ends_finished_is_job_not_cancellable(app_env, emulator, final) -> None:
    """The job ended on its own before the cancel took effect: the poll ends as the cancel would."""
    emulator.configure(cancel_accept_delay=60)
    emulator.add_job("job1")
    location = invoke_http("job1", params={"wait": "true"}).returned.headers["Location"]
    assert status_from_location(location).status_code == 202
    emulator.set_status("job1", final)
    ended = status_from_location(location)
    assert ended.status_code == 409 and ended.headers["x-ms-error-code"] == "JobNotCancellable"
    assert final in json.loads(ended.get_body())["error"]["message"]
    assert_matches_openapi(CANCEL, "get", ended)
    plain = invoke_status("job1")  # no cancel behind a plain read: 200 with whatever the job is
    assert plain.status_code == 200 and json.loads(plain.get_body())["status"] == final


@pytest.mark.parametrize("value", ["1", "0", "TRUE", "yes", ""])
def test_wait_takes_only_true_or_false(app_env, emulator, value) -> None:
    emulator.add_job("job1")
    response = invoke_http("job1", params={"wait": value}).returned
    assert response.status_code == 400 and response.headers["x-ms-error-code"] == "InvalidRequest"
    assert [r for r in emulator.requests if r.path.startswith("/jobs")] == []


def test_the_location_a_cancel_hands_out_is_served_by_the_cancel_function(app_env, emulator) -> None:
    """The host checks a function key under the called function's name: a key scoped to the
    cancel function (the portal's "Get function URL") must open the URL it hands back."""
    emulator.add_job("job1")
    location = urlsplit(invoke_http("job1", params={"wait": "true"}).returned.headers["Location"])
    [binding] = [
        b
        for b in json.loads(functions_by_name()["cancel_import_job_http"].get_function_json())["bindings"]
        if b["type"] == "httpTrigger"
    ]
    template = "/api/" + binding["route"].replace("{id}", "job1")
    assert location.path == template and "GET" in binding["methods"]
    polled = status_from_location(location.geturl())
    assert polled.status_code == 202 and emulator.state.cancels_applied == 1  # a GET never cancels again


@pytest.mark.parametrize("instance", ["http://[x", "https://[::1", "https://[", "http://[::1]x"])
def test_an_unparseable_instance_is_instance_not_allowed_never_a_500(app_env, emulator, instance) -> None:
    emulator.add_job("job1")
    for response in (
        invoke_http("job1", params={"instance": instance}).returned,
        invoke_status("job1", params={"instance": instance}),
    ):
        assert response.status_code == 403 and response.headers["x-ms-error-code"] == "InstanceNotAllowed"
    assert [r for r in emulator.requests if r.path.startswith("/jobs")] == []


def test_the_openapi_job_id_pattern_is_the_job_id_rule() -> None:
    import re

    from cancel_job.job_id import is_valid_job_id

    pattern = re.compile(openapi()["components"]["parameters"]["JobId"]["schema"]["pattern"])
    for candidate in [".", "..", "...", ".a", "a", "a" * 128, "a" * 129, "a/b", "bulk-import-job_7~x", "", " a"]:
        assert bool(pattern.search(candidate)) == is_valid_job_id(candidate), candidate


def test_both_401s_are_documented_the_platforms_empty_one_and_the_apps_unauthenticated() -> None:
    assert openapi()["security"] == [{"entra": []}]
    assert openapi()["components"]["securitySchemes"]["entra"]["scheme"] == "bearer"
    for path in openapi()["paths"].values():
        for operation in path.values():
            unauthorized = operation["responses"]["401"]
            assert "content" not in unauthorized  # the platform's 401 has no body
            assert "empty body, no content type" in unauthorized["description"]
            assert ErrorCode.UNAUTHENTICATED.value in unauthorized["description"]
            assert "not on the allow-list" in operation["responses"]["403"]["description"]
