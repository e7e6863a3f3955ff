"""Who may use the control API when the mock is published behind a reverse proxy on the
same host: every client then reaches it from loopback, so loopback alone proves nothing.
Over real HTTP against live mocks."""

from __future__ import annotations

import signal

import pytest
import requests

from idp.context import EXTENSION
from tests.integration.test_cli import start_serving

PUBLIC = "https://psc-demo.example"
ISSUE = {"id_nat": "899700100029", "client_id": "psc-mock-demo"}
# What nginx or Caddy in front of the mock sends: the public Host, the client's address.
PROXIED = {"Host": "psc-demo.example", "X-Forwarded-For": "203.0.113.7"}


def issue(server, headers: dict[str, str]) -> requests.Response:
    return requests.post(
        f"http://127.0.0.1:{server.port}/_mock/tokens", json=ISSUE, headers=headers, timeout=5
    )


def admin_token(server) -> str:
    return server.app.extensions[EXTENSION].control.admin_token


def test_a_published_mock_asks_every_peer_for_the_token(start_server):
    server = start_server(public_url=PUBLIC)
    assert issue(server, PROXIED).status_code == 401
    bare_proxy = {"Host": "psc-demo.example"}  # nginx's proxy_pass adds no X-Forwarded-For
    assert issue(server, bare_proxy).status_code == 401
    assert issue(server, {}).status_code == 401  # Host 127.0.0.1: this machine, still asked
    token = admin_token(server)
    assert len(token) >= 32
    granted = issue(server, {**PROXIED, "Authorization": f"Bearer {token}"})
    assert granted.status_code == 200 and granted.json()["access_token"]
    health = requests.get(f"http://127.0.0.1:{server.port}/_mock/health/ready", timeout=5)
    assert health.status_code == 200


def test_a_published_mock_keeps_a_configured_token_and_honours_none(start_server):
    configured = start_server(public_url=PUBLIC, admin_token="t0ken-for-the-demo")
    assert issue(configured, PROXIED).status_code == 401
    allowed = issue(configured, {**PROXIED, "Authorization": "Bearer t0ken-for-the-demo"})
    assert allowed.status_code == 200
    opened = start_server(public_url=PUBLIC, admin_token="none")
    assert issue(opened, PROXIED).status_code == 200


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_prints_the_token_of_a_published_mock(workers):
    """With --workers, the parent makes the one token they all ask (each made its own,
    none printed: the API was locked for good)."""
    process, _ = start_serving(
        "--public-url", PUBLIC, "--workers", workers, env={"PSC_MOCK_ADMIN_TOKEN": ""}
    )
    process.send_signal(signal.SIGTERM)  # then read the rest: a missing line cannot hang
    assert process.wait(timeout=10) == 0
    rest = process.stdout.read()
    lines = [line.split() for line in rest.splitlines()]
    tokens = [words[-1] for words in lines if words[:3] == ["control", "API", "token"]]
    assert len(tokens) == 1 and len(tokens[0]) >= 32, rest


@pytest.mark.parametrize(
    "forwarded",
    [{"X-Forwarded-For": "203.0.113.7"}, {"Forwarded": "for=203.0.113.7;proto=https"}],
    ids=["x-forwarded-for", "forwarded"],
)
def test_a_forwarded_request_from_an_untrusted_peer_is_not_local(start_server, forwarded):
    server = start_server()  # loopback, public URL on localhost: no token exists
    assert issue(server, {}).status_code == 200
    refused = issue(server, forwarded)
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"


def test_a_trusted_proxy_decides_who_the_client_is(start_server):
    server = start_server(trusted_proxies=["127.0.0.1"], admin_token="t0ken")
    assert issue(server, {"X-Forwarded-For": "127.0.0.1"}).status_code == 200
    assert issue(server, {"X-Forwarded-For": "203.0.113.7"}).status_code == 401
    only_rfc7239 = {"Forwarded": "for=203.0.113.7"}  # ProxyFix reads X-Forwarded-For only
    assert issue(server, only_rfc7239).status_code == 401
