"""What a relying party's server does after the login, written once for the tests:
introspect, revoke, refresh, read userinfo, log out; a browser that keeps its cookies;
a back-channel logout receiver; fixtures with extra clients; tokens made elsewhere."""

from __future__ import annotations

import http.server
import shutil
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlparse

import jwt
import requests
import yaml

from idp.app import BUNDLED_FIXTURES
from tests.conftest import CI_CLIENT
from tests.oidc_client import Callback, RelyingParty

DEMO_CLIENT = ("psc-mock-demo", "psc-mock-demo-secret", "http://localhost:8000/callback")
POST_CLIENT = ("psc-mock-post", "psc-mock-post-secret", "http://localhost:9999/callback")
SERVICE_CLIENT = ("psc-mock-service", "psc-mock-service-secret", "")
PSC_BAS_ISSUER = "https://auth.bas.psc.esante.gouv.fr/auth/realms/esante-wallet"


def introspect(
    discovery: dict, token: str, client=CI_CLIENT, *, hint: str | None = None, post=False
) -> requests.Response:
    """RFC 7662 as a gateway calls it: Basic (ANS's example), or client_secret_post."""
    data = {"token": token, **({"token_type_hint": hint} if hint else {})}
    return _authenticated_post(discovery["introspection_endpoint"], data, client, post=post)


def revoke(
    discovery: dict, token: str, client=CI_CLIENT, *, hint: str | None = None, post=False
) -> requests.Response:
    data = {"token": token, **({"token_type_hint": hint} if hint else {})}
    return _authenticated_post(discovery["revocation_endpoint"], data, client, post=post)


def refresh(discovery: dict, refresh_token: str, client=CI_CLIENT) -> requests.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return _authenticated_post(discovery["token_endpoint"], data, client)


def client_credentials(discovery: dict, client=SERVICE_CLIENT, **params) -> requests.Response:
    data = {"grant_type": "client_credentials", **params}
    return _authenticated_post(discovery["token_endpoint"], data, client)


def userinfo(discovery: dict, access_token: str) -> requests.Response:
    return requests.get(
        discovery["userinfo_endpoint"],
        headers={"Authorization": "Bearer " + access_token},
        timeout=5,
    )


def _authenticated_post(url: str, data: dict, client, *, post=False) -> requests.Response:
    client_id, secret = client[0], client[1]
    if post:
        return requests.post(
            url, data={**data, "client_id": client_id, "client_secret": secret}, timeout=5
        )
    return requests.post(url, data=data, auth=(client_id, secret), timeout=5)


def active(response: requests.Response) -> bool:
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body["active"], bool)
    return body["active"]


# --- a browser that keeps the SSO cookie ---------------------------------------------


class SsoBrowser:
    """One browser (one cookie jar) signing in to relying parties."""

    def __init__(self) -> None:
        self.http = requests.Session()

    def authorize(self, rp: RelyingParty, **params) -> tuple[requests.Response, dict]:
        """The mock's first answer to an authorize request (not followed)."""
        url, secrets = rp.authorization_url(**params)
        return self.http.get(url, allow_redirects=False, timeout=5), secrets

    def login(self, rp: RelyingParty, **params) -> dict:
        """Authorize, expect the mock to answer the client at once (SSO or an ``auto``
        login_hint), check ``state``, exchange the code: the token response."""
        response, secrets = self.authorize(rp, **params)
        callback = to_callback(response, rp)
        assert callback.params.get("state") == secrets["state"], callback.params
        assert "code" in callback.params, callback.params
        return rp.fetch_token(callback, secrets["code_verifier"])

    def cookie(self, name: str = "KEYCLOAK_IDENTITY") -> str | None:
        return self.http.cookies.get(name)


def to_callback(response: requests.Response, rp: RelyingParty) -> Callback:
    location = response.headers.get("Location", "")
    assert response.status_code == 302 and location.startswith(rp.redirect_uri), (
        response.status_code,
        location,
        response.text[:300],
    )
    query = parse_qs(urlparse(location).query)
    return Callback(location, {key: values[0] for key, values in query.items()})


def goes_to_login_page(response: requests.Response) -> bool:
    location = urljoin(response.url, response.headers.get("Location", ""))
    return response.status_code == 302 and "/login-actions/authenticate" in location


# --- fixtures with extra clients, and the servers that use them -------------------------


def fixtures_with_clients(directory: Path, *clients: dict) -> Path:
    """A copy of the bundled fixtures whose clients.yaml also registers ``clients``."""
    target = directory / "fixtures"
    shutil.copytree(BUNDLED_FIXTURES, target)
    path = target / "clients.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["clients"].extend(clients)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


def discovery_of(server) -> dict:
    response = requests.get(server.settings.issuer + "/.well-known/openid-configuration", timeout=5)
    response.raise_for_status()
    return response.json()


# --- tokens made outside the mock ------------------------------------------------------


def signing_key_pem() -> bytes:
    return next((BUNDLED_FIXTURES / "keys").glob("*.pem")).read_bytes()


def resign(token: str, *, key: bytes | None = None, **changes) -> str:
    """The token's claims with ``changes``, signed again (by the mock's public test key
    unless ``key`` is given) under the same ``kid``."""
    header = jwt.get_unverified_header(token)
    token_claims = {**jwt.decode(token, options={"verify_signature": False}), **changes}
    return jwt.encode(
        token_claims, key or signing_key_pem(), algorithm="RS256", headers={"kid": header["kid"]}
    )


def other_key_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


# --- a relying party's back-channel logout URI -------------------------------------------


class BackchannelReceiver:
    """A tiny HTTP server that records what is POSTed to it (``/backchannel-logout``),
    answering after ``delay`` seconds with ``status``."""

    def __init__(self, *, delay: float = 0.0, status: int = 200) -> None:
        received: list[dict] = []
        arrived = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode("ascii")
                received.append(
                    {
                        "path": self.path,
                        "content_type": self.headers.get("Content-Type", ""),
                        "form": {k: v[0] for k, v in parse_qs(body).items()},
                        "at": time.monotonic(),
                    }
                )
                arrived.set()
                time.sleep(delay)
                self.send_response(status)
                self.send_header("Cache-Control", "no-store")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.received = received
        self._arrived = arrived
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/backchannel-logout"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> BackchannelReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait(self, count: int = 1, timeout: float = 5.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            self._arrived.wait(0.05)
            self._arrived.clear()
        return list(self.received)
