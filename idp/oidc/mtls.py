"""Mutual TLS for relying parties (RFC 8705): ``tls_client_auth`` and bound tokens.

**Client authentication** (§2.1, the PKI method): a client that registered a
``tls_client_auth_subject_dn`` in ``clients.yaml`` may authenticate at the token,
introspection, revocation and CIBA endpoints with its TLS client certificate instead of a
secret, sending only ``client_id``. The certificate is the one the TLS listener (or a
trusted proxy's header) hands over (:func:`idp.tls.client_certificate`); it must chain to
the test IGC-Santé at the mock clock (ORG certificates, CRLs included) and its subject
must equal the registered DN (compared as names, not strings).

**Certificate-bound access tokens** (§3): a token issued to a client so authenticated
carries ``cnf.x5t#S256``, the certificate's SHA-256 thumbprint (:mod:`idp.claims` writes
it), and introspection shows it. A bound token counts at userinfo only when presented
over a connection showing the same certificate (:func:`presented_with_its_certificate`).
"""

from __future__ import annotations

import base64
import hashlib
import logging

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask import has_request_context
from flask import request as flask_request

from idp import claims
from idp.tls import client_certificate

log = logging.getLogger(__name__)

TLS_CLIENT_AUTH = "tls_client_auth"
_CERTIFICATE = "mtls_certificate"  # set on Authlib's request once the client is authenticated


def thumbprint(certificate: x509.Certificate) -> str:
    """RFC 8705 §3.1: base64url (no padding) SHA-256 of the certificate's DER."""
    digest = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def presented_certificate() -> x509.Certificate | None:
    """The client certificate of the current HTTP request, if any."""
    if not has_request_context():
        return None
    return client_certificate(flask_request.environ)


def subject_matches(certificate: x509.Certificate, registered_dn: str) -> bool:
    try:
        expected = x509.Name.from_rfc4514_string(registered_dn)
    except ValueError:
        return False
    return _normalised(expected) == _normalised(certificate.subject)


def _normalised(name: x509.Name) -> list[list[tuple[str, str]]]:
    """RDNs as (oid, value) pairs: the string type (UTF8 vs Printable) does not matter."""
    return [sorted((a.oid.dotted_string, str(a.value)) for a in rdn) for rdn in name.rdns]


def authenticate_tls_client(query_client, request):
    """Authlib's client authentication function for ``tls_client_auth``."""
    client_id = request.payload.client_id if request.payload else None
    if not client_id:
        return None
    client = query_client(client_id)
    if client is None or not client.client.tls_client_auth_subject_dn:
        return None
    certificate = presented_certificate()
    if certificate is None:
        log.info("tls_client_auth for %s: no client certificate", client_id)
        return None
    if not subject_matches(certificate, client.client.tls_client_auth_subject_dn):
        log.info(
            "tls_client_auth for %s: subject %s is not the registered %s",
            client_id,
            certificate.subject.rfc4514_string(),
            client.client.tls_client_auth_subject_dn,
        )
        return None
    verdict = _chain(certificate)
    if verdict:
        log.info("tls_client_auth for %s: %s", client_id, verdict)
        return None
    setattr(request, _CERTIFICATE, certificate)
    return client


def _chain(certificate: x509.Certificate) -> str:
    """Why the certificate does not chain to the test IGC-Santé now, "" when it does."""
    from idp.context import services

    cards = services().cards
    if cards is None:
        return "no test PKI in the fixtures"
    result = cards.pki.verify_chain(certificate, cards.now(), cards.crls(), client_auth=True)
    return "" if result.ok else f"{result.status}: {result.reason}"


def bound_thumbprint(request) -> str:
    """The thumbprint to bind the tokens of this token request to ("" if none)."""
    if getattr(request, "auth_method", None) != TLS_CLIENT_AUTH:
        return ""
    certificate = getattr(request, _CERTIFICATE, None)
    return thumbprint(certificate) if certificate is not None else ""


def presented_with_its_certificate(token_claims: dict) -> bool:
    """A bound token counts only with the certificate it is bound to (§3); a plain bearer
    token always does."""
    bound = claims.bound_thumbprint(token_claims)
    if not bound:
        return True
    certificate = presented_certificate()
    return certificate is not None and thumbprint(certificate) == bound


def register(server) -> None:
    server.register_client_auth_method(TLS_CLIENT_AUTH, authenticate_tls_client)
