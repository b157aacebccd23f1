"""The emulator answers as the real service does (cancel_job/assumptions.py), or, asked to,
as the official spec says; its bodies validate against the spec either way."""

from __future__ import annotations

import json
import re
import time

import pytest
import requests

from cancel_job import assumptions
from cancel_job.contract import ADT_API_VERSION, ADT_TOKEN_SCOPE
from devtools.adt_emulator import AdtEmulator, Fault
from tests.spec_schema import assert_valid, documented_statuses, spec

API = f"api-version={ADT_API_VERSION}"


def token(emulator: AdtEmulator, client_id: str | None = None) -> str:
    params = {"api-version": "2019-08-01", "resource": ADT_TOKEN_SCOPE.removesuffix("/.default")}
    if client_id:
        params["client_id"] = client_id
    answer = requests.get(
        emulator.identity_endpoint, params=params, headers={"X-IDENTITY-HEADER": emulator.identity_header}, timeout=5
    )
    assert answer.status_code == 200
    return answer.json()["access_token"]


def call(emulator: AdtEmulator, method: str, path: str, *, auth: bool = True, **kwargs) -> requests.Response:
    headers = kwargs.pop("headers", {})
    if auth:
        headers["Authorization"] = f"Bearer {token(emulator)}"
    return requests.request(method, f"{emulator.endpoint}{path}", headers=headers, timeout=5, **kwargs)


def assert_error(answer: requests.Response, status: int, code: str, *, header: bool = True) -> None:
    assert answer.status_code == status
    assert answer.headers.get("x-ms-error-code") == (code if header else None)
    assert_valid("ErrorResponse", answer.json())
    assert answer.json()["error"]["code"] == code


GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def assert_no_nulls(value: object) -> None:
    """Fact 6: fields without a value are left out, never sent as null."""
    if isinstance(value, dict):
        assert None not in value.values(), value
        for item in value.values():
            assert_no_nulls(item)


def test_service_answers_a_cancel_with_the_job_as_it_was_then_cancels_it(emulator: AdtEmulator) -> None:
    """Facts 1 and 6: 200 with the job still running; cancelling, then cancelled, later;
    a cancelled job has no finishedDateTime."""
    emulator.configure(cancel_accept_delay=0.3, cancel_duration=0.3)
    emulator.add_job("job1")
    answered = call(emulator, "POST", f"/jobs/imports/job1/cancel?{API}")
    assert answered.status_code == 200 and answered.json()["status"] == "running"
    assert_valid("ImportJob", answered.json())
    assert_no_nulls(answered.json())
    from tests.helpers import wait_for

    seen = set()

    def cancelled() -> dict | None:
        job = call(emulator, "GET", f"/jobs/imports/job1?{API}").json()
        seen.add(job["status"])
        return job if job["status"] == "cancelled" else None

    final = wait_for(cancelled, timeout=10)
    assert "cancelling" in seen and "finishedDateTime" not in final
    assert_no_nulls(final)
    assert emulator.state.cancels_applied == 1


@pytest.mark.parametrize("status", ["succeeded", "failed", "cancelling", "cancelled"])
def test_service_answers_200_unchanged_for_a_job_it_cannot_cancel(emulator: AdtEmulator, status: str) -> None:
    """Fact 2: no 400 ValidationFailed."""
    emulator.add_job("job1", status=status)
    answered = call(emulator, "POST", f"/jobs/imports/job1/cancel?{API}")
    assert answered.status_code == 200 and answered.json()["status"] == status
    assert emulator.job_status("job1") == status and emulator.state.cancels_applied == 0


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_service_answers_unknown_jobs_404_job_not_found_without_the_header(emulator: AdtEmulator, method) -> None:
    """Fact 3."""
    path = "/jobs/imports/nosuchjob" + ("/cancel" if method == "POST" else "")
    assert_error(call(emulator, method, f"{path}?{API}"), 404, assumptions.JOB_NOT_FOUND_CODE, header=False)


def test_service_throttles_back_to_back_calls_with_its_own_429(emulator: AdtEmulator) -> None:
    """Fact 4: 429, Retry-After 5-14 s, a body with statusCode and no code, no header."""
    emulator.configure(throttle_rate=assumptions.JOBS_REQUESTS_PER_SECOND)
    emulator.add_job("job1")
    bearer = {"Authorization": f"Bearer {token(emulator)}"}
    answers = [
        requests.get(f"{emulator.endpoint}/jobs/imports/job1?{API}", headers=bearer, timeout=5) for _ in range(4)
    ]
    assert answers[0].status_code == 200
    throttled = [a for a in answers if a.status_code == 429]
    assert len(throttled) >= 2
    for answer in throttled:
        low, high = assumptions.THROTTLE_RETRY_AFTER_SECONDS
        assert low <= int(answer.headers["Retry-After"]) <= high
        assert "x-ms-error-code" not in answer.headers
        error = answer.json()["error"]
        assert error["statusCode"] == 429 and "code" not in error and error["message"]
        assert_valid("ErrorResponse", answer.json())
    time.sleep(1.0)  # a token comes back after 1/rate seconds
    assert requests.get(f"{emulator.endpoint}/jobs/imports/job1?{API}", headers=bearer, timeout=5).status_code == 200


def test_service_answers_carry_correlation_and_traceresponse_not_request_id(emulator: AdtEmulator) -> None:
    """Fact 5, on successes and errors alike."""
    emulator.add_job("job1")
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    for path in ("/jobs/imports/job1", "/jobs/imports/nosuchjob"):
        answer = call(emulator, "GET", f"{path}?{API}", headers={"traceparent": parent})
        assert GUID.fullmatch(answer.headers[assumptions.CORRELATION_HEADER])
        assert "x-ms-request-id" not in answer.headers
        response = answer.headers[assumptions.TRACE_RESPONSE_HEADER]
        assert re.fullmatch(r"00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01", response)
        assert response != parent
    ids = [r.correlation_id for r in emulator.requests if r.path.startswith("/jobs/")]
    assert len(set(ids)) == len(ids) == 2


def test_spec_life_cycle_put_get_cancel_list_delete(emulator: AdtEmulator) -> None:
    emulator.configure(answers="spec", cancel_duration=0.2)
    body = {"inputBlobUri": "https://a.blob.core.windows.net/in/x.ndjson", "outputBlobUri": "https://a/out"}
    created = call(emulator, "PUT", f"/jobs/imports/job1?{API}", json=body)
    assert created.status_code == 201 and "201" in documented_statuses("/jobs/imports/{id}", "put")
    assert_valid("ImportJob", created.json())
    assert created.json()["status"] in ("notstarted", "running")

    cancelled = call(emulator, "POST", f"/jobs/imports/job1/cancel?{API}")
    assert cancelled.status_code == 200
    assert_valid("ImportJob", cancelled.json())
    assert cancelled.json()["status"] == "cancelling"

    again = call(emulator, "POST", f"/jobs/imports/job1/cancel?{API}")
    assert_error(again, 400, "ValidationFailed")  # our stated assumption

    refused = call(emulator, "DELETE", f"/jobs/imports/job1?{API}")
    assert_error(refused, 400, "ValidationFailed")  # running jobs must be cancelled first

    from tests.helpers import wait_for

    final = wait_for(
        lambda: (r := call(emulator, "GET", f"/jobs/imports/job1?{API}")).json()["status"] == "cancelled" and r
    )
    assert_valid("ImportJob", final.json())
    assert "finishedDateTime" not in final.json()  # as the real service leaves it out

    listed = call(emulator, "GET", f"/jobs/imports?{API}")
    assert_valid("ImportJobCollection", listed.json())
    assert [j["id"] for j in listed.json()["value"]] == ["job1"]

    deleted = call(emulator, "DELETE", f"/jobs/imports/job1?{API}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert_error(call(emulator, "GET", f"/jobs/imports/job1?{API}"), 404, "ImportJobNotFound")


def test_examples_from_the_spec_validate_and_match_the_emulator_shape(emulator: AdtEmulator) -> None:
    import json

    from tests.spec_schema import SPEC_DIR

    example = json.loads((SPEC_DIR / "examples" / "ImportJobCancel.json").read_text())
    assert_valid("ImportJob", example["responses"]["200"]["body"])
    emulator.add_job("importjob1")
    ours = call(emulator, "POST", f"/jobs/imports/importjob1/cancel?{API}").json()
    assert set(example["responses"]["200"]["body"]) <= set(ours)
    assert set(ours) <= set(spec()["definitions"]["ImportJob"]["properties"])


def test_paging_through_next_link(emulator: AdtEmulator) -> None:
    for i in range(7):
        emulator.add_job(f"job{i}", status="succeeded")
    seen, url = [], f"{emulator.endpoint}/jobs/imports?{API}"
    while url:
        page = requests.get(
            url, headers={"Authorization": f"Bearer {token(emulator)}", "max-items-per-page": "3"}, timeout=5
        )
        assert_valid("ImportJobCollection", page.json())
        seen += [j["id"] for j in page.json()["value"]]
        url = page.json().get("nextLink")
    assert seen == [f"job{i}" for i in range(7)]


def test_requires_a_token_it_issued(emulator: AdtEmulator) -> None:
    emulator.add_job("job1")
    assert_error(call(emulator, "GET", f"/jobs/imports/job1?{API}", auth=False), 401, "Unauthorized")
    forged = call(emulator, "GET", f"/jobs/imports/job1?{API}", auth=False, headers={"Authorization": "Bearer forged"})
    assert_error(forged, 401, "Unauthorized")


def test_requires_api_version(emulator: AdtEmulator) -> None:
    emulator.add_job("job1")
    assert_error(call(emulator, "GET", "/jobs/imports/job1"), 400, "MissingApiVersionParameter")
    assert_error(
        call(emulator, "GET", "/jobs/imports/job1?api-version=2020-10-31"), 400, "UnsupportedApiVersionParameter"
    )


def test_put_validation(emulator: AdtEmulator) -> None:
    assert_error(call(emulator, "PUT", f"/jobs/imports/j?{API}", json={"inputBlobUri": "x"}), 400, "ValidationFailed")
    emulator.configure(max_jobs=0)
    body = {"inputBlobUri": "x", "outputBlobUri": "y"}
    assert_error(call(emulator, "PUT", f"/jobs/imports/j?{API}", json=body), 400, "JobLimitReached")


def test_identity_endpoint_checks_the_header_and_counts_tokens(emulator: AdtEmulator) -> None:
    before = emulator.token_requests
    wrong = requests.get(
        emulator.identity_endpoint,
        params={"api-version": "2019-08-01", "resource": "https://digitaltwins.azure.net"},
        headers={"X-IDENTITY-HEADER": "wrong"},
        timeout=5,
    )
    assert wrong.status_code == 401
    token(emulator, client_id="11111111-2222-3333-4444-555555555555")
    assert emulator.token_requests == before + 1
    assert "11111111-2222-3333-4444-555555555555" in emulator.state.tokens.values()


def test_faults_status_headers_drop_and_after_effect(emulator: AdtEmulator) -> None:
    emulator.add_job("job1")
    emulator.inject(Fault(op="cancel", status=429, headers={"Retry-After": "3"}))
    throttled = call(emulator, "POST", f"/jobs/imports/job1/cancel?{API}")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "3"
    assert_valid("ErrorResponse", throttled.json())
    assert "code" not in throttled.json()["error"]  # an injected 429 has ADT's own shape
    assert emulator.job_status("job1") == "running"

    emulator.inject(Fault(op="cancel", status=500, after_effect=True))
    assert call(emulator, "POST", f"/jobs/imports/job1/cancel?{API}").status_code == 500
    assert emulator.state.cancels_applied == 1  # it took effect anyway

    emulator.inject(Fault(op="get", drop=True))
    try:
        call(emulator, "GET", f"/jobs/imports/job1?{API}")
    except requests.ConnectionError:
        pass
    else:
        raise AssertionError("the connection should have been dropped")


def test_control_api_over_http(emulator: AdtEmulator) -> None:
    emulator.add_job("job1")
    assert (
        requests.post(
            f"{emulator.endpoint}/_emulator/jobs/job1/status", json={"status": "succeeded"}, timeout=5
        ).status_code
        == 204
    )
    assert emulator.job_status("job1") == "succeeded"
    requests.post(f"{emulator.endpoint}/_emulator/faults", json=[{"op": "get", "status": 503}], timeout=5)
    assert call(emulator, "GET", f"/jobs/imports/job1?{API}").status_code == 503
    stats = requests.get(f"{emulator.endpoint}/_emulator/stats", timeout=5).json()
    assert stats["jobs"] == {"job1": "succeeded"} and stats["tokenRequests"] >= 1


def test_runs_as_a_module_on_a_port(tmp_path) -> None:
    import json
    import subprocess
    import sys

    from devtools.azurite import REPO_ROOT, free_loopback_port

    port = free_loopback_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.adt_emulator", "--port", str(port)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        environment = json.loads(process.stdout.readline())
        assert environment["ADT_ENDPOINT"] == f"http://127.0.0.1:{port}"
        answer = requests.get(f"http://127.0.0.1:{port}/_emulator/stats", timeout=5)
        assert answer.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


def test_the_spec_copy_is_the_pinned_official_file() -> None:
    """tests/spec is held to the hashes in tests/spec/PINNED.json on every clone, and to the
    project's own shared/spec where that folder is beside the clone (build machines)."""
    import hashlib
    from pathlib import Path

    from cancel_job.contract import ADT_API_VERSION
    from tests.spec_schema import SPEC_DIR, spec

    pinned = json.loads((SPEC_DIR / "PINNED.json").read_text(encoding="utf-8"))
    copies = {str(p.relative_to(SPEC_DIR)): p for p in SPEC_DIR.rglob("*.json") if p.name != "PINNED.json"}
    assert sorted(copies) == sorted(pinned["sha256"]), "tests/spec holds files PINNED.json does not name, or lacks some"
    for name, path in copies.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == pinned["sha256"][name], f"tests/spec/{name} was edited"
    assert pinned["apiVersion"] == spec()["info"]["version"] == ADT_API_VERSION
    shared = Path(__file__).resolve().parents[2] / "shared" / "spec"
    for name, path in copies.items() if shared.is_dir() else ():
        assert (shared / name).read_bytes() == path.read_bytes(), f"tests/spec/{name} is out of date with shared/spec"


def _documented_control_routes() -> list[tuple[str, str, str, int]]:
    """(method, route, example body, answer status) for each row of the control-route table
    in docs/local-development.md."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "local-development.md").read_text(encoding="utf-8")
    row = re.compile(r"^\| (GET|POST) \| `/_emulator/([^`]+)` \| (?:`([^`]*)`)? *\| (\d{3})\b", re.MULTILINE)
    return [(m[1], m[2], m[3] or "", int(m[4])) for m in row.finditer(doc)]


def test_every_served_control_route_is_documented_and_every_documented_one_answers_as_written(
    emulator: AdtEmulator,
) -> None:
    from devtools.adt_emulator.control import ROUTES

    documented = _documented_control_routes()
    assert {(method, route) for method, route, _, _ in documented} == set(ROUTES)
    emulator.configure(throttle_rate=0)
    for method, route, body, status in documented:
        url = f"{emulator.endpoint}/_emulator/{route.replace('{id}', 'myjob0')}"
        answer = requests.request(method, url, data=body.encode(), timeout=5)
        assert answer.status_code == status, f"{method} {route} answered {answer.status_code}: {answer.text}"
        if route == "seed":
            assert requests.get(f"{emulator.endpoint}/_emulator/stats", timeout=5).json()["jobs"] == {
                "myjob0": "running",
                "myjob1": "running",
            }
        if (method, route) == ("POST", "config"):
            config = requests.get(f"{emulator.endpoint}/_emulator/config", timeout=5).json()
            assert {key: config[key] for key in json.loads(body)} == json.loads(body)
    # The last documented row is the reset: it forgot the seeded jobs and the configuration.
    assert documented[-1][:2] == ("POST", "reset")
    assert requests.get(f"{emulator.endpoint}/_emulator/stats", timeout=5).json()["jobs"] == {}
    assert requests.get(f"{emulator.endpoint}/_emulator/config", timeout=5).json()["throttle_rate"] == 1.0


def test_the_job_status_route_moves_the_job_and_answers_404_for_an_unknown_one(emulator: AdtEmulator) -> None:
    emulator.add_job("myjob0", status="running")
    moved = requests.post(f"{emulator.endpoint}/_emulator/jobs/myjob0/status", json={"status": "succeeded"}, timeout=5)
    unknown = requests.post(f"{emulator.endpoint}/_emulator/jobs/nojob/status", json={"status": "succeeded"}, timeout=5)
    assert moved.status_code == 204 and emulator.job_status("myjob0") == "succeeded"
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "JobNotFound"
