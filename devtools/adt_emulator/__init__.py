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

One module per thing it serves: ``jobs_api`` (the Import Jobs API), ``identity`` (the
token endpoint), ``control`` (the ``/_emulator/`` routes), over ``replies`` (the answers'
shape and the server) and ``state`` (jobs, faults, configuration); ``server`` routes a
request to one of them and runs them all.
"""

from __future__ import annotations

import argparse
import json

from cancel_job import assumptions

from .control import ADMIN_PREFIX
from .identity import IDENTITY_API_VERSION, IDENTITY_PATH, TOKEN_LIFETIME_SECONDS
from .server import AdtEmulator
from .state import SERVICE_ANSWERS, SPEC_ANSWERS, EmulatorConfig, Fault, Job, RecordedRequest

__all__ = [
    "ADMIN_PREFIX",
    "IDENTITY_API_VERSION",
    "IDENTITY_PATH",
    "SERVICE_ANSWERS",
    "SPEC_ANSWERS",
    "TOKEN_LIFETIME_SECONDS",
    "AdtEmulator",
    "EmulatorConfig",
    "Fault",
    "Job",
    "RecordedRequest",
    "main",
]


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
