"""What happens when a process dies at each step of a queue delivery (docs/rules.md, "When a
process dies"). A real queue-pump process is killed with SIGKILL at the step: by a patch
that kills it right there, or from outside while it waits at the pacing gate. Then another
pump process drains the queue, as the platform's next instance would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from azure.storage.blob import ContainerClient
from azure.storage.queue import QueueClient

from cancel_job.contract import FAILURES_QUEUE, PACING_CONTAINER, POISON_QUEUE, REQUESTS_QUEUE, RESULTS_QUEUE
from cancel_job.pacing import record_name
from cancel_job.pacing_store import PaceRecord
from devtools.adt_emulator import AdtEmulator
from devtools.azurite import REPO_ROOT, Azurite, drain_queue
from tests.helpers import wait_for

pytestmark = pytest.mark.azurite

PROCESSING_VISIBILITY = 2  # a killed delivery comes back this soon, as after the host's last lease renewal

# Lines a victim runs before the pump: each makes the process die at one step.
KILL = "import os, signal\ndie = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)\n"
BEFORE_ADT = KILL + "from cancel_job.adt import AdtClient\nAdtClient.cancel = die\n"
BEFORE_OUTPUTS = (
    KILL
    + """from azure.storage.queue import QueueClient
send = QueueClient.send_message
QueueClient.send_message = lambda self, *a, **k: die() if self.queue_name == "import-cancel-results" \\
    else send(self, *a, **k)
"""
)
BEFORE_DELETE = KILL + "from azure.storage.queue import QueueClient\nQueueClient.delete_message = die\n"
AFTER_DEFERRING = (
    KILL
    + """import cancel_job.runtime as runtime
send_later = runtime.send_later
def sent_then_die(body, delay):
    send_later(body, delay)
    die()
runtime.send_later = sent_then_die
"""
)


def pump(
    env: dict[str, str], prelude: str = "", *, until_idle: float | None = None, journal: Path | None = None
) -> subprocess.Popen[bytes]:
    """A queue-pump process: until idle, or (a victim) until stopped."""
    mode = ["--until-idle", str(until_idle)] if until_idle is not None else ["--until-stopped", "--workers", "1"]
    argv = [*mode, "--processing-visibility", str(PROCESSING_VISIBILITY), "--visibility-timeout", "1"]
    if journal is not None:
        argv += ["--journal", str(journal)]
    script = prelude + f"from devtools.queue_pump import main\nraise SystemExit(main({argv!r}))\n"
    return subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


@pytest.fixture
def env(emulator: AdtEmulator, azurite: Azurite) -> dict[str, str]:
    return {
        **os.environ,
        **emulator.environment(),
        "PYTHONPATH": str(REPO_ROOT),
        "STORAGE_CONNECTION": azurite.connection_string,
        "ADT_ALLOWED_ENDPOINTS": "",
        "AZURE_CLIENT_ID": "",
        "ADT_JOBS_REQUESTS_PER_SECOND": "0",
        "CANCEL_DEADLINE_SECONDS": "10",
    }


def cancels(emulator: AdtEmulator, job_id: str) -> int:
    return sum(1 for r in emulator.requests if r.method == "POST" and f"/jobs/imports/{job_id}/" in r.path)


def outcomes(azurite: Azurite) -> tuple[list[str], int, int]:
    """(job ids of the results, failure records, poison messages), taken off the queues."""
    results = [json.loads(body)["id"] for body in drain_queue(azurite.connection_string, RESULTS_QUEUE)]
    return (
        results,
        len(drain_queue(azurite.connection_string, FAILURES_QUEUE)),
        len(drain_queue(azurite.connection_string, POISON_QUEUE)),
    )


def enqueue(azurite: Azurite, job_id: str) -> None:
    QueueClient.from_connection_string(azurite.connection_string, REQUESTS_QUEUE).send_message(
        json.dumps({"jobId": job_id})
    )


def killed(victim: subprocess.Popen[bytes], timeout: float = 60) -> None:
    assert victim.wait(timeout=timeout) == -signal.SIGKILL


def drain(env: dict[str, str], idle: float = 5) -> None:
    assert pump(env, until_idle=idle).wait(timeout=120) == 0


def pacing_blob(azurite: Azurite, emulator: AdtEmulator):
    from cancel_job.endpoints import parse_endpoint

    container = ContainerClient.from_connection_string(azurite.connection_string, PACING_CONTAINER)
    if not container.exists():
        container.create_container()
    return container.get_blob_client(record_name(parse_endpoint(emulator.endpoint)) + ".json")


def reserve_turns_until(azurite: Azurite, emulator: AdtEmulator, seconds_from_now: float) -> float:
    """Another process holds the instance's turns until then (the shared pacing record)."""
    until = time.time() + seconds_from_now
    pacing_blob(azurite, emulator).upload_blob(PaceRecord(until).to_json(), overwrite=True)
    return until


def test_killed_before_the_adt_call_the_message_comes_back_and_is_cancelled_once(
    env: dict[str, str], emulator: AdtEmulator, azurite: Azurite
) -> None:
    emulator.add_job("job-1")
    enqueue(azurite, "job-1")
    killed(pump(env, BEFORE_ADT))
    assert cancels(emulator, "job-1") == 0
    drain(env)
    assert outcomes(azurite) == (["job-1"], 0, 0)
    assert cancels(emulator, "job-1") == 1


def test_killed_after_adt_accepted_before_the_outputs_the_redelivery_writes_the_one_result(
    env: dict[str, str], emulator: AdtEmulator, azurite: Azurite
) -> None:
    emulator.add_job("job-1")
    enqueue(azurite, "job-1")
    killed(pump(env, BEFORE_OUTPUTS))
    assert cancels(emulator, "job-1") == 1  # ADT took the cancel; nobody has said so yet
    drain(env)
    assert outcomes(azurite) == (["job-1"], 0, 0)  # repeating the cancel is a success: no job left without a result
    assert cancels(emulator, "job-1") == 2


def test_killed_after_the_outputs_before_the_delete_the_job_gets_a_second_result(
    env: dict[str, str], emulator: AdtEmulator, azurite: Azurite
) -> None:
    emulator.add_job("job-1")
    enqueue(azurite, "job-1")
    killed(pump(env, BEFORE_DELETE))
    drain(env)
    results, failures, poison = outcomes(azurite)
    assert results == ["job-1", "job-1"]  # the one duplicate allowed: the same job, the same answer
    assert (failures, poison) == (0, 0)


def test_killed_while_waiting_at_the_gate_the_turn_is_left_empty_and_the_message_comes_back(
    env: dict[str, str], emulator: AdtEmulator, azurite: Azurite, tmp_path: Path
) -> None:
    emulator.add_job("job-1")
    held_until = reserve_turns_until(azurite, emulator, 4.0)
    enqueue(azurite, "job-1")
    journal = tmp_path / "victim.journal"
    victim = pump({**env, "ADT_JOBS_REQUESTS_PER_SECOND": "1"}, journal=journal)
    blob = pacing_blob(azurite, emulator)
    # Its turn is reserved (the record moved past the held turns): it sleeps at the gate.
    wait_for(lambda: PaceRecord.from_json(blob.download_blob().readall()).next_turn > held_until, timeout=60)
    assert journal.read_text().startswith("R ")  # the delivery in hand
    victim.send_signal(signal.SIGKILL)
    killed(victim)
    assert cancels(emulator, "job-1") == 0
    drain({**env, "ADT_JOBS_REQUESTS_PER_SECOND": "1"}, idle=8)
    assert outcomes(azurite) == (["job-1"], 0, 0)
    assert cancels(emulator, "job-1") == 1


def test_killed_after_sending_a_deferred_copy_both_run_and_the_job_may_get_two_results(
    env: dict[str, str], emulator: AdtEmulator, azurite: Azurite
) -> None:
    emulator.add_job("job-1")
    reserve_turns_until(azurite, emulator, 3.0)  # past the 1 s budget: the delivery is deferred
    enqueue(azurite, "job-1")
    paced = {**env, "ADT_JOBS_REQUESTS_PER_SECOND": "1", "CANCEL_DEADLINE_SECONDS": "1"}
    killed(pump(paced, AFTER_DEFERRING))
    requests = QueueClient.from_connection_string(azurite.connection_string, REQUESTS_QUEUE)
    assert requests.get_queue_properties().approximate_message_count == 2  # the original and its copy
    drain({**paced, "CANCEL_DEADLINE_SECONDS": "10"}, idle=8)
    results, failures, poison = outcomes(azurite)
    assert results == ["job-1", "job-1"]  # neither is lost; the second is the allowed duplicate
    assert (failures, poison) == (0, 0)
