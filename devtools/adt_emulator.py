"""A local ADT Import Jobs API (2023-10-31) and App Service managed-identity endpoint.

For tests, the demo and benchmarks only; it listens on loopback. By default it answers as
the real service does (cancel_job/assumptions.py): a cancel answers 200 with the job as it
was, and the job moves to ``cancelling`` and ``cancelled`` later; an unknown job is 404
``JobNotFound`` with no ``x-ms-error-code``; every answer carries ``mise-correlation-id``
and ``traceresponse``; requests beyond a token bucket per instance get 429 with
``Retry-After``. ``answers="spec"`` switches to the spec's answers (400 ``ValidationFailed``
for a job that cannot be cancelled, 404 ``ImportJobNotFound``). Its answers' bodies are
validated against the official spec in the tests. It keeps the job life cycle, records
what it received, counts tokens and TCP connections, and injects faults on request.

    python -m devtools.adt_emulator --port 8710

Control it in-process through :class:`AdtEmulator`, or over HTTP under ``/_emulator/``.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import re
import secrets
import socket
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cancel_job import assumptions
from cancel_job.contract import ADT_API_VERSION, ADT_TOKEN_SCOPE, ERROR_CODE_HEADER
from cancel_job.trace import new_span_id, new_trace_parent, parse_traceparent
from devtools.loopback import BackgroundServer, NoDelayServer

IDENTITY_PATH = "/msi/token"
IDENTITY_API_VERSION = "2019-08-01"
ADMIN_PREFIX = "/_emulator/"
_JOB_PATH = re.compile(r"/jobs/imports/([^/]+)(/cancel)?")
_RESOURCE = ADT_TOKEN_SCOPE.removesuffix("/.default")
TOKEN_LIFETIME_SECONDS = 3600


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


class _Server(NoDelayServer):
    request_queue_size = 128
    state: EmulatorState

    def get_request(self):
        conn, addr = super().get_request()
        with self.state.lock:
            self.state.connections += 1
        return conn, addr


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- plumbing -------------------------------------------------------------------
    def _reply(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        payload = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Status"
        lines = [f"HTTP/1.1 {status} {phrase}"]
        all_headers = {"Content-Length": str(len(payload))}
        if payload:
            all_headers["Content-Type"] = "application/json; charset=utf-8"
        recorded = getattr(self, "_recorded", None)
        if recorded is not None:  # an Import Jobs answer: the service's correlation headers
            all_headers[assumptions.CORRELATION_HEADER] = recorded.correlation_id
            all_headers[assumptions.TRACE_RESPONSE_HEADER] = self._trace_response()
            recorded.status = status
            with self.server.state.lock:
                self.server.state.adt_answers[status] += 1
        all_headers.update(headers or {})
        lines += [f"{k}: {v}" for k, v in all_headers.items()]
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)

    def _error(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None, *, code_header: bool = True
    ) -> None:
        extra = {ERROR_CODE_HEADER: code} if code_header else {}
        self._reply(status, {"error": {"code": code, "message": message}}, {**extra, **(headers or {})})

    def _trace_response(self) -> str:
        """W3C traceresponse: the caller's trace id (a new one without a valid traceparent)."""
        parent = parse_traceparent(self.headers.get("traceparent"))
        if parent is None:
            parent = new_trace_parent()
        return f"00-{parent.trace_id}-{new_span_id()}-{parent.flags}"

    def _throttled(self, retry_after: float) -> None:
        """ADT's 429: Retry-After, and a body with a statusCode but no code (no header either)."""
        whole = retry_after.is_integer()
        header = {"Retry-After": str(int(retry_after))} if whole else {"retry-after-ms": str(int(retry_after * 1000))}
        message = f"Rate limit is exceeded. Try again in {retry_after:g} seconds."
        self._reply(429, {"error": {"statusCode": 429, "message": message}}, header)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -- routing --------------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        state = self.server.state
        self._recorded = None
        body = self._body()
        parts = urlsplit(self.path)
        if not hasattr(self, "_connection_kind"):  # one handler per TCP connection
            self._connection_kind = (
                "control"
                if parts.path.startswith(ADMIN_PREFIX)
                else "identity"
                if parts.path == IDENTITY_PATH
                else "adt"
            )
            with state.lock:
                state.connections_by_kind[self._connection_kind] += 1
        query = parse_qs(parts.query, keep_blank_values=True)
        if parts.path.startswith(ADMIN_PREFIX):
            return self._admin(method, parts.path[len(ADMIN_PREFIX) :], body)
        if parts.path == IDENTITY_PATH and method == "GET":
            return self._with_fault("token", None, lambda: self._token(query))
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        authorized = token is not None and token in state.tokens
        self._recorded = RecordedRequest(
            method,
            parts.path,
            parts.query,
            {k.lower(): v for k, v in self.headers.items() if k.lower() != "authorization"},
            authorized,
            time.time(),
            str(uuid.uuid4()),
        )
        with state.lock:
            state.requests.append(self._recorded)
        if state.config.latency:
            time.sleep(state.config.latency)
        op, job_id = self._operation(method, parts.path)
        if op is None:
            return self._error(404, "NotFound", "No such path in the Import Jobs API.")
        if not authorized:
            return self._error(
                401,
                "Unauthorized",
                "A valid bearer token is required.",
                {"WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/"'},
            )
        if query.get("api-version") != [ADT_API_VERSION]:
            if "api-version" not in query:
                return self._error(400, "MissingApiVersionParameter", "The api-version query parameter is required.")
            return self._error(400, "UnsupportedApiVersionParameter", "Only api-version 2023-10-31 is served here.")
        with state.lock:
            retry_after = state.admit(time.monotonic())
        if retry_after is not None:
            return self._throttled(retry_after)
        handlers = {
            "cancel": lambda: self._cancel(job_id),
            "get": lambda: self._get(job_id),
            "put": lambda: self._put(job_id, body),
            "delete": lambda: self._delete(job_id),
            "list": lambda: self._list(query),
        }
        self._with_fault(op, job_id, handlers[op])

    @staticmethod
    def _operation(method: str, path: str) -> tuple[str | None, str | None]:
        if path == "/jobs/imports":
            return ("list" if method == "GET" else None), None
        match = _JOB_PATH.fullmatch(path)
        if match is None:
            return None, None
        job_id, cancel = match.groups()
        if cancel:
            return ("cancel" if method == "POST" else None), job_id
        return {"GET": "get", "PUT": "put", "DELETE": "delete"}.get(method), job_id

    def _with_fault(self, op: str, job_id: str | None, action) -> None:
        fault = self.server.state.take_fault(op, job_id)
        if fault is None:
            return action()
        if fault.after_effect:
            _run_discarding(self, action)
        if fault.delay:
            time.sleep(fault.delay)
        if fault.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault.status is None:
            return action()
        body = fault.body
        if body is None and fault.status == 429 and ERROR_CODE_HEADER not in fault.headers:
            retry_after = fault.headers.get("Retry-After")
            body = {"error": {"statusCode": 429, "message": "Rate limit is exceeded."}}
            if retry_after is not None:
                body["error"]["message"] += f" Try again in {retry_after} seconds."
            return self._reply(429, body, fault.headers)
        if body is None and fault.status >= 400:
            code = fault.headers.get("x-ms-error-code", f"Injected{fault.status}")
            body = {"error": {"code": code, "message": f"Injected fault {fault.status}."}}
            return self._reply(fault.status, body, {"x-ms-error-code": code, **fault.headers})
        self._reply(fault.status, body, fault.headers)

    # -- identity ---------------------------------------------------------------------
    def _token(self, query: dict[str, list[str]]) -> None:
        state = self.server.state
        if self.headers.get("X-IDENTITY-HEADER") != state.identity_header:
            return self._reply(401, {"error": "invalid_request", "error_description": "Wrong X-IDENTITY-HEADER."})
        if query.get("api-version") != [IDENTITY_API_VERSION] or query.get("resource") != [_RESOURCE]:
            return self._reply(400, {"error": "invalid_resource", "error_description": "Unexpected request."})
        client_id = (query.get("client_id") or [None])[0]
        # JWT-shaped, like Entra's tokens, so redaction is tested against the real shape.
        header = _b64url({"alg": "none", "typ": "JWT"})
        claims = _b64url({"aud": _RESOURCE, "appid": client_id})
        token = f"{header}.{claims}.{secrets.token_urlsafe(24)}"
        with state.lock:
            state.token_requests += 1
            state.tokens[token] = client_id
        self._reply(
            200,
            {
                "access_token": token,
                "expires_on": str(int(time.time()) + TOKEN_LIFETIME_SECONDS),
                "resource": _RESOURCE,
                "token_type": "Bearer",
                "client_id": client_id or "system-assigned",
            },
        )

    # -- Import Jobs ------------------------------------------------------------------
    def _find(self, job_id: str) -> Job | None:
        state = self.server.state
        job = state.jobs.get(job_id)
        if job is not None:
            state.advance(job, time.time())
        return job

    def _not_found(self, job_id: str) -> None:
        message = f"The import job {job_id!r} was not found."
        if self.server.state.config.answers == SPEC_ANSWERS:
            return self._error(404, assumptions.SPEC_JOB_NOT_FOUND_CODE, message)
        self._error(404, assumptions.JOB_NOT_FOUND_CODE, message, code_header=False)

    def _cancel(self, job_id: str) -> None:
        state = self.server.state
        with state.lock:
            job = self._find(job_id)
            if job is None:
                return self._not_found(job_id)
            if state.config.answers == SPEC_ANSWERS:
                if job.status not in assumptions.CANCELLABLE_STATUSES:
                    return self._error(
                        assumptions.SPEC_CANCEL_REFUSED_STATUS,
                        assumptions.SPEC_CANCEL_REFUSED_CODE,
                        f"The import job is {job.status} and cannot be cancelled.",
                    )
                job.status, job.last_action = "cancelling", time.time()
                state.cancels_applied += 1
            elif job.status in assumptions.CANCELLABLE_STATUSES and job.cancel_requested is None:
                # The real service answers with the job as it was; the cancel acts later.
                job.cancel_requested = time.time()
                state.cancels_applied += 1
                state.advance(job, job.cancel_requested)
            body = job.to_json()
        self._reply(200, body)

    def _get(self, job_id: str) -> None:
        with self.server.state.lock:
            job = self._find(job_id)
            body = None if job is None else job.to_json()
        if body is None:
            return self._not_found(job_id)
        self._reply(200, body)

    def _put(self, job_id: str, raw: bytes) -> None:
        state = self.server.state
        try:
            document = json.loads(raw)
        except ValueError:
            document = None
        if not isinstance(document, dict) or not all(
            isinstance(document.get(k), str) and document.get(k) for k in ("inputBlobUri", "outputBlobUri")
        ):
            return self._error(400, "ValidationFailed", "inputBlobUri and outputBlobUri are required.")
        with state.lock:
            if job_id in state.jobs:
                return self._error(400, "ValidationFailed", f"An import job with id {job_id!r} already exists.")
            if len(state.jobs) >= state.config.max_jobs:
                return self._error(400, "JobLimitReached", "The maximum number of import jobs has been reached.")
            now = time.time()
            job = Job(job_id, document["inputBlobUri"], document["outputBlobUri"], "notstarted", now, now)
            state.jobs[job_id] = job
            state.advance(job, now)
            body = job.to_json()
        self._reply(201, body)

    def _delete(self, job_id: str) -> None:
        state = self.server.state
        with state.lock:
            job = self._find(job_id)
            if job is None:
                return self._not_found(job_id)
            if job.status not in assumptions.TERMINAL_STATUSES:
                return self._error(400, "ValidationFailed", f"The import job is {job.status}; cancel it first.")
            del state.jobs[job_id]
        self._reply(204)

    def _list(self, query: dict[str, list[str]]) -> None:
        state = self.server.state
        try:
            start = int((query.get("continuationToken") or ["0"])[0])
            size = int(self.headers.get("max-items-per-page") or state.config.page_size)
        except ValueError:
            return self._error(400, "ValidationFailed", "Invalid continuationToken or max-items-per-page.")
        size = max(1, min(size, state.config.page_size))
        with state.lock:
            ids = sorted(state.jobs)
            page = [self._find(i).to_json() for i in ids[start : start + size]]
        body: dict[str, Any] = {"value": page}
        if start + size < len(ids):
            host = self.headers.get("Host", f"127.0.0.1:{self.server.server_address[1]}")
            query_text = f"api-version={ADT_API_VERSION}&continuationToken={start + size}"
            body["nextLink"] = f"http://{host}/jobs/imports?{query_text}"
        self._reply(200, body)

    # -- control ----------------------------------------------------------------------
    def _admin(self, method: str, path: str, raw: bytes) -> None:
        state = self.server.state
        doc = json.loads(raw) if raw else {}
        if method == "GET" and path == "stats":
            with state.lock:
                return self._reply(
                    200,
                    {
                        "tokenRequests": state.token_requests,
                        "connections": state.connections,
                        "adtConnections": state.connections_by_kind["adt"],
                        "identityConnections": state.connections_by_kind["identity"],
                        "requests": len(state.requests),
                        "cancelsApplied": state.cancels_applied,
                        "answers": {str(status): n for status, n in sorted(state.adt_answers.items())},
                        "jobs": {k: v.to_json()["status"] for k, v in state.jobs.items()},
                    },
                )
        if method == "GET" and path == "requests":
            with state.lock:
                return self._reply(200, [asdict(r) for r in state.requests])
        if method == "POST" and path == "faults":
            with state.lock:
                state.faults.extend(Fault(**f) for f in (doc if isinstance(doc, list) else [doc]))
            return self._reply(204)
        if method == "POST" and path == "config":
            with state.lock:
                for key, value in doc.items():
                    setattr(state.config, key, value)
            return self._reply(204)
        if method == "POST" and path == "seed":
            now = time.time()
            with state.lock:
                for i in range(int(doc["count"])):
                    job_id = f"{doc.get('prefix', 'job')}{i}"
                    state.jobs[job_id] = Job(
                        job_id, "https://example/in", "https://example/out", doc.get("status", "running"), now, now
                    )
            return self._reply(204)
        if method == "POST" and path == "reset":
            state.reset()
            return self._reply(204)
        match = re.fullmatch(r"jobs/([^/]+)/status", path)
        if method == "POST" and match:
            if not state.set_status(match.group(1), doc["status"]):
                return self._not_found(match.group(1))
            return self._reply(204)
        self._error(404, "NotFound", "Unknown emulator control path.")


def _b64url(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)


def _run_discarding(handler: _Handler, action) -> None:
    real_wfile = handler.wfile
    handler.wfile = _Discard()
    try:
        action()
    finally:
        handler.wfile = real_wfile


class AdtEmulator(BackgroundServer):
    """The emulator on a loopback port, in a background thread."""

    thread_name = "adt-emulator"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        identity_header: str | None = None,
        token_authority: AdtEmulator | None = None,
    ) -> None:
        """``token_authority``: another emulator whose issued tokens this one accepts, as
        two ADT instances in one tenant accept the same identity's token."""
        self.state = EmulatorState(identity_header or secrets.token_urlsafe(24))
        if token_authority is not None:
            self.state.tokens = token_authority.state.tokens
        self._server = _Server((host, port), _Handler)
        self._server.state = self.state

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def identity_endpoint(self) -> str:
        return f"{self.endpoint}{IDENTITY_PATH}"

    @property
    def identity_header(self) -> str:
        return self.state.identity_header

    def environment(self) -> dict[str, str]:
        """The settings that point the function app at this emulator."""
        return {
            "ADT_ENDPOINT": self.endpoint,
            "IDENTITY_ENDPOINT": self.identity_endpoint,
            "IDENTITY_HEADER": self.identity_header,
        }

    # -- in-process control -------------------------------------------------------------
    def add_job(self, job_id: str, status: str = "running") -> dict[str, Any]:
        now = time.time()
        job = Job(
            job_id,
            f"https://example.blob.core.windows.net/in/{job_id}.ndjson",
            f"https://example.blob.core.windows.net/out/{job_id}.ndjson",
            status,
            now,
            now,
            now if status in assumptions.NOTHING_TO_CANCEL_STATUSES else None,
        )
        with self.state.lock:
            self.state.jobs[job_id] = job
            return job.to_json()

    def set_status(self, job_id: str, status: str) -> None:
        if not self.state.set_status(job_id, status):
            raise KeyError(job_id)

    def job_status(self, job_id: str) -> str | None:
        with self.state.lock:
            job = self.state.jobs.get(job_id)
            if job is None:
                return None
            self.state.advance(job, time.time())
            return job.status

    def inject(self, *faults: Fault) -> None:
        with self.state.lock:
            self.state.faults.extend(faults)

    def configure(self, **values: Any) -> None:
        with self.state.lock:
            for key, value in values.items():
                if not hasattr(self.state.config, key):
                    raise AttributeError(key)
                setattr(self.state.config, key, value)
            if "chaos_seed" in values:
                self.state.chaos_rng.seed(values["chaos_seed"])
                self.state.throttle_rng.seed(values["chaos_seed"])

    def reset(self) -> None:
        self.state.reset()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self.state.lock:
            return list(self.state.requests)

    @property
    def token_requests(self) -> int:
        return self.state.token_requests

    @property
    def connections(self) -> int:
        return self.state.connections

    @property
    def adt_connections(self) -> int:
        """TCP connections whose first request was to the Import Jobs API."""
        return self.state.connections_by_kind["adt"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--identity-header", help="the X-IDENTITY-HEADER secret (default: random)")
    parser.add_argument(
        "--answers",
        choices=[SERVICE_ANSWERS, SPEC_ANSWERS],
        default=SERVICE_ANSWERS,
        help="answer as the real service does (default) or as the spec says",
    )
    parser.add_argument(
        "--throttle-rate",
        type=float,
        default=assumptions.JOBS_REQUESTS_PER_SECOND,
        help="requests per second before 429 (default: ADT's 1; 0 turns throttling off)",
    )
    args = parser.parse_args(argv)
    emulator = AdtEmulator(args.host, args.port, args.identity_header)
    emulator.configure(answers=args.answers, throttle_rate=args.throttle_rate)
    print(json.dumps(emulator.environment()), flush=True)
    emulator.serve_until_interrupted()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
