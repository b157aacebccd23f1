"""The ADT emulator in a process of its own, controlled over its HTTP control routes.

Benchmarks and fleet runs use it so that the emulator does not share a GIL with what it
measures.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys

import requests

from devtools.azurite import REPO_ROOT, free_loopback_port


class EmulatorProcess:
    """The emulator in its own process. Throttling is off unless asked for: most rows
    measure the function's own overhead, which ADT's rate limit would hide."""

    def __init__(self, throttle_rate: float = 0.0) -> None:
        self.port = free_loopback_port()
        self.identity_header = secrets.token_urlsafe(24)
        self.throttle_rate = throttle_rate
        self.process: subprocess.Popen[str] | None = None
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> EmulatorProcess:
        self.process = subprocess.Popen(
            # "--name=value": a token_urlsafe value may start with "-", which argparse
            # would take for an option if it were a separate argument.
            [
                sys.executable,
                "-m",
                "devtools.adt_emulator",
                f"--port={self.port}",
                f"--identity-header={self.identity_header}",
                f"--throttle-rate={self.throttle_rate}",
            ],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.environment = json.loads(self.process.stdout.readline())
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process.stdout.close()

    def control(self, path: str, body: object = None) -> dict:
        url = f"{self.endpoint}/_emulator/{path}"
        answer = requests.post(url, json=body, timeout=30) if body is not None else requests.get(url, timeout=30)
        answer.raise_for_status()
        return answer.json() if answer.content else {}

    def seed(self, prefix: str, count: int) -> list[str]:
        self.control("seed", {"prefix": prefix, "count": count, "status": "running"})
        return [f"{prefix}{i}" for i in range(count)]
