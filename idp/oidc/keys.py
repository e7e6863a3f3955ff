"""Signing keys: the committed test key, its ``kid``, the published JWKS.

The ``kid`` is the key's RFC 7638 thumbprint, so it is stable across restarts and
machines (relying parties cache JWKS by ``kid``). These keys are public, in this
repository: tokens signed with them prove nothing outside a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

ALGORITHM = "RS256"


@dataclass(frozen=True)
class SigningKey:
    key: RSAKey
    kid: str

    @classmethod
    def from_pem(cls, pem: bytes) -> SigningKey:
        key = RSAKey.import_key(pem)
        return cls(key=key, kid=key.thumbprint())

    def public_jwk(self) -> dict[str, Any]:
        jwk = self.key.as_dict(private=False)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": ALGORITHM}


class KeySet:
    """The keys the mock signs with; the first one is current."""

    def __init__(self, keys: list[SigningKey]) -> None:
        if not keys:
            raise ValueError("a key set needs at least one key")
        self._keys = list(keys)

    @classmethod
    def from_directory(cls, directory: Path) -> KeySet:
        paths = sorted(directory.glob("*.pem"))
        if not paths:
            raise FileNotFoundError(f"{directory}: no signing key (*.pem)")
        return cls([SigningKey.from_pem(path.read_bytes()) for path in paths])

    @property
    def current(self) -> SigningKey:
        return self._keys[0]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk() for key in self._keys]}

    def sign(self, claims: dict[str, Any], *, typ: str = "JWT") -> str:
        key = self.current
        header = {"alg": ALGORITHM, "typ": typ, "kid": key.kid}
        return jwt.encode(header, claims, key.key, algorithms=[ALGORITHM])

    def verify(self, token: str) -> dict[str, Any] | None:
        """The claims of a token signed by one of our keys, or None (bad or foreign)."""
        for key in self._keys:
            try:
                return dict(jwt.decode(token, key.key, algorithms=[ALGORITHM]).claims)
            except Exception:
                continue
        return None
