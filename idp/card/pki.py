"""The TEST IGC-Santé PKI: authorities, card and organisation certificates, CRLs, checks.

Real CPS cards chain to ANS's IGC-Santé; the mock plays ANS's TEST hierarchy with the
same names (``TEST AC RACINE IGC-SANTE FORT``, ``TEST AC IGC-SANTE FORT PERSONNES``, ...)
and the same certificate profiles, so that a relying party's parsing code (idNat in the
CN of a multi-valued RDN, ``title``, the ``1.2.250.1.71.1.2.*`` extensions) meets what it
will meet in the sandbox. Only the keys differ: ours are public, in ``fixtures/pki/``.

Keys are RSA 2048 everywhere, the real roots' 4096 included: generating the whole
fixture set then takes seconds, and nothing the mock checks depends on the size.
Everything is generated once (:func:`init_fixtures`, behind ``psc-mock pki init``) and
committed; start-up only reads PEM files, card material on first use. CRLs are never
committed: they depend on oppositions and on the mock clock, so :meth:`TestPki.crl`
issues them on demand.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from enum import IntEnum, StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (
    ClientVerifier,
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from idp.directory.facets import departement
from idp.directory.index import Directory
from idp.directory.model import Activite, Practitioner
from idp.directory.nomenclatures import PROFESSIONS, label
from idp.mockdata import load_clients, load_identities

KEY_SIZE = 2048
# Every fixture certificate is valid from here (cards that expired before it excepted)...
PKI_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
# ...and the authorities until here, so that a clone keeps working for decades.
CA_NOT_AFTER = datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC)
CARD_LIFETIME = timedelta(days=3 * 365)  # real cards: 3 years
CRL_LIFETIME = timedelta(days=7)

# ANS private extensions (TRE_G01, TRE_G02, card serial, TRE_G15), all non-critical.
OID_PRODUCT_CATEGORY = x509.ObjectIdentifier("1.2.250.1.71.1.2.5")
OID_CARD_TYPE = x509.ObjectIdentifier("1.2.250.1.71.1.2.2")
OID_CARD_SERIAL = x509.ObjectIdentifier("1.2.250.1.71.1.2.3")
OID_PROFESSION = x509.ObjectIdentifier("1.2.250.1.71.1.2.7")
OID_SMARTCARD_LOGON = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.2")
OID_UPN = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")
# The TEST certification policy seen on a test card's signature certificate.
OID_TEST_POLICY = x509.ObjectIdentifier("1.2.250.1.213.1.7.2.1.1.1.1")
CATEGORY_TEST_CARD = 0x80  # TRE_G01 "CPx de TEST"
CATEGORY_TEST_SOFTWARE = 0x83  # TRE_G01 "Certificat logiciel de TEST"
CARD_SERIAL_PREFIX = "8025000001"  # ASIP's issuer prefix, before the "/" of the card serial
UPN_DOMAIN = "carte-cps.fr"
STAFF_TITLE = "Personnel santé ou social"  # the title of the one published CPE certificate

ROOT_FORT = "TEST AC RACINE IGC-SANTE FORT"
ROOT_STANDARD = "TEST AC RACINE IGC-SANTE STANDARD"
ROOT_ELEMENTAIRE = "TEST AC RACINE IGC-SANTE ELEMENTAIRE"
FORT_PERSONNES = "TEST AC IGC-SANTE FORT PERSONNES"
FORT_ORGANISATIONS = "TEST AC IGC-SANTE FORT ORGANISATIONS"
STANDARD_PERSONNES = "TEST AC IGC-SANTE STANDARD PERSONNES"
STANDARD_ORGANISATIONS = "TEST AC IGC-SANTE STANDARD ORGANISATIONS"
ELEMENTAIRE_PERSONNES = "TEST AC IGC-SANTE ELEMENTAIRE PERSONNES"
ELEMENTAIRE_ORGANISATIONS = "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"
# (authority, issuer); roots first so that every issuer exists when its children are made.
HIERARCHY: tuple[tuple[str, str | None], ...] = (
    (ROOT_FORT, None),
    (ROOT_STANDARD, None),
    (ROOT_ELEMENTAIRE, None),
    (FORT_PERSONNES, ROOT_FORT),
    (FORT_ORGANISATIONS, ROOT_FORT),
    (STANDARD_PERSONNES, ROOT_STANDARD),
    (STANDARD_ORGANISATIONS, ROOT_STANDARD),
    (ELEMENTAIRE_PERSONNES, ROOT_ELEMENTAIRE),
    (ELEMENTAIRE_ORGANISATIONS, ROOT_ELEMENTAIRE),
)
TLS_SERVER_NAME = "localhost"
# "psc-mock" is the host name relying parties' containers use in docker compose.
TLS_SERVER_DNS = ("localhost", "psc-mock")
TLS_SERVER_IPS = ("127.0.0.1", "::1")


# --- DER: the ANS extensions are bare ASN.1 values cryptography cannot build -----------

TAG_INTEGER = 0x02
TAG_OCTET_STRING = 0x04
TAG_UTF8_STRING = 0x0C
TAG_PRINTABLE_STRING = 0x13
TAG_SEQUENCE = 0x30


def der_tlv(tag: int, content: bytes) -> bytes:
    """One DER tag-length-value with a definite, minimal length."""
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def der_integer(value: int) -> bytes:
    """A non-negative INTEGER, with the leading zero byte DER needs when the top bit is set."""
    return der_tlv(TAG_INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def der_content(encoded: bytes, tag: int) -> bytes:
    """The content of one DER value of the expected tag (the inverse of :func:`der_tlv`)."""
    if len(encoded) < 2 or encoded[0] != tag:
        raise ValueError(f"expected DER tag 0x{tag:02x}, got {encoded[:1].hex() or 'nothing'}")
    size, start = encoded[1], 2
    if size & 0x80:
        start = 2 + (size & 0x7F)
        size = int.from_bytes(encoded[2:start], "big")
    if len(encoded) != start + size:
        raise ValueError("DER length does not match the value")
    return encoded[start:]


# --- Holders and material ---------------------------------------------------------------


class CardType(IntEnum):
    """TRE_G02-TypeProduit: the value of extension 1.2.250.1.71.1.2.2."""

    CPS = 0
    CPF = 1
    CPE = 2
    CPA = 3

    @property
    def is_staff(self) -> bool:
        """Staff cards of a structure, held under an idNat ``3<FINESS>/…`` or ``5<SIRET>/…``."""
        return self in (CardType.CPE, CardType.CPA)

    @property
    def authority(self) -> str:
        """Who issues it: as observed, FORT for professionals' cards, STANDARD for staff."""
        return STANDARD_PERSONNES if self.is_staff else FORT_PERSONNES


@dataclass(frozen=True, slots=True)
class CardHolder:
    """Who a card names, as its certificates' subject says it.

    ``profession_label`` becomes ``title``; the organisation fields become ``O``, ``OU``
    (the structure's idNat) and ``ST`` on staff cards. Empty fields are left out.
    """

    id_nat: str
    given_name: str
    family_name: str
    profession_code: str = ""
    profession_label: str = ""
    organisation_name: str = ""
    organisation_id: str = ""
    region: str = ""

    @property
    def upn(self) -> str:
        return f"{self.id_nat}@{UPN_DOMAIN}"

    def subject(self) -> x509.Name:
        """``C=FR, [ST, O, OU,] title=…, GN=…+CN=<idNat>+SN=…`` as on real cards."""
        single = (
            (NameOID.COUNTRY_NAME, "FR"),
            (NameOID.STATE_OR_PROVINCE_NAME, self.region),
            (NameOID.ORGANIZATION_NAME, self.organisation_name),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, self.organisation_id),
            (NameOID.TITLE, self.profession_label),
        )
        rdns = [
            x509.RelativeDistinguishedName([x509.NameAttribute(oid, value)])
            for oid, value in single
            if value
        ]
        person = x509.RelativeDistinguishedName(
            [
                x509.NameAttribute(NameOID.GIVEN_NAME, self.given_name),
                x509.NameAttribute(NameOID.COMMON_NAME, self.id_nat),
                x509.NameAttribute(NameOID.SURNAME, self.family_name),
            ]
        )
        return x509.Name([*rdns, person])

    @classmethod
    def from_certificate(cls, certificate: x509.Certificate) -> CardHolder:
        """Read the holder back from a card certificate: the certificate is the truth."""
        subject = certificate.subject

        def first(oid: x509.ObjectIdentifier) -> str:
            values = subject.get_attributes_for_oid(oid)
            return str(values[0].value) if values else ""

        profession = _private_extension(certificate, OID_PROFESSION)
        return cls(
            id_nat=first(NameOID.COMMON_NAME),
            given_name=first(NameOID.GIVEN_NAME),
            family_name=first(NameOID.SURNAME),
            profession_code="" if profession is None else str(_integer(profession)),
            profession_label=first(NameOID.TITLE),
            organisation_name=first(NameOID.ORGANIZATION_NAME),
            organisation_id=first(NameOID.ORGANIZATIONAL_UNIT_NAME),
            region=first(NameOID.STATE_OR_PROVINCE_NAME),
        )


@dataclass(frozen=True, slots=True)
class Organisation:
    """The subject of an ORG certificate: ``C=FR, O=<name>, [OU=<structure idNat>,] CN=…``."""

    common_name: str
    name: str
    structure_id: str = ""

    def subject(self) -> x509.Name:
        attributes = [
            (NameOID.COUNTRY_NAME, "FR"),
            (NameOID.ORGANIZATION_NAME, self.name),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, self.structure_id),
            (NameOID.COMMON_NAME, self.common_name),
        ]
        return x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes if value])


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A private key and its certificate, stored as ``<base>.key.pem`` + ``<base>.cert.pem``."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    def save(self, base: Path) -> None:
        base.parent.mkdir(parents=True, exist_ok=True)
        _key_path(base).write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        _cert_path(base).write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))

    @classmethod
    def load(cls, base: Path) -> KeyPair:
        # Our own committed keys: skipping OpenSSL's slow RSA consistency check is safe.
        key = serialization.load_pem_private_key(
            _key_path(base).read_bytes(), password=None, unsafe_skip_rsa_key_validation=True
        )
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{_key_path(base)}: not an RSA key")
        certificate = x509.load_pem_x509_certificate(_cert_path(base).read_bytes())
        return cls(key, certificate)


@dataclass(frozen=True, slots=True)
class CardMaterial:
    """What a card holds: its authentication and signature key pairs.

    Type, serial and holder are read from the authentication certificate, so a card
    loaded from disk needs no other record.
    """

    authentication: KeyPair
    signature: KeyPair

    @property
    def serial(self) -> str:
        """The card serial (``2800100011``), without ASIP's ``8025000001/`` prefix."""
        serial = _required(self.authentication.certificate, OID_CARD_SERIAL)
        value = der_content(serial, TAG_PRINTABLE_STRING)
        return value.decode("ascii").removeprefix(f"{CARD_SERIAL_PREFIX}/")

    @property
    def card_type(self) -> CardType:
        return CardType(_integer(_required(self.authentication.certificate, OID_CARD_TYPE)))

    @property
    def holder(self) -> CardHolder:
        return CardHolder.from_certificate(self.authentication.certificate)

    @property
    def certificates(self) -> tuple[x509.Certificate, x509.Certificate]:
        """Both certificates: an opposition revokes the two."""
        return self.authentication.certificate, self.signature.certificate

    @property
    def not_after(self) -> datetime:
        return self.authentication.certificate.not_valid_after_utc


# --- Verification results ------------------------------------------------------------


class ChainStatus(StrEnum):
    """Why a certificate is accepted or not, one value per message a person should see."""

    VALID = "valid"
    UNKNOWN_AUTHORITY = "unknown_authority"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    REVOKED = "revoked"
    INVALID = "invalid"  # chains, but breaks the profile (key usage, EKU, constraints...)


@dataclass(frozen=True, slots=True)
class ChainResult:
    status: ChainStatus
    reason: str
    chain: tuple[x509.Certificate, ...] = ()  # leaf first, root last, when known
    revoked_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.status is ChainStatus.VALID


# --- The PKI ------------------------------------------------------------------------------


class TestPki:
    """The TEST authorities of one ``pki`` directory, and what they issue.

    Layout: ``ca/<slug>.{key,cert}.pem`` per authority and ``ca/bundle.pem`` (every
    authority certificate, for TLS clients); ``cards/<serial>/{auth,sign}.{key,cert}.pem``;
    ``organisations/<name>.{key,cert}.pem``; ``server/localhost.{key,cert,fullchain}.pem``.
    """

    __test__ = False  # a library class, not a pytest test class

    def __init__(self, directory: Path, authorities: dict[str, KeyPair]) -> None:
        self.directory = directory
        self.authorities = authorities
        self._cards: dict[str, CardMaterial] = {}
        self._lock = threading.Lock()

    @classmethod
    def load(cls, directory: str | Path) -> TestPki:
        """Read the authorities (card material is read on first use)."""
        root = Path(directory)
        return cls(root, {name: KeyPair.load(_ca_base(root, name)) for name, _ in HIERARCHY})

    @classmethod
    def create(cls, directory: str | Path) -> TestPki:
        """New authorities in ``directory``, which is emptied first: old material is void."""
        root = Path(directory)
        for part in ("ca", "cards", "organisations", "server"):
            shutil.rmtree(root / part, ignore_errors=True)
        authorities: dict[str, KeyPair] = {}
        for name, issuer in HIERARCHY:
            authorities[name] = _issue_authority(name, authorities[issuer] if issuer else None)
            authorities[name].save(_ca_base(root, name))
        pki = cls(root, authorities)
        (root / "ca" / "bundle.pem").write_bytes(pki.bundle_pem())
        return pki

    def bundle_pem(self) -> bytes:
        """Every authority certificate, roots first: a trust file for TLS clients."""
        return b"".join(
            pair.certificate.public_bytes(serialization.Encoding.PEM)
            for pair in self.authorities.values()
        )

    @property
    def roots(self) -> list[x509.Certificate]:
        return [self.authorities[name].certificate for name, issuer in HIERARCHY if not issuer]

    @property
    def intermediates(self) -> list[x509.Certificate]:
        return [self.authorities[name].certificate for name, issuer in HIERARCHY if issuer]

    # Cards

    def issue_card(
        self,
        holder: CardHolder,
        card_type: CardType,
        serial: str,
        not_before: datetime,
        not_after: datetime,
    ) -> CardMaterial:
        """A new card's two key pairs, issued by the authority of its type."""
        authority = self.authorities[card_type.authority]
        ans = _ans_extensions(card_type, serial, holder.profession_code)
        authentication = _issue(
            authority,
            holder.subject(),
            not_before,
            not_after,
            [
                (x509.KeyUsage(**_usage(digital_signature=True)), True),
                (
                    x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH, OID_SMARTCARD_LOGON]),
                    False,
                ),
                (
                    x509.SubjectAlternativeName(
                        [x509.OtherName(OID_UPN, der_tlv(TAG_UTF8_STRING, holder.upn.encode()))]
                    ),
                    False,
                ),
                *ans,
            ],
        )
        signature = _issue(
            authority,
            holder.subject(),
            not_before,
            not_after,
            [
                (x509.KeyUsage(**_usage(content_commitment=True)), True),
                (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False),
                (x509.PrivateKeyUsagePeriod(not_before, not_after), False),
                (x509.CertificatePolicies([x509.PolicyInformation(OID_TEST_POLICY, None)]), False),
                *ans,
            ],
        )
        return CardMaterial(authentication, signature)

    def save_card(self, card: CardMaterial) -> None:
        """Write a card's material (replacing any card of the same serial)."""
        folder = self.directory / "cards" / _safe(card.serial)
        card.authentication.save(folder / "auth")
        card.signature.save(folder / "sign")
        with self._lock:
            self._cards[card.serial] = card

    def card(self, serial: str) -> CardMaterial:
        """A card's material; KeyError if this PKI never issued it."""
        with self._lock:
            if serial not in self._cards:
                folder = self.directory / "cards" / _safe(serial)
                if not folder.is_dir():
                    raise KeyError(f"no card {serial!r} in {self.directory / 'cards'}")
                self._cards[serial] = CardMaterial(
                    KeyPair.load(folder / "auth"), KeyPair.load(folder / "sign")
                )
            return self._cards[serial]

    def card_serials(self) -> list[str]:
        return sorted(path.name for path in (self.directory / "cards").glob("*") if path.is_dir())

    # Organisations and the TLS server

    def issue_organisation(self, organisation: Organisation) -> KeyPair:
        """An ORG AUTH_CLI certificate (a relying party's mTLS identity), STANDARD level."""
        return _issue(
            self.authorities[STANDARD_ORGANISATIONS],
            organisation.subject(),
            PKI_EPOCH,
            CA_NOT_AFTER,
            [
                (x509.KeyUsage(**_usage(digital_signature=True, key_encipherment=True)), True),
                (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False),
                (_category(CATEGORY_TEST_SOFTWARE), False),
            ],
        )

    def issue_tls_server(self) -> KeyPair:
        """The mock's HTTPS certificate for localhost (and ``psc-mock`` in compose)."""
        names: list[x509.GeneralName] = [x509.DNSName(name) for name in TLS_SERVER_DNS]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in TLS_SERVER_IPS]
        return _issue(
            self.authorities[STANDARD_ORGANISATIONS],
            Organisation(TLS_SERVER_NAME, "PSC-MOCK").subject(),
            PKI_EPOCH,
            CA_NOT_AFTER,
            [
                (x509.KeyUsage(**_usage(digital_signature=True, key_encipherment=True)), True),
                (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
                (x509.SubjectAlternativeName(names), False),
            ],
        )

    def save_tls_server(self, pair: KeyPair) -> None:
        """Write the server pair, plus ``fullchain`` (leaf + intermediate) for TLS servers."""
        base = self.directory / "server" / TLS_SERVER_NAME
        pair.save(base)
        issuer = self.authorities[STANDARD_ORGANISATIONS].certificate
        base.with_name(f"{TLS_SERVER_NAME}.fullchain.pem").write_bytes(
            b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (pair.certificate, issuer))
        )

    # Revocation and verification

    def crl(
        self,
        authority: str,
        revoked: Iterable[tuple[int, datetime]],
        now: datetime,
        lifetime: timedelta = CRL_LIFETIME,
    ) -> x509.CertificateRevocationList:
        """The CRL ``authority`` publishes at ``now``: certificate serials revoked by then.

        A revocation dated after ``now`` is left out, so a clock moved back shows the
        list as it was. The CRL number is ``now`` in seconds: it grows with the clock.
        """
        issuer = self.authorities[authority]
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuer.certificate.subject)
            .last_update(now)
            .next_update(now + lifetime)
            .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
            .add_extension(_authority_key_id(issuer), critical=False)
        )
        for serial, at in sorted(revoked):
            if at <= now:
                builder = builder.add_revoked_certificate(
                    x509.RevokedCertificateBuilder()
                    .serial_number(serial)
                    .revocation_date(at)
                    .build()
                )
        return builder.sign(issuer.key, hashes.SHA256())

    def verify_chain(
        self,
        certificate: x509.Certificate,
        now: datetime,
        crls: Sequence[x509.CertificateRevocationList] = (),
        *,
        client_auth: bool = True,
    ) -> ChainResult:
        """Whether ``certificate`` is acceptable at ``now``, and if not, why.

        cryptography's path validation (RFC 5280 + CA/B-style profile checks) is the
        judge, but it reports every failure as one opaque error; explicit checks run
        first only to name the common reasons (foreign authority, dates, revocation),
        so that each gets its own message. Revocation is checked against ``crls`` only:
        an issuer with no CRL there is not checked. ``client_auth=False`` accepts a
        certificate without the clientAuth EKU (a card's signature certificate).
        """
        issuer = self._issuer_of(certificate)
        if issuer is None:
            return ChainResult(
                ChainStatus.UNKNOWN_AUTHORITY,
                f"issuer {certificate.issuer.rfc4514_string()} is not a TEST IGC-Santé "
                "authority of this mock (or did not sign this certificate)",
            )
        if now < certificate.not_valid_before_utc:
            return ChainResult(
                ChainStatus.NOT_YET_VALID,
                f"valid from {certificate.not_valid_before_utc.isoformat()}",
            )
        if now > certificate.not_valid_after_utc:
            return ChainResult(
                ChainStatus.EXPIRED, f"expired on {certificate.not_valid_after_utc.isoformat()}"
            )
        revoked_at = _revoked_at(certificate, issuer, crls, now)
        if revoked_at is not None:
            return ChainResult(
                ChainStatus.REVOKED,
                f"revoked on {revoked_at.isoformat()} ({issuer.subject.rfc4514_string()})",
                revoked_at=revoked_at,
            )
        try:
            chain = self._verifier(now, client_auth).verify(certificate, self.intermediates)
        except VerificationError as exc:
            return ChainResult(ChainStatus.INVALID, str(exc))
        return ChainResult(ChainStatus.VALID, "ok", tuple(chain.chain))

    def _issuer_of(self, certificate: x509.Certificate) -> x509.Certificate | None:
        for pair in self.authorities.values():
            candidate = pair.certificate
            if candidate.subject == certificate.issuer:
                try:
                    certificate.verify_directly_issued_by(candidate)
                except (ValueError, TypeError, InvalidSignature):
                    continue
                return candidate
        return None

    def _verifier(self, now: datetime, client_auth: bool) -> ClientVerifier:
        """cryptography's client verifier, with two departures from its web-PKI profile.

        A SAN is optional (ORG certificates have none; cards carry only a UPN), and
        without ``client_auth`` so is the clientAuth EKU (a card's signature certificate).
        Everything else (CA constraints, key usage, AKI, algorithms) stays the default.
        """
        ee_policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(
            x509.SubjectAlternativeName, Criticality.AGNOSTIC, None
        )
        if not client_auth:
            ee_policy = ee_policy.may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, None)
        return (
            PolicyBuilder()
            .store(Store(self.roots))
            .time(now)
            .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee_policy)
            .build_client_verifier()
        )


def _revoked_at(
    certificate: x509.Certificate,
    issuer: x509.Certificate,
    crls: Sequence[x509.CertificateRevocationList],
    now: datetime,
) -> datetime | None:
    """When the issuer's CRL says ``certificate`` was revoked (by ``now``), if it does."""
    for crl in crls:
        if crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):
            continue
        entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
        if entry is not None and entry.revocation_date_utc <= now:
            return entry.revocation_date_utc
    return None


# --- Issuing ----------------------------------------------------------------------------


def _issue_authority(name: str, issuer: KeyPair | None) -> KeyPair:
    """A root (self-signed, no path limit) or an intermediate (pathlen 0)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ASIP-SANTE"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "0002 187512751"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "IGC-SANTE TEST"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(PKI_EPOCH)
        .not_valid_after(CA_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0 if issuer else None), True)
        .add_extension(x509.KeyUsage(**_usage(key_cert_sign=True, crl_sign=True)), True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if issuer:
        builder = builder.add_extension(_authority_key_id(issuer), False)
    return KeyPair(key, builder.sign(issuer.key if issuer else key, hashes.SHA256()))


def _issue(
    issuer: KeyPair,
    subject: x509.Name,
    not_before: datetime,
    not_after: datetime,
    extensions: list[tuple[x509.ExtensionType, bool]],
) -> KeyPair:
    """An end-entity key pair: a fresh key, the given extensions, SKI and AKI."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(_authority_key_id(issuer), False)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical)
    return KeyPair(key, builder.sign(issuer.key, hashes.SHA256()))


def _authority_key_id(issuer: KeyPair) -> x509.AuthorityKeyIdentifier:
    ski = issuer.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value)


def _usage(**granted: bool) -> dict[str, bool]:
    """KeyUsage's nine flags, all false except those named."""
    names = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    return {name: granted.get(name, False) for name in names}


def _category(category: int) -> x509.UnrecognizedExtension:
    return x509.UnrecognizedExtension(
        OID_PRODUCT_CATEGORY, der_tlv(TAG_OCTET_STRING, bytes([category]))
    )


def _ans_extensions(
    card_type: CardType, serial: str, profession_code: str
) -> list[tuple[x509.ExtensionType, bool]]:
    """The ANS private extensions of a card certificate, non-critical as on real cards."""
    card_serial = f"{CARD_SERIAL_PREFIX}/{serial}".encode("ascii")
    extensions: list[x509.ExtensionType] = [
        _category(CATEGORY_TEST_CARD),
        x509.UnrecognizedExtension(OID_CARD_TYPE, der_integer(card_type)),
        x509.UnrecognizedExtension(OID_CARD_SERIAL, der_tlv(TAG_PRINTABLE_STRING, card_serial)),
    ]
    if profession_code.isdigit():
        extensions.append(
            x509.UnrecognizedExtension(OID_PROFESSION, der_integer(int(profession_code)))
        )
    return [(extension, False) for extension in extensions]


def _private_extension(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> bytes | None:
    """The DER value of an ANS extension, None when absent."""
    try:
        extension = certificate.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None
    assert isinstance(extension, x509.UnrecognizedExtension)
    return extension.value


def _required(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> bytes:
    value = _private_extension(certificate, oid)
    if value is None:
        raise ValueError(f"not a card certificate: no extension {oid.dotted_string}")
    return value


def _integer(encoded: bytes) -> int:
    return int.from_bytes(der_content(encoded, TAG_INTEGER), "big", signed=True)


def _ca_base(root: Path, name: str) -> Path:
    return root / "ca" / name.lower().replace(" ", "-")


def _key_path(base: Path) -> Path:
    return base.with_name(f"{base.name}.key.pem")


def _cert_path(base: Path) -> Path:
    return base.with_name(f"{base.name}.cert.pem")


def _safe(name: str) -> str:
    """A file name for a card serial or client id (letters, digits, ``.-_`` only)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ValueError(f"{name!r} cannot name a file")
    return name


# --- Fixtures ---------------------------------------------------------------------------


def card_validity(not_after: date) -> tuple[datetime, datetime]:
    """A fixture card's validity: from the PKI epoch to the end of ``not_after`` (UTC).

    A card that expired before the epoch gets the 3 years real cards have.
    """
    end = datetime(not_after.year, not_after.month, not_after.day, 23, 59, 59, tzinfo=UTC)
    return min(PKI_EPOCH, end - CARD_LIFETIME), end


def holder_for(practitioner: Practitioner, card_type: CardType) -> CardHolder:
    """The holder a card of this type would name for this person of the directory.

    Names are upper-cased as printed on cards. A professional's card carries their first
    profession. A staff card names the structure of its idNat (``3<FINESS>/…`` gives OU
    ``1<FINESS>``, ``5<SIRET>/…`` gives OU ``3<SIRET>``, as in ANS's samples), the
    activity there as ``O``, and ``ST`` = "<city> (<département>)" as on the CPE sample;
    its title is the CPE sample's, and the CPA sample has none.
    """
    holder = CardHolder(
        id_nat=practitioner.id_nat,
        given_name=practitioner.given_name.upper(),
        family_name=practitioner.family_name.upper(),
    )
    if not card_type.is_staff:
        code = next((e.code_profession for e in practitioner.exercices if e.code_profession), "")
        return replace(holder, profession_code=code, profession_label=label(PROFESSIONS, code))
    structure_kind = _STAFF_STRUCTURE.get(practitioner.id_nat[:1])
    if structure_kind is None or "/" not in practitioner.id_nat:
        raise ValueError(
            f"{practitioner.id_nat}: a {card_type.name} card needs a staff idNat "
            "(3<FINESS>/… or 5<SIRET>/…)"
        )
    number = practitioner.id_nat[1:].partition("/")[0]
    sites = practitioner.activites
    site = next((a for a in sites if number in (a.numero_finess_site, a.numero_siret_site)), None)
    site = site or (sites[0] if sites else None)
    return replace(
        holder,
        profession_label=STAFF_TITLE if card_type is CardType.CPE else "",
        organisation_id=structure_kind + number,
        organisation_name=site.raison_sociale_site if site else "",
        region=_region(site) if site else "",
    )


# idNat_PS type of a staff card -> idNat_Struct type of its structure (TRE_G08 -> TRE_G07).
_STAFF_STRUCTURE = {"3": "1", "5": "3"}


def _region(site: Activite) -> str:
    """``Rennes (35)`` from ``35033 RENNES CEDEX 9``: the postal line's city, its département."""
    city = re.sub(r"^\d{5}\s*|\s+CEDEX.*$", "", site.bureau_cedex).strip().title()
    code = departement(site)
    return f"{city} ({code})" if city and code else city


@dataclass(frozen=True, slots=True)
class DeclaredCard:
    """A card as the fixtures declare it: ``credentials.yaml`` plus the directory's holder."""

    serial: str
    card_type: CardType
    holder: CardHolder
    not_before: datetime
    not_after: datetime

    def matches(self, material: CardMaterial) -> bool:
        """Whether issued material still says what the fixtures say."""
        certificate = material.authentication.certificate
        return (
            material.card_type is self.card_type
            and material.holder == self.holder
            and certificate.not_valid_before_utc == self.not_before
            and certificate.not_valid_after_utc == self.not_after
        )


def declared_cards(fixtures: str | Path) -> list[DeclaredCard]:
    """Every card of ``credentials.yaml``, its holder named as ``annuaire/`` describes them."""
    root = Path(fixtures)
    directory = Directory.from_fixtures(root / "annuaire")
    declared = []
    for identity in load_identities(root / "credentials.yaml", now=time.time()).values():
        practitioner = directory.get(identity.id_nat)
        if practitioner is None and identity.cards:
            raise ValueError(
                f"credentials.yaml: {identity.id_nat} has cards but is not in annuaire/"
            )
        for card in identity.cards:
            card_type = CardType[card.type]
            validity = card_validity(date.fromisoformat(card.not_after))
            holder = holder_for(practitioner, card_type)
            declared.append(DeclaredCard(card.serial, card_type, holder, *validity))
    return declared


def init_fixtures(fixtures: str | Path, *, renew: bool = False) -> list[str]:
    """Bring ``fixtures/pki`` in line with the fixtures: what ``psc-mock pki init`` does.

    It holds a card for every card of ``credentials.yaml``, an ORG certificate per client
    of ``clients.yaml`` (CN = client_id, for ``tls_client_auth``) and the TLS server
    certificate. Existing authorities are kept and only what is missing or no longer
    matches the fixtures is issued, so that adding a card or a client leaves every other
    key alone. With ``renew`` (or with no authorities yet) everything is new.
    Returns what was issued, for the command to print.
    """
    root = Path(fixtures)
    folder = root / "pki"
    renew = renew or not (folder / "ca").is_dir()
    pki = TestPki.create(folder) if renew else TestPki.load(folder)
    issued = ["authorities"] if renew else []
    existing = set(pki.card_serials())
    for card in declared_cards(root):
        if card.serial not in existing or not card.matches(pki.card(card.serial)):
            material = pki.issue_card(
                card.holder, card.card_type, card.serial, card.not_before, card.not_after
            )
            pki.save_card(material)
            issued.append(f"card {card.serial}")
    for client in load_clients(root / "clients.yaml").values():
        base = folder / "organisations" / _safe(client.client_id)
        if not _cert_path(base).exists():
            organisation = Organisation(client.client_id, client.name or client.client_id)
            pki.issue_organisation(organisation).save(base)
            issued.append(f"organisation {client.client_id}")
    if not _cert_path(folder / "server" / TLS_SERVER_NAME).exists():
        pki.save_tls_server(pki.issue_tls_server())
        issued.append(f"server {TLS_SERVER_NAME}")
    return issued
