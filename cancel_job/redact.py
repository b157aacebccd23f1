"""Keeps secrets out of anything we log, record or return.

Bearer tokens, JWT-shaped strings, the managed-identity header's value and function keys
are replaced before text that came from an exception or a remote party leaves the
process.
"""

from __future__ import annotations

import os
import re

from .contract import Setting

_PATTERNS = (
    re.compile(r"(?i)bearer\s+[^\s\"',;]+"),
    re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),
    re.compile(r"(?i)(x-functions-key|code|sig|x-identity-header|access_token)([\"']?\s*[=:]\s*[\"']?)[^\s&\"',;]+"),
)
_MIN_SECRET_LENGTH = 8


def redact(text: str) -> str:
    text = _PATTERNS[0].sub("Bearer [redacted]", text)
    text = _PATTERNS[1].sub("[redacted-jwt]", text)
    text = _PATTERNS[2].sub(r"\1\2[redacted]", text)
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
