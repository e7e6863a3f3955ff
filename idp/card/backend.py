"""The one question card login asks a card, and the two kinds of card that answer it.

"With this PIN, sign this challenge with the authentication key, and give me the
authentication certificate." The login code asks it through :class:`CardBackend` and does
not care whether the answer comes from the in-process software card or from a PKCS#11
module (SoftHSM2 provisioned by :mod:`idp.card.softhsm`, or CryptoLib CPS with a real
test card). Both take the path CryptoLib's own users take: find the certificate by
its label, then the private key by the certificate's CKA_ID, then ``CKM_SHA256_RSA_PKCS``.

Failures come out as :class:`~idp.card.token.Pkcs11Error` in both cases, named by the
PKCS#11 return value, so that ``CKR_PIN_INCORRECT`` means the same thing whoever said it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from cryptography import x509

from idp.card.token import (
    AUTH_CERT_LABEL,
    CKR,
    PIN_TRIES,
    Mechanism,
    ObjectClass,
    Pkcs11Error,
    SoftCard,
    UserType,
    tries_left_from_flags,
)

if TYPE_CHECKING:
    import pkcs11


@dataclass(frozen=True, slots=True)
class CardAuthentication:
    """A card's answer: its authentication certificate and its signature of the challenge."""

    certificate: x509.Certificate
    signature: bytes  # PKCS#1 v1.5 with SHA-256 (CKM_SHA256_RSA_PKCS)


class CardBackend(Protocol):
    def authenticate(self, pin: str, challenge: bytes) -> CardAuthentication:
        """Log in with ``pin``, sign ``challenge`` with the authentication key, log out.

        Raises :class:`~idp.card.token.Pkcs11Error` (``CKR_PIN_INCORRECT`` with
        ``tries_left``, ``CKR_PIN_LOCKED``, ...).
        """
        ...


class SoftCardBackend:
    """The software card behind :class:`CardBackend`."""

    def __init__(self, card: SoftCard) -> None:
        self.card = card

    def authenticate(self, pin: str, challenge: bytes) -> CardAuthentication:
        card = self.card
        session = card.open_session()
        try:
            card.login(session, UserType.USER, pin)
            [handle] = card.find_objects(
                session, object_class=ObjectClass.CERTIFICATE, label=AUTH_CERT_LABEL
            )
            certificate = card.get_object(session, handle)
            [key] = card.find_objects(
                session, object_class=ObjectClass.PRIVATE_KEY, id=certificate.id
            )
            signature = card.sign(session, key, Mechanism.SHA256_RSA_PKCS, challenge)
        finally:
            card.close_session(session)  # the last session closed logs out
        return CardAuthentication(x509.load_der_x509_certificate(certificate.value), signature)

    def unblock(self, puk: str, new_pin: str) -> None:
        """What CPS-Gestion does with the PUK: log in as SO, then C_SetPIN, which sets the
        new PIN and unblocks it. A wrong PUK counts (``CKR_PIN_INCORRECT``, then
        ``CKR_PIN_LOCKED``); a badly formed one or PIN is refused free of charge."""
        card = self.card
        session = card.open_session(read_write=True)
        try:
            card.login(session, UserType.SO, puk)
            card.set_pin(session, "", new_pin)
        finally:
            card.close_session(session)


class Pkcs11Backend:
    """Any PKCS#11 module behind :class:`CardBackend`, through python-pkcs11.

    ``module`` is the library's path; ``token_label`` picks the token (the card);
    ``pin_tries`` is how many tries the token's PIN has, to read "tries left" from its
    count flags (None for a token whose flags do not count). The library is loaded and
    initialised once per process by python-pkcs11, with whatever environment it sees
    then (SoftHSM2 reads ``SOFTHSM2_CONF`` at that moment).
    """

    def __init__(self, module: str, token_label: str, pin_tries: int | None = PIN_TRIES) -> None:
        self.module = module
        self.token_label = token_label
        self.pin_tries = pin_tries

    def authenticate(self, pin: str, challenge: bytes) -> CardAuthentication:
        try:
            with _pkcs11_errors():
                return self._authenticate(pin, challenge)
        except Pkcs11Error as error:
            if error.name == CKR.PIN_INCORRECT:
                with _pkcs11_errors():  # the token's flags now tell the tries left, if it counts
                    error.tries_left = tries_left_from_flags(self._token().flags, self.pin_tries)
            raise

    def _authenticate(self, pin: str, challenge: bytes) -> CardAuthentication:
        import pkcs11
        from pkcs11 import Attribute

        with self._token().open(user_pin=pin) as session:
            certificate = session.get_key(
                object_class=pkcs11.ObjectClass.CERTIFICATE, label=AUTH_CERT_LABEL
            )
            key = session.get_key(
                object_class=pkcs11.ObjectClass.PRIVATE_KEY, id=certificate[Attribute.ID]
            )
            signature = key.sign(challenge, mechanism=pkcs11.Mechanism.SHA256_RSA_PKCS)
            der = certificate[Attribute.VALUE]
        return CardAuthentication(x509.load_der_x509_certificate(der), signature)

    def _token(self) -> pkcs11.Token:
        import pkcs11

        return pkcs11.lib(self.module).get_token(token_label=self.token_label)


@contextmanager
def _pkcs11_errors() -> Iterator[None]:
    """python-pkcs11's exceptions as :class:`Pkcs11Error`, with the CKR name each stands for.

    python-pkcs11 names its exceptions after the return values (``PinIncorrect`` is
    ``CKR_PIN_INCORRECT``); its own search failures become CKR_TOKEN_NOT_PRESENT (no such
    token) and CKR_TOKEN_NOT_RECOGNIZED (not a CPS: no such certificate or key).
    """
    import pkcs11.exceptions as errors

    try:
        yield
    except errors.NoSuchToken as exc:
        raise Pkcs11Error("CKR_TOKEN_NOT_PRESENT", str(exc)) from exc
    except (errors.NoSuchKey, errors.MultipleObjectsReturned) as exc:
        raise Pkcs11Error(CKR.TOKEN_NOT_RECOGNIZED, str(exc)) from exc
    except errors.PinLocked as exc:
        raise Pkcs11Error(CKR.PIN_LOCKED, str(exc), tries_left=0) from exc
    except errors.PKCS11Error as exc:
        name = "CKR" + re.sub(r"([A-Z])", r"_\1", type(exc).__name__).upper()
        raise Pkcs11Error(name, str(exc)) from exc
