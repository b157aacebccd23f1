"""Fault-injection soak: N request messages through Azurite, the queue pump and the
emulator while it injects throttling, 5xx, drops, slow answers and cancels that take
effect but answer 500. The messages come from every kind of producer: plain text (Logic
Apps, `az storage message put`, azure-storage-queue's default), TextBase64EncodePolicy and
BinaryBase64EncodePolicy. Every message must be accounted for exactly once, and nothing
may reach poison: under ``messageEncoding: none`` the function sees every message.

    python -m devtools.soak --messages 1000
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.storage.queue import BinaryBase64EncodePolicy, QueueClient, TextBase64EncodePolicy

from cancel_job.contract import FAILURES_QUEUE, POISON_QUEUE, REQUESTS_QUEUE, RESULTS_QUEUE
from cancel_job.hostconfig import load_queue_host_config
from cancel_job.messages import strict_base64_text
from devtools.adt_emulator import AdtEmulator
from devtools.azurite import REPO_ROOT, Azurite, create_queues, decode_json, drain_queue
from devtools.progress import Progress, Step
from devtools.queue_pump import PumpStats, QueueFunction, QueuePump, fleet_process_command

# The instance throttles as ADT does (a token bucket, 429 with Retry-After 5-14 s at 1/s),
# scaled up to 20 requests/s so a 1,000-message soak takes minutes, not an hour; the app
# paces itself to the same rate.
SOAK_RATE = 20.0
SOAK_RETRY_AFTER = (5 / SOAK_RATE, 14 / SOAK_RATE)

# Short budgets so faults resolve quickly; the rules are the production ones.
SOAK_SETTINGS = {
    "CANCEL_DEADLINE_SECONDS": "6",
    "CANCEL_MAX_ATTEMPTS": "4",
    "ADT_READ_TIMEOUT_SECONDS": "0.5",
    "ADT_CONNECT_TIMEOUT_SECONDS": "1",
    "ADT_JOBS_REQUESTS_PER_SECOND": str(SOAK_RATE),
}


@dataclass
class SentMessage:
    soak_id: str
    job_id: str | None  # the job a result would name; None for unusable messages
    raw: str  # what was put on the queue (encoded, as stored)
    producer: str = "plain"


@dataclass
class SoakReport:
    sent: int = 0
    results: int = 0
    failures: int = 0
    poison: int = 0
    lost: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)  # failure records that match no message sent
    cancelled_without_result: list[str] = field(default_factory=list)
    poison_the_function_saw: list[str] = field(default_factory=list)  # must stay empty
    producers: Counter = field(default_factory=Counter)
    failure_codes: Counter = field(default_factory=Counter)
    faults_injected: int = 0
    throttle_rate: float = 0.0  # the instance's rate limit during the run (requests/s)
    throttled: int = 0  # 429s from the instance's rate limit (besides injected ones)
    adt_calls: int = 0
    seconds: float = 0.0
    pump: PumpStats = field(default_factory=PumpStats)
    # A fleet run (pump processes): kills, and a storage outage.
    processes: int = 0
    kills: int = 0
    cut_deliveries: int = 0  # deliveries a kill interrupted
    second_outcomes: list[str] = field(default_factory=list)  # a request's outcome written twice
    outage_seconds: float = 0.0
    storage_errors: int = 0  # storage calls the pumps saw fail
    deferrals: int = 0  # deliveries that put a throttled request back for later

    @property
    def ok(self) -> bool:
        # A second outcome of one request is allowed only where a kill or an outage explains
        # it: the outputs were written, the message's delete was not (docs/rules.md).
        unexplained = self.second_outcomes if not (self.kills or self.outage_seconds) else []
        return not (
            self.lost or self.unmatched or self.cancelled_without_result or self.poison_the_function_saw or unexplained
        )

    def table(self) -> str:
        rows = [
            ("messages sent", self.sent),
            ("results", self.results),
            ("failure records", self.failures),
            ("poison (must be 0: the function sees every message)", self.poison),
            ("lost", len(self.lost)),
            ("records that match no message sent", len(self.unmatched)),
            (
                "requests with a second outcome (allowed only where a kill or an outage came between "
                "outputs and delete)",
                len(self.second_outcomes),
            ),
            ("cancelled in ADT without a result", len(self.cancelled_without_result)),
            ("faults injected", self.faults_injected),
            ("ADT calls", self.adt_calls),
            ("instance rate limit (requests/s)", f"{self.throttle_rate:g}"),
            ("throttled by the rate limit (429)", self.throttled),
            ("failed invocations (redelivered)", self.pump.failed_invocations),
            ("deliveries deferred while throttled", self.deferrals),
            ("seconds", f"{self.seconds:.1f}"),
        ]
        if self.processes:
            rows += [
                ("pump processes", self.processes),
                ("kills (SIGKILL)", self.kills),
                ("deliveries cut by a kill", self.cut_deliveries),
                ("storage outage (seconds)", f"{self.outage_seconds:.1f}"),
                ("storage calls the pumps saw fail (after the SDK's own retries)", self.storage_errors),
            ]
        rows += [(f"failure code {code}", n) for code, n in sorted(self.failure_codes.items())]
        rows += [(f"producer {kind}", n) for kind, n in sorted(self.producers.items())]
        width = max(len(name) for name, _ in rows)
        digits = max(len("count"), *(len(str(value)) for _, value in rows))
        lines = [f"| {'what'.ljust(width)} | {'count'.rjust(digits)} |", f"|{'-' * (width + 2)}|{'-' * (digits + 1)}:|"]
        lines += [f"| {name.ljust(width)} | {str(value).rjust(digits)} |" for name, value in rows]
        return "\n".join(lines)


_KINDS = ["running", "bare", "duplicate", "missing", "finished", "invalid_id", "bad_json", "garbage"]
_KIND_WEIGHTS = [55, 15, 10, 5, 5, 4, 3, 3]


def _messages(count: int, rng: random.Random, emulator: AdtEmulator) -> list[tuple[str, str | None, str]]:
    """(soak id, job id a result would carry, body) per message; some unusable."""
    plan: list[tuple[str, str | None, str]] = []
    for i in range(count):
        soak_id = f"m{i:05d}"
        kind = rng.choices(_KINDS, weights=_KIND_WEIGHTS)[0]
        job_id: str | None = None
        if kind == "duplicate" and plan:
            earlier = [p for p in plan if p[1] is not None]
            job_id = rng.choice(earlier)[1] if earlier else None
        if kind == "duplicate" and job_id is None:
            kind = "running"
        job_id = _soak_job(kind, i, emulator) or job_id
        plan.append((soak_id, job_id, _soak_body(kind, soak_id, job_id)))
    return plan


def _soak_job(kind: str, i: int, emulator: AdtEmulator) -> str | None:
    """The job a new message of this kind names, added to the emulator where it exists."""
    if kind in ("running", "bare"):
        job_id = f"soak-job-{i:05d}"
        emulator.add_job(job_id)
        return job_id
    if kind == "missing":
        return f"soak-missing-{i:05d}"
    if kind == "finished":
        emulator.add_job(f"soak-done-{i:05d}", status="succeeded")
        return f"soak-done-{i:05d}"
    return None


def _soak_body(kind: str, soak_id: str, job_id: str | None) -> str:
    if kind == "bare":  # a bare id (14 characters: its base64 has padding, so it is no id)
        return str(job_id)
    if kind in ("running", "duplicate", "missing", "finished"):
        return json.dumps({"jobId": job_id, "soakId": soak_id})
    if kind == "invalid_id":
        return json.dumps({"jobId": f"../{soak_id}", "soakId": soak_id})
    if kind == "bad_json":
        return f'{{"soakId": "{soak_id}", broken'
    return f"!garbage {soak_id}"  # neither JSON nor an id, in any encoding: InvalidMessage


def producers(connection_string: str) -> dict[str, Callable[[str], Any]]:
    """send(text) as each kind of producer puts it on the requests queue: "plain" is what
    Logic Apps' "Put a message on a queue", `az storage message put`, the portal without
    "Encode in Base64" and azure-storage-queue's default send; "text-base64" is
    TextBase64EncodePolicy; "binary-base64" is BinaryBase64EncodePolicy of the UTF-8 bytes."""

    def client(policy: Any = None) -> QueueClient:
        return QueueClient.from_connection_string(connection_string, REQUESTS_QUEUE, message_encode_policy=policy)

    text64, binary64, plain = client(TextBase64EncodePolicy()), client(BinaryBase64EncodePolicy()), client()
    return {
        "plain": plain.send_message,
        "text-base64": text64.send_message,
        "binary-base64": lambda text: binary64.send_message(text.encode("utf-8")),
    }


def _soak_id(text: str, bare: dict[str, str]) -> str | None:
    """The soak's id of a recorded request: its JSON's ``soakId`` (a deferred copy keeps it,
    written compactly); for the deferred copy of a bare id, which had no ``soakId`` to keep,
    the bare message with its ``jobId`` (``bare``: job id to soak id); else from the text of
    broken JSON or garbage."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        document = None
    if isinstance(document, dict) and isinstance(document.get("soakId"), str):
        return document["soakId"]
    if isinstance(document, dict) and isinstance(document.get("jobId"), str):
        job_id = document["jobId"]
        if job_id in bare:
            return bare[job_id]
        decoded = strict_base64_text(job_id)
        if decoded is not None:  # a message whose base64 text is itself a valid id was read as that id
            return _soak_id(decoded, bare)
    if text.strip() in bare:  # a bare id's own record
        return bare[text.strip()]
    for marker in ('"soakId": "', "!garbage "):
        if marker in text:
            return text.split(marker, 1)[1][:6]
    return None


def _message_text(stored: str) -> str:
    """What a record's ``request`` says, decoded as the message rule decodes it."""
    decoded = strict_base64_text(stored.strip())
    return decoded if decoded is not None else stored


SOAK_STEPS = 3  # send, drain, account: the progress display's [k/3]


def _prepare(
    emulator: AdtEmulator, azurite: Azurite, messages: int, seed: int, chaos_rate: float, steps: Progress
) -> list[SentMessage]:
    """Plan the messages, set the emulator's faults and throttling, and send them."""
    rng = random.Random(seed)
    create_queues(azurite.connection_string)
    plan = _messages(messages, rng, emulator)
    emulator.configure(
        chaos_rate=chaos_rate,
        chaos_seed=seed,
        chaos_slow_seconds=1.0,
        cancel_accept_delay=0.2,
        cancel_duration=0.2,
        throttle_rate=SOAK_RATE,
        throttle_retry_after=SOAK_RETRY_AFTER,
    )
    send = producers(azurite.connection_string)
    sent: list[SentMessage] = []
    with steps.step(f"sending {messages:,} messages from 3 kinds of producer", total=messages) as step:
        for soak_id, job_id, body in plan:
            kind = rng.choice(sorted(send))
            stored = send[kind](body).content
            sent.append(SentMessage(soak_id, job_id, stored if isinstance(stored, str) else body, kind))
            step.advance()
    return sent


def _outcomes_so_far(azurite: Azurite) -> int | None:
    """Results, failure records and poison written so far (approximate counts), for the
    progress display only (the report counts each message itself); None while storage
    does not answer (an outage)."""
    try:
        return sum(
            QueueClient.from_connection_string(azurite.connection_string, name)
            .get_queue_properties()
            .approximate_message_count
            for name in (RESULTS_QUEUE, FAILURES_QUEUE, POISON_QUEUE)
        )
    except Exception:
        return None


def run_soak(
    emulator: AdtEmulator,
    azurite: Azurite,
    messages: int,
    *,
    seed: int = 7,
    chaos_rate: float = 0.3,
    pumps: int = 4,
    max_seconds: float = 900,
    progress: Progress | None = None,
) -> SoakReport:
    """Run the soak against a started emulator and Azurite; the app's settings must
    already point at the emulator (see SOAK_SETTINGS)."""
    with progress or Progress("soak", SOAK_STEPS) as steps:
        return _run_soak(emulator, azurite, messages, seed, chaos_rate, pumps, max_seconds, steps)


def _run_soak(
    emulator: AdtEmulator,
    azurite: Azurite,
    messages: int,
    seed: int,
    chaos_rate: float,
    pumps: int,
    max_seconds: float,
    steps: Progress,
) -> SoakReport:
    import function_app

    started = time.monotonic()
    sent = _prepare(emulator, azurite, messages, seed, chaos_rate, steps)
    function = QueueFunction.from_app(function_app.app, "cancel_import_job_queue")
    workers = [QueuePump(azurite.connection_string, function, visibility_timeout_seconds=1) for _ in range(pumps)]
    threads = [
        threading.Thread(target=w.run_until_idle, kwargs={"idle_seconds": 3.0, "max_seconds": max_seconds})
        for w in workers
    ]
    with steps.step(f"draining with {pumps} pumps, ADT faults on {chaos_rate:.0%} of calls", total=messages) as step:
        for thread in threads:
            thread.start()
        while alive := [thread for thread in threads if thread.is_alive()]:
            if step.shown:
                step.update(_outcomes_so_far(azurite))
            alive[0].join(timeout=0.5)
    with steps.step("accounting for every message"):
        report = _account(emulator, azurite, sent)
    for worker in workers:
        report.pump.completed += worker.stats.completed
        report.pump.failed_invocations += worker.stats.failed_invocations
        report.pump.poisoned += worker.stats.poisoned
    report.deferrals = report.pump.completed - report.results - report.failures
    report.seconds = time.monotonic() - started
    return report


# A fleet run: processes with the host's concurrency each; a killed delivery comes back after
# this processing visibility, as it would after the host's last lease renewal.
FLEET_PROCESSING_VISIBILITY = 10
KILL_EVERY = (2.0, 5.0)  # seconds between kills, drawn uniformly
IDLE_SECONDS = 3.0  # the requests queue held nothing (hidden messages included) this long: done


class FleetPumps:
    """K queue-pump processes with journals; a killed one is restarted at once."""

    def __init__(self, count: int, workdir: Path) -> None:
        self.workdir, self.count = workdir, count
        self.journals: list[Path] = []  # every process's, in start order
        self.current: list[Path] = []  # the running process's, per slot
        self.killed_journals: list[Path] = []
        self.processes = [self._start(k) for k in range(count)]

    def _start(self, k: int) -> subprocess.Popen[str]:
        journal = self.workdir / f"pump-{k}-{len(self.journals)}.journal"
        self.journals.append(journal)
        if k < len(self.current):
            self.current[k] = journal
        else:
            self.current.append(journal)
        command = fleet_process_command(
            load_queue_host_config().concurrency, 1, processing_visibility=FLEET_PROCESSING_VISIBILITY, journal=journal
        )
        return subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def kill_one(self, rng: random.Random) -> None:
        k = rng.randrange(self.count)
        process = self.processes[k]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        self.killed_journals.append(self.current[k])
        self.processes[k] = self._start(k)

    def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            process.wait(timeout=60)

    def journal_counts(self) -> Counter:
        """Lines by kind over every journal (R received, D done, F failed, E storage error),
        and deliveries a kill cut (received, then neither done nor failed)."""
        counts: Counter = Counter()
        for journal in self.journals:
            last: dict[str, str] = {}
            for line in journal.read_text(encoding="utf-8").splitlines() if journal.exists() else []:
                kind, _, rest = line.partition(" ")
                counts[kind] += 1
                if kind in "RDF":
                    last[rest.split(" ")[0]] = kind
            if journal in self.killed_journals:
                counts["cut"] += sum(1 for kind in last.values() if kind == "R")
        return counts


def _requests_idle(azurite: Azurite) -> bool:
    requests = QueueClient.from_connection_string(azurite.connection_string, REQUESTS_QUEUE)
    try:
        return requests.get_queue_properties().approximate_message_count == 0
    except Exception:  # storage unreachable (an outage): not idle
        return False


def run_fleet_soak(
    emulator: AdtEmulator,
    azurite: Azurite,
    messages: int,
    *,
    seed: int = 7,
    chaos_rate: float = 0.3,
    processes: int = 4,
    kill: bool = False,
    outage_seconds: float = 0.0,
    outage_after: float = 20.0,
    max_seconds: float = 1200,
    progress: Progress | None = None,
) -> SoakReport:
    """The soak with K pump processes: with ``kill``, a random one gets SIGKILL every 2-5 s
    and is restarted at once; with ``outage_seconds``, Azurite (persistent) stops that long
    ``outage_after`` seconds in and starts again with its data."""
    started = time.monotonic()  # the outage comes outage_after seconds from here
    with progress or Progress("soak", SOAK_STEPS) as steps:
        sent = _prepare(emulator, azurite, messages, seed, chaos_rate, steps)
        what = f"draining with {processes} processes" + (", one killed every 2-5 s" if kill else "")
        what += f", storage out for {outage_seconds:g} s" if outage_seconds else ""
        with steps.step(what, total=messages) as step:
            drained = _drain_fleet(
                azurite, processes, kill, (outage_seconds, started + outage_after), started + max_seconds, seed, step
            )
        with steps.step("accounting for every message"):
            report = _account(emulator, azurite, sent)
    kills, counts, outage = drained
    report.processes, report.kills, report.cut_deliveries = processes, kills, counts["cut"]
    report.outage_seconds, report.storage_errors = outage, counts["E"]
    report.pump = PumpStats(completed=counts["D"], failed_invocations=counts["F"])
    report.deferrals = max(0, counts["D"] - report.results - report.failures - len(report.second_outcomes))
    report.seconds = time.monotonic() - started
    return report


def _drain_fleet(
    azurite: Azurite,
    processes: int,
    kill: bool,
    outage_plan: tuple[float, float],
    deadline: float,
    seed: int,
    step: Step,
) -> tuple[int, dict[str, int], float]:
    """Run the pump processes until the requests queue stays empty: (kills, journal counts,
    the outage's length). ``outage_plan`` is (seconds, at): Azurite stops at that moment."""
    rng = random.Random(seed)
    outage_seconds, outage_at = outage_plan
    outage = 0.0
    with tempfile.TemporaryDirectory(prefix="soak-fleet-") as workdir:
        pumps = FleetPumps(processes, Path(workdir))
        kills, next_kill, idle_since = 0, time.monotonic() + rng.uniform(*KILL_EVERY), None
        try:
            while time.monotonic() < deadline:
                now = time.monotonic()
                if outage_seconds and not outage and now >= outage_at:
                    outage = azurite.outage(outage_seconds)
                if kill and now >= next_kill:
                    pumps.kill_one(rng)
                    kills += 1
                    next_kill = now + rng.uniform(*KILL_EVERY)
                if _requests_idle(azurite):
                    idle_since = idle_since or now
                    if now - idle_since >= IDLE_SECONDS and (outage or not outage_seconds):
                        break
                else:
                    idle_since = None
                if step.shown:
                    step.update(_outcomes_so_far(azurite))
                time.sleep(0.2)
        finally:
            pumps.stop()
        counts = pumps.journal_counts()
    return kills, counts, outage


def _account(emulator: AdtEmulator, azurite: Azurite, sent: list[SentMessage]) -> SoakReport:
    """Every message's outcome, from the queues and the emulator."""
    throttle_rate = emulator.state.config.throttle_rate
    emulator.configure(chaos_rate=0.0, throttle_rate=0.0)

    report = SoakReport(
        sent=len(sent),
        faults_injected=emulator.state.faults_injected,
        throttle_rate=throttle_rate,
        throttled=emulator.state.throttled,
        adt_calls=sum(emulator.state.adt_answers.values()),
    )
    results = [decode_json(m) for m in drain_queue(azurite.connection_string, RESULTS_QUEUE)]
    failures = [decode_json(m) for m in drain_queue(azurite.connection_string, FAILURES_QUEUE)]
    poison = drain_queue(azurite.connection_string, POISON_QUEUE)
    report.results, report.failures, report.poison = len(results), len(failures), len(poison)
    report.failure_codes = Counter(f["error"]["code"] for f in failures)
    report.producers = Counter(m.producer for m in sent)
    # The function sees every message (messageEncoding none) and records every one it
    # cannot use: nothing belongs in poison.
    report.poison_the_function_saw = [content[:40] for content in poison]

    seen: Counter = Counter()
    by_raw = {m.raw: m.soak_id for m in sent}
    for content in poison:
        seen[by_raw.get(content, f"unknown:{content[:40]}")] += 1
    ids = {m.soak_id for m in sent}
    bare = {m.job_id: m.soak_id for m in sent if m.job_id is not None and _message_text(m.raw) == m.job_id}
    for record in failures:
        soak_id = _soak_id(_message_text(record["request"]), bare)
        seen[soak_id if soak_id in ids else f"unknown:{record['request'][:40]}"] += 1
    # Results carry only the ImportJob, so they are matched to messages by job id.
    results_by_job = Counter(r.get("id") for r in results)
    for message in sent:
        if seen[message.soak_id] == 0 and message.job_id is not None and results_by_job[message.job_id] > 0:
            results_by_job[message.job_id] -= 1
            seen[message.soak_id] += 1
    report.lost = [m.soak_id for m in sent if seen[m.soak_id] == 0]
    report.unmatched = [k for k in seen if str(k).startswith("unknown:")]
    # The same request's outcome twice: its record, or a result for its job, once more.
    report.second_outcomes = [k for k, n in seen.items() if n > 1 and not str(k).startswith("unknown:")]
    report.second_outcomes += [f"result:{job}" for job, n in results_by_job.items() if n > 0]
    result_jobs = {r.get("id") for r in results}
    # A cancel ADT accepted shows as a job that is cancelling or cancelled, or, right after
    # it, one that is still running with the cancel on record.
    report.cancelled_without_result = [
        job_id
        for job_id, job in list(emulator.state.jobs.items())
        if (job.cancel_requested is not None or emulator.job_status(job_id) in ("cancelling", "cancelled"))
        and job_id not in result_jobs
    ]
    return report


SOAK_PAGE = REPO_ROOT / "docs" / "soak.md"
WHAT_IT_RUNS = """`make soak` (`python -m devtools.soak --messages 1000`): 1,000 request messages through
Azurite, four queue pumps (the host's `batchSize` 4, `messageEncoding: none`) and the
emulator, which throttles as ADT does (a token bucket, 429 with a scaled `Retry-After`,
at 20 requests/s so the run takes minutes; the app paces itself to the same rate, shared
through Azurite, and defers what the limit refuses) and gives 30% of ADT calls a fault
besides: 429 with `Retry-After: 1` or `retry-after-ms`, 500, 503, dropped connections,
answers slower than the read timeout, and cancels that take effect but answer 500. The
messages come from every kind of producer (plain text, `TextBase64EncodePolicy`,
`BinaryBase64EncodePolicy`, about a third each) and include bare ids (15%), duplicates
(10%), unknown jobs, finished jobs, invalid ids, broken JSON and text that is neither JSON
nor an id."""
MODES = {
    "plain": ("Soak", WHAT_IT_RUNS),
    "kill": (
        "Kill-soak",
        """`make soak-kill` (`python -m devtools.soak --messages 1000 --kill`): the same load,
drained by 4 queue-pump processes (each running the host's 6 invocations at once, with a
10 s processing visibility, so a killed delivery comes back as it would after the host's
last lease renewal). Every 2-5 s a random pump gets SIGKILL and is restarted at once.
Each pump keeps a journal of the deliveries it received and finished, so the run can
tell which deliveries a kill cut. Must hold: nothing lost, nothing in poison, no job
cancelled in ADT without a result; a request's outcome written a second time after a
kill (the one duplicate allowed, see [kill points](rules.md#when-a-process-dies)) is
counted.""",
    ),
    "outage": (
        "Storage outage",
        """`make soak-outage` (`python -m devtools.soak --messages 1000 --storage-outage 5`):
the same load through 4 pump processes, with Azurite keeping its data in a temporary folder; 20 s in,
both of its services (queues and the pacing blobs) stop for 5 s and start again with their
data. Meanwhile the output bindings, the deferral and follow-up sends and the pacing store
all fail: a send that fails fails the delivery (the message comes back), the pacing store
fails open (each process paces itself), and the counts must still balance. A delivery whose
outputs were written but whose message could not be deleted runs again, as after a kill:
that second outcome is counted. What the outage cost is the difference from the plain
soak above (same seed, same messages): its ADT calls, redeliveries, deferrals and 429s.""",
    ),
}
VARIATION = (
    "The seed fixes the messages and the order of the faults, not the timing: results and "
    "records repeat from run to run, while faults, calls, redeliveries and seconds may vary a little."
)


def mode_of(args: argparse.Namespace) -> str:
    return "kill" if args.kill else "outage" if args.storage_outage else "plain"


def write_page(report: SoakReport, args: argparse.Namespace) -> None:
    """This mode's section of docs/soak.md, from this run; the other modes' stay as they were."""
    from datetime import UTC, datetime

    from devtools.bench_report import machine

    mode = mode_of(args)
    title, what = MODES[mode]
    verdict = "every message accounted for" if report.ok else "FAILED: see the counts"
    command = f"python -m devtools.soak --messages {args.messages} --seed {args.seed} --chaos-rate {args.chaos_rate:g}"
    command += " --kill" if args.kill else f" --storage-outage {args.storage_outage:g}" if args.storage_outage else ""
    section = (
        f"<!-- soak:{mode} -->\n## {title}\n\n{what}\n\n"
        f"Run {datetime.now(UTC):%Y-%m-%d} on {machine()}: `{command}`; {verdict}.\n\n"
        f"{report.table()}\n\n{VARIATION}\n<!-- /soak:{mode} -->"
    )
    page = SOAK_PAGE.read_text(encoding="utf-8") if SOAK_PAGE.exists() else ""
    sections = {m: _section(page, m) for m in MODES}
    sections[mode] = section
    body = "\n\n".join(text for m in MODES if (text := sections[m]))
    SOAK_PAGE.write_text(
        "# Soak\n\nEach section is written by the run it describes.\n\n" + body + "\n", encoding="utf-8"
    )


def _section(page: str, mode: str) -> str:
    begin, end = f"<!-- soak:{mode} -->", f"<!-- /soak:{mode} -->"
    if begin not in page or end not in page:
        return ""
    return page[page.index(begin) : page.index(end) + len(end)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--chaos-rate", type=float, default=0.3, help="share of ADT requests given a fault")
    parser.add_argument(
        "--kill", action="store_true", help="4 pump processes; every 2-5 s a random one gets SIGKILL and is restarted"
    )
    parser.add_argument(
        "--storage-outage",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="4 pump processes; Azurite stops this long, 20 s in, and starts again with its data",
    )
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/soak.md alone")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    progress = Progress("soak" if mode_of(args) == "plain" else f"soak-{mode_of(args)}", SOAK_STEPS)
    with AdtEmulator() as emulator, Azurite(persistent=args.storage_outage > 0) as azurite:
        # The app's own storage, as deployed: the shared pace and deferrals go through it.
        os.environ.update({**emulator.environment(), **SOAK_SETTINGS, "STORAGE_CONNECTION": azurite.connection_string})
        if args.kill or args.storage_outage:
            report = run_fleet_soak(
                emulator,
                azurite,
                args.messages,
                seed=args.seed,
                chaos_rate=args.chaos_rate,
                kill=args.kill,
                outage_seconds=args.storage_outage,
                progress=progress,
            )
        else:
            report = run_soak(
                emulator, azurite, args.messages, seed=args.seed, chaos_rate=args.chaos_rate, progress=progress
            )
    print(report.table())
    print("\nOK: every message accounted for" if report.ok else "\nFAILED: see the counts above")
    if not args.no_write:
        write_page(report, args)
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
