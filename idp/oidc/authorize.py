"""The authorization endpoint's logic: validate, then either answer at once (the
browser's SSO session, or a ``login_hint`` whose policy is ``auto``) or park the request
and send the browser to the login page; later, turn a proven identity into the redirect
back to the client, with the SSO cookie."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import AccessDeniedError, InvalidRequestError
from flask import Response, redirect, request, url_for

from idp.auth.eligibility import check_ecps_login
from idp.context import Services
from idp.directory.model import Practitioner
from idp.oidc import logins, sso
from idp.oidc.logins import Login
from idp.oidc.server import ResumedRequest
from idp.oidc.sessions import Session
from idp.web.errors import error_page


def start(svc: Services) -> Response:
    server = svc.server
    params = request.values.to_dict()
    # The browser's SSO session, if this request may reuse it (prompt, max_age, hint).
    session = sso.reusable_session(svc.sessions, params)
    practitioner = svc.directory.get(session.id_nat) if session else None
    end_user = sso.authentication(session, practitioner) if session and practitioner else None
    try:
        # Authlib's prompt handling: prompt=none without end_user is login_required.
        grant = server.get_consent_grant(end_user=end_user)
    except OAuth2Error as error:
        if error.redirect_uri:
            return server.handle_error_response(None, error)
        return _invalid_request_page(error)
    except ValueError:  # Authlib cannot word an error that would quote non-ASCII input
        return _invalid_request_page(InvalidRequestError(_UNPRINTABLE))
    if end_user is not None:  # SSO: no new login
        svc.sessions.touch(end_user.session_id)
        response = server.create_authorization_response(grant_user=end_user, grant=grant)
        return _with_session_cookie(svc, response, session)
    client = server.query_client(params["client_id"]).client
    hint = params.get("login_hint", "")
    practitioner = _auto_approved(svc, hint) if hint else None
    if practitioner is not None:
        session = sso.sign_in(svc.sessions, practitioner, "MOBILE")
        auth = sso.authentication(session, practitioner)
        response = server.create_authorization_response(grant_user=auth, grant=grant)
        return _with_session_cookie(svc, response, session)
    key = logins.browser_key()
    login = svc.logins.begin(params, client.name or client.client_id, key)
    response = redirect(url_for("login.show", tab_id=login.tab_id))
    return logins.set_browser_cookie(response, key, secure=svc.settings.issuer.startswith("https"))


def _auto_approved(svc: Services, id_nat: str) -> Practitioner | None:
    """A CI identity logs in with no page at all, if nothing would refuse it: who."""
    identity = svc.mockdata.identity(id_nat)  # fixtures, then the control API's scenario
    practitioner = svc.directory.get(id_nat)
    if identity.policy != "auto" or identity.delay > 0 or practitioner is None:
        return None
    refusal = check_ecps_login(
        id_nat, practitioner, identity, settings=svc.settings, now=svc.clock.now()
    )
    return practitioner if refusal is None else None


def _with_session_cookie(svc: Services, response: Response, session: Session) -> Response:
    """The SSO cookie goes with a successful answer to the client, not with an error."""
    query = parse_qs(urlparse(response.headers.get("Location", "")).query)
    if response.status_code == 302 and "code" in query:
        sso.set_cookie(response, session, secure=svc.settings.issuer.startswith("https"))
    return response


def complete(svc: Services, login: Login, practitioner: Practitioner, auth_mode: str) -> Response:
    """Answer the parked request with a code for this person."""
    resumed = ResumedRequest(request.url_root, login.params)
    try:
        grant = svc.server.get_consent_grant(request=resumed, end_user=None)
    except OAuth2Error as error:  # the client changed since (e.g. a redirect URI removed)
        return _invalid_request_page(error)
    session = sso.sign_in(svc.sessions, practitioner, auth_mode)  # logged in this browser
    response = svc.server.create_authorization_response(
        request=resumed, grant_user=sso.authentication(session, practitioner), grant=grant
    )
    return _with_session_cookie(svc, response, session)


def cancel(svc: Services, login: Login) -> Response:
    """The person gave up: the client gets ``access_denied``, as Keycloak sends it."""
    resumed = ResumedRequest(request.url_root, login.params)
    try:
        grant = svc.server.get_consent_grant(request=resumed, end_user=None)
    except OAuth2Error as error:
        return _invalid_request_page(error)
    error = AccessDeniedError(
        "The end-user cancelled or refused the authentication",
        redirect_uri=grant.validate_authorization_request(),
        state=login.params.get("state"),
    )
    return svc.server.handle_error_response(resumed, error)


_UNPRINTABLE = "Invalid parameter: a redirect_uri, response_type... outside printable ASCII"


def _invalid_request_page(error: OAuth2Error) -> Response:
    return error_page(
        "Requête de connexion invalide",
        "Le service qui vous a envoyé ici a fait une demande que Pro Santé Connect ne peut "
        "pas traiter, et il n'est pas possible de vous y renvoyer sans risque. Signalez-le "
        "à l'éditeur du service.",
        technical=f"{error.error}: {error.description or ''}",
        status=400,
    )
