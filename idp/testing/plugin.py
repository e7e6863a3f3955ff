"""The pytest plugin (entry point ``pytest11``), loaded by every pytest run in the
environment: it imports nothing heavy until its fixture is used (the client below is
standard library only)."""

from __future__ import annotations

import os

import pytest

from idp.testing.client import REALM_PATH, PscMockClient

__all__ = ["REALM_PATH", "PscMock"]

PscMock = PscMockClient  # what the fixtures yield


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("psc-mock")
    group.addoption(
        "--psc-mock-url",
        default=None,
        help="use the psc-mock running at this URL (e.g. a CI service container) "
        "instead of starting one in-process",
    )
    group.addoption(
        "--psc-mock-token",
        default=None,
        help="admin token of that instance's control API when it is not on loopback "
        "(default: $PSC_MOCK_ADMIN_TOKEN)",
    )


@pytest.fixture(scope="session")
def psc_mock_session(request: pytest.FixtureRequest):
    """A running psc-mock for the whole session, never reset (see ``psc_mock``)."""
    external = request.config.getoption("--psc-mock-url")
    if external:
        token = request.config.getoption("--psc-mock-token") or os.environ.get(
            "PSC_MOCK_ADMIN_TOKEN"
        )
        yield PscMockClient(external, token)
        return
    from idp.server import MockServer
    from idp.settings import Settings

    server = MockServer(Settings(port=0)).start_in_thread()
    try:
        yield PscMockClient(server.settings.effective_public_url)
    finally:
        server.stop()


@pytest.fixture
def psc_mock(psc_mock_session: PscMockClient) -> PscMockClient:
    """The mock, reset to its fixtures before the test: ``url``, ``issuer``,
    ``discovery_url``, ``login()``, ``scenario()``, ``fault()``, ``requests``,
    ``control`` (clock, keys…)."""
    psc_mock_session.reset()
    return psc_mock_session
