"""Token introspection (RFC 7662) at ``{issuer}/protocol/openid-connect/token/introspect``,
on Authlib's endpoint.

As at PSC, where API gateways introspect the 2-minute tokens of any service: any
confidential client may introspect any token of this issuer (``client_secret_basic`` or
``client_secret_post``), unless its ``introspection: false`` forbids it; that client gets
Keycloak's refusal (403 ``invalid_request`` "Client not allowed."). A token that does not
count (expired on the mock clock, revoked, of an ended session, of another issuer, badly
signed, garbage) gets ``{"active": false}``, never an error.
"""

from __future__ import annotations

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from idp.oidc.grants import AUTH_METHODS


class ClientNotAllowedError(OAuth2Error):
    """Keycloak's answer to a client that may not introspect."""

    error = "invalid_request"
    status_code = 403
    description = "Client not allowed."


class TokenParameter:
    """What introspection and revocation share: client secrets, and a required ``token``.

    ``token_type_hint`` only orders the search, and an unknown one is ignored (Keycloak
    does not refuse it; RFC 7662 §2.1 lets the server search every type)."""

    CLIENT_AUTH_METHODS = AUTH_METHODS

    def check_params(self, request, client) -> None:
        if "token" not in request.form:
            raise InvalidRequestError("Token not provided")


class PscIntrospectionEndpoint(TokenParameter, IntrospectionEndpoint):
    def authenticate_endpoint_client(self, request):
        client = super().authenticate_endpoint_client(request)
        if not client.client.introspection:
            raise ClientNotAllowedError()
        return client

    def query_token(self, token_string: str, token_type_hint: str | None):
        return self.server.inspector.find(token_string, token_type_hint)

    def check_permission(self, token, client, request) -> bool:
        return True  # any allowed client, any token of this issuer

    def introspect_token(self, token) -> dict:
        return self.server.inspector.introspection(token)
