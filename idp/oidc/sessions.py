"""SSO sessions and the refresh tokens they own.

A login opens a session. Its refresh tokens live ``refresh_token_lifetime`` seconds from
their issue (sliding: each refresh issues a new one), never beyond the session maximum.
When the session ends (logout, maximum reached), its refresh tokens stop working:
Keycloak's "Session not active".
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from idp.settings import Settings
from idp.store import Store

SESSION = "session"
REFRESH = "refresh"


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    id_nat: str
    auth_mode: str
    auth_time: int
    started_at: float


@dataclass(frozen=True, slots=True)
class RefreshGrant:
    """What a refresh token stands for; Authlib's refresh-token credential protocol."""

    token: str
    client_id: str
    scope: str
    nonce: str
    session_id: str

    def check_client(self, client) -> bool:
        return client.get_client_id() == self.client_id

    def get_scope(self) -> str:
        return self.scope


class Sessions:
    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings

    def open(self, id_nat: str, auth_mode: str, auth_time: int) -> Session:
        session = Session(
            id=secrets.token_hex(16),
            id_nat=id_nat,
            auth_mode=auth_mode,
            auth_time=auth_time,
            started_at=self._store.clock.now(),
        )
        self._store.put(
            SESSION,
            session.id,
            {
                "id_nat": id_nat,
                "auth_mode": auth_mode,
                "auth_time": auth_time,
                "started_at": session.started_at,
            },
            ttl=self._settings.session_max,
            owner=id_nat,
        )
        return session

    def get(self, session_id: str) -> Session | None:
        record = self._store.get(SESSION, session_id)
        return Session(id=session_id, **record.value) if record else None

    def end(self, session_id: str) -> None:
        self._store.delete(SESSION, session_id)
        self._store.delete_owned_by(REFRESH, session_id)

    def refresh_lifetime(self, session: Session) -> int:
        """Seconds a refresh token issued now may live: sliding, capped by the session."""
        remaining = session.started_at + self._settings.session_max - self._store.clock.now()
        return max(0, int(min(self._settings.refresh_token_lifetime, remaining)))

    def issue_refresh_token(self, session: Session, client_id: str, scope: str, nonce: str) -> str:
        token = secrets.token_urlsafe(48)
        self._store.put(
            REFRESH,
            token,
            {"client_id": client_id, "scope": scope, "nonce": nonce, "session_id": session.id},
            ttl=self.refresh_lifetime(session),
            owner=session.id,
        )
        return token

    def find_refresh_token(self, token: str) -> RefreshGrant | None:
        record = self._store.get(REFRESH, token)
        return RefreshGrant(token=token, **record.value) if record else None
