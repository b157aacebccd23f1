"""The App Service managed-identity endpoint that azure-identity's credential calls."""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

from cancel_job.contract import ADT_TOKEN_SCOPE

from .replies import Replies

IDENTITY_PATH = "/msi/token"
IDENTITY_API_VERSION = "2019-08-01"
_RESOURCE = ADT_TOKEN_SCOPE.removesuffix("/.default")
TOKEN_LIFETIME_SECONDS = 3600


class IdentityEndpoint(Replies):
    def _token(self, query: dict[str, list[str]]) -> None:
        state = self.server.state
        if self.headers.get("X-IDENTITY-HEADER") != state.identity_header:
            return self._reply(401, {"error": "invalid_request", "error_description": "Wrong X-IDENTITY-HEADER."})
        if query.get("api-version") != [IDENTITY_API_VERSION] or query.get("resource") != [_RESOURCE]:
            return self._reply(400, {"error": "invalid_resource", "error_description": "Unexpected request."})
        client_id = (query.get("client_id") or [None])[0]
        # JWT-shaped, like Entra's tokens, so redaction is tested against the real shape.
        header = _b64url({"alg": "none", "typ": "JWT"})
        claims = _b64url({"aud": _RESOURCE, "appid": client_id})
        token = f"{header}.{claims}.{secrets.token_urlsafe(24)}"
        with state.lock:
            state.token_requests += 1
            state.tokens[token] = client_id
        self._reply(
            200,
            {
                "access_token": token,
                "expires_on": str(int(time.time()) + TOKEN_LIFETIME_SECONDS),
                "resource": _RESOURCE,
                "token_type": "Bearer",
                "client_id": client_id or "system-assigned",
            },
        )


def _b64url(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
