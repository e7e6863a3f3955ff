"""Relying parties over mutual TLS (RFC 8705): ``tls_client_auth`` with ORG certificates
of the test IGC-Santé, certificate-bound access tokens, and the proxy header."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from urllib.parse import quote

import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from idp.app import BUNDLED_FIXTURES
from idp.mockdata import MockDataError, load_clients
from tests.conftest import CI_CLIENT
from tests.oidc_client import RelyingParty, follow_to_callback

PKI = BUNDLED_FIXTURES / "pki"
CA_BUNDLE = str(PKI / "ca" / "bundle.pem")
OIDC = "/protocol/openid-connect"
AUTO_IDNAT = "899700100011"
CLIENT_ID, CLIENT_SECRET, REDIRECT_URI = CI_CLIENT
HEADER = "X-SSL-Client-Cert"


def org_pair(client_id: str) -> tuple[str, str]:
    base = PKI / "organisations" / client_id
    return f"{base}.cert.pem", f"{base}.key.pem"


def card_pair(serial: str) -> tuple[str, str]:
    base = PKI / "cards" / serial
    return str(base / "auth.cert.pem"), str(base / "auth.key.pem")


def thumbprint_of(cert_path: str) -> str:
    """RFC 8705 §3.1, computed independently of the mock."""
    certificate = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    digest = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def unverified(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


@pytest.fixture(scope="module")
def server(tls_server):
    return tls_server


@pytest.fixture(scope="module")
def issuer(server) -> str:
    return server.settings.issuer


@pytest.fixture(scope="module")
def tls_issuer(server) -> str:
    """The same realm on the HTTPS listener, where clients show their certificate."""
    return server.settings.effective_tls_url + "/auth/realms/esante-wallet"


@pytest.fixture(scope="module")
def discovery(issuer) -> dict:
    return requests.get(issuer + "/.well-known/wallet-openid-configuration", timeout=5).json()


def a_code(discovery: dict) -> tuple[str, str]:
    """A code for psc-mock-ci and an auto identity, and its PKCE verifier."""
    rp = RelyingParty(discovery)
    url, secrets = rp.authorization_url(login_hint=AUTO_IDNAT)
    callback = follow_to_callback(requests.Session(), url, REDIRECT_URI)
    return callback.params["code"], secrets["code_verifier"]


def token_by_mtls(tls_issuer: str, discovery: dict, cert, *, client_id: str = CLIENT_ID):
    code, verifier = a_code(discovery)
    return requests.post(
        tls_issuer + OIDC + "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": REDIRECT_URI,
            "client_id": client_id,
        },
        cert=cert,
        verify=CA_BUNDLE,
        timeout=10,
    )


@pytest.fixture(scope="module")
def bound_token(tls_issuer, discovery) -> dict:
    response = token_by_mtls(tls_issuer, discovery, org_pair(CLIENT_ID))
    assert response.status_code == 200, response.text
    return response.json()


# --- tls_client_auth --------------------------------------------------------------------


def test_tls_client_auth_at_the_token_endpoint_binds_the_access_token(bound_token, discovery):
    rp = RelyingParty(discovery)
    access = rp.verify(bound_token["access_token"])  # signed as any token, through the JWKS
    assert access["cnf"] == {"x5t#S256": thumbprint_of(org_pair(CLIENT_ID)[0])}
    assert access["azp"] == CLIENT_ID
    assert "cnf" not in unverified(bound_token["id_token"])


def test_the_bound_token_is_accepted_with_its_certificate(tls_issuer, bound_token):
    response = requests.get(
        tls_issuer + OIDC + "/userinfo",
        headers={"Authorization": "Bearer " + bound_token["access_token"]},
        cert=org_pair(CLIENT_ID),
        verify=CA_BUNDLE,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["SubjectNameID"] == AUTO_IDNAT


@pytest.mark.parametrize("how", ["no certificate", "another certificate", "plain http"])
def test_the_bound_token_is_refused_without_its_certificate(tls_issuer, issuer, bound_token, how):
    headers = {"Authorization": "Bearer " + bound_token["access_token"]}
    if how == "plain http":
        response = requests.get(issuer + OIDC + "/userinfo", headers=headers, timeout=5)
    else:
        cert = org_pair("psc-mock-demo") if how == "another certificate" else None
        response = requests.get(
            tls_issuer + OIDC + "/userinfo",
            headers=headers,
            cert=cert,
            verify=CA_BUNDLE,
            timeout=10,
        )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_introspection_shows_the_binding(issuer, bound_token):
    response = requests.post(
        issuer + OIDC + "/token/introspect",
        auth=("psc-mock-demo", "psc-mock-demo-secret"),
        data={"token": bound_token["access_token"]},
        timeout=5,
    )
    body = response.json()
    assert body["active"] is True
    assert body["cnf"] == {"x5t#S256": thumbprint_of(org_pair(CLIENT_ID)[0])}


def test_introspection_by_tls_client_auth(tls_issuer, bound_token):
    response = requests.post(
        tls_issuer + OIDC + "/token/introspect",
        data={"token": bound_token["access_token"], "client_id": "psc-mock-demo"},
        cert=org_pair("psc-mock-demo"),
        verify=CA_BUNDLE,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["active"] is True


def test_refreshed_tokens_are_bound_to_the_certificate_of_the_refresh(tls_issuer, bound_token):
    response = requests.post(
        tls_issuer + OIDC + "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": bound_token["refresh_token"],
            "client_id": CLIENT_ID,
        },
        cert=org_pair(CLIENT_ID),
        verify=CA_BUNDLE,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    access = unverified(response.json()["access_token"])
    assert access["cnf"]["x5t#S256"] == thumbprint_of(org_pair(CLIENT_ID)[0])


def test_secret_clients_get_plain_bearer_tokens(discovery, issuer):
    token, _ = RelyingParty(discovery).login_auto(AUTO_IDNAT)
    assert "cnf" not in unverified(token["access_token"])
    response = requests.get(
        issuer + OIDC + "/userinfo",
        headers={"Authorization": "Bearer " + token["access_token"]},
        timeout=5,
    )
    assert response.status_code == 200


def test_client_credentials_by_mtls(tls_issuer):
    response = requests.post(
        tls_issuer + OIDC + "/token",
        data={"grant_type": "client_credentials", "client_id": "psc-mock-service"},
        cert=org_pair("psc-mock-service"),
        verify=CA_BUNDLE,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    access = unverified(response.json()["access_token"])
    assert access["cnf"]["x5t#S256"] == thumbprint_of(org_pair("psc-mock-service")[0])


@pytest.mark.parametrize(
    ("client_id", "cert"),
    [
        pytest.param(CLIENT_ID, None, id="no certificate"),
        pytest.param(CLIENT_ID, org_pair("psc-mock-demo"), id="another client's certificate"),
        pytest.param(CLIENT_ID, card_pair("2800100011"), id="a card certificate"),
        pytest.param("psc-mock-post", org_pair("psc-mock-post"), id="client without a DN"),
    ],
)
def test_tls_client_auth_refusals(tls_issuer, discovery, client_id, cert):
    response = token_by_mtls(tls_issuer, discovery, cert, client_id=client_id)
    assert response.status_code in (400, 401), response.text
    assert response.json()["error"] == "invalid_client"


def test_a_foreign_certificate_with_the_registered_subject_is_refused(
    tls_issuer, discovery, tmp_path
):
    """The subject matches, but the issuer is not the test IGC-Santé (RFC 8705 PKI method)."""
    from datetime import UTC, datetime, timedelta

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name.from_rfc4514_string("CN=psc-mock-ci,O=Pipeline d'intégration continue,C=FR")
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "c.pem", tmp_path / "k.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    response = token_by_mtls(tls_issuer, discovery, (str(cert_path), str(key_path)))
    assert response.json()["error"] == "invalid_client"


def test_ciba_by_tls_client_auth(tls_issuer):
    response = requests.post(
        tls_issuer + OIDC + "/ext/ciba/auth",
        data={
            "client_id": "psc-mock-ciba",
            "scope": "openid scope_all",
            "acr_values": "eidas1",
            "login_hint": AUTO_IDNAT,
            "binding_message": "42",
        },
        cert=org_pair("psc-mock-ciba"),
        verify=CA_BUNDLE,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["auth_req_id"]


def test_a_malformed_subject_dn_is_refused_at_load(tmp_path):
    path = tmp_path / "clients.yaml"
    path.write_text(
        "clients:\n"
        "  - client_id: x\n"
        "    client_secret: s\n"
        "    redirect_uris: []\n"
        "    tls_client_auth_subject_dn: 'not a dn'\n",
        encoding="utf-8",
    )
    with pytest.raises(MockDataError, match="tls_client_auth_subject_dn"):
        load_clients(path)


# --- Behind a TLS-terminating proxy -------------------------------------------------------


def escaped(cert_path: str) -> str:
    """nginx's ``$ssl_client_escaped_cert``: the PEM, URL-encoded."""
    return quote(Path(cert_path).read_text(encoding="ascii"), safe="")


def test_a_trusted_proxy_header_authenticates_the_client(start_server):
    mock = start_server(client_cert_header=HEADER, trusted_proxies=["127.0.0.1"])
    cert_path = org_pair("psc-mock-service")[0]
    response = requests.post(
        mock.settings.issuer + OIDC + "/token",
        data={"grant_type": "client_credentials", "client_id": "psc-mock-service"},
        headers={HEADER: escaped(cert_path)},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    access = unverified(response.json()["access_token"])
    assert access["cnf"]["x5t#S256"] == thumbprint_of(cert_path)
    # The bound token at userinfo, through the proxy again: with and without the header.
    bearer = {"Authorization": "Bearer " + response.json()["access_token"]}
    with_cert = requests.get(
        mock.settings.issuer + OIDC + "/userinfo",
        headers={**bearer, HEADER: escaped(cert_path)},
        timeout=5,
    )
    assert with_cert.status_code == 200, with_cert.text
    without = requests.get(mock.settings.issuer + OIDC + "/userinfo", headers=bearer, timeout=5)
    assert without.status_code == 401


def test_a_trusted_proxy_header_logs_a_card_in(start_server):
    mock = start_server(client_cert_header=HEADER, trusted_proxies=["127.0.0.1"])
    discovery = requests.get(
        mock.settings.issuer + "/.well-known/wallet-openid-configuration", timeout=5
    ).json()
    rp = RelyingParty(discovery)
    url, _ = rp.authorization_url()
    parked = requests.get(url, allow_redirects=False, timeout=5)
    tab_id = parked.headers["Location"].rsplit("tab_id=", 1)[1]
    response = requests.get(
        mock.settings.issuer + "/login-actions/card-tls",
        params={"tab_id": tab_id},
        headers={HEADER: escaped(card_pair("2800100011")[0])},
        allow_redirects=False,
        timeout=5,
    )
    assert response.status_code == 302, response.text[:500]
    assert response.headers["Location"].startswith(REDIRECT_URI)


def test_the_header_from_an_untrusted_address_is_refused(start_server):
    mock = start_server(client_cert_header=HEADER, trusted_proxies=["192.0.2.10"])
    response = requests.post(
        mock.settings.issuer + OIDC + "/token",
        data={"grant_type": "client_credentials", "client_id": "psc-mock-service"},
        headers={HEADER: escaped(org_pair("psc-mock-service")[0])},
        timeout=5,
    )
    assert response.status_code == 400
    assert "trusted proxy" in response.text
    # Without the header, the same peer is served as usual.
    plain = requests.post(
        mock.settings.issuer + OIDC + "/token",
        data={"grant_type": "client_credentials"},
        auth=("psc-mock-service", "psc-mock-service-secret"),
        timeout=5,
    )
    assert plain.status_code == 200


def test_without_the_setting_the_header_means_nothing(start_server):
    mock = start_server(trusted_proxies=["127.0.0.1"])
    response = requests.post(
        mock.settings.issuer + OIDC + "/token",
        data={"grant_type": "client_credentials", "client_id": "psc-mock-service"},
        headers={HEADER: escaped(org_pair("psc-mock-service")[0])},
        timeout=5,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
