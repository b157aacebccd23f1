"""Azurite's queue and blob services on free loopback ports, started and stopped by PID.

Each service runs in a process of its own (the blob service holds the fleet's shared
pacing records). Uses the Azurite pinned in package.json (``npm ci`` installs it under
node_modules).
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
AZURITE_DIST = REPO_ROOT / "node_modules" / "azurite" / "dist" / "src"
AZURITE_QUEUE_MAIN = AZURITE_DIST / "queue" / "main.js"
AZURITE_BLOB_MAIN = AZURITE_DIST / "blob" / "main.js"
# Azurite's well-known development account (public, documented; not a secret).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Azurite:
    """``persistent``: data in a temporary folder instead of memory, so that :meth:`outage`
    can stop the services and start them again with their data kept."""

    def __init__(self, port: int | None = None, blob_port: int | None = None, *, persistent: bool = False) -> None:
        self.port = port or free_loopback_port()
        self.blob_port = blob_port or free_loopback_port()
        self.persistent = persistent
        self._processes: list[subprocess.Popen[bytes]] = []
        self._workspace: str | None = None

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"QueueEndpoint=http://127.0.0.1:{self.port}/{ACCOUNT};"
            f"BlobEndpoint=http://127.0.0.1:{self.blob_port}/{ACCOUNT};"
        )

    def start(self, timeout: float = 30.0) -> Azurite:
        if shutil.which("node") is None:
            raise RuntimeError("Node.js is needed for Azurite; install Node 20 or later")
        if not AZURITE_QUEUE_MAIN.exists() or not AZURITE_BLOB_MAIN.exists():
            raise RuntimeError("Azurite is not installed; run `npm ci` in the repository root")
        # In memory, Azurite still writes its debug/extent files in cwd; persistent, its data.
        self._workspace = tempfile.mkdtemp(prefix="azurite-")
        self._start_services(timeout)
        return self

    def outage(self, seconds: float, timeout: float = 30.0) -> float:
        """Stop both services for ``seconds``, then start them again on the same ports with
        their data; returns how long they were unreachable."""
        if not self.persistent:
            raise RuntimeError("an outage keeps the data only with persistent=True")
        started = time.monotonic()
        self._stop_services()
        time.sleep(seconds)
        self._start_services(timeout)
        return time.monotonic() - started

    def _start_services(self, timeout: float) -> None:
        node = shutil.which("node") or "node"
        storage = ["--location", self._workspace] if self.persistent and self._workspace else ["--inMemoryPersistence"]
        common = ["--skipApiVersionCheck", *storage, "--disableTelemetry", "--silent"]
        services = [
            (AZURITE_QUEUE_MAIN, ["--queueHost", "127.0.0.1", "--queuePort", str(self.port)], self.port),
            (AZURITE_BLOB_MAIN, ["--blobHost", "127.0.0.1", "--blobPort", str(self.blob_port)], self.blob_port),
        ]
        for main, listen, _ in services:
            self._processes.append(
                subprocess.Popen(
                    [node, str(main), *listen, *common],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    cwd=self._workspace,
                )
            )
        try:
            for process, (_, _, port) in zip(self._processes, services, strict=True):
                _wait_listening(process, port, time.monotonic() + timeout)
        except RuntimeError:
            self.stop()
            raise

    def stop(self) -> None:
        self._stop_services()
        if self._workspace:
            shutil.rmtree(self._workspace, ignore_errors=True)
            self._workspace = None

    def _stop_services(self) -> None:
        processes, self._processes = self._processes, []
        for process in processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
            if process.stderr:
                process.stderr.close()

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _wait_listening(process: subprocess.Popen[bytes], port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"Azurite exited with {process.returncode}: {err[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"Azurite did not listen on port {port} in time")


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
