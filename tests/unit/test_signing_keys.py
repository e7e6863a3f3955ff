"""Signing keys read from PEM: the bundled key, and what is refused with a clear reason."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jwt
from joserfc.jwk import RSAKey

from idp.app import BUNDLED_FIXTURES
from idp.oidc.keys import KeySet, SigningKey

PEM = serialization.Encoding.PEM
PKCS8 = serialization.PrivateFormat.PKCS8
PLAIN = serialization.NoEncryption()


def test_the_bundled_key_signs_tokens_its_public_jwk_verifies() -> None:
    key = KeySet.from_directory(BUNDLED_FIXTURES / "keys").current
    token = jwt.encode({"alg": "RS256", "kid": key.kid}, {"sub": "x"}, key.key)
    public = RSAKey.import_key(key.public_jwk())
    assert jwt.decode(token, public).claims == {"sub": "x"}
    assert key.kid == public.thumbprint()


def test_a_generated_rsa_key_is_read() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = SigningKey.from_pem(private.private_bytes(PEM, PKCS8, PLAIN))
    assert key.key.is_private and key.kid


def _corrupt_rsa_pem() -> bytes:
    """An RSA key whose private exponents do not match its modulus (both: OpenSSL checks a
    CRT signature and falls back on ``d``)."""
    numbers = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_numbers()
    broken = rsa.RSAPrivateNumbers(
        numbers.p,
        numbers.q,
        numbers.d + 2,
        numbers.dmp1 + 2,
        numbers.dmq1,
        numbers.iqmp,
        numbers.public_numbers,
    )
    private = broken.private_key(unsafe_skip_rsa_key_validation=True)
    return private.private_bytes(PEM, PKCS8, PLAIN)


@pytest.mark.parametrize(
    ("pem", "says"),
    [
        (b"not a key", "Unable to load PEM"),
        (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            .public_key()
            .public_bytes(PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
            None,
        ),
        (ec.generate_private_key(ec.SECP256R1()).private_bytes(PEM, PKCS8, PLAIN), "not an RSA"),
        (_corrupt_rsa_pem(), "corrupt"),
    ],
    ids=["garbage", "public-key", "ec-key", "corrupt-rsa"],
)
def test_what_is_not_a_working_rsa_private_key_is_refused(pem: bytes, says: str | None) -> None:
    with pytest.raises(ValueError, match=says):
        SigningKey.from_pem(pem)
