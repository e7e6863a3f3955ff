"""Token tampering for the next tokens the mock issues: what a relying party must refuse
(expired, not yet valid, unknown key, wrong ``iss`` or ``aud``) or cope with (PSC's
``acr=eidas3`` bug, the other ``sub`` form, missing claims).

Set through ``PUT /_mock/tampering``; applied where the token endpoint signs the access
token and the id_token of one response (one shot covers both)."""

from __future__ import annotations

import threading
import time
from typing import Any

from flask import g, has_request_context

from idp import claims as psc_claims
from idp.control.state import take_shot

TAMPER = "tamper"
KEY = "next"
KINDS = ("access_token", "id_token")
CHANGES = (
    "expired",
    "not_yet_valid",
    "unknown_key",
    "wrong_iss",
    "wrong_aud",
    "no_acr",
    "acr_eidas3",
    "sub_legacy",
    "sub_uuid",
)
WRONG_ISSUER = "https://wrong-issuer.invalid/auth/realms/esante-wallet"
WRONG_AUDIENCE = "another-client"
_foreign: list = []
_foreign_lock = threading.Lock()


def validate(body: dict[str, Any]) -> dict[str, Any]:
    """The stored form of a tampering request, or ValueError saying what is wrong."""
    known = {"change", "drop", "set", "tokens", "times"}
    unknown = set(body) - known
    if unknown:
        raise ValueError(
            f"unknown field(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})"
        )
    change = body.get("change", [])
    change = [change] if isinstance(change, str) else change
    if not isinstance(change, list) or any(item not in CHANGES for item in change):
        raise ValueError(f"'change' must list some of {', '.join(CHANGES)}")
    drop = body.get("drop", [])
    if not isinstance(drop, list) or not all(isinstance(name, str) for name in drop):
        raise ValueError("'drop' must be a list of claim names")
    values = body.get("set", {})
    if not isinstance(values, dict):
        raise ValueError("'set' must be an object: claim -> value")
    if not change and not drop and not values:
        raise ValueError("nothing to tamper with: give 'change', 'drop' and/or 'set'")
    tokens = body.get("tokens", list(KINDS))
    tokens = [tokens] if isinstance(tokens, str) else tokens
    if not isinstance(tokens, list) or not tokens or any(kind not in KINDS for kind in tokens):
        raise ValueError(f"'tokens' must list some of {', '.join(KINDS)}")
    times = body.get("times")
    if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 1):
        raise ValueError("'times' must be a positive integer (absent: until cleared)")
    return {"change": change, "drop": drop, "set": values, "tokens": tokens, "times": times}


def current(store) -> dict[str, Any] | None:
    """The tampering for this token response: taken once per request (access token and
    id_token of one response share it)."""
    if has_request_context() and "psc_mock_tamper" in g:
        return g.psc_mock_tamper
    result = take_shot(store, TAMPER, KEY)
    if has_request_context():
        g.psc_mock_tamper = result
    return result


def use_for_this_request(spec: dict[str, Any] | None) -> None:
    """Tamper with the tokens of the current request only (``POST /_mock/tokens``)."""
    g.psc_mock_tamper = spec


def sign(store, keys, kind: str, token_claims: dict[str, Any]) -> str:
    """Sign ``token_claims`` as the mock would, tampered if a tampering is set."""
    spec = current(store)
    if not spec or kind not in spec["tokens"]:
        return keys.sign(token_claims)
    changed = dict(token_claims)
    for name in spec["drop"]:
        changed.pop(name, None)
    changed.update(spec.get("set") or {})
    what = set(spec["change"])
    now = int(time.time())
    lifetime = max(int(changed.get("exp", now) - changed.get("iat", now)), 1)
    if "expired" in what:
        changed["iat"], changed["exp"] = now - lifetime - 60, now - 60
    if "not_yet_valid" in what:
        changed["iat"] = changed["nbf"] = now + 3600
        changed["exp"] = now + 3600 + lifetime
    if "wrong_iss" in what:
        changed["iss"] = WRONG_ISSUER
    if "wrong_aud" in what and kind == "id_token":
        changed["aud"] = WRONG_AUDIENCE
    if "no_acr" in what:
        changed.pop("acr", None)
    if "acr_eidas3" in what:
        changed["acr"] = "eidas3"
    id_nat = changed.get("SubjectNameID") or token_claims.get("SubjectNameID")
    for form, profile in (("legacy", "psc-2023"), ("uuid", "psc-2026")):
        if f"sub_{form}" in what and id_nat:
            changed["sub"] = psc_claims.subject(id_nat, profile)
    if "unknown_key" in what:
        return _foreign_keyset(keys).sign(changed)
    return keys.sign(changed)


def _foreign_keyset(keys):
    """A key the JWKS never lists (made once per process)."""
    with _foreign_lock:
        if not _foreign:
            from joserfc.jwk import RSAKey

            from idp.oidc.keys import KeySet, SigningKey

            key = RSAKey.generate_key(2048, private=True)
            _foreign.append(KeySet([SigningKey(key, key.thumbprint())]))
    return _foreign[0]
