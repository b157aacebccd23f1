"""The job-id rule, checked before any network call.

ADT documents no grammar for import job ids. Microsoft's own tools use ids such as
``bulk-import-job-<32 hex>`` and ``importjob-<uuid>``, some with underscores. We accept
1-128 URI-unreserved characters (RFC 3986 section 2.3), so an id never needs
percent-encoding and cannot change the path it is placed in; ``.`` and ``..`` are
refused because HTTP clients normalise them as path segments.
"""

from __future__ import annotations

import re

MAX_JOB_ID_LENGTH = 128
_JOB_ID = re.compile(rf"[A-Za-z0-9._~-]{{1,{MAX_JOB_ID_LENGTH}}}")
_DOT_SEGMENTS = frozenset({".", ".."})


class InvalidJobIdError(ValueError):
    """The id breaks the job-id rule; the message says how, without echoing the id."""


def validate_job_id(value: object) -> str:
    """Return ``value`` if it is a usable job id, else raise InvalidJobIdError."""
    if not isinstance(value, str):
        raise InvalidJobIdError(f"job id must be a string, not {type(value).__name__}")
    if not value:
        raise InvalidJobIdError("job id is empty")
    if len(value) > MAX_JOB_ID_LENGTH:
        raise InvalidJobIdError(f"job id is {len(value)} characters long; at most {MAX_JOB_ID_LENGTH} are allowed")
    if value in _DOT_SEGMENTS:
        raise InvalidJobIdError("job id must not be '.' or '..'")
    if not _JOB_ID.fullmatch(value):
        raise InvalidJobIdError("job id may contain only letters, digits and the characters . _ ~ -")
    return value


def is_valid_job_id(value: object) -> bool:
    try:
        validate_job_id(value)
    except InvalidJobIdError:
        return False
    return True
