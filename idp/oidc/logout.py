"""Logout at ``{issuer}/protocol/openid-connect/logout``: OIDC RP-Initiated Logout 1.0
on Authlib's end-session endpoint, and Back-Channel Logout 1.0 to the clients that
registered a ``backchannel_logout_uri``.

As PSC (Keycloak) does it:

- GET or POST, with ``id_token_hint`` (signature and issuer checked; an expired one is
  still accepted, §2), ``post_logout_redirect_uri`` (exact match against the client's
  registered list), ``state`` (echoed on the redirect), ``client_id``;
- a ``post_logout_redirect_uri`` needs ``id_token_hint`` or ``client_id`` to tell whose
  list it belongs to (Keycloak's message);
- a browser that has a session is asked to confirm first (§6; Keycloak's "Do you want
  to log out?") unless a valid ``id_token_hint`` names that very session (its ``sid``):
  anyone has a valid id_token of their own, so any other hint proves nothing, and no
  other site can log the browser out;
- without a redirect, PSC's own page says the session is closed;
- any bad input gets an error page and ends nothing: never a redirect.

Logging out ends the session the hint names and the browser's own session, with their
refresh tokens, and clears the SSO cookie. Each client that took part in an ended session
and registered a ``backchannel_logout_uri`` gets a signed logout token, POSTed from a
background thread (the browser never waits for it); failures are logged.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlparse

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oidc.rpinitiated import EndSessionEndpoint, EndSessionRequest
from flask import Response, make_response, render_template, request

from idp import claims
from idp.oidc import sso
from idp.oidc.sessions import Session
from idp.web.errors import error_page
from idp.web.security import content_security_policy

if TYPE_CHECKING:
    from idp.context import Services
    from idp.oidc.server import PscAuthorizationServer

log = logging.getLogger("idp.oidc.logout")

LOGOUT_CONFIRM = "logout_confirm"
_CONFIRM_LIFETIME = 600  # seconds a confirmation page stays usable
LOGOUT_TOKEN_LIFETIME = 120  # seconds, as PSC's other tokens
BACKCHANNEL_TIMEOUT = 5  # seconds each back-channel POST may take
_FORWARDED = ("client_id", "post_logout_redirect_uri", "state", "ui_locales")

REDIRECT_NEEDS_CLIENT = (
    "Either the parameter client_id or the parameter id_token_hint is required when "
    "post_logout_redirect_uri is used."
)


class PscEndSessionEndpoint(EndSessionEndpoint):
    server: PscAuthorizationServer

    def validate_request(self, request) -> EndSessionRequest:
        data = request.payload.data
        client_id = data.get("client_id")
        if client_id and self.server.query_client(client_id) is None:
            raise InvalidRequestError("Invalid parameter: client_id")
        try:
            validated = super().validate_request(request)
        except OAuth2Error:
            raise
        except Exception as exc:  # a hint that is not even a JWT
            raise InvalidRequestError("Invalid parameter: id_token_hint") from exc
        hint = validated.id_token_claims
        if hint is not None and hint.get("iss") != self.server.settings.issuer:
            raise InvalidRequestError("Invalid parameter: id_token_hint (another issuer's)")
        if hint is not None and hint.get("typ") != "ID":
            raise InvalidRequestError("Invalid parameter: id_token_hint (not an id_token)")
        redirect_uri = data.get("post_logout_redirect_uri")
        if redirect_uri:
            if not data.get("id_token_hint") and not client_id:
                raise InvalidRequestError(REDIRECT_NEEDS_CLIENT)
            client = validated.client
            if client is None or redirect_uri not in client.client.post_logout_redirect_uris:
                raise InvalidRequestError("Invalid redirect uri")
        return validated

    def is_post_logout_redirect_uri_legitimate(self, request, uri, client, logout_hint):
        """``client_id`` names whose list the URI is in; a browser with a session confirms
        on our page before anything happens (see :func:`logout`)."""
        return client is not None

    def get_server_jwks(self) -> dict:
        return self.server.tokens.keys.jwks()

    def get_algorithms(self) -> list[str]:
        return ["RS256"]

    def end_session(self, end_session_request: EndSessionRequest) -> None:
        sessions = self.server.sessions
        ids = []
        hint = end_session_request.id_token_claims or {}
        if hint.get("sid"):
            ids.append(str(hint["sid"]))
        browser = sso.browser_session(sessions)
        if browser is not None and browser.id not in ids:
            ids.append(browser.id)
        for session_id in ids:
            ended = sessions.end(session_id)
            if ended is not None:
                log.info("session %s of %s ended by logout", ended.id, ended.id_nat)
                send_backchannel_logouts(self.server, ended)


def logout(svc: Services) -> Response:
    """The end-session endpoint's view: validate, confirm if needed, end, answer."""
    server = svc.server
    secure = svc.settings.issuer.startswith("https")
    try:
        validated = server.validate_endpoint_request("end_session")
    except OAuth2Error as error:
        return _refused(error)
    browser = sso.browser_session(svc.sessions)
    needs = browser is not None and _needs_confirmation(validated, browser)
    if needs and not _confirmed(svc, browser):
        return _confirmation_page(svc, validated, browser)
    response = server.create_endpoint_response("end_session", validated)
    if response is None:  # no redirect: PSC's own page
        response = make_response(render_template("logout.html"))
    return sso.clear_cookie(response, secure=secure)


def _needs_confirmation(validated: EndSessionRequest, browser: Session) -> bool:
    """Authlib asks only for a valid hint; a hint also vouches for the browser only when
    it was issued for the browser's own session. An attacker's id_token (valid, for the
    attacker's session) in a link must not log the victim's browser out unasked."""
    if validated.needs_confirmation:  # no valid hint
        return True
    hint = validated.id_token_claims or {}
    return str(hint.get("sid") or hint.get("session_state") or "") != browser.id


def _confirmed(svc: Services, browser: Session) -> bool:
    """The browser submitted our confirmation form, for its current session."""
    code = request.form.get("confirm", "") if request.method == "POST" else ""
    record = svc.store.take(LOGOUT_CONFIRM, code) if code else None
    return record is not None and record.value.get("session_id") == browser.id


def _confirmation_page(svc: Services, validated: EndSessionRequest, browser: Session):
    code = secrets.token_urlsafe(24)
    svc.store.put(LOGOUT_CONFIRM, code, {"session_id": browser.id}, ttl=_CONFIRM_LIFETIME)
    params = validated.request.payload.data
    fields = {name: params[name] for name in _FORWARDED if params.get(name)}
    client = validated.client
    if client is not None:
        # The form does not carry the hint over: it names the client the hint did, whose
        # registered list post_logout_redirect_uri was checked against.
        fields.setdefault("client_id", client.client.client_id)
    html = render_template(
        "logout_confirm.html",
        fields=fields,
        confirm=code,
        client_name=(client.client.name or client.client.client_id) if client else "",
    )
    response = make_response(html)
    if validated.redirect_uri:  # the form's answer redirects there: allow it
        response.headers["Content-Security-Policy"] = content_security_policy(
            validated.redirect_uri
        )
    return response


def _refused(error: OAuth2Error) -> Response:
    return error_page(
        "Déconnexion impossible",
        "Le service qui vous a envoyé ici a fait une demande de déconnexion que Pro Santé "
        "Connect ne peut pas traiter, et il n'est pas possible de vous y renvoyer sans "
        "risque. Votre session n'a pas été fermée. Signalez-le à l'éditeur du service.",
        technical=f"{error.error}: {error.description or ''}",
        status=400,
    )


# --- OIDC Back-Channel Logout 1.0 ------------------------------------------------------


def send_backchannel_logouts(server: PscAuthorizationServer, session: Session) -> None:
    """A logout token to each client of the ended session that registered a
    ``backchannel_logout_uri``; each POST runs in its own thread."""
    for client_id in session.clients:
        client = server.mockdata.clients.get(client_id)
        if client is None or not client.backchannel_logout_uri:
            continue
        token_claims = claims.logout_token(
            issuer=server.settings.issuer,
            client_id=client_id,
            id_nat=session.id_nat,
            profile=server.tokens.profile_for(client_id),
            session_id=session.id,
            issued_at=int(time.time()),
            lifetime=LOGOUT_TOKEN_LIFETIME,
            jti=str(uuid.uuid4()),
        )
        token = server.tokens.keys.sign(token_claims, typ="logout+jwt")
        threading.Thread(
            target=post_logout_token,
            args=(client.backchannel_logout_uri, token, client_id),
            name=f"backchannel-logout-{client_id}",
            daemon=True,
        ).start()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Back-Channel Logout §2.5: the OP does not follow redirects."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def post_logout_token(uri: str, token: str, client_id: str) -> bool:
    """POST ``logout_token`` as a form (§2.5); True on a 2xx answer."""
    if urlparse(uri).scheme not in ("http", "https"):
        log.warning("back-channel logout to %s: %r is not an http(s) URL", client_id, uri)
        return False
    body = urlencode({"logout_token": token}).encode("ascii")
    outgoing = urllib.request.Request(
        uri,
        data=body,
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with _opener.open(outgoing, timeout=BACKCHANNEL_TIMEOUT) as answer:
            log.info("back-channel logout to %s (%s): %s", client_id, uri, answer.status)
            return True
    except urllib.error.HTTPError as exc:
        log.warning("back-channel logout to %s (%s) refused: HTTP %s", client_id, uri, exc.code)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        log.warning("back-channel logout to %s (%s) failed: %s", client_id, uri, exc)
    return False
