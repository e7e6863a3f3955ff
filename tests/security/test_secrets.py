"""Secrets stay secret: compared in constant time, drawn with enough entropy to be
unguessable, and never written to the server's log or the request log."""

from __future__ import annotations

import ast
import logging
import re
import string
from pathlib import Path

import pytest
import requests

from idp.server import MockServer
from idp.settings import Settings
from tests.card_browser import CardBrowser
from tests.conftest import CI_CLIENT
from tests.fixture_people import auto_medecin
from tests.integration.test_card_login import CARD_OK
from tests.integration.test_ciba import CIBA_CLIENT, Ciba
from tests.oidc_client import Callback, RelyingParty, follow_to_callback
from tests.session_client import SERVICE_CLIENT, client_credentials, introspect, refresh

IDP = Path(__file__).resolve().parents[2] / "idp"
SECRET_NAME = re.compile(r"(secret|password|passwd|\bpin\b|\bpuk\b|csrf|admin_token|api_key)")
BASE64URL = set(string.ascii_letters + string.digits + "-_")
SAMPLES = 300


def _secret_comparisons(tree: ast.AST, path: Path) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        if not any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
            continue
        sides = (node.left, *node.comparators)
        if any(isinstance(side, ast.Constant) or _is_constant_name(side) for side in sides):
            continue  # a sentinel ("none", OPEN), not a secret against a guess
        for side in sides:
            name = ast.unparse(side).lower()
            if isinstance(side, ast.Name | ast.Attribute | ast.Subscript) and SECRET_NAME.search(
                name
            ):
                found.append(f"{path.relative_to(IDP.parent)}:{node.lineno}: {ast.unparse(node)}")
    return found


def _is_constant_name(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id.isupper()


def test_no_secret_is_compared_with_equals():
    """A guard over the whole package: secrets go through ``hmac.compare_digest``."""
    offenders = []
    for path in IDP.rglob("*.py"):
        offenders += _secret_comparisons(ast.parse(path.read_text()), path)
    assert offenders == []


def test_the_guard_sees_a_plain_comparison():
    tree = ast.parse("if given_pin == state.pin: pass\nif x.client_secret != y: pass")
    assert len(_secret_comparisons(tree, IDP / "x.py")) == 2


def _login(rp: RelyingParty) -> tuple[dict, Callback]:
    url, secrets = rp.authorization_url(login_hint=auto_medecin().id_nat)
    callback = follow_to_callback(requests.Session(), url, rp.redirect_uri)
    return rp.fetch_token(callback, secrets["code_verifier"]), callback


def _looks_random(values: list[str], min_length: int) -> None:
    assert len(set(values)) == len(values), "a value came twice"
    assert all(len(value) >= min_length for value in values)
    assert all(set(value) <= BASE64URL for value in values)
    alphabet = set("".join(values))
    assert len(alphabet) > 55, "too few symbols: not uniform base64url"
    prefixes = {value[:6] for value in values}
    assert len(prefixes) > 0.98 * len(values), "values share prefixes: a counter or a clock?"


def test_codes_refresh_tokens_and_sessions_are_unguessable(discovery):
    rp = RelyingParty(discovery)
    codes, refresh_tokens, sessions = [], [], []
    for _ in range(SAMPLES):
        tokens, callback = _login(rp)
        codes.append(callback.params["code"])
        sessions.append(callback.params["session_state"])
        refresh_tokens.append(tokens["refresh_token"])
    _looks_random(codes, 43)  # 256 bits
    _looks_random(refresh_tokens, 43)
    assert len(set(sessions)) == SAMPLES and all(len(s) >= 32 for s in sessions)


def test_ciba_request_ids_are_unguessable(discovery):
    ciba = Ciba(discovery)
    ids = [ciba.started(auto_medecin().id_nat) for _ in range(SAMPLES)]
    _looks_random(ids, 43)


# --- logs --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def verbose_server():
    server = MockServer(Settings(port=0, log_level="DEBUG")).start_in_thread()
    yield server
    server.stop()


def test_secrets_and_pins_never_reach_the_logs(verbose_server, caplog):
    base = verbose_server.settings.effective_public_url
    discovery = requests.get(
        verbose_server.settings.issuer + "/.well-known/wallet-openid-configuration", timeout=5
    ).json()
    caplog.set_level(logging.DEBUG)
    rp = RelyingParty(discovery)
    tokens, callback = _login(rp)
    refreshed = refresh(discovery, tokens["refresh_token"]).json()
    introspect(discovery, tokens["access_token"], post=True)
    service = client_credentials(discovery).json()
    card = CardBrowser(discovery)
    card.login(CARD_OK[0], "1234")
    card.tokens()
    auth_req_id = Ciba(discovery).started(auto_medecin().id_nat)

    secrets = {
        "client secret": CI_CLIENT[1],
        "ciba client secret": CIBA_CLIENT[1],
        "service secret": SERVICE_CLIENT[1],
        "code": callback.params["code"],
        "access token": tokens["access_token"],
        "id token": tokens["id_token"],
        "refresh token": tokens["refresh_token"],
        "new refresh token": refreshed["refresh_token"],
        "service token": service["access_token"],
        "auth_req_id": auth_req_id,
        "card PIN": 'pin": "1234',
    }
    request_log = requests.get(base + "/_mock/requests", timeout=5).text
    server_log = "\n".join(record.getMessage() for record in caplog.records)
    assert "/token" in request_log and "/login-actions/card" in request_log  # it did record
    for what, value in secrets.items():
        assert value not in request_log, f"{what} in the request log"
        assert value not in server_log, f"{what} in the server log"
