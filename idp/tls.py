"""TLS for the mock: where its certificates are, and the client certificate the app sees.

The listener (:mod:`idp.tls_listener`, loaded only when the mock serves HTTPS) asks for
a client certificate and accepts **any** certificate, or none: it only proves that the
client holds the key. The application decides (card login, then
``tls_client_auth``), at the mock clock, so that a foreign, expired or opposed card gets a
French refusal page rather than a handshake alert. Python's :mod:`ssl` cannot do that
(``CERT_OPTIONAL`` still refuses a certificate it cannot verify), so the adapter is
pyOpenSSL's with a verify callback that says yes.

Whichever way the certificate arrives (this listener, or a TLS-terminating proxy's
header from a trusted address, see :class:`ClientCertHeader`), the application reads it
in one place: :func:`client_certificate`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import unquote

from cryptography import x509

from idp.proxies import TrustedPeers

log = logging.getLogger(__name__)

BUNDLED_PKI = Path(__file__).parent / "fixtures" / "pki"
DEFAULT_CERT = BUNDLED_PKI / "server" / "localhost.fullchain.pem"
DEFAULT_KEY = BUNDLED_PKI / "server" / "localhost.key.pem"
CLIENT_CERT = "SSL_CLIENT_CERT"  # mod_ssl's name: the client certificate, PEM
_PARSED = "psc_mock.client_certificate"


def client_authorities(settings) -> list[x509.Certificate]:
    """The test authorities a browser is told the mock knows (the fixtures' ``pki/ca``)."""
    base = Path(settings.fixtures) / "pki" if settings.fixtures else BUNDLED_PKI
    authorities = []
    for path in sorted((base / "ca").glob("*.cert.pem")):
        authorities.append(x509.load_pem_x509_certificate(path.read_bytes()))
    return authorities


# --- The client certificate, as the application sees it ----------------------------------


def client_certificate(environ) -> x509.Certificate | None:
    """The certificate the client showed (TLS listener, or a trusted proxy's header)."""
    if _PARSED in environ:
        return environ[_PARSED]
    pem = environ.get(CLIENT_CERT) or ""
    certificate = None
    if pem:
        try:
            certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            log.info("unreadable client certificate")
    environ[_PARSED] = certificate
    return certificate


def header_environ_key(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


class ClientCertHeader:
    """Behind a TLS-terminating proxy: the client certificate from a request header
    (URL-encoded PEM, as nginx's ``$ssl_client_escaped_cert``), honoured only when the
    peer is a trusted proxy. From any other address the header is refused (400): the
    certificate could be anyone's."""

    def __init__(self, app, header: str, trusted: list[str]) -> None:
        self._app = app
        self._header = header
        self._key = header_environ_key(header)
        self._trusted = TrustedPeers(trusted)

    def __call__(self, environ, start_response):
        value = environ.pop(self._key, None)
        if value is None:
            return self._app(environ, start_response)
        if environ.get("REMOTE_ADDR") not in self._trusted:
            log.warning(
                "%s header from %s, not a trusted proxy: refused",
                self._header,
                environ.get("REMOTE_ADDR"),
            )
            body = (
                f"{self._header} is honoured only from a trusted proxy "
                "(--trusted-proxies); this request did not come from one.\n"
            ).encode()
            start_response(
                "400 Bad Request",
                [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
            )
            return [body]
        pem = unquote(value.strip())
        if pem and pem != "-":  # nginx sends nothing (or "-" in logs) without a certificate
            environ[CLIENT_CERT] = pem
            environ.setdefault("SSL_CLIENT_VERIFY", "GENEROUS")
        return self._app(environ, start_response)
