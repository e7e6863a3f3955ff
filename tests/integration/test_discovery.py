"""Discovery at PSC's path, JWKS, health: what a client reads before anything else."""

from __future__ import annotations

import pytest
import requests

REALM = "/auth/realms/esante-wallet"


def test_psc_discovery_path_and_quirks(base_url, issuer):
    assert issuer == base_url + REALM
    wallet = requests.get(issuer + "/.well-known/wallet-openid-configuration", timeout=5).json()
    standard = requests.get(issuer + "/.well-known/openid-configuration", timeout=5).json()
    assert wallet == standard
    assert wallet["issuer"] == issuer
    assert wallet["authorization_endpoint"] == base_url + "/auth"
    assert wallet["token_endpoint"] == issuer + "/protocol/openid-connect/token"
    assert wallet["userinfo_endpoint"] == issuer + "/protocol/openid-connect/userinfo"
    assert wallet["jwks_uri"] == issuer + "/protocol/openid-connect/certs"
    assert wallet["backchannel_authentication_endpoint"].endswith("/ext/ciba/auth")
    # PSC's own quirks, kept because integrations break on them
    assert wallet["acr_values_supported"] == ["0", "0"]
    assert "private_key_jwt" in wallet["token_endpoint_auth_methods_supported"]
    assert wallet["backchannel_token_delivery_modes_supported"] == ["poll", "ping"]
    assert wallet["authorization_response_iss_parameter_supported"] is True
    assert "scope_all" in wallet["scopes_supported"]


def test_native_keycloak_authorize_path_also_works(issuer):
    response = requests.get(
        issuer + "/protocol/openid-connect/auth", allow_redirects=False, timeout=5
    )
    assert response.status_code == 400  # no client_id: the error page, but the path exists
    assert "Requête de connexion invalide" in response.text


def test_accurate_discovery_advertises_only_what_is_implemented(start_server):
    server = start_server(discovery="accurate")
    doc = requests.get(
        server.settings.issuer + "/.well-known/wallet-openid-configuration", timeout=5
    ).json()
    assert doc["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
    ]
    assert doc["acr_values_supported"] == ["eidas1"]
    assert doc["backchannel_token_delivery_modes_supported"] == ["poll"]  # PSC: poll only
    assert "urn:openid:params:grant-type:ciba" in doc["grant_types_supported"]
    assert "device_authorization_endpoint" not in doc


def test_backchannel_url_for_server_to_server_endpoints(start_server):
    server = start_server(
        public_url="http://localhost:8080", backchannel_url="http://psc-mock:8080"
    )
    port = server.port
    doc = requests.get(
        f"http://127.0.0.1:{port}{REALM}/.well-known/wallet-openid-configuration", timeout=5
    ).json()
    assert doc["issuer"] == "http://localhost:8080" + REALM
    assert doc["authorization_endpoint"] == "http://localhost:8080/auth"
    assert doc["token_endpoint"].startswith("http://psc-mock:8080" + REALM)
    assert doc["jwks_uri"].startswith("http://psc-mock:8080" + REALM)
    assert doc["end_session_endpoint"].startswith("http://localhost:8080" + REALM)


def test_jwks_publishes_the_signing_key(discovery):
    jwks = requests.get(discovery["jwks_uri"], timeout=5).json()
    (key,) = jwks["keys"]
    assert key["kty"] == "RSA" and key["use"] == "sig" and key["alg"] == "RS256"
    assert key["kid"] and "d" not in key


def test_health(base_url):
    assert requests.get(base_url + "/_mock/health/live", timeout=5).json() == {"status": "UP"}
    ready = requests.get(base_url + "/_mock/health/ready", timeout=5)
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"keys": True, "directory": True}


def test_no_cors_as_psc(discovery):
    response = requests.get(
        discovery["jwks_uri"], headers={"Origin": "https://evil.example"}, timeout=5
    )
    assert "Access-Control-Allow-Origin" not in response.headers


def _login_redirect(server, headers: dict) -> str:
    query = (
        "response_type=code&client_id=psc-mock-ci&redirect_uri=http://localhost:9999/callback"
        "&scope=openid%20scope_all&acr_values=eidas1&state=s&nonce=n"
    )
    response = requests.get(
        f"http://127.0.0.1:{server.port}/auth?{query}",
        headers=headers,
        allow_redirects=False,
        timeout=5,
    )
    assert response.status_code == 302
    return response.headers["Location"]


def test_forwarded_headers_only_from_trusted_proxies(start_server):
    forwarded = {"X-Forwarded-Prefix": "/psc", "X-Forwarded-Host": "evil.example"}
    untrusted = start_server()
    assert _login_redirect(untrusted, forwarded).startswith("/auth/realms/")
    trusted = start_server(trusted_proxies=["127.0.0.1"])
    assert _login_redirect(trusted, forwarded).startswith("/psc/auth/realms/")


@pytest.mark.parametrize(
    ("trusted", "honoured"), [("127.0.0.0/8", True), ("::1, 10.0.0.0/8", False)]
)
def test_a_trusted_network_covers_its_addresses(start_server, trusted, honoured):
    """As nginx's set_real_ip_from: a compose or Kubernetes network by its range."""
    server = start_server(trusted_proxies=[entry.strip() for entry in trusted.split(",")])
    redirect = _login_redirect(server, {"X-Forwarded-Prefix": "/psc"})
    assert redirect.startswith("/psc/auth/realms/") is honoured


def test_accurate_discovery_with_tls_advertises_mtls(start_server):
    server = start_server(discovery="accurate", tls_port=0)
    doc = requests.get(
        server.settings.issuer + "/.well-known/wallet-openid-configuration", timeout=5
    ).json()
    assert "tls_client_auth" in doc["token_endpoint_auth_methods_supported"]
    assert doc["tls_client_certificate_bound_access_tokens"] is True
    token = doc["mtls_endpoint_aliases"]["token_endpoint"]
    assert token == f"https://localhost:{server.tls_port}{REALM}/protocol/openid-connect/token"
