"""A local stand-in for Microsoft Entra ID, as far as App Service authentication needs it.

It signs v1 access tokens (RS256, the claims a managed identity's or a service principal's
token carries: ``iss``, ``aud``, ``tid``, ``oid``, ``appid``, ``iat``, ``nbf``, ``exp``)
with a key generated at start, and publishes that key over HTTP as Entra does:

- ``GET /{tenant}/.well-known/openid-configuration``: the issuer and the ``jwks_uri``;
- ``GET /{tenant}/discovery/keys``: the JSON Web Key Set, each key by its ``kid``.

The issuer is ``http://127.0.0.1:PORT/{tenant}/``, the loopback form of Entra's
``https://sts.windows.net/{tenant}/``. Tokens are minted in-process (:meth:`LocalEntra.token`);
nothing here is deployed.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from devtools.loopback import BackgroundServer, NoDelayServer, QuietHandler

LOCAL_TENANT = "72f988bf-0000-4000-8000-00000000cafe"
# The audience the deployed app accepts by default (docs/deploy.md: why no app registration).
DEFAULT_AUDIENCE = "https://management.azure.com"
# A caller make stack lets in: an app id and an object id, as a pipeline's service principal has.
LOCAL_CALLER_APP_ID = "0d1e5c4a-1111-4000-8000-00000000ca11"
LOCAL_CALLER_OBJECT_ID = "6a7b8c9d-2222-4000-8000-00000000ca11"
# make stack's token outlives a working day; Entra's own last about an hour.
LOCAL_TOKEN_LIFETIME_SECONDS = 12 * 3600


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey = field(repr=False)

    @classmethod
    def new(cls) -> SigningKey:
        return cls(secrets.token_hex(8), rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def jwk(self) -> dict[str, Any]:
        public = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**public, "kid": self.kid, "use": "sig", "alg": "RS256"}


class LocalEntra(BackgroundServer):
    """The token issuer and its published keys, on a loopback port."""

    thread_name = "local-entra"

    def __init__(self, tenant: str = LOCAL_TENANT, host: str = "127.0.0.1", port: int = 0) -> None:
        self.tenant = tenant
        self.key = SigningKey.new()
        self._server = _Server((host, port), _Handler)
        self._server.owner = self

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/{self.tenant}/"

    @property
    def jwks_uri(self) -> str:
        return f"{self.base_url}/{self.tenant}/discovery/keys"

    def token(
        self,
        *,
        audience: str = DEFAULT_AUDIENCE,
        object_id: str = LOCAL_CALLER_OBJECT_ID,
        app_id: str | None = LOCAL_CALLER_APP_ID,
        lifetime_seconds: float = 3600,
        not_before: float | None = None,
        issuer: str | None = None,
        tenant: str | None = None,
        key: SigningKey | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """A signed v1 access token, as Entra issues to a managed identity or service
        principal (``app_id`` None: a user's token without ``appid``)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": audience,
            "iss": issuer or self.issuer,
            "tid": tenant or self.tenant,
            "oid": object_id,
            "sub": object_id,
            "iat": now,
            "nbf": int(not_before) if not_before is not None else now,
            "exp": now + int(lifetime_seconds),
            "ver": "1.0",
            "idtyp": "app" if app_id else "user",
            "uti": uuid.uuid4().hex,
            **({"appid": app_id} if app_id else {}),
            **(extra or {}),
        }
        signer = key or self.key
        return jwt.encode(claims, signer.private, algorithm="RS256", headers={"kid": signer.kid})


def unsigned_token(claims: dict[str, Any], kid: str = "none") -> str:
    """A token with ``alg: none``: what an attacker sends to a validator that trusts the header."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{part(claims)}."


class _Server(NoDelayServer):
    owner: LocalEntra


class _Handler(QuietHandler):
    server: _Server

    def do_GET(self) -> None:
        entra = self.server.owner
        documents = {
            f"/{entra.tenant}/.well-known/openid-configuration": {
                "issuer": entra.issuer,
                "jwks_uri": entra.jwks_uri,
                "id_token_signing_alg_values_supported": ["RS256"],
            },
            f"/{entra.tenant}/discovery/keys": {"keys": [entra.key.jwk()]},
        }
        document = documents.get(self.path.split("?", 1)[0])
        body = json.dumps(document if document is not None else {"error": "not_found"}).encode()
        self.send_response(200 if document is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
