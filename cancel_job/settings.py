"""App settings, read once and checked strictly; a bad value is a ConfigurationError."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import NamedTuple

from . import assumptions
from .contract import STORAGE_CONNECTION, CallerAuthentication, PacingScope, Setting
from .endpoints import Endpoint, EndpointAllowlist, EndpointError, parse_endpoint
from .trust import DEFAULT_RETRY_AFTER_CAP_SECONDS

DEFAULT_DEADLINE_SECONDS = 25.0
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_CONNECT_TIMEOUT_SECONDS = 3.05
DEFAULT_READ_TIMEOUT_SECONDS = 10.0
# Retry-After of a 202 while a job is in progress. ADT's Jobs API allows about one
# request per second per instance, so pollers are asked to come back slowly.
DEFAULT_STATUS_POLL_SECONDS = 5.0
# Follow-through on the queue path: re-check a cancelled job until it is final.
DEFAULT_FOLLOW_THROUGH_INTERVAL_SECONDS = 30.0
DEFAULT_FOLLOW_THROUGH_MAX_CHECKS = 40
DEFAULT_FOLLOW_THROUGH_DEADLINE_SECONDS = 3600.0
# A queued request that ADT's throttling keeps deferring ends in TooManyRequests after this.
DEFAULT_THROTTLE_DEFERRAL_MAX_SECONDS = 24 * 3600.0
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False, "": False}


class ConfigurationError(Exception):
    """A setting is missing or invalid; the message names it, never its value (a value in
    the wrong setting may be a secret)."""


class Settings(NamedTuple):
    allowlist: EndpointAllowlist
    client_id: str | None = None
    use_managed_identity: bool = False
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    connect_timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS
    read_timeout_seconds: float = DEFAULT_READ_TIMEOUT_SECONDS
    status_poll_seconds: float = DEFAULT_STATUS_POLL_SECONDS
    follow_through_default: bool = False
    follow_through_interval_seconds: float = DEFAULT_FOLLOW_THROUGH_INTERVAL_SECONDS
    follow_through_max_checks: int = DEFAULT_FOLLOW_THROUGH_MAX_CHECKS
    follow_through_deadline_seconds: float = DEFAULT_FOLLOW_THROUGH_DEADLINE_SECONDS
    jobs_requests_per_second: float = assumptions.JOBS_REQUESTS_PER_SECOND
    pacing_scope: PacingScope = PacingScope.PROCESS
    throttle_deferral_max_seconds: float = DEFAULT_THROTTLE_DEFERRAL_MAX_SECONDS
    caller_authentication: CallerAuthentication = CallerAuthentication.PLATFORM
    retry_after_max_seconds: float = DEFAULT_RETRY_AFTER_CAP_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        raw_endpoint = env.get(Setting.ADT_ENDPOINT.value)
        if not raw_endpoint:
            raise ConfigurationError(f"{Setting.ADT_ENDPOINT.value} is not set")
        default = _endpoint(Setting.ADT_ENDPOINT, raw_endpoint)
        others = tuple(
            _endpoint(Setting.ADT_ALLOWED_ENDPOINTS, entry)
            for entry in _split_list(env.get(Setting.ADT_ALLOWED_ENDPOINTS.value, ""))
        )
        return cls(
            allowlist=EndpointAllowlist(default, others),
            client_id=env.get(Setting.AZURE_CLIENT_ID.value) or None,
            use_managed_identity=bool(
                env.get(Setting.IDENTITY_ENDPOINT.value) and env.get(Setting.IDENTITY_HEADER.value)
            ),
            deadline_seconds=_positive(env, Setting.CANCEL_DEADLINE_SECONDS, DEFAULT_DEADLINE_SECONDS),
            max_attempts=int(_positive(env, Setting.CANCEL_MAX_ATTEMPTS, DEFAULT_MAX_ATTEMPTS, integer=True)),
            connect_timeout_seconds=_positive(
                env, Setting.ADT_CONNECT_TIMEOUT_SECONDS, DEFAULT_CONNECT_TIMEOUT_SECONDS
            ),
            read_timeout_seconds=_positive(env, Setting.ADT_READ_TIMEOUT_SECONDS, DEFAULT_READ_TIMEOUT_SECONDS),
            status_poll_seconds=_positive(env, Setting.STATUS_POLL_SECONDS, DEFAULT_STATUS_POLL_SECONDS),
            follow_through_default=_boolean(env, Setting.FOLLOW_THROUGH_DEFAULT),
            follow_through_interval_seconds=_positive(
                env, Setting.FOLLOW_THROUGH_INTERVAL_SECONDS, DEFAULT_FOLLOW_THROUGH_INTERVAL_SECONDS
            ),
            follow_through_max_checks=int(
                _positive(env, Setting.FOLLOW_THROUGH_MAX_CHECKS, DEFAULT_FOLLOW_THROUGH_MAX_CHECKS, integer=True)
            ),
            follow_through_deadline_seconds=_positive(
                env, Setting.FOLLOW_THROUGH_DEADLINE_SECONDS, DEFAULT_FOLLOW_THROUGH_DEADLINE_SECONDS
            ),
            jobs_requests_per_second=_positive(
                env, Setting.ADT_JOBS_REQUESTS_PER_SECOND, assumptions.JOBS_REQUESTS_PER_SECOND, zero_allowed=True
            ),
            pacing_scope=_pacing_scope(env),
            throttle_deferral_max_seconds=_positive(
                env, Setting.THROTTLE_DEFERRAL_MAX_SECONDS, DEFAULT_THROTTLE_DEFERRAL_MAX_SECONDS
            ),
            caller_authentication=_caller_authentication(env),
            retry_after_max_seconds=_positive(
                env, Setting.ADT_RETRY_AFTER_MAX_SECONDS, DEFAULT_RETRY_AFTER_CAP_SECONDS
            ),
        )


def storage_configured(env: Mapping[str, str]) -> bool:
    """Is a storage account configured for the app's own use (a connection string, or the
    identity-based form with a blob service URI)?"""
    return bool(env.get(STORAGE_CONNECTION) or env.get(f"{STORAGE_CONNECTION}__blobServiceUri"))


def _caller_authentication(env: Mapping[str, str]) -> CallerAuthentication:
    raw = env.get(Setting.HTTP_CALLER_AUTHENTICATION.value, "").strip().lower()
    try:
        return CallerAuthentication(raw or CallerAuthentication.PLATFORM)
    except ValueError:
        choices = " or ".join(choice.value for choice in CallerAuthentication)
        raise ConfigurationError(f"{Setting.HTTP_CALLER_AUTHENTICATION.value} must be {choices}") from None


def _pacing_scope(env: Mapping[str, str]) -> PacingScope:
    """Shared by the fleet wherever a storage account is configured, unless set otherwise."""
    raw = env.get(Setting.ADT_PACING_SCOPE.value, "").strip().lower()
    if not raw:
        return PacingScope.SHARED if storage_configured(env) else PacingScope.PROCESS
    try:
        return PacingScope(raw)
    except ValueError:
        choices = " or ".join(scope.value for scope in PacingScope)
        raise ConfigurationError(f"{Setting.ADT_PACING_SCOPE.value} must be {choices}") from None


def _split_list(text: str) -> list[str]:
    # Entries are separated by commas; each entry itself must have no surrounding spaces,
    # but a space after a comma is the common way to write a list, so allow it there.
    return [entry.strip() for entry in text.split(",") if entry.strip()]


def _endpoint(setting: Setting, text: str) -> Endpoint:
    try:
        return parse_endpoint(text)
    except EndpointError as exc:
        raise ConfigurationError(f"{setting.value} is invalid: {exc}") from exc


def _boolean(env: Mapping[str, str], setting: Setting) -> bool:
    raw = env.get(setting.value, "")
    if raw.strip().lower() not in _BOOLEANS:
        raise ConfigurationError(f"{setting.value} must be true or false")
    return _BOOLEANS[raw.strip().lower()]


def _positive(
    env: Mapping[str, str], setting: Setting, default: float, *, integer: bool = False, zero_allowed: bool = False
) -> float:
    raw = env.get(setting.value)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError as exc:
        kind = "a whole number" if integer else "a number"
        raise ConfigurationError(f"{setting.value} must be {kind}") from exc
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero_allowed):
        bound = "0 or more" if zero_allowed else "greater than 0"
        raise ConfigurationError(f"{setting.value} must be {bound}")
    return value
