"""Which ADT instances the app may call, and the strict parsing that decides it.

The managed identity's token goes only to an endpoint that came from configuration.
A request may *name* another instance, but the URL used for the call is always the
configured entry it matched, never the text the request carried.
"""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple
from urllib.parse import SplitResult, urlsplit

_DEFAULT_PORTS = {"https": 443, "http": 80}
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DNS_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_URL_TEXT = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces or controls


class EndpointError(ValueError):
    """An endpoint or instance that does not pass the rules; the message says which."""


class Endpoint(NamedTuple):
    scheme: str
    host: str  # lower case; an IPv6 address without brackets
    port: int

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port == _DEFAULT_PORTS[self.scheme]:
            return f"{self.scheme}://{host}"
        return f"{self.scheme}://{host}:{self.port}"

    def __str__(self) -> str:
        return self.base_url


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_host(host: str) -> str:
    host = host.lower()
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if len(host) > 253 or not _DNS_NAME.fullmatch(host):
        raise EndpointError("host is not a valid DNS name or IP address")
    if host.rsplit(".", 1)[-1].isdigit():
        # "127.1" or "1.2.3.999" would be resolved as numbers by some stacks.
        raise EndpointError("host looks like a malformed IP address")
    return host


def parse_endpoint(text: object) -> Endpoint:
    """Parse an ``https://host[:port]`` base URL; ``http`` only for loopback hosts."""
    parts = _split_url(text)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise EndpointError("endpoint must start with https://")
    if "@" in parts.netloc:
        raise EndpointError("endpoint must not contain user information")
    if parts.path not in ("", "/"):
        raise EndpointError("endpoint must not contain a path")
    port = _port_of(parts)
    if not parts.hostname:
        raise EndpointError("endpoint has no host")
    host = _check_host(parts.hostname)
    if scheme == "http" and not is_loopback_host(host):
        raise EndpointError("plain http is allowed only for loopback hosts; use https://")
    return Endpoint(scheme=scheme, host=host, port=port or _DEFAULT_PORTS[scheme])


def _split_url(text: object) -> SplitResult:
    """The text rules of an endpoint, then its parts."""
    if not isinstance(text, str) or not text:
        raise EndpointError("endpoint must be a non-empty string")
    if not _URL_TEXT.fullmatch(text):
        raise EndpointError("endpoint must be printable ASCII with no spaces")
    if "\\" in text or "?" in text or "#" in text:
        raise EndpointError("endpoint must not contain a query, a fragment or '\\'")
    try:
        return urlsplit(text)
    except ValueError as exc:  # "Invalid IPv6 URL" for an unclosed "[": bad input, not a bug
        raise EndpointError("endpoint is not a valid URL") from exc


def _port_of(parts: SplitResult) -> int | None:
    """The explicit port, if any; 0 and out-of-range ports are refused."""
    try:
        port = parts.port
    except ValueError as exc:
        raise EndpointError("endpoint has an invalid port") from exc
    if port == 0:
        raise EndpointError("endpoint has an invalid port")
    return port


class InstanceNotAllowedError(ValueError):
    """The named instance is not the configured endpoint or on the allowlist."""


class EndpointAllowlist(NamedTuple):
    """The configured endpoint plus ``ADT_ALLOWED_ENDPOINTS``; the default is first."""

    default: Endpoint
    others: tuple[Endpoint, ...] = ()

    @property
    def entries(self) -> tuple[Endpoint, ...]:
        return (self.default, *self.others)

    def resolve(self, instance: str | None) -> Endpoint:
        """Return the configured endpoint that ``instance`` names (None: the default).

        ``instance`` is a host name, matched case-insensitively against the entries'
        hosts, or a URL, which must equal an entry in scheme, host and port.
        """
        if instance is None:
            return self.default
        try:
            if "://" in instance:
                wanted = parse_endpoint(instance)
                matches = [e for e in self.entries if e == wanted]
            else:
                if not _URL_TEXT.fullmatch(instance):
                    raise EndpointError("instance must be printable ASCII with no spaces")
                host = _check_host(instance)
                matches = [e for e in self.entries if e.host == host]
        except EndpointError as exc:
            raise InstanceNotAllowedError(f"instance is not allowed: {exc}") from exc
        if not matches:
            raise InstanceNotAllowedError(
                "instance is not allowed: it is neither ADT_ENDPOINT nor an entry of ADT_ALLOWED_ENDPOINTS"
            )
        return matches[0]
