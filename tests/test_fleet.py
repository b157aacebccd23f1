"""One pace for the fleet: several real processes of the app, sharing Azurite and the ADT
emulator, through the queue function (devtools/fleet_worker.py drives each process).

Each rule has its control where one makes sense: the same load with ADT_PACING_SCOPE=process
(every process on its own, as before) shows what the test would see without sharing.
"""

from __future__ import annotations

import itertools
import json
import logging
import socket
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler

import pytest
from azure.storage.queue import QueueClient

from cancel_job.contract import FAILURES_QUEUE, POISON_QUEUE, REQUESTS_QUEUE
from cancel_job.runtime import reset_service
from devtools.adt_emulator import AdtEmulator, Fault
from devtools.azurite import Azurite
from devtools.loopback import BackgroundServer, NoDelayServer
from tests.fleet import fleet
from tests.helpers import invoke_queue, wait_for

pytestmark = pytest.mark.azurite

# Arrival times are taken by the emulator (one clock); a little slack for scheduling only.
SLACK = 0.05


def settings(emulator: AdtEmulator, azurite: Azurite, **overrides: str) -> dict[str, str]:
    return {
        **emulator.environment(),
        "STORAGE_CONNECTION": azurite.connection_string,
        "ADT_ALLOWED_ENDPOINTS": "",
        "AZURE_CLIENT_ID": "",
        "CANCEL_DEADLINE_SECONDS": "10",
        "CANCEL_MAX_ATTEMPTS": "4",
        "ADT_READ_TIMEOUT_SECONDS": "2",
        **overrides,
    }


def cancels(emulator: AdtEmulator, job_id: str | None = None) -> list:
    return [
        r for r in emulator.requests if r.method == "POST" and (job_id is None or f"/jobs/imports/{job_id}/" in r.path)
    ]


def throttle(job_id: str, retry_after: int, delay: float = 0.0) -> Fault:
    return Fault(op="cancel", job_id=job_id, status=429, headers={"Retry-After": str(retry_after)}, delay=delay)


def queue(azurite: Azurite, name: str) -> QueueClient:
    return QueueClient.from_connection_string(azurite.connection_string, name)


def message_count(azurite: Azurite, name: str) -> int:
    """Visible and invisible messages alike."""
    return queue(azurite, name).get_queue_properties().approximate_message_count


@pytest.mark.parametrize("scope, held", [("shared", True), ("process", False)])
def test_a_429_seen_by_one_process_holds_every_other_process_back(
    emulator: AdtEmulator, azurite: Azurite, scope: str, held: bool
) -> None:
    for job in ("job-a", "job-b"):
        emulator.add_job(job)
    emulator.inject(throttle("job-a", 2))
    with fleet(2, settings(emulator, azurite, ADT_PACING_SCOPE=scope, ADT_JOBS_REQUESTS_PER_SECOND="0")) as (a, b):
        a.send("invoke", body="job-a")
        closed = wait_for(lambda: [r for r in cancels(emulator, "job-a") if r.status == 429], timeout=30)[0]
        b_answer = b.invoke("job-b")
        a_answer = a.receive()
    assert json.loads(a_answer["result"])["id"] == "job-a"  # a waited out its 429 and got through
    assert json.loads(b_answer["result"])["id"] == "job-b"
    b_sent = cancels(emulator, "job-b")[0].at
    if held:
        assert b_sent >= closed.at + 2 - SLACK
    else:  # the control: a process on its own knows nothing of the other's 429
        assert b_sent < closed.at + 1


@pytest.mark.parametrize("first, second", [(3, 1), (1, 3)])
def test_two_429s_keep_the_instance_closed_until_the_later_ends(
    emulator: AdtEmulator, azurite: Azurite, first: int, second: int
) -> None:
    for job in ("job-a", "job-b", "job-c"):
        emulator.add_job(job)
    # Both are sent at once (spacing off, nothing closed yet); a's 429 comes back first.
    emulator.inject(throttle("job-a", first, delay=0.3), throttle("job-b", second, delay=0.6))
    with fleet(3, settings(emulator, azurite, ADT_JOBS_REQUESTS_PER_SECOND="0")) as (a, b, c):
        a.send("invoke", body="job-a")
        b.send("invoke", body="job-b")
        wait_for(lambda: len([r for r in cancels(emulator) if r.status == 429]) == 2, timeout=30)
        c_answer = c.invoke("job-c")
        answers = [a.receive(), b.receive(), c_answer]
    assert [json.loads(answer["result"])["id"] for answer in answers] == ["job-a", "job-b", "job-c"]
    a_sent, b_sent = cancels(emulator, "job-a")[0].at, cancels(emulator, "job-b")[0].at
    first_answer = a_sent + 0.3
    closed_until = max(a_sent + 0.3 + first, b_sent + 0.6 + second)
    later = [r.at for r in cancels(emulator) if r.at > first_answer]
    assert len(later) == 3  # a's and b's retries, and c
    assert min(later) >= closed_until - SLACK


@pytest.mark.parametrize("scope", ["shared", "process"])
def test_two_processes_never_take_the_same_turn(emulator: AdtEmulator, azurite: Azurite, scope: str) -> None:
    rate = 5.0
    emulator.configure(throttle_rate=rate, throttle_retry_after=(0.5, 0.5))
    jobs = [f"job-{n}" for n in range(12)]
    for job in jobs:
        emulator.add_job(job)
    with fleet(
        3, settings(emulator, azurite, ADT_PACING_SCOPE=scope, ADT_JOBS_REQUESTS_PER_SECOND=str(rate))
    ) as processes:
        for turn in range(4):
            for n, process in enumerate(processes):
                process.send("invoke", body=jobs[turn * 3 + n])
        answers = [process.receive() for _ in range(4) for process in processes]
    throttled = [r for r in cancels(emulator) if r.status == 429]
    if scope == "shared":
        assert all(answer["result"] for answer in answers)
        assert throttled == []
        sent = sorted(r.at for r in cancels(emulator))
        assert len(sent) == len(jobs)
        assert min(b - a for a, b in itertools.pairwise(sent)) >= 1 / rate - SLACK
    else:  # the control: three processes pacing themselves send three times the rate
        assert throttled


def test_a_refused_delivery_is_deferred_with_its_count_and_deadline(emulator: AdtEmulator, azurite: Azurite) -> None:
    for job in ("job-a", "job-b"):
        emulator.add_job(job)
    requests = queue(azurite, REQUESTS_QUEUE)
    # A turn every 2.1 s and a budget of 1.5 s: the copy comes back half a budget before the
    # turn it holds, to the nearest second (1 s later), and waits for it within its budget.
    pace = settings(emulator, azurite, ADT_JOBS_REQUESTS_PER_SECOND="0.5", CANCEL_DEADLINE_SECONDS="1.5")
    with fleet(2, pace) as (a, b):
        assert json.loads(a.invoke("job-a")["result"])["id"] == "job-a"
        deferred_at = datetime.now(UTC)
        refused = b.invoke('{"jobId": "job-b"}')  # its turn is 2.1 s away, past its 1.5 s budget
        assert refused == {"result": None, "failure": None, "raised": None}  # completed, nothing written
        # The copy is on the queue, and invisible for its delay (1 s).
        assert message_count(azurite, REQUESTS_QUEUE) == 1 and list(requests.peek_messages()) == []
        copy = wait_for(lambda: list(requests.receive_messages(max_messages=1)), timeout=15)[0]
        assert datetime.now(UTC) - deferred_at >= timedelta(seconds=1)
        body = json.loads(copy.content)
        assert (body["jobId"], body["deferrals"]) == ("job-b", 1)
        turn = datetime.fromisoformat(body["turn"])  # the turn the line holds for it
        assert timedelta(seconds=1.5) < turn - deferred_at < timedelta(seconds=3)
        not_after = datetime.fromisoformat(body["notAfter"])
        assert abs(not_after - (deferred_at + timedelta(hours=24))) < timedelta(seconds=30)
        assert copy.dequeue_count == 1  # a new message: no delivery spent
        again = b.invoke(copy.content)
    assert json.loads(again["result"])["id"] == "job-b"
    assert cancels(emulator, "job-b")  # reached ADT on the deferred delivery
    assert message_count(azurite, POISON_QUEUE) == 0


def test_a_request_past_its_deadline_ends_in_one_too_many_requests_record(
    emulator: AdtEmulator, azurite: Azurite
) -> None:
    for job in ("job-a", "job-b"):
        emulator.add_job(job)
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    # A turn every 2.1 s and a budget of 1.5 s: a's cancel has time for its turn even on a busy
    # machine (with 0.5 s it was sometimes refused, and its own copy was on the queue), b's not.
    pace = settings(emulator, azurite, ADT_JOBS_REQUESTS_PER_SECOND="0.5", CANCEL_DEADLINE_SECONDS="1.5")
    with fleet(2, pace) as (a, b):
        assert json.loads(a.invoke("job-a")["result"])["id"] == "job-a"
        ended = b.invoke(json.dumps({"jobId": "job-b", "deferrals": 3, "notAfter": past}))
    assert ended["result"] is None and ended["raised"] is None
    record = json.loads(ended["failure"])
    assert (record["error"]["code"], record["jobId"], record["deferrals"]) == ("TooManyRequests", "job-b", 3)
    assert message_count(azurite, REQUESTS_QUEUE) == 0  # no further copy
    assert message_count(azurite, POISON_QUEUE) == 0


class _Forbidden(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self._refuse()

    def do_PUT(self) -> None:
        self._refuse()

    def _refuse(self) -> None:
        # As Azure Storage answers a principal without the data role (the SDK needs the Message).
        body = (
            b'<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthorizationPermissionMismatch</Code>'
            b"<Message>This request is not authorized to perform this operation using this permission.</Message>"
            b"</Error>"
        )
        self.send_response(403)
        self.send_header("x-ms-error-code", "AuthorizationPermissionMismatch")
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _ForbiddenStore(BackgroundServer):
    def __init__(self) -> None:
        self._server = NoDelayServer(("127.0.0.1", 0), _Forbidden)

    @property
    def port(self) -> int:
        return self._server.server_address[1]


@pytest.mark.parametrize("store", ["silent", "forbidden"])
def test_a_pacing_store_that_answers_nothing_or_403_falls_back_to_the_process_gate(
    store: str,
    emulator: AdtEmulator,
    app_env: dict[str, str],
    azurite: Azurite,
    monkeypatch: pytest.MonkeyPatch,
    captured_logs: pytest.LogCaptureFixture,
) -> None:
    for job in ("job-1", "job-2"):
        emulator.add_job(job)
    with socket.socket() as silent, _ForbiddenStore() as forbidden:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections are taken, never answered
        port = silent.getsockname()[1] if store == "silent" else forbidden.port
        connection = azurite.connection_string.replace(
            f"BlobEndpoint=http://127.0.0.1:{azurite.blob_port}/", f"BlobEndpoint=http://127.0.0.1:{port}/"
        )
        monkeypatch.setenv("STORAGE_CONNECTION", connection)
        monkeypatch.setenv("ADT_JOBS_REQUESTS_PER_SECOND", "1")
        reset_service()
        first, second = invoke_queue("job-1"), invoke_queue("job-2")
    assert first.failure is None and second.failure is None
    assert first.result is not None and second.result is not None
    outages = [r for r in captured_logs.records if "pacing store unavailable" in r.getMessage()]
    assert len(outages) == 1
    if store == "silent":  # an outage, which passes
        assert outages[0].levelno == logging.WARNING
    else:  # a 403: a configuration error that names the missing role
        assert outages[0].levelno == logging.ERROR and "Storage Blob Data Owner" in outages[0].getMessage()
    # Every outcome record says the process paced alone, for an alert to count.
    paced = [getattr(r, "pacing", None) for r in captured_logs.records if r.getMessage().startswith("import cancel")]
    assert paced == ["fallback", "fallback"]
    assert message_count(azurite, FAILURES_QUEUE) == 0


def test_the_outcome_record_says_the_fleet_paced_it(
    emulator: AdtEmulator, app_env: dict[str, str], azurite: Azurite, monkeypatch, captured_logs
) -> None:
    emulator.add_job("job-1")
    monkeypatch.setenv("STORAGE_CONNECTION", azurite.connection_string)
    monkeypatch.setenv("ADT_JOBS_REQUESTS_PER_SECOND", "1")
    reset_service()
    assert invoke_queue("job-1").result is not None
    [record] = [r for r in captured_logs.records if r.getMessage().startswith("import cancel")]
    assert record.pacing == "shared" and "pacing=shared" in record.getMessage()


def test_pump_processes_under_throttling_defer_and_nothing_reaches_poison(azurite: Azurite) -> None:
    from devtools.fleet_drain import fleet_drain

    # Two host-like processes (6 invocations each) against an instance throttling at 5/s;
    # a 1 s budget per delivery lets only about five of the twelve take a turn at once.
    drain = fleet_drain(azurite, "shared", processes=2, messages=12, rate=5.0, deadline_seconds=1.0, max_seconds=120)
    assert (drain.results, drain.failures, drain.poison) == (12, 0, 0)
    assert drain.deferrals > 0  # the refused deliveries came back as deferred copies
    assert drain.store_transactions > 0 and drain.store_outages == 0
    assert 20 < drain.peak_rss_mb < 2048  # each process reports its own peak memory


def test_every_process_of_a_fleet_falls_back_when_the_store_refuses_and_logs_it_once(
    emulator: AdtEmulator, azurite: Azurite
) -> None:
    for job in ("job-1", "job-2", "job-3", "job-4"):
        emulator.add_job(job)
    with _ForbiddenStore() as forbidden:
        connection = azurite.connection_string.replace(
            f"BlobEndpoint=http://127.0.0.1:{azurite.blob_port}/", f"BlobEndpoint=http://127.0.0.1:{forbidden.port}/"
        )
        with fleet(
            2, {**settings(emulator, azurite, ADT_JOBS_REQUESTS_PER_SECOND="2"), "STORAGE_CONNECTION": connection}
        ) as (a, b):
            answers = [a.invoke("job-1"), b.invoke("job-2"), a.invoke("job-3"), b.invoke("job-4")]
            logs = [a.logs(), b.logs()]
    assert [json.loads(answer["result"])["id"] for answer in answers] == ["job-1", "job-2", "job-3", "job-4"]
    assert all(answer["failure"] is None and answer["raised"] is None for answer in answers)
    assert [log.count("pacing store unavailable") for log in logs] == [1, 1]  # once per process and outage
    assert "AuthorizationPermissionMismatch" not in "".join(logs)  # the SDK's message is not quoted
