"""A fleet against one ADT instance: K queue-pump processes drain queued cancels.

Each process is ``python -m devtools.queue_pump --workers W --until-stopped``: the host's
concurrency (``batchSize`` + ``newBatchThreshold`` invocations) in one process, as one
Flex Consumption instance runs it. All share one Azurite (queues and the pacing blobs) and
one emulator process that throttles like ADT, scaled to ``rate`` requests/s with
``Retry-After`` scaled the same way (5-14 s at 1/s). The figures come only from what the
emulator, Azurite and the pumps saw.

    python -m devtools.fleet_drain --scope shared
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from azure.storage.queue import QueueClient

from cancel_job.contract import ALL_QUEUES, FAILURES_QUEUE, POISON_QUEUE, REQUESTS_QUEUE, RESULTS_QUEUE, ErrorCode
from cancel_job.hostconfig import load_queue_host_config
from devtools.azurite import REPO_ROOT, Azurite, create_queues, drain_queue
from devtools.emulator_process import EmulatorProcess
from devtools.queue_pump import fleet_process_command

# ADT's throttling range at its 1 request/s, in seconds (assumptions.THROTTLE_RETRY_AFTER_SECONDS).
RETRY_AFTER_AT_ONE_PER_SECOND = (5.0, 14.0)
# Sending takes about 1/180 s a message here (the SDK's own work, on 2 cores), and more while
# the pumps poll: the messages appear at once ENQUEUE_SECONDS + a 60th of a second each later.
ENQUEUE_SECONDS = 4.0
ENQUEUE_SECONDS_PER_MESSAGE = 1 / 60
ENQUEUE_THREADS = 4
# How often the run counts the outcomes written: two calls to Azurite's queue service each
# time, which the pumps share (at 20 a second it was a third of its calls in a backlog).
ENDED_POLL_SECONDS = 0.25


@dataclass
class FleetDrain:
    scope: str
    processes: int
    messages: int
    rate: float
    seconds: float  # from the first message enqueued to the last outcome written
    calls: int  # ADT cancel/get calls the emulator answered
    throttled: int  # of those, answered 429
    results: int
    failures: int
    throttling_failures: int  # failure records with TooManyRequests
    poison: int
    deliveries: int  # invocations the pumps completed (deferred copies count again)
    store_transactions: int  # the pacing store's, over all processes
    store_outages: int  # times a process found the store unavailable and paced itself
    peak_rss_mb: float  # the largest peak resident memory of one pump process

    @property
    def complete(self) -> bool:
        """Every message ended in a result or a record, and ADT was called for them. A
        request may end twice (docs/contracts.md lists how): :attr:`ended_twice` counts it."""
        return self.results + self.failures >= self.messages and self.calls >= self.messages

    @property
    def ended_twice(self) -> int:
        return max(0, self.results + self.failures - self.messages)

    @property
    def ratio(self) -> float:
        """Drain time against the time the rate limit itself needs."""
        return self.seconds / (self.messages / self.rate)

    @property
    def throttled_share(self) -> float:
        return self.throttled / self.calls if self.calls else 0.0

    @property
    def transactions_per_cancel(self) -> float:
        return self.store_transactions / self.messages

    @property
    def deferrals(self) -> int:
        return self.deliveries - self.results - self.failures


# libfaketime (Debian's faketime), to skew one fleet process's wall clock; None when missing.
FAKETIME_LIBRARY = next(iter(sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))), None)


def skewed_clock(seconds: float) -> dict[str, str]:
    """The settings that put one process's wall clock ``seconds`` off (libfaketime). Its
    monotonic clock moves by the same constant, which changes no interval the process
    measures: with FAKETIME_DONT_FAKE_MONOTONIC, libfaketime 0.9.10 makes every
    ``time.sleep`` of Python 3.11 fail with EINVAL (it sleeps with clock_nanosleep on the
    monotonic clock)."""
    if FAKETIME_LIBRARY is None:
        raise RuntimeError("libfaketime is not installed (apt-get install faketime)")
    return {"LD_PRELOAD": str(FAKETIME_LIBRARY), "FAKETIME": f"{seconds:+.0f}"}


def _count(connection: str, queue: str) -> int:
    return QueueClient.from_connection_string(connection, queue).get_queue_properties().approximate_message_count


def ended(connection: str) -> int:
    """Cancels that ended: a result or a failure record each."""
    return _count(connection, RESULTS_QUEUE) + _count(connection, FAILURES_QUEUE)


def clear_queues(connection: str) -> None:
    """What an earlier run left must not count as this run's."""
    for queue in ALL_QUEUES:
        QueueClient.from_connection_string(connection, queue).clear_messages()


def _start_pumps(
    count: int, workers: int, env: dict[str, str], visibility: float, process_env: Sequence[Mapping[str, str]] = ()
) -> list[subprocess.Popen[str]]:
    """``process_env``: more settings for the first processes, one mapping each (a skewed clock)."""
    pumps = [
        subprocess.Popen(
            fleet_process_command(workers, visibility),
            cwd=REPO_ROOT,
            env={**env, **(process_env[k] if k < len(process_env) else {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for k in range(count)
    ]
    for pump in pumps:
        assert pump.stdout is not None
        line = pump.stdout.readline()
        if json.loads(line or "{}") != {"ready": True}:
            raise RuntimeError("a pump process did not start")
    return pumps


def _enqueue_at_once(connection: str, ids: Sequence[str]) -> float:
    """Put one cancel per id on the requests queue, all visible at once, ENQUEUE_SECONDS
    (and a share per message) after the first send, so that the time the sends take is not
    counted as the fleet's; returns that moment (``perf_counter``), once it has come."""
    requests_queue = QueueClient.from_connection_string(connection, REQUESTS_QUEUE)
    allowed = ENQUEUE_SECONDS + ENQUEUE_SECONDS_PER_MESSAGE * len(ids)
    started = time.perf_counter() + allowed

    def send(job_id: str) -> None:
        visible_in = max(1, math.ceil(started - time.perf_counter()))
        requests_queue.send_message(json.dumps({"jobId": job_id}), visibility_timeout=visible_in)

    with ThreadPoolExecutor(ENQUEUE_THREADS) as senders:
        list(senders.map(send, ids))
    if time.perf_counter() > started - 0.5:
        raise RuntimeError(f"enqueuing {len(ids)} messages took longer than {allowed:.0f} s")
    time.sleep(max(0.0, started - time.perf_counter()))
    return started


def _stop_pumps(pumps: list[subprocess.Popen[str]]) -> list[dict[str, int]]:
    for pump in pumps:
        pump.send_signal(signal.SIGTERM)
    stats = []
    for pump in pumps:
        out, _ = pump.communicate(timeout=60)
        stats.append(json.loads(out.strip().splitlines()[-1]))
    return stats


def fleet_drain(
    azurite: Azurite,
    scope: str,
    *,
    processes: int = 8,
    messages: int = 120,
    rate: float = 4.0,
    deadline_seconds: float | None = None,
    max_seconds: float = 300.0,
    prepare: Callable[[EmulatorProcess], None] | None = None,
    process_env: Sequence[Mapping[str, str]] = (),
) -> FleetDrain:
    """Drain ``messages`` cancels for one instance through ``processes`` pump processes.

    ``scope`` is ADT_PACING_SCOPE (shared: one gate for the fleet; process: one each).
    ``deadline_seconds`` overrides CANCEL_DEADLINE_SECONDS (tests shorten it to force
    deferrals). ``prepare`` runs once the emulator is up, before the pumps start (a test's
    faults, or a pacing record it plants). ``process_env``: settings of the first processes
    of their own (a test skews one process's clock with libfaketime)."""
    host = load_queue_host_config()
    connection = azurite.connection_string
    create_queues(connection)
    clear_queues(connection)
    low, high = (seconds / rate for seconds in RETRY_AFTER_AT_ONE_PER_SECOND)
    with EmulatorProcess(throttle_rate=rate) as emulator:
        emulator.control("config", {"throttle_retry_after": [low, high]})
        env = {
            **os.environ,
            **emulator.environment,
            "PYTHONPATH": str(REPO_ROOT),
            "STORAGE_CONNECTION": connection,
            "ADT_JOBS_REQUESTS_PER_SECOND": str(rate),
            "ADT_PACING_SCOPE": scope,
        }
        if deadline_seconds is not None:
            env["CANCEL_DEADLINE_SECONDS"] = str(deadline_seconds)
        ids = emulator.seed(f"fleet-{scope}-", messages)
        if prepare is not None:
            prepare(emulator)
        # A failed delivery comes back after host.json's visibilityTimeout, scaled like the rate.
        pumps = _start_pumps(
            processes, host.concurrency, env, max(1.0, host.visibility_timeout_seconds / rate), process_env
        )
        try:
            started = _enqueue_at_once(connection, ids)
            while ended(connection) < messages:
                if time.perf_counter() - started > max_seconds:
                    break
                time.sleep(ENDED_POLL_SECONDS)
            seconds = time.perf_counter() - started
        finally:
            stats = _stop_pumps(pumps)
        answers = emulator.control("stats")["answers"]
    failures = [json.loads(body) for body in drain_queue(connection, FAILURES_QUEUE)]
    results = drain_queue(connection, RESULTS_QUEUE)
    poison = drain_queue(connection, POISON_QUEUE)
    drain_queue(connection, REQUESTS_QUEUE)  # a run cut short leaves nothing for the next
    return FleetDrain(
        scope=scope,
        processes=processes,
        messages=messages,
        rate=rate,
        seconds=seconds,
        calls=sum(answers.values()),
        throttled=answers.get("429", 0),
        results=len(results),
        failures=len(failures),
        throttling_failures=sum(1 for f in failures if f["error"]["code"] == ErrorCode.TOO_MANY_REQUESTS),
        poison=len(poison),
        deliveries=sum(s["completed"] for s in stats),
        store_transactions=sum(s["storeTransactions"] for s in stats),
        store_outages=sum(s["storeOutages"] for s in stats),
        peak_rss_mb=max(s["peakRssKb"] for s in stats) / 1024,
    )


def describe(drain: FleetDrain) -> str:
    return (
        f"{drain.scope}: {drain.messages} cancels by {drain.processes} processes at {drain.rate:g}/s in "
        f"{drain.seconds:.1f} s (ratio {drain.ratio:.2f}); {drain.throttled} of {drain.calls} ADT calls "
        f"answered 429 ({drain.throttled_share:.1%}); {drain.results} results, {drain.failures} failures "
        f"({drain.throttling_failures} TooManyRequests), {drain.poison} poison; {drain.deferrals} deferrals; "
        f"{drain.transactions_per_cancel:.1f} pacing-store transactions per cancel; "
        f"{drain.store_outages} store outages"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Drain queued cancels with a fleet of pump processes.")
    parser.add_argument("--scope", choices=["shared", "process"], default="shared")
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--messages", type=int, default=120)
    parser.add_argument("--rate", type=float, default=4.0)
    args = parser.parse_args(argv)
    with Azurite() as azurite:
        print(
            describe(fleet_drain(azurite, args.scope, processes=args.processes, messages=args.messages, rate=args.rate))
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
