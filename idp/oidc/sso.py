"""The browser's SSO session: one cookie that lets a second authorize request from the
same browser complete without a new login, as Keycloak's ``KEYCLOAK_IDENTITY``.

The cookie holds the session id and the session's secret browser key (the session id
alone is no credential: relying parties see it as ``sid``). It is HttpOnly, SameSite=Lax,
Secure when the issuer is https, scoped to ``/auth`` (the wallet's authorize URL and the
realm's pages), and lasts as long as the browser (the session's own limits decide).

What an authorize request may reuse:

- nothing with ``prompt=login`` (a new login, same session if the same person);
- nothing older than ``max_age`` seconds since the person last proved who they are;
- nothing if ``login_hint`` names someone else than the session's person [mock's
  choice: the hinted person logs in, the browser's session is replaced];
- with ``prompt=none`` and nothing reusable: ``login_required`` to the client.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping

from flask import Response, request

from idp.claims import Authentication
from idp.directory.model import Practitioner
from idp.oidc.sessions import Session, Sessions

COOKIE = "KEYCLOAK_IDENTITY"


def browser_session(sessions: Sessions, cookies: Mapping[str, str] | None = None) -> Session | None:
    """The live session this browser's cookie names, if the cookie's key matches."""
    value = (request.cookies if cookies is None else cookies).get(COOKIE, "")
    session_id, _, key = value.partition(".")
    session = sessions.get(session_id) if session_id and key else None
    if session is None or not hmac.compare_digest(session.browser_key.encode(), key.encode()):
        return None
    return session


def reusable_session(sessions: Sessions, params: Mapping[str, str]) -> Session | None:
    """The browser's session, if this authorize request may complete with it."""
    session = browser_session(sessions)
    if session is None or "login" in (params.get("prompt") or "").split():
        return None
    hint = params.get("login_hint")
    if hint and hint != session.id_nat:
        return None
    max_age = _max_age(params.get("max_age"))
    if max_age is not None and sessions.now() - session.authenticated_at > max_age:
        return None
    return session


def _max_age(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None  # refused with invalid_request by the grant's validation


def sign_in(sessions: Sessions, practitioner: Practitioner, auth_mode: str) -> Session:
    """A person has just proved who they are in this browser: the same person's
    session is re-authenticated (same ``sid``, new ``auth_time``); anyone else gets a new
    session, which replaces the browser's (the old one lives on for its clients until
    its own limits)."""
    auth_time = int(time.time())
    current = browser_session(sessions)
    if current is not None and current.id_nat == practitioner.id_nat:
        sessions.reauthenticate(current.id, auth_mode, auth_time)
        return sessions.get(current.id) or sessions.open(practitioner.id_nat, auth_mode, auth_time)
    return sessions.open(practitioner.id_nat, auth_mode, auth_time)


def authentication(session: Session, practitioner: Practitioner) -> Authentication:
    return Authentication(practitioner, session.auth_mode, session.auth_time, session.id)


def set_cookie(response: Response, session: Session, *, secure: bool) -> Response:
    response.set_cookie(
        COOKIE,
        f"{session.id}.{session.browser_key}",
        path=_path(),
        httponly=True,
        samesite="Lax",
        secure=secure,
    )
    return response


def clear_cookie(response: Response, *, secure: bool) -> Response:
    response.delete_cookie(COOKIE, path=_path(), httponly=True, samesite="Lax", secure=secure)
    return response


def _path() -> str:
    return (request.script_root or "") + "/auth"
