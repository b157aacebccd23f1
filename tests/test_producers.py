"""Every producer people use, through Azurite, the queue pump (the host under host.json's
``messageEncoding: none``) and the function: each message ends in exactly one result or
one failure record, and nothing in poison."""

from __future__ import annotations

import json

import pytest

from cancel_job.contract import FAILURES_QUEUE, POISON_QUEUE, RESULTS_QUEUE
from devtools.azurite import drain_queue
from devtools.queue_pump import QueueFunction, QueuePump
from devtools.soak import producers

pytestmark = pytest.mark.azurite


def producer(connection_string: str, kind: str):
    """send(text) as the producer ``kind`` puts it on the queue (the soak's producers)."""
    return producers(connection_string)[kind]


def run_pump(azurite) -> QueuePump:
    import function_app

    pump = QueuePump(
        azurite.connection_string,
        QueueFunction.from_app(function_app.app, "cancel_import_job_queue"),
        visibility_timeout_seconds=0,
    )
    pump.run_until_idle(idle_seconds=0.5, max_seconds=30)
    return pump


PRODUCERS = ["text-base64", "plain", "binary-base64"]
# Ids that are themselves valid base64 (they decode to bytes that are not UTF-8), one that
# is not, and one whose base64 has padding: each must stay the id it is.
IDS = ["job1", "0123456789abcdef0123456789abcdef", "bulk-import-job_7", "importjob1"]


@pytest.mark.parametrize("kind", PRODUCERS)
@pytest.mark.parametrize("shape", ["json", "bare"])
@pytest.mark.parametrize("job_id", IDS)
def test_every_producer_and_shape_ends_in_one_result(app_env, emulator, azurite, kind, shape, job_id) -> None:
    emulator.add_job(job_id)
    text = json.dumps({"jobId": job_id}) if shape == "json" else job_id
    producer(azurite.connection_string, kind)(text)
    pump = run_pump(azurite)
    results = drain_queue(azurite.connection_string, RESULTS_QUEUE)
    assert len(results) == 1 and json.loads(results[0])["id"] == job_id  # plain JSON out
    assert drain_queue(azurite.connection_string, FAILURES_QUEUE) == []
    assert drain_queue(azurite.connection_string, POISON_QUEUE) == []
    assert (pump.stats.completed, pump.stats.poisoned) == (1, 0)
    [call] = [r for r in emulator.requests if r.path.startswith("/jobs/")]
    assert call.path == f"/jobs/imports/{job_id}/cancel"


@pytest.mark.parametrize("kind", ["text-base64", "binary-base64"])
def test_the_documented_ambiguity_a_bare_id_whose_base64_is_an_id(app_env, emulator, azurite, kind) -> None:
    """base64("importjob123") is "aW1wb3J0am9iMTIz", itself a valid id: read as plain text
    (rule 3 before rule 4). One record says so, with the text as it arrived; JSON avoids it."""
    emulator.add_job("importjob123")
    producer(azurite.connection_string, kind)("importjob123")
    run_pump(azurite)
    [record] = [json.loads(r) for r in drain_queue(azurite.connection_string, FAILURES_QUEUE)]
    assert record["jobId"] == record["request"] == "aW1wb3J0am9iMTIz"
    assert record["error"]["code"] == "JobNotFound"
    assert emulator.state.cancels_applied == 0  # never the wrong job
    producer(azurite.connection_string, kind)(json.dumps({"jobId": "importjob123"}))
    run_pump(azurite)
    [result] = [json.loads(r) for r in drain_queue(azurite.connection_string, RESULTS_QUEUE)]
    assert result["id"] == "importjob123"


@pytest.mark.parametrize("kind", PRODUCERS)
def test_every_producer_gets_a_record_for_an_unusable_message(app_env, emulator, azurite, kind) -> None:
    producer(azurite.connection_string, kind)("bad id!")
    pump = run_pump(azurite)
    [record] = drain_queue(azurite.connection_string, FAILURES_QUEUE)
    failure = json.loads(record)  # plain JSON
    assert failure["error"]["code"] == "InvalidMessage" and failure["jobId"] is None
    assert drain_queue(azurite.connection_string, RESULTS_QUEUE) == []
    assert drain_queue(azurite.connection_string, POISON_QUEUE) == []
    assert pump.stats.poisoned == 0
    assert [r for r in emulator.requests if r.path.startswith("/jobs/")] == []


def test_a_json_message_with_an_invalid_id_keeps_the_id_in_its_record(app_env, emulator, azurite) -> None:
    producer(azurite.connection_string, "plain")(json.dumps({"jobId": "a/b"}))
    run_pump(azurite)
    [record] = [json.loads(r) for r in drain_queue(azurite.connection_string, FAILURES_QUEUE)]
    assert record["error"]["code"] == "InvalidJobId" and record["jobId"] == "a/b"
    assert record["request"] == '{"jobId": "a/b"}'  # the text as it was put on the queue
