"""The main job, locally, on embedded defaults: cancel a running import end to end.

Starts the ADT emulator and Azurite, seeds a running import job, enqueues its cancel
with the CLI (a separate process, as an operator would), runs the queue pump (the
host's stand-in) and prints the ImportJob read back from the results queue. Stops
everything it started, whatever happens.

    python -m devtools.demo [--job-id importjob1]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys

from cancel_job.contract import FAILURES_QUEUE, RESULTS_QUEUE, STORAGE_CONNECTION
from devtools.adt_emulator import AdtEmulator
from devtools.azurite import REPO_ROOT, Azurite, create_queues, decode_json, drain_queue


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--job-id", default="importjob1", help="id of the import job to seed and cancel")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)

    with AdtEmulator() as emulator, Azurite() as azurite:
        create_queues(azurite.connection_string)
        emulator.add_job(args.job_id, status="running")
        print(f"ADT emulator at {emulator.endpoint}; Azurite queues on port {azurite.port}")
        print(f"seeded import job {args.job_id!r} (status running)")

        env = {**os.environ, **emulator.environment(), STORAGE_CONNECTION: azurite.connection_string}
        os.environ.update(env)
        enqueue = subprocess.run(
            [sys.executable, "-m", "cancel_job", "enqueue", args.job_id],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        print(enqueue.stdout.strip() or enqueue.stderr.strip())
        if enqueue.returncode != 0:
            return enqueue.returncode

        from devtools.queue_pump import QueueFunction, QueuePump
        from function_app import app

        pump = QueuePump(azurite.connection_string, QueueFunction.from_app(app, "cancel_import_job_queue"))
        stats = pump.run_until_idle(idle_seconds=1.0, max_seconds=60)
        print(f"queue pump: {stats.completed} completed, {stats.failed_invocations} failed, {stats.poisoned} poisoned")

        # The pump writes a message's outputs before it completes it, so they are there now.
        results = [decode_json(m) for m in drain_queue(azurite.connection_string, RESULTS_QUEUE)]
        failures = [decode_json(m) for m in drain_queue(azurite.connection_string, FAILURES_QUEUE)]
        for job in results:
            print(f"\nImportJob from {RESULTS_QUEUE}:")
            print(json.dumps(job, indent=2))
        for record in failures:
            print(f"\nfailure record from {FAILURES_QUEUE}:")
            print(json.dumps(record, indent=2))
        print(f"\njob status in ADT now: {emulator.job_status(args.job_id)}")
        return 0 if results and not failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
