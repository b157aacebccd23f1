"""Storage queue clients from the same settings the queue binding uses.

``STORAGE_CONNECTION`` is a connection string (Azurite, local runs), or a prefix of
identity-based settings in Azure: ``STORAGE_CONNECTION__queueServiceUri`` with
``__credential=managedidentity`` and ``__clientId``. Messages are sent as plain text:
host.json's ``messageEncoding: none`` hands them to the function as they are.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .contract import STORAGE_CONNECTION
from .settings import ConfigurationError


def queue_client(queue: str, env: Mapping[str, str] | None = None):
    from azure.storage.queue import QueueClient

    env = os.environ if env is None else env
    connection_string = env.get(STORAGE_CONNECTION)
    if connection_string:
        try:
            return QueueClient.from_connection_string(connection_string, queue)
        except ValueError:
            raise ConfigurationError(f"{STORAGE_CONNECTION} is not a valid connection string") from None
    service_uri = env.get(f"{STORAGE_CONNECTION}__queueServiceUri")
    if not service_uri:
        raise ConfigurationError(f"neither {STORAGE_CONNECTION} nor {STORAGE_CONNECTION}__queueServiceUri is set")
    if env.get(f"{STORAGE_CONNECTION}__credential", "").lower() == "managedidentity":
        from azure.identity import ManagedIdentityCredential

        client_id = env.get(f"{STORAGE_CONNECTION}__clientId")
        credential = ManagedIdentityCredential(client_id=client_id) if client_id else ManagedIdentityCredential()
    else:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    return QueueClient(service_uri, queue, credential=credential)
