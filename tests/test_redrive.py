"""The ops CLI's redrive (cancel_job/cli/redrive.py) against Azurite: send first, then delete."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys

import pytest
from azure.storage.queue import QueueClient, QueueServiceClient

from cancel_job.cli import main
from cancel_job.cli.redrive import fresh_request
from cancel_job.contract import FAILURES_QUEUE, POISON_QUEUE, REQUESTS_QUEUE
from devtools.azurite import REPO_ROOT, Azurite, create_queues

pytestmark = pytest.mark.azurite

DEFERRED = json.dumps(
    {
        "jobId": "job-d",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "deferrals": 9,
        "notAfter": "2026-12-01T00:00:00Z",
        "turn": "2026-11-30T23:59:30Z",
    }
)


def queue(azurite: Azurite, name: str) -> QueueClient:
    return QueueClient.from_connection_string(azurite.connection_string, name)


def visible(azurite: Azurite, name: str) -> list[str]:
    """The contents of the visible messages, left on the queue (a peek)."""
    return [m.content for m in queue(azurite, name).peek_messages(max_messages=32)]


def held(azurite: Azurite, name: str) -> int:
    """Every message on the queue, hidden ones too."""
    return queue(azurite, name).get_queue_properties().approximate_message_count


def record(job_id: str, code: str, request: str) -> str:
    return json.dumps(
        {
            "jobId": job_id,
            "error": {"code": code, "message": "…"},
            "httpStatus": 429,
            "dequeueCount": 1,
            "request": request,
            "failedDateTime": "2026-12-07T03:00:00Z",
        }
    )


@pytest.fixture
def storage(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> Azurite:
    monkeypatch.setenv("STORAGE_CONNECTION", azurite.connection_string)
    return azurite


POISONED = ["job-a", '{"jobId": "job-b"}', base64.b64encode(b'{"jobId": "job-c"}').decode()]


def test_redrive_poison_moves_every_message_unchanged(storage: Azurite, capsys: pytest.CaptureFixture) -> None:
    for body in POISONED:
        queue(storage, POISON_QUEUE).send_message(body)
    assert main(["redrive", "poison", "--json"]) == 0
    moved = json.loads(capsys.readouterr().out)
    assert [(row["jobId"], row["status"]) for row in moved] == [
        ("job-a", "moved"),
        ("job-b", "moved"),
        ("job-c", "moved"),
    ]
    assert visible(storage, REQUESTS_QUEUE) == POISONED
    assert held(storage, POISON_QUEUE) == 0


def test_a_dry_run_moves_nothing_and_leaves_everything_visible(storage: Azurite, capsys: pytest.CaptureFixture) -> None:
    for body in POISONED:
        queue(storage, POISON_QUEUE).send_message(body)
    assert main(["redrive", "poison", "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("would move") == 3 and "would move 3 of 3" in captured.err
    assert visible(storage, POISON_QUEUE) == POISONED  # released at once, not hidden for minutes
    assert held(storage, REQUESTS_QUEUE) == 0


def test_max_caps_how_many_move(storage: Azurite, capsys: pytest.CaptureFixture) -> None:
    for body in POISONED:
        queue(storage, POISON_QUEUE).send_message(body)
    assert main(["redrive", "poison", "--max", "2", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2
    assert visible(storage, REQUESTS_QUEUE) == POISONED[:2]
    assert visible(storage, POISON_QUEUE) == POISONED[2:]


def test_redrive_failures_resends_the_recorded_requests_of_the_codes_asked_for(
    storage: Azurite, capsys: pytest.CaptureFixture
) -> None:
    failures = queue(storage, FAILURES_QUEUE)
    failures.send_message(record("job-d", "TooManyRequests", DEFERRED))
    failures.send_message(record("job-e", "UpstreamUnavailable", "job-e"))
    failures.send_message(record("job-f", "JobNotFound", "job-f"))
    assert main(["redrive", "failures", "--code", "TooManyRequests", "--code", "UpstreamUnavailable", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(row["jobId"], row["code"], row["status"]) for row in rows] == [
        ("job-d", "TooManyRequests", "moved"),
        ("job-e", "UpstreamUnavailable", "moved"),
    ]
    sent = visible(storage, REQUESTS_QUEUE)
    assert json.loads(sent[0]) == {
        "jobId": "job-d",  # a new request: the deferral marks are gone
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    }
    assert sent[1] == "job-e"
    assert [json.loads(r)["jobId"] for r in visible(storage, FAILURES_QUEUE)] == ["job-f"]  # not asked for


def test_a_record_without_a_whole_request_stays(storage: Azurite, capsys: pytest.CaptureFixture) -> None:
    queue(storage, FAILURES_QUEUE).send_message(record("job-g", "TooManyRequests", "x" * 4096 + "...[truncated]"))
    assert main(["redrive", "failures", "--code", "TooManyRequests"]) == 1
    assert "only the start of the request" in capsys.readouterr().out
    assert held(storage, REQUESTS_QUEUE) == 0
    assert len(visible(storage, FAILURES_QUEUE)) == 1


def test_a_message_that_cannot_be_sent_stays_where_it_was(storage: Azurite, capsys: pytest.CaptureFixture) -> None:
    queue(storage, POISON_QUEUE).send_message("job-a")
    service = QueueServiceClient.from_connection_string(storage.connection_string)
    service.delete_queue(REQUESTS_QUEUE)  # every send now fails
    try:
        assert main(["redrive", "poison", "--retries", "0"]) == 1
        assert "could not send (ResourceNotFoundError)" in capsys.readouterr().out
        assert visible(storage, POISON_QUEUE) == ["job-a"]
    finally:
        create_queues(storage.connection_string)


KILLED_AT_DELETE = """
import os, signal, sys
from azure.storage.queue import QueueClient
QueueClient.delete_message = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)  # dies between send and delete
from cancel_job.cli import main
sys.exit(main(["redrive", "poison"]))
"""


def test_a_kill_between_send_and_delete_leaves_the_message_in_both_places_never_none(storage: Azurite) -> None:
    queue(storage, POISON_QUEUE).send_message("job-a")
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_AT_DELETE],
        cwd=REPO_ROOT,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
    )
    assert killed.returncode == -signal.SIGKILL
    assert visible(storage, REQUESTS_QUEUE) == ["job-a"]  # sent
    assert held(storage, POISON_QUEUE) == 1  # and still there, hidden until its timeout ends: twice, never zero


@pytest.mark.parametrize(
    "argv, reason",
    [
        (["redrive", "poison", "--max", "0"], "--max must be a whole number from 1"),
        (["redrive", "failures"], "needs --code"),
        (["redrive", "poison", "--code", "TooManyRequests"], "--code selects failure records"),
    ],
)
def test_bad_arguments_are_usage_errors_before_any_call(
    argv: list[str], reason: str, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "STORAGE_CONNECTION",
        "DefaultEndpointsProtocol=http;AccountName=none;AccountKey=bm9uZQ==;QueueEndpoint=http://127.0.0.1:9/none;",
    )  # nothing listens there
    assert main(argv) == 2
    assert reason in capsys.readouterr().err


def test_fresh_request_drops_only_the_apps_own_marks() -> None:
    follow_up = json.dumps({"jobId": "j", "waitForCompletion": True, "followUp": {"checks": 3, "deadline": "x"}})
    assert json.loads(fresh_request(follow_up)) == {"jobId": "j", "waitForCompletion": True}
    encoded = base64.b64encode(DEFERRED.encode()).decode()
    assert json.loads(fresh_request(encoded))["jobId"] == "job-d" and "deferrals" not in fresh_request(encoded)
    assert fresh_request("job-1") == "job-1"
    assert fresh_request("{not json") == "{not json"
