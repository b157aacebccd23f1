"""Through Azurite: enqueue CLI -> queue pump (the host's stand-in) -> function -> queues."""

from __future__ import annotations

import pytest
from azure.storage.queue import QueueClient

from cancel_job.cli import main as cli
from cancel_job.contract import FAILURES_QUEUE, POISON_QUEUE, REQUESTS_QUEUE, RESULTS_QUEUE
from cancel_job.hostconfig import load_queue_host_config
from devtools.adt_emulator import Fault
from devtools.azurite import decode_json, drain_queue
from devtools.queue_pump import QueueFunction, QueuePump
from tests.helpers import VALID_TRACEPARENT
from tests.spec_schema import assert_valid

pytestmark = pytest.mark.azurite


def drain(connection_string: str, queue: str, *, encoded: bool = True) -> list:
    contents = drain_queue(connection_string, queue)
    return [decode_json(c) for c in contents] if encoded else contents


def pump(azurite) -> QueuePump:
    import function_app

    return QueuePump(
        azurite.connection_string,
        QueueFunction.from_app(function_app.app, "cancel_import_job_queue"),
        visibility_timeout_seconds=0,
    )


def test_enqueue_pump_function_results(app_env, emulator, azurite) -> None:
    emulator.add_job("importjob1")
    assert (
        cli(
            [
                "enqueue",
                "importjob1",
                "--traceparent",
                VALID_TRACEPARENT,
                "--connection-string",
                azurite.connection_string,
            ]
        )
        == 0
    )
    stats = pump(azurite).run_until_idle(idle_seconds=0.5, max_seconds=30)
    assert stats.completed == 1 and stats.poisoned == 0
    [job] = drain(azurite.connection_string, RESULTS_QUEUE)
    assert_valid("ImportJob", job)
    assert job["id"] == "importjob1" and job["status"] == "running"  # exactly as ADT answered the cancel
    assert drain(azurite.connection_string, FAILURES_QUEUE) == []
    [call] = [r for r in emulator.requests if r.path.startswith("/jobs/")]
    assert call.headers["traceparent"].split("-")[1] == VALID_TRACEPARENT.split("-")[1]


def test_permanent_failure_goes_to_failures_once(app_env, emulator, azurite) -> None:
    assert cli(["enqueue", "nosuchjob", "--connection-string", azurite.connection_string]) == 0
    pump(azurite).run_until_idle(idle_seconds=0.5, max_seconds=30)
    [record] = drain(azurite.connection_string, FAILURES_QUEUE)
    assert record["error"]["code"] == "JobNotFound" and record["dequeueCount"] == 1
    assert drain(azurite.connection_string, RESULTS_QUEUE) == []
    assert drain(azurite.connection_string, POISON_QUEUE, encoded=False) == []


def test_under_base64_the_host_poisons_what_does_not_decode(app_env, emulator, azurite) -> None:
    """Why host.json says none: under the host's default, a plain-text message goes to
    poison without the function ever seeing it (the pump does what the host does)."""
    raw = QueueClient.from_connection_string(azurite.connection_string, REQUESTS_QUEUE)
    raw.send_message("importjob1!")  # plain text that is not base64
    base64_host = load_queue_host_config()._replace(message_encoding="base64")
    import function_app

    function = QueueFunction.from_app(function_app.app, "cancel_import_job_queue")
    stats = QueuePump(azurite.connection_string, function, base64_host, visibility_timeout_seconds=0).run_until_idle(
        idle_seconds=0.5, max_seconds=30
    )
    assert stats.poisoned == 1 and stats.completed == 0
    assert drain(azurite.connection_string, POISON_QUEUE, encoded=False) == ["importjob1!"]
    assert drain(azurite.connection_string, FAILURES_QUEUE) == []
    assert [r for r in emulator.requests if r.path.startswith("/jobs/")] == []


def test_under_none_an_unusable_message_is_recorded_never_poisoned(app_env, emulator, azurite) -> None:
    raw = QueueClient.from_connection_string(azurite.connection_string, REQUESTS_QUEUE)
    raw.send_message("importjob1!")
    stats = pump(azurite).run_until_idle(idle_seconds=0.5, max_seconds=30)
    assert (stats.completed, stats.poisoned, stats.failed_invocations) == (1, 0, 0)
    [record] = drain(azurite.connection_string, FAILURES_QUEUE)
    assert record["error"]["code"] == "InvalidMessage" and record["request"] == "importjob1!"
    assert drain(azurite.connection_string, POISON_QUEUE, encoded=False) == []
    assert [r for r in emulator.requests if r.path.startswith("/jobs/")] == []


def test_transient_failures_are_redelivered_then_succeed(app_env, emulator, azurite, monkeypatch) -> None:
    monkeypatch.setenv("CANCEL_MAX_ATTEMPTS", "1")
    emulator.add_job("job1")
    emulator.inject(Fault(op="cancel", status=503, times=2))
    assert cli(["enqueue", "job1", "--connection-string", azurite.connection_string]) == 0
    stats = pump(azurite).run_until_idle(idle_seconds=0.5, max_seconds=30)
    assert (stats.failed_invocations, stats.completed, stats.poisoned) == (2, 1, 0)
    [job] = drain(azurite.connection_string, RESULTS_QUEUE)
    assert job["id"] == "job1"


def test_last_delivery_records_instead_of_poisoning(app_env, emulator, azurite, monkeypatch) -> None:
    monkeypatch.setenv("CANCEL_MAX_ATTEMPTS", "1")
    emulator.add_job("job1")
    emulator.inject(Fault(op="cancel", status=503, times=100))
    assert cli(["enqueue", "job1", "--connection-string", azurite.connection_string]) == 0
    stats = pump(azurite).run_until_idle(idle_seconds=0.5, max_seconds=30)
    max_dequeue = load_queue_host_config().max_dequeue_count
    assert (stats.failed_invocations, stats.completed, stats.poisoned) == (max_dequeue - 1, 1, 0)
    [record] = drain(azurite.connection_string, FAILURES_QUEUE)
    assert record["dequeueCount"] == max_dequeue
    assert record["httpStatus"] == 503
    assert drain(azurite.connection_string, POISON_QUEUE, encoded=False) == []
