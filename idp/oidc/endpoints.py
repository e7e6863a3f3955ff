"""PSC's HTTP surface under ``/auth/realms/esante-wallet`` (and the wallet's ``/auth``)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from idp import claims
from idp.claims import Authentication
from idp.context import services
from idp.oidc import authorize as authorize_logic
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
    return services().server.create_token_response()


@bp.route(OIDC_PATH + "/userinfo", methods=["GET", "POST"])
def userinfo() -> Response:
    """PSC's userinfo: JSON, every exercice and activity of the person."""
    svc = services()
    token = _bearer_token()
    if token is None:
        return _invalid_token("Missing bearer token", status=401, error="invalid_request")
    token_claims = svc.keys.verify(token)
    if token_claims is None or token_claims.get("typ") != "Bearer":
        return _invalid_token("Token verification failed")
    if token_claims.get("exp", 0) <= svc.clock.now():  # the mock clock decides expiry
        return _invalid_token("Token is not active")
    session = svc.sessions.get(token_claims.get("sid", ""))
    practitioner = svc.directory.get(token_claims.get("SubjectNameID", ""))
    if session is None or practitioner is None:
        return _invalid_token("User session not found or doesn't have client attached on it")
    auth = Authentication(practitioner, session.auth_mode, session.auth_time, session.id)
    return jsonify(claims.userinfo(auth, sub_format=svc.settings.sub_format))


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.form.get("access_token") or None


def _invalid_token(description: str, *, status: int = 401, error: str = "invalid_token"):
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["WWW-Authenticate"] = (
        f'Bearer realm="esante-wallet", error="{error}", error_description="{description}"'
    )
    return response
