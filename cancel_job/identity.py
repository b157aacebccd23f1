"""The credential: the managed identity in Azure, the developer's login elsewhere."""

from __future__ import annotations

from typing import Any

from azure.core.credentials import TokenCredential
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

from .settings import Settings

# azure-core's defaults are 300 s to connect and to read and up to 10 retries: a token
# fetch that hangs would outlast the cancel's deadline, the HTTP front end's 230 s and
# functionTimeout. One retry, with ADT's own per-attempt timeouts, keeps it short.
IDENTITY_RETRY_TOTAL = 1


def bounded_options(settings: Settings) -> dict[str, Any]:
    """Transport and retry options that bound one token fetch for ADT."""
    return token_fetch_bounds(settings.connect_timeout_seconds, settings.read_timeout_seconds)


def token_fetch_bounds(connect_timeout: float, read_timeout: float) -> dict[str, Any]:
    """Transport and retry options that bound one token fetch: these timeouts, one retry."""
    return {"connection_timeout": connect_timeout, "read_timeout": read_timeout, "retry_total": IDENTITY_RETRY_TOTAL}


def managed_identity(client_id: str | None, options: dict[str, Any]) -> ManagedIdentityCredential:
    """The system-assigned identity, or the user-assigned one ``client_id`` names: the
    credential does not read AZURE_CLIENT_ID by itself."""
    if client_id:
        return ManagedIdentityCredential(client_id=client_id, **options)
    return ManagedIdentityCredential(**options)


def build_credential(settings: Settings) -> TokenCredential:
    """``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER`` set means we run on App Service.

    ManagedIdentityCredential does not read AZURE_CLIENT_ID by itself, so the client id
    of a user-assigned identity is passed explicitly. DefaultAzureCredential is only for
    developer machines, where ``az login`` provides the token.
    """
    if settings.use_managed_identity:
        return managed_identity(settings.client_id, bounded_options(settings))
    return developer_credential(settings)


def developer_credential(settings: Settings) -> DefaultAzureCredential:
    """``az login`` and friends, bounded like the managed identity; never a browser prompt.
    The ops CLI uses it even where the platform's identity settings are present."""
    return DefaultAzureCredential(
        managed_identity_client_id=settings.client_id,
        exclude_interactive_browser_credential=True,
        **bounded_options(settings),
    )
