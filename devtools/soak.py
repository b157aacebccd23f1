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
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from azure.storage.queue import BinaryBase64EncodePolicy, QueueClient, TextBase64EncodePolicy

from cancel_job.contract import FAILURES_QUEUE, POISON_QUEUE, REQUESTS_QUEUE, RESULTS_QUEUE
from cancel_job.messages import strict_base64_text
from devtools.adt_emulator import AdtEmulator
from devtools.azurite import REPO_ROOT, Azurite, create_queues, decode_json, drain_queue
from devtools.queue_pump import PumpStats, QueueFunction, QueuePump

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
    double_counted: list[str] = field(default_factory=list)
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

    @property
    def ok(self) -> bool:
        return not (self.lost or self.double_counted or self.cancelled_without_result
                    or self.poison_the_function_saw)

    def table(self) -> str:
        rows = [
            ("messages sent", self.sent),
            ("results", self.results),
            ("failure records", self.failures),
            ("poison (must be 0: the function sees every message)", self.poison),
            ("lost", len(self.lost)),
            ("counted twice", len(self.double_counted)),
            ("cancelled in ADT without a result", len(self.cancelled_without_result)),
            ("faults injected", self.faults_injected),
            ("ADT calls", self.adt_calls),
            ("instance rate limit (requests/s)", f"{self.throttle_rate:g}"),
            ("throttled by the rate limit (429)", self.throttled),
            ("failed invocations (redelivered)", self.pump.failed_invocations),
            ("seconds", f"{self.seconds:.1f}"),
        ]
        rows += [(f"failure code {code}", n) for code, n in sorted(self.failure_codes.items())]
        rows += [(f"producer {kind}", n) for kind, n in sorted(self.producers.items())]
        width = max(len(name) for name, _ in rows)
        digits = max(len("count"), *(len(str(value)) for _, value in rows))
        lines = [f"| {'what'.ljust(width)} | {'count'.rjust(digits)} |", f"|{'-' * (width + 2)}|{'-' * (digits + 1)}:|"]
        lines += [f"| {name.ljust(width)} | {str(value).rjust(digits)} |" for name, value in rows]
        return "\n".join(lines)


def _messages(count: int, rng: random.Random, emulator: AdtEmulator) -> list[tuple[str, str | None, str]]:
    """(soak id, job id a result would carry, body) per message; some unusable."""
    plan: list[tuple[str, str | None, str]] = []
    for i in range(count):
        soak_id = f"m{i:05d}"
        kind = rng.choices(
            ["running", "bare", "duplicate", "missing", "finished", "invalid_id", "bad_json", "garbage"],
            weights=[55, 15, 10, 5, 5, 4, 3, 3],
        )[0]
        if kind == "duplicate" and plan:
            earlier = [p for p in plan if p[1] is not None]
            job_id = rng.choice(earlier)[1] if earlier else None
            if job_id is None:
                kind = "running"
        if kind in ("running", "bare"):
            job_id = f"soak-job-{i:05d}"
            emulator.add_job(job_id)
        elif kind == "missing":
            job_id = f"soak-missing-{i:05d}"
        elif kind == "finished":
            job_id = f"soak-done-{i:05d}"
            emulator.add_job(job_id, status="succeeded")
        if kind == "bare":  # a bare id (14 characters: its base64 has padding, so it is no id)
            plan.append((soak_id, job_id, job_id))
        elif kind in ("running", "duplicate", "missing", "finished"):
            plan.append((soak_id, job_id, json.dumps({"jobId": job_id, "soakId": soak_id})))
        elif kind == "invalid_id":
            plan.append((soak_id, None, json.dumps({"jobId": f"../{soak_id}", "soakId": soak_id})))
        elif kind == "bad_json":
            plan.append((soak_id, None, f'{{"soakId": "{soak_id}", broken'))
        else:  # neither JSON nor an id, in any encoding: InvalidMessage
            plan.append((soak_id, None, f"!garbage {soak_id}"))
    return plan


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


def _message_text(stored: str) -> str:
    """What a record's ``request`` says, decoded as the message rule decodes it."""
    decoded = strict_base64_text(stored.strip())
    return decoded if decoded is not None else stored


def run_soak(
    emulator: AdtEmulator,
    azurite: Azurite,
    messages: int,
    *,
    seed: int = 7,
    chaos_rate: float = 0.3,
    pumps: int = 4,
    max_seconds: float = 900,
) -> SoakReport:
    """Run the soak against a started emulator and Azurite; the app's settings must
    already point at the emulator (see SOAK_SETTINGS)."""
    import function_app

    rng = random.Random(seed)
    started = time.monotonic()
    create_queues(azurite.connection_string)
    plan = _messages(messages, rng, emulator)
    emulator.configure(chaos_rate=chaos_rate, chaos_seed=seed, chaos_slow_seconds=1.0, cancel_accept_delay=0.2,
                       cancel_duration=0.2, throttle_rate=SOAK_RATE, throttle_retry_after=SOAK_RETRY_AFTER)

    send = producers(azurite.connection_string)
    sent: list[SentMessage] = []
    for soak_id, job_id, body in plan:
        kind = rng.choice(sorted(send))
        stored = send[kind](body).content
        sent.append(SentMessage(soak_id, job_id, stored if isinstance(stored, str) else body, kind))

    function = QueueFunction.from_app(function_app.app, "cancel_import_job_queue")
    workers = [QueuePump(azurite.connection_string, function, visibility_timeout_seconds=1) for _ in range(pumps)]
    threads = [threading.Thread(target=w.run_until_idle, kwargs={"idle_seconds": 3.0, "max_seconds": max_seconds})
               for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    throttle_rate = emulator.state.config.throttle_rate
    emulator.configure(chaos_rate=0.0, throttle_rate=0.0)

    report = SoakReport(sent=len(sent), faults_injected=emulator.state.faults_injected, throttle_rate=throttle_rate,
                        throttled=emulator.state.throttled, adt_calls=sum(emulator.state.adt_answers.values()))
    for worker in workers:
        report.pump.completed += worker.stats.completed
        report.pump.failed_invocations += worker.stats.failed_invocations
        report.pump.poisoned += worker.stats.poisoned
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
    for record in failures:
        text = _message_text(record["request"])
        soak_id = next((m.soak_id for m in sent if f'"soakId": "{m.soak_id}"' in text
                        or text == f"!garbage {m.soak_id}"), None)
        seen[soak_id or f"unknown:{record['request'][:40]}"] += 1
    # Results carry only the ImportJob, so they are matched to messages by job id.
    results_by_job = Counter(r.get("id") for r in results)
    for message in sent:
        if seen[message.soak_id] == 0 and message.job_id is not None and results_by_job[message.job_id] > 0:
            results_by_job[message.job_id] -= 1
            seen[message.soak_id] += 1
    report.lost = [m.soak_id for m in sent if seen[m.soak_id] == 0]
    report.double_counted = [k for k, n in seen.items() if n > 1 or str(k).startswith("unknown:")]
    report.double_counted += [f"result:{job}" for job, n in results_by_job.items() if n > 0]
    result_jobs = {r.get("id") for r in results}
    # A cancel ADT accepted shows as a job that is cancelling or cancelled, or, right after
    # it, one that is still running with the cancel on record.
    report.cancelled_without_result = [
        job_id for job_id, job in list(emulator.state.jobs.items())
        if (job.cancel_requested is not None or emulator.job_status(job_id) in ("cancelling", "cancelled"))
        and job_id not in result_jobs
    ]
    report.seconds = time.monotonic() - started
    return report


SOAK_PAGE = REPO_ROOT / "docs" / "soak.md"
WHAT_IT_RUNS = """`make soak` (`python -m devtools.soak --messages 1000`): 1,000 request messages through
Azurite, four queue pumps (the host's `batchSize` 4, `messageEncoding: none`) and the
emulator, which throttles as ADT does (a token bucket, 429 with a scaled `Retry-After`,
at 20 requests/s so the run takes minutes; the app paces itself to the same rate) and
gives 30% of ADT calls a fault besides: 429 with `Retry-After: 1` or `retry-after-ms`,
500, 503, dropped connections, answers slower than the read timeout, and cancels that take
effect but answer 500. The messages come from every kind of producer (plain text,
`TextBase64EncodePolicy`, `BinaryBase64EncodePolicy`, about a third each) and include bare
ids (15%), duplicates (10%), unknown jobs, finished jobs, invalid ids, broken JSON and text
that is neither JSON nor an id."""
VARIATION = ("The seed fixes the messages and the order of the faults, not the timing: results and "
             "records repeat from run to run, while faults, calls, redeliveries and seconds may vary a little.")


def write_page(report: SoakReport, args: argparse.Namespace) -> None:
    """docs/soak.md from this run: what it ran, on what, and the counts."""
    from datetime import UTC, datetime

    from devtools.bench import machine

    verdict = "every message accounted for exactly once" if report.ok else "FAILED: see the counts"
    SOAK_PAGE.write_text(
        "# Soak\n\n" + WHAT_IT_RUNS + "\n\n"
        + f"Run {datetime.now(UTC):%Y-%m-%d} on {machine()}: `python -m devtools.soak --messages {args.messages}"
        + f" --seed {args.seed} --chaos-rate {args.chaos_rate:g}`; {verdict}.\n\n"
        + report.table() + "\n\n" + VARIATION + "\n",
        encoding="utf-8",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--chaos-rate", type=float, default=0.3, help="share of ADT requests given a fault")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/soak.md alone")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    with AdtEmulator() as emulator, Azurite() as azurite:
        os.environ.update({**emulator.environment(), **SOAK_SETTINGS})
        report = run_soak(emulator, azurite, args.messages, seed=args.seed, chaos_rate=args.chaos_rate)
    print(report.table())
    print("\nOK: every message accounted for exactly once" if report.ok else "\nFAILED: see the counts above")
    if not args.no_write:
        write_page(report, args)
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
