"""Reads the queue settings as the host does: host.json, then app-setting overrides.

The function uses ``maxDequeueCount`` to know a delivery is the last one; the local
queue pump uses the same values to behave like the host. The host reads host.json's keys
case-insensitively, and an app setting such as
``AzureFunctionsJobHost__extensions__queues__maxDequeueCount`` overrides host.json; a
function that read only host.json would take a lowered count's real last delivery for an
earlier one, raise, and let the message go to poison with no record.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

HOST_JSON = Path(__file__).resolve().parent.parent / "host.json"

# The host's defaults (Microsoft.Azure.WebJobs.Extensions.Storage.Queues).
_DEFAULT_MAX_DEQUEUE_COUNT = 5
# The app-setting prefix under which the host reads host.json overrides ("__" for ":").
OVERRIDE_PREFIX = "AzureFunctionsJobHost__extensions__queues__"
_TIMESPAN = re.compile(r"(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)")


class QueueHostConfig(NamedTuple):
    max_dequeue_count: int = _DEFAULT_MAX_DEQUEUE_COUNT
    visibility_timeout_seconds: float = 0.0
    message_encoding: str = "base64"
    batch_size: int = 16
    new_batch_threshold: int = 8

    @property
    def concurrency(self) -> int:
        """Invocations the host runs at once per instance: a batch, plus the next batch it
        fetches once the running ones drop to ``newBatchThreshold``."""
        return self.batch_size + self.new_batch_threshold


def parse_timespan(text: str) -> float:
    """Parse a .NET TimeSpan such as ``00:00:30`` or ``1.02:00:00`` into seconds."""
    match = _TIMESPAN.fullmatch(text)
    if match is None:
        raise ValueError(f"not a TimeSpan: {text!r}")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _lower_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key).lower(): _lower_keys(item) for key, item in value.items()}
    return value


@lru_cache(maxsize=4)
def _host_json(path: Path) -> dict[str, Any]:
    """host.json with every key in lower case, as the host matches them."""
    document = _lower_keys(json.loads(path.read_text(encoding="utf-8")))
    return document if isinstance(document, dict) else {}


def _host_json_queues(path: Path) -> dict[str, Any]:
    queues = _host_json(path).get("extensions", {}).get("queues", {})
    return queues if isinstance(queues, dict) else {}


def http_route_prefix(path: Path = HOST_JSON) -> str:
    """``extensions.http.routePrefix`` ("api" when unset), without slashes."""
    return str(_host_json(path).get("extensions", {}).get("http", {}).get("routeprefix", "api")).strip("/")


def queue_settings(path: Path = HOST_JSON, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The queue settings by lower-case name: host.json, then the app-setting overrides."""
    env = os.environ if env is None else env
    settings = dict(_host_json_queues(path))
    prefix = OVERRIDE_PREFIX.lower()
    for name, value in env.items():
        if name.lower().startswith(prefix):
            settings[name[len(prefix) :].lower()] = value
    return settings


def load_queue_host_config(path: Path = HOST_JSON, env: Mapping[str, str] | None = None) -> QueueHostConfig:
    """The queue settings; for this process's own settings (``env`` None) read once, since
    a changed app setting restarts the host anyway (``forget_host_config`` to read again)."""
    if env is None:
        return _process_host_config(path)
    return _host_config(queue_settings(path, env))


@lru_cache(maxsize=4)
def _process_host_config(path: Path) -> QueueHostConfig:
    return _host_config(queue_settings(path, os.environ))


def forget_host_config() -> None:
    _process_host_config.cache_clear()


def _host_config(queues: Mapping[str, Any]) -> QueueHostConfig:
    batch_size = int(queues.get("batchsize", 16))
    return QueueHostConfig(
        max_dequeue_count=int(queues.get("maxdequeuecount", _DEFAULT_MAX_DEQUEUE_COUNT)),
        visibility_timeout_seconds=parse_timespan(str(queues.get("visibilitytimeout", "00:00:00"))),
        message_encoding=str(queues.get("messageencoding", "base64")),
        batch_size=batch_size,
        # The host's default is batchSize/2 per vCPU; one vCPU here.
        new_batch_threshold=int(queues.get("newbatchthreshold", batch_size // 2)),
    )
