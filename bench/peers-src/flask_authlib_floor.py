"""The least a Flask + Authlib provider can do: client_credentials, RS256 JWT access tokens.

Not a peer but a floor: psc-mock's own stack (Flask, Authlib's token endpoint, joserfc,
cheroot in one process) with nothing PSC asks for (no claims from a directory, no token
ledger, no request log, no injected faults). What it serves bounds what psc-mock can.

    python bench/peers-src/flask_authlib_floor.py PORT
"""

from __future__ import annotations

import sys
import time
import uuid

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from cheroot import wsgi
from flask import Flask
from joserfc import jwt
from joserfc.jwk import RSAKey

KEY = RSAKey.generate_key(2048, parameters={"kid": "floor"})
LIFETIME = 300


class Client(ClientMixin):
    client_id = "bench"

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str) -> str:
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return client_secret == "bench-secret"

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "client_secret_basic"

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


def access_token(grant_type, client, user=None, scope=None, **_ignored) -> dict:
    now = int(time.time())
    claims = {
        "iss": "http://localhost",
        "sub": client.client_id,
        "aud": "urn:bench",
        "iat": now,
        "exp": now + LIFETIME,
        "jti": uuid.uuid4().hex,
        "scope": scope or "",
    }
    token = jwt.encode({"alg": "RS256", "kid": "floor"}, claims, KEY)
    return {"access_token": token, "token_type": "Bearer", "expires_in": LIFETIME}


app = Flask(__name__)
server = AuthorizationServer(
    app,
    query_client=lambda client_id: Client() if client_id == Client.client_id else None,
    save_token=lambda token, request: None,
)
server.register_token_generator("default", access_token)
server.register_grant(grants.ClientCredentialsGrant)


@app.post("/token")
def token():
    return server.create_token_response()


@app.get("/ready")
def ready():
    return {"ready": True}


if __name__ == "__main__":
    listener = wsgi.Server(("127.0.0.1", int(sys.argv[1])), app, request_queue_size=1024)
    listener.safe_start()
