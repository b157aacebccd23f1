"""Reads the queue settings of host.json, the one place they are set.

The function uses ``maxDequeueCount`` to know a delivery is the last one; the local
queue pump uses the same values to behave like the host.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

HOST_JSON = Path(__file__).resolve().parent.parent / "host.json"

# The host's defaults (Microsoft.Azure.WebJobs.Extensions.Storage.Queues).
_DEFAULT_MAX_DEQUEUE_COUNT = 5
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


@lru_cache(maxsize=4)
def load_queue_host_config(path: Path = HOST_JSON) -> QueueHostConfig:
    queues = json.loads(path.read_text(encoding="utf-8")).get("extensions", {}).get("queues", {})
    return QueueHostConfig(
        max_dequeue_count=int(queues.get("maxDequeueCount", _DEFAULT_MAX_DEQUEUE_COUNT)),
        visibility_timeout_seconds=parse_timespan(queues.get("visibilityTimeout", "00:00:00")),
        message_encoding=queues.get("messageEncoding", "base64"),
        batch_size=int(queues.get("batchSize", 16)),
        # The host's default is batchSize/2 per vCPU; one vCPU here.
        new_batch_threshold=int(queues.get("newBatchThreshold", int(queues.get("batchSize", 16)) // 2)),
    )
