"""Names shared by the code, the tests, the Bicep checks and the docs.

Each fact lives here once: queue names, setting names, the ADT API version, the token
scope and our own error codes. Anything else that needs one of them imports it.
"""

from __future__ import annotations

from enum import StrEnum

ADT_API_VERSION = "2023-10-31"
ADT_TOKEN_SCOPE = "https://digitaltwins.azure.net/.default"  # noqa: S105 - a scope, not a secret

# Queues. The poison queue name is the host's convention: "<trigger queue>-poison".
REQUESTS_QUEUE = "import-cancel-requests"
RESULTS_QUEUE = "import-cancel-results"
FAILURES_QUEUE = "import-cancel-failures"
POISON_QUEUE = f"{REQUESTS_QUEUE}-poison"
ALL_QUEUES = (REQUESTS_QUEUE, RESULTS_QUEUE, FAILURES_QUEUE, POISON_QUEUE)

# The app setting (or setting prefix, for identity-based connections) of the queue binding.
STORAGE_CONNECTION = "STORAGE_CONNECTION"

# A base64-encoded storage message may be 64 KiB, so the decoded body is at most 48 KiB.
MAX_MESSAGE_BYTES = 48 * 1024


class Setting(StrEnum):
    """App settings the code reads. Bicep must set exactly the ones marked deployed."""

    ADT_ENDPOINT = "ADT_ENDPOINT"
    ADT_ALLOWED_ENDPOINTS = "ADT_ALLOWED_ENDPOINTS"
    AZURE_CLIENT_ID = "AZURE_CLIENT_ID"
    IDENTITY_ENDPOINT = "IDENTITY_ENDPOINT"
    IDENTITY_HEADER = "IDENTITY_HEADER"
    CANCEL_DEADLINE_SECONDS = "CANCEL_DEADLINE_SECONDS"
    CANCEL_MAX_ATTEMPTS = "CANCEL_MAX_ATTEMPTS"
    ADT_CONNECT_TIMEOUT_SECONDS = "ADT_CONNECT_TIMEOUT_SECONDS"
    ADT_READ_TIMEOUT_SECONDS = "ADT_READ_TIMEOUT_SECONDS"
    STATUS_POLL_SECONDS = "STATUS_POLL_SECONDS"


# Settings the platform sets by itself; a deployment must not set them.
PLATFORM_SETTINGS = frozenset({Setting.IDENTITY_ENDPOINT, Setting.IDENTITY_HEADER})


class ErrorCode(StrEnum):
    """Error codes this app produces itself. ADT's own codes pass through unchanged."""

    INVALID_MESSAGE = "InvalidMessage"
    INVALID_JOB_ID = "InvalidJobId"
    INSTANCE_NOT_ALLOWED = "InstanceNotAllowed"
    JOB_NOT_CANCELLABLE = "JobNotCancellable"
    UPSTREAM_ERROR = "UpstreamError"
    UPSTREAM_UNAVAILABLE = "UpstreamUnavailable"
    IDENTITY_UNAVAILABLE = "IdentityUnavailable"
    CONFIGURATION_ERROR = "ConfigurationError"
    INVALID_REQUEST = "InvalidRequest"


# ADT's codes that the app reads (it never invents them).
ADT_VALIDATION_FAILED = "ValidationFailed"
ADT_JOB_NOT_FOUND = "ImportJobNotFound"

ERROR_CODE_HEADER = "x-ms-error-code"
