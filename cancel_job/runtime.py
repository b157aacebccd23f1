"""The process-wide service: built on first use, then shared by every invocation.

Building it lazily keeps ``import function_app`` free of side effects (an import error
shows up only as "0 functions found" after deploy). A configuration error is raised on
each use, so every invocation reports it, until the settings are fixed.
"""

from __future__ import annotations

import threading

from .adt import AdtClient
from .identity import build_credential
from .service import CancelService
from .settings import Settings

_lock = threading.Lock()
_service: CancelService | None = None


def build_service(settings: Settings) -> CancelService:
    client = AdtClient(
        build_credential(settings),
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
    )
    return CancelService(settings, client)


def get_service() -> CancelService:
    global _service
    service = _service
    if service is not None:
        return service
    with _lock:
        if _service is None:
            _service = build_service(Settings.from_env())
        return _service


def reset_service() -> None:
    """Forget the shared service so the next use reads the settings again."""
    global _service
    with _lock:
        if _service is not None:
            _service.client.close()
        _service = None
