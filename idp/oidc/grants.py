"""PSC's grants on Authlib's machinery: authorization code (+PKCE, +OIDC) and refresh.

Authlib validates the protocol; these classes add what is PSC's own: the strict rules of
PSC's documentation, codes and refresh tokens in the store, Keycloak-shaped token
responses, ``iss`` and ``session_state`` in authorization responses.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6749.hooks import hooked
from authlib.oidc.core import OpenIDCode, OpenIDToken
from authlib.oidc.core.errors import RequestNotSupportedError, RequestURINotSupportedError

from idp.claims import ACR, Authentication
from idp.oidc import mtls
from idp.oidc.tokens import in_keycloak_order

if TYPE_CHECKING:
    from idp.oidc.server import PscAuthorizationServer

CODE = "code"
# RFC 7636 §4.3: the method of a code_challenge sent without code_challenge_method (stored
# as such: Authlib's own default applies to None only, and "" was a 500 at the token call).
DEFAULT_CHALLENGE_METHOD = "plain"
SPENT_CODE = "spent-code"  # a used code, remembered so that its replay can be punished
# tls_client_auth (RFC 8705 §2.1) is registered on the server by idp.oidc.mtls.
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "tls_client_auth"]
# A service account's scope when the client asks for none [UNCERTAIN: PSC's default
# client scopes are not published; scope_all is the only one PSC documents].
SERVICE_SCOPE = "scope_all"


@dataclass(frozen=True, slots=True)
class IssuedCode:
    """An authorization code's record; Authlib's authorization-code protocol."""

    client_id: str
    redirect_uri: str
    scope: str
    nonce: str
    code_challenge: str
    code_challenge_method: str
    session_id: str

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str:
        return self.nonce

    def get_auth_time(self) -> None:
        return None

    def get_acr(self) -> str:
        return ACR

    def get_amr(self) -> None:
        return None


def strict_violation(params) -> tuple[type, str] | None:
    """The first of PSC's documented request rules that ``params`` break, if any."""
    scopes = (params.get("scope") or "").split()
    if "openid" not in scopes or "scope_all" not in scopes:
        return InvalidScopeError, (
            "Pro Sante Connect requires scope 'openid scope_all' "
            "(scope_all is the only supported value)"
        )
    if params.get("acr_values") != "eidas1":
        return InvalidRequestError, "Pro Sante Connect requires acr_values=eidas1"
    if not params.get("state"):
        return InvalidRequestError, (
            "Pro Sante Connect requires a 'state' parameter, returned on the callback"
        )
    if not params.get("nonce"):
        return InvalidRequestError, (
            "Pro Sante Connect requires a 'nonce' parameter, echoed in the id_token"
        )
    return None


class _PscGrant:
    """What PSC's token-endpoint grants share: secrets only, Keycloak-shaped tokens."""

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    server: PscAuthorizationServer

    def grant_nonce(self) -> str:
        raise NotImplementedError

    def generate_token(self, user=None, scope=None, **_ignored):
        client_id = self.request.client.get_client_id()
        return self.server.tokens.token_response(
            user, client_id, scope, self.grant_nonce(), mtls.bound_thumbprint(self.request)
        )


def _refuse_request_objects(params: dict, redirect_uri: str) -> None:
    """OIDC Core §6: an OP that does not read ``request`` / ``request_uri`` says so. PSC's
    Keycloak reads them; the mock does not, and a silent skip would log someone in with
    parameters other than those the client signed."""
    if "request" in params:
        raise RequestNotSupportedError(
            "psc-mock does not read request objects: send the parameters in the query",
            redirect_uri=redirect_uri,
        )
    if "request_uri" in params:
        raise RequestURINotSupportedError(
            "psc-mock does not fetch request_uri: send the parameters in the query",
            redirect_uri=redirect_uri,
        )


class AuthorizationCodeGrant(_PscGrant, grants.AuthorizationCodeGrant):
    def validate_authorization_request(self) -> str:
        """Once per request: Authlib validates again when the response is made, with
        nothing changed since (measured: 40 µs of an authorize's 820)."""
        if "_redirect_uri" not in self.__dict__:
            self._redirect_uri = self._validated_redirect_uri()
        return self._redirect_uri

    def _validated_redirect_uri(self) -> str:
        redirect_uri = super().validate_authorization_request()
        max_age = self.request.payload.data.get("max_age")
        if max_age is not None and not (max_age.isascii() and max_age.isdigit()):
            raise InvalidRequestError("Invalid parameter: max_age", redirect_uri=redirect_uri)
        _refuse_request_objects(self.request.payload.data, redirect_uri)
        if self.server.settings.strict:
            violation = strict_violation(self.request.payload.data)
            if violation:
                error, description = violation
                raise error(description, redirect_uri=redirect_uri)
        return redirect_uri

    def create_authorization_response(self, redirect_uri: str, grant_user: Authentication):
        status, body, headers = super().create_authorization_response(redirect_uri, grant_user)
        params = [("session_state", grant_user.session_id), ("iss", self.server.settings.issuer)]
        location = add_params_to_uri(dict(headers)["Location"], params)
        return status, body, [("Location", location)]

    def save_authorization_code(self, code: str, request) -> None:
        data = request.payload.data
        issued = IssuedCode(
            client_id=request.client.get_client_id(),
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            nonce=data.get("nonce") or "",
            code_challenge=data.get("code_challenge") or "",
            code_challenge_method=data.get("code_challenge_method") or DEFAULT_CHALLENGE_METHOD,
            session_id=request.user.session_id,
        )
        self.server.store.put(CODE, code, asdict(issued), ttl=self.server.settings.code_lifetime)

    def generate_authorization_code(self) -> str:
        return secrets.token_urlsafe(32)

    def query_authorization_code(self, code: str, client) -> IssuedCode | None:
        store = self.server.store
        record = store.take(CODE, code)  # single use, whatever happens next
        if record is None:
            self._punish_replay(code, client.get_client_id())
            return None
        if record.value["client_id"] != client.get_client_id():
            return None
        spent = {"client_id": record.value["client_id"], "session_id": record.value["session_id"]}
        # Long enough for a replay (seconds after a theft, in practice), short enough that a
        # busy mock does not keep one record per login for the 4 h a session may last.
        store.put(SPENT_CODE, code, spent, ttl=self.server.settings.session_idle)
        return IssuedCode(**record.value)

    def _punish_replay(self, code: str, client_id: str) -> None:
        """A code used twice may have been stolen: the tokens its first use gave stop
        working (RFC 6749 §4.1.2). As Keycloak, the client leaves the session but the
        person stays signed in: a client retrying a failed exchange must not end the SSO
        session of every other client (ending an empty session is revocation's rule)."""
        spent = self.server.store.take(SPENT_CODE, code)
        if spent is not None and spent.value["client_id"] == client_id:
            self.server.sessions.detach(spent.value["session_id"], client_id)

    def delete_authorization_code(self, authorization_code: IssuedCode) -> None:
        """Already gone: :meth:`query_authorization_code` took it."""

    def authenticate_user(self, authorization_code: IssuedCode) -> Authentication:
        return self.server.authentication_of(authorization_code.session_id)

    def grant_nonce(self) -> str:
        return self.request.authorization_code.nonce


class RefreshTokenGrant(_PscGrant, grants.RefreshTokenGrant):
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str):
        sessions = self.server.sessions
        grant = sessions.find_refresh_token(refresh_token)
        if grant is None:
            raise InvalidGrantError("Token is not active")
        # Keycloak's order: a token whose session ended (logout, idle, maximum) says so.
        if sessions.get(grant.session_id) is None:
            raise InvalidGrantError("Session not active")
        if grant.is_expired_at(sessions.now()):
            raise InvalidGrantError("Token is not active")
        sessions.touch(grant.session_id)  # a refresh is activity: the idle timeout restarts
        return grant

    def authenticate_user(self, refresh_token) -> Authentication:
        return self.server.authentication_of(refresh_token.session_id)

    def revoke_old_credential(self, refresh_token) -> None:
        """Keycloak's default: an older refresh token stays valid until it expires."""

    def grant_nonce(self) -> str:
        return self.request.refresh_token.nonce


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """``client_credentials`` for clients with a service account (Keycloak's "Service
    accounts roles"): an access token without a person, no refresh token, no id_token."""

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    server: PscAuthorizationServer

    def validate_token_request(self) -> None:
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("Client not enabled to retrieve service account")
        self.request.client = client

    @hooked
    def create_token_response(self):
        client = self.request.client
        scope = client.get_allowed_scope(self.request.payload.scope or "") or SERVICE_SCOPE
        token = self.server.tokens.service_token(
            client.get_client_id(), scope, mtls.bound_thumbprint(self.request)
        )
        return 200, token, self.TOKEN_RESPONSE_HEADER


class _IdTokenMixin:
    """Adds PSC's id_token to token responses whose scope has ``openid``."""

    def process_token(self, grant: _PscGrant, response):
        _, token, _ = response
        if "openid" in (token.get("scope") or "").split():
            client_id = grant.request.client.get_client_id()
            token["id_token"] = grant.server.tokens.id_token(
                token, grant.request.user, client_id, grant.grant_nonce()
            )
        ordered = in_keycloak_order(token)
        token.clear()
        token.update(ordered)
        return token


class OpenIDCodeExtension(_IdTokenMixin, OpenIDCode):
    def exists_nonce(self, nonce: str, request) -> bool:
        return False  # Keycloak does not refuse a reused nonce


class OpenIDRefreshExtension(_IdTokenMixin, OpenIDToken):
    pass
