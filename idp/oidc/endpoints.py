"""PSC's HTTP surface under ``/auth/realms/esante-wallet`` (and the wallet's ``/auth``)."""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import InvalidRequestError
from flask import Blueprint, Response, jsonify, request
from werkzeug.datastructures import MultiDict

from idp import claims
from idp.claims import Authentication
from idp.context import services
from idp.oidc import authorize as authorize_logic
from idp.oidc import ciba, mtls
from idp.oidc import logout as logout_logic
from idp.oidc.bearer import NO_SESSION, AccessToken
from idp.oidc.discovery import document
from idp.settings import REALM_PATH

OIDC_PATH = REALM_PATH + "/protocol/openid-connect"

bp = Blueprint("oidc", __name__)


@bp.get(REALM_PATH + "/.well-known/wallet-openid-configuration")
@bp.get(REALM_PATH + "/.well-known/openid-configuration")
def discovery() -> Response:
    return jsonify(document(services().settings))


@bp.get(OIDC_PATH + "/certs")
def certs() -> Response:
    return jsonify(services().keys.jwks())


@bp.route("/auth", methods=["GET", "POST"])
@bp.route(OIDC_PATH + "/auth", methods=["GET", "POST"])
def authorize() -> Response:
    return authorize_logic.start(services())


@bp.post(OIDC_PATH + "/token")
def token() -> Response:
    server = services().server
    refusal = _malformed_token_request(request.form)
    if refusal is not None:
        return server.handle_error_response(server.create_oauth2_request(None), refusal)
    return server.create_token_response()


def _malformed_token_request(form: MultiDict[str, str]) -> InvalidRequestError | None:
    """Keycloak's TokenEndpoint checks that Authlib lacks, with Keycloak's texts: a form
    without ``grant_type`` (Authlib says unsupported_grant_type), then any parameter sent
    twice (Authlib would read the first ``code`` or ``redirect_uri`` and ignore the rest).
    Keycloak authenticates the client between the two; here both come before it."""
    if "grant_type" not in form:
        return InvalidRequestError("Missing form parameter: grant_type")
    if any(len(values) > 1 for values in form.listvalues()):
        return InvalidRequestError("duplicated parameter")
    return None


@bp.post(OIDC_PATH + "/ext/ciba/auth")
def ciba_authentication() -> Response:
    """CIBA's backchannel authentication endpoint (poll mode only, as PSC)."""
    return ciba.backchannel_authentication(services())


@bp.route(OIDC_PATH + "/userinfo", methods=["GET", "POST"])
def userinfo() -> Response:
    """PSC's userinfo: JSON, every exercice and activity of the person; a signed JWT
    (``application/jwt``) for clients registered with ``userinfo_signed``."""
    svc = services()
    token = _bearer_token()
    if token is None:
        return _bearer_error("Missing bearer token", status=401, error="invalid_request")
    access = svc.server.inspector.access_token(token)
    if access is None:
        return _bearer_error("Token verification failed")
    if access.inactive_reason:
        return _bearer_error(access.inactive_reason)
    if not mtls.presented_with_its_certificate(access.claims):
        # RFC 8705 §3: a certificate-bound token needs the certificate it is bound to.
        return _bearer_error("Client certificate missing, or not matching")
    if _lacks_openid(access):
        return _bearer_error("Missing openid scope", status=403, error="insufficient_scope")
    if access.is_service_account:
        info = claims.service_account_userinfo(access.client_id)
    else:
        session = access.session
        practitioner = svc.directory.get(access.claims.get("SubjectNameID", ""))
        if session is None or practitioner is None:
            return _bearer_error(NO_SESSION)
        auth = Authentication(practitioner, session.auth_mode, session.auth_time, session.id)
        info = claims.userinfo(auth, profile=svc.server.tokens.profile_for(access.client_id))
        info = svc.mockdata.identity(practitioner.id_nat).adjust_claims(info)
    client = svc.mockdata.clients.get(access.client_id)
    if client is not None and client.userinfo_signed:
        signed = claims.signed_userinfo(
            info, issuer=svc.settings.issuer, client_id=client.client_id
        )
        return Response(svc.keys.sign(signed), content_type="application/jwt")
    return jsonify(info)


@bp.post(OIDC_PATH + "/token/introspect")
def introspect() -> Response:
    """RFC 7662, PSC's response fields (reference §4.3)."""
    return services().server.create_endpoint_response("introspection")


@bp.post(OIDC_PATH + "/revoke")
def revoke() -> Response:
    """RFC 7009, Keycloak's effects."""
    return services().server.create_endpoint_response("revocation")


@bp.route(OIDC_PATH + "/logout", methods=["GET", "POST"])
def logout() -> Response:
    """RP-initiated logout, then back-channel logout to the session's clients."""
    return logout_logic.logout(services())


def _lacks_openid(access: AccessToken) -> bool:
    """Keycloak's userinfo answers only tokens with the ``openid`` scope: a person's token
    loses it when a refresh narrows the scope to ``scope_all``. A service account's token
    still gets its userinfo, as the mock has answered it so far (test_client_credentials)
    [UNCERTAIN: Keycloak refuses it too, unless client_credentials asked for openid]."""
    return (
        not access.is_service_account
        and "openid" not in str(access.claims.get("scope", "")).split()
    )


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.form.get("access_token") or None


def _bearer_error(description: str, *, status: int = 401, error: str = "invalid_token"):
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["WWW-Authenticate"] = (
        f'Bearer realm="esante-wallet", error="{error}", error_description="{description}"'
    )
    return response
