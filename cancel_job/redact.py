"""Keeps secrets out of anything we log, record or return.

Bearer tokens, JWT-shaped strings, the managed-identity header's value and function keys
are replaced before text that came from an exception or a remote party leaves the
process.
"""

from __future__ import annotations

import os
import re

from .contract import Setting

_REPLACEMENTS = (
    (re.compile(r"(?i)bearer\s+[^\s\"',;]+"), "Bearer [redacted]"),
    (re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "[redacted-jwt]"),
    (
        re.compile(r"(?i)\b(x-functions-key|x-identity-header|access_token)([\"']?\s*[=:]\s*[\"']?)[^\s&\"',;]+"),
        r"\1\2[redacted]",
    ),
    # Function keys and SAS signatures in URLs.
    (re.compile(r"(?i)([?&](?:code|sig)=)[^&\s\"']+"), r"\1[redacted]"),
)
_MIN_SECRET_LENGTH = 8


def redact(text: str) -> str:
    for pattern, replacement in _REPLACEMENTS:
        text = pattern.sub(replacement, text)
    secret = os.environ.get(Setting.IDENTITY_HEADER.value, "")
    if len(secret) >= _MIN_SECRET_LENGTH:
        text = text.replace(secret, "[redacted]")
    return text


def escape_untrusted(value: object, limit: int = 200) -> str:
    """A printable, single-line, bounded rendering of an untrusted value for logs."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > limit:
        text = text[:limit] + "..."
    return text.encode("unicode_escape").decode("ascii").replace('"', '\\"')
