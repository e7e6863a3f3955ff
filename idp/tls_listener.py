"""The HTTPS listener: cheroot's pyOpenSSL adapter, completing the handshake itself.

cheroot's own pyOpenSSL adapter handshakes lazily and never exposes the client
certificate, hence :class:`ClientCertAdapter` (see :mod:`idp.tls` for why any client
certificate is accepted here). A module of its own: pyOpenSSL takes 17 ms to import, which
a mock serving plain HTTP, as in most CI jobs, has no reason to pay at start-up.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable

from cheroot import errors
from cheroot.ssl.pyopenssl import pyOpenSSLAdapter
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL

from idp.tls import CLIENT_CERT, DEFAULT_CERT, DEFAULT_KEY

HANDSHAKE_TIMEOUT = 10.0


def tls_adapter(certificate: str, private_key: str, client_cas=()) -> ClientCertAdapter:
    return ClientCertAdapter(
        certificate or str(DEFAULT_CERT), private_key or str(DEFAULT_KEY), list(client_cas)
    )


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
        chain, key = self.certificate, self.private_key
        _load("--tls-cert", chain, "un certificat PEM", context.use_certificate_chain_file)
        _load("--tls-key", key, "une clé privée PEM", context.use_privatekey_file)
        try:
            context.check_privatekey()
        except SSL.Error as exc:
            raise TlsFileError(
                f"--tls-key {self.private_key} : n'est pas la clé de --tls-cert {self.certificate}"
            ) from exc
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


class TlsFileError(ValueError):
    """A certificate or key file the listener cannot use; OpenSSL's own error names no
    file ("BIO routines: system lib")."""


def _load(option: str, path: str, what: str, load: Callable[[str], None]) -> None:
    """``load(path)``, or TlsFileError naming the option, the file and why."""
    from idp.settings import file_problem

    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise TlsFileError(f"{option} {path} : {file_problem(exc)}") from exc
    try:
        load(path)
    except SSL.Error as exc:
        raise TlsFileError(f"{option} {path} : pas {what}") from exc


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
