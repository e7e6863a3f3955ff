"""Token revocation (RFC 7009) at ``{issuer}/protocol/openid-connect/revoke``, on
Authlib's endpoint, with Keycloak's effects and words.

- A refresh token: its client leaves the session (Keycloak detaches the client session):
  the client's refresh tokens stop working and its access tokens stop counting at
  introspection and userinfo. A session left without any client ends.
- An access token: refused from now on until it expires.
- Another client's token: 400 ``invalid_request`` "Unmatching clients" (Keycloak).
- A token the mock does not know (garbage, expired long ago, another issuer's): 200, as
  RFC 7009 §2.2 says, so a client can always clean up. Success is an empty 200.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint

from idp.oidc.introspection import TokenParameter


class PscRevocationEndpoint(TokenParameter, RevocationEndpoint):
    def authenticate_token(self, request, client):
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        if token is not None and not token.check_client(client):
            raise InvalidRequestError("Unmatching clients")
        return token

    def query_token(self, token_string: str, token_type_hint: str | None):
        return self.server.inspector.find(token_string, token_type_hint)

    def revoke_token(self, token, request) -> None:
        self.server.inspector.revoke(token)

    def create_endpoint_response(self, request):
        """Keycloak answers an empty 200 (RFC 7009 §2.2: the body is ignored)."""
        status, _, _ = super().create_endpoint_response(request)
        return status, "", [("Cache-Control", "no-store"), ("Pragma", "no-cache")]
