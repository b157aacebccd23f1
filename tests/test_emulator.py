"""The emulator answers as the official spec says; these tests hold it to that."""

from __future__ import annotations

import pytest
import requests

from cancel_job.contract import ADT_API_VERSION, ADT_TOKEN_SCOPE
from devtools.adt_emulator import AdtEmulator, Fault
from tests.spec_schema import assert_valid, documented_statuses, spec

API = f"api-version={ADT_API_VERSION}"


def token(emulator: AdtEmulator, client_id: str | None = None) -> str:
    params = {"api-version": "2019-08-01", "resource": ADT_TOKEN_SCOPE.removesuffix("/.default")}
    if client_id:
        params["client_id"] = client_id
    answer = requests.get(emulator.identity_endpoint, params=params,
                          headers={"X-IDENTITY-HEADER": emulator.identity_header}, timeout=5)
    assert answer.status_code == 200
    return answer.json()["access_token"]


def call(emulator: AdtEmulator, method: str, path: str, *, auth: bool = True, **kwargs) -> requests.Response:
    headers = kwargs.pop("headers", {})
    if auth:
        headers["Authorization"] = f"Bearer {token(emulator)}"
    return requests.request(method, f"{emulator.endpoint}{path}", headers=headers, timeout=5, **kwargs)


def assert_error(answer: requests.Response, status: int, code: str) -> None:
    assert answer.status_code == status
    assert answer.headers["x-ms-error-code"] == code
    assert_valid("ErrorResponse", answer.json())
    assert answer.json()["error"]["code"] == code


def test_life_cycle_put_get_cancel_list_delete(emulator: AdtEmulator) -> None:
    emulator.configure(cancel_duration=0.2)
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

    from tests.conftest import wait_for

    final = wait_for(lambda: (r := call(emulator, "GET", f"/jobs/imports/job1?{API}")).json()["status"] == "cancelled"
                     and r)
    assert_valid("ImportJob", final.json())
    assert "finishedDateTime" in final.json()

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
        page = requests.get(url, headers={"Authorization": f"Bearer {token(emulator)}", "max-items-per-page": "3"},
                            timeout=5)
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
    assert_error(call(emulator, "GET", "/jobs/imports/job1?api-version=2020-10-31"), 400,
                 "UnsupportedApiVersionParameter")


def test_put_validation(emulator: AdtEmulator) -> None:
    assert_error(call(emulator, "PUT", f"/jobs/imports/j?{API}", json={"inputBlobUri": "x"}), 400, "ValidationFailed")
    emulator.configure(max_jobs=0)
    body = {"inputBlobUri": "x", "outputBlobUri": "y"}
    assert_error(call(emulator, "PUT", f"/jobs/imports/j?{API}", json=body), 400, "JobLimitReached")


def test_identity_endpoint_checks_the_header_and_counts_tokens(emulator: AdtEmulator) -> None:
    before = emulator.token_requests
    wrong = requests.get(emulator.identity_endpoint,
                         params={"api-version": "2019-08-01", "resource": "https://digitaltwins.azure.net"},
                         headers={"X-IDENTITY-HEADER": "wrong"}, timeout=5)
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
    assert emulator.job_status("job1") == "running"

    emulator.inject(Fault(op="cancel", status=500, after_effect=True))
    assert call(emulator, "POST", f"/jobs/imports/job1/cancel?{API}").status_code == 500
    assert emulator.job_status("job1") == "cancelling"  # it took effect anyway

    emulator.inject(Fault(op="get", drop=True))
    try:
        call(emulator, "GET", f"/jobs/imports/job1?{API}")
    except requests.ConnectionError:
        pass
    else:
        raise AssertionError("the connection should have been dropped")


def test_control_api_over_http(emulator: AdtEmulator) -> None:
    emulator.add_job("job1")
    assert requests.post(f"{emulator.endpoint}/_emulator/jobs/job1/status", json={"status": "succeeded"},
                         timeout=5).status_code == 204
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
    process = subprocess.Popen([sys.executable, "-m", "devtools.adt_emulator", "--port", str(port)],
                               cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        environment = json.loads(process.stdout.readline())
        assert environment["ADT_ENDPOINT"] == f"http://127.0.0.1:{port}"
        answer = requests.get(f"http://127.0.0.1:{port}/_emulator/stats", timeout=5)
        assert answer.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


def test_spec_copy_matches_the_shared_spec() -> None:
    from pathlib import Path

    from tests.spec_schema import SPEC_FILE

    shared = Path(__file__).resolve().parents[2] / "shared" / "spec" / SPEC_FILE.name
    if not shared.exists():
        pytest.skip("no shared/ beside this clone")
    assert shared.read_bytes() == SPEC_FILE.read_bytes(), "tests/spec is out of date with shared/spec"
