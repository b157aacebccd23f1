"""HTTP callers sign in with Microsoft Entra ID: App Service authentication in front of the
functions (the local host's stand-in, as deployed), the caller in every record, and the app
refusing calls the platform did not validate.

Each attack is sent over real HTTP to the local host; for each, nothing reaches the function
(no record, no output) and nothing reaches ADT.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

import pytest
import requests

from cancel_job.caller import Caller, caller_from_headers
from cancel_job.contract import CALLER_FIELD, FAILURES_QUEUE, RESULTS_QUEUE, ErrorCode
from cancel_job.runtime import reset_service
from devtools.adt_emulator import AdtEmulator
from devtools.azurite import Azurite, drain_queue
from devtools.easy_auth import CLOCK_SKEW_SECONDS, local_easy_auth, principal_headers
from devtools.entra import LOCAL_CALLER_APP_ID, LOCAL_CALLER_OBJECT_ID, LocalEntra, SigningKey, unsigned_token
from devtools.http_host import LocalHttpHost
from tests.helpers import CALLER_HEADERS, invoke_http, invoke_status

OTHER_APP_ID = "99999999-9999-4999-8999-999999999999"
OTHER_OBJECT_ID = "88888888-8888-4888-8888-888888888888"


def cancel(host: LocalHttpHost, headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{host.base_url}/api/jobs/imports/job1/cancel", headers=headers, timeout=10)


def nothing_reached_the_function_or_adt(emulator: AdtEmulator, azurite: Azurite) -> bool:
    adt_calls = [r for r in emulator.requests if r.path.startswith("/jobs/")]
    outputs = drain_queue(azurite.connection_string, RESULTS_QUEUE) + drain_queue(
        azurite.connection_string, FAILURES_QUEUE
    )
    return adt_calls == [] and outputs == [] and emulator.job_status("job1") == "running"


def _forged(entra: LocalEntra) -> str:
    """A good token with its payload swapped for another caller's: the signature no longer fits."""
    header, _, signature = entra.token().split(".")
    _, payload, _ = entra.token(object_id=OTHER_OBJECT_ID).split(".")
    return f"{header}.{payload}.{signature}"


def _adt_token(emulator: AdtEmulator) -> str:
    """A token the local managed-identity endpoint issued for ADT: another audience (and unsigned)."""
    from azure.identity import ManagedIdentityCredential

    return ManagedIdentityCredential().get_token("https://digitaltwins.azure.net/.default").token


BAD_INPUT: dict[str, Callable[[LocalEntra, AdtEmulator], dict[str, str]]] = {
    "no token": lambda entra, _: {},
    "not a bearer token": lambda entra, _: {"Authorization": f"Basic {entra.token()}"},
    "an empty bearer": lambda entra, _: {"Authorization": "Bearer "},
    "a malformed token": lambda entra, _: {"Authorization": "Bearer not.a.jwt"},
    "alg none": lambda entra, _: {
        "Authorization": "Bearer "
        + unsigned_token(
            {
                "aud": "https://management.azure.com",
                "iss": entra.issuer,
                "tid": entra.tenant,
                "oid": LOCAL_CALLER_OBJECT_ID,
                "appid": LOCAL_CALLER_APP_ID,
                "iat": int(time.time()),
                "nbf": int(time.time()),
                "exp": int(time.time()) + 600,
            },
            kid=entra.key.kid,
        )
    },
    "a wrong signature": lambda entra, _: {"Authorization": f"Bearer {_forged(entra)}"},
    "a key id nobody published": lambda entra, _: {"Authorization": f"Bearer {entra.token(key=SigningKey.new())}"},
    "a key nobody published under a published id": lambda entra, _: {
        "Authorization": f"Bearer {entra.token(key=SigningKey(entra.key.kid, SigningKey.new().private))}"
    },
    "expired": lambda entra, _: {"Authorization": f"Bearer {entra.token(lifetime_seconds=-(CLOCK_SKEW_SECONDS + 60))}"},
    "not yet valid": lambda entra, _: {
        "Authorization": f"Bearer {entra.token(not_before=time.time() + CLOCK_SKEW_SECONDS + 60)}"
    },
    "another audience": lambda entra, _: {"Authorization": f"Bearer {entra.token(audience='https://vault.azure.net')}"},
    "the local managed identity's token for ADT": lambda entra, emulator: {
        "Authorization": f"Bearer {_adt_token(emulator)}"
    },
    "another issuer": lambda entra, _: {
        "Authorization": f"Bearer {entra.token(issuer='https://sts.windows.net/00000000-0000-4000-8000-000000000bad/')}"
    },
    "another tenant": lambda entra, _: {
        "Authorization": f"Bearer {entra.token(tenant='00000000-0000-4000-8000-000000000bad')}"
    },
    "spoofed principal headers without a token": lambda entra, _: dict(
        principal_headers({"oid": LOCAL_CALLER_OBJECT_ID, "appid": LOCAL_CALLER_APP_ID, "tid": entra.tenant})
    ),
}


@pytest.mark.azurite
@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_each_bad_credential_is_an_empty_401_and_reaches_neither_the_function_nor_adt(
    host, entra, emulator, azurite, case
) -> None:
    emulator.add_job("job1", status="running")
    answer = cancel(host, BAD_INPUT[case](entra, emulator))
    assert answer.status_code == 401 and answer.content == b"" and "Content-Type" not in answer.headers
    assert nothing_reached_the_function_or_adt(emulator, azurite)


@pytest.mark.azurite
def test_a_token_within_the_clock_skew_allowance_is_accepted(host, entra, emulator, azurite) -> None:
    emulator.add_job("job1", status="running")
    token = entra.token(not_before=time.time() + CLOCK_SKEW_SECONDS - 60)
    assert cancel(host, {"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.mark.azurite
@pytest.mark.parametrize(
    ("app_id", "object_id"),
    [(OTHER_APP_ID, OTHER_OBJECT_ID), (None, OTHER_OBJECT_ID)],
    ids=["another application", "a person"],
)
def test_a_valid_token_from_a_caller_not_on_the_allow_list_is_403(
    host, entra, emulator, azurite, app_id, object_id
) -> None:
    emulator.add_job("job1", status="running")
    answer = cancel(host, {"Authorization": f"Bearer {entra.token(app_id=app_id, object_id=object_id)}"})
    assert answer.status_code == 403
    assert nothing_reached_the_function_or_adt(emulator, azurite)


@pytest.mark.azurite
def test_both_lists_set_means_both_must_match(app_env, emulator, azurite, entra, monkeypatch) -> None:
    import function_app

    monkeypatch.setenv("STORAGE_CONNECTION", azurite.connection_string)
    auth = local_easy_auth(entra, (LOCAL_CALLER_APP_ID,), (LOCAL_CALLER_OBJECT_ID,))
    emulator.add_job("job1", status="running")
    with LocalHttpHost(function_app.app, auth=auth) as host:
        wrong_object = cancel(host, {"Authorization": f"Bearer {entra.token(object_id=OTHER_OBJECT_ID)}"})
        both = cancel(host, {"Authorization": f"Bearer {entra.token()}"})
    assert wrong_object.status_code == 403 and both.status_code == 200


@pytest.mark.azurite
def test_spoofed_principal_headers_beside_a_valid_token_are_replaced_by_the_validated_caller(
    host, entra, emulator, azurite
) -> None:
    """The platform strips X-MS-CLIENT-PRINCIPAL* from the request: the record names the
    token's caller, never the one the headers claimed."""
    spoofed = principal_headers({"oid": OTHER_OBJECT_ID, "appid": OTHER_APP_ID, "tid": entra.tenant})
    answer = requests.post(
        f"{host.base_url}/api/jobs/imports/nojob/cancel",
        headers={**spoofed, "Authorization": f"Bearer {entra.token()}"},
        timeout=10,
    )
    assert answer.status_code == 404
    [record] = [json.loads(r) for r in drain_queue(azurite.connection_string, FAILURES_QUEUE)]
    assert record[CALLER_FIELD] == {"objectId": LOCAL_CALLER_OBJECT_ID, "appId": LOCAL_CALLER_APP_ID}


@pytest.mark.azurite
def test_a_failure_record_of_an_authenticated_call_names_the_caller_and_the_log_does_too(
    host, entra, emulator, azurite, captured_logs
) -> None:
    answer = requests.post(
        f"{host.base_url}/api/jobs/imports/nojob/cancel",
        headers={"Authorization": f"Bearer {entra.token()}"},
        timeout=10,
    )
    assert answer.status_code == 404
    [record] = [json.loads(r) for r in drain_queue(azurite.connection_string, FAILURES_QUEUE)]
    assert record[CALLER_FIELD] == {"objectId": LOCAL_CALLER_OBJECT_ID, "appId": LOCAL_CALLER_APP_ID}
    [logged] = [r for r in captured_logs.records if r.getMessage().startswith("import cancel")]
    assert (logged.callerObjectId, logged.callerAppId) == (LOCAL_CALLER_OBJECT_ID, LOCAL_CALLER_APP_ID)


def test_results_stay_the_import_job_unchanged(app_env, emulator) -> None:
    emulator.add_job("job1", status="running")
    invoked = invoke_http("job1")
    assert invoked.result_json == emulator.state.jobs["job1"].to_json() | {"status": "running"}
    assert CALLER_FIELD not in invoked.result_json


@pytest.mark.parametrize("invoke", [invoke_http, invoke_status], ids=["cancel", "status"])
def test_the_app_refuses_a_call_the_platform_did_not_validate(app_env, emulator, invoke, captured_logs) -> None:
    """Fail closed: if App Service authentication were off, a call arrives with no caller
    headers; the app answers 401 Unauthenticated, writes nothing and calls nothing."""
    emulator.add_job("job1", status="running")
    stripped = {name: "" for name in CALLER_HEADERS}  # the headers present but empty: no caller
    invoked = invoke("job1", headers=stripped)
    response = invoked.returned if hasattr(invoked, "returned") else invoked
    assert response.status_code == 401
    assert json.loads(response.get_body())["error"]["code"] == ErrorCode.UNAUTHENTICATED.value
    if hasattr(invoked, "failure"):
        assert invoked.failure is None and invoked.result is None
    assert [r for r in emulator.requests if r.path.startswith("/jobs/")] == []
    assert any(getattr(r, "outcome", None) == "unauthenticated" for r in captured_logs.records)


def test_with_caller_authentication_none_a_call_without_a_caller_goes_through(app_env, emulator, monkeypatch) -> None:
    """HTTP_CALLER_AUTHENTICATION=none is for func start on a developer's machine."""
    monkeypatch.setenv("HTTP_CALLER_AUTHENTICATION", "none")
    reset_service()
    emulator.add_job("job1", status="running")
    invoked = invoke_http("job1", headers={name: "" for name in CALLER_HEADERS})
    assert invoked.returned.status_code == 200 and "caller" not in (invoked.failure or "")


def test_an_unreadable_setting_fails_closed(app_env, emulator, monkeypatch) -> None:
    monkeypatch.setenv("HTTP_CALLER_AUTHENTICATION", "sometimes")
    reset_service()
    invoked = invoke_http("job1", headers={name: "" for name in CALLER_HEADERS})
    assert invoked.returned.status_code == 401 and invoked.failure is None


def _principal(claims: dict[str, str]) -> str:
    listed = [{"typ": typ, "val": val} for typ, val in claims.items()]
    return base64.b64encode(json.dumps({"claims": listed}).encode()).decode()


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (CALLER_HEADERS, Caller(LOCAL_CALLER_OBJECT_ID, LOCAL_CALLER_APP_ID)),
        ({"X-MS-CLIENT-PRINCIPAL-ID": LOCAL_CALLER_OBJECT_ID.upper()}, Caller(LOCAL_CALLER_OBJECT_ID)),
        ({"X-MS-CLIENT-PRINCIPAL-ID": "not-a-guid"}, None),
        ({"X-MS-CLIENT-PRINCIPAL-ID": "'; DROP TABLE"}, None),
        ({"X-MS-CLIENT-PRINCIPAL": "%%%not base64"}, None),
        ({"X-MS-CLIENT-PRINCIPAL": base64.b64encode(b"[1, 2]").decode()}, None),
        ({"X-MS-CLIENT-PRINCIPAL": "A" * 20_000}, None),
        (
            {
                "X-MS-CLIENT-PRINCIPAL": base64.b64encode(
                    json.dumps(
                        {"claims": [{"typ": "oid", "val": OTHER_OBJECT_ID}, {"typ": "azp", "val": "x"}]}
                    ).encode()
                ).decode()
            },
            Caller(OTHER_OBJECT_ID),
        ),
        ({}, None),
    ],
)
def test_the_caller_is_read_only_as_guids_from_the_platforms_headers(headers, expected) -> None:
    assert caller_from_headers(headers) == expected
