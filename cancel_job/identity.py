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
    """Transport and retry options that bound one token fetch."""
    return {
        "connection_timeout": settings.connect_timeout_seconds,
        "read_timeout": settings.read_timeout_seconds,
        "retry_total": IDENTITY_RETRY_TOTAL,
    }


def build_credential(settings: Settings) -> TokenCredential:
    """``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER`` set means we run on App Service.

    ManagedIdentityCredential does not read AZURE_CLIENT_ID by itself, so the client id
    of a user-assigned identity is passed explicitly. DefaultAzureCredential is only for
    developer machines, where ``az login`` provides the token.
    """
    options = bounded_options(settings)
    if settings.use_managed_identity:
        if settings.client_id:
            return ManagedIdentityCredential(client_id=settings.client_id, **options)
        return ManagedIdentityCredential(**options)
    return developer_credential(settings)


def developer_credential(settings: Settings) -> DefaultAzureCredential:
    """``az login`` and friends, bounded like the managed identity; never a browser prompt.
    The ops CLI uses it even where the platform's identity settings are present."""
    return DefaultAzureCredential(
        managed_identity_client_id=settings.client_id,
        exclude_interactive_browser_credential=True,
        **bounded_options(settings),
    )
