"""The local HTTP host (devtools/http_host.py) serves the app as the Functions host does:
curl, a Logic App-like poller and the CLI's users can talk to it over real HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from cancel_job.contract import FAILURES_QUEUE, RESULTS_QUEUE
from cancel_job.runtime import reset_service
from devtools.azurite import drain_queue
from devtools.http_host import LocalHttpHost, decode_path, function_key

pytestmark = pytest.mark.azurite
KEY = "test-function-key"


@pytest.fixture
def host(app_env, emulator, azurite, monkeypatch) -> Iterator[LocalHttpHost]:
    import function_app

    monkeypatch.setenv("STORAGE_CONNECTION", azurite.connection_string)
    reset_service()
    with LocalHttpHost(function_app.app, key=KEY) as served:
        yield served


def api(host: LocalHttpHost, path: str) -> str:
    return f"{host.base_url}/api/{path}"


def test_curl_cancel_with_the_key_writes_the_result(host, emulator, azurite) -> None:
    emulator.add_job("job1")
    answer = requests.post(api(host, "jobs/imports/job1/cancel"), headers={"x-functions-key": KEY}, timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    assert answer.json()["id"] == "job1"
    [result] = drain_queue(azurite.connection_string, RESULTS_QUEUE)
    assert json.loads(result) == answer.json()  # plain JSON, as the host writes under messageEncoding none


def test_a_logic_app_like_poller_follows_location_with_code_alone(host, emulator) -> None:
    emulator.configure(cancel_accept_delay=0.2, cancel_duration=0.2)
    emulator.add_job("job1")
    answer = requests.post(api(host, "jobs/imports/job1/cancel"), params={"wait": "true", "code": KEY}, timeout=10)
    deadline = time.monotonic() + 15
    while answer.status_code == 202 and time.monotonic() < deadline:
        location = answer.headers["Location"]
        assert urlsplit(location).netloc == urlsplit(host.base_url).netloc  # the host the caller used
        time.sleep(0.2)  # a poller's own pause (Retry-After is seconds; shortened here)
        answer = requests.get(location, timeout=10)  # no custom headers, as Logic Apps poll
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"


@pytest.mark.parametrize("headers,params", [({}, {}), ({"x-functions-key": "wrong"}, {}), ({}, {"code": "wrong"})])
def test_a_missing_or_wrong_key_is_the_hosts_empty_401(host, emulator, headers, params) -> None:
    emulator.add_job("job1")
    answer = requests.post(api(host, "jobs/imports/job1/cancel"), headers=headers, params=params, timeout=10)
    assert answer.status_code == 401 and answer.content == b"" and "Content-Type" not in answer.headers
    assert [r for r in emulator.requests if r.path.startswith("/jobs/")] == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "jobs"),
        ("POST", "jobs/imports"),
        ("PUT", "jobs/imports/job1/cancel"),
        ("DELETE", "jobs/imports/job1"),
        ("POST", "jobs/imports/job1"),
        ("TRACE", "jobs/imports/job1/cancel"),
        ("GET", "elsewhere/jobs/imports/job1"),
    ],
)
def test_unknown_routes_and_methods_are_404(host, method, path) -> None:
    answer = requests.request(method, api(host, path), headers={"x-functions-key": KEY}, timeout=10)
    assert answer.status_code == 404 and answer.content == b""


def test_an_encoded_slash_stays_encoded_in_the_route_value(host, emulator, azurite) -> None:
    """Kestrel decodes every escape but %2F, and routing does not decode: the function
    gets ``a%2Fb``, which the job-id rule refuses before anything reaches ADT."""
    answer = requests.post(api(host, "jobs/imports/a%2Fb/cancel"), headers={"x-functions-key": KEY}, timeout=10)
    assert answer.status_code == 400 and answer.headers["x-ms-error-code"] == "InvalidJobId"
    [record] = [json.loads(r) for r in drain_queue(azurite.connection_string, FAILURES_QUEUE)]
    assert record["jobId"] == "a%2Fb"
    assert [r for r in emulator.requests if r.path.startswith("/jobs/")] == []


def test_other_escapes_are_decoded_before_routing(host, emulator) -> None:
    emulator.add_job("job1")
    answer = requests.post(api(host, "jobs/imports/job%31/c%61ncel"), headers={"x-functions-key": KEY}, timeout=10)
    assert answer.status_code == 200 and answer.json()["id"] == "job1"


def test_literal_route_segments_match_in_any_case(host, emulator) -> None:
    emulator.add_job("Job1")
    answer = requests.post(
        f"{host.base_url}/API/Jobs/IMPORTS/Job1/Cancel", headers={"x-functions-key": KEY}, timeout=10
    )
    assert answer.status_code == 200 and answer.json()["id"] == "Job1"  # the route value keeps its case


def test_an_empty_key_header_is_used_and_refused_even_with_a_good_code(host, emulator) -> None:
    emulator.add_job("job1")
    answer = requests.post(
        api(host, "jobs/imports/job1/cancel"), headers={"x-functions-key": ""}, params={"code": KEY}, timeout=10
    )
    assert answer.status_code == 401 and answer.content == b""
    assert [r for r in emulator.requests if r.path.startswith("/jobs/")] == []


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("/api/jobs/imports/a%2Fb/cancel", "/api/jobs/imports/a%2Fb/cancel"),
        ("/api/jobs/imports/a%2fb/cancel", "/api/jobs/imports/a%2fb/cancel"),
        ("/api/jobs/imports/a%20b%3A/c%61ncel", "/api/jobs/imports/a b:/cancel"),
        ("/api/jobs/imports/a%252F", "/api/jobs/imports/a%2F"),  # decoded once, never twice
    ],
)
def test_the_path_is_decoded_as_kestrel_decodes_it(raw: str, decoded: str) -> None:
    assert decode_path(raw) == decoded


@pytest.mark.parametrize(
    ("headers", "query", "key"),
    [
        ({"x-functions-key": "h"}, "code=c", "h"),
        ({"x-functions-key": ""}, "code=c", None),
        ({}, "code=first&code=second", "first"),
        ({}, "code=", None),
        ({}, "", None),
    ],
)
def test_the_key_is_the_header_whenever_present_else_the_first_code(headers, query, key) -> None:
    assert function_key(headers, query) == key
