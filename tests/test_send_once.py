"""Put Message is not idempotent: a copy the app sends for later (a deferral, a follow-up)
is sent once, never retried by the SDK. A send whose answer is lost fails the delivery,
and the host redelivers the original (issue 29 item 6: with one SDK retry, one
send_message stored two copies while the caller saw success)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from azure.core.exceptions import AzureError
from azure.storage.queue import QueueClient

from cancel_job.contract import REQUESTS_QUEUE
from cancel_job.runtime import reset_service, send_later
from devtools.azurite import Azurite

pytestmark = pytest.mark.azurite

READ_TIMEOUT = 0.5


class SlowAnswerProxy:
    """Forwards TCP to ``target``; the first answer comes ``delay`` late, as over a network
    that lost time: the request reached the service and took effect."""

    def __init__(self, target_port: int, delay: float) -> None:
        self.target_port, self.delay = target_port, delay
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._first = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, answers: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if answers and self._first.acquire(blocking=False):
                    time.sleep(self.delay)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                end.close()

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def slow_answers(azurite: Azurite) -> Iterator[SlowAnswerProxy]:
    proxy = SlowAnswerProxy(azurite.port, delay=READ_TIMEOUT * 3)
    yield proxy
    proxy.close()


def test_a_copy_whose_answer_is_lost_is_stored_once_and_the_send_fails(
    azurite: Azurite, slow_answers: SlowAnswerProxy, monkeypatch
) -> None:
    connection = azurite.connection_string.replace(
        f"QueueEndpoint=http://127.0.0.1:{azurite.port}/", f"QueueEndpoint=http://127.0.0.1:{slow_answers.port}/"
    )
    monkeypatch.setenv("STORAGE_CONNECTION", connection)
    monkeypatch.setattr("cancel_job.queues.SEND_READ_TIMEOUT_SECONDS", READ_TIMEOUT)
    reset_service()
    with pytest.raises(AzureError):  # the caller learns the send may have failed: the delivery fails
        send_later('{"jobId": "job1", "deferrals": 1}', 0)
    reset_service()
    queue = QueueClient.from_connection_string(azurite.connection_string, REQUESTS_QUEUE)
    copies = [m.content for m in queue.peek_messages(max_messages=32)]
    assert copies == ['{"jobId": "job1", "deferrals": 1}']  # stored once, not twice
