"""The emulator's request handler, which routes each request to the Import Jobs API, the
identity endpoint or the control routes, and :class:`AdtEmulator`, which runs it."""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any
from urllib.parse import SplitResult, parse_qs, urlsplit

from cancel_job import assumptions
from cancel_job.contract import ADT_API_VERSION
from devtools.loopback import BackgroundServer

from .control import ADMIN_PREFIX, ControlRoutes
from .identity import IDENTITY_PATH, IdentityEndpoint
from .jobs_api import JobsApi
from .replies import _Server
from .state import EmulatorState, Fault, Job, RecordedRequest


class _Handler(JobsApi, IdentityEndpoint, ControlRoutes):
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        self._recorded = None
        body = self._body()
        parts = urlsplit(self.path)
        self._count_connection(parts.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        if parts.path.startswith(ADMIN_PREFIX):
            return self._admin(method, parts.path[len(ADMIN_PREFIX) :], body)
        if parts.path == IDENTITY_PATH and method == "GET":
            return self._with_fault("token", None, lambda: self._token(query))
        self._serve_jobs_api(method, parts, query, body)

    def _count_connection(self, path: str) -> None:
        """Count the connection by its first request (one handler per TCP connection)."""
        if hasattr(self, "_connection_kind"):
            return
        self._connection_kind = (
            "control" if path.startswith(ADMIN_PREFIX) else "identity" if path == IDENTITY_PATH else "adt"
        )
        with self.server.state.lock:
            self.server.state.connections_by_kind[self._connection_kind] += 1

    def _serve_jobs_api(self, method: str, parts: SplitResult, query: dict[str, list[str]], body: bytes) -> None:
        """Record the request, then answer it as ADT does: path, token, api-version and the
        instance's rate limit are checked in that order."""
        state = self.server.state
        authorized = self._record(method, parts)
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

    def _record(self, method: str, parts: SplitResult) -> bool:
        """Record an Import Jobs request (never its Authorization); is its token one we issued?"""
        state = self.server.state
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
        return authorized


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
