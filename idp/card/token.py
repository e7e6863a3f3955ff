"""The software CPS card: an in-process token with PKCS#11 semantics as CryptoLib shows them.

A relying party never sees this module; what it sees is a card login that fails and
succeeds as a real card does. So the token reproduces what CryptoLib CPS (ANS's PKCS#11
module, an OpenSC fork) exposes: library, slot and token information, sessions, the
4-digit PIN with 3 tries and its count flags, unblocking by an SO login with the 8-digit
PUK then ``C_SetPIN``, the objects with CryptoLib's labels and CKA_IDs, and ``CKR_*``
errors. Calls are named after the PKCS#11 functions they stand for; ``C_SignInit`` and
``C_Sign`` are one call, ``sign``.

Card state that outlives one login (PIN, PUK, tries left, opposition) lives in a
:class:`CardStateStore`, so that the server keeps it in its SQLite store and several
workers see the same counters; the token itself is cheap, one per login is fine, and it
is not meant to be shared between threads.

Chosen where the reference is silent: the PUK allows :data:`PUK_TRIES` tries; the token
label is ``CPS3 <type> <serial>`` (ANS's harness only checks it contains ``CPS3``); the
token's manufacturer is ``ASIP-SANTE``; public keys carry their certificate's label (what
OpenSC does for keys it derives from certificates); the CKO_DATA objects hold a DER
layout of our own (ANS's "Données-métier" format is not public); private objects are
invisible until the user logs in, as PKCS#11 says (and SoftHSM2 does).
"""

from __future__ import annotations

import hmac
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from enum import IntEnum, IntFlag, StrEnum
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from idp.card.pki import (
    CARD_SERIAL_PREFIX,
    PKI_EPOCH,
    TAG_PRINTABLE_STRING,
    TAG_SEQUENCE,
    TAG_UTF8_STRING,
    CardMaterial,
    der_integer,
    der_tlv,
)
from idp.mockdata import Card

PIN_LENGTH = 4
PUK_LENGTH = 8
PIN_TRIES = 3  # "Au bout de trois saisies erronées consécutives, la CPS se bloque"
PUK_TRIES = 3  # unknown for real cards [U]; 3, like the PIN, is our choice

AUTH_CERT_LABEL = "Certificat d'Authentification CPS"
SIGN_CERT_LABEL = "Certificat de Signature CPS"
AUTH_KEY_LABEL = "CPS_PRIV_AUT"
SIGN_KEY_LABEL = "CPS_PRIV_SIG"
AUTH_KEY_ID = bytes.fromhex("E828BD080F8025000001FF001002")
SIGN_KEY_ID = bytes.fromhex("E828BD080F8025000001FF001001")
PKCS15_APPLICATION = "ASIP CPS"  # label of the contact application E828BD080F8025000001FF0010
TOKEN_MODEL = "IAS ECC"
TOKEN_MANUFACTURER = "ASIP-SANTE"
SLOT_DESCRIPTION = "Lecteur CPS simule psc-mock 00 00"


class CKR(StrEnum):
    """The PKCS#11 return values this token raises (names as in pkcs11t.h)."""

    DATA_LEN_RANGE = "CKR_DATA_LEN_RANGE"
    KEY_HANDLE_INVALID = "CKR_KEY_HANDLE_INVALID"
    MECHANISM_INVALID = "CKR_MECHANISM_INVALID"
    OBJECT_HANDLE_INVALID = "CKR_OBJECT_HANDLE_INVALID"
    PIN_INCORRECT = "CKR_PIN_INCORRECT"
    PIN_INVALID = "CKR_PIN_INVALID"
    PIN_LEN_RANGE = "CKR_PIN_LEN_RANGE"
    PIN_LOCKED = "CKR_PIN_LOCKED"
    SESSION_HANDLE_INVALID = "CKR_SESSION_HANDLE_INVALID"
    SESSION_READ_ONLY = "CKR_SESSION_READ_ONLY"
    TOKEN_NOT_RECOGNIZED = "CKR_TOKEN_NOT_RECOGNIZED"
    USER_ALREADY_LOGGED_IN = "CKR_USER_ALREADY_LOGGED_IN"
    USER_ANOTHER_ALREADY_LOGGED_IN = "CKR_USER_ANOTHER_ALREADY_LOGGED_IN"
    USER_NOT_LOGGED_IN = "CKR_USER_NOT_LOGGED_IN"
    USER_TYPE_INVALID = "CKR_USER_TYPE_INVALID"


class Pkcs11Error(Exception):
    """A PKCS#11 failure, named as the standard names it (``CKR_PIN_INCORRECT``).

    ``tries_left`` is set on PIN failures when the token tells it, so that a login page
    can say how many tries remain.
    """

    def __init__(self, name: str, detail: str = "", *, tries_left: int | None = None) -> None:
        super().__init__(f"{name}: {detail}" if detail else name)
        self.name = name
        self.detail = detail
        self.tries_left = tries_left


class ObjectClass(IntEnum):
    """CKO_*"""

    DATA = 0
    CERTIFICATE = 1
    PUBLIC_KEY = 2
    PRIVATE_KEY = 3


class UserType(IntEnum):
    """CKU_*: the SO logs in with the PUK, the user with the PIN."""

    SO = 0
    USER = 1


class Mechanism(IntEnum):
    """CKM_* the card signs with (CPS3: RSA PKCS#1 v1.5, raw or with SHA-1/SHA-256)."""

    RSA_PKCS = 0x1
    SHA1_RSA_PKCS = 0x6
    SHA256_RSA_PKCS = 0x40


class SlotFlag(IntFlag):
    """CKF_* of CK_SLOT_INFO."""

    TOKEN_PRESENT = 0x1
    REMOVABLE_DEVICE = 0x2
    HW_SLOT = 0x4


class TokenFlag(IntFlag):
    """CKF_* of CK_TOKEN_INFO."""

    LOGIN_REQUIRED = 0x4
    USER_PIN_INITIALIZED = 0x8
    TOKEN_INITIALIZED = 0x400
    USER_PIN_COUNT_LOW = 0x10000
    USER_PIN_FINAL_TRY = 0x20000
    USER_PIN_LOCKED = 0x40000
    SO_PIN_COUNT_LOW = 0x100000
    SO_PIN_FINAL_TRY = 0x200000
    SO_PIN_LOCKED = 0x400000


class SessionState(IntEnum):
    """CKS_*"""

    RO_PUBLIC = 0
    RO_USER = 1
    RW_PUBLIC = 2
    RW_USER = 3
    RW_SO = 4


@dataclass(frozen=True, slots=True)
class LibraryInfo:
    """CK_INFO."""

    cryptoki_version: tuple[int, int]
    manufacturer_id: str
    library_description: str
    library_version: tuple[int, int]


@dataclass(frozen=True, slots=True)
class SlotInfo:
    """CK_SLOT_INFO (CryptoLib leaves the slot's manufacturer blank)."""

    description: str
    manufacturer_id: str
    flags: SlotFlag


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """CK_TOKEN_INFO, the fields a CPS client looks at."""

    label: str
    manufacturer_id: str
    model: str
    serial_number: str
    flags: TokenFlag
    min_pin_len: int = PIN_LENGTH
    max_pin_len: int = PIN_LENGTH


LIBRARY_INFO = LibraryInfo((2, 20), "ANS", "CPS3 PKCS#11 LINUX", (3, 1))


def token_label(material: CardMaterial) -> str:
    """The token label, also given to the card's SoftHSM2 token."""
    return f"CPS3 {material.card_type.name} {material.serial}"


def token_serial_number(card_serial: str) -> str:
    """CryptoLib's rule: the last 16 characters of the serial once ASIP's prefix is gone."""
    return card_serial.removeprefix(CARD_SERIAL_PREFIX)[-16:]


def pin_flags(tries_left: int, max_tries: int, *, so: bool = False) -> TokenFlag:
    """Count flags as OpenSC (hence CryptoLib) sets them: one at most, worst first."""
    if tries_left == 0:
        return TokenFlag.SO_PIN_LOCKED if so else TokenFlag.USER_PIN_LOCKED
    if tries_left == 1:
        return TokenFlag.SO_PIN_FINAL_TRY if so else TokenFlag.USER_PIN_FINAL_TRY
    if tries_left < max_tries:
        return TokenFlag.SO_PIN_COUNT_LOW if so else TokenFlag.USER_PIN_COUNT_LOW
    return TokenFlag(0)


def tries_left_from_flags(flags: int, max_tries: int | None = PIN_TRIES) -> int | None:
    """The inverse of :func:`pin_flags`: tries left, None when the flags cannot tell.

    ``COUNT_LOW`` means ``max_tries - 1`` on a card counting as OpenSC does; pass
    ``max_tries=None`` for a token that sets it without counting (SoftHSM2).
    """
    if flags & TokenFlag.USER_PIN_LOCKED:
        return 0
    if flags & TokenFlag.USER_PIN_FINAL_TRY:
        return 1
    if flags & TokenFlag.USER_PIN_COUNT_LOW and max_tries is not None:
        return max_tries - 1
    return None


# --- State ------------------------------------------------------------------------------


@dataclass(slots=True)
class CardState:
    """What a card remembers between logins; a plain dict in the store."""

    pin: str
    puk: str
    pin_tries_left: int = PIN_TRIES
    puk_tries_left: int = PUK_TRIES
    opposed_at: float | None = None  # epoch seconds on the mock clock; the token ignores it

    @classmethod
    def declared(cls, card: Card) -> CardState:
        """A card as ``credentials.yaml`` declares it.

        ``locked``: no PIN try left; ``opposed``: opposed since the PKI's epoch, so that
        every CRL the mock issues lists it.
        """
        return cls(
            card.pin,
            card.puk,
            pin_tries_left=0 if card.status == "locked" else PIN_TRIES,
            opposed_at=PKI_EPOCH.timestamp() if card.status == "opposed" else None,
        )

    @property
    def locked(self) -> bool:
        return self.pin_tries_left == 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CardState:
        return cls(**data)


class CardStateStore(Protocol):
    """Where card states live, one dict per card serial (the server's SQLite store)."""

    def get(self, serial: str) -> dict[str, Any] | None: ...

    def put(self, serial: str, state: dict[str, Any]) -> None: ...


class MemoryCardStateStore:
    """A :class:`CardStateStore` in a dict, for tests and throwaway use."""

    def __init__(self) -> None:
        self._states: dict[str, dict[str, Any]] = {}

    def get(self, serial: str) -> dict[str, Any] | None:
        state = self._states.get(serial)
        return dict(state) if state is not None else None

    def put(self, serial: str, state: dict[str, Any]) -> None:
        self._states[serial] = dict(state)


# --- Objects ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CardObject:
    """One PKCS#11 object: its class, CKA_LABEL, CKA_ID, CKA_PRIVATE and CKA_VALUE.

    ``value`` is the DER certificate or the data object's content, empty for keys; keys
    are in ``key`` (a private key never leaves the token: :meth:`SoftCard.get_object`
    returns private keys without it).
    """

    object_class: ObjectClass
    label: str
    id: bytes
    private: bool
    value: bytes = b""
    application: str = ""
    key: rsa.RSAPrivateKey | rsa.RSAPublicKey | None = field(
        default=None, repr=False, compare=False
    )


def card_objects(material: CardMaterial) -> tuple[CardObject, ...]:
    """The objects of a CPS3, in the order a listing shows them.

    Certificate, public key and private key of a pair share one CKA_ID, which is how
    CryptoLib's users go from a certificate (found by label) to its key.
    """
    objects: list[CardObject] = []
    pairs = (
        (AUTH_CERT_LABEL, AUTH_KEY_LABEL, AUTH_KEY_ID, material.authentication),
        (SIGN_CERT_LABEL, SIGN_KEY_LABEL, SIGN_KEY_ID, material.signature),
    )
    for cert_label, _, key_id, pair in pairs:
        der = pair.certificate.public_bytes(serialization.Encoding.DER)
        objects.append(CardObject(ObjectClass.CERTIFICATE, cert_label, key_id, False, der))
    for cert_label, _, key_id, pair in pairs:
        public = pair.key.public_key()
        objects.append(CardObject(ObjectClass.PUBLIC_KEY, cert_label, key_id, False, key=public))
    for _, key_label, key_id, pair in pairs:
        objects.append(CardObject(ObjectClass.PRIVATE_KEY, key_label, key_id, True, key=pair.key))
    for label, private, content in _data_objects(material):
        objects.append(
            CardObject(ObjectClass.DATA, label, b"", private, content, PKCS15_APPLICATION)
        )
    return tuple(objects)


def _data_objects(material: CardMaterial) -> list[tuple[str, bool, bytes]]:
    """CPS_ID_CARD and CPS_NAME_PS (public), CPS_ACTIVITY_01_PS (PIN): our DER layout.

    ID_CARD: SEQUENCE {INTEGER type (TRE_G02), PrintableString "8025000001/<serial>",
    PrintableString not-after YYYYMMDD}; NAME_PS: SEQUENCE {UTF8 idNat, UTF8 family name,
    UTF8 given name}; ACTIVITY_01_PS: SEQUENCE {UTF8 profession code, UTF8 title,
    UTF8 organisation name, UTF8 organisation id}.
    """
    holder = material.holder

    def sequence(*items: bytes) -> bytes:
        return der_tlv(TAG_SEQUENCE, b"".join(items))

    def text(value: str) -> bytes:
        return der_tlv(TAG_UTF8_STRING, value.encode())

    def printable(value: str) -> bytes:
        return der_tlv(TAG_PRINTABLE_STRING, value.encode("ascii"))

    return [
        (
            "CPS_ID_CARD",
            False,
            sequence(
                der_integer(material.card_type),
                printable(f"{CARD_SERIAL_PREFIX}/{material.serial}"),
                printable(material.not_after.strftime("%Y%m%d")),
            ),
        ),
        (
            "CPS_NAME_PS",
            False,
            sequence(text(holder.id_nat), text(holder.family_name), text(holder.given_name)),
        ),
        (
            "CPS_ACTIVITY_01_PS",
            True,
            sequence(
                text(holder.profession_code),
                text(holder.profession_label),
                text(holder.organisation_name),
                text(holder.organisation_id),
            ),
        ),
    ]


# --- The token --------------------------------------------------------------------------

_HASHES: dict[Mechanism, hashes.HashAlgorithm] = {
    Mechanism.SHA1_RSA_PKCS: hashes.SHA1(),
    Mechanism.SHA256_RSA_PKCS: hashes.SHA256(),
}


class SoftCard:
    """One CPS in one simulated reader slot."""

    def __init__(self, material: CardMaterial, store: CardStateStore, initial: CardState) -> None:
        """``initial`` is the card as the fixtures declare it, used until the store has one."""
        self.material = material
        self.serial = material.serial
        self._store = store
        self._initial = initial
        self._objects = card_objects(material)
        self._sessions: dict[int, bool] = {}  # handle -> read-write
        self._handles = itertools.count(1)
        self._user: UserType | None = None  # login state is the token's, shared by sessions

    # Information

    def get_info(self) -> LibraryInfo:
        return LIBRARY_INFO

    def get_slot_info(self) -> SlotInfo:
        flags = SlotFlag.TOKEN_PRESENT | SlotFlag.REMOVABLE_DEVICE | SlotFlag.HW_SLOT
        return SlotInfo(SLOT_DESCRIPTION, "", flags)

    def get_token_info(self) -> TokenInfo:
        state = self.state
        flags = (
            TokenFlag.LOGIN_REQUIRED
            | TokenFlag.USER_PIN_INITIALIZED
            | TokenFlag.TOKEN_INITIALIZED
            | pin_flags(state.pin_tries_left, PIN_TRIES)
            | pin_flags(state.puk_tries_left, PUK_TRIES, so=True)
        )
        return TokenInfo(
            label=token_label(self.material),
            manufacturer_id=TOKEN_MANUFACTURER,
            model=TOKEN_MODEL,
            serial_number=token_serial_number(self.serial),
            flags=flags,
        )

    @property
    def state(self) -> CardState:
        stored = self._store.get(self.serial)
        return CardState.from_dict(stored) if stored is not None else replace(self._initial)

    # Sessions

    def open_session(self, *, read_write: bool = False) -> int:
        handle = next(self._handles)
        self._sessions[handle] = read_write
        return handle

    def close_session(self, session: int) -> None:
        """Close one session; closing the last one logs out, as PKCS#11 says."""
        self._check(session)
        del self._sessions[session]
        if not self._sessions:
            self._user = None

    def get_session_state(self, session: int) -> SessionState:
        read_write = self._check(session)
        if self._user is UserType.SO:
            return SessionState.RW_SO
        if self._user is UserType.USER:
            return SessionState.RW_USER if read_write else SessionState.RO_USER
        return SessionState.RW_PUBLIC if read_write else SessionState.RO_PUBLIC

    # Login

    def login(self, session: int, user_type: UserType | int, pin: str) -> None:
        """C_Login: the PIN as USER, the PUK as SO (read-write session only).

        A wrong code costs a try and says how many remain; the last one locks
        (``CKR_PIN_LOCKED``), and a locked code is refused without being compared. A
        code of the wrong length is refused before it reaches the card, free of charge.
        """
        read_write = self._check(session)
        try:
            user_type = UserType(user_type)
        except ValueError:
            raise Pkcs11Error(CKR.USER_TYPE_INVALID, f"user type {user_type}") from None
        if self._user == user_type:
            raise Pkcs11Error(CKR.USER_ALREADY_LOGGED_IN)
        if self._user is not None:
            raise Pkcs11Error(CKR.USER_ANOTHER_ALREADY_LOGGED_IN)
        if user_type is UserType.SO and not read_write:
            raise Pkcs11Error(CKR.SESSION_READ_ONLY, "the SO logs in on a read-write session")
        so = user_type is UserType.SO
        _check_format(pin, PUK_LENGTH if so else PIN_LENGTH)
        with self._state() as state:
            tries = state.puk_tries_left if so else state.pin_tries_left
            if tries == 0:
                raise Pkcs11Error(
                    CKR.PIN_LOCKED, "PUK blocked" if so else "PIN blocked", tries_left=0
                )
            if not hmac.compare_digest(pin.encode(), (state.puk if so else state.pin).encode()):
                tries -= 1
                _set_tries(state, so, tries)
                if tries == 0:
                    raise Pkcs11Error(CKR.PIN_LOCKED, "last try used", tries_left=0)
                raise Pkcs11Error(CKR.PIN_INCORRECT, f"{tries} tries left", tries_left=tries)
            _set_tries(state, so, PUK_TRIES if so else PIN_TRIES)
        self._user = user_type

    def logout(self, session: int) -> None:
        self._check(session)
        if self._user is None:
            raise Pkcs11Error(CKR.USER_NOT_LOGGED_IN)
        self._user = None

    def set_pin(self, session: int, old_pin: str, new_pin: str) -> None:
        """C_SetPIN on a read-write session.

        Logged in as SO (after the PUK), it sets a new user PIN and unblocks it, which
        is how CryptoLib unblocks a CPS; ``old_pin`` is then ignored. Otherwise it changes
        the user PIN, the old one being checked (and counted) as a login would.
        """
        if not self._check(session):
            raise Pkcs11Error(CKR.SESSION_READ_ONLY)
        _check_format(new_pin, PIN_LENGTH)
        if self._user is not UserType.SO:
            self._verify_user_pin(session, old_pin)
        with self._state() as state:
            state.pin = new_pin
            state.pin_tries_left = PIN_TRIES

    def _verify_user_pin(self, session: int, pin: str) -> None:
        """Check the user PIN with a login's counting, keeping the current login state."""
        current, self._user = self._user, None
        try:
            self.login(session, UserType.USER, pin)
        finally:
            self._user = current

    # Objects

    def find_objects(
        self,
        session: int,
        *,
        object_class: ObjectClass | None = None,
        label: str | None = None,
        id: bytes | None = None,
    ) -> list[int]:
        """C_FindObjects: handles of the visible objects matching every given attribute."""
        self._check(session)
        return [
            handle
            for handle, obj in self._visible()
            if (object_class is None or obj.object_class == object_class)
            and (label is None or obj.label == label)
            and (id is None or obj.id == id)
        ]

    def get_object(self, session: int, handle: int) -> CardObject:
        """C_GetAttributeValue, all at once; a private key comes without its key."""
        self._check(session)
        obj = dict(self._visible()).get(handle)
        if obj is None:
            raise Pkcs11Error(CKR.OBJECT_HANDLE_INVALID, f"handle {handle}")
        return replace(obj, key=None) if obj.object_class is ObjectClass.PRIVATE_KEY else obj

    def sign(self, session: int, key: int, mechanism: Mechanism | int, data: bytes) -> bytes:
        """C_SignInit + C_Sign with a private key, once the user is logged in."""
        self._check(session)
        if self._user is not UserType.USER:
            raise Pkcs11Error(CKR.USER_NOT_LOGGED_IN, "sign needs the PIN")
        obj = dict(self._visible()).get(key)
        if obj is None or obj.object_class is not ObjectClass.PRIVATE_KEY:
            raise Pkcs11Error(CKR.KEY_HANDLE_INVALID, f"handle {key}")
        assert isinstance(obj.key, rsa.RSAPrivateKey)
        if mechanism == Mechanism.RSA_PKCS:
            return _sign_raw_pkcs1(obj.key, data)
        if mechanism not in _HASHES:
            raise Pkcs11Error(CKR.MECHANISM_INVALID, f"mechanism 0x{mechanism:x}")
        return obj.key.sign(data, padding.PKCS1v15(), _HASHES[Mechanism(mechanism)])

    # Helpers

    def _check(self, session: int) -> bool:
        """Whether the session is read-write; CKR_SESSION_HANDLE_INVALID if unknown."""
        if session not in self._sessions:
            raise Pkcs11Error(CKR.SESSION_HANDLE_INVALID, f"session {session}")
        return self._sessions[session]

    def _visible(self) -> Iterator[tuple[int, CardObject]]:
        logged_in = self._user is UserType.USER
        for handle, obj in enumerate(self._objects, start=1):
            if logged_in or not obj.private:
                yield handle, obj

    @contextmanager
    def _state(self) -> Iterator[CardState]:
        """The stored state, written back even when the block raises (a try was spent)."""
        state = self.state
        try:
            yield state
        finally:
            self._store.put(self.serial, state.to_dict())


def _check_format(code: str, length: int) -> None:
    if len(code) != length:
        raise Pkcs11Error(CKR.PIN_LEN_RANGE, f"{length} digits expected")
    if not (code.isascii() and code.isdigit()):  # isdigit() takes full-width digits too
        raise Pkcs11Error(CKR.PIN_INVALID, "digits only")


def _set_tries(state: CardState, so: bool, tries: int) -> None:
    if so:
        state.puk_tries_left = tries
    else:
        state.pin_tries_left = tries


def _sign_raw_pkcs1(key: rsa.RSAPrivateKey, data: bytes) -> bytes:
    """CKM_RSA_PKCS: PKCS#1 v1.5 type 1 padding of ``data`` as given (a DigestInfo).

    cryptography only signs what it hashes (or a digest it wraps itself), so the raw
    operation is done here, with the CRT.
    """
    numbers = key.private_numbers()
    size = (numbers.public_numbers.n.bit_length() + 7) // 8
    if len(data) > size - 11:
        raise Pkcs11Error(CKR.DATA_LEN_RANGE, f"at most {size - 11} bytes")
    block = b"\x00\x01" + b"\xff" * (size - 3 - len(data)) + b"\x00" + data
    message = int.from_bytes(block, "big")
    m1 = pow(message, numbers.dmp1, numbers.p)
    m2 = pow(message, numbers.dmq1, numbers.q)
    signature = m2 + numbers.q * ((numbers.iqmp * (m1 - m2)) % numbers.p)
    return signature.to_bytes(size, "big")
