"""Shared fixtures: the ADT emulator over real HTTP, Azurite, and the app's settings.

Helpers that tests import (invoking the functions, waiting) are in tests/helpers.py."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest
from hypothesis import settings as hypothesis_settings

from cancel_job.contract import PACING_CONTAINER
from cancel_job.runtime import reset_service
from devtools.adt_emulator import AdtEmulator
from devtools.azurite import Azurite, create_queues
from devtools.easy_auth import local_easy_auth
from devtools.entra import LocalEntra
from devtools.http_host import LocalHttpHost

# In CI the fuzz tests use a fixed seed, so a run is reproducible; locally they explore.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


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


@pytest.fixture(scope="session")
def entra() -> Iterator[LocalEntra]:
    """The local Entra stand-in: signs callers' tokens and publishes its keys."""
    with LocalEntra() as issuer:
        yield issuer


@pytest.fixture
def host(app_env, emulator, azurite, entra, monkeypatch) -> Iterator[LocalHttpHost]:
    """The local HTTP host behind App Service authentication as deployed (the local
    caller's app on the allow-list), writing its outputs to Azurite."""
    import function_app

    monkeypatch.setenv("STORAGE_CONNECTION", azurite.connection_string)
    reset_service()
    with LocalHttpHost(function_app.app, auth=local_easy_auth(entra)) as served:
        yield served


@pytest.fixture
def captured_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog
