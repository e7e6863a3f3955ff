"""The app factory: one Flask app wired from one :class:`~idp.settings.Settings`."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from functools import partial
from pathlib import Path

from flask import Flask, Response
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import Rule

from idp.auth.card import Cards
from idp.auth.ecps import Approvals
from idp.card.pki import TestPki
from idp.clock import Clock
from idp.context import EXTENSION, Services
from idp.control import sync, tampering
from idp.control.edits import RuntimeDirectory
from idp.control.guard import MAX_JSON_BYTES
from idp.control.state import ControlState, scenario_holders, scenario_overlay
from idp.directory.index import Directory
from idp.mockdata import MockData
from idp.oidc.keys import SIGNING_KEYS, KeySet
from idp.oidc.logins import Logins
from idp.oidc.server import PscAuthorizationServer
from idp.oidc.sessions import Sessions
from idp.oidc.tokens import TokenIssuer
from idp.proxies import TrustedPeers
from idp.settings import Settings
from idp.store import Store
from idp.web.security import content_security_policy

BUNDLED_FIXTURES = Path(__file__).parent / "fixtures"
# Headers every answer carries unless its view set them: (lowercase name, name, value).
_DEFAULT_HEADERS = tuple(
    (name.lower(), name, value)
    for name, value in (
        ("Content-Security-Policy", content_security_policy()),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
        ("Cache-Control", "no-store"),
    )
)


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> Flask:
    settings = settings or Settings()
    # Authlib refuses plain-HTTP URLs unless told; the mock serves HTTP on purpose.
    os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")
    logging.getLogger("idp").setLevel(settings.log_level)
    # Authlib logs issued tokens and client credentials at DEBUG: never below INFO here.
    logging.getLogger("authlib").setLevel(logging.INFO)
    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    app.url_rule_class = _LazyBuilderRule
    app.json.sort_keys = False  # PSC's key order is part of its shape
    # Any body, chunked ones too (cheroot cuts those only mid-read, as a 500): a clean 413.
    app.config["MAX_CONTENT_LENGTH"] = MAX_JSON_BYTES
    app.extensions[EXTENSION] = build_services(settings, clock or Clock())
    _register_blueprints(app)
    if settings.workers > 1:
        sync.install(app)
    app.after_request(_security_headers)
    if settings.trusted_proxies:
        app.wsgi_app = _TrustedProxyFix(app.wsgi_app, settings.trusted_proxies)
    if settings.client_cert_header:  # outermost: judges the peer before ProxyFix rewrites it
        from idp.tls import ClientCertHeader

        app.wsgi_app = ClientCertHeader(
            app.wsgi_app, settings.client_cert_header, settings.trusted_proxies
        )
    return app


def build_services(settings: Settings, clock: Clock) -> Services:
    fixtures = Path(settings.fixtures) if settings.fixtures else BUNDLED_FIXTURES
    data_dir = Path(settings.data_dir) if settings.data_dir else None
    if data_dir:
        data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(clock, data_dir / "state.sqlite3" if data_dir else None)
    if settings.directory:
        directory = Directory.open(settings.directory)
    else:
        directory = Directory.from_fixtures(fixtures / "annuaire")
    # The control API's scenarios overlay the fixtures' identities (store: reset drops them).
    mockdata = replace(
        MockData.load(fixtures, now=clock.now()),
        overlay=scenario_overlay(store),
        overlaid=scenario_holders(store),
    )
    keys = KeySet.from_directory(fixtures / "keys")
    keys.now = clock.now  # a rotated-out key leaves the JWKS on the mock clock
    sessions = Sessions(store, settings)
    tokens = TokenIssuer(keys, sessions, settings)
    tokens.mockdata = mockdata
    tokens.tampered_sign = partial(tampering.sign, store, keys)
    server = PscAuthorizationServer(
        settings=settings,
        store=store,
        directory=directory,
        mockdata=mockdata,
        sessions=sessions,
        tokens=tokens,
    )
    edits = RuntimeDirectory(directory, store)
    edits.replay()  # a --data-dir keeps the control API's edits and rotated keys
    rotated = store.get(SIGNING_KEYS, SIGNING_KEYS)
    if rotated:
        keys.restore(rotated.value)
    return Services(
        settings=settings,
        fixtures=fixtures,
        clock=clock,
        store=store,
        directory=directory,
        mockdata=mockdata,
        keys=keys,
        sessions=sessions,
        approvals=Approvals(store, settings.approval_lifetime),
        logins=Logins(store, settings.login_lifetime),
        server=server,
        control=ControlState.for_settings(settings),
        card_service=partial(_cards, fixtures, store, directory, mockdata),
        edits=edits,
    )


def _cards(fixtures: Path, store: Store, directory: Directory, mockdata: MockData) -> Cards | None:
    """The card service, when the fixtures have a test PKI: authorities read once here,
    CRLs signed (on first use: 12 ms of a 29 ms ``create_app``)."""
    if not (fixtures / "pki" / "ca").is_dir():
        return None
    return Cards(TestPki.load(fixtures / "pki"), store, directory, mockdata)


def _register_blueprints(app: Flask) -> None:
    from idp.control import api as control
    from idp.control import dashboard_api, health, ui
    from idp.control.hooks import install
    from idp.fhir import api as fhir
    from idp.oidc import endpoints
    from idp.web import activation, card, card_tls, login, phone, reader

    for module in (endpoints, login, activation, phone, reader, health, fhir, card, card_tls):
        app.register_blueprint(module.bp)
    app.register_blueprint(control.bp)
    app.register_blueprint(dashboard_api.bp)
    app.register_blueprint(ui.bp)
    install(app)  # injected faults, request log


def _security_headers(response: Response) -> Response:
    """One pass over the answer's headers (Werkzeug's ``setdefault`` makes one per
    header: 15 against 4 µs a request)."""
    present = {name.lower() for name, _ in response.headers}
    response.headers.extend(
        [(name, value) for lowered, name, value in _DEFAULT_HEADERS if lowered not in present]
    )
    return response


class _LazyBuilderRule(Rule):
    """A URL rule whose URL builders are compiled when first used, not at start-up.

    Werkzeug compiles two builders per rule (Python ``ast`` then ``compile``) when the rule
    is added: 27 ms of the mock's 58 ms ``create_app`` for 73 rules, most of which never
    build a URL. If Werkzeug stops calling ``_compile_builder``, this costs nothing but
    the time it saved.
    """

    def _compile_builder(self, append_unknown: bool = True):
        compiled = None

        def build(rule: Rule, *args, **kwargs):
            nonlocal compiled
            if compiled is None:
                compiled = Rule._compile_builder(rule, append_unknown).__get__(rule, None)
            return compiled(*args, **kwargs)

        return build


class _TrustedProxyFix:
    """Honour ``X-Forwarded-*`` only when the peer is a configured proxy."""

    def __init__(self, app, trusted: list[str]) -> None:
        self._plain = app
        self._fixed = ProxyFix(app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1)
        self._trusted = TrustedPeers(trusted)

    def __call__(self, environ, start_response):
        app = self._fixed if environ.get("REMOTE_ADDR") in self._trusted else self._plain
        return app(environ, start_response)
