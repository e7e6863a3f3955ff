"""Token responses as Keycloak (PSC) shapes them: signed access and id tokens, a refresh
token owned by the session, ``refresh_expires_in``, ``session_state``,
``not-before-policy``. One signature per token, no I/O beyond the store."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Callable
from typing import Any

from idp import claims
from idp.claims import Authentication, TokenContext
from idp.mockdata import MockData
from idp.oidc.keys import KeySet
from idp.oidc.sessions import Sessions
from idp.settings import Settings

# Keycloak's key order in a token response.
_RESPONSE_ORDER = (
    "access_token",
    "expires_in",
    "refresh_expires_in",
    "refresh_token",
    "token_type",
    "id_token",
    "not-before-policy",
    "session_state",
    "scope",
)


def at_hash(access_token: str) -> str:
    """OIDC Core §3.1.3.6: left half of the SHA-256 of the token, base64url."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


class TokenIssuer:
    # Set by the app factory: the identity's scenario may drop or change claims; the
    # control API's token tampering signs (``sign(kind, claims)``) in the keys' place.
    mockdata: MockData | None = None
    tampered_sign: Callable[[str, dict[str, Any]], str] | None = None

    def __init__(self, keys: KeySet, sessions: Sessions, settings: Settings) -> None:
        self.keys = keys
        self.sessions = sessions
        self.settings = settings

    def adjusted(self, auth: Authentication, token_claims: dict[str, Any]) -> dict[str, Any]:
        if self.mockdata is None:
            return token_claims
        return self.mockdata.identity(auth.practitioner.id_nat).adjust_claims(token_claims)

    def profile_for(self, client_id: str) -> str:
        default = self.settings.claim_profile
        return self.mockdata.claim_profile(client_id, default) if self.mockdata else default

    def _sign(self, kind: str, token_claims: dict[str, Any]) -> str:
        if self.tampered_sign is None:
            return self.keys.sign(token_claims)
        return self.tampered_sign(kind, token_claims)

    def context(
        self, client_id: str, scope: str, nonce: str, certificate_thumbprint: str = ""
    ) -> TokenContext:
        return TokenContext(
            issuer=self.settings.issuer,
            client_id=client_id,
            scope=scope,
            nonce=nonce,
            issued_at=int(time.time()),
            profile=self.profile_for(client_id),
            certificate_thumbprint=certificate_thumbprint,
        )

    def token_response(
        self,
        auth: Authentication,
        client_id: str,
        scope: str,
        nonce: str,
        certificate_thumbprint: str = "",
    ) -> dict[str, Any]:
        """``certificate_thumbprint``: the client authenticated by TLS (RFC 8705), its
        access token is bound to that certificate."""
        session = self.sessions.get(auth.session_id)
        if session is None:
            raise LookupError("session ended")  # callers check the session first
        ctx = self.context(client_id, scope, nonce, certificate_thumbprint)
        lifetime = self.settings.access_token_lifetime
        access_claims = claims.access_token(auth, ctx, lifetime=lifetime, jti=str(uuid.uuid4()))
        access_claims = self.adjusted(auth, access_claims)
        self.sessions.record_access_token(str(access_claims.get("jti", "")), lifetime)
        return {
            "access_token": self._sign("access_token", access_claims),
            "expires_in": lifetime,
            "refresh_expires_in": self.sessions.refresh_lifetime(session),
            "refresh_token": self.sessions.issue_refresh_token(session, client_id, scope, nonce),
            "token_type": "Bearer",
            "not-before-policy": 0,
            "session_state": auth.session_id,
            "scope": scope,
        }

    def service_token(
        self, client_id: str, scope: str, certificate_thumbprint: str = ""
    ) -> dict[str, Any]:
        """client_credentials: an access token for the client's service account, no
        refresh token (Keycloak's ``refresh_expires_in`` 0), no id_token."""
        ctx = self.context(client_id, scope, "", certificate_thumbprint)
        lifetime = self.settings.access_token_lifetime
        access_claims = claims.service_account_access_token(
            ctx, lifetime=lifetime, jti=str(uuid.uuid4())
        )
        self.sessions.record_access_token(access_claims["jti"], lifetime)
        return {
            "access_token": self.keys.sign(access_claims),
            "expires_in": lifetime,
            "refresh_expires_in": 0,
            "token_type": "Bearer",
            "not-before-policy": 0,
            "scope": scope,
        }

    def id_token(self, token: dict[str, Any], auth: Authentication, client_id: str, nonce: str):
        ctx = self.context(client_id, token["scope"], nonce)
        id_claims = claims.id_token(
            auth,
            ctx,
            lifetime=self.settings.id_token_lifetime,
            jti=str(uuid.uuid4()),
            at_hash=at_hash(token["access_token"]),
        )
        return self._sign("id_token", self.adjusted(auth, id_claims))


def in_keycloak_order(token: dict[str, Any]) -> dict[str, Any]:
    return {key: token[key] for key in _RESPONSE_ORDER if key in token}
