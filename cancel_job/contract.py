"""Names shared by the code, the tests, the Bicep checks and the docs.

Each fact lives here once: queue names, setting names, the ADT API version, the token
scope and our own error codes. Anything else that needs one of them imports it.
"""

from __future__ import annotations

from enum import StrEnum

ADT_API_VERSION = "2023-10-31"
ADT_TOKEN_SCOPE = "https://digitaltwins.azure.net/.default"  # noqa: S105 - a scope, not a secret
STORAGE_TOKEN_SCOPE = "https://storage.azure.com/.default"  # noqa: S105 - a scope, not a secret

# Queues. The poison queue name is the host's convention: "<trigger queue>-poison".
REQUESTS_QUEUE = "import-cancel-requests"
RESULTS_QUEUE = "import-cancel-results"
FAILURES_QUEUE = "import-cancel-failures"
POISON_QUEUE = f"{REQUESTS_QUEUE}-poison"
ALL_QUEUES = (REQUESTS_QUEUE, RESULTS_QUEUE, FAILURES_QUEUE, POISON_QUEUE)

# The app setting (or setting prefix, for identity-based connections) of the queue binding.
# The shared pacing state lives in a blob container of the same storage account.
STORAGE_CONNECTION = "STORAGE_CONNECTION"
PACING_CONTAINER = "adt-pacing"

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
    FOLLOW_THROUGH_DEFAULT = "FOLLOW_THROUGH_DEFAULT"
    FOLLOW_THROUGH_INTERVAL_SECONDS = "FOLLOW_THROUGH_INTERVAL_SECONDS"
    FOLLOW_THROUGH_MAX_CHECKS = "FOLLOW_THROUGH_MAX_CHECKS"
    FOLLOW_THROUGH_DEADLINE_SECONDS = "FOLLOW_THROUGH_DEADLINE_SECONDS"
    ADT_JOBS_REQUESTS_PER_SECOND = "ADT_JOBS_REQUESTS_PER_SECOND"
    ADT_PACING_SCOPE = "ADT_PACING_SCOPE"
    THROTTLE_DEFERRAL_MAX_SECONDS = "THROTTLE_DEFERRAL_MAX_SECONDS"
    HTTP_CALLER_AUTHENTICATION = "HTTP_CALLER_AUTHENTICATION"
    ADT_RETRY_AFTER_MAX_SECONDS = "ADT_RETRY_AFTER_MAX_SECONDS"


class CallerAuthentication(StrEnum):
    """Who authenticates HTTP callers. ``platform`` (the default): App Service authentication
    in front, and a call without the caller it validated is refused (401), so a deployment
    whose authentication is off fails closed. ``none``: no check, for ``func start`` on a
    developer's machine only."""

    PLATFORM = "platform"
    NONE = "none"


class PacingScope(StrEnum):
    """Who shares a gate: every process of the app (through the storage account), or one."""

    SHARED = "shared"
    PROCESS = "process"


# Settings the platform sets by itself; a deployment must not set them.
PLATFORM_SETTINGS = frozenset({Setting.IDENTITY_ENDPOINT, Setting.IDENTITY_HEADER})


def identity_connection_settings(connection: str, service: str) -> frozenset[str]:
    """An identity-based connection with a user-assigned identity: the service URI, the
    credential kind and the identity's client id (the resource id is not supported)."""
    return frozenset({f"{connection}__{service}ServiceUri", f"{connection}__credential", f"{connection}__clientId"})


# Settings the Functions host reads: identity-based host storage and Entra-authenticated telemetry.
HOST_SETTINGS = frozenset(
    {
        "AzureWebJobsStorage__accountName",
        "AzureWebJobsStorage__credential",
        "AzureWebJobsStorage__clientId",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
        "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY",
    }
)

# Settings App Service authentication reads: the tenants whose tokens it accepts.
AUTH_SETTINGS = frozenset({"WEBSITE_AUTH_AAD_ALLOWED_TENANTS"})

# Every app setting a deployment sets: the app's own (less the platform's), the queue
# connection, the host's and App Service authentication's. infra/ must set exactly these
# (tests/test_infra.py).
DEPLOYED_SETTINGS = (
    frozenset(s.value for s in Setting if s not in PLATFORM_SETTINGS)
    | identity_connection_settings(STORAGE_CONNECTION, "queue")
    | identity_connection_settings(STORAGE_CONNECTION, "blob")
    | HOST_SETTINGS
    | AUTH_SETTINGS
)

# Settings Flex Consumption rejects.
FLEX_REJECTED_SETTINGS = frozenset(
    {
        "FUNCTIONS_WORKER_RUNTIME",
        "FUNCTIONS_EXTENSION_VERSION",
        "WEBSITE_RUN_FROM_PACKAGE",
        "WEBSITE_CONTENTSHARE",
        "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
        "SCM_DO_BUILD_DURING_DEPLOYMENT",
        "ENABLE_ORYX_BUILD",
    }
)

# Built-in role definition ids the deployment assigns (the same in every tenant).
ROLE_IDS = {
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Queue Data Message Sender": "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "Azure Digital Twins Data Owner": "bcd981a7-7f74-457b-83e1-cceb9e632ffe",
}

# The ADT data actions the app uses: reading and cancelling import jobs, nothing else. The
# deployment's custom role carries exactly these (Data Owner, the alternative, grants all
# of digitaltwins/*, models/*, eventroutes/*, jobs/* and query/*).
# The provider lists two read actions, jobs/import/read (the older name) and jobs/imports/read,
# and the built-in Data Reader grants both: until it is known which one the data plane checks
# on a GET of an import job, the role grants both reads (reads only).
ADT_DATA_ACTIONS = (
    "Microsoft.DigitalTwins/jobs/imports/read",
    "Microsoft.DigitalTwins/jobs/import/read",
    "Microsoft.DigitalTwins/jobs/imports/cancel/action",
)

# The per-request log record's outcome field, and its values for a failure. "failed" is logged
# exactly when a failure record is written, and the deployed alert (infra/modules/alerts.bicep)
# counts exactly that. A transient HTTP answer (429/503), which the caller retries and which
# leaves no record, is "retryable"; a status read that fails (a mistyped id) is "readFailed".
OUTCOME_FIELD = "outcome"
OUTCOME_FAILED = "failed"
OUTCOME_RETRYABLE = "retryable"
OUTCOME_READ_FAILED = "readFailed"
# An HTTP call refused for want of an authenticated caller (App Service authentication is
# not in front): no record, since it must not be able to write to the queues.
OUTCOME_UNAUTHENTICATED = "unauthenticated"
# The field of the outcome log record and of a failure record that names the caller.
CALLER_FIELD = "caller"
# The outcome log record's field saying how the process paced ADT: "shared" (the fleet's
# store), "process" (ADT_PACING_SCOPE=process) or "fallback" (the store is configured but
# out or refused: this process paces alone, and the fleet may draw 429s). An alert counts
# "fallback".
PACING_FIELD = "pacing"
PACING_FALLBACK = "fallback"
# The role the app's identity needs for the fleet's pacing store (a 403 names it).
PACING_STORE_ROLE = "Storage Blob Data Owner"


class ErrorCode(StrEnum):
    """Error codes this app produces itself. ADT's own codes pass through unchanged."""

    INVALID_MESSAGE = "InvalidMessage"
    INVALID_JOB_ID = "InvalidJobId"
    INSTANCE_NOT_ALLOWED = "InstanceNotAllowed"
    JOB_NOT_CANCELLABLE = "JobNotCancellable"
    UPSTREAM_ERROR = "UpstreamError"
    UPSTREAM_UNAVAILABLE = "UpstreamUnavailable"
    TOO_MANY_REQUESTS = "TooManyRequests"
    IDENTITY_UNAVAILABLE = "IdentityUnavailable"
    CONFIGURATION_ERROR = "ConfigurationError"
    INVALID_REQUEST = "InvalidRequest"
    FOLLOW_THROUGH_EXPIRED = "FollowThroughExpired"
    UNEXPECTED_ERROR = "UnexpectedError"
    UNAUTHENTICATED = "Unauthenticated"


# What azure-identity's chained credentials (DefaultAzureCredential) say when none of them
# produced a token: on a developer's machine, nobody is signed in. The ADT client treats it as
# final (no wait helps), and the CLI turns it into how to sign in.
NO_CREDENTIAL = "failed to retrieve a token from the included credentials"

# Failures that are the caller's own mistake (a mistyped or finished job, an instance not
# allowed, a message that cannot be read): the deployed alerts page at a lower severity for
# these than for the platform's and ADT's (infra/modules/alerts.bicep; tests hold the two
# lists together). JobNotFound is ADT's code, in the real service's and the spec's spellings.
CALLER_ERROR_CODES = (
    ErrorCode.INVALID_JOB_ID.value,
    ErrorCode.INVALID_MESSAGE.value,
    ErrorCode.INSTANCE_NOT_ALLOWED.value,
    ErrorCode.JOB_NOT_CANCELLABLE.value,
    "JobNotFound",
    "ImportJobNotFound",
)
# The functions the backstop alert watches for invocations that failed without an outcome.
FUNCTION_NAMES = ("cancel_import_job_http", "import_job_status", "cancel_import_job_queue")
# The queues' depths, logged every 5 minutes by the queue_depths timer function (one record
# per queue): Azure Monitor counts the account's messages only as one number for all queues.
QUEUE_DEPTH_FUNCTION = "queue_depths"
QUEUE_DEPTH_SCHEDULE = "0 */5 * * * *"
QUEUE_FIELD = "queue"
QUEUE_DEPTH_FIELD = "queueDepth"

# Codes only the queue path produces (in failure records); the HTTP API never answers them.
QUEUE_ONLY_CODES = frozenset({ErrorCode.INVALID_MESSAGE, ErrorCode.FOLLOW_THROUGH_EXPIRED})

ERROR_CODE_HEADER = "x-ms-error-code"
