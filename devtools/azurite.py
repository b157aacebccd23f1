"""Azurite's queue service on a free loopback port, started and stopped by PID.

Uses the Azurite pinned in package.json (``npm ci`` installs it under node_modules).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient, QueueServiceClient

from cancel_job.contract import ALL_QUEUES
from cancel_job.messages import read_queue_json

REPO_ROOT = Path(__file__).resolve().parent.parent
AZURITE_QUEUE_MAIN = REPO_ROOT / "node_modules" / "azurite" / "dist" / "src" / "queue" / "main.js"
# Azurite's well-known development account (public, documented; not a secret).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Azurite:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_loopback_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._workspace: str | None = None

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"QueueEndpoint=http://127.0.0.1:{self.port}/{ACCOUNT};"
        )

    def start(self, timeout: float = 30.0) -> Azurite:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("Node.js is needed for Azurite; install Node 20 or later")
        if not AZURITE_QUEUE_MAIN.exists():
            raise RuntimeError("Azurite is not installed; run `npm ci` in the repository root")
        # In-memory persistence, but Azurite still writes its debug/extent files in cwd.
        self._workspace = tempfile.mkdtemp(prefix="azurite-")
        self._process = subprocess.Popen(
            [node, str(AZURITE_QUEUE_MAIN), "--queueHost", "127.0.0.1", "--queuePort", str(self.port),
             "--skipApiVersionCheck", "--inMemoryPersistence", "--disableTelemetry", "--silent"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self._workspace,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
                raise RuntimeError(f"Azurite exited with {self._process.returncode}: {err[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Azurite did not listen on port {self.port} within {timeout} s")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if process is not None and process.stderr:
            process.stderr.close()
        if self._workspace:
            shutil.rmtree(self._workspace, ignore_errors=True)
            self._workspace = None

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def drain_queue(connection_string: str, queue: str) -> list[str]:
    """Receive and delete every visible message; returns their contents as stored."""
    client = QueueClient.from_connection_string(connection_string, queue)
    found: list[str] = []
    while batch := list(client.receive_messages(max_messages=32)):
        for message in batch:
            found.append(message.content)
            client.delete_message(message)
    return found


def decode_json(content: str) -> Any:
    """A results or failures message: plain JSON, or base64 JSON written before the upgrade
    to ``messageEncoding: none`` (the app's own reader, so the two cannot drift apart)."""
    return read_queue_json(content)


def create_queues(connection_string: str, names: tuple[str, ...] = ALL_QUEUES) -> None:
    service = QueueServiceClient.from_connection_string(connection_string)
    for name in names:
        try:
            service.create_queue(name)
        except ResourceExistsError:
            pass
