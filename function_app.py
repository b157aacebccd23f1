"""Azure Functions bindings. The logic lives in ``cancel_job``; this file only translates.

Importing this module must not touch the network or fail on a bad setting: the host
indexes the functions at start-up, and an import error shows only as "0 functions found".
A bad setting is logged at import and reported by every invocation.
"""

from __future__ import annotations

import azure.functions as func

from cancel_job.contract import (
    FAILURES_QUEUE,
    QUEUE_DEPTH_FUNCTION,
    QUEUE_DEPTH_SCHEDULE,
    REQUESTS_QUEUE,
    RESULTS_QUEUE,
    STORAGE_CONNECTION,
)
from cancel_job.entrypoints import (
    HttpCall,
    HttpReply,
    Invocation,
    QueueReply,
    handle_http_cancel,
    handle_http_status,
    handle_queue_message,
)
from cancel_job.hostconfig import load_queue_host_config
from cancel_job.queues import report_queue_depths
from cancel_job.runtime import get_service, report_configuration, send_later

CANCEL_ROUTE = "jobs/imports/{id}/cancel"
STATUS_ROUTE = "jobs/imports/{id}"

# Anonymous at the host: App Service authentication (infra/modules/app-auth.bicep) checks each
# caller's Entra token and the allow-list before a function runs, and the entry points refuse
# a call it did not validate (HTTP_CALLER_AUTHENTICATION). No function key opens anything.
app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
report_configuration()  # logs a bad setting at start-up; never raises


def _http_call(req: func.HttpRequest) -> HttpCall:
    return HttpCall(req.route_params.get("id"), req.headers, req.params, req.url)


def _http_response(reply: HttpReply) -> func.HttpResponse:
    return func.HttpResponse(reply.body, status_code=reply.status, headers=reply.headers)


def _write_outputs(reply: HttpReply | QueueReply, results: func.Out[str], failures: func.Out[str]) -> None:
    """The output bindings: an ImportJob to the results queue, a record to the failures queue."""
    if reply.result is not None:
        results.set(reply.result)
    if reply.failure is not None:
        failures.set(reply.failure)


def _invocation(context: func.Context | None) -> Invocation:
    if context is None:
        return Invocation()
    trace = getattr(context, "trace_context", None)
    return Invocation(
        invocation_id=getattr(context, "invocation_id", None),
        traceparent=getattr(trace, "trace_parent", None),
        tracestate=getattr(trace, "trace_state", None),
    )


@app.function_name("cancel_import_job_http")
@app.route(route=CANCEL_ROUTE, methods=[func.HttpMethod.POST, func.HttpMethod.GET], auth_level=func.AuthLevel.ANONYMOUS)
@app.queue_output(arg_name="results", queue_name=RESULTS_QUEUE, connection=STORAGE_CONNECTION)
@app.queue_output(arg_name="failures", queue_name=FAILURES_QUEUE, connection=STORAGE_CONNECTION)
def cancel_import_job_http(
    req: func.HttpRequest,
    context: func.Context,
    results: func.Out[str],
    failures: func.Out[str],
) -> func.HttpResponse:
    """POST cancels. GET is the status of that cancel (the Location a cancel hands out),
    served here so that a poll ends as the cancel would have; it only reads."""
    if req.method.upper() == "GET":
        return _http_response(handle_http_status(get_service, _http_call(req), _invocation(context), of_cancel=True))
    reply = handle_http_cancel(get_service, _http_call(req), _invocation(context))
    _write_outputs(reply, results, failures)
    return _http_response(reply)


@app.function_name("import_job_status")
@app.route(route=STATUS_ROUTE, methods=[func.HttpMethod.GET], auth_level=func.AuthLevel.ANONYMOUS)
def import_job_status(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return _http_response(handle_http_status(get_service, _http_call(req), _invocation(context)))


@app.function_name("cancel_import_job_queue")
@app.queue_trigger(arg_name="msg", queue_name=REQUESTS_QUEUE, connection=STORAGE_CONNECTION)
@app.queue_output(arg_name="results", queue_name=RESULTS_QUEUE, connection=STORAGE_CONNECTION)
@app.queue_output(arg_name="failures", queue_name=FAILURES_QUEUE, connection=STORAGE_CONNECTION)
def cancel_import_job_queue(
    msg: func.QueueMessage,
    context: func.Context,
    results: func.Out[str],
    failures: func.Out[str],
) -> None:
    reply = handle_queue_message(
        get_service,
        msg.get_body(),
        msg.dequeue_count or 1,
        load_queue_host_config().max_dequeue_count,
        _invocation(context),
        send_later,
    )
    _write_outputs(reply, results, failures)


@app.function_name(QUEUE_DEPTH_FUNCTION)
@app.timer_trigger(arg_name="timer", schedule=QUEUE_DEPTH_SCHEDULE, run_on_startup=False, use_monitor=False)
def queue_depths(timer: func.TimerRequest) -> None:
    """Every 5 minutes, each queue's depth in the log (the workbook's queue panel)."""
    report_queue_depths()
