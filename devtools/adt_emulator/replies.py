"""The emulator's HTTP plumbing: its server, and the replies every route sends."""

from __future__ import annotations

import json
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

from cancel_job import assumptions
from cancel_job.contract import ERROR_CODE_HEADER
from cancel_job.trace import new_span_id, new_trace_parent, parse_traceparent
from devtools.loopback import NoDelayServer

from .state import SPEC_ANSWERS, EmulatorState, RecordedRequest


class _Server(NoDelayServer):
    request_queue_size = 128
    state: EmulatorState

    def get_request(self):
        conn, addr = super().get_request()
        with self.state.lock:
            self.state.connections += 1
        return conn, addr


class Replies(BaseHTTPRequestHandler):
    """What every route shares: one write per answer (headers and body together, so no
    Nagle delay), the error shape, the correlation headers of an Import Jobs answer."""

    protocol_version = "HTTP/1.1"
    server: _Server
    _recorded: RecordedRequest | None = None

    def log_message(self, format: str, *args: Any) -> None:
        pass

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

    def _not_found(self, job_id: str) -> None:
        message = f"The import job {job_id!r} was not found."
        if self.server.state.config.answers == SPEC_ANSWERS:
            return self._error(404, assumptions.SPEC_JOB_NOT_FOUND_CODE, message)
        self._error(404, assumptions.JOB_NOT_FOUND_CODE, message, code_header=False)
