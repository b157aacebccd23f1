"""The process-wide service: built on first use, then shared by every invocation.

Building it lazily keeps ``import function_app`` free of side effects (an import error
shows up only as "0 functions found" after deploy). A configuration error is raised on
each use, so every invocation reports it, until the settings are fixed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .adt import AdtClient, CredentialFactory
from .contract import REQUESTS_QUEUE, PacingScope
from .hostconfig import forget_host_config
from .identity import build_credential
from .pacing_store import BlobPaceStore
from .queues import queue_client
from .service import CancelService
from .settings import ConfigurationError, Settings

_lock = threading.Lock()
_service: CancelService | None = None
_requests_queue = None


def build_service(
    settings: Settings, credential_factory: CredentialFactory | None = None, sleep: Callable[[float], None] = time.sleep
) -> CancelService:
    """The service for ``settings``; ``credential_factory`` overrides the credential the
    settings imply (a factory: after a 401 the client starts from a new credential);
    ``sleep`` is how it waits (the CLI's says so when a wait is long)."""
    client = AdtClient(
        credential_factory or (lambda: build_credential(settings)),
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
    )
    shared = settings.pacing_scope is PacingScope.SHARED
    return CancelService(settings, client, sleep=sleep, pace_store_factory=BlobPaceStore.from_env if shared else None)


def report_configuration() -> str | None:
    """Log a configuration problem at start-up, so it shows before the first request does.

    Never raises: a bad setting must not keep the functions from being indexed.
    """
    try:
        Settings.from_env()
    except ConfigurationError as exc:
        logging.getLogger("cancel_job").error("configuration error: %s", exc)
        return str(exc)
    return None


def get_service() -> CancelService:
    global _service
    service = _service
    if service is not None:
        return service
    with _lock:
        if _service is None:
            _service = build_service(Settings.from_env())
        return _service


def send_later(body: str, delay_seconds: int) -> None:
    """Put a message on the requests queue, invisible for ``delay_seconds``: a follow-up
    check, or a request deferred while ADT throttles."""
    global _requests_queue
    with _lock:
        if _requests_queue is None:
            _requests_queue = queue_client(REQUESTS_QUEUE)
        queue = _requests_queue
    queue.send_message(body, visibility_timeout=delay_seconds)


def reset_service() -> None:
    """Forget the shared service, queue client and host settings, so the next use reads the
    settings again."""
    global _service, _requests_queue
    forget_host_config()
    with _lock:
        if _service is not None:
            _service.client.close()
        _service = None
        _requests_queue = None
