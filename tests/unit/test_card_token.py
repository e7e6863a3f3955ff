"""The software card behaves as CryptoLib CPS shows a CPS3: info, objects, PIN/PUK, signing."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from idp.app import BUNDLED_FIXTURES
from idp.card.backend import SoftCardBackend
from idp.card.pki import PKI_EPOCH, CardMaterial, TestPki, der_content
from idp.card.token import (
    AUTH_KEY_ID,
    PIN_TRIES,
    PUK_TRIES,
    SIGN_KEY_ID,
    CardState,
    Mechanism,
    MemoryCardStateStore,
    ObjectClass,
    Pkcs11Error,
    SessionState,
    SlotFlag,
    SoftCard,
    TokenFlag,
    UserType,
    pin_flags,
    token_serial_number,
    tries_left_from_flags,
)
from idp.mockdata import Card

PIN, PUK = "1234", "12345678"
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


@pytest.fixture(scope="module")
def material() -> CardMaterial:
    return TestPki.load(BUNDLED_FIXTURES / "pki").card("2800100011")


@pytest.fixture
def store() -> MemoryCardStateStore:
    return MemoryCardStateStore()


@pytest.fixture
def card(material: CardMaterial, store: MemoryCardStateStore) -> SoftCard:
    return SoftCard(material, store, CardState(PIN, PUK))


def fails(name: str) -> pytest.RaisesExc:
    return pytest.raises(Pkcs11Error, match=f"^{name}")


def labels(card: SoftCard, session: int) -> list[tuple[ObjectClass, str, bytes]]:
    objects = [card.get_object(session, h) for h in card.find_objects(session)]
    return [(o.object_class, o.label, o.id) for o in objects]


def verify(certificate: x509.Certificate, signature: bytes, data: bytes) -> None:
    certificate.public_key().verify(signature, data, padding.PKCS1v15(), hashes.SHA256())


# --- Information ----------------------------------------------------------------------------


def test_library_slot_and_token_info_as_cryptolib(card: SoftCard) -> None:
    info = card.get_info()
    assert (info.cryptoki_version, info.manufacturer_id, info.library_version) == (
        (2, 20),
        "ANS",
        (3, 1),
    )
    assert info.library_description == "CPS3 PKCS#11 LINUX"
    slot = card.get_slot_info()
    assert slot.manufacturer_id == ""
    assert slot.flags & SlotFlag.REMOVABLE_DEVICE and slot.flags & SlotFlag.HW_SLOT
    token = card.get_token_info()
    assert "CPS3" in token.label
    assert (token.model, token.serial_number) == ("IAS ECC", "2800100011")
    assert token.flags & TokenFlag.LOGIN_REQUIRED and token.flags & TokenFlag.USER_PIN_INITIALIZED
    assert not token.flags & (TokenFlag.USER_PIN_COUNT_LOW | TokenFlag.USER_PIN_LOCKED)


@pytest.mark.parametrize(
    ("card_serial", "token_serial"),
    [("2800100011", "2800100011"), ("80250000012800262487", "2800262487")],
)
def test_token_serial_number_drops_the_asip_prefix(card_serial: str, token_serial: str) -> None:
    assert token_serial_number(card_serial) == token_serial
    assert token_serial_number("1" * 20) == "1" * 16


# --- Objects --------------------------------------------------------------------------------


def test_public_objects_before_login_all_after(card: SoftCard) -> None:
    session = card.open_session()
    public = [
        (ObjectClass.CERTIFICATE, "Certificat d'Authentification CPS", AUTH_KEY_ID),
        (ObjectClass.CERTIFICATE, "Certificat de Signature CPS", SIGN_KEY_ID),
        (ObjectClass.PUBLIC_KEY, "Certificat d'Authentification CPS", AUTH_KEY_ID),
        (ObjectClass.PUBLIC_KEY, "Certificat de Signature CPS", SIGN_KEY_ID),
        (ObjectClass.DATA, "CPS_ID_CARD", b""),
        (ObjectClass.DATA, "CPS_NAME_PS", b""),
    ]
    assert labels(card, session) == public
    assert AUTH_KEY_ID.hex().upper() == "E828BD080F8025000001FF001002"
    assert SIGN_KEY_ID.hex().upper() == "E828BD080F8025000001FF001001"
    card.login(session, UserType.USER, PIN)
    assert sorted(labels(card, session)) == sorted(
        [
            *public,
            (ObjectClass.PRIVATE_KEY, "CPS_PRIV_AUT", AUTH_KEY_ID),
            (ObjectClass.PRIVATE_KEY, "CPS_PRIV_SIG", SIGN_KEY_ID),
            (ObjectClass.DATA, "CPS_ACTIVITY_01_PS", b""),
        ]
    )


def test_find_objects_by_label_class_and_id(card: SoftCard, material: CardMaterial) -> None:
    session = card.open_session()
    assert len(card.find_objects(session, label="Certificat d'Authentification CPS")) == 2
    [auth] = card.find_objects(
        session, object_class=ObjectClass.CERTIFICATE, label="Certificat d'Authentification CPS"
    )
    [auth_cert] = card.find_objects(session, object_class=ObjectClass.CERTIFICATE, id=AUTH_KEY_ID)
    assert auth == auth_cert
    value = card.get_object(session, auth).value
    assert x509.load_der_x509_certificate(value) == material.authentication.certificate
    assert card.find_objects(session, object_class=ObjectClass.PRIVATE_KEY) == []
    assert len(card.find_objects(session, id=SIGN_KEY_ID)) == 2  # certificate + public key


def test_private_keys_never_leave_and_hidden_handles_are_invalid(card: SoftCard) -> None:
    session = card.open_session()
    card.login(session, UserType.USER, PIN)
    [key] = card.find_objects(session, label="CPS_PRIV_AUT")
    assert card.get_object(session, key).key is None
    [activity] = card.find_objects(session, label="CPS_ACTIVITY_01_PS")
    card.logout(session)
    with fails("CKR_OBJECT_HANDLE_INVALID"):
        card.get_object(session, activity)


def test_data_objects_describe_card_and_holder(card: SoftCard) -> None:
    session = card.open_session()
    [name] = card.find_objects(session, label="CPS_NAME_PS")
    content = der_content(card.get_object(session, name).value, 0x30)
    assert b"899700100011" in content and b"MARTIN" in content
    [id_card] = card.find_objects(session, label="CPS_ID_CARD")
    assert b"8025000001/2800100011" in card.get_object(session, id_card).value
    assert card.get_object(session, id_card).application == "ASIP CPS"


# --- Signing --------------------------------------------------------------------------------


def test_sign_needs_the_pin(card: SoftCard) -> None:
    session = card.open_session()
    with fails("CKR_USER_NOT_LOGGED_IN"):
        card.sign(session, 1, Mechanism.SHA256_RSA_PKCS, b"challenge")


def test_sha256_signature_verifies_with_the_certificate(
    card: SoftCard, material: CardMaterial
) -> None:
    session = card.open_session()
    card.login(session, UserType.USER, PIN)
    [key] = card.find_objects(session, object_class=ObjectClass.PRIVATE_KEY, id=AUTH_KEY_ID)
    signature = card.sign(session, key, Mechanism.SHA256_RSA_PKCS, b"challenge")
    verify(material.authentication.certificate, signature, b"challenge")


def test_raw_rsa_pkcs_over_a_digest_info_is_the_same_signature(card: SoftCard) -> None:
    session = card.open_session()
    card.login(session, UserType.USER, PIN)
    [key] = card.find_objects(session, object_class=ObjectClass.PRIVATE_KEY, id=SIGN_KEY_ID)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"document")
    raw = card.sign(session, key, Mechanism.RSA_PKCS, SHA256_DIGEST_INFO + digest.finalize())
    assert raw == card.sign(session, key, Mechanism.SHA256_RSA_PKCS, b"document")
    with fails("CKR_DATA_LEN_RANGE"):
        card.sign(session, key, Mechanism.RSA_PKCS, bytes(256 - 10))


def test_sign_refuses_a_certificate_handle_and_unknown_mechanisms(card: SoftCard) -> None:
    session = card.open_session()
    card.login(session, UserType.USER, PIN)
    [certificate] = card.find_objects(session, object_class=ObjectClass.CERTIFICATE, id=AUTH_KEY_ID)
    with fails("CKR_KEY_HANDLE_INVALID"):
        card.sign(session, certificate, Mechanism.SHA256_RSA_PKCS, b"x")
    [key] = card.find_objects(session, label="CPS_PRIV_AUT")
    with fails("CKR_MECHANISM_INVALID"):
        card.sign(session, key, 0x0D, b"x")  # CKM_SHA256_RSA_PKCS_PSS: CPS4 only


# --- PIN ------------------------------------------------------------------------------------


def test_three_wrong_pins_lock_the_card_with_flags_on_the_way(
    card: SoftCard, material: CardMaterial, store: MemoryCardStateStore
) -> None:
    session = card.open_session()
    expected = [
        ("CKR_PIN_INCORRECT", 2, TokenFlag.USER_PIN_COUNT_LOW),
        ("CKR_PIN_INCORRECT", 1, TokenFlag.USER_PIN_FINAL_TRY),
        ("CKR_PIN_LOCKED", 0, TokenFlag.USER_PIN_LOCKED),
    ]
    for name, tries_left, flag in expected:
        with fails(name) as failure:
            card.login(session, UserType.USER, "0000")
        assert failure.value.tries_left == tries_left
        flags = card.get_token_info().flags
        assert flags & flag
        assert tries_left_from_flags(flags) == tries_left
    with fails("CKR_PIN_LOCKED"):
        card.login(session, UserType.USER, PIN)  # the right PIN no longer opens it
    again = SoftCard(material, store, CardState(PIN, PUK))  # the state lives in the store
    assert again.state.locked
    assert store.get(material.serial)["pin_tries_left"] == 0


def test_a_right_pin_resets_the_count(card: SoftCard) -> None:
    session = card.open_session()
    with fails("CKR_PIN_INCORRECT"):
        card.login(session, UserType.USER, "0000")
    card.login(session, UserType.USER, PIN)
    assert card.state.pin_tries_left == PIN_TRIES
    assert not card.get_token_info().flags & TokenFlag.USER_PIN_COUNT_LOW


@pytest.mark.parametrize(
    ("pin", "name"), [("123", "CKR_PIN_LEN_RANGE"), ("12a4", "CKR_PIN_INVALID")]
)
def test_malformed_pins_cost_no_try(card: SoftCard, pin: str, name: str) -> None:
    session = card.open_session()
    with fails(name):
        card.login(session, UserType.USER, pin)
    assert card.state.pin_tries_left == PIN_TRIES


def test_login_states_and_session_rules(card: SoftCard) -> None:
    session = card.open_session()
    other = card.open_session(read_write=True)
    assert card.get_session_state(session) is SessionState.RO_PUBLIC
    with fails("CKR_USER_NOT_LOGGED_IN"):
        card.logout(session)
    card.login(session, UserType.USER, PIN)
    assert card.get_session_state(session) is SessionState.RO_USER
    assert card.get_session_state(other) is SessionState.RW_USER  # login is the token's
    with fails("CKR_USER_ALREADY_LOGGED_IN"):
        card.login(other, UserType.USER, PIN)
    with fails("CKR_USER_ANOTHER_ALREADY_LOGGED_IN"):
        card.login(other, UserType.SO, PUK)
    card.close_session(session)
    card.close_session(other)  # the last session closed logs out
    fresh = card.open_session()
    assert card.get_session_state(fresh) is SessionState.RO_PUBLIC
    with fails("CKR_SESSION_HANDLE_INVALID"):
        card.get_session_state(session)


def test_change_pin_checks_the_old_one(card: SoftCard) -> None:
    session = card.open_session(read_write=True)
    with fails("CKR_PIN_INCORRECT"):
        card.set_pin(session, "0000", "4321")
    card.set_pin(session, PIN, "4321")
    card.login(session, UserType.USER, "4321")
    with fails("CKR_SESSION_READ_ONLY"):
        card.set_pin(card.open_session(), "4321", "1111")


# --- PUK ------------------------------------------------------------------------------------


def test_puk_unblocks_a_locked_card(material: CardMaterial, store: MemoryCardStateStore) -> None:
    card = SoftCard(material, store, CardState(PIN, PUK, pin_tries_left=0))
    read_only = card.open_session()
    with fails("CKR_SESSION_READ_ONLY"):
        card.login(read_only, UserType.SO, PUK)
    session = card.open_session(read_write=True)
    card.login(session, UserType.SO, PUK)
    assert card.get_session_state(session) is SessionState.RW_SO
    card.set_pin(session, "", "2468")  # CryptoLib's unblock: SO login, C_SetPIN, logout
    card.logout(session)
    card.login(session, UserType.USER, "2468")
    assert card.state.pin_tries_left == PIN_TRIES
    assert not card.get_token_info().flags & TokenFlag.USER_PIN_LOCKED


def test_wrong_puks_count_and_lock_the_puk(card: SoftCard) -> None:
    session = card.open_session(read_write=True)
    for tries_left in range(PUK_TRIES - 1, 0, -1):
        with fails("CKR_PIN_INCORRECT") as failure:
            card.login(session, UserType.SO, "87654321")
        assert failure.value.tries_left == tries_left
    assert card.get_token_info().flags & TokenFlag.SO_PIN_FINAL_TRY
    with fails("CKR_PIN_LOCKED"):
        card.login(session, UserType.SO, "87654321")
    with fails("CKR_PIN_LOCKED"):
        card.login(session, UserType.SO, PUK)
    assert card.get_token_info().flags & TokenFlag.SO_PIN_LOCKED
    card.login(session, UserType.USER, PIN)  # the user PIN is a separate counter


def test_a_puk_has_eight_digits(card: SoftCard) -> None:
    with fails("CKR_PIN_LEN_RANGE"):
        card.login(card.open_session(read_write=True), UserType.SO, PIN)


# --- State and flags ------------------------------------------------------------------------


def test_state_round_trips_through_a_dict_and_the_store_copies(
    store: MemoryCardStateStore,
) -> None:
    state = CardState(PIN, PUK, pin_tries_left=1, opposed_at=1_700_000_000.0)
    assert CardState.from_dict(state.to_dict()) == state
    store.put("2800100011", state.to_dict())
    store.get("2800100011")["pin_tries_left"] = 3
    assert store.get("2800100011")["pin_tries_left"] == 1
    assert store.get("unknown") is None


def test_declared_states_follow_the_fixture_status() -> None:
    assert CardState.declared(Card("CPS", "2800100011")) == CardState("1234", "12345678")
    assert CardState.declared(Card("CPS", "2800100300", status="locked")).locked
    opposed = CardState.declared(Card("CPS", "2800100102", pin="4321", status="opposed"))
    assert (opposed.pin, opposed.opposed_at) == ("4321", PKI_EPOCH.timestamp())


@pytest.mark.parametrize("tries_left", range(PIN_TRIES + 1))
def test_flags_and_tries_left_are_inverse(tries_left: int) -> None:
    flags = pin_flags(tries_left, PIN_TRIES)
    expected = None if tries_left == PIN_TRIES else tries_left
    assert tries_left_from_flags(flags) == expected
    assert tries_left_from_flags(TokenFlag.USER_PIN_COUNT_LOW, None) is None


# --- The card interface ---------------------------------------------------------------------


def test_soft_backend_signs_a_challenge_with_the_authentication_key(
    card: SoftCard, material: CardMaterial
) -> None:
    answer = SoftCardBackend(card).authenticate(PIN, b"nonce-123")
    assert answer.certificate == material.authentication.certificate
    verify(answer.certificate, answer.signature, b"nonce-123")
    session = card.open_session()
    assert card.get_session_state(session) is SessionState.RO_PUBLIC  # logged out after


def test_soft_backend_reports_tries_left_then_lock(card: SoftCard) -> None:
    backend = SoftCardBackend(card)
    with fails("CKR_PIN_INCORRECT") as failure:
        backend.authenticate("9999", b"nonce")
    assert failure.value.tries_left == 2
    for _ in range(2):
        with pytest.raises(Pkcs11Error):
            backend.authenticate("9999", b"nonce")
    with fails("CKR_PIN_LOCKED"):
        backend.authenticate(PIN, b"nonce")
