"""OpenTelemetry spans for a cancel, when OpenTelemetry is there; nothing when it is not.

Each cancel gets a span for the function's work in the trace the trace rule chose (the
caller's or the message's traceparent, else the invocation's). Its parent: the host's own
span for the invocation when that is in the same trace (an HTTP request, where the host
continues the caller's trace), so our spans nest under the host's request span rather
than beside it; otherwise the chosen traceparent (a queue message's trace), with a span
link to the invocation's context (the new trace the host starts for a delivery). Each ADT
call gets a CLIENT span, and the ``traceparent`` sent to ADT is exactly that span's
context. HTTP auto-instrumentation (requests, urllib3) is suppressed for these calls: it
would start a span of its own and overwrite the header with it.

In Azure, host.json ``telemetryMode: OpenTelemetry`` plus
``PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true`` make the worker call
``configure_azure_monitor()``, which installs the tracer provider these spans go to.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .trace import TraceContext, TraceParent, new_span_id

TRACER_NAME = "cancel_job"
# OpenTelemetry is optional, and importing it costs start-up time. Whoever installs a
# tracer provider (the worker's configure_azure_monitor()) has imported it already, so
# until "opentelemetry.trace" is in sys.modules no span could be recorded anyway.
otel_trace: Any = None
otel_context: Any = None
_SUPPRESS_HTTP_INSTRUMENTATION_KEY: Any = None
_disabled = False  # set by tests to act as if the package were absent


def _load() -> bool:
    global otel_trace, otel_context, _SUPPRESS_HTTP_INSTRUMENTATION_KEY
    if _disabled or "opentelemetry.trace" not in sys.modules:
        return False
    if otel_trace is None:
        from opentelemetry import context, trace
        from opentelemetry.context import _SUPPRESS_HTTP_INSTRUMENTATION_KEY as suppress_key

        otel_trace, otel_context, _SUPPRESS_HTTP_INSTRUMENTATION_KEY = trace, context, suppress_key
    return True


def recording() -> bool:
    """Is a tracer provider installed? Until one is, every span would be a no-op."""
    if not _load():
        return False
    provider = otel_trace.get_tracer_provider()
    return not isinstance(provider, otel_trace.ProxyTracerProvider | otel_trace.NoOpTracerProvider)


def _parent_context(trace: TraceContext) -> Any:
    return otel_trace.set_span_in_context(otel_trace.NonRecordingSpan(_span_context(trace.parent)))


class SpanHandle:
    """What the code may record on a span; a no-op without OpenTelemetry."""

    def __init__(self, span: Any = None) -> None:
        self._span = span

    def set(self, key: str, value: Any) -> None:
        if self._span is not None and value is not None:
            self._span.set_attribute(key, value)

    def error(self, description: str) -> None:
        if self._span is not None:
            self._span.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR, description))


def _span_context(parent: TraceParent) -> Any:
    return otel_trace.SpanContext(
        trace_id=int(parent.trace_id, 16),
        span_id=int(parent.parent_id, 16),
        is_remote=True,
        trace_flags=otel_trace.TraceFlags(int(parent.flags, 16)),
    )


@contextmanager
def operation_span(name: str, trace: TraceContext, invocation: TraceParent | None = None) -> Iterator[SpanHandle]:
    """The function's own span in ``trace``; the current span while it runs. ``invocation``
    is the host's context for this invocation (``context.trace_context``), when valid."""
    if not recording():
        yield SpanHandle()
        return
    tracer = otel_trace.get_tracer(TRACER_NAME)
    if invocation is not None and invocation.trace_id == trace.trace_id:
        parent, links = otel_trace.set_span_in_context(otel_trace.NonRecordingSpan(_span_context(invocation))), []
    else:
        links = [] if invocation is None else [otel_trace.Link(_span_context(invocation))]
        parent = _parent_context(trace)
    with tracer.start_as_current_span(name, context=parent, kind=otel_trace.SpanKind.INTERNAL, links=links) as span:
        yield SpanHandle(span)


@contextmanager
def client_span(name: str, trace: TraceContext) -> Iterator[tuple[dict[str, str], SpanHandle]]:
    """A CLIENT span for one ADT call, and the trace headers that carry exactly it."""
    if not recording():
        yield trace.outgoing_headers(), SpanHandle()
        return
    tracer = otel_trace.get_tracer(TRACER_NAME)
    current = otel_trace.get_current_span().get_span_context()
    parent = None if current.is_valid else _parent_context(trace)
    with tracer.start_as_current_span(name, context=parent, kind=otel_trace.SpanKind.CLIENT) as span:
        context = span.get_span_context()
        own_span = (
            context.is_valid
            and format(context.trace_id, "032x") == trace.trace_id
            and context.span_id not in (current.span_id, int(trace.parent.parent_id, 16))
        )
        if own_span:
            headers = trace.headers_for(format(context.span_id, "016x"), format(context.trace_flags, "02x"))
        else:  # no SDK configured: the no-op span carries its parent's id, so make our own
            headers = trace.headers_for(new_span_id())
        with suppressed_http_instrumentation():
            yield headers, SpanHandle(span)


@contextmanager
def suppressed_http_instrumentation() -> Iterator[None]:
    """No requests/urllib3 auto-instrumentation inside: our own spans say what happens,
    and an instrumented call would carry the caller's trace somewhere else."""
    if not _load():
        yield
        return
    token = otel_context.attach(otel_context.set_value(_SUPPRESS_HTTP_INSTRUMENTATION_KEY, True))
    try:
        yield
    finally:
        otel_context.detach(token)
