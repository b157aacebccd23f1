"""The local HTTP host (devtools/http_host.py) serves the app as the Functions host does:
curl, a Logic App-like poller and the CLI's users can talk to it over real HTTP."""

from __future__ import annotations

import json
import time
from urllib.parse import urlsplit

import pytest
import requests

from cancel_job.contract import FAILURES_QUEUE, RESULTS_QUEUE
from devtools.azurite import drain_queue
from devtools.http_host import LocalHttpHost, decode_path

pytestmark = pytest.mark.azurite


@pytest.fixture
def bearer(entra) -> dict[str, str]:
    return {"Authorization": f"Bearer {entra.token()}"}


def api(host: LocalHttpHost, path: str) -> str:
    return f"{host.base_url}/api/{path}"


def test_curl_cancel_with_a_token_writes_the_result(host, emulator, azurite, bearer) -> None:
    emulator.add_job("job1")
    answer = requests.post(api(host, "jobs/imports/job1/cancel"), headers=bearer, timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    assert answer.json()["id"] == "job1"
    [result] = drain_queue(azurite.connection_string, RESULTS_QUEUE)
    assert json.loads(result) == answer.json()  # plain JSON, as the host writes under messageEncoding none


def test_a_logic_app_like_poller_follows_location_with_its_own_token(host, emulator, bearer) -> None:
    """Logic Apps send the HTTP action's authentication (a managed identity's token) on
    each poll of Location; the URL itself carries no credential."""
    emulator.configure(cancel_accept_delay=0.2, cancel_duration=0.2)
    emulator.add_job("job1")
    answer = requests.post(api(host, "jobs/imports/job1/cancel"), params={"wait": "true"}, headers=bearer, timeout=10)
    deadline = time.monotonic() + 15
    polls = 0
    while answer.status_code == 202 and time.monotonic() < deadline:
        location = answer.headers["Location"]
        assert urlsplit(location).netloc == urlsplit(host.base_url).netloc  # the host the caller used
        assert urlsplit(location).query == ""  # nothing secret, nothing at all, in the URL
        time.sleep(0.2)  # a poller's own pause (Retry-After is seconds; shortened here)
        answer = requests.get(location, headers=bearer, timeout=10)
        polls += 1
    assert polls > 0 and answer.status_code == 200 and answer.json()["status"] == "cancelled"
    assert requests.get(location, timeout=10).status_code == 401  # and a poll without it is refused


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
def test_unknown_routes_and_methods_are_404(host, bearer, method, path) -> None:
    answer = requests.request(method, api(host, path), headers=bearer, timeout=10)
    assert answer.status_code == 404 and answer.content == b""


def test_an_encoded_slash_stays_encoded_in_the_route_value(host, emulator, azurite, bearer) -> None:
    """Kestrel decodes every escape but %2F, and routing does not decode: the function
    gets ``a%2Fb``, which the job-id rule refuses before anything reaches ADT."""
    answer = requests.post(api(host, "jobs/imports/a%2Fb/cancel"), headers=bearer, timeout=10)
    assert answer.status_code == 400 and answer.headers["x-ms-error-code"] == "InvalidJobId"
    [record] = [json.loads(r) for r in drain_queue(azurite.connection_string, FAILURES_QUEUE)]
    assert record["jobId"] == "a%2Fb"
    assert [r for r in emulator.requests if r.path.startswith("/jobs/")] == []


def test_other_escapes_are_decoded_before_routing(host, emulator, bearer) -> None:
    emulator.add_job("job1")
    answer = requests.post(api(host, "jobs/imports/job%31/c%61ncel"), headers=bearer, timeout=10)
    assert answer.status_code == 200 and answer.json()["id"] == "job1"


def test_literal_route_segments_match_in_any_case(host, emulator, bearer) -> None:
    emulator.add_job("Job1")
    answer = requests.post(f"{host.base_url}/API/Jobs/IMPORTS/Job1/Cancel", headers=bearer, timeout=10)
    assert answer.status_code == 200 and answer.json()["id"] == "Job1"  # the route value keeps its case


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
