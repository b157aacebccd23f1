"""Who asked: the caller App Service authentication validated, from the headers it sets.

The platform checks the caller's Entra token and the allow-list before a function runs,
strips any ``X-MS-CLIENT-PRINCIPAL*`` header a caller sent, and passes the validated caller
in ``X-MS-CLIENT-PRINCIPAL`` (base64 JSON of the token's claims) and
``X-MS-CLIENT-PRINCIPAL-ID`` (its object id). This module reads the object id and app id
from them, for the outcome log and failure records.

Only GUIDs are taken: the values end up in records and logs, and a header is text.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

PRINCIPAL_HEADER = "X-MS-CLIENT-PRINCIPAL"
PRINCIPAL_ID_HEADER = "X-MS-CLIENT-PRINCIPAL-ID"
OBJECT_ID_CLAIM_TYPE = "http://schemas.microsoft.com/identity/claims/objectidentifier"
# appid in v1 tokens (managed identities, service principals), azp in v2.
_APP_ID_CLAIM_TYPES = ("appid", "azp")
_OBJECT_ID_CLAIM_TYPES = (OBJECT_ID_CLAIM_TYPE, "oid")
# A principal header is a few kilobytes of claims; a larger one is not read at all.
MAX_PRINCIPAL_HEADER_CHARS = 16 * 1024
_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


class Caller(NamedTuple):
    """The validated caller: its object id (``oid``) and, for an application (a managed
    identity or service principal), its app id (``appid``/``azp``)."""

    object_id: str
    app_id: str | None = None

    def to_json(self) -> dict[str, str]:
        return {"objectId": self.object_id, **({"appId": self.app_id} if self.app_id else {})}


def _guid(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) and _GUID.fullmatch(value) else None


def _claims(header: str | None) -> dict[str, Any]:
    """The principal's claims by type (the first of each), or nothing when the header is
    missing, too long or not Easy Auth's shape."""
    if not header or len(header) > MAX_PRINCIPAL_HEADER_CHARS:
        return {}
    try:
        principal = json.loads(base64.b64decode(header, validate=True))
    except (binascii.Error, ValueError):
        return {}
    listed = principal.get("claims") if isinstance(principal, dict) else None
    claims: dict[str, Any] = {}
    for claim in listed if isinstance(listed, list) else []:
        if isinstance(claim, dict) and isinstance(claim.get("typ"), str):
            claims.setdefault(claim["typ"], claim.get("val"))
    return claims


def caller_from_headers(headers: Mapping[str, str]) -> Caller | None:
    """The caller the platform validated, or None when no valid principal came with the
    request (App Service authentication is not in front of it)."""
    claims = _claims(headers.get(PRINCIPAL_HEADER))
    object_id = _guid(headers.get(PRINCIPAL_ID_HEADER)) or next(
        (guid for typ in _OBJECT_ID_CLAIM_TYPES if (guid := _guid(claims.get(typ)))), None
    )
    if object_id is None:
        return None
    app_id = next((guid for typ in _APP_ID_CLAIM_TYPES if (guid := _guid(claims.get(typ)))), None)
    return Caller(object_id, app_id)
