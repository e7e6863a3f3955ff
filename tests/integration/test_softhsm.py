"""A card in SoftHSM2 looks like a CPS to pkcs11-tool and signs in through python-pkcs11.

Needs Debian's ``softhsm2`` (and ``opensc`` for pkcs11-tool) and PyPI's ``python-pkcs11``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from idp.app import BUNDLED_FIXTURES
from idp.card.backend import Pkcs11Backend
from idp.card.pki import CardMaterial, TestPki
from idp.card.softhsm import SOFTHSM_MODULE, SOFTHSM_UTIL, SoftHsm
from idp.card.token import AUTH_KEY_ID, SIGN_KEY_ID, Pkcs11Error

pytest.importorskip("pkcs11", reason="python-pkcs11 is not installed (pip install python-pkcs11)")
pytestmark = pytest.mark.skipif(
    not (Path(SOFTHSM_MODULE).exists() and shutil.which(SOFTHSM_UTIL)),
    reason=f"SoftHSM2 is not installed ({SOFTHSM_MODULE}; Debian: apt-get install softhsm2)",
)
needs_pkcs11_tool = pytest.mark.skipif(
    not shutil.which("pkcs11-tool"), reason="pkcs11-tool is not installed (Debian: opensc)"
)

PIN, PUK = "1234", "12345678"
SERIAL = "2800100243"


@pytest.fixture(scope="module")
def material() -> CardMaterial:
    return TestPki.load(BUNDLED_FIXTURES / "pki").card(SERIAL)


@pytest.fixture(scope="module")
def hsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    before = os.environ.get("SOFTHSM2_CONF")
    yield SoftHsm(tmp_path_factory.mktemp("softhsm"))
    if before is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = before


@pytest.fixture(scope="module")
def label(hsm: SoftHsm, material: CardMaterial) -> str:
    return hsm.provision(material, PIN, PUK)


def pkcs11_tool(hsm: SoftHsm, *args: str) -> str:
    done = subprocess.run(
        ["pkcs11-tool", "--module", hsm.module, *args],
        env=hsm.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def objects(listing: str) -> list[tuple[str, str, str]]:
    """(kind, label, id) of each object of a ``pkcs11-tool -O`` listing."""
    found = []
    for block in re.split(r"\n(?=\S)", listing.strip()):
        kind = re.sub(r"[;\d].*", "", block.splitlines()[0]).strip()  # "Data object 6" too
        label = re.search(r"label:\s+(.*)", block)
        key_id = re.search(r"\bID:\s+([0-9a-f]+)", block)
        name = label.group(1).strip() if label else ""
        if len(name) > 1 and name[0] == name[-1] == "'":  # data object labels are quoted
            name = name[1:-1]
        found.append((kind, name, key_id.group(1) if key_id else ""))
    return found


@needs_pkcs11_tool
def test_pkcs11_tool_sees_a_cps_token(hsm: SoftHsm, label: str) -> None:
    listing = pkcs11_tool(hsm, "--list-token-slots")
    assert re.search(rf"token label\s+:\s+{re.escape(label)}\n", listing)
    assert label == f"CPS3 CPS {SERIAL}"


@needs_pkcs11_tool
def test_pkcs11_tool_lists_cryptolib_labels_and_ids(hsm: SoftHsm, label: str) -> None:
    auth, sign = AUTH_KEY_ID.hex(), SIGN_KEY_ID.hex()
    public = [
        ("Certificate Object", "Certificat d'Authentification CPS", auth),
        ("Certificate Object", "Certificat de Signature CPS", sign),
        ("Public Key Object", "Certificat d'Authentification CPS", auth),
        ("Public Key Object", "Certificat de Signature CPS", sign),
        ("Data object", "CPS_ID_CARD", ""),
        ("Data object", "CPS_NAME_PS", ""),
    ]
    without_pin = objects(pkcs11_tool(hsm, "--token-label", label, "--list-objects"))
    assert sorted(without_pin) == sorted(public)
    with_pin = objects(
        pkcs11_tool(hsm, "--token-label", label, "--login", "--pin", PIN, "--list-objects")
    )
    assert sorted(with_pin) == sorted(
        [
            *public,
            ("Private Key Object", "CPS_PRIV_AUT", auth),
            ("Private Key Object", "CPS_PRIV_SIG", sign),
            ("Data object", "CPS_ACTIVITY_01_PS", ""),
        ]
    )


@needs_pkcs11_tool
def test_pkcs11_tool_signs_with_the_pin_and_the_signature_verifies(
    hsm: SoftHsm, label: str, material: CardMaterial, tmp_path: Path
) -> None:
    challenge = tmp_path / "challenge.bin"
    challenge.write_bytes(b"psc-mock challenge")
    signature = tmp_path / "signature.bin"
    pkcs11_tool(
        hsm,
        *("--token-label", label, "--login", "--pin", PIN),
        *("--sign", "--mechanism", "SHA256-RSA-PKCS", "--id", AUTH_KEY_ID.hex()),
        *("--input-file", str(challenge), "--output-file", str(signature)),
    )
    material.authentication.certificate.public_key().verify(
        signature.read_bytes(), challenge.read_bytes(), padding.PKCS1v15(), hashes.SHA256()
    )


def test_sign_in_through_the_python_pkcs11_backend(
    hsm: SoftHsm, label: str, material: CardMaterial
) -> None:
    answer = hsm.backend(label).authenticate(PIN, b"nonce-42")
    assert answer.certificate == material.authentication.certificate
    answer.certificate.public_key().verify(
        answer.signature, b"nonce-42", padding.PKCS1v15(), hashes.SHA256()
    )
    pki = TestPki.load(BUNDLED_FIXTURES / "pki")
    assert pki.verify_chain(answer.certificate, datetime.now(UTC)).ok


def test_a_wrong_pin_is_refused_without_a_count(hsm: SoftHsm, label: str) -> None:
    with pytest.raises(Pkcs11Error, match=r"^CKR_PIN_INCORRECT") as failure:
        hsm.backend(label).authenticate("9999", b"nonce")
    assert failure.value.tries_left is None  # SoftHSM2 does not count down
    hsm.backend(label).authenticate(PIN, b"nonce")  # and never locks


def test_provisioning_again_replaces_the_token(hsm: SoftHsm) -> None:
    other = TestPki.load(BUNDLED_FIXTURES / "pki").card("2600000001")  # a CPE
    label = hsm.provision(other, PIN, PUK)
    assert hsm.provision(other, "4321", PUK) == label == "CPS3 CPE 2600000001"
    hsm.backend(label).authenticate("4321", b"nonce")
    with pytest.raises(Pkcs11Error, match=r"^CKR_PIN_INCORRECT"):
        hsm.backend(label).authenticate(PIN, b"nonce")


def test_an_absent_token_is_named(hsm: SoftHsm) -> None:
    with pytest.raises(Pkcs11Error, match=r"^CKR_TOKEN_NOT_PRESENT"):
        Pkcs11Backend(hsm.module, "CPS3 CPS 0000000000").authenticate(PIN, b"nonce")


def test_a_token_without_a_cps_certificate_is_not_recognized(hsm: SoftHsm) -> None:
    subprocess.run(
        [SOFTHSM_UTIL, "--init-token", "--free", "--label", "EMPTY", "--so-pin", PUK, "--pin", PIN],
        env=hsm.env,
        capture_output=True,
        check=True,
    )
    with pytest.raises(Pkcs11Error, match=r"^CKR_TOKEN_NOT_RECOGNIZED"):
        hsm.backend("EMPTY").authenticate(PIN, b"nonce")  # made by another process
