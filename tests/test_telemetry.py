"""OpenTelemetry: a span for the function's work and a CLIENT span per ADT call, whose
context is exactly the traceparent ADT received (OpenTelemetry SDK, in-memory exporter)."""

from __future__ import annotations

import json

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from cancel_job import telemetry
from devtools.adt_emulator import Fault
from devtools.queue_pump import HostContext
from tests.helpers import invoke_http, invoke_queue

CALLER_TRACE, CALLER_SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
CALLER = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
HOST = "00-11111111111111111111111111111111-2222222222222222-01"


@pytest.fixture(scope="session")
def exporter_session() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)  # once per process, as the worker's configure_azure_monitor() does
    return exporter


@pytest.fixture
def spans(exporter_session: InMemorySpanExporter) -> InMemorySpanExporter:
    exporter_session.clear()
    return exporter_session


def ours(exporter: InMemorySpanExporter) -> list:
    return [s for s in exporter.get_finished_spans() if s.instrumentation_scope.name == telemetry.TRACER_NAME]


def adt_headers(emulator) -> list[dict[str, str]]:
    return [r.headers for r in emulator.requests if r.path.startswith("/jobs/")]


def hex_span(span_id: int) -> str:
    return format(span_id, "016x")


def test_http_cancel_spans_and_the_header_sent(app_env, emulator, spans) -> None:
    emulator.add_job("job1")
    invoke_http("job1", headers={"traceparent": CALLER, "tracestate": "vendor=1"})
    [client, operation] = ours(spans)
    assert operation.kind == trace.SpanKind.INTERNAL and client.kind == trace.SpanKind.CLIENT
    assert format(operation.context.trace_id, "032x") == CALLER_TRACE
    assert hex_span(operation.parent.span_id) == CALLER_SPAN and operation.parent.is_remote
    assert client.parent.span_id == operation.context.span_id
    [headers] = adt_headers(emulator)
    assert headers["traceparent"] == f"00-{CALLER_TRACE}-{hex_span(client.context.span_id)}-01"
    assert headers["tracestate"] == "vendor=1"
    assert client.attributes["http.response.status_code"] == 200
    assert client.name == "POST /jobs/imports/{id}/cancel"
    assert operation.attributes["adt.import_job.status"] == "running"  # as ADT answered the cancel
    [call] = [r for r in emulator.requests if r.path.startswith("/jobs/")]
    assert client.attributes["adt.correlation_id"] == call.correlation_id == operation.attributes["adt.correlation_id"]


def test_queue_spans_belong_to_the_messages_trace_not_the_hosts(app_env, emulator, spans) -> None:
    emulator.add_job("job1")
    invoke_queue(
        json.dumps({"jobId": "job1", "traceparent": CALLER}),
        context=HostContext("cancel_import_job_queue", trace_parent=HOST),
    )
    [client, operation] = ours(spans)
    assert {format(s.context.trace_id, "032x") for s in (client, operation)} == {CALLER_TRACE}
    assert hex_span(operation.parent.span_id) == CALLER_SPAN
    [headers] = adt_headers(emulator)
    assert headers["traceparent"].split("-")[2] == hex_span(client.context.span_id)


def test_queue_without_traceparent_is_a_child_of_the_invocation(app_env, emulator, spans) -> None:
    emulator.add_job("job1")
    invoke_queue(b"job1", context=HostContext("cancel_import_job_queue", trace_parent=HOST))
    [_, operation] = ours(spans)
    assert format(operation.context.trace_id, "032x") == "1" * 32
    assert hex_span(operation.parent.span_id) == "2" * 16


def test_each_attempt_is_its_own_client_span(app_env, emulator, spans) -> None:
    emulator.add_job("job1")
    emulator.inject(Fault(op="cancel", status=503, times=2))
    invoke_http("job1", headers={"traceparent": CALLER})
    clients = [s for s in ours(spans) if s.kind == trace.SpanKind.CLIENT]
    sent = [h["traceparent"].split("-")[2] for h in adt_headers(emulator)]
    assert sent == [hex_span(s.context.span_id) for s in sorted(clients, key=lambda s: s.start_time)]
    assert [s.attributes["http.response.status_code"] for s in clients] == [503, 503, 200]


def test_requests_auto_instrumentation_does_not_overwrite_the_header(app_env, emulator, spans) -> None:
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor

    RequestsInstrumentor().instrument()
    URLLib3Instrumentor().instrument()
    try:
        emulator.add_job("job1")
        invoke_http("job1", headers={"traceparent": CALLER})
    finally:
        RequestsInstrumentor().uninstrument()
        URLLib3Instrumentor().uninstrument()
    [client, _] = ours(spans)
    [headers] = adt_headers(emulator)
    assert headers["traceparent"] == f"00-{CALLER_TRACE}-{hex_span(client.context.span_id)}-01"
    instrumented = [
        s
        for s in spans.get_finished_spans()
        if s.instrumentation_scope.name != telemetry.TRACER_NAME and format(s.context.trace_id, "032x") == CALLER_TRACE
    ]
    assert instrumented == []


def test_unsampled_caller_keeps_its_flags(app_env, emulator, spans) -> None:
    emulator.add_job("job1")
    invoke_http("job1", headers={"traceparent": CALLER[:-2] + "00"})
    [headers] = adt_headers(emulator)
    assert headers["traceparent"].startswith(f"00-{CALLER_TRACE}-") and headers["traceparent"].endswith("-00")
    assert headers["traceparent"].split("-")[2] != CALLER_SPAN


def test_without_opentelemetry_the_cancel_works_the_same(app_env, emulator, spans, monkeypatch) -> None:
    monkeypatch.setattr(telemetry, "_disabled", True)
    emulator.add_job("job1")
    assert invoke_http("job1", headers={"traceparent": CALLER}).returned.status_code == 200
    assert ours(spans) == []
    [headers] = adt_headers(emulator)
    assert headers["traceparent"].split("-")[1] == CALLER_TRACE
    assert headers["traceparent"].split("-")[2] != CALLER_SPAN


def test_host_json_turns_on_opentelemetry_mode() -> None:
    from cancel_job.hostconfig import HOST_JSON

    assert json.loads(HOST_JSON.read_text())["telemetryMode"] == "OpenTelemetry"


HOST_SPAN = "3333333333333333"


def test_http_spans_nest_under_the_hosts_request_span_in_the_callers_trace(app_env, emulator, spans) -> None:
    """The host's context.trace_context continues the caller's trace with its own request
    span: ours are its children, not its siblings."""
    emulator.add_job("job1")
    host = HostContext("cancel_import_job_http", trace_parent=f"00-{CALLER_TRACE}-{HOST_SPAN}-01")
    invoke_http("job1", headers={"traceparent": CALLER}, context=host)
    [client, operation] = ours(spans)
    assert format(operation.context.trace_id, "032x") == CALLER_TRACE
    assert hex_span(operation.parent.span_id) == HOST_SPAN and not operation.links
    assert client.parent.span_id == operation.context.span_id
    [headers] = adt_headers(emulator)
    assert headers["traceparent"] == f"00-{CALLER_TRACE}-{hex_span(client.context.span_id)}-01"


def test_queue_spans_keep_the_messages_trace_and_link_the_invocation(app_env, emulator, spans) -> None:
    emulator.add_job("job1")
    invoke_queue(
        json.dumps({"jobId": "job1", "traceparent": CALLER}),
        context=HostContext("cancel_import_job_queue", trace_parent=HOST),
    )
    [_, operation] = ours(spans)
    assert hex_span(operation.parent.span_id) == CALLER_SPAN
    [link] = operation.links
    assert format(link.context.trace_id, "032x") == HOST.split("-")[1]
    assert hex_span(link.context.span_id) == HOST.split("-")[2]
