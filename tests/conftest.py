"""Shared fixtures: the ADT emulator over real HTTP, Azurite, and the app's settings."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.functions.queue import QueueMessage
from hypothesis import settings as hypothesis_settings

from cancel_job.contract import PACING_CONTAINER
from cancel_job.runtime import reset_service
from devtools.adt_emulator import AdtEmulator
from devtools.azurite import Azurite, create_queues
from devtools.queue_pump import HostContext, OutBinding, indexed_functions

REPO_ROOT = Path(__file__).resolve().parent.parent

# In CI the fuzz tests use a fixed seed, so a run is reproducible; locally they explore.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")
VALID_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture(scope="session")
def emulator_session() -> Iterator[AdtEmulator]:
    with AdtEmulator() as emulator:
        yield emulator


@pytest.fixture
def emulator(emulator_session: AdtEmulator) -> AdtEmulator:
    """The emulator answering as the real service does, with throttling off: the tests
    that are about throttling turn it on (a 5-14 s Retry-After would slow every test)."""
    emulator_session.reset()
    emulator_session.configure(throttle_rate=0)
    return emulator_session


@pytest.fixture
def app_env(emulator: AdtEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The app's settings pointing at the emulator, with short retry budgets for tests."""
    for name in ("ADT_ALLOWED_ENDPOINTS", "AZURE_CLIENT_ID", "STORAGE_CONNECTION"):
        monkeypatch.delenv(name, raising=False)
    env = {
        **emulator.environment(),
        "CANCEL_DEADLINE_SECONDS": "5",
        "CANCEL_MAX_ATTEMPTS": "4",
        "ADT_READ_TIMEOUT_SECONDS": "2",
        "ADT_JOBS_REQUESTS_PER_SECOND": "0",  # spacing off; the pacing tests turn it on
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_service()
    yield env
    reset_service()


@pytest.fixture(scope="session")
def azurite_session() -> Iterator[Azurite]:
    with Azurite() as azurite:
        create_queues(azurite.connection_string)
        yield azurite


@pytest.fixture
def azurite(azurite_session: Azurite) -> Azurite:
    """Empty queues, and no pacing records left by an earlier test."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.storage.blob import ContainerClient
    from azure.storage.queue import QueueServiceClient

    service = QueueServiceClient.from_connection_string(azurite_session.connection_string)
    for queue in service.list_queues():
        service.get_queue_client(queue.name).clear_messages()
    pacing = ContainerClient.from_connection_string(azurite_session.connection_string, PACING_CONTAINER)
    try:
        for blob in pacing.list_blob_names():
            pacing.delete_blob(blob)
    except ResourceNotFoundError:
        pass
    return azurite_session


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
        headers=headers or {},
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


@pytest.fixture
def captured_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog
