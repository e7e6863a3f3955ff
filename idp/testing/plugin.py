"""The pytest plugin (entry point ``pytest11``), loaded by every pytest run in the
environment: it imports nothing heavy until its fixture is used."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

REALM_PATH = "/auth/realms/esante-wallet"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("psc-mock")
    group.addoption(
        "--psc-mock-url",
        default=None,
        help="use the psc-mock running at this URL (e.g. a CI service container) "
        "instead of starting one in-process",
    )


@dataclass(frozen=True)
class PscMock:
    """Where the mock is: its public URL, issuer and PSC's discovery URL."""

    url: str

    @property
    def issuer(self) -> str:
        return self.url.rstrip("/") + REALM_PATH

    @property
    def discovery_url(self) -> str:
        return self.issuer + "/.well-known/wallet-openid-configuration"


@pytest.fixture(scope="session")
def psc_mock(request: pytest.FixtureRequest):
    """A running psc-mock for the whole session."""
    external = request.config.getoption("--psc-mock-url")
    if external:
        yield PscMock(external)
        return
    from idp.server import MockServer
    from idp.settings import Settings

    server = MockServer(Settings(port=0)).start_in_thread()
    try:
        yield PscMock(server.settings.effective_public_url)
    finally:
        server.stop()
