"""A live mock on a free port, shared by the integration tests, driven over real HTTP."""

from __future__ import annotations

import pytest
import requests

from idp.clock import Clock
from idp.context import EXTENSION
from idp.server import MockServer
from idp.settings import Settings

CI_CLIENT = ("psc-mock-ci", "psc-mock-ci-secret", "http://localhost:9999/callback")


@pytest.fixture(scope="session")
def mock_clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def mock_server(mock_clock: Clock):
    server = MockServer(Settings(port=0), clock=mock_clock).start_in_thread()
    yield server
    server.stop()


@pytest.fixture
def clock(mock_clock: Clock):
    """The live mock's clock; any freeze or advance is undone after the test."""
    yield mock_clock
    mock_clock.reset()


@pytest.fixture(scope="session")
def base_url(mock_server: MockServer) -> str:
    return mock_server.settings.effective_public_url


@pytest.fixture(scope="session")
def issuer(mock_server: MockServer) -> str:
    return mock_server.settings.issuer


@pytest.fixture(scope="session")
def discovery(issuer: str) -> dict:
    response = requests.get(issuer + "/.well-known/wallet-openid-configuration", timeout=5)
    response.raise_for_status()
    return response.json()


@pytest.fixture
def start_server():
    """Start extra servers with other settings; all are stopped after the test."""
    started: list[MockServer] = []

    def start(**settings) -> MockServer:
        server = MockServer(Settings(port=0, **settings)).start_in_thread()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def own_server():
    """A mock of the module's own: its tests change state the shared one must not see."""
    server = MockServer(Settings(port=0)).start_in_thread()
    yield server
    server.stop()


@pytest.fixture
def own_url(own_server) -> str:
    """The module's own mock, put back to its fixtures after each test."""
    url = own_server.settings.effective_public_url
    yield url
    requests.post(url + "/_mock/reset", json={}, timeout=5).raise_for_status()


@pytest.fixture(scope="module")
def tls_server():
    """A mock with its HTTPS listener on a free port and a clock of its own."""
    server = MockServer(Settings(port=0, tls_port=0), clock=Clock()).start_in_thread()
    yield server
    server.stop()


@pytest.fixture
def cards(mock_server):
    """The live mock's card service (software cards, their state, CRLs)."""
    return mock_server.app.extensions[EXTENSION].cards


@pytest.fixture
def reset_cards(cards):
    """Serials listed here get their declared state back after the test."""
    touched: list[str] = []
    yield touched
    for serial in touched:
        cards.reset(serial)
