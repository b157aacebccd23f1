"""Processes of a fleet for tests: each a devtools.fleet_worker, driven over its pipes."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


class FleetProcess:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devtools.fleet_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            encoding="utf-8",
            cwd=REPO_ROOT,
            env={**env, "PYTHONPATH": str(REPO_ROOT)},
        )
        # Lines are read from the descriptor into this buffer: a buffered reader would take
        # several answers at once and leave select() waiting for ones it already holds.
        self._pending = b""
        self._selector = selectors.DefaultSelector()
        assert self.process.stdout is not None
        self._selector.register(self.process.stdout, selectors.EVENT_READ)

    def send(self, op: str, **fields: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.process.stdin.flush()

    def receive(self, timeout: float = 60.0) -> dict[str, Any]:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._pending:
            if not self._selector.select(max(0.0, deadline - time.monotonic())):
                raise AssertionError(f"no answer within {timeout} s; stderr:\n{self.logs()[-3000:]}")
            chunk = os.read(self.process.stdout.fileno(), 65536)
            if not chunk:
                raise AssertionError(f"the process ended; stderr:\n{self.logs()[-3000:]}")
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        return json.loads(line)

    def ask(self, op: str, timeout: float = 60.0, **fields: Any) -> dict[str, Any]:
        self.send(op, **fields)
        return self.receive(timeout)

    def invoke(self, body: str, timeout: float = 60.0) -> dict[str, Any]:
        return self.ask("invoke", timeout, body=body)

    def logs(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        if self.process.stdout:
            self.process.stdout.close()
        self._selector.close()
        self._stderr.close()


@contextmanager
def fleet(count: int, settings: Mapping[str, str]) -> Iterator[list[FleetProcess]]:
    """``count`` processes of the app with ``settings`` over this environment, all ready."""
    env = {**os.environ, **settings}
    processes = [FleetProcess(env) for _ in range(count)]
    try:
        for process in processes:
            assert process.receive(timeout=120) == {"ready": True}
        yield processes
    finally:
        for process in processes:
            process.close()
