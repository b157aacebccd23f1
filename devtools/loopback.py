"""What the local stand-ins (the ADT emulator, the HTTP host) share: a threaded HTTP server
on a loopback port with Nagle off, run in a background thread."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class NoDelayServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def get_request(self):
        conn, addr = super().get_request()
        # Replies are written in one piece, but keep Nagle (and its ~40 ms with delayed
        # ACKs) out of the picture anyway.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive, and no access log on stderr (the stand-ins' tests and
    benchmarks would drown in it)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass


class BackgroundServer:
    """Runs ``self._server`` in a daemon thread (a context manager), or in the foreground."""

    _server: ThreadingHTTPServer
    thread_name = "loopback-server"

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._server.serve_forever, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def serve_until_interrupted(self) -> None:
        """Serve in this thread until Ctrl-C (a stand-in run from the command line)."""
        try:
            self._server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self._server.server_close()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
