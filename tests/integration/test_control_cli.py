"""``psc-mock ctl`` against a running mock, and the admin token ``serve`` prints."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
import requests

from idp.server import MockServer
from idp.settings import Settings
from tests.integration.test_cli import start_serving

PSC_MOCK = [sys.executable, "-m", "idp"]
pytest_plugins = ["pytester"]


@pytest.fixture
def mock_url(start_server) -> str:
    return start_server().settings.effective_public_url


def ctl(url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [*PSC_MOCK, "ctl", "--url", url, *args], capture_output=True, text=True, timeout=60
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_ctl_clock_scenario_fault_requests_reset(mock_url):
    frozen = json.loads(ctl(mock_url, "clock", "freeze").stdout)
    advanced = json.loads(ctl(mock_url, "clock", "advance", "30m").stdout)
    assert advanced["now"] == pytest.approx(frozen["now"] + 1800)
    scenario = json.loads(
        ctl(mock_url, "scenario", "899700100029", "--policy", "auto", "--drop", "acr").stdout
    )
    assert scenario["scenario"] == {"policy": "auto", "drop_claims": ["acr"]}
    ctl(mock_url, "fault", "certs", "--status", "503", "--times", "1")
    jwks = mock_url + "/auth/realms/esante-wallet/protocol/openid-connect/certs"
    assert requests.get(jwks, timeout=5).status_code == 503
    assert requests.get(jwks, timeout=5).status_code == 200
    listed = json.loads(ctl(mock_url, "requests", "--endpoint", "certs").stdout)
    assert [entry["status"] for entry in listed] == [503, 200]
    ctl(mock_url, "reset")
    shown = json.loads(ctl(mock_url, "scenario", "899700100029").stdout)
    assert shown["scenario"] is None and shown["effective"]["policy"] == "manual"
    assert json.loads(ctl(mock_url, "clock").stdout)["frozen"] is False


def test_ctl_errors_are_one_line(mock_url):
    bad = ctl(mock_url, "fault", "nowhere", "--status", "500", check=False)
    assert bad.returncode == 2 and "unknown endpoint" in bad.stderr
    assert "Traceback" not in bad.stderr
    gone = ctl("http://127.0.0.1:9", "reset", check=False)
    assert gone.returncode == 2 and "cannot reach" in gone.stderr


def test_serve_off_loopback_prints_a_generated_admin_token():
    process, _ = start_serving("--host", "0.0.0.0", env={"PSC_MOCK_ADMIN_TOKEN": ""})
    try:
        line = process.stdout.readline()
        assert line.split()[:2] == ["control", "API"], line
        token = line.split()[-1]
        assert len(token) >= 32
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_token_command_prints_a_signed_token_set(mock_url):
    import jwt

    offline = subprocess.run(
        [*PSC_MOCK, "token", "899700100011"], capture_output=True, text=True, timeout=60
    )
    assert offline.returncode == 0, offline.stderr
    token = json.loads(offline.stdout)
    jwks = requests.get(
        mock_url + "/auth/realms/esante-wallet/protocol/openid-connect/certs", timeout=5
    ).json()
    key = jwt.PyJWK(jwks["keys"][0]).key  # the fixture key: same kid in- and out-of-process
    claims = jwt.decode(token["access_token"], key, algorithms=["RS256"])
    assert claims["SubjectNameID"] == "899700100011"
    online = subprocess.run(
        [*PSC_MOCK, "token", "899700100029", "--url", mock_url, "--means", "CARD"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert online.returncode == 0, online.stderr
    assert "id_token" in json.loads(online.stdout)
    unknown = subprocess.run([*PSC_MOCK, "token", "12"], capture_output=True, text=True)
    assert unknown.returncode == 2 and "no professional 12" in unknown.stderr


@pytest.fixture
def exposed_mock():
    """A mock with an admin token, reached as if from another host: a trusted proxy on
    loopback forwards a remote peer's address, so the guard is tested over real HTTP
    without sending anything off this machine."""
    settings = Settings(port=0, trusted_proxies=["127.0.0.1"], admin_token="t0ken-for-ci")
    server = MockServer(settings).start_in_thread()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


REMOTE = {"X-Forwarded-For": "203.0.113.9"}


def test_guard_over_http_off_loopback(exposed_mock):
    clock = exposed_mock + "/_mock/clock"
    refused = requests.get(clock, headers=REMOTE, timeout=5)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = requests.get(clock, headers={**REMOTE, "Authorization": "Bearer t0ken"}, timeout=5)
    assert wrong.status_code == 401
    good = {**REMOTE, "Authorization": "Bearer t0ken-for-ci"}
    assert requests.get(clock, headers=good, timeout=5).status_code == 200
    form = requests.post(clock, data={"action": "freeze"}, headers=good, timeout=5)
    assert form.status_code == 415
    rebound = requests.get(clock, headers={**good, "Host": "attacker.example"}, timeout=5)
    assert rebound.status_code == 403
    assert requests.get(exposed_mock + "/_mock/health/ready", timeout=5).status_code == 200
    assert ctl(exposed_mock, "--token", "t0ken-for-ci", "reset").returncode == 0


def test_plugin_with_an_external_instance_and_its_token(pytester, exposed_mock):
    pytester.makepyfile(
        """
        def test_external(psc_mock):
            assert psc_mock.requests.list() == []
            assert psc_mock.login("899700100011")["token_type"] == "Bearer"
        """
    )
    result = pytester.runpytest_subprocess(
        f"--psc-mock-url={exposed_mock}", "--psc-mock-token=t0ken-for-ci"
    )
    result.assert_outcomes(passed=1)
