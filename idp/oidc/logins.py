"""Logins in progress: an authorization request waiting for the person to prove who
they are, kept server-side under an unguessable ``tab_id`` (Keycloak's name for it).

A login belongs to the browser that started it, as Keycloak's authentication session
belongs to its ``AUTH_SESSION_ID`` cookie: the ``tab_id`` travels in links (it can be
forwarded, logged, shoulder-surfed), so it is no proof. The authorize request that parks
the login sets the cookie with a random browser key, and the login keeps the key's
digest; every later step checks the cookie against it (:meth:`Login.in_this_browser`).
Otherwise whoever held the link could poll an e-CPS login that someone else approved on
their phone and take the code and the SSO session. One key serves every login of a
browser (as Keycloak's one authentication session has several tabs), so two tabs can log
in at the same time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import asdict, dataclass, field

from flask import Response, request

from idp.store import Store

LOGIN = "login"
BROWSER_COOKIE = "AUTH_SESSION_ID"
# What secrets.token_urlsafe(32) gives: a browser's cookie is reused only if it could be ours.
_BROWSER_KEY = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(slots=True)
class Login:
    tab_id: str
    params: dict[str, str]  # the authorization request, as the client sent it
    client_name: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    id_nat: str = ""
    approval_id: str = ""
    browser: str = ""  # digest of the starting browser's key ("": no browser may go on)

    def check_csrf(self, token: str) -> bool:
        return hmac.compare_digest(token.encode(), self.csrf.encode())

    def in_this_browser(self) -> bool:
        """Whether the request comes from the browser that started the login."""
        key = request.cookies.get(BROWSER_COOKIE, "")
        if not self.browser or not _BROWSER_KEY.fullmatch(key):
            return False
        return hmac.compare_digest(_digest(key).encode(), self.browser.encode())


class Logins:
    def __init__(self, store: Store, lifetime: int) -> None:
        self._store = store
        self._lifetime = lifetime

    def begin(self, params: dict[str, str], client_name: str, browser_key: str) -> Login:
        """Park the request, bound to the browser of ``browser_key`` (:func:`browser_key`;
        the caller sets its cookie, :func:`set_browser_cookie`)."""
        login = Login(
            tab_id=secrets.token_urlsafe(24),
            params=params,
            client_name=client_name,
            browser=_digest(browser_key),
        )
        self._store.put(LOGIN, login.tab_id, asdict(login), ttl=self._lifetime)
        return login

    def get(self, tab_id: str) -> Login | None:
        record = self._store.get(LOGIN, tab_id)
        return Login(**record.value) if record else None

    def attach(self, tab_id: str, *, id_nat: str, approval_id: str) -> None:
        self._store.update(
            LOGIN, tab_id, lambda value: value.update(id_nat=id_nat, approval_id=approval_id)
        )

    def finish(self, tab_id: str) -> Login | None:
        """Take the login out: a login completes once, even if the browser reloads."""
        record = self._store.take(LOGIN, tab_id)
        return Login(**record.value) if record else None


def browser_key() -> str:
    """The key this browser already has (its other tabs keep working), else a new one."""
    key = request.cookies.get(BROWSER_COOKIE, "")
    return key if _BROWSER_KEY.fullmatch(key) else secrets.token_urlsafe(32)


def _digest(key: str) -> str:
    """What the store keeps: a dump of the store gives no cookie to replay."""
    return hashlib.sha256(key.encode()).hexdigest()


def set_browser_cookie(response: Response, key: str, *, secure: bool) -> Response:
    """Like ``KEYCLOAK_IDENTITY``: HttpOnly, SameSite=Lax, Secure under an https issuer,
    for as long as the browser runs; scoped to ``/auth``, the wallet's authorize URL and
    the realm's pages, since the next authorize request must see it to reuse the key."""
    response.set_cookie(
        BROWSER_COOKIE,
        key,
        path=(request.script_root or "") + "/auth",
        httponly=True,
        samesite="Lax",
        secure=secure,
    )
    return response
