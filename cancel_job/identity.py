"""The credential: the managed identity in Azure, the developer's login elsewhere."""

from __future__ import annotations

from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

from .settings import Settings


def build_credential(settings: Settings):
    """``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER`` set means we run on App Service.

    ManagedIdentityCredential does not read AZURE_CLIENT_ID by itself, so the client id
    of a user-assigned identity is passed explicitly. DefaultAzureCredential is only for
    developer machines, where ``az login`` provides the token.
    """
    if settings.use_managed_identity:
        if settings.client_id:
            return ManagedIdentityCredential(client_id=settings.client_id)
        return ManagedIdentityCredential()
    return DefaultAzureCredential(
        managed_identity_client_id=settings.client_id,
        exclude_interactive_browser_credential=True,
    )
