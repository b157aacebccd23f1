"""Helpers the tests import: invoking the functions as the worker does, and waiting with a
deadline. Fixtures stay in conftest.py."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import azure.functions as func
from azure.functions.queue import QueueMessage

from devtools.easy_auth import principal_headers
from devtools.entra import LOCAL_CALLER_APP_ID, LOCAL_CALLER_OBJECT_ID, LOCAL_TENANT
from devtools.queue_pump import HostContext, OutBinding, indexed_functions

VALID_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
# The headers App Service authentication sets for a validated caller (a service principal),
# built by the same stand-in the local HTTP host uses. Direct invocations send them, as the
# platform would, unless a test is about their absence.
CALLER_CLAIMS = {"oid": LOCAL_CALLER_OBJECT_ID, "appid": LOCAL_CALLER_APP_ID, "tid": LOCAL_TENANT}
CALLER_HEADERS = principal_headers(CALLER_CLAIMS)


def functions_by_name() -> dict[str, Any]:
    import function_app

    return indexed_functions(function_app.app)


class Invoked:
    """What one invocation of a function produced: its return value and output bindings."""

    def __init__(self, returned: Any, outputs: dict[str, OutBinding]) -> None:
        self.returned = returned
        self.result = outputs["results"].get()
        self.failure = outputs["failures"].get()

    @property
    def result_json(self) -> dict[str, Any] | None:
        return None if self.result is None else json.loads(self.result)

    @property
    def failure_json(self) -> dict[str, Any] | None:
        return None if self.failure is None else json.loads(self.failure)


def http_request(
    method: str, path: str, job_id: str | None, headers: dict[str, str] | None, params: dict[str, str] | None
) -> func.HttpRequest:
    """The HttpRequest the worker builds for a route with ``{id}``."""
    return func.HttpRequest(
        method,
        f"https://myapp.azurewebsites.net/api/{path}",
        headers=CALLER_HEADERS | (headers or {}),
        params=params or {},
        route_params={} if job_id is None else {"id": job_id},
        body=b"",
    )


def invoke_http(
    job_id: str | None,
    *,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    context: HostContext | None = None,
) -> Invoked:
    fn = functions_by_name()["cancel_import_job_http"].get_user_function()
    request = http_request("POST", f"jobs/imports/{job_id}/cancel", job_id, headers, params)
    outputs = {"results": OutBinding(), "failures": OutBinding()}
    returned = fn(req=request, context=context or HostContext("cancel_import_job_http"), **outputs)
    return Invoked(returned, outputs)


def invoke_status(
    job_id: str | None, *, params: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> Any:
    fn = functions_by_name()["import_job_status"].get_user_function()
    request = http_request("GET", f"jobs/imports/{job_id}", job_id, headers, params)
    return fn(req=request, context=HostContext("import_job_status"))


def invoke_cancel_status(job_id: str | None, *, params: dict[str, str] | None = None) -> Invoked:
    """GET on the cancel route: the status of a cancel, served by the cancel function."""
    fn = functions_by_name()["cancel_import_job_http"].get_user_function()
    request = http_request("GET", f"jobs/imports/{job_id}/cancel", job_id, None, params)
    outputs = {"results": OutBinding(), "failures": OutBinding()}
    returned = fn(req=request, context=HostContext("cancel_import_job_http"), **outputs)
    return Invoked(returned, outputs)


def invoke_queue(body: bytes | str, *, dequeue_count: int = 1, context: HostContext | None = None) -> Invoked:
    fn = functions_by_name()["cancel_import_job_queue"].get_user_function()
    message = QueueMessage(
        id="message-1",
        body=body if isinstance(body, bytes) else body.encode(),
        dequeue_count=dequeue_count,
        pop_receipt="receipt",
    )
    outputs = {"results": OutBinding(), "failures": OutBinding()}
    returned = fn(msg=message, context=context or HostContext("cancel_import_job_queue"), **outputs)
    return Invoked(returned, outputs)


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``condition`` until it returns something truthy, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
