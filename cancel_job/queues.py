"""Storage queue clients from the same settings the queue binding uses.

``STORAGE_CONNECTION`` is a connection string (Azurite, local runs), or a prefix of
identity-based settings in Azure: ``STORAGE_CONNECTION__queueServiceUri`` with
``__credential=managedidentity`` and ``__clientId``. Messages are sent as plain text:
host.json's ``messageEncoding: none`` hands them to the function as they are.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .contract import ALL_QUEUES, QUEUE_DEPTH_FIELD, QUEUE_FIELD, STORAGE_CONNECTION
from .pacing_store import STORE_CONNECT_TIMEOUT_SECONDS, STORE_READ_TIMEOUT_SECONDS
from .settings import ConfigurationError

if TYPE_CHECKING:  # imported where used: cold start pays only for what it calls
    from azure.core.credentials import TokenCredential
    from azure.storage.blob import ContainerClient
    from azure.storage.queue import QueueClient

# azure-storage-queue's defaults are 20 s to connect, 60 s to read and retries after 15, 18
# and 24 s: one send to a failing service took 80 s. A follow-up send happens inside an
# invocation's budget, so it is bounded: at worst 3 + 5 s.
SEND_CONNECT_TIMEOUT_SECONDS = 3.0
SEND_READ_TIMEOUT_SECONDS = 5.0
# No SDK retry: Put Message is not idempotent, and a retry after a read timeout stores a
# second copy while the caller sees one success. A send that fails fails the delivery
# instead, and the host redelivers the original, which is still held (entrypoints.py).
SEND_RETRIES = 0


def bounded_options() -> dict[str, Any]:
    from azure.storage.queue import LinearRetry

    return {
        "connection_timeout": SEND_CONNECT_TIMEOUT_SECONDS,
        "read_timeout": SEND_READ_TIMEOUT_SECONDS,
        "retry_policy": LinearRetry(retry_total=SEND_RETRIES),
    }


def queue_client(queue: str, env: Mapping[str, str] | None = None) -> QueueClient:
    from azure.storage.queue import QueueClient

    env = os.environ if env is None else env
    options = bounded_options()
    connection_string = env.get(STORAGE_CONNECTION)
    if connection_string:
        try:
            return QueueClient.from_connection_string(connection_string, queue, **options)
        except ValueError:
            raise ConfigurationError(f"{STORAGE_CONNECTION} is not a valid connection string") from None
    return QueueClient(_service_uri(env, "queue"), queue, credential=_credential(env), **options)


def blob_container_client(
    container: str, options: dict[str, Any], env: Mapping[str, str] | None = None
) -> ContainerClient:
    """A client of ``container`` in the same storage account as the queues.

    A connection string that names its endpoints but no ``BlobEndpoint`` is refused: the
    SDK would otherwise derive a public ``<account>.blob.core.windows.net`` address from it.
    """
    from azure.storage.blob import ContainerClient

    env = os.environ if env is None else env
    connection_string = env.get(STORAGE_CONNECTION)
    if connection_string:
        keys = {part.split("=", 1)[0].strip().lower() for part in connection_string.split(";") if "=" in part}
        if "blobendpoint" not in keys and any(key.endswith("endpoint") for key in keys):
            raise ConfigurationError(f"{STORAGE_CONNECTION} names no BlobEndpoint")
        try:
            return ContainerClient.from_connection_string(connection_string, container, **options)
        except ValueError:
            raise ConfigurationError(f"{STORAGE_CONNECTION} is not a valid connection string") from None
    return ContainerClient(_service_uri(env, "blob"), container, credential=_credential(env), **options)


def _service_uri(env: Mapping[str, str], service: str) -> str:
    uri = env.get(f"{STORAGE_CONNECTION}__{service}ServiceUri")
    if not uri:
        raise ConfigurationError(f"neither {STORAGE_CONNECTION} nor {STORAGE_CONNECTION}__{service}ServiceUri is set")
    return uri


def _credential(env: Mapping[str, str]) -> TokenCredential:
    """The identity-based connection's credential: the user-assigned managed identity named
    by ``__clientId`` in Azure, else DefaultAzureCredential (a developer's sign-in); either
    bounded by the pacing store's own timeouts and one retry: azure-identity's defaults
    (300 s timeouts, 10 retries) would hold a pacing turn, or a queue send, for minutes."""
    from azure.identity import DefaultAzureCredential

    from .identity import managed_identity, token_fetch_bounds

    bounded = token_fetch_bounds(STORE_CONNECT_TIMEOUT_SECONDS, STORE_READ_TIMEOUT_SECONDS)
    if env.get(f"{STORAGE_CONNECTION}__credential", "").lower() == "managedidentity":
        return managed_identity(env.get(f"{STORAGE_CONNECTION}__clientId"), bounded)
    return DefaultAzureCredential(exclude_interactive_browser_credential=True, **bounded)


def report_queue_depths(env: Mapping[str, str] | None = None) -> dict[str, int | None]:
    """Each queue's approximate message count, logged as one INFO record per queue (fields
    ``queue`` and ``queueDepth``) for the workbook; None, and a WARNING, for a queue storage
    did not answer for. Never raises: a timer invocation that fails only says so."""
    import logging

    from azure.core.exceptions import AzureError

    logger = logging.getLogger("cancel_job")
    depths: dict[str, int | None] = {}
    for name in ALL_QUEUES:
        try:
            depths[name] = queue_client(name, env).get_queue_properties().approximate_message_count
        except (AzureError, ConfigurationError) as exc:
            depths[name] = None
            logger.warning("queue depth of %s unknown (%s)", name, type(exc).__name__)
            continue
        logger.info("queue depth %s=%d", name, depths[name], extra={QUEUE_FIELD: name, QUEUE_DEPTH_FIELD: depths[name]})
    return depths
