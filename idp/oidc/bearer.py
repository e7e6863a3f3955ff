"""Whether a token the mock issued still counts: one answer for userinfo, introspection
and revocation.

An access token counts when this issuer signed it (one of our keys, our ``iss``, ``typ``
Bearer), it has not expired on the mock clock, its ``jti`` was not revoked, and, for a
person's token, its session is live and its client still attached to it (Keycloak's
client session: a client detached by revocation, or attached again later, leaves its
older tokens behind). A refresh token counts while its record says so and its session
and client do. Anything else (garbage, another issuer's token, a bad signature) is not
ours: ``None``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from idp import claims
from idp.oidc.keys import KeySet
from idp.oidc.sessions import RefreshGrant, Session, Sessions
from idp.settings import Settings
from idp.store import Store

REVOKED = "revoked_jti"

# Why a token stopped counting, in Keycloak's words (userinfo's error_description).
EXPIRED = "Token is not active"
REVOKED_TOKEN = "Token verification failed"
NO_SESSION = "User session not found or doesn't have client attached on it"


@dataclass(frozen=True)
class AccessToken:
    """A JWT access token this issuer signed; Authlib's token protocol."""

    value: str
    claims: dict[str, Any]
    inactive_reason: str = ""  # "" while it counts
    session: Session | None = None
    kind: str = field(default="access_token", init=False)

    @property
    def client_id(self) -> str:
        return self.claims.get("azp", "")

    @property
    def is_service_account(self) -> bool:
        return "sid" not in self.claims

    def check_client(self, client) -> bool:
        return client.get_client_id() == self.client_id

    def is_expired(self) -> bool:
        return self.inactive_reason == EXPIRED

    def is_revoked(self) -> bool:
        return self.inactive_reason not in ("", EXPIRED)


@dataclass(frozen=True)
class RefreshToken:
    """An opaque refresh token of the store; Authlib's token protocol."""

    grant: RefreshGrant
    expires_at: int  # real time, as introspection shows it
    inactive_reason: str = ""
    session: Session | None = None
    kind: str = field(default="refresh_token", init=False)

    @property
    def client_id(self) -> str:
        return self.grant.client_id

    def check_client(self, client) -> bool:
        return self.grant.check_client(client)

    def is_expired(self) -> bool:
        return self.inactive_reason == EXPIRED

    def is_revoked(self) -> bool:
        return self.inactive_reason not in ("", EXPIRED)


class TokenInspector:
    def __init__(
        self,
        keys: KeySet,
        sessions: Sessions,
        store: Store,
        settings: Settings,
        profile_for: Callable[[str], str],
    ):
        self._profile_for = profile_for
        self._keys = keys
        self._sessions = sessions
        self._store = store
        self._settings = settings

    def find(self, token: str, hint: str | None = None) -> AccessToken | RefreshToken | None:
        """The token, whatever its state, if this issuer made it; the hint only orders
        the search (RFC 7662 §2.1, RFC 7009 §2.1)."""
        if hint == "refresh_token":
            return self.refresh_token(token) or self.access_token(token)
        return self.access_token(token) or self.refresh_token(token)

    def access_token(self, token: str) -> AccessToken | None:
        token_claims = self._keys.verify(token) if token.count(".") == 2 else None
        if (
            token_claims is None
            or token_claims.get("iss") != self._settings.issuer
            or token_claims.get("typ") != "Bearer"
        ):
            return None
        reason, session = self._access_state(token_claims)
        return AccessToken(token, token_claims, reason, session)

    def _access_state(self, token_claims: dict[str, Any]) -> tuple[str, Session | None]:
        exp = token_claims.get("exp")
        live = self._sessions.access_token_live(str(token_claims.get("jti", "")))
        if not isinstance(exp, int | float) or exp <= time.time() or not live:
            return EXPIRED, None  # expired for real (tampering) or on the mock clock
        if self._store.get(REVOKED, str(token_claims.get("jti", ""))):
            return REVOKED_TOKEN, None
        if "sid" not in token_claims:  # a service account's token: no session
            return "", None
        session = self._sessions.get(str(token_claims["sid"]))
        if session is None:
            return NO_SESSION, None
        attached = session.clients.get(token_claims.get("azp", ""))
        # Keycloak's stale-token rule: issued before its client session began (1 s slack).
        if attached is None or token_claims.get("iat", 0) + 1 < attached:
            return NO_SESSION, session
        return "", session

    def refresh_token(self, token: str) -> RefreshToken | None:
        grant = self._sessions.find_refresh_token(token)
        if grant is None:
            return None
        now = self._store.clock.now()
        expires_at = int(time.time() + grant.deadline - now)
        session = self._sessions.get(grant.session_id)
        if session is None:
            reason = NO_SESSION
        elif grant.is_expired_at(now):
            reason = EXPIRED
        elif grant.client_id not in session.clients:
            reason = NO_SESSION
        else:
            reason = ""
        return RefreshToken(grant, expires_at, reason, session)

    def introspection(self, token: AccessToken | RefreshToken) -> dict[str, Any]:
        """PSC's introspection response for a token that counts."""
        if isinstance(token, AccessToken):
            return claims.introspection(token.claims)
        grant, session = token.grant, token.session
        assert session is not None  # a refresh token counts only with its session
        return claims.refresh_introspection(
            issuer=self._settings.issuer,
            client_id=grant.client_id,
            scope=grant.scope,
            nonce=grant.nonce,
            session_id=grant.session_id,
            id_nat=session.id_nat,
            profile=self._profile_for(grant.client_id),
            issued_at=grant.issued_at,
            expires_at=token.expires_at,
            jti=grant.jti,
        )

    def revoke(self, token: AccessToken | RefreshToken) -> None:
        """RFC 7009, Keycloak's effects: an access token's ``jti`` is refused until it
        expires; a refresh token detaches its client from the session (its refresh tokens
        go, its access tokens stop counting; a session left without clients ends)."""
        if isinstance(token, RefreshToken):
            self._sessions.revoke_client(token.grant.session_id, token.grant.client_id)
            return
        remaining = float(token.claims.get("exp", 0)) - self._store.clock.now()
        if remaining > 0:
            self._store.put(REVOKED, str(token.claims.get("jti", "")), {}, ttl=remaining + 1)
