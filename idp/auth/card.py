"""Card authentication: the one certificate check every card login goes through.

Both paths use it: the "Carte CPS" tab of the login page (the simulated reader signs a
challenge, :func:`verify_challenge_signature` checks it) and TLS client authentication
(the TLS layer hands over whatever certificate the client showed). The check is
:func:`check_card_certificate`: chain to the mock's TEST authorities with the CRLs the
mock publishes, validity at the **mock clock**, the authentication profile (key usage,
EKU), a holder the directory knows, a card type that fits the holder, and a card neither
opposed nor locked. Each refusal has a short code (logs, tests) and a French message
(the person).

Card state (PIN tries, lock, opposition) lives in the mock's store, through
:class:`StoreCardStates`; :class:`Cards` is the service that owns the PKI, the states
and the published CRLs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from idp.card.backend import SoftCardBackend
from idp.card.pki import (
    HIERARCHY,
    OID_CARD_SERIAL,
    OID_CARD_TYPE,
    TAG_PRINTABLE_STRING,
    CardMaterial,
    CardType,
    ChainStatus,
    TestPki,
    der_content,
)
from idp.card.token import PIN_TRIES, PUK_TRIES, CardState, CardStateStore, SoftCard
from idp.directory.index import Directory
from idp.directory.model import Practitioner
from idp.mockdata import Card, MockData
from idp.store import Store

CARD_STATE_KIND = "card_state"
_ALL_CARDS = "all"  # owner of every card-state record, so that they can be listed

# Refusal codes, one per message a person should see.
UNKNOWN_AUTHORITY = "unknown_authority"
NOT_YET_VALID = "not_yet_valid"
EXPIRED = "expired"
OPPOSED = "opposed"
INVALID = "invalid_certificate"
NOT_AUTHENTICATION = "not_authentication_certificate"
NOT_A_CARD = "not_a_card"
UNKNOWN_HOLDER = "unknown_holder"
CARD_TYPE_MISMATCH = "card_type_mismatch"
LOCKED = "locked"
BAD_SIGNATURE = "bad_signature"

MESSAGES = {
    UNKNOWN_AUTHORITY: (
        "Carte non reconnue : son certificat n'a pas été émis par une autorité de "
        "certification de l'IGC-Santé."
    ),
    NOT_YET_VALID: "Carte pas encore valide : son certificat n'est pas encore en vigueur.",
    EXPIRED: "Carte expirée : son certificat n'est plus valide. Demandez une nouvelle carte.",
    OPPOSED: (
        "Carte en opposition : elle a été déclarée perdue, volée ou remplacée et ne peut "
        "plus être utilisée."
    ),
    INVALID: "Certificat de carte invalide : il ne respecte pas le profil de l'IGC-Santé.",
    NOT_AUTHENTICATION: (
        "Ce certificat n'est pas un certificat d'authentification de carte CPS "
        "(usage de clé incorrect)."
    ),
    NOT_A_CARD: "Ce certificat n'est pas celui d'une carte CPS, CPE ou CPA.",
    UNKNOWN_HOLDER: (
        "Le porteur de cette carte n'est pas connu de l'Annuaire Santé : la connexion "
        "à Pro Santé Connect est impossible."
    ),
    CARD_TYPE_MISMATCH: "Le type de cette carte ne correspond pas à l'identifiant de son porteur.",
    LOCKED: (
        "Carte bloquée : débloquez-la avec son code de déblocage (PUK) dans le lecteur de "
        "cartes (CPS-Gestion)."
    ),
    BAD_SIGNATURE: (
        "La carte n'a pas pu prouver qu'elle détient la clé de son certificat "
        "(signature incorrecte)."
    ),
}

_CHAIN_CODES = {
    ChainStatus.UNKNOWN_AUTHORITY: UNKNOWN_AUTHORITY,
    ChainStatus.NOT_YET_VALID: NOT_YET_VALID,
    ChainStatus.EXPIRED: EXPIRED,
    ChainStatus.REVOKED: OPPOSED,
    ChainStatus.INVALID: INVALID,
}


@dataclass(frozen=True, slots=True)
class CardCheck:
    """The verdict on a card certificate: the practitioner, or a code and a French message.

    ``detail`` is for logs (English, technical); ``message`` is for the person.
    """

    practitioner: Practitioner | None = None
    code: str = ""
    message: str = ""
    detail: str = ""
    serial: str = ""
    card_type: CardType | None = None

    @property
    def ok(self) -> bool:
        return self.practitioner is not None and not self.code


def _refuse(code: str, detail: str = "", **fields: Any) -> CardCheck:
    return CardCheck(code=code, message=MESSAGES[code], detail=detail, **fields)


def _as_datetime(now: float | datetime) -> datetime:
    return now if isinstance(now, datetime) else datetime.fromtimestamp(now, UTC)


def card_serial(certificate: x509.Certificate) -> str | None:
    """The card serial of a card certificate (without ``8025000001/``), None if not a card."""
    try:
        ext = certificate.extensions.get_extension_for_oid(OID_CARD_SERIAL).value
        value = der_content(ext.value, TAG_PRINTABLE_STRING).decode("ascii")  # type: ignore[attr-defined]
    except (x509.ExtensionNotFound, ValueError, AttributeError, UnicodeDecodeError):
        return None
    return value.rpartition("/")[2]


def card_type_of(certificate: x509.Certificate) -> CardType | None:
    try:
        ext = certificate.extensions.get_extension_for_oid(OID_CARD_TYPE).value
        raw = der_content(ext.value, 0x02)  # type: ignore[attr-defined]
        return CardType(int.from_bytes(raw, "big", signed=True))
    except (x509.ExtensionNotFound, ValueError, AttributeError):
        return None


def card_type_fits(card_type: CardType, id_nat: str) -> bool:
    """Staff cards (CPE, CPA) go with ``3<FINESS>/…`` or ``5<SIRET>/…``; others never do."""
    staff_id = id_nat[:1] in ("3", "5") and "/" in id_nat
    return staff_id if card_type.is_staff else not staff_id


def check_card_certificate(
    cert: x509.Certificate,
    *,
    pki: TestPki,
    directory: Directory,
    mockdata: MockData,
    card_states: CardStateStore,
    now: float | datetime,
    crls: Iterable[x509.CertificateRevocationList] | None = None,
) -> CardCheck:
    """Whether ``cert`` is a card authentication certificate the mock accepts at ``now``.

    ``now`` is the mock clock (epoch seconds or an aware datetime). ``crls`` defaults to
    the CRLs the authorities would publish at ``now`` from the oppositions known to
    ``card_states`` and ``mockdata``; pass the published ones when you have them.
    """
    when = _as_datetime(now)
    if crls is None:
        crls = issue_crls(pki, revocations(pki, mockdata, card_states), when)
    serial = card_serial(cert) or ""
    card_type = card_type_of(cert)
    facts = {"serial": serial, "card_type": card_type}
    chain = pki.verify_chain(cert, when, list(crls), client_auth=True)
    if not chain.ok:
        code = _CHAIN_CODES.get(chain.status, INVALID)
        if code == INVALID and not _authentication_usage(cert):
            code = NOT_AUTHENTICATION
        return _refuse(code, chain.reason, **facts)
    if not _authentication_usage(cert):
        return _refuse(NOT_AUTHENTICATION, "no digitalSignature key usage", **facts)
    if not serial or card_type is None:
        return _refuse(NOT_A_CARD, "no ANS card type or card serial extension", **facts)
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    id_nat = str(names[0].value) if names else ""
    practitioner = directory.get(id_nat) if id_nat else None
    if practitioner is None:
        return _refuse(UNKNOWN_HOLDER, f"CN {id_nat!r} is not in the directory", **facts)
    if not card_type_fits(card_type, id_nat):
        return _refuse(CARD_TYPE_MISMATCH, f"{card_type.name} card for {id_nat}", **facts)
    state = card_state(serial, card_states, mockdata)
    if state.opposed_at is not None and state.opposed_at <= when.timestamp():
        return _refuse(OPPOSED, "opposed in the card state", **facts)
    if state.locked:
        return _refuse(LOCKED, "PIN locked", **facts)
    return CardCheck(practitioner=practitioner, serial=serial, card_type=card_type)


def _authentication_usage(cert: x509.Certificate) -> bool:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return usage.digital_signature


def verify_challenge_signature(cert: x509.Certificate, challenge: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is the card's CKM_SHA256_RSA_PKCS signature of ``challenge``."""
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(signature, challenge, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


# --- Card states ------------------------------------------------------------------------


class StoreCardStates:
    """A :class:`~idp.card.token.CardStateStore` in the mock's store (never expires)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, serial: str) -> dict[str, Any] | None:
        record = self.store.get(CARD_STATE_KIND, serial)
        return dict(record.value) if record else None

    def put(self, serial: str, state: dict[str, Any]) -> None:
        self.store.put(CARD_STATE_KIND, serial, dict(state), owner=_ALL_CARDS)

    def delete(self, serial: str) -> None:
        self.store.delete(CARD_STATE_KIND, serial)

    def items(self) -> dict[str, dict[str, Any]]:
        return {r.key: r.value for r in self.store.owned_by(CARD_STATE_KIND, _ALL_CARDS)}


def declared_card(mockdata: MockData, serial: str) -> tuple[str, Card] | None:
    """``(idNat, card)`` as ``credentials.yaml`` or a scenario declares the card of this
    serial."""
    for identity in mockdata.all_identities():
        for card in identity.cards:
            if card.serial == serial:
                return identity.id_nat, card
    return None


def card_state(serial: str, states: CardStateStore, mockdata: MockData) -> CardState:
    """The card's state: the store's, else as declared, else a new card's (PIN 1234)."""
    stored = states.get(serial)
    if stored is not None:
        return CardState.from_dict(stored)
    declared = declared_card(mockdata, serial)
    return CardState.declared(declared[1] if declared else Card(type="CPS", serial=serial))


def revocations(
    pki: TestPki, mockdata: MockData, states: CardStateStore
) -> dict[str, list[tuple[int, datetime]]]:
    """Revoked certificate serials per authority: both certificates of every opposed card."""
    opposed: dict[str, float] = {}
    for identity in mockdata.all_identities():
        for card in identity.cards:
            if card.status == "opposed":
                opposed[card.serial] = CardState.declared(card).opposed_at or 0.0
    listing = states.items() if hasattr(states, "items") else {}
    for serial, data in listing.items():
        at = data.get("opposed_at")
        if at is None:
            opposed.pop(serial, None)
        else:
            opposed[serial] = at
    revoked: dict[str, list[tuple[int, datetime]]] = {name: [] for name, _ in HIERARCHY}
    for serial, at in opposed.items():
        try:
            material = pki.card(serial)
        except (KeyError, ValueError):
            continue
        when = datetime.fromtimestamp(at, UTC)
        for certificate in material.certificates:
            authority = _authority_name(certificate)
            if authority in revoked:
                revoked[authority].append((certificate.serial_number, when))
    return revoked


def _authority_name(certificate: x509.Certificate) -> str:
    names = certificate.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def issue_crls(
    pki: TestPki, revoked: dict[str, list[tuple[int, datetime]]], now: datetime
) -> list[x509.CertificateRevocationList]:
    return [pki.crl(name, revoked.get(name, []), now) for name, _ in HIERARCHY]


# --- The service --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReaderCard:
    """A card inserted in the simulated reader, as the login page lists it."""

    serial: str
    card_type: str
    id_nat: str
    holder: str
    status: str


class Cards:
    """The card service: the PKI (loaded once), card states in the store, published CRLs.

    CRLs are issued at start-up, again after each opposition or unblocking, and again
    when the mock clock has passed a CRL's next update (or gone back before its last).
    """

    def __init__(
        self, pki: TestPki, store: Store, directory: Directory, mockdata: MockData
    ) -> None:
        self.pki = pki
        self.store = store
        self.states = StoreCardStates(store)
        self.directory = directory
        self.mockdata = mockdata
        self._lock = threading.Lock()
        self._crls: dict[str, x509.CertificateRevocationList] = {}
        self._published_oppositions: tuple[tuple[str, float | None], ...] = ()
        self.publish_crls()

    @property
    def clock(self):
        return self.store.clock

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    # CRLs

    def publish_crls(self) -> None:
        now = self.now()
        oppositions = self._oppositions()
        crls = issue_crls(self.pki, revocations(self.pki, self.mockdata, self.states), now)
        with self._lock:
            self._crls = {name: crl for (name, _), crl in zip(HIERARCHY, crls, strict=True)}
            self._published_oppositions = oppositions

    def _oppositions(self) -> tuple[tuple[str, float | None], ...]:
        """The stored oppositions, to notice one made by another process (the CLI)."""
        stored = self.states.items().items()
        return tuple(sorted((k, v["opposed_at"]) for k, v in stored if v.get("opposed_at")))

    def crls(self) -> list[x509.CertificateRevocationList]:
        now = self.now()
        oppositions = self._oppositions()
        with self._lock:
            stale = (
                not self._crls
                or oppositions != self._published_oppositions
                or any(
                    crl.next_update_utc is None
                    or now >= crl.next_update_utc
                    or now < crl.last_update_utc
                    for crl in self._crls.values()
                )
            )
        if stale:
            self.publish_crls()
        with self._lock:
            return list(self._crls.values())

    def crl(self, authority: str) -> x509.CertificateRevocationList | None:
        self.crls()
        with self._lock:
            return self._crls.get(authority)

    # States

    def state(self, serial: str) -> CardState:
        return card_state(serial, self.states, self.mockdata)

    def _put(self, serial: str, state: CardState) -> None:
        self.states.put(serial, state.to_dict())

    def oppose(self, serial: str) -> CardState:
        """Declare the card opposed now (mock clock); the CRLs are reissued at once."""
        self.pki.card(serial)  # KeyError when unknown
        state = self.state(serial)
        if state.opposed_at is None:
            state.opposed_at = self.clock.now()
            self._put(serial, state)
        self.publish_crls()
        return state

    def unblock(self, serial: str) -> CardState:
        """Reset the PIN and PUK counters (what the PUK then C_SetPIN does, without codes)."""
        self.pki.card(serial)
        state = self.state(serial)
        state.pin_tries_left, state.puk_tries_left = PIN_TRIES, PUK_TRIES
        self._put(serial, state)
        return state

    def reset(self, serial: str) -> None:
        """Back to the card as ``credentials.yaml`` declares it."""
        self.states.delete(serial)
        self.publish_crls()

    # Reader and login

    def reader(self) -> list[ReaderCard]:
        """The virtual cards inserted in the simulated reader: those credentials.yaml or a
        scenario declares."""
        cards = []
        for identity in self.mockdata.all_identities():
            practitioner = self.directory.get(identity.id_nat)
            name = f"{practitioner.given_name} {practitioner.family_name}" if practitioner else ""
            for card in identity.cards:
                cards.append(ReaderCard(card.serial, card.type, identity.id_nat, name, card.status))
        return cards

    def material(self, serial: str) -> CardMaterial:
        return self.pki.card(serial)

    def backend(self, serial: str) -> SoftCardBackend:
        """The software card of this serial over the store-backed state (KeyError if none)."""
        material = self.pki.card(serial)
        initial = self.state(serial)
        return SoftCardBackend(SoftCard(material, self.states, replace(initial)))

    def check(self, certificate: x509.Certificate) -> CardCheck:
        """:func:`check_card_certificate` at the mock clock, with the published CRLs."""
        return check_card_certificate(
            certificate,
            pki=self.pki,
            directory=self.directory,
            mockdata=self.mockdata,
            card_states=self.states,
            now=self.now(),
            crls=self.crls(),
        )
