"""The message rule: what a queue message says, whoever produced it.

``host.json`` sets ``messageEncoding: none``, so the function gets the text exactly as it
was put on the queue: plain text from Logic Apps, ``az storage message put``, the portal
and azure-storage-queue's default, base64 from producers that encode. Surrounding
whitespace is ignored, and the text is read in this order:

1. a JSON object: that message;
2. strict base64 (standard alphabet, correct padding, nothing else) of UTF-8 text that
   parses as a JSON object: that message;
3. a valid job id: that id;
4. strict base64 of UTF-8 text that is a valid job id: that id;
5. strict base64 of text that starts with ``{`` but does not parse: ``InvalidMessage``
   saying why (so ``ez00``, the base64 of ``{\xed4``, is read at 3 as the id it is);
6. anything else: ``InvalidMessage``.

The ambiguities: an id whose base64 is itself a valid id (``abc`` is ``YWJj``) is read as
plain text, the id ``YWJj``; and a valid id that is also the strict base64 of a JSON object
(``eyJhIjoxMjN9`` is ``{"a":123}``) is read as that JSON. Producers that want no doubt send
JSON.

A JSON message carries ``jobId`` and optionally ``traceparent``, ``tracestate``,
``instance``, ``waitForCompletion`` and ``requestId`` (the producer's own id, echoed in
failure records); unknown fields are ignored, and kept in a deferred copy. ``followUp`` marks a
message the app sent itself to re-check a job; ``deferrals`` and ``notAfter`` mark a
request the app put back on the queue while ADT throttled (deferral.py), and ``turn`` the
turn the instance's line holds for it (pacing.py's line rule).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime
from typing import Any, NamedTuple, TypeGuard

from .contract import MAX_MESSAGE_BYTES
from .job_id import is_valid_job_id

# A producer's own request id (``requestId``) is kept in records; longer ones are refused.
MAX_REQUEST_ID_CHARS = 256


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
    deferrals: int = 0  # how often ADT's throttling put this request back on the queue
    not_after: datetime | None = None  # deferred no longer than this (set at the first deferral)
    request_id: str | None = None  # the producer's own id for the request, echoed in records
    fields: dict[str, Any] | None = None  # the JSON message as received: a deferred copy keeps it
    turn: float | None = None  # a turn held for this request (the storage service's clock, epoch seconds)


def body_bytes(body: bytes | str | None) -> bytes:
    if body is None:
        return b""
    return body.encode("utf-8", errors="surrogatepass") if isinstance(body, str) else bytes(body)


def body_text(body: bytes | str | None) -> str:
    """The body as text for records: undecodable bytes replaced."""
    return body_bytes(body).decode("utf-8", errors="replace")


# Standard alphabet, whole quads, padding only where the length needs it.
_STRICT_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def strict_base64_text(text: str) -> str | None:
    """The UTF-8 text that ``text`` is the strict base64 of, or None."""
    if not text or not _STRICT_BASE64.fullmatch(text):
        return None
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def parse_message(body: bytes | str | None) -> CancelRequest:
    """The message rule (see the module's docstring)."""
    raw = body_bytes(body)
    if len(raw) > MAX_MESSAGE_BYTES:
        raise InvalidMessageError(f"message is {len(raw)} bytes; at most {MAX_MESSAGE_BYTES} are accepted")
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise InvalidMessageError("message is not valid UTF-8") from None
    if text.startswith("{"):
        return _json_message(text)
    decoded = strict_base64_text(text)
    decoded = decoded.strip() if decoded is not None else None
    if decoded is not None and _is_json_object(decoded):
        return _json_message(decoded)
    if is_valid_job_id(text):
        return CancelRequest(job_id=text)
    if decoded is not None and is_valid_job_id(decoded):
        return CancelRequest(job_id=decoded)
    if decoded is not None and decoded.startswith("{"):  # base64 of broken JSON: say what is wrong with it
        return _json_message(decoded)
    raise InvalidMessageError("message is neither a JSON object nor a valid job id, as plain text or as base64")


def _is_json_object(text: str) -> bool:
    if not text.startswith("{"):
        return False
    try:
        return isinstance(json.loads(text), dict)
    except (ValueError, RecursionError):
        return False


def _json_message(text: str) -> CancelRequest:
    try:
        document: dict[str, Any] = json.loads(text)  # text starts with "{": an object, or an error
    except (ValueError, RecursionError) as exc:
        raise InvalidMessageError(f"message is not valid JSON: {type(exc).__name__}") from None
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
    deferrals, not_after = _deferral(document.get("deferrals"), document.get("notAfter"), job_id)
    turn = _held_turn(document.get("turn"), deferrals, job_id)
    request_id = document.get("requestId")
    if request_id is not None and not (isinstance(request_id, str) and 0 < len(request_id) <= MAX_REQUEST_ID_CHARS):
        raise InvalidMessageError(f"requestId must be a string of 1 to {MAX_REQUEST_ID_CHARS} characters", job_id)
    return CancelRequest(
        job_id=job_id,
        instance=instance,
        traceparent=document.get("traceparent"),
        tracestate=document.get("tracestate"),
        wait_for_completion=wait,
        follow_up=_follow_up(document.get("followUp"), job_id),
        deferrals=deferrals,
        not_after=not_after,
        request_id=request_id,
        fields=document,
        turn=turn,
    )


def _deferral(count: object, not_after: object, job_id: str) -> tuple[int, datetime | None]:
    """``deferrals`` (a whole number from 1) and ``notAfter`` come together, or not at all."""
    if count is None and not_after is None:
        return 0, None
    if _is_count(count) and isinstance(not_after, str):
        return count, _rfc3339(not_after, "notAfter", job_id)
    raise InvalidMessageError("deferrals (a whole number from 1) and notAfter go together", job_id)


def _held_turn(value: object, deferrals: int, job_id: str) -> float | None:
    """``turn`` (an RFC 3339 time) comes only on a deferred copy, which the app wrote."""
    if value is None:
        return None
    if not isinstance(value, str) or not deferrals:
        raise InvalidMessageError("turn is an RFC 3339 time, and only on a deferred request (with deferrals)", job_id)
    return _rfc3339(value, "turn", job_id).timestamp()


def _is_count(value: object) -> TypeGuard[int]:
    """A whole number from 1 (JSON's true is not one)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _rfc3339(value: str, name: str, job_id: str) -> datetime:
    try:
        when = datetime.fromisoformat(value.upper())  # RFC 3339 allows "t" and "z" too
    except ValueError:
        raise InvalidMessageError(f"{name} is not an RFC 3339 time", job_id) from None
    if when.tzinfo is None:
        raise InvalidMessageError(f"{name} needs a time zone", job_id)
    return when


def _follow_up(value: object, job_id: str) -> FollowUp | None:
    if value is None:
        return None
    checks = value.get("checks") if isinstance(value, dict) else None
    deadline = value.get("deadline") if isinstance(value, dict) else None
    # The app writes checks from 1 (the first follow-up); 0, negatives and non-integers are not ours.
    if not _is_count(checks) or not isinstance(deadline, str):
        raise InvalidMessageError("followUp must be an object with checks (a whole number from 1) and deadline", job_id)
    return FollowUp(checks, _rfc3339(deadline, "followUp.deadline", job_id))


def _json_type(value: object) -> str:
    return {dict: "an object", list: "an array", bool: "a boolean", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def read_queue_json(content: str) -> Any:
    """A message from the results or failures queue: plain JSON (what the app writes since
    ``messageEncoding: none``) or base64 of JSON (what it wrote before). Anything else is
    returned as the text it is."""
    for text in (content, strict_base64_text(content.strip())):
        if text is None:
            continue
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            continue
    return content
