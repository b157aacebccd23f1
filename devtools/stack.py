"""The whole local stack in one command, kept running until Ctrl-C.

    python -m devtools.stack          (or: make stack)

It starts the ADT emulator (answering and throttling as the real service does), Azurite
(in memory, no telemetry), the queue pump (the host's queue trigger), a local Entra
stand-in and the local HTTP host (the host's HTTP front end, behind App Service
authentication as deployed), creates the four queues, seeds running import jobs, and prints
the ``export`` lines that point the CLI and curl at it, ``FUNCTION_TOKEN`` among them (a
token of a caller on the allow-list). Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time

from cancel_job.contract import ALL_QUEUES, STORAGE_CONNECTION, Setting
from cancel_job.hostconfig import http_route_prefix
from cancel_job.runtime import reset_service
from devtools.adt_emulator import AdtEmulator
from devtools.azurite import REPO_ROOT, Azurite, create_queues
from devtools.easy_auth import local_easy_auth
from devtools.entra import LOCAL_TOKEN_LIFETIME_SECONDS, LocalEntra
from devtools.http_host import LocalHttpHost
from devtools.queue_pump import QueueFunction, QueuePump, quiet_azure_logging

SEEDED_JOBS = ("importjob1", "importjob2", "importjob3")


def exports(emulator: AdtEmulator, azurite: Azurite, host: LocalHttpHost, token: str) -> list[str]:
    values = {
        **emulator.environment(),
        STORAGE_CONNECTION: azurite.connection_string,
        "FUNCTION_URL": f"{host.base_url}/{http_route_prefix()}",
        "FUNCTION_TOKEN": token,
    }
    return [f"export {name}='{value}'" for name, value in values.items()]


def hints(python: str = sys.executable) -> list[str]:
    """Commands to try, as the README gives them; they work from any shell and folder once
    the export lines are pasted (the CLI runs from the repository, with this Python)."""
    cli = f"(cd '{REPO_ROOT}' && '{python}' -m cancel_job"
    return [
        'curl -sS -X POST -H "Authorization: Bearer $FUNCTION_TOKEN" "$FUNCTION_URL/jobs/imports/importjob1/cancel"',
        f"{cli} enqueue importjob2) && sleep 3 && {cli} results)",
        f"{cli} failures)",
    ]


def run(http_port: int, stop: threading.Event, throttle: bool = True, announce=print) -> None:
    with AdtEmulator() as emulator, Azurite() as azurite, LocalEntra() as entra:
        if not throttle:
            emulator.configure(throttle_rate=0)
        create_queues(azurite.connection_string, ALL_QUEUES)
        for job_id in SEEDED_JOBS:
            emulator.add_job(job_id)
        os.environ.update({**emulator.environment(), STORAGE_CONNECTION: azurite.connection_string})
        os.environ.setdefault(Setting.CANCEL_DEADLINE_SECONDS.value, "25")
        reset_service()
        import function_app  # only now: importing it checks the settings, which are set just above

        pump = QueuePump(azurite.connection_string, QueueFunction.from_app(function_app.app, "cancel_import_job_queue"))

        def pump_forever() -> None:
            while not stop.is_set():
                if not pump.run_once():
                    stop.wait(0.5)

        worker = threading.Thread(target=pump_forever, name="queue-pump", daemon=True)
        with LocalHttpHost(
            function_app.app, auth=local_easy_auth(entra), port=http_port, storage_connection=azurite.connection_string
        ) as host:
            worker.start()
            announce("# the local stack is up; in another shell:")
            token = entra.token(lifetime_seconds=LOCAL_TOKEN_LIFETIME_SECONDS)
            for line in exports(emulator, azurite, host, token):
                announce(line)
            announce(f"# seeded running jobs: {', '.join(SEEDED_JOBS)}; then try:")
            for hint in hints():
                announce(f"#   {hint}")
            throttling = (
                "the emulator throttles as ADT does (1 request/s, then 429 with Retry-After 5-14 s); "
                "--no-throttle turns that off"
                if throttle
                else "the emulator does not throttle"
            )
            announce(f"# {throttling}")
            announce("# Ctrl-C stops everything")
            announce("ready")
            while not stop.is_set():
                stop.wait(0.5)
            worker.join(timeout=10)
        reset_service()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--http-port", type=int, default=7071, help="port of the HTTP host (default 7071, as func start; 0: a free one)"
    )
    parser.add_argument(
        "--no-throttle",
        action="store_true",
        help="turn the emulator's rate limit off (it throttles at 1 request/s, as ADT does)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    quiet_azure_logging()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    started = time.monotonic()
    run(args.http_port, stop, throttle=not args.no_throttle, announce=lambda line: print(line, flush=True))
    print(f"# stopped after {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
