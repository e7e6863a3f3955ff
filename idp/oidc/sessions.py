"""SSO sessions and the refresh tokens they own.

A login opens a session. It lives at most ``session_max`` seconds, and ends sooner after
``session_idle`` seconds without activity (a login, an SSO reuse, a refresh), as PSC's
"cookie de session > 4 heures ou 30 min d'inactivité". Each client that receives tokens
in a session is attached to it (Keycloak's client session), from a given second: an
access token issued to a client before that second, or to a client no longer attached,
no longer counts.

Refresh tokens live ``refresh_token_lifetime`` seconds from their issue (sliding: each
refresh issues a new one), never beyond the session's idle or maximum limits. When the
session ends (logout, idle, maximum reached), its refresh tokens stop working: their
records stay a while, so that a late refresh learns Keycloak's "Session not active"
rather than an unknown token.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, field, fields

from idp.settings import Settings
from idp.store import Store

SESSION = "session"
REFRESH = "refresh"
ACCESS_TOKEN = "access_token"
# How long a refresh token's record outlives the token, to say why it no longer works
# ("Session not active"): at most this, and no longer than the token lived, so that a
# busy mock's memory levels off soon after its tokens' lifetime (bench/soak.py).
_TOMBSTONE = 600


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    id_nat: str
    auth_mode: str
    auth_time: int  # real time, as tokens carry it
    started_at: float  # mock clock
    last_active: float = 0.0  # mock clock: the idle timeout counts from here
    authenticated_at: float = 0.0  # mock clock: ``max_age`` counts from here
    browser_key: str = ""  # the secret half of the SSO cookie
    clients: dict[str, int] = field(default_factory=dict)  # client_id -> attached (real s)


@dataclass(frozen=True, slots=True)
class RefreshGrant:
    """What a refresh token stands for; Authlib's refresh-token credential protocol."""

    token: str
    client_id: str
    scope: str
    nonce: str
    session_id: str
    jti: str = ""
    issued_at: int = 0  # real time, as an introspection response shows it
    deadline: float = 0.0  # mock clock: the token works until then

    def check_client(self, client) -> bool:
        return client.get_client_id() == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def is_expired_at(self, now: float) -> bool:
        return now >= self.deadline


class Sessions:
    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings

    def open(self, id_nat: str, auth_mode: str, auth_time: int) -> Session:
        now = self._store.clock.now()
        session = Session(
            id=secrets.token_hex(16),
            id_nat=id_nat,
            auth_mode=auth_mode,
            auth_time=auth_time,
            started_at=now,
            last_active=now,
            authenticated_at=now,
            browser_key=secrets.token_urlsafe(32),
        )
        value = {f.name: getattr(session, f.name) for f in fields(Session) if f.name != "id"}
        self._store.put(SESSION, session.id, value, ttl=self._record_ttl(now), owner=id_nat)
        return session

    def get(self, session_id: str) -> Session | None:
        """The live session, or None if unknown, ended, past its maximum or idle."""
        record = self._store.get(SESSION, session_id) if session_id else None
        if record is None:
            return None
        session = Session(id=session_id, **record.value)
        if session.last_active + self._settings.session_idle <= self._store.clock.now():
            self.end(session_id)
            return None
        return session

    def touch(self, session_id: str) -> None:
        """Activity: the idle timeout starts again."""
        self._active(session_id, {})

    def _active(self, session_id: str, changes: dict) -> None:
        record = self._store.get(SESSION, session_id)
        if record is None:
            return
        now = self._store.clock.now()
        self._store.update(
            SESSION,
            session_id,
            lambda value: value.update(changes, last_active=now),
            ttl=self._record_ttl(record.value["started_at"]),
        )

    def _record_ttl(self, started_at: float) -> float:
        """How long the record may be needed: until idle, at most to the session maximum
        (an idle session's record goes, so a busy mock's memory levels off)."""
        now = self._store.clock.now()
        return max(
            0.0, min(self._settings.session_idle, started_at + self._settings.session_max - now)
        )

    def reauthenticate(self, session_id: str, auth_mode: str, auth_time: int) -> None:
        """The same person proved who they are again (``prompt=login``, ``max_age``)."""
        now = self._store.clock.now()
        self._active(
            session_id, {"auth_mode": auth_mode, "auth_time": auth_time, "authenticated_at": now}
        )

    def attach(self, session_id: str, client_id: str) -> None:
        """The client takes part in the session from now on (if it did not already)."""

        def change(value: dict) -> None:
            value.setdefault("clients", {}).setdefault(client_id, int(time.time()))

        self._store.update(SESSION, session_id, change)

    def detach(self, session_id: str, client_id: str) -> dict[str, int] | None:
        """The client leaves the session (Keycloak's ``detachFromUserSession``, as when its
        code is replayed): its refresh tokens go, its access tokens stop counting, the
        person stays signed in. Returns the clients left, None if the session is gone."""
        remaining: list[dict[str, int]] = []

        def change(value: dict) -> None:
            value.setdefault("clients", {}).pop(client_id, None)
            remaining.append(value["clients"])

        for record in self._store.owned_by(REFRESH, session_id):
            if record.value["client_id"] == client_id:
                self._store.delete(REFRESH, record.key)
        if self._store.update(SESSION, session_id, change) is None:
            return None
        return remaining[0]

    def revoke_client(self, session_id: str, client_id: str) -> None:
        """The client's refresh token was revoked: the client leaves the session, and a
        session left without clients ends, as Keycloak's revocation endpoint does."""
        left = self.detach(session_id, client_id)
        if left is not None and not left:
            self.end(session_id)

    def record_access_token(self, jti: str, lifetime: int) -> None:
        """Access tokens are JWTs with real timestamps (so relying parties accept them),
        but whether one is still live is the mock clock's decision: a ledger entry that
        expires with it."""
        self._store.put(ACCESS_TOKEN, jti, {}, ttl=lifetime)

    def access_token_live(self, jti: str) -> bool:
        return self._store.get(ACCESS_TOKEN, jti) is not None

    def end(self, session_id: str) -> Session | None:
        """End the session; its refresh tokens die with it. Returns what ended, if live."""
        record = self._store.take(SESSION, session_id)
        return Session(id=session_id, **record.value) if record else None

    def refresh_lifetime(self, session: Session) -> int:
        """Seconds a refresh token issued now may live: sliding, capped by the session."""
        remaining = session.started_at + self._settings.session_max - self._store.clock.now()
        lifetime = min(self._settings.refresh_token_lifetime, self._settings.session_idle)
        return max(0, int(min(lifetime, remaining)))

    def issue_refresh_token(self, session: Session, client_id: str, scope: str, nonce: str) -> str:
        self.attach(session.id, client_id)
        token = secrets.token_urlsafe(48)
        lifetime = self.refresh_lifetime(session)
        self._store.put(
            REFRESH,
            token,
            {
                "client_id": client_id,
                "scope": scope,
                "nonce": nonce,
                "session_id": session.id,
                "jti": str(uuid.uuid4()),
                "issued_at": int(time.time()),
                "deadline": self._store.clock.now() + lifetime,
            },
            ttl=lifetime + min(_TOMBSTONE, lifetime),
            owner=session.id,
        )
        return token

    def find_refresh_token(self, token: str) -> RefreshGrant | None:
        """The refresh token's record, expired or not (see :meth:`RefreshGrant.is_expired_at`)."""
        record = self._store.get(REFRESH, token) if token else None
        return RefreshGrant(token=token, **record.value) if record else None

    def now(self) -> float:
        return self._store.clock.now()
