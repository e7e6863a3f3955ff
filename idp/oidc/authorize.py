"""The authorization endpoint's logic: validate, then either answer at once (a
``login_hint`` whose policy is ``auto``) or park the request and send the browser to the
login page; later, turn a proven identity into the redirect back to the client."""

from __future__ import annotations

import time

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import AccessDeniedError
from flask import Response, redirect, request, url_for

from idp.auth.eligibility import check_ecps_login
from idp.claims import Authentication
from idp.context import Services
from idp.directory.model import Practitioner
from idp.oidc.logins import Login
from idp.oidc.server import ResumedRequest
from idp.web.errors import error_page


def start(svc: Services) -> Response:
    server = svc.server
    try:
        grant = server.get_consent_grant(end_user=None)
    except OAuth2Error as error:
        if error.redirect_uri:
            return server.handle_error_response(None, error)
        return _invalid_request_page(error)
    params = request.values.to_dict()
    client = server.query_client(params["client_id"]).client
    hint = params.get("login_hint", "")
    if hint and _auto_approves(svc, hint):
        practitioner = svc.directory.get(hint)
        return server.create_authorization_response(
            grant_user=open_session(svc, practitioner, "MOBILE"), grant=grant
        )
    login = svc.logins.begin(params, client.name or client.client_id)
    return redirect(url_for("login.show", tab_id=login.tab_id))


def _auto_approves(svc: Services, id_nat: str) -> bool:
    """A CI identity logs in with no page at all, if nothing would refuse it."""
    identity = svc.mockdata.identities.get(id_nat)
    practitioner = svc.directory.get(id_nat)
    if identity is None or identity.policy != "auto" or practitioner is None:
        return False
    refusal = check_ecps_login(
        id_nat, practitioner, identity, settings=svc.settings, now=svc.clock.now()
    )
    return refusal is None


def open_session(svc: Services, practitioner: Practitioner, auth_mode: str) -> Authentication:
    auth_time = int(time.time())
    session = svc.sessions.open(practitioner.id_nat, auth_mode, auth_time)
    return Authentication(practitioner, auth_mode, auth_time, session.id)


def complete(svc: Services, login: Login, practitioner: Practitioner, auth_mode: str) -> Response:
    """Answer the parked request with a code for this person."""
    resumed = ResumedRequest(request.url_root, login.params)
    try:
        grant = svc.server.get_consent_grant(request=resumed, end_user=None)
    except OAuth2Error as error:  # the client changed since (e.g. a redirect URI removed)
        return _invalid_request_page(error)
    auth = open_session(svc, practitioner, auth_mode)
    return svc.server.create_authorization_response(request=resumed, grant_user=auth, grant=grant)


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


def _invalid_request_page(error: OAuth2Error) -> Response:
    return error_page(
        "Requête de connexion invalide",
        "Le service qui vous a envoyé ici a fait une demande que Pro Santé Connect ne peut "
        "pas traiter, et il n'est pas possible de vous y renvoyer sans risque. Signalez-le "
        "à l'éditeur du service.",
        technical=f"{error.error}: {error.description or ''}",
        status=400,
    )
