"""The test PKI: names, profiles and extensions as on ANS's test cards; chains, CRLs, checks.

Runs on the committed material of ``fixtures/pki``; only a few tests generate keys.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store

from idp.app import BUNDLED_FIXTURES
from idp.card.pki import (
    CA_NOT_AFTER,
    FORT_PERSONNES,
    HIERARCHY,
    OID_CARD_SERIAL,
    OID_CARD_TYPE,
    OID_PRODUCT_CATEGORY,
    OID_PROFESSION,
    OID_SMARTCARD_LOGON,
    OID_UPN,
    PKI_EPOCH,
    ROOT_FORT,
    ROOT_STANDARD,
    STAFF_TITLE,
    STANDARD_ORGANISATIONS,
    STANDARD_PERSONNES,
    CardHolder,
    CardMaterial,
    CardType,
    ChainStatus,
    TestPki,
    card_validity,
    declared_cards,
    der_content,
    der_integer,
    der_tlv,
    holder_for,
    init_fixtures,
)
from idp.directory.index import Directory
from idp.mockdata import load_clients, load_identities

NOW = datetime(2030, 6, 1, tzinfo=UTC)
CPS_SERIAL = "2800100243"  # Céline BRUN, Infirmier (profession 60)
CPE_SERIAL = "2600000001"  # 335B000017/CPET00001, CHU des Tilleuls
CPA_SERIAL = "2600000002"  # 599900003700112/CPAT00001


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki.load(BUNDLED_FIXTURES / "pki")


@pytest.fixture(scope="module")
def directory() -> Directory:
    return Directory.from_fixtures(BUNDLED_FIXTURES / "annuaire")


@pytest.fixture(scope="module")
def cps(pki: TestPki) -> CardMaterial:
    return pki.card(CPS_SERIAL)


def ans_extension(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> x509.Extension:
    return certificate.extensions.get_extension_for_oid(oid)


# --- Authorities --------------------------------------------------------------------------


def test_authorities_have_the_published_test_names(pki: TestPki) -> None:
    assert (
        pki.authorities[FORT_PERSONNES].certificate.subject.rfc4514_string()
        == "CN=TEST AC IGC-SANTE FORT PERSONNES,OU=IGC-SANTE TEST,OU=0002 187512751,"
        "O=ASIP-SANTE,C=FR"
    )
    assert {name for name, _ in HIERARCHY} == {
        f"TEST AC RACINE IGC-SANTE {level}" for level in ("FORT", "STANDARD", "ELEMENTAIRE")
    } | {
        f"TEST AC IGC-SANTE {level} {kind}"
        for level in ("FORT", "STANDARD", "ELEMENTAIRE")
        for kind in ("PERSONNES", "ORGANISATIONS")
    }


@pytest.mark.parametrize(("name", "issuer"), HIERARCHY)
def test_each_authority_is_signed_by_its_root_with_the_right_constraints(
    pki: TestPki, name: str, issuer: str | None
) -> None:
    certificate = pki.authorities[name].certificate
    signer = pki.authorities[issuer or name].certificate
    certificate.verify_directly_issued_by(signer)
    constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    assert constraints.value.path_length == (0 if issuer else None)
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    assert isinstance(certificate.signature_hash_algorithm, hashes.SHA256)
    assert certificate.not_valid_after_utc == CA_NOT_AFTER


def test_the_bundle_holds_every_authority(pki: TestPki) -> None:
    bundle = x509.load_pem_x509_certificates((pki.directory / "ca" / "bundle.pem").read_bytes())
    assert bundle == [pair.certificate for pair in pki.authorities.values()]


# --- Card certificates ----------------------------------------------------------------------


def test_authentication_certificate_profile(cps: CardMaterial) -> None:
    certificate = cps.authentication.certificate
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature and not usage.value.content_commitment
    eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH, OID_SMARTCARD_LOGON]
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    [upn] = san.get_values_for_type(x509.OtherName)
    assert upn.type_id == OID_UPN
    assert upn.value == der_tlv(0x0C, b"899700100243@carte-cps.fr")


def test_signature_certificate_profile(cps: CardMaterial) -> None:
    certificate = cps.signature.certificate
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.content_commitment and not usage.value.digital_signature
    eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.EMAIL_PROTECTION]
    certificate.extensions.get_extension_for_class(x509.PrivateKeyUsagePeriod)
    with pytest.raises(x509.ExtensionNotFound):
        certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_professional_subject_is_one_multi_valued_rdn_after_title(cps: CardMaterial) -> None:
    rdns = list(cps.authentication.certificate.subject.rdns)
    assert [[(a.oid, a.value) for a in rdn] for rdn in rdns[:2]] == [
        [(NameOID.COUNTRY_NAME, "FR")],
        [(NameOID.TITLE, "Infirmier")],
    ]
    assert len(rdns) == 3
    assert {(a.oid, a.value) for a in rdns[2]} == {
        (NameOID.GIVEN_NAME, "CÉLINE"),
        (NameOID.COMMON_NAME, "899700100243"),
        (NameOID.SURNAME, "BRUN"),
    }
    assert cps.signature.certificate.subject == cps.authentication.certificate.subject


def test_staff_subject_names_the_structure(pki: TestPki) -> None:
    subject = pki.card(CPE_SERIAL).authentication.certificate.subject
    singles = [next(iter(rdn)) for rdn in list(subject.rdns)[:-1]]
    assert [(attribute.oid, attribute.value) for attribute in singles] == [
        (NameOID.COUNTRY_NAME, "FR"),
        (NameOID.STATE_OR_PROVINCE_NAME, "Rennes (35)"),
        (NameOID.ORGANIZATION_NAME, "CHU DES TILLEULS"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "135B000017"),
        (NameOID.TITLE, STAFF_TITLE),
    ]
    cpa = pki.card(CPA_SERIAL).holder
    assert (cpa.organisation_id, cpa.profession_label) == ("399900003700112", "")


@pytest.mark.parametrize(
    ("serial", "card_type", "profession"),
    [(CPS_SERIAL, 0, b"\x02\x01\x3c"), (CPE_SERIAL, 2, None), (CPA_SERIAL, 3, None)],
)
def test_ans_private_extensions_are_non_critical_and_der_exact(
    pki: TestPki, serial: str, card_type: int, profession: bytes | None
) -> None:
    for certificate in pki.card(serial).certificates:
        expected = {
            OID_PRODUCT_CATEGORY: b"\x04\x01\x80",  # OCTET STRING {0x80}: CPx de TEST
            OID_CARD_TYPE: bytes([0x02, 0x01, card_type]),
            OID_CARD_SERIAL: b"\x13\x15" + f"8025000001/{serial}".encode(),
        }
        if profession:
            expected[OID_PROFESSION] = profession
        for oid, value in expected.items():
            extension = ans_extension(certificate, oid)
            assert not extension.critical
            assert extension.value.value == value
        if profession is None:
            with pytest.raises(x509.ExtensionNotFound):
                ans_extension(certificate, OID_PROFESSION)


@pytest.mark.parametrize(
    ("serial", "authority", "root"),
    [
        (CPS_SERIAL, FORT_PERSONNES, ROOT_FORT),
        ("2800100136", FORT_PERSONNES, ROOT_FORT),  # a CPF
        (CPE_SERIAL, STANDARD_PERSONNES, ROOT_STANDARD),
        (CPA_SERIAL, STANDARD_PERSONNES, ROOT_STANDARD),
    ],
)
def test_cards_chain_to_the_authority_of_their_type(
    pki: TestPki, serial: str, authority: str, root: str
) -> None:
    card = pki.card(serial)
    result = pki.verify_chain(card.authentication.certificate, NOW)
    assert result.ok, result.reason
    assert result.chain[1:] == (
        pki.authorities[authority].certificate,
        pki.authorities[root].certificate,
    )
    assert pki.verify_chain(card.signature.certificate, NOW, client_auth=False).ok


def test_material_reads_back_type_serial_and_holder(pki: TestPki, cps: CardMaterial) -> None:
    assert (cps.serial, cps.card_type) == (CPS_SERIAL, CardType.CPS)
    assert cps.holder == CardHolder(
        "899700100243", "CÉLINE", "BRUN", profession_code="60", profession_label="Infirmier"
    )
    assert pki.card(CPE_SERIAL).card_type is CardType.CPE


def test_every_declared_card_is_committed_and_current(pki: TestPki) -> None:
    """Fails when credentials.yaml or annuaire/ change: run ``psc-mock pki init``."""
    identities = load_identities(BUNDLED_FIXTURES / "credentials.yaml", now=0).values()
    declared = declared_cards(BUNDLED_FIXTURES)
    assert [c.serial for c in declared] == [c.serial for i in identities for c in i.cards]
    for card in declared:
        assert card.serial in pki.card_serials(), f"card {card.serial}: run psc-mock pki init"
        assert card.matches(pki.card(card.serial)), f"card {card.serial}: run psc-mock pki init"


def test_a_card_no_longer_matches_when_its_holder_changes(cps: CardMaterial) -> None:
    [card] = [c for c in declared_cards(BUNDLED_FIXTURES) if c.serial == CPS_SERIAL]
    assert card.holder.id_nat == "899700100243"
    assert not replace(card, holder=replace(card.holder, family_name="DURAND")).matches(cps)
    assert not replace(card, not_after=card.not_after - timedelta(days=1)).matches(cps)


def test_every_committed_key_matches_its_certificate(pki: TestPki) -> None:
    pairs = [
        pair
        for serial in pki.card_serials()
        for pair in (pki.card(serial).authentication, pki.card(serial).signature)
    ]
    pairs += pki.authorities.values()
    for pair in pairs:
        assert pair.key.public_key() == pair.certificate.public_key()


def test_every_client_has_an_organisation_certificate(pki: TestPki) -> None:
    for client_id in load_clients(BUNDLED_FIXTURES / "clients.yaml"):
        path = pki.directory / "organisations" / f"{client_id}.cert.pem"
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
        assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
            client_id
        )
        assert certificate.issuer == pki.authorities[STANDARD_ORGANISATIONS].certificate.subject
        assert pki.verify_chain(certificate, NOW).ok


def test_tls_server_certificate_verifies_for_localhost(pki: TestPki) -> None:
    server = pki.directory / "server"
    leaf, intermediate = x509.load_pem_x509_certificates(
        (server / "localhost.fullchain.pem").read_bytes()
    )
    verifier = (
        PolicyBuilder()
        .store(Store(pki.roots))
        .time(NOW)
        .build_server_verifier(x509.DNSName("localhost"))
    )
    chain = verifier.verify(leaf, [intermediate])
    assert chain[1].subject == pki.authorities[STANDARD_ORGANISATIONS].certificate.subject


# --- Verification failures ------------------------------------------------------------------


def test_dates_are_checked_at_the_given_now(cps: CardMaterial, pki: TestPki) -> None:
    certificate = cps.authentication.certificate
    assert pki.verify_chain(certificate, PKI_EPOCH - timedelta(days=1)).status is (
        ChainStatus.NOT_YET_VALID
    )
    after = certificate.not_valid_after_utc + timedelta(seconds=1)
    result = pki.verify_chain(certificate, after)
    assert result.status is ChainStatus.EXPIRED
    assert "2045-12-31" in result.reason


def test_a_lookalike_authority_is_unknown(cps: CardMaterial, pki: TestPki) -> None:
    """Same issuer DN, another key: the name alone does not make an authority."""
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    genuine = cps.authentication.certificate
    forged = (
        x509.CertificateBuilder()
        .subject_name(genuine.subject)
        .issuer_name(genuine.issuer)
        .public_key(genuine.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(genuine.not_valid_before_utc)
        .not_valid_after(genuine.not_valid_after_utc)
        .sign(impostor, hashes.SHA256())
    )
    result = pki.verify_chain(forged, NOW)
    assert result.status is ChainStatus.UNKNOWN_AUTHORITY
    assert "TEST AC IGC-SANTE FORT PERSONNES" in result.reason


def test_a_signature_certificate_is_no_client_certificate(cps: CardMaterial, pki: TestPki) -> None:
    result = pki.verify_chain(cps.signature.certificate, NOW)
    assert result.status is ChainStatus.INVALID
    assert "EKU" in result.reason


# --- CRLs ------------------------------------------------------------------------------------


def test_crl_lists_an_opposition_from_its_date_on(cps: CardMaterial, pki: TestPki) -> None:
    opposed_at = NOW - timedelta(hours=2)
    revoked = [(certificate.serial_number, opposed_at) for certificate in cps.certificates]
    issuer = pki.authorities[FORT_PERSONNES].certificate

    crl = pki.crl(FORT_PERSONNES, revoked, NOW)
    assert crl.issuer == issuer.subject
    assert crl.is_signature_valid(issuer.public_key())
    assert (crl.last_update_utc, crl.next_update_utc) == (NOW, NOW + timedelta(days=7))
    assert sorted(entry.serial_number for entry in crl) == sorted(s for s, _ in revoked)
    assert crl.get_revoked_certificate_by_serial_number(
        cps.authentication.certificate.serial_number
    ).revocation_date_utc == (opposed_at)
    result = pki.verify_chain(cps.authentication.certificate, NOW, [crl])
    assert result.status is ChainStatus.REVOKED
    assert result.revoked_at == opposed_at

    earlier = NOW - timedelta(hours=3)  # the clock moved back before the opposition
    before = pki.crl(FORT_PERSONNES, revoked, earlier)
    assert list(before) == []
    assert pki.verify_chain(cps.authentication.certificate, earlier, [before]).ok
    assert before.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number < (
        crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    )


def test_another_authoritys_crl_does_not_revoke(cps: CardMaterial, pki: TestPki) -> None:
    serial = cps.authentication.certificate.serial_number
    crl = pki.crl(STANDARD_PERSONNES, [(serial, NOW - timedelta(days=1))], NOW)
    assert pki.verify_chain(cps.authentication.certificate, NOW, [crl]).ok


# --- Creating, DER, holders -----------------------------------------------------------------


def test_create_then_load_a_pki_and_issue_a_card(tmp_path: Path) -> None:
    created = TestPki.create(tmp_path)
    holder = CardHolder("899700100011", "CLAIRE", "MARTIN", "10", "Médecin")
    not_before, not_after = card_validity(date(2040, 1, 31))
    created.save_card(created.issue_card(holder, CardType.CPF, "2800999999", not_before, not_after))

    loaded = TestPki.load(tmp_path)
    card = loaded.card("2800999999")
    assert (card.holder, card.card_type, card.not_after) == (holder, CardType.CPF, not_after)
    assert loaded.verify_chain(card.authentication.certificate, NOW).ok
    assert (
        not TestPki.load(BUNDLED_FIXTURES / "pki")
        .verify_chain(card.authentication.certificate, NOW)
        .ok
    )
    with pytest.raises(KeyError):
        loaded.card("2800100011")


@pytest.mark.parametrize(
    ("value", "encoded"),
    [(0, "020100"), (60, "02013c"), (127, "02017f"), (128, "02020080"), (256, "02020100")],
)
def test_der_integer(value: int, encoded: str) -> None:
    assert der_integer(value).hex() == encoded


def test_der_long_lengths_round_trip() -> None:
    content = bytes(300)
    encoded = der_tlv(0x04, content)
    assert encoded[:4] == b"\x04\x82\x01\x2c"
    assert der_content(encoded, 0x04) == content
    with pytest.raises(ValueError, match="tag"):
        der_content(encoded, 0x02)


def test_card_validity_starts_at_the_epoch_unless_the_card_expired_before() -> None:
    assert card_validity(date(2045, 12, 31)) == (
        PKI_EPOCH,
        datetime(2045, 12, 31, 23, 59, 59, tzinfo=UTC),
    )
    start, end = card_validity(date(2023, 6, 30))
    assert end - start == timedelta(days=3 * 365)


def test_staff_cards_need_a_staff_id_nat(directory: Directory) -> None:
    practitioner = directory.get("899700100243")
    assert practitioner is not None
    with pytest.raises(ValueError, match="3<FINESS>"):
        holder_for(practitioner, CardType.CPE)
    cpe = directory.get("599900002900150/CPET00002")
    assert cpe is not None
    holder = holder_for(cpe, CardType.CPE)
    assert (holder.organisation_id, holder.organisation_name, holder.region) == (
        "399900002900150",
        "SELAS PHARMACIE DU VIEUX-PORT",
        "Marseille (13)",
    )


def test_init_issues_only_what_is_missing(tmp_path: Path) -> None:
    for name in ("annuaire", "pki"):
        shutil.copytree(BUNDLED_FIXTURES / name, tmp_path / name)
    for name in ("credentials.yaml", "clients.yaml"):
        shutil.copy(BUNDLED_FIXTURES / name, tmp_path / name)
    assert init_fixtures(tmp_path) == []
    kept = (tmp_path / "pki" / "cards" / CPS_SERIAL / "auth.key.pem").read_bytes()
    shutil.rmtree(tmp_path / "pki" / "cards" / CPE_SERIAL)
    (tmp_path / "pki" / "organisations" / "psc-mock-ci.cert.pem").unlink()

    assert init_fixtures(tmp_path) == [f"card {CPE_SERIAL}", "organisation psc-mock-ci"]
    assert (tmp_path / "pki" / "cards" / CPS_SERIAL / "auth.key.pem").read_bytes() == kept
    pki = TestPki.load(tmp_path / "pki")
    assert pki.verify_chain(pki.card(CPE_SERIAL).authentication.certificate, NOW).ok
