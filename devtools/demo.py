"""The main job, locally, on embedded defaults: cancel a running import end to end.

Starts the ADT emulator and Azurite, seeds a running import job, enqueues its cancel
with the CLI (a separate process, as an operator would) asking the function to follow the
job to a final status, runs the queue pump (the host's stand-in) until the ImportJob
reaches ``import-cancel-results``, and prints it with the time it took. Stops everything
it started, whatever happens.

    python -m devtools.demo [--job-id importjob1]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time

from azure.storage.queue import QueueClient

from cancel_job.contract import FAILURES_QUEUE, RESULTS_QUEUE, STORAGE_CONNECTION, Setting
from devtools.adt_emulator import AdtEmulator
from devtools.azurite import REPO_ROOT, Azurite, create_queues, decode_json, drain_queue

# The demo's follow-up checks come every second (deployed default: 30 s), so it ends
# as soon as the emulator's job is cancelled, about 2 s after ADT accepts the cancel.
DEMO_FOLLOW_THROUGH_INTERVAL_SECONDS = "1"
DEMO_DEADLINE_SECONDS = 60.0
ACCEPTED_WHILE_RUNNING = (
    "ADT answers an accepted cancel while the job is still 'running' and stops it seconds later, "
    "so the function follows the job to a final status before it writes the result."
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--job-id", default="importjob1", help="id of the import job to seed and cancel")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    with AdtEmulator() as emulator, Azurite() as azurite:
        create_queues(azurite.connection_string)
        emulator.add_job(args.job_id, status="running")
        print(f"ADT emulator at {emulator.endpoint}; Azurite queues on port {azurite.port}")
        print(f"seeded import job {args.job_id!r} (status running)")

        env = {
            **os.environ,
            **emulator.environment(),
            STORAGE_CONNECTION: azurite.connection_string,
            Setting.FOLLOW_THROUGH_INTERVAL_SECONDS.value: DEMO_FOLLOW_THROUGH_INTERVAL_SECONDS,
        }
        os.environ.update(env)
        started = time.monotonic()
        enqueue = subprocess.run(
            [sys.executable, "-m", "cancel_job", "enqueue", args.job_id, "--wait-for-completion"],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        print(enqueue.stdout.strip() or enqueue.stderr.strip())
        if enqueue.returncode != 0:
            return enqueue.returncode
        print(ACCEPTED_WHILE_RUNNING)

        results, failures = _pump_until_an_outcome(azurite.connection_string, emulator, args.job_id, started)
        for job in results:
            print(f"\nImportJob from {RESULTS_QUEUE}:")
            print(json.dumps(job, indent=2))
        for record in failures:
            print(f"\nfailure record from {FAILURES_QUEUE}:")
            print(json.dumps(record, indent=2))
        final = results[-1].get("status") if results else None
        if final == "cancelled" and not failures:
            print(f"\nimport job {args.job_id!r} cancelled, {time.monotonic() - started:.1f} s after the request")
            return 0
        print(f"\nimport job {args.job_id!r} did not end cancelled (ADT says {emulator.job_status(args.job_id)})")
        return 1


def _pump_until_an_outcome(
    connection_string: str, emulator: AdtEmulator, job_id: str, started: float
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Run the queue function (the host's stand-in) until a result or a failure record is
    written, printing each status the job passes through in ADT on the way."""
    from devtools.queue_pump import QueueFunction, QueuePump
    from function_app import app

    pump = QueuePump(connection_string, QueueFunction.from_app(app, "cancel_import_job_queue"))
    outcomes = [QueueClient.from_connection_string(connection_string, name) for name in (RESULTS_QUEUE, FAILURES_QUEUE)]
    seen = ""
    deadline = started + DEMO_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        handled = pump.run_once()
        status = emulator.job_status(job_id) or ""
        if status != seen:
            print(f"  {time.monotonic() - started:5.1f} s  job status in ADT: {status}")
            seen = status
        if any(queue.peek_messages(max_messages=1) for queue in outcomes):
            break
        if not handled:
            time.sleep(0.1)  # a follow-up check is invisible until its time comes
    for queue in outcomes:
        queue.close()
    return (
        [decode_json(m) for m in drain_queue(connection_string, RESULTS_QUEUE)],
        [decode_json(m) for m in drain_queue(connection_string, FAILURES_QUEUE)],
    )


if __name__ == "__main__":
    raise SystemExit(main())
