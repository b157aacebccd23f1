"""The emulator's model: jobs, faults, recorded requests, its configuration and its state."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cancel_job import assumptions


def _timestamp(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0+00:00")


@dataclass
class Fault:
    """Answer the next ``times`` matching requests differently.

    ``op`` is cancel, get, list, put, delete, token or any. With ``after_effect`` the
    real operation runs first (a cancel that takes effect but answers 500). ``drop``
    closes the connection without an answer; ``delay`` waits before answering.
    """

    op: str = "any"
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0
    drop: bool = False
    after_effect: bool = False
    times: int = 1
    job_id: str | None = None

    def matches(self, op: str, job_id: str | None) -> bool:
        return self.times > 0 and self.op in (op, "any") and self.job_id in (None, job_id)


@dataclass
class Job:
    id: str
    input_blob_uri: str
    output_blob_uri: str
    status: str
    created: float
    last_action: float
    finished: float | None = None
    cancel_requested: float | None = None  # when a cancel was accepted (service answers)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "inputBlobUri": self.input_blob_uri,
            "outputBlobUri": self.output_blob_uri,
            "status": self.status,
            "createdDateTime": _timestamp(self.created),
            "lastActionDateTime": _timestamp(self.last_action),
            "purgeDateTime": _timestamp(self.created + timedelta(days=30).total_seconds()),
        }
        if self.finished is not None:
            body["finishedDateTime"] = _timestamp(self.finished)
        return body


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # without Authorization
    authorized: bool
    at: float
    correlation_id: str = ""  # the mise-correlation-id of the answer
    status: int = 0  # the answer's status (0: none was sent)


SERVICE_ANSWERS = "service"  # what the real service does (the default)
SPEC_ANSWERS = "spec"  # what the 2023-10-31 spec says


@dataclass
class EmulatorConfig:
    answers: str = SERVICE_ANSWERS
    start_delay: float = 0.0  # notstarted -> running
    run_duration: float | None = None  # running -> succeeded; None: runs until cancelled
    cancel_accept_delay: float = 1.0  # service answers: a cancelled job stays as it was this long
    cancel_duration: float = 1.0  # cancelling -> cancelled
    # Throttling: a token bucket per instance. 0 turns it off. Retry-After is drawn from the
    # range, sent in whole seconds when the range allows it, else as retry-after-ms (for
    # scaled-up benchmarks). A request up to ``throttle_tolerance`` seconds early is let
    # through, so loopback scheduling jitter does not count as a burst.
    throttle_rate: float = assumptions.JOBS_REQUESTS_PER_SECOND
    throttle_burst: float = 1.0
    throttle_retry_after: tuple[float, float] = assumptions.THROTTLE_RETRY_AFTER_SECONDS
    throttle_tolerance: float = 0.01
    latency: float = 0.0  # added to every answer
    max_jobs: int = 10_000
    page_size: int = 50
    # Random faults for soak tests: the share of ADT requests (cancel, get) that get one.
    chaos_rate: float = 0.0
    chaos_slow_seconds: float = 1.0  # a "slow answer": longer than the client's read timeout
    chaos_seed: int | None = None


def chaos_fault(rng: random.Random, slow_seconds: float) -> Fault:
    """One fault of the kinds a soak mixes: throttling, 5xx, drops, slowness, and
    cancels that take effect but answer 500."""
    kind = rng.choice(["429", "429ms", "500", "503", "drop", "slow", "effect500"])
    return {
        "429": Fault(status=429, headers={"Retry-After": "1"}),  # ADT's own shape: no code
        "429ms": Fault(status=429, headers={"retry-after-ms": "50"}),
        "500": Fault(status=500),
        "503": Fault(status=503),
        "drop": Fault(drop=True),
        "slow": Fault(delay=slow_seconds),
        "effect500": Fault(status=500, after_effect=True),
    }[kind]


class EmulatorState:
    def __init__(self, identity_header: str) -> None:
        # Re-entrant: answers are counted under it, and some are sent while it is held.
        self.lock = threading.RLock()
        self.identity_header = identity_header
        self.config = EmulatorConfig()
        self.jobs: dict[str, Job] = {}
        self.tokens: dict[str, str | None] = {}  # token -> client id
        self.token_requests = 0
        self.connections = 0
        self.connections_by_kind: Counter[str] = Counter()  # adt, identity, control: by first request
        self.requests: deque[RecordedRequest] = deque(maxlen=100_000)
        self.faults: list[Fault] = []
        self.cancels_applied = 0
        self.chaos_rng = random.Random()
        self.faults_injected = 0
        self.throttle_rng = random.Random()
        self.bucket_tokens = 0.0
        self.bucket_time = float("-inf")
        self.adt_answers: Counter[int] = Counter()  # status -> count, Import Jobs API only
        self.throttled = 0  # 429s from the token bucket (not injected faults)

    def reset(self) -> None:
        """Forget jobs, faults, requests, counters and configuration."""
        with self.lock:
            self.jobs.clear()
            self.faults.clear()
            self.requests.clear()
            self.config = EmulatorConfig()
            self.cancels_applied = 0
            self.faults_injected = 0
            self.adt_answers.clear()
            self.throttled = 0
            self.bucket_tokens, self.bucket_time = 0.0, float("-inf")

    def set_status(self, job_id: str, status: str) -> bool:
        """Move a job to ``status`` now (a job that ends on its own, say); False if unknown."""
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None:
                return False
            job.status, job.last_action, job.cancel_requested = status, time.time(), None
            if status in assumptions.NOTHING_TO_CANCEL_STATUSES:
                job.finished = job.last_action
            return True

    def admit(self, now: float) -> float | None:
        """The token bucket: None to let the request through, else the Retry-After to send."""
        cfg = self.config
        if not cfg.throttle_rate:
            return None
        self.bucket_tokens = min(cfg.throttle_burst, self.bucket_tokens + (now - self.bucket_time) * cfg.throttle_rate)
        self.bucket_time = now
        if self.bucket_tokens + cfg.throttle_tolerance * cfg.throttle_rate >= 1.0:
            self.bucket_tokens -= 1.0
            return None
        self.throttled += 1
        low, high = cfg.throttle_retry_after
        if low >= 1 and float(low).is_integer() and float(high).is_integer():
            return float(self.throttle_rng.randint(int(low), int(high)))
        return round(self.throttle_rng.uniform(low, high), 3)

    def advance(self, job: Job, now: float) -> None:
        """Move a job along its life cycle according to the elapsed time."""
        cfg = self.config
        if (
            job.cancel_requested is not None
            and job.status in assumptions.CANCELLABLE_STATUSES
            and now - job.cancel_requested >= cfg.cancel_accept_delay
        ):
            job.status, job.last_action = "cancelling", job.cancel_requested + cfg.cancel_accept_delay
        if job.status == "notstarted" and now - job.last_action >= cfg.start_delay:
            job.status, job.last_action = "running", job.last_action + cfg.start_delay
        if job.status == "running" and cfg.run_duration is not None and now - job.last_action >= cfg.run_duration:
            job.status = "succeeded"
            job.last_action = job.finished = job.last_action + cfg.run_duration
        if job.status == "cancelling" and now - job.last_action >= cfg.cancel_duration:
            # The real service leaves finishedDateTime out of a cancelled job.
            job.status, job.last_action = "cancelled", job.last_action + cfg.cancel_duration

    def take_fault(self, op: str, job_id: str | None) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(op, job_id):
                    fault.times -= 1
                    self.faults_injected += 1
                    return fault
            if op in ("cancel", "get") and self.config.chaos_rate and self.chaos_rng.random() < self.config.chaos_rate:
                self.faults_injected += 1
                return chaos_fault(self.chaos_rng, self.config.chaos_slow_seconds)
        return None
