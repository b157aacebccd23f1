"""Queue message parsing: a JSON object, or a bare job id.

The body is what the host hands over after base64-decoding. A JSON object (the trimmed
text starts with ``{``) carries ``jobId`` and optionally ``traceparent``, ``tracestate``,
``instance`` and ``waitForCompletion``; unknown fields are ignored. Anything else is a
bare job id. ``followUp`` marks a message the app sent itself to re-check a job.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import NamedTuple

from .contract import MAX_MESSAGE_BYTES


class InvalidMessageError(ValueError):
    """The body cannot be read as a request; the message says why."""

    def __init__(self, message: str, job_id: str | None = None) -> None:
        super().__init__(message)
        self.job_id = job_id


class FollowUp(NamedTuple):
    """A re-check the app scheduled: how many checks so far, and until when to keep going."""

    checks: int
    deadline: datetime

    def to_json(self) -> dict[str, object]:
        return {"checks": self.checks, "deadline": self.deadline.isoformat().replace("+00:00", "Z")}


class CancelRequest(NamedTuple):
    job_id: object  # not yet validated: the service applies the job-id rule
    instance: str | None = None
    traceparent: object = None
    tracestate: object = None
    wait_for_completion: bool | None = None  # None: the app's default applies
    follow_up: FollowUp | None = None


def body_bytes(body: bytes | str | None) -> bytes:
    if body is None:
        return b""
    return body.encode("utf-8", errors="surrogatepass") if isinstance(body, str) else bytes(body)


def body_text(body: bytes | str | None) -> str:
    """The body as text for records: undecodable bytes replaced."""
    return body_bytes(body).decode("utf-8", errors="replace")


def parse_message(body: bytes | str | None) -> CancelRequest:
    raw = body_bytes(body)
    if len(raw) > MAX_MESSAGE_BYTES:
        raise InvalidMessageError(f"message is {len(raw)} bytes; at most {MAX_MESSAGE_BYTES} are accepted")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidMessageError("message is not valid UTF-8") from None
    text = text.strip()
    if not text.startswith("{"):
        return CancelRequest(job_id=text)
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidMessageError(f"message is not valid JSON: {type(exc).__name__}") from None
    if not isinstance(document, dict):
        raise InvalidMessageError("message is not a JSON object")
    job_id = document.get("jobId")
    if job_id is None:
        raise InvalidMessageError("message has no jobId")
    if not isinstance(job_id, str):
        raise InvalidMessageError(f"jobId must be a string, not {_json_type(job_id)}")
    instance = document.get("instance")
    if instance is not None and not isinstance(instance, str):
        raise InvalidMessageError(f"instance must be a string, not {_json_type(instance)}", job_id)
    wait = document.get("waitForCompletion")
    if wait is not None and not isinstance(wait, bool):
        raise InvalidMessageError(f"waitForCompletion must be true or false, not {_json_type(wait)}", job_id)
    return CancelRequest(
        job_id=job_id,
        instance=instance,
        traceparent=document.get("traceparent"),
        tracestate=document.get("tracestate"),
        wait_for_completion=wait,
        follow_up=_follow_up(document.get("followUp"), job_id),
    )


def _follow_up(value: object, job_id: str) -> FollowUp | None:
    if value is None:
        return None
    checks = value.get("checks") if isinstance(value, dict) else None
    deadline = value.get("deadline") if isinstance(value, dict) else None
    if isinstance(checks, bool) or not isinstance(checks, int) or checks < 0 or not isinstance(deadline, str):
        raise InvalidMessageError("followUp must be an object with checks and deadline", job_id)
    try:
        when = datetime.fromisoformat(deadline.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidMessageError("followUp.deadline is not an RFC 3339 time", job_id) from None
    if when.tzinfo is None:
        raise InvalidMessageError("followUp.deadline needs a time zone", job_id)
    return FollowUp(checks, when)


def _json_type(value: object) -> str:
    return {dict: "an object", list: "an array", bool: "a boolean", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )
