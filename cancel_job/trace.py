"""The trace rule: W3C Trace Context, parsed strictly and re-serialised, never copied.

Sources, in order: the caller's ``traceparent``/``tracestate`` (HTTP headers or message
fields), then the Functions invocation's own context, then a fresh trace. A source whose
traceparent is invalid is skipped as a whole (its tracestate goes with it); an invalid
tracestate is dropped alone. The ADT call gets the chosen trace-id and flags with a new
span id of its own, so it is a child of the caller's span.

OpenTelemetry's parser is not used because it implements the Level 1 tracestate key
grammar and would drop keys that Level 2 allows (``1abc=x``, ``foo@=x``).
"""

from __future__ import annotations

import re
import secrets
from typing import NamedTuple

_OWS = " \t"
_V00 = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
# A future version: the version-00 fields first, then optionally "-" and more.
_FUTURE = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[\x21-\x7e]*)?")
_ZERO_TRACE_ID = "0" * 32
_ZERO_SPAN_ID = "0" * 16

_TRACESTATE_KEY = re.compile(r"[a-z0-9][_0-9a-z*/@-]{0,255}")
_TRACESTATE_VALUE = re.compile(r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]")
MAX_TRACESTATE_MEMBERS = 32
MAX_TRACESTATE_LENGTH = 512


class TraceParent(NamedTuple):
    trace_id: str
    parent_id: str
    flags: str

    @property
    def header(self) -> str:
        return f"00-{self.trace_id}-{self.parent_id}-{self.flags}"


def new_span_id() -> str:
    while True:
        span_id = secrets.token_hex(8)
        if span_id != _ZERO_SPAN_ID:
            return span_id


def new_trace_parent() -> TraceParent:
    while True:
        trace_id = secrets.token_hex(16)
        if trace_id != _ZERO_TRACE_ID:
            return TraceParent(trace_id, new_span_id(), "01")


def parse_traceparent(value: object) -> TraceParent | None:
    """Return the parsed header, or None when it must not be propagated."""
    if not isinstance(value, str):
        return None
    text = value.strip(_OWS)
    match = _V00.fullmatch(text)
    if match is None:
        future = _FUTURE.fullmatch(text)
        if future is None or future.group(1) in ("00", "ff"):
            return None
        match_groups = future.group(2, 3, 4)
    else:
        match_groups = match.groups()
    trace_id, parent_id, flags = match_groups
    if trace_id == _ZERO_TRACE_ID or parent_id == _ZERO_SPAN_ID:
        return None
    return TraceParent(trace_id, parent_id, flags)


def parse_tracestate(value: object) -> str | None:
    """Return the tracestate re-serialised from its members, or None if it is invalid.

    Members beyond the 512-character budget are dropped whole, from the end.
    """
    if not isinstance(value, str):
        return None
    members: list[str] = []
    keys: set[str] = set()
    for raw in value.split(","):
        member = raw.strip(_OWS)
        if not member:
            continue
        key, sep, val = member.partition("=")
        if not sep or not _TRACESTATE_KEY.fullmatch(key) or not _TRACESTATE_VALUE.fullmatch(val):
            return None
        if key in keys:
            return None
        keys.add(key)
        members.append(f"{key}={val}")
    if not members or len(members) > MAX_TRACESTATE_MEMBERS:
        return None
    while len(",".join(members)) > MAX_TRACESTATE_LENGTH:
        members.pop()
    return ",".join(members) or None


class TraceContext(NamedTuple):
    """The trace a cancel belongs to, and where it came from (for logs)."""

    parent: TraceParent
    state: str | None
    source: str  # "caller", "invocation" or "new"

    @property
    def trace_id(self) -> str:
        return self.parent.trace_id

    def outgoing_headers(self) -> dict[str, str]:
        """Headers for one ADT call: a child span of this context."""
        return self.headers_for(new_span_id())

    def headers_for(self, span_id: str, flags: str | None = None) -> dict[str, str]:
        """Headers naming ``span_id`` (the span of the call) in this trace."""
        parent = TraceParent(self.parent.trace_id, span_id, flags or self.parent.flags)
        headers = {"traceparent": parent.header}
        if self.state:
            headers["tracestate"] = self.state
        return headers


def resolve_trace(
    caller_parent: object,
    caller_state: object,
    invocation_parent: object = None,
    invocation_state: object = None,
) -> TraceContext:
    """Pick the trace for a cancel by the rule in this module's docstring."""
    for source, raw_parent, raw_state in (
        ("caller", caller_parent, caller_state),
        ("invocation", invocation_parent, invocation_state),
    ):
        parent = parse_traceparent(raw_parent)
        if parent is not None:
            return TraceContext(parent, parse_tracestate(raw_state), source)
    return TraceContext(new_trace_parent(), None, "new")
