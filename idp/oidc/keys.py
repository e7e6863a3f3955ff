"""Signing keys: the committed test key, its ``kid``, the published JWKS.

The ``kid`` is the key's RFC 7638 thumbprint, so it is stable across restarts and
machines (relying parties cache JWKS by ``kid``). These keys are public, in this
repository: tokens signed with them prove nothing outside a test.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from joserfc import jwt
from joserfc.jwk import RSAKey

ALGORITHM = "RS256"
SIGNING_KEYS = "signing-keys"  # the store's record of the keys after a rotation


@dataclass(frozen=True)
class SigningKey:
    key: RSAKey
    kid: str

    @classmethod
    def from_pem(cls, pem: bytes) -> SigningKey:
        """The key of a PEM file (ValueError if it is not an RSA private key that signs).

        OpenSSL's full RSA key check takes 36 ms, a tenth of the mock's start-up; these
        are the operator's own keys, not input from strangers, so one signature checked
        with the public half (0.3 ms) stands for it: it catches a corrupt key all the same.
        """
        private = serialization.load_pem_private_key(
            pem, password=None, unsafe_skip_rsa_key_validation=True
        )
        if not isinstance(private, rsa.RSAPrivateKey):
            raise ValueError("not an RSA private key")
        message, pkcs1, sha256 = b"psc-mock", padding.PKCS1v15(), hashes.SHA256()
        try:
            private.public_key().verify(
                private.sign(message, pkcs1, sha256), message, pkcs1, sha256
            )
        except InvalidSignature:
            raise ValueError("RSA key whose signatures do not verify: corrupt") from None
        key = RSAKey(private, pem)
        return cls(key=key, kid=key.thumbprint())

    def public_jwk(self) -> dict[str, Any]:
        jwk = self.key.as_dict(private=False)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": ALGORITHM}


class KeySet:
    """The keys the mock signs with; the first one is current."""

    def __init__(self, keys: list[SigningKey], *, now: Callable[[], float] = time.time) -> None:
        if not keys:
            raise ValueError("a key set needs at least one key")
        self._keys = list(keys)
        self._initial = list(keys)
        self._retired: dict[str, float] = {}  # kid -> when it leaves the JWKS
        self._lock = threading.Lock()
        self.now = now  # the mock clock, which decides when a retired key goes

    @classmethod
    def from_directory(cls, directory: Path) -> KeySet:
        paths = sorted(directory.glob("*.pem"))
        if not paths:
            raise FileNotFoundError(f"{directory}: no signing key (*.pem)")
        return cls([SigningKey.from_pem(path.read_bytes()) for path in paths])

    @property
    def current(self) -> SigningKey:
        return self._keys[0]

    def _live(self) -> list[SigningKey]:
        """The current key and the retired ones still within their retention."""
        now = self.now()
        keys = list(self._keys)
        return [key for key in keys if self._retired.get(key.kid, now + 1) > now]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk() for key in self._live()]}

    def rotate(self, retention: float, new: SigningKey | None = None) -> SigningKey:
        """A new current key (a fresh RSA 2048 key unless given); the previous keys stay
        published for ``retention`` seconds, then leave the JWKS and stop verifying."""
        if new is None:
            new = SigningKey(key := RSAKey.generate_key(2048, private=True), key.thumbprint())
        with self._lock:
            until = self.now() + retention
            for key in self._keys:
                self._retired.setdefault(key.kid, until)
            self._retired.pop(new.kid, None)
            self._keys = [new, *(key for key in self._keys if key.kid != new.kid)]
        return new

    def describe(self) -> list[dict[str, Any]]:
        """Every key still published: kid, whether it signs, when it leaves the JWKS."""
        current = self.current.kid
        return [
            {
                "kid": key.kid,
                "current": key.kid == current,
                "retired_until": self._retired.get(key.kid),
            }
            for key in self._live()
        ]

    def snapshot(self) -> dict[str, Any]:
        """What a restart needs to sign and verify as before a rotation (kept in the store)."""
        with self._lock:
            pems = [key.key.as_pem(private=True).decode() for key in self._keys]
            return {"keys": pems, "retired": dict(self._retired)}

    def restore(self, snapshot: dict[str, Any]) -> None:
        with self._lock:
            self._keys = [SigningKey.from_pem(pem.encode()) for pem in snapshot["keys"]]
            self._retired = {kid: float(until) for kid, until in snapshot["retired"].items()}

    def reset(self) -> None:
        """Back to the keys loaded at start."""
        with self._lock:
            self._keys = list(self._initial)
            self._retired.clear()

    def sign(self, claims: dict[str, Any], *, typ: str = "JWT") -> str:
        key = self.current
        header = {"alg": ALGORITHM, "typ": typ, "kid": key.kid}
        return jwt.encode(header, claims, key.key, algorithms=[ALGORITHM])

    def verify(self, token: str) -> dict[str, Any] | None:
        """The claims of a token signed by one of our keys, or None (bad or foreign)."""
        for key in self._live():
            try:
                return dict(jwt.decode(token, key.key, algorithms=[ALGORITHM]).claims)
            except Exception:
                continue
        return None
