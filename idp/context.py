"""The services one app instance owns, reachable from any view through :func:`services`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app

from idp.auth.card import Cards
from idp.auth.ecps import Approvals
from idp.clock import Clock
from idp.control.edits import RuntimeDirectory
from idp.control.state import ControlState
from idp.control.sync import Generation
from idp.directory.index import Directory
from idp.mockdata import MockData
from idp.oidc.keys import KeySet
from idp.oidc.logins import Logins
from idp.oidc.server import PscAuthorizationServer
from idp.oidc.sessions import Sessions
from idp.settings import Settings
from idp.store import Store

EXTENSION = "psc_mock"


@dataclass
class Services:
    settings: Settings
    fixtures: Path
    clock: Clock
    store: Store
    directory: Directory
    mockdata: MockData
    keys: KeySet
    sessions: Sessions
    approvals: Approvals
    logins: Logins
    server: PscAuthorizationServer
    control: ControlState = field(default_factory=lambda: ControlState(admin_token=""))
    card_service: Callable[[], Cards | None] = lambda: None  # builds :attr:`cards`
    edits: RuntimeDirectory | None = None  # the control API's directory edits
    generation: Generation = field(default_factory=Generation)  # --workers: shared state

    @functools.cached_property
    def cards(self) -> Cards | None:
        """The card service, None when the fixtures have no ``pki/`` folder; built when
        first asked for (a card login, a CRL), not at start-up."""
        return self.card_service()


def services() -> Services:
    return current_app.extensions[EXTENSION]
