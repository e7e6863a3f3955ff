"""Registered relying parties, seen through Authlib's client protocol."""

from __future__ import annotations

import hmac

from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc6749.authenticate_client import (
    authenticate_client_secret_basic as authlib_client_secret_basic,
)

from idp.mockdata import Client

GRANT_TYPES = ("authorization_code", "refresh_token")
CIBA_GRANT_TYPE = "urn:openid:params:grant-type:ciba"
CLIENT_CREDENTIALS = "client_credentials"


class OAuthClient(ClientMixin):
    """PSC's clients are confidential: a secret, exact redirect URIs, code flow only."""

    def __init__(self, client: Client, scopes_supported: frozenset[str]) -> None:
        self.client = client
        self._scopes_supported = scopes_supported

    def get_client_id(self) -> str:
        return self.client.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None  # Keycloak insists on redirect_uri in the request

    def get_allowed_scope(self, scope: str) -> str:
        requested = (scope or "").split()
        return " ".join(s for s in dict.fromkeys(requested) if s in self._scopes_supported)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.client.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(
            client_secret.encode("utf-8"), self.client.client_secret.encode("utf-8")
        )

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in self.client.auth_methods

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    @property
    def client_metadata(self) -> dict:
        """What Authlib's end-session endpoint reads (RP-Initiated Logout §3)."""
        return {"post_logout_redirect_uris": list(self.client.post_logout_redirect_uris)}

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type == CLIENT_CREDENTIALS:
            return self.client.service_account  # Keycloak's "service accounts" switch
        if grant_type == CIBA_GRANT_TYPE:
            return self.client.ciba  # enabled per service at PSC
        return grant_type in GRANT_TYPES


def authenticate_client_secret_basic(query_client, request) -> OAuthClient | None:
    """Authlib's ``client_secret_basic``, where a header that does not decode (not ASCII,
    not base64, not UTF-8) is no credential rather than an exception (a 500): the client
    then gets ``invalid_client`` (401, ``WWW-Authenticate: Basic``) as for a wrong secret,
    or is authenticated by another method, as Keycloak falls back to the form."""
    try:
        return authlib_client_secret_basic(query_client, request)
    except ValueError:  # UnicodeError and binascii.Error are ValueErrors
        return None
