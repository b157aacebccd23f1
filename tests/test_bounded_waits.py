"""Every wait on another service is bounded by the request's budget: a token fetch from an
identity endpoint that never answers, and a follow-up send to a queue service that fails."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cancel_job.entrypoints import RetryDelivery, handle_queue_message
from cancel_job.runtime import get_service, reset_service, send_later
from tests.helpers import invoke_http, wait_for

DEADLINE = 3.0
SLACK = 8.0  # "within the deadline plus a few seconds"


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A loopback port that accepts connections (the kernel's backlog) and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def test_an_identity_endpoint_that_never_answers_fails_every_caller_within_the_deadline(
    app_env, emulator, monkeypatch, silent_endpoint
) -> None:
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{silent_endpoint}/msi/token")
    monkeypatch.setenv("CANCEL_DEADLINE_SECONDS", str(DEADLINE))
    monkeypatch.setenv("ADT_READ_TIMEOUT_SECONDS", "2")
    reset_service()
    emulator.add_job("job1")
    replies: list = []
    started = time.monotonic()
    finished: list[float] = []

    def call() -> None:
        replies.append(invoke_http("job1").returned)
        finished.append(time.monotonic() - started)

    threads = [threading.Thread(target=call, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=DEADLINE + SLACK)
    assert len(replies) == 4, "a caller was still waiting for a token past its deadline"
    assert max(finished) <= DEADLINE + SLACK
    for response in replies:
        assert response.status_code == 503 and int(response.headers["Retry-After"]) >= 1
        assert response.headers["x-ms-error-code"] == "IdentityUnavailable"
    assert [r for r in emulator.requests if r.path.startswith("/jobs/")] == []
    # The fetch itself is bounded too (connect/read timeouts and one retry), so it does not
    # linger for azure-core's 300 s in the background.
    fetch = get_service().client._fetch
    wait_for(lambda: fetch.done(), timeout=2 * 2 + 1 + SLACK)
    assert fetch.exception() is not None


class _Unavailable(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_PUT(self) -> None:
        self._unavailable()

    def do_POST(self) -> None:
        self._unavailable()

    def _unavailable(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.wfile.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def unavailable_queue_service() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        yield (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
            f"QueueEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
        )
    finally:
        server.shutdown()


def test_a_follow_up_send_to_a_failing_queue_service_is_bounded(
    app_env, emulator, monkeypatch, unavailable_queue_service
) -> None:
    """azure-storage-queue's defaults took 80 s for one send against a 503; bounded, the
    delivery is handed back for a retry well within the invocation."""
    monkeypatch.setenv("STORAGE_CONNECTION", unavailable_queue_service)
    reset_service()
    emulator.add_job("job1")
    message = json.dumps({"jobId": "job1", "waitForCompletion": True}).encode()
    started = time.monotonic()
    with pytest.raises(RetryDelivery, match="could not schedule the follow-up"):
        handle_queue_message(get_service, message, 1, 5, send_later=send_later)
    assert time.monotonic() - started <= 20.0


def test_the_pacing_stores_token_fetch_is_bounded(monkeypatch, silent_endpoint) -> None:
    """Identity-based storage in Azure: an identity endpoint that never answers fails the
    store's token fetch within its own bound (1 s + 2 s, one retry), not azure-identity's
    300 s timeouts and ten retries; the gate then paces the process by itself."""
    from cancel_job.pacing_store import BlobPaceStore, StoreUnavailable

    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{silent_endpoint}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", "header")
    store = BlobPaceStore.from_env(
        {
            "STORAGE_CONNECTION__blobServiceUri": "https://127.0.0.1:9/devstoreaccount1",  # never reached
            "STORAGE_CONNECTION__credential": "managedidentity",
            "STORAGE_CONNECTION__clientId": "00000000-0000-4000-8000-000000000001",
        }
    )
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        store.prepare()
    assert time.monotonic() - started <= 3.0 * 2 + SLACK
