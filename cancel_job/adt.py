"""The ADT Import Jobs client: one session and one credential per process.

Only what the cancel needs: POST cancel, GET a job, and list jobs. URLs are built from a
configured :class:`Endpoint` and an id that passed the job-id rule, so no request input
can steer where the token goes. Redirects are never followed, and the session ignores
proxy and netrc settings from the environment.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Protocol, runtime_checkable

import requests
from azure.core.credentials import AccessToken, AccessTokenInfo
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from .assumptions import CORRELATION_HEADER
from .contract import ADT_API_VERSION, ADT_TOKEN_SCOPE, ERROR_CODE_HEADER, NO_CREDENTIAL
from .endpoints import Endpoint, EndpointError, parse_endpoint
from .redact import redact

_MAX_ERROR_MESSAGE = 500
_CORRELATION_ID = re.compile(r"[A-Za-z0-9._-]{1,100}")
# Renew a token this long before it expires (azure-core's bearer policy uses 300 s too),
# unless the credential names an earlier refresh_on.
TOKEN_REFRESH_MARGIN_SECONDS = 300
# azure-identity asks its endpoint again no sooner than this after its last request, and
# hands back its cached token meanwhile, even past refresh_on: ask it no more often.
CREDENTIAL_RETRY_SECONDS = 30.0


# What a credential hands over: get_token_info's AccessTokenInfo carries refresh_on.
Token = AccessToken | AccessTokenInfo


@runtime_checkable
class TokenProvider(Protocol):
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken: ...


CredentialFactory = Callable[[], TokenProvider]


class IdentityError(Exception):
    """No token could be had; the message is safe to log. ``final``: no credential could
    even try (none is configured or signed in), which no wait or retry changes."""

    def __init__(self, message: str, *, final: bool = False) -> None:
        super().__init__(message)
        self.final = final


def nothing_to_try(exc: BaseException) -> bool:
    """Did the credential answer that it cannot even try, rather than fail or time out?"""
    from azure.identity import CredentialUnavailableError

    return isinstance(exc, CredentialUnavailableError) or NO_CREDENTIAL in str(exc)


# A chained credential (DefaultAzureCredential) names each credential it tried on a line
# of its own, "\t<Name>: <why>", with links and advice around them.
_TRIED = re.compile(r"\t(?P<name>\w+): (?P<why>.*)")
MAX_CREDENTIAL_FAILURE_CHARS = 300
MAX_REASON_CHARS = 110


_ADVICE = ("http", "troubleshoot", "visit", "see the", "please", "to mitigate")


def credential_failure(text: str) -> str:
    """A credential's failure, redacted: its first line, then one short line per credential
    a chain tried (what it said, without the links and advice)."""
    lines = redact(text).splitlines()
    head = lines[0][:MAX_CREDENTIAL_FAILURE_CHARS] if lines else ""
    tried = []
    for line in lines[1:]:
        if match := _TRIED.fullmatch(line):
            sentences = match["why"].removeprefix(f"{match['name']} ").rstrip(".").split(". ")
            said = ". ".join(s for s in sentences if not any(word in s.lower() for word in _ADVICE))
            tried.append(f"  {match['name']}: {said[:MAX_REASON_CHARS]}")
    return "\n".join([head, *tried])


class TransportError(Exception):
    """No HTTP answer. ``request_sent`` is False only when ADT surely never saw it."""

    def __init__(self, message: str, *, request_sent: bool) -> None:
        super().__init__(message)
        self.request_sent = request_sent


class AdtResponse:
    """ADT's answer; the body is parsed once, on first use."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body
        self._parsed: dict[str, Any] | None = None
        self._was_parsed = False

    def json_object(self) -> dict[str, Any] | None:
        if not self._was_parsed:
            try:
                value = json.loads(self.body)
            except (ValueError, RecursionError):
                value = None
            self._parsed = value if isinstance(value, dict) else None
            self._was_parsed = True
        return self._parsed

    @property
    def correlation_id(self) -> str | None:
        """ADT's id for this exchange, which support asks for. A GUID today; anything that
        is not a short plain token is dropped rather than copied into records and logs."""
        value = (self.headers.get(CORRELATION_HEADER) or "").strip()
        return value if _CORRELATION_ID.fullmatch(value) else None

    @property
    def error_code(self) -> str | None:
        code = self.headers.get(ERROR_CODE_HEADER)
        if code:
            return code
        error = (self.json_object() or {}).get("error")
        code = error.get("code") if isinstance(error, dict) else None
        return code if isinstance(code, str) else None

    @property
    def error_message(self) -> str:
        error = (self.json_object() or {}).get("error")
        message = error.get("message") if isinstance(error, dict) else None
        if not isinstance(message, str) or not message:
            message = f"ADT answered {self.status}"
        return redact(message)[:_MAX_ERROR_MESSAGE]


def job_url(endpoint: Endpoint, job_id: str, action: str = "") -> str:
    """``job_id`` must already have passed the job-id rule (it needs no encoding)."""
    return f"{endpoint.base_url}/jobs/imports/{job_id}{action}?api-version={ADT_API_VERSION}"


class AdtClient:
    def __init__(
        self,
        credential: TokenProvider | CredentialFactory,
        *,
        connect_timeout: float,
        read_timeout: float,
        pool_size: int = 32,
    ) -> None:
        """``credential``: a credential, or a factory of them. With a factory, a token ADT
        rejected (401) is replaced by one from a new credential: asking the same one again
        returns its cached copy of the rejected token."""
        self._new_credential: CredentialFactory | None = None
        if isinstance(credential, TokenProvider):
            self._credential: TokenProvider = credential
        else:
            self._new_credential = credential
            self._credential = credential()
        self._timeout = (connect_timeout, read_timeout)
        # The credential caches tokens too, but asking it costs more than the HTTP call's
        # own overhead; keep the current token here, as azure-core's bearer policy does.
        self._token_lock = threading.Lock()
        self._cached_token: Token | None = None
        self._renew_at = float("-inf")  # time.time() from which to ask the credential again
        self._fetch: Future[Token] | None = None  # the one token fetch in flight
        session = requests.Session()
        session.trust_env = False  # no proxies or .netrc credentials from the environment
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        self._session = session

    def cancel(self, endpoint: Endpoint, job_id: str, trace_headers: Mapping[str, str]) -> AdtResponse:
        return self._send("POST", job_url(endpoint, job_id, "/cancel"), trace_headers)

    def get(self, endpoint: Endpoint, job_id: str, trace_headers: Mapping[str, str]) -> AdtResponse:
        return self._send("GET", job_url(endpoint, job_id), trace_headers)

    def list_page(
        self, endpoint: Endpoint, trace_headers: Mapping[str, str], next_link: str | None = None
    ) -> AdtResponse:
        url = f"{endpoint.base_url}/jobs/imports?api-version={ADT_API_VERSION}"
        if next_link is not None:
            if not _same_origin(next_link, endpoint):
                raise TransportError("nextLink points outside the ADT endpoint", request_sent=False)
            url = next_link
        return self._send("GET", url, trace_headers)

    def has_token(self) -> bool:
        """Is a token at hand, so that a request would go out without asking the identity endpoint?"""
        return self._cached_token is not None and time.time() < self._renew_at

    def ensure_token(self, timeout: float | None = None) -> None:
        """Get a token now, if none is at hand, waiting at most ``timeout`` seconds;
        raises IdentityError."""
        self._token(timeout)

    def _token(self, timeout: float | None = None) -> str:
        """The current token. One fetch at a time runs on a thread of its own; every caller
        that needs it waits for that fetch, each no longer than its own ``timeout``. A
        caller that gives up leaves the fetch running: its token serves whoever comes next."""
        token = self._cached_token
        if token is not None and time.time() < self._renew_at:
            return token.token
        with self._token_lock:  # held only to find or start the fetch, never to wait on it
            token = self._cached_token
            if token is not None and time.time() < self._renew_at:
                return token.token
            if self._fetch is None or self._fetch.done():
                self._fetch = Future()
                threading.Thread(
                    target=self._fetch_token, args=(self._fetch, self._credential), name="adt-token", daemon=True
                ).start()
            fetch = self._fetch
        try:
            return fetch.result(timeout=None if timeout is None else max(0.0, timeout)).token
        except FutureTimeout:
            raise IdentityError(
                f"no token from the identity endpoint within {max(0.0, timeout or 0):.1f} s; still waiting for it"
            ) from None
        except Exception as exc:  # any credential failure means "no token now"
            raise IdentityError(
                f"could not get a token for ADT ({type(exc).__name__}): {credential_failure(str(exc))}",
                final=nothing_to_try(exc),
            ) from None

    def _fetch_token(self, fetch: Future[Token], credential: TokenProvider) -> None:
        try:
            # get_token_info carries refresh_on (get_token does not): renew when the
            # credential says, not only five minutes before expiry.
            get: Callable[[str], Token] = getattr(credential, "get_token_info", None) or credential.get_token
            token = get(ADT_TOKEN_SCOPE)
            renew = renew_at(token, time.time())
        except BaseException as exc:  # every waiting caller gets it: the fetch always ends
            fetch.set_exception(exc)
            return
        with self._token_lock:
            if credential is self._credential:  # not a credential replaced meanwhile
                self._cached_token, self._renew_at = token, renew
        fetch.set_result(token)

    def forget_token(self) -> None:
        """ADT rejected the token (401): drop it, and with a credential factory start from a
        new credential, so that the next request presents a genuinely new token."""
        with self._token_lock:
            self._cached_token, self._renew_at = None, float("-inf")
            self._fetch = None
            if self._new_credential is not None:
                self._credential = self._new_credential()

    def _send(self, method: str, url: str, trace_headers: Mapping[str, str]) -> AdtResponse:
        headers = dict(trace_headers)
        # Normally at hand (the service fetches it first, within its budget); if it went
        # stale just now, wait for a new one no longer than for an answer from ADT.
        headers["Authorization"] = f"Bearer {self._token(timeout=self._timeout[1])}"
        try:
            response = self._session.request(method, url, headers=headers, timeout=self._timeout, allow_redirects=False)
        except requests.exceptions.ConnectTimeout:
            raise TransportError("timed out connecting to ADT", request_sent=False) from None
        except requests.exceptions.ReadTimeout:
            raise TransportError("timed out waiting for ADT's answer", request_sent=True) from None
        except requests.exceptions.ConnectionError as exc:
            sent = not _is_connect_failure(exc)
            what = "connection to ADT dropped" if sent else "could not connect to ADT"
            raise TransportError(what, request_sent=sent) from None
        except requests.exceptions.RequestException as exc:
            raise TransportError(f"HTTP error talking to ADT ({type(exc).__name__})", request_sent=True) from None
        return AdtResponse(response.status_code, response.headers, response.content)

    def close(self) -> None:
        self._session.close()


def renew_at(token: Token, now: float) -> float:
    """When to ask the credential for a token again: at its ``refresh_on``, else five
    minutes before it expires. A token already due when the credential handed it over (it
    renews at most every 30 s) is kept for 30 s more, never past its expiry."""
    refresh_on: int | None = getattr(token, "refresh_on", None)
    due = float(refresh_on or token.expires_on - TOKEN_REFRESH_MARGIN_SECONDS)
    if due > now:
        return due
    return min(now + CREDENTIAL_RETRY_SECONDS, float(token.expires_on - 1))


def _is_connect_failure(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, NewConnectionError | ConnectionRefusedError):
            return True
        reason = getattr(current, "reason", None)
        current = reason if isinstance(reason, BaseException) else (current.__cause__ or current.__context__)
    return False


def _same_origin(url: str, endpoint: Endpoint) -> bool:
    origin, _, rest = url.partition("/jobs/imports")
    try:
        return parse_endpoint(origin) == endpoint and rest.startswith("?")
    except EndpointError:
        return False
