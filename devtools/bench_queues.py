"""The benchmark's queue rows (8-10): queued cancels drained against an instance that
throttles, by one process, by a fleet of processes, and as a backlog."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass

from devtools.azurite import Azurite, create_queues
from devtools.bench_report import Row
from devtools.emulator_process import EmulatorProcess
from devtools.fleet_drain import FAKETIME_LIBRARY, FleetDrain, clear_queues, ended, fleet_drain, skewed_clock
from devtools.progress import Progress

DRAIN_MESSAGES = 60
DRAIN_RATE = 10.0  # requests/s: ADT's 1/s scaled up so the run stays short


@dataclass
class Drain:
    seconds: float
    calls: int
    throttled: int

    def ratio(self, rate: float, messages: int) -> float:
        """Drain time against the time the rate limit itself needs."""
        return self.seconds / (messages / rate)

    @property
    def throttled_share(self) -> float:
        return self.throttled / self.calls if self.calls else 0.0


def throttled_drain(
    azurite_connection: str,
    pacing_rate: float,
    *,
    messages: int = DRAIN_MESSAGES,
    rate: float = DRAIN_RATE,
    max_seconds: float = 120.0,
) -> Drain:
    """Enqueue ``messages`` cancels for one instance at once and drain them through the queue
    path with the host's concurrency (batchSize + newBatchThreshold invocations), against an
    emulator throttling at ``rate`` with Retry-After scaled down to match (5-14 s at 1/s).
    ``pacing_rate`` is the app's ADT_JOBS_REQUESTS_PER_SECOND (0: spacing off)."""
    from azure.storage.queue import QueueClient

    from cancel_job.contract import REQUESTS_QUEUE
    from cancel_job.hostconfig import load_queue_host_config
    from cancel_job.runtime import reset_service
    from devtools.queue_pump import QueueFunction, QueuePump

    host = load_queue_host_config()
    low, high = (seconds / rate for seconds in (5, 14))
    with EmulatorProcess(throttle_rate=rate) as emulator:
        emulator.control("config", {"throttle_retry_after": [low, high]})
        # The app's own storage, as deployed: a throttled request is deferred through it.
        os.environ.update(
            {
                **emulator.environment,
                "ADT_JOBS_REQUESTS_PER_SECOND": str(pacing_rate),
                "STORAGE_CONNECTION": azurite_connection,
            }
        )
        reset_service()
        import function_app  # only now: importing it checks the settings set just above

        ids = emulator.seed(f"drain-{pacing_rate:g}-", messages)
        clear_queues(azurite_connection)
        requests_queue = QueueClient.from_connection_string(azurite_connection, REQUESTS_QUEUE)
        for job_id in ids:  # JSON, as the README tells producers (a bare id can be ambiguous)
            requests_queue.send_message(json.dumps({"jobId": job_id}))
        function = QueueFunction.from_app(function_app.app, "cancel_import_job_queue")
        # One message at a time per worker, as many workers as the host runs invocations;
        # a failed delivery comes back after host.json's visibilityTimeout, scaled like the rate.
        one_at_a_time = host._replace(batch_size=1)
        workers = [
            QueuePump(
                azurite_connection,
                function,
                one_at_a_time,
                visibility_timeout_seconds=max(1, round(host.visibility_timeout_seconds / rate)),
            )
            for _ in range(host.concurrency)
        ]
        done = threading.Event()

        def work(pump: QueuePump) -> None:
            while not done.is_set():
                if not pump.run_once():
                    time.sleep(0.02)

        threads = [threading.Thread(target=work, args=(w,), daemon=True) for w in workers]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        # A deferred delivery completes too: count the cancels that ended, on the queues.
        while ended(azurite_connection) + sum(w.stats.poisoned for w in workers) < messages:
            if time.perf_counter() - started > max_seconds:
                break
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        done.set()
        for thread in threads:
            thread.join(timeout=30)
        answers = emulator.control("stats")["answers"]
        reset_service()
    return Drain(seconds, sum(answers.values()), answers.get("429", 0))


# The worker's budget within the default 512 MB instance (docs/deploy.md, "Instance memory").
WORKER_MEMORY_BUDGET_MB = 128


def fleet_rows(shared: FleetDrain, alone: FleetDrain) -> list[Row]:
    """Row 9: a fleet of queue-pump processes against one throttling instance, with the
    fleet-wide pace and, beside it, with each process pacing itself."""
    name = (
        f"9. {shared.messages} queued cancels, {shared.processes} processes x 6 invocations, one instance "
        f"throttling at {shared.rate:g}/s"
    )
    caused = shared.throttling_failures + shared.poison
    peak_rss_mb = max(shared.peak_rss_mb, alone.peak_rss_mb)
    complete = shared.complete  # a run that drained nothing meets no goal
    return [
        Row(
            f"{name}, shared pace: drain time / ({shared.messages} / rate)",
            f"{shared.ratio:.2f} ({shared.seconds:.1f} s)",
            "<= 1.15",
            complete and shared.ratio <= 1.15,
        ),
        Row(
            "9. shared: ADT calls answered 429 / all calls",
            f"{shared.throttled_share:.1%} ({shared.throttled} of {shared.calls})",
            "<= 2%",
            complete and shared.throttled_share <= 0.02,
        ),
        Row(
            "9. shared: failure records and poison messages caused by throttling",
            str(caused),
            "0",
            complete and caused == 0,
        ),
        Row(
            "9. shared: pacing-store transactions per cancel",
            f"{shared.transactions_per_cancel:.1f}",
            "<= 8",
            complete and shared.transactions_per_cancel <= 8,
        ),
        Row(
            f"9. (beside) process-only gates: drain time / ({alone.messages} / rate)",
            f"{alone.ratio:.2f} ({alone.seconds:.1f} s)",
            "-",
            None,
        ),
        Row(
            "9. (beside) process-only gates: ADT calls answered 429 / all calls",
            f"{alone.throttled_share:.1%} ({alone.throttled} of {alone.calls})",
            "-",
            None,
        ),
        Row(
            "9. (beside) process-only gates: failure records and poison caused by throttling",
            str(alone.throttling_failures + alone.poison),
            "-",
            None,
        ),
        # The Python worker's share of a Flex instance's memory: at most a quarter of the 512 MB
        # default (instanceMemoryMB), the rest for the host, whose own is not measured here.
        Row(
            "9. peak resident memory of one worker process (the app, 6 invocations) under this load",
            f"{peak_rss_mb:.0f} MB",
            f"<= {WORKER_MEMORY_BUDGET_MB} MB (a quarter of a 512 MB instance)",
            peak_rss_mb <= WORKER_MEMORY_BUDGET_MB,
        ),
    ]


# Row 10: a backlog, at the rate of row 8, with the request deadline scaled like the rate
# (25 s at ADT's 1/s), so that most requests are refused once and come back for their turn.
BACKLOG_MESSAGES = 1_000
BACKLOG_DEADLINE_SECONDS = 25.0 / DRAIN_RATE
BACKLOG_SKEW_SECONDS = 300.0


def backlog_rows(even: FleetDrain, skewed: FleetDrain | None) -> list[Row]:
    """Row 10: a backlog drained in order (the line rule), and beside it the same load with
    one process's clock 300 s fast."""
    title = (
        f"10. {even.messages:,} cancels queued at once, {even.processes} processes x 6 invocations, one instance "
        f"throttling at {even.rate:g}/s, deadline {BACKLOG_DEADLINE_SECONDS:g} s"
    )
    rows = _backlog_measures(even, title, "10. backlog", judged=True)
    rows.append(
        Row(
            "10. backlog: requests that ended twice (a deferred copy stored although its send timed out)",
            str(even.ended_twice),
            "-",
            None,
        )
    )
    beside = f"10. (beside) one process {BACKLOG_SKEW_SECONDS:.0f} s fast"
    if skewed is None:
        return [*rows, Row(beside, "not run: libfaketime is not installed", "-", None)]
    return rows + _backlog_measures(skewed, beside, "10. (beside) one process fast", judged=False)


def _backlog_measures(drain: FleetDrain, title: str, prefix: str, *, judged: bool) -> list[Row]:
    """Row 10's four figures of one drain; ``judged``: against the issue's goals (a drain
    that lost or failed a request meets none)."""
    complete = drain.complete and drain.failures == 0
    per_cancel = drain.deliveries / drain.messages

    def row(name: str, figure: str, goal: str, met: bool) -> Row:
        return Row(name, figure, goal, complete and met) if judged else Row(name, figure, "-", None)

    return [
        row(
            f"{title}: drain time / ({drain.messages:,} / rate)",
            f"{drain.ratio:.2f} ({drain.seconds:.1f} s)",
            "<= 1.4",
            drain.ratio <= 1.4,
        ),
        row(
            f"{prefix}: ADT calls answered 429 / all calls",
            f"{drain.throttled_share:.1%} ({drain.throttled} of {drain.calls})",
            "<= 5%",
            drain.throttled_share <= 0.05,
        ),
        row(f"{prefix}: deliveries per cancel", f"{per_cancel:.2f}", "<= 1.5", per_cancel <= 1.5),
        row(
            f"{prefix}: pacing-store transactions per cancel",
            f"{drain.transactions_per_cancel:.1f}",
            "<= 8",
            drain.transactions_per_cancel <= 8,
        ),
    ]


def backlog_drain(azurite: Azurite, process_env: list[dict[str, str]] | None = None) -> FleetDrain:
    return fleet_drain(
        azurite,
        "shared",
        processes=8,
        messages=BACKLOG_MESSAGES,
        rate=DRAIN_RATE,
        deadline_seconds=BACKLOG_DEADLINE_SECONDS,
        max_seconds=900,
        process_env=process_env or [],
    )


@dataclass
class QueueMeasures:
    """Rows 8-10: queued cancels drained against a throttling instance, by one process, by a
    fleet, and as a backlog."""

    paced: Drain
    unpaced: Drain
    shared: FleetDrain
    alone: FleetDrain
    backlog: FleetDrain
    skewed_backlog: FleetDrain | None


# Steps of measure_queues, for the progress display.
QUEUE_STEPS = 6


def measure_queues(steps: Progress) -> QueueMeasures:
    with Azurite() as azurite:
        create_queues(azurite.connection_string)
        with steps.step(f"throttled drain, one process paced at {DRAIN_RATE:g}/s"):
            paced = throttled_drain(azurite.connection_string, DRAIN_RATE)
        with steps.step("throttled drain, one process unpaced"):
            unpaced = throttled_drain(azurite.connection_string, 0.0)
        with steps.step("fleet drain, 8 processes sharing the pace"):
            shared = fleet_drain(azurite, "shared")
        with steps.step("fleet drain, 8 processes each with its own gate"):
            alone = fleet_drain(azurite, "process")
        with steps.step(f"backlog of {BACKLOG_MESSAGES:,} cancels, 8 processes"):
            backlog = backlog_drain(azurite)
        with steps.step(f"the same backlog, one process's clock {BACKLOG_SKEW_SECONDS:.0f} s fast"):
            skewed = None if FAKETIME_LIBRARY is None else backlog_drain(azurite, [skewed_clock(BACKLOG_SKEW_SECONDS)])
    return QueueMeasures(paced, unpaced, shared, alone, backlog, skewed)


def drain_rows(paced: Drain, unpaced: Drain) -> list[Row]:
    drain_name = f"{DRAIN_MESSAGES} queued cancels, one instance throttling at {DRAIN_RATE:g}/s"
    paced_ratio = paced.ratio(DRAIN_RATE, DRAIN_MESSAGES)
    return [
        Row(
            f"8. {drain_name}, paced: drain time / ({DRAIN_MESSAGES} / rate)",
            f"{paced_ratio:.2f} ({paced.seconds:.1f} s)",
            "<= 1.25",
            paced_ratio <= 1.25,
        ),
        Row(
            "8. paced: ADT calls answered 429 / all calls",
            f"{paced.throttled_share:.1%} ({paced.throttled} of {paced.calls})",
            "<= 5%",
            paced.throttled_share <= 0.05,
        ),
        Row(
            "8. (beside) spacing off, 429 rule only: drain time / (60 / rate)",
            f"{unpaced.ratio(DRAIN_RATE, DRAIN_MESSAGES):.2f} ({unpaced.seconds:.1f} s)",
            "-",
            None,
        ),
        Row(
            "8. (beside) spacing off: ADT calls answered 429 / all calls",
            f"{unpaced.throttled_share:.1%} ({unpaced.throttled} of {unpaced.calls})",
            "-",
            None,
        ),
    ]
