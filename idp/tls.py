"""TLS for the mock: the listener's adapter, and the client certificate the app sees.

The TLS layer asks for a client certificate and accepts **any** certificate, or none: it
only proves that the client holds the key. The application decides (card login, then
``tls_client_auth``), at the mock clock, so that a foreign, expired or opposed card gets a
French refusal page rather than a handshake alert. Python's :mod:`ssl` cannot do that
(``CERT_OPTIONAL`` still refuses a certificate it cannot verify), so the adapter is
pyOpenSSL's with a verify callback that says yes; cheroot's own pyOpenSSL adapter
handshakes lazily and never exposes the client certificate, hence :class:`ClientCertAdapter`.

Whichever way the certificate arrives (this listener, or a TLS-terminating proxy's
header from a trusted address, see :class:`ClientCertHeader`), the application reads it
in one place: :func:`client_certificate`.
"""

from __future__ import annotations

import logging
import select
import socket
import time
from pathlib import Path
from urllib.parse import unquote

from cheroot import errors
from cheroot.ssl.pyopenssl import pyOpenSSLAdapter
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL

log = logging.getLogger(__name__)

BUNDLED_PKI = Path(__file__).parent / "fixtures" / "pki"
DEFAULT_CERT = BUNDLED_PKI / "server" / "localhost.fullchain.pem"
DEFAULT_KEY = BUNDLED_PKI / "server" / "localhost.key.pem"
CLIENT_CERT = "SSL_CLIENT_CERT"  # mod_ssl's name: the client certificate, PEM
_PARSED = "psc_mock.client_certificate"
HANDSHAKE_TIMEOUT = 10.0


class ClientCertAdapter(pyOpenSSLAdapter):
    """cheroot's TLS adapter: server certificate (full chain), any client certificate.

    The handshake is completed in :meth:`wrap`, as cheroot's builtin adapter does, so that
    the client certificate is in the WSGI environ of every request on the connection
    (``SSL_CLIENT_CERT``, PEM; ``SSL_CLIENT_VERIFY`` ``GENEROUS`` when one was shown, as
    mod_ssl's ``optional_no_ca``, else ``NONE``; ``SSL_CLIENT_S_DN``, RFC 4514).
    ``client_cas`` are the authorities named in the CertificateRequest, so that a browser
    offers the card whose authority the mock knows first; a client may send any other.
    """

    def __init__(
        self, certificate: str, private_key: str, client_cas: list[x509.Certificate] = ()
    ) -> None:
        super().__init__(certificate, private_key)
        self._client_cas = list(client_cas)

    def get_context(self) -> SSL.Context:
        context = SSL.Context(SSL.TLS_SERVER_METHOD)
        context.set_min_proto_version(SSL.TLS1_2_VERSION)
        context.use_certificate_chain_file(self.certificate)
        context.use_privatekey_file(self.private_key)
        context.check_privatekey()
        context.set_verify(SSL.VERIFY_PEER, _accept_any)
        for authority in self._client_cas:
            context.add_client_ca(authority)
        # A session id context is required once peer certificates are requested.
        context.set_session_id(b"psc-mock")
        return context

    def bind(self, sock):
        if self.context is None:
            self.context = self.get_context()
        return sock  # the listening socket stays plain; connections are wrapped one by one

    def wrap(self, sock):
        connection = SSL.Connection(self.context, sock)
        connection.set_accept_state()
        _handshake(connection, sock, HANDSHAKE_TIMEOUT)
        environ = {
            "wsgi.url_scheme": "https",
            "HTTPS": "on",
            "SSL_PROTOCOL": connection.get_protocol_version_name(),
            "SSL_CIPHER": connection.get_cipher_name() or "",
            "SSL_CLIENT_VERIFY": "NONE",
        }
        peer = connection.get_peer_certificate(as_cryptography=True)
        if peer is not None:
            environ["SSL_CLIENT_VERIFY"] = "GENEROUS"
            environ["SSL_CLIENT_S_DN"] = peer.subject.rfc4514_string()
            environ[CLIENT_CERT] = peer.public_bytes(serialization.Encoding.PEM).decode("ascii")
        return connection, environ

    def get_environ(self):  # cheroot's base class reads the server certificate here
        return {}


def _accept_any(_connection, _certificate, _errno, _depth, _ok) -> bool:
    """The TLS layer accepts every client certificate: the application judges it."""
    return True


def _handshake(connection: SSL.Connection, sock: socket.socket, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            connection.do_handshake()
            return
        except (SSL.WantReadError, SSL.WantWriteError) as want:
            left = deadline - time.monotonic()
            if left <= 0:
                raise errors.FatalSSLAlert("TLS handshake timed out") from want
            if isinstance(want, SSL.WantReadError):
                select.select([sock], [], [], left)
            else:
                select.select([], [sock], [], left)
        except SSL.SysCallError as error:
            raise errors.FatalSSLAlert(str(error)) from error
        except SSL.Error as error:
            reasons = [part[2] for part in error.args[0] if len(part) > 2] if error.args else []
            if "http request" in reasons:
                raise errors.NoSSLError() from error
            raise errors.FatalSSLAlert(str(error)) from error


def client_authorities(settings) -> list[x509.Certificate]:
    """The test authorities a browser is told the mock knows (the fixtures' ``pki/ca``)."""
    base = Path(settings.fixtures) / "pki" if settings.fixtures else BUNDLED_PKI
    authorities = []
    for path in sorted((base / "ca").glob("*.cert.pem")):
        authorities.append(x509.load_pem_x509_certificate(path.read_bytes()))
    return authorities


def tls_adapter(certificate: str, private_key: str, client_cas=()) -> ClientCertAdapter:
    return ClientCertAdapter(
        certificate or str(DEFAULT_CERT), private_key or str(DEFAULT_KEY), list(client_cas)
    )


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
        self._trusted = frozenset(trusted)

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
