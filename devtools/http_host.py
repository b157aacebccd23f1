"""A local stand-in for the Functions host's HTTP front end (no Core Tools here).

It serves ``function_app``'s HTTP functions on a loopback port the way the host does:

- routes under host.json's ``routePrefix`` (``api``), from each function's httpTrigger
  binding, matched as ASP.NET Core routing matches them: literal segments in any case,
  on the path as Kestrel decodes it (every escape but ``%2F``, which stays encoded in a
  route value);
- App Service authentication in front, before routing, as the platform runs it
  (``devtools/easy_auth.py``): an Entra token from an allowed caller, else 401 (empty body,
  no content type) or 403; the caller's ``X-MS-CLIENT-PRINCIPAL*`` headers are replaced by
  the validated caller's. The functions are anonymous at the host, as deployed;
- 404 (empty) for a path no function serves, and for a method its function does not take;
- the invocation's trace context continues the caller's ``traceparent`` with a span of
  its own, as the host's request span does, else starts a new trace;
- queue output bindings written as plain text (``messageEncoding: none``) to the storage
  queues of ``STORAGE_CONNECTION`` (Azurite locally).

    python -m devtools.http_host --port 7071

It starts a local Entra stand-in (``devtools/entra.py``) and prints the URL and a token of an
allowed caller; then ``curl -X POST -H "Authorization: Bearer $TOKEN"
http://127.0.0.1:7071/api/jobs/imports/JOB/cancel``. It reads the app's settings from the
environment, as the host reads app settings.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, unquote

import azure.functions as func

from cancel_job.contract import STORAGE_CONNECTION
from cancel_job.hostconfig import http_route_prefix
from cancel_job.trace import new_span_id, parse_traceparent
from devtools.easy_auth import EasyAuth, local_easy_auth, without_principal_headers
from devtools.entra import LOCAL_TOKEN_LIFETIME_SECONDS, LocalEntra
from devtools.loopback import BackgroundServer, NoDelayServer, QuietHandler
from devtools.queue_pump import HostContext, OutBinding, indexed_functions


@dataclass
class HttpFunction:
    """One HTTP-triggered function, with what its bindings say."""

    name: str
    pattern: re.Pattern[str]
    methods: frozenset[str]
    user_function: Callable[..., Any]
    outputs: dict[str, str]  # argument name -> queue name

    @classmethod
    def all_of(cls, app: func.FunctionApp, prefix: str) -> list[HttpFunction]:
        found = []
        for name, fn in indexed_functions(app).items():
            bindings = json.loads(fn.get_function_json())["bindings"]
            trigger = next((b for b in bindings if b["type"] == "httpTrigger"), None)
            if trigger is None:
                continue
            found.append(
                cls(
                    name=name,
                    pattern=_route_pattern(f"{prefix}/{trigger['route']}" if prefix else trigger["route"]),
                    methods=frozenset(m.upper() for m in trigger.get("methods") or ["GET", "POST"]),
                    user_function=fn.get_user_function(),
                    outputs={
                        b["name"]: b["queueName"]
                        for b in bindings
                        if b["type"] == "queue" and b["direction"].lower() == "out"
                    },
                )
            )
        return found


def _route_pattern(template: str) -> re.Pattern[str]:
    """``jobs/imports/{id}/cancel`` -> a pattern over the decoded path, one segment per
    parameter; literal segments match in any case, as ASP.NET Core routing matches them."""
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
    return re.compile(f"/{regex}/?", re.IGNORECASE)


_ENCODED_SLASH = re.compile(r"(%2[fF])")


def decode_path(raw: str) -> str:
    """The path as Kestrel decodes it: every escape but ``%2F``, which would change the
    path's segments, so it stays encoded (and reaches a route value as ``%2F``)."""
    return "".join(part if i % 2 else unquote(part) for i, part in enumerate(_ENCODED_SLASH.split(raw)))


class LocalHttpHost(BackgroundServer):
    """The host's HTTP front end for ``app`` on a loopback port, in a background thread."""

    thread_name = "http-host"

    def __init__(
        self,
        app: func.FunctionApp,
        *,
        auth: EasyAuth,
        host: str = "127.0.0.1",
        port: int = 0,
        storage_connection: str | None = None,
    ) -> None:
        self.auth = auth
        self.functions = HttpFunction.all_of(app, http_route_prefix())
        self.storage_connection = storage_connection or os.environ.get(STORAGE_CONNECTION)
        self._queues: dict[str, Any] = {}
        self._queues_lock = threading.Lock()
        self._server = _Server((host, port), _Handler)
        self._server.owner = self

    def write_output(self, queue_name: str, text: str) -> None:
        """A queue output binding: plain text, as the host writes it under messageEncoding none."""
        if not self.storage_connection:
            raise RuntimeError(f"an output binding needs {STORAGE_CONNECTION}")
        from azure.storage.queue import QueueClient

        with self._queues_lock:
            client = self._queues.get(queue_name)
            if client is None:
                client = QueueClient.from_connection_string(self.storage_connection, queue_name)
                self._queues[queue_name] = client
        client.send_message(text)


class _Server(NoDelayServer):
    owner: LocalHttpHost


class _Handler(QuietHandler):
    server: _Server

    def __getattr__(self, name: str) -> Callable[[], None]:
        # Every method (TRACE and the like included) goes through _serve: the host answers
        # 404 for a method no route serves, never http.server's own 501 page.
        if name.startswith("do_"):
            return lambda: self._serve(name[3:].upper())
        raise AttributeError(name)

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Status"
        lines = [f"HTTP/1.1 {status} {phrase}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items() if name.lower() != "content-length"]
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def _serve(self, method: str) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        decision = owner.auth.decide(self.headers)  # the platform's check comes before the host
        if decision.status != 200:
            return self._reply(decision.status)
        raw_path, _, query = self.path.partition("?")
        path = decode_path(raw_path)
        match = None
        for function in owner.functions:
            match = function.pattern.fullmatch(path)
            if match:
                break
        if match is None or method not in function.methods:
            return self._reply(404)
        params = dict(parse_qsl(query, keep_blank_values=True))
        host_header = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        request = func.HttpRequest(
            method,
            f"http://{host_header}{self.path}",
            headers=without_principal_headers(dict(self.headers.items())) | decision.principal_headers,
            params=params,
            route_params=match.groupdict(),
            body=body,
        )
        outputs = {arg: OutBinding() for arg in function.outputs}
        try:
            response = function.user_function(
                req=request, context=HostContext(function.name, _host_trace(self)), **outputs
            )
            for arg, out in outputs.items():
                if out.get() is not None:
                    owner.write_output(function.outputs[arg], out.get())
        except Exception:  # the host answers 500 for a function that raised
            return self._reply(500)
        headers = dict(response.headers)
        if response.mimetype and "content-type" not in {h.lower() for h in headers}:
            headers["Content-Type"] = response.mimetype
        self._reply(response.status_code, response.get_body() or b"", headers)


def _host_trace(handler: BaseHTTPRequestHandler) -> str | None:
    """The host's request span continues a valid caller traceparent (a new span id)."""
    caller = parse_traceparent(handler.headers.get("traceparent"))
    if caller is None:
        return None
    return f"00-{caller.trace_id}-{new_span_id()}-{caller.flags}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7071, help="port (default 7071, as func start)")
    args = parser.parse_args(argv)
    import function_app

    with LocalEntra() as entra:
        host = LocalHttpHost(function_app.app, auth=local_easy_auth(entra), host=args.host, port=args.port)
        token = entra.token(lifetime_seconds=LOCAL_TOKEN_LIFETIME_SECONDS)
        print(json.dumps({"url": f"{host.base_url}/{http_route_prefix()}", "token": token}), flush=True)
        host.serve_until_interrupted()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
