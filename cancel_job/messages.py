"""Queue message parsing: a JSON object, or a bare job id.

The body is what the host hands over after base64-decoding. A JSON object (the trimmed
text starts with ``{``) carries ``jobId`` and optionally ``traceparent``, ``tracestate``
and ``instance``; unknown fields are ignored. Anything else is a bare job id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .contract import MAX_MESSAGE_BYTES


class InvalidMessageError(ValueError):
    """The body cannot be read as a request; the message says why."""

    def __init__(self, message: str, job_id: str | None = None) -> None:
        super().__init__(message)
        self.job_id = job_id


@dataclass(frozen=True)
class CancelRequest:
    job_id: object  # not yet validated: the service applies the job-id rule
    instance: str | None = None
    traceparent: object = None
    tracestate: object = None


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
    return CancelRequest(
        job_id=job_id,
        instance=instance,
        traceparent=document.get("traceparent"),
        tracestate=document.get("tracestate"),
    )


def _json_type(value: object) -> str:
    return {dict: "an object", list: "an array", bool: "a boolean", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )
