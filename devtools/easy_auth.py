"""A local stand-in for App Service authentication ("Easy Auth") in front of the HTTP functions.

It does what the platform does before a function runs, with the settings the Bicep deploys
(``infra/modules/app-auth.bicep``):

- incoming ``X-MS-CLIENT-PRINCIPAL*`` headers are dropped, whoever sent them;
- ``Authorization: Bearer <token>`` must be an RS256 JWT signed by a key the issuer
  publishes (by ``kid``), with the expected issuer and tenant, an allowed audience, and
  ``nbf``/``exp`` within the clock-skew allowance: else 401 with an empty body;
- the caller must be on the allow-list: ``allowedApplications`` (checked against ``appid``
  or ``azp``) and ``allowedPrincipals.identities`` (against ``oid``), both when both are set:
  else 403;
- the validated caller goes to the function in ``X-MS-CLIENT-PRINCIPAL`` (base64 JSON of the
  claims, Easy Auth's shape), ``X-MS-CLIENT-PRINCIPAL-ID``, ``-NAME`` and ``-IDP``.

The signature and claims are checked with PyJWT (with cryptography), never by hand.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import jwt

from cancel_job.caller import OBJECT_ID_CLAIM_TYPE, PRINCIPAL_HEADER, PRINCIPAL_ID_HEADER
from devtools.entra import DEFAULT_AUDIENCE, LOCAL_CALLER_APP_ID, LocalEntra

# Microsoft.IdentityModel's default allowance for clock skew (TokenValidationParameters.
# DefaultClockSkew), which App Service authentication validates tokens with: 5 minutes.
CLOCK_SKEW_SECONDS = 300
PRINCIPAL_HEADER_PREFIX = "x-ms-client-principal"
# Easy Auth's claim types for the short names an Entra v1 token carries.
_CLAIM_TYPES = {
    "oid": OBJECT_ID_CLAIM_TYPE,
    "tid": "http://schemas.microsoft.com/identity/claims/tenantid",
}


@dataclass(frozen=True)
class EasyAuthConfig:
    """authsettingsV2's Microsoft provider, as deployed: issuer, audiences and the allow-list."""

    issuer: str
    tenant: str
    jwks_uri: str
    audiences: tuple[str, ...]
    allowed_applications: tuple[str, ...] = ()
    allowed_identities: tuple[str, ...] = ()
    clock_skew_seconds: int = CLOCK_SKEW_SECONDS


class Decision(NamedTuple):
    """401 or 403 (nothing reaches the function), or 200 with the headers to pass on."""

    status: int
    principal_headers: dict[str, str]


class EasyAuth:
    def __init__(self, config: EasyAuthConfig) -> None:
        self.config = config
        # Fetches the published keys over HTTP and caches them, as the platform does.
        self._keys = jwt.PyJWKClient(config.jwks_uri, cache_keys=True, lifespan=300, timeout=5)

    def decide(self, headers: Mapping[str, str]) -> Decision:
        claims = self._validated_claims(headers.get("Authorization") or headers.get("authorization") or "")
        if claims is None:
            return Decision(401, {})
        if not self._allowed(claims):
            return Decision(403, {})
        return Decision(200, principal_headers(claims))

    def _validated_claims(self, authorization: str) -> dict[str, Any] | None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        try:
            key = self._keys.get_signing_key_from_jwt(token.strip())
            claims: dict[str, Any] = jwt.decode(
                token.strip(),
                key.key,
                algorithms=["RS256"],
                audience=list(self.config.audiences),
                issuer=self.config.issuer,
                leeway=self.config.clock_skew_seconds,
                options={"require": ["exp", "nbf", "iat", "iss", "aud", "tid"]},
            )
        except (jwt.PyJWTError, ValueError):
            return None
        return claims if claims.get("tid") == self.config.tenant else None

    def _allowed(self, claims: Mapping[str, Any]) -> bool:
        app_id = claims.get("appid") or claims.get("azp")
        checks = []
        if self.config.allowed_applications:
            checks.append(app_id in self.config.allowed_applications)
        if self.config.allowed_identities:
            checks.append(claims.get("oid") in self.config.allowed_identities)
        return all(checks)


def local_easy_auth(
    entra: LocalEntra,
    allowed_applications: tuple[str, ...] = (LOCAL_CALLER_APP_ID,),
    allowed_identities: tuple[str, ...] = (),
) -> EasyAuth:
    """App Service authentication as deployed, in front of the local stack: the local
    issuer, the default audience, and an allow-list (by default the local caller's app)."""
    return EasyAuth(
        EasyAuthConfig(
            issuer=entra.issuer,
            tenant=entra.tenant,
            jwks_uri=entra.jwks_uri,
            audiences=(DEFAULT_AUDIENCE,),
            allowed_applications=allowed_applications,
            allowed_identities=allowed_identities,
        )
    )


def principal_headers(claims: Mapping[str, Any]) -> dict[str, str]:
    """The headers the platform sets for a validated caller."""
    principal = {
        "auth_typ": "aad",
        "claims": [{"typ": _CLAIM_TYPES.get(name, name), "val": str(value)} for name, value in claims.items()],
        "name_typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
        "role_typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
    }
    object_id = str(claims.get("oid", ""))
    return {
        PRINCIPAL_HEADER: base64.b64encode(json.dumps(principal).encode()).decode(),
        PRINCIPAL_ID_HEADER: object_id,
        "X-MS-CLIENT-PRINCIPAL-NAME": str(claims.get("upn") or claims.get("appid") or object_id),
        "X-MS-CLIENT-PRINCIPAL-IDP": "aad",
    }


def without_principal_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The request's headers less any ``X-MS-CLIENT-PRINCIPAL*`` a caller sent: only the
    platform sets those."""
    return {name: value for name, value in headers.items() if not name.lower().startswith(PRINCIPAL_HEADER_PREFIX)}
