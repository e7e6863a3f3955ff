"""The HTTPS listener and card login by TLS client authentication, over real TLS.

The TLS layer accepts any client certificate; the application judges it, so a foreign,
expired or opposed card gets a French page that says why instead of a handshake alert.
"""

from __future__ import annotations

import html
import re
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from idp.app import BUNDLED_FIXTURES
from idp.auth import card as card_auth
from idp.cli import _banner
from idp.server import MockServer
from idp.settings import REALM_PATH, Settings
from tests.oidc_client import RelyingParty

PKI = BUNDLED_FIXTURES / "pki"
CA_BUNDLE = str(PKI / "ca" / "bundle.pem")
CARD_PATH = REALM_PATH + "/login-actions/card-tls"
ACTIVE_CARD = "2800100011"  # Claire MARTIN, 899700100011
EXPIRED_CARD = "2800090292"  # Lucas GIRAUD's old card
OPPOSED_CARD = "2800100102"  # Bernard MERCIER's old card


def card_pair(serial: str) -> tuple[str, str]:
    base = PKI / "cards" / serial
    return str(base / "auth.cert.pem"), str(base / "auth.key.pem")


def page_text(response: requests.Response) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", response.text))


@pytest.fixture(scope="module")
def server(tls_server):
    return tls_server


@pytest.fixture(scope="module")
def tls_url(server) -> str:
    return server.settings.effective_tls_url


@pytest.fixture(scope="module")
def discovery(server) -> dict:
    url = server.settings.issuer + "/.well-known/wallet-openid-configuration"
    return requests.get(url, timeout=5).json()


@pytest.fixture(scope="module")
def foreign_card(tmp_path_factory) -> tuple[str, str]:
    """A card-looking certificate from an authority the mock does not know."""
    folder = tmp_path_factory.mktemp("foreign")
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AC ETRANGERE")])
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "899700100011"),
                ]
            )
        )
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), True
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = folder / "auth.cert.pem", folder / "auth.key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def parked_login(discovery: dict) -> tuple[RelyingParty, dict, str]:
    """An authorize request parked on the login page: the relying party, its secrets and
    the login's tab_id."""
    rp = RelyingParty(discovery)
    url, secrets = rp.authorization_url()
    response = requests.get(url, allow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text[:300]
    tab_id = parse_qs(urlparse(response.headers["Location"]).query)["tab_id"][0]
    return rp, secrets, tab_id


def card_tls(tls_url: str, tab_id: str, cert=None) -> requests.Response:
    return requests.get(
        tls_url + CARD_PATH,
        params={"tab_id": tab_id},
        cert=cert,
        verify=CA_BUNDLE,
        allow_redirects=False,
        timeout=10,
    )


# --- The listener ---------------------------------------------------------------------


def test_the_server_exposes_both_ports(server):
    assert server.tls_port and server.tls_port != server.port
    assert server.settings.effective_tls_url == f"https://localhost:{server.tls_port}"
    # The issuer stays the public URL: tokens carry one iss whichever listener served them.
    assert server.settings.issuer.startswith(f"http://localhost:{server.port}/")


def test_handshake_without_client_certificate(tls_url):
    """The server certificate chains to the test PKI's bundle; no client cert needed."""
    response = requests.get(tls_url + "/_mock/health/ready", verify=CA_BUNDLE, timeout=10)
    assert response.status_code == 200
    assert response.json()["status"] == "UP"


def test_handshake_with_a_card_and_with_a_foreign_certificate(tls_url, foreign_card):
    for cert in (card_pair(ACTIVE_CARD), foreign_card):
        response = requests.get(
            tls_url + "/_mock/health/ready", verify=CA_BUNDLE, cert=cert, timeout=10
        )
        assert response.status_code == 200


def test_the_server_asks_for_a_certificate_naming_the_test_authorities(server):
    """Browsers offer only certificates of the authorities the CertificateRequest names."""
    from OpenSSL import SSL

    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.set_max_proto_version(SSL.TLS1_2_VERSION)  # the CA list is readable after hello
    import socket

    with socket.create_connection(("127.0.0.1", server.tls_port), timeout=5) as raw:
        connection = SSL.Connection(context, raw)
        connection.set_connect_state()
        connection.set_tlsext_host_name(b"localhost")
        raw.setblocking(True)
        connection.do_handshake()
        names = [dict(name.get_components()) for name in connection.get_client_ca_list()]
        connection.shutdown()
    common_names = {name.get(b"CN") for name in names}
    assert b"TEST AC IGC-SANTE FORT PERSONNES" in common_names
    assert b"TEST AC IGC-SANTE STANDARD ORGANISATIONS" in common_names


def test_plain_http_on_the_tls_port_gets_a_clear_answer(server):
    response = requests.get(f"http://127.0.0.1:{server.tls_port}/_mock/health/ready", timeout=5)
    assert response.status_code == 400
    assert "HTTPS" in response.text


def test_https_on_the_main_listener(start_server):
    mock = start_server(tls=True)
    assert mock.settings.issuer.startswith(f"https://localhost:{mock.port}/")
    document = requests.get(
        mock.settings.issuer + "/.well-known/openid-configuration", verify=CA_BUNDLE, timeout=10
    ).json()
    assert document["issuer"] == mock.settings.issuer
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(mock.settings.issuer + "/.well-known/openid-configuration", timeout=10)


def test_the_banner_prints_the_tls_urls(server):
    banner = _banner(server.settings)
    assert f"https://localhost:{server.tls_port}" in banner
    assert CARD_PATH in banner


def test_a_bad_server_certificate_setting_fails_at_start(tmp_path):
    missing = tmp_path / "none.pem"
    with pytest.raises((OSError, ValueError, Exception)):
        MockServer(Settings(port=0, tls_port=0, tls_cert=str(missing), tls_key=str(missing)))


# --- Card login by TLS ------------------------------------------------------------------


def test_card_tls_login_gives_tokens_with_auth_mode_card(discovery, tls_url):
    rp, secrets, tab_id = parked_login(discovery)
    response = card_tls(tls_url, tab_id, card_pair(ACTIVE_CARD))
    assert response.status_code == 302, page_text(response)[:500]
    location = response.headers["Location"]
    assert location.startswith(rp.redirect_uri)
    params = {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}
    assert params["state"] == secrets["state"]
    assert params["iss"] == discovery["issuer"]
    from tests.oidc_client import Callback

    token = rp.fetch_token(Callback(location, params), secrets["code_verifier"])
    id_claims = rp.verify(token["id_token"], audience="psc-mock-ci")
    access = rp.verify(token["access_token"])
    assert id_claims["nonce"] == secrets["nonce"]
    assert access["authMode"] == "CARD"
    assert access["SubjectNameID"] == "899700100011"
    assert "cnf" not in access  # the card authenticates the person, not the client
    # The login is used up: the same tab cannot log in twice.
    again = card_tls(tls_url, tab_id, card_pair(ACTIVE_CARD))
    assert again.status_code == 404


@pytest.mark.parametrize(
    ("serial", "code"),
    [
        (EXPIRED_CARD, card_auth.EXPIRED),
        (OPPOSED_CARD, card_auth.OPPOSED),
    ],
)
def test_expired_and_opposed_cards_are_refused_clearly(discovery, tls_url, serial, code):
    _, _, tab_id = parked_login(discovery)
    response = card_tls(tls_url, tab_id, card_pair(serial))
    assert response.status_code == 403
    text = page_text(response)
    assert card_auth.MESSAGES[code] in text
    assert code in text  # the technical detail, for the developer
    assert "Location" not in response.headers


def test_a_certificate_of_another_authority_is_refused_clearly(discovery, tls_url, foreign_card):
    _, _, tab_id = parked_login(discovery)
    response = card_tls(tls_url, tab_id, foreign_card)
    assert response.status_code == 403
    assert card_auth.MESSAGES[card_auth.UNKNOWN_AUTHORITY] in page_text(response)


def test_a_refusal_leaves_the_login_usable(discovery, tls_url):
    _, _, tab_id = parked_login(discovery)
    assert card_tls(tls_url, tab_id, card_pair(OPPOSED_CARD)).status_code == 403
    assert card_tls(tls_url, tab_id, card_pair(ACTIVE_CARD)).status_code == 302


def test_an_organisation_certificate_is_not_a_card(discovery, tls_url):
    _, _, tab_id = parked_login(discovery)
    org = PKI / "organisations"
    cert = (str(org / "psc-mock-ci.cert.pem"), str(org / "psc-mock-ci.key.pem"))
    response = card_tls(tls_url, tab_id, cert)
    assert response.status_code == 403
    assert "carte" in page_text(response).lower()


def test_no_certificate_over_tls_says_what_to_do(discovery, tls_url):
    _, _, tab_id = parked_login(discovery)
    response = card_tls(tls_url, tab_id)
    assert response.status_code == 401
    assert "Aucun certificat de carte" in page_text(response)


def test_over_plain_http_the_page_points_to_the_tls_listener(discovery, server, tls_url):
    _, _, tab_id = parked_login(discovery)
    response = requests.get(
        server.settings.effective_public_url + CARD_PATH, params={"tab_id": tab_id}, timeout=5
    )
    assert response.status_code == 400
    assert f"{tls_url}{CARD_PATH}?tab_id={quote(tab_id)}" in html.unescape(response.text)


def test_an_unknown_tab_is_an_expired_login(tls_url):
    response = card_tls(tls_url, "nope", card_pair(ACTIVE_CARD))
    assert response.status_code == 404


def test_without_a_tls_listener_the_page_says_so(start_server):
    mock = start_server()
    rp = RelyingParty(
        requests.get(
            mock.settings.issuer + "/.well-known/wallet-openid-configuration", timeout=5
        ).json()
    )
    url, _ = rp.authorization_url()
    parked = requests.get(url, allow_redirects=False, timeout=5)
    tab_id = parse_qs(urlparse(parked.headers["Location"]).query)["tab_id"][0]
    response = requests.get(
        mock.settings.effective_public_url + CARD_PATH, params={"tab_id": tab_id}, timeout=5
    )
    assert response.status_code == 400
    assert "--tls-port" in page_text(response)


def test_stdlib_ssl_clients_work_too(server):
    """curl-like clients: the stdlib's ssl module with the card's PEM files."""
    import http.client

    context = ssl.create_default_context(cafile=CA_BUNDLE)
    context.load_cert_chain(*card_pair(ACTIVE_CARD))
    connection = http.client.HTTPSConnection("localhost", server.tls_port, context=context)
    connection.request("GET", "/_mock/health/live")
    assert connection.getresponse().status == 200
    connection.close()


def test_default_server_material_exists():
    assert Path(PKI / "server" / "localhost.fullchain.pem").is_file()


def test_the_card_tab_links_to_the_tls_login(discovery, tls_url):
    _, _, tab_id = parked_login(discovery)
    page = requests.get(
        discovery["issuer"] + "/login-actions/card", params={"tab_id": tab_id}, timeout=5
    )
    assert page.status_code == 200
    assert f"{tls_url}{CARD_PATH}?tab_id={quote(tab_id)}" in html.unescape(page.text)
