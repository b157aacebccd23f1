"""Unit tests of the smaller core modules: outcomes, ADT responses, redaction, host
config and the credential choice."""

from __future__ import annotations

import base64
import json

import pytest
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
from requests.structures import CaseInsensitiveDict

from cancel_job.adt import AdtClient, AdtResponse, TransportError, job_url
from cancel_job.contract import ErrorCode
from cancel_job.endpoints import parse_endpoint
from cancel_job.hostconfig import load_queue_host_config, parse_timespan
from cancel_job.identity import build_credential
from cancel_job.outcomes import (
    MAX_RECORDED_REQUEST_CHARS,
    Failure,
    failure_record,
    to_json,
)
from cancel_job.redact import escape_untrusted, redact
from cancel_job.settings import Settings
from devtools.azurite import free_loopback_port

ADT = "https://x.api.weu.digitaltwins.azure.net"


@pytest.mark.parametrize(
    ("failure", "status"),
    [
        (Failure(ErrorCode.INVALID_JOB_ID.value, "m"), 400),
        (Failure(ErrorCode.INSTANCE_NOT_ALLOWED.value, "m"), 403),
        (Failure(ErrorCode.JOB_NOT_CANCELLABLE.value, "m", adt_status=400), 409),
        (Failure("ImportJobNotFound", "m", adt_status=404), 404),
        (Failure("ValidationFailed", "m", adt_status=400), 400),
        (Failure("Unauthorized", "m", adt_status=401), 401),
        (Failure(ErrorCode.UPSTREAM_ERROR.value, "m", adt_status=307), 502),
        (Failure("Throttled", "m", adt_status=429, transient=True, retry_after=3), 429),
        (Failure(ErrorCode.UPSTREAM_UNAVAILABLE.value, "m", transient=True), 503),
        (Failure("InternalError", "m", adt_status=500, transient=True), 503),
        (Failure(ErrorCode.CONFIGURATION_ERROR.value, "m", transient=True), 500),
        (Failure(ErrorCode.UNEXPECTED_ERROR.value, "m", transient=True), 500),
        (Failure("ConfigurationError", "m", adt_status=400), 400),  # ADT's code that looks like ours
    ],
)
def test_http_status_of_each_failure(failure: Failure, status: int) -> None:
    assert failure.http_status == status
    assert (failure.retry_after_header is not None) == failure.transient


def test_retry_after_header_rounds_up_and_is_at_least_one() -> None:
    assert Failure("x", "m", transient=True, retry_after=2.1).retry_after_header == "3"
    assert Failure("x", "m", transient=True, retry_after=0.0).retry_after_header == "1"


def test_failure_record_is_capped_to_fit_one_queue_message() -> None:
    hostile = "\x00" * 50_000
    record = failure_record(
        Failure("InvalidJobId", "m", job_id=hostile), request_text=hostile, dequeue_count=3, entry="queue"
    )
    assert len(record["request"]) <= MAX_RECORDED_REQUEST_CHARS + 20
    encoded = base64.b64encode(to_json(record).encode())
    assert len(encoded) <= 64 * 1024
    assert record["dequeueCount"] == 3 and "job" not in record


def test_adt_response_reads_codes_from_header_or_body() -> None:
    body = json.dumps({"error": {"code": "FromBody", "message": "a Bearer abc.def.ghi secret"}}).encode()
    assert AdtResponse(400, CaseInsensitiveDict({"x-ms-error-code": "FromHeader"}), body).error_code == "FromHeader"
    response = AdtResponse(400, CaseInsensitiveDict(), body)
    assert response.error_code == "FromBody"
    assert "abc.def.ghi" not in response.error_message
    assert AdtResponse(500, CaseInsensitiveDict(), b"<html>").error_message == "ADT answered 500"
    assert AdtResponse(200, CaseInsensitiveDict(), b"[1]").json_object() is None


def test_job_url_uses_the_configured_endpoint_and_api_version() -> None:
    assert job_url(parse_endpoint(ADT), "job1", "/cancel") == f"{ADT}/jobs/imports/job1/cancel?api-version=2023-10-31"


def test_next_link_must_stay_on_the_endpoint() -> None:
    client = AdtClient(DefaultAzureCredential(), connect_timeout=1, read_timeout=1)
    with pytest.raises(TransportError, match="outside"):
        client.list_page(parse_endpoint(ADT), {}, next_link="https://evil.example/jobs/imports?api-version=x")
    client.close()


def test_refused_connection_is_known_not_sent() -> None:
    class Token:
        def get_token(self, *scopes, **kwargs):
            from azure.core.credentials import AccessToken

            return AccessToken("t", 2**31)

    client = AdtClient(Token(), connect_timeout=1, read_timeout=1)
    with pytest.raises(TransportError) as info:
        client.cancel(parse_endpoint(f"http://127.0.0.1:{free_loopback_port()}"), "job1", {})
    assert info.value.request_sent is False
    client.close()


def test_redact_and_escape() -> None:
    assert "tok" not in redact("Authorization: Bearer tok123456")
    assert "s3cr3t" not in redact("x-functions-key=s3cr3tvalue&a=1")
    assert "s3cr3t" not in redact("https://app/api/x?code=s3cr3tvalue")
    assert escape_untrusted("a\r\nb\x1b") == "a\\r\\nb\\x1b"
    assert escape_untrusted("x" * 500).endswith("...")


def test_identity_header_value_is_redacted(monkeypatch) -> None:
    monkeypatch.setenv("IDENTITY_HEADER", "the-identity-header-value")
    assert "the-identity-header-value" not in redact("error: header the-identity-header-value rejected")


def test_host_config_is_read_from_host_json() -> None:
    config = load_queue_host_config()
    assert config.max_dequeue_count == 5 and config.visibility_timeout_seconds == 30
    assert config.message_encoding == "none" and config.batch_size == 4 and config.concurrency == 6
    assert parse_timespan("1.02:03:04.5") == 86400 + 7200 + 180 + 4.5
    with pytest.raises(ValueError):
        parse_timespan("30s")


def test_credential_choice(monkeypatch) -> None:
    monkeypatch.setenv("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", "h" * 10)
    managed = build_credential(
        Settings.from_env({"ADT_ENDPOINT": ADT, "IDENTITY_ENDPOINT": "e", "IDENTITY_HEADER": "h"})
    )
    assert isinstance(managed, ManagedIdentityCredential)
    developer = build_credential(Settings.from_env({"ADT_ENDPOINT": ADT}))
    assert isinstance(developer, DefaultAzureCredential)


def test_redaction_leaves_ordinary_error_text_alone() -> None:
    assert redact("error code: ImportJobNotFound") == "error code: ImportJobNotFound"


class CountingCredential:
    def __init__(self, lifetime: float) -> None:
        self.calls, self.lifetime = 0, lifetime

    def get_token(self, *scopes, **kwargs):
        import time

        from azure.core.credentials import AccessToken

        self.calls += 1
        return AccessToken(f"token-{self.calls}", int(time.time() + self.lifetime))


def test_client_keeps_the_token_until_it_nears_expiry() -> None:
    from cancel_job.adt import TOKEN_REFRESH_MARGIN_SECONDS

    fresh = CountingCredential(lifetime=3600)
    client = AdtClient(fresh, connect_timeout=1, read_timeout=1)
    assert [client._token() for _ in range(5)] == ["token-1"] * 5 and fresh.calls == 1
    client.forget_token()  # what a 401 from ADT does
    assert client._token() == "token-2"
    expiring = CountingCredential(lifetime=TOKEN_REFRESH_MARGIN_SECONDS - 10)
    client = AdtClient(expiring, connect_timeout=1, read_timeout=1)
    client._token()
    client._token()
    # Already due when handed over: the credential would hand the same one back for 30 s.
    assert expiring.calls == 1


def test_when_to_ask_the_credential_again() -> None:
    from azure.core.credentials import AccessToken, AccessTokenInfo

    from cancel_job.adt import CREDENTIAL_RETRY_SECONDS, TOKEN_REFRESH_MARGIN_SECONDS, renew_at

    now = 1_000_000.0
    assert renew_at(AccessTokenInfo("t", int(now + 7200), refresh_on=int(now + 3600)), now) == now + 3600
    assert renew_at(AccessToken("t", int(now + 3600)), now) == now + 3600 - TOKEN_REFRESH_MARGIN_SECONDS
    due = AccessTokenInfo("t", int(now + 3600), refresh_on=int(now - 1))  # handed back past refresh_on
    assert renew_at(due, now) == now + CREDENTIAL_RETRY_SECONDS
    assert renew_at(AccessToken("t", int(now + 10)), now) == now + 9  # never past expiry


def test_a_401_from_adt_drops_the_cached_token(app_env, emulator) -> None:
    from cancel_job.messages import CancelRequest
    from cancel_job.runtime import get_service
    from devtools.adt_emulator import Fault

    emulator.add_job("job1")
    service = get_service()
    real = service.client._credential
    asked: list[str] = []

    class Spy:  # the real credential, counting how often the client asks it
        def get_token(self, *scopes, **kwargs):
            asked.append(scopes[0])
            return real.get_token(*scopes, **kwargs)

    service.client._credential = Spy()
    service.cancel(CancelRequest("nosuchjob"))
    service.cancel(CancelRequest("nosuchjob"))
    assert len(asked) == 1
    issued = emulator.token_requests
    emulator.inject(Fault(op="cancel", status=401))
    outcome = service.cancel(CancelRequest("job1"))  # 401: retried once, at once, with a new token
    assert outcome.attempts == 2 and outcome.job_status == "running"
    # Genuinely new: a new credential asked the identity endpoint (the old one would have
    # handed back its cached copy of the rejected token).
    assert emulator.token_requests == issued + 1
    assert service.client._credential is not real and not isinstance(service.client._credential, Spy)


def test_host_settings_are_read_as_the_host_reads_them(tmp_path) -> None:
    """host.json keys in any case, then AzureFunctionsJobHost__extensions__queues__* app
    settings (in any case) over them."""
    host = tmp_path / "host.json"
    host.write_text(
        json.dumps({"Extensions": {"QUEUES": {"MaxDequeueCount": 7, "BATCHSIZE": 2, "visibilityTIMEOUT": "00:00:10"}}})
    )
    config = load_queue_host_config(host, env={})
    assert (config.max_dequeue_count, config.batch_size, config.visibility_timeout_seconds) == (7, 2, 10)
    overridden = load_queue_host_config(
        host,
        env={
            "AzureFunctionsJobHost__extensions__queues__maxDequeueCount": "2",
            "azurefunctionsjobhost__Extensions__Queues__messageEncoding": "none",
            "AzureFunctionsJobHost__extensions__blobs__maxDequeueCount": "9",  # another extension
        },
    )
    assert (overridden.max_dequeue_count, overridden.message_encoding, overridden.batch_size) == (2, "none", 2)


def test_a_lowered_dequeue_count_makes_the_real_last_delivery_write_a_record(app_env, emulator, monkeypatch) -> None:
    from cancel_job.runtime import reset_service
    from devtools.adt_emulator import Fault
    from tests.helpers import invoke_queue

    monkeypatch.setenv("AzureFunctionsJobHost__extensions__queues__maxDequeueCount", "2")
    reset_service()
    emulator.add_job("job1")
    emulator.inject(Fault(op="cancel", status=503, times=50, headers={"Retry-After": "0"}))
    monkeypatch.setenv("CANCEL_MAX_ATTEMPTS", "1")
    reset_service()
    record = invoke_queue(b"job1", dequeue_count=2).failure_json  # the host's last delivery
    assert record["dequeueCount"] == 2 and record["httpStatus"] == 503


def test_the_token_is_renewed_when_the_credential_says() -> None:
    """get_token_info carries refresh_on (get_token does not): a token the credential wants
    renewed soon is not held until five minutes before it expires. (azure-identity sets
    refresh_on for managed-identity tokens that live 2 hours or more, at half their life.)"""
    import time as clock

    from azure.core.credentials import AccessToken, AccessTokenInfo

    from tests.helpers import wait_for

    class Credential:  # azure-identity's two methods: only get_token_info says when to renew
        calls = 0

        def get_token(self, *scopes, **kwargs):
            self.calls += 1
            return AccessToken(f"token-{self.calls}", int(clock.time() + 7200))

        def get_token_info(self, *scopes, options=None):
            self.calls += 1
            return AccessTokenInfo(f"token-{self.calls}", int(clock.time() + 7200), refresh_on=int(clock.time() + 1))

    client = AdtClient(Credential(), connect_timeout=1, read_timeout=1)
    assert client._token() == client._token() == "token-1"  # held until refresh_on
    wait_for(lambda: client._token() == "token-2", timeout=5, interval=0.1)


def test_a_credential_that_returns_nonsense_fails_the_caller_and_never_hangs() -> None:
    from cancel_job.adt import IdentityError

    class Nonsense:
        def get_token(self, *scopes, **kwargs):
            return object()  # no token, no expiry

    client = AdtClient(Nonsense(), connect_timeout=1, read_timeout=1)
    with pytest.raises(IdentityError, match="AttributeError"):
        client.ensure_token(timeout=5)
    client.close()


def test_the_http_route_prefix_is_read_as_the_host_reads_it(tmp_path) -> None:
    from cancel_job.hostconfig import http_route_prefix

    custom, default = tmp_path / "custom.json", tmp_path / "default.json"  # host.json is read once per path
    custom.write_text(json.dumps({"EXTENSIONS": {"Http": {"RoutePrefix": "/v2/"}}}))
    default.write_text("{}")
    assert http_route_prefix(custom) == "v2"
    assert http_route_prefix(default) == "api"  # the host's default
    assert http_route_prefix() == "api"  # ours
