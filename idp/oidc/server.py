"""The authorization server: Authlib's, wired to the mock's store, directory and keys."""

from __future__ import annotations

from authlib.common.urls import add_params_to_uri
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidGrantError
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import request as flask_request

from idp.claims import Authentication
from idp.directory.index import Directory
from idp.mockdata import MockData
from idp.oidc import ciba, grants, mtls
from idp.oidc.bearer import TokenInspector
from idp.oidc.clients import OAuthClient, authenticate_client_secret_basic
from idp.oidc.discovery import SCOPES_SUPPORTED
from idp.oidc.introspection import PscIntrospectionEndpoint
from idp.oidc.logout import PscEndSessionEndpoint
from idp.oidc.revocation import PscRevocationEndpoint
from idp.oidc.sessions import Sessions
from idp.oidc.tokens import TokenIssuer
from idp.settings import Settings
from idp.store import Store


class ResumedRequest(OAuth2Request):
    """An authorization request saved when the login page was shown, replayed once the
    person has proved who they are (the browser comes back on another URL)."""

    def __init__(self, uri: str, params: dict[str, str]) -> None:
        super().__init__("GET", uri)
        self.payload = BasicOAuth2Payload(params)

    @property
    def args(self) -> dict[str, str]:
        return self.payload.data

    @property
    def form(self) -> dict[str, str]:
        return {}


class PscAuthorizationServer(AuthorizationServer):
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        directory: Directory,
        mockdata: MockData,
        sessions: Sessions,
        tokens: TokenIssuer,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.store = store
        self.directory = directory
        self.mockdata = mockdata
        self.sessions = sessions
        self.tokens = tokens
        self._scopes = frozenset(SCOPES_SUPPORTED)
        self.register_grant(
            grants.AuthorizationCodeGrant,
            [CodeChallenge(required=False), grants.OpenIDCodeExtension(require_nonce=False)],
        )
        self.register_grant(grants.RefreshTokenGrant, [grants.OpenIDRefreshExtension()])
        self.register_grant(ciba.CibaGrant, [ciba.CibaIdToken()])
        self.register_grant(grants.ClientCredentialsGrant)
        self.inspector = TokenInspector(tokens.keys, sessions, store, settings, tokens.profile_for)
        self.register_endpoint(PscIntrospectionEndpoint)
        self.register_endpoint(PscRevocationEndpoint)
        self.register_endpoint(PscEndSessionEndpoint)
        # Every endpoint where clients authenticate (token, introspection, revocation,
        # CIBA) goes through this registry: one place to survive a malformed Basic header.
        self.register_client_auth_method("client_secret_basic", authenticate_client_secret_basic)
        mtls.register(self)  # tls_client_auth (RFC 8705), for clients with a subject DN

    def query_client(self, client_id: str) -> OAuthClient | None:
        client = self.mockdata.clients.get(client_id)
        return OAuthClient(client, self._scopes) if client else None

    def save_token(self, token, request) -> None:
        """Tokens are self-contained JWTs; refresh tokens were stored when issued."""

    def create_oauth2_request(self, request) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        # The request itself, not Flask's proxy: Authlib reads it some 40 times a request.
        return FlaskOAuth2Request(flask_request._get_current_object())

    def handle_error_response(self, request, error):
        """Every authorization error redirected to a client carries ``iss`` (RFC 9207)."""
        status, body, headers = error(self.get_error_uri(request, error))
        if error.redirect_uri:
            location = dict(headers)["Location"]
            headers = [("Location", add_params_to_uri(location, [("iss", self.settings.issuer)]))]
        return self.handle_response(status, body, headers)

    def authentication_of(self, session_id: str) -> Authentication:
        """The live authentication behind a session, or ``invalid_grant`` if it ended."""
        session = self.sessions.get(session_id)
        practitioner = self.directory.get(session.id_nat) if session else None
        if session is None or practitioner is None:
            raise InvalidGrantError("Session not active")
        return Authentication(practitioner, session.auth_mode, session.auth_time, session.id)
