"""The HTTP API held to docs/openapi.json by a property-based fuzzer (schemathesis), over the
local HTTP host (devtools/http_host.py), against the ADT emulator and Azurite: positive and
negative data, every check but the ones named in SWITCHED_OFF, a fixed seed in CI.

Run once as the service answers, and once with ADT faults injected.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, unsupported_method

from cancel_job.runtime import reset_service
from devtools.adt_emulator import AdtEmulator
from devtools.azurite import REPO_ROOT
from devtools.easy_auth import local_easy_auth
from devtools.entra import LocalEntra
from devtools.http_host import LocalHttpHost

pytestmark = pytest.mark.azurite

EXAMPLES = 100  # per operation and run, besides the coverage phase's own cases

# Checks switched off, and why:
# - unsupported_method expects 405 for a method a route does not serve; the Functions host
#   answers 404 (an unknown route), which the local host reproduces.
SWITCHED_OFF = [unsupported_method]
# - with ADT faults injected, 502/503 are the documented answers (UpstreamError,
#   UpstreamUnavailable), so "no server error" cannot hold in that run; every other check does.
SWITCHED_OFF_WITH_FAULTS = [*SWITCHED_OFF, not_a_server_error]

schema = schemathesis.openapi.from_path(REPO_ROOT / "docs" / "openapi.json")
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=bool(os.environ.get("CI")),  # a fixed seed in CI; exploring locally
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def stack(azurite_session) -> Iterator[tuple[LocalHttpHost, AdtEmulator, dict[str, str]]]:
    """The emulator, the app's settings, the local host behind App Service authentication and
    an allowed caller's token, for the whole module."""
    import function_app

    with AdtEmulator() as emulator, LocalEntra() as entra, pytest.MonkeyPatch.context() as patch:
        emulator.configure(throttle_rate=0)
        for name, value in {
            **emulator.environment(),
            "STORAGE_CONNECTION": azurite_session.connection_string,
            "ADT_JOBS_REQUESTS_PER_SECOND": "0",
            "CANCEL_DEADLINE_SECONDS": "2",
            "CANCEL_MAX_ATTEMPTS": "2",
            "ADT_READ_TIMEOUT_SECONDS": "0.3",
        }.items():
            patch.setenv(name, value)
        reset_service()
        auth = local_easy_auth(entra)
        with LocalHttpHost(function_app.app, auth=auth, storage_connection=azurite_session.connection_string) as host:
            yield host, emulator, {"Authorization": f"Bearer {entra.token()}"}  # an allowed caller's
        reset_service()


@schema.parametrize()
@FUZZ_SETTINGS
def test_the_http_api_holds_to_its_openapi_document(case, stack) -> None:
    host, emulator, bearer = stack
    emulator.configure(chaos_rate=0.0)
    case.call_and_validate(base_url=f"{host.base_url}/api", headers=bearer, excluded_checks=SWITCHED_OFF)


@schema.parametrize()
@FUZZ_SETTINGS
def test_the_http_api_holds_to_its_openapi_document_with_adt_faults(case, stack) -> None:
    host, emulator, bearer = stack
    emulator.configure(chaos_rate=0.5, chaos_slow_seconds=0.5, chaos_seed=3)
    try:
        case.call_and_validate(
            base_url=f"{host.base_url}/api", headers=bearer, excluded_checks=SWITCHED_OFF_WITH_FAULTS
        )
    finally:
        emulator.configure(chaos_rate=0.0)
