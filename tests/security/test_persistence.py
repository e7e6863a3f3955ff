"""State across a crash: with ``--data-dir``, a mock killed with SIGKILL in the middle of
logins comes back with every token it had handed out still valid, its rotated keys, its
cards' PIN counters and the control API's edits; without it, a restart forgets."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.card_browser import CardBrowser, error_of
from tests.integration.test_card_login import CARD_LOCK
from tests.integration.test_ciba import Ciba
from tests.oidc_client import RelyingParty
from tests.session_client import active, introspect, refresh

AUTO = "899700100011"
MANUAL = "899700100029"
ADDED = "899700100490"  # added at run time through the control API
REALM = "/auth/realms/esante-wallet"


class Spawned:
    """``psc-mock serve`` in a process of its own, on a fixed port (tokens name it)."""

    def __init__(self, port: int, data_dir: Path | None) -> None:
        command = [sys.executable, "-m", "idp", "serve", "--port", str(port)]
        if data_dir:
            command += ["--data-dir", str(data_dir)]
        self.base = f"http://localhost:{port}"
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(self.base + "/_mock/health/ready", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.05)
        else:
            self.process.kill()
            raise AssertionError("the mock did not start: " + self.process.stderr.read())
        self.discovery = requests.get(
            self.base + REALM + "/.well-known/wallet-openid-configuration", timeout=5
        ).json()

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        self.process.terminate()
        assert self.process.wait(10) == 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _add_person(base: str) -> None:
    person = requests.get(f"{base}/_mock/directory/{AUTO}", timeout=5).json()
    person.pop("autres_identifiants", None)
    clone = {**person, "id_nat": ADDED, "identifiant": ADDED[1:], "nom": "AJOUTE"}
    assert requests.put(f"{base}/_mock/directory/{ADDED}", json=clone, timeout=5).ok


def _lock_card(discovery: dict) -> None:
    card = CardBrowser(discovery)
    for _ in range(3):
        card.login(CARD_LOCK[0], "0000")
    assert "bloquée" in error_of(card.page)


def _logins_until_killed(discovery: dict, received: list[dict], stop: threading.Event):
    rp = RelyingParty(discovery)
    while not stop.is_set():
        try:
            tokens, _ = rp.login_auto(AUTO)
        except Exception:  # the server died under us: what was received counts
            return
        received.append(tokens)


@pytest.fixture
def port() -> int:
    return _free_port()


def test_everything_survives_a_kill_during_load(tmp_path, port):
    data_dir = tmp_path / "data"
    mock = Spawned(port, data_dir)
    _add_person(mock.base)
    rotated = requests.post(mock.base + "/_mock/keys/rotate", json={}, timeout=10).json()["kid"]
    _lock_card(mock.discovery)
    auth_req_id = Ciba(mock.discovery).started(MANUAL)
    received: list[dict] = []
    stop = threading.Event()
    clients = [
        threading.Thread(target=_logins_until_killed, args=(mock.discovery, received, stop))
        for _ in range(6)
    ]
    for client in clients:
        client.start()
    time.sleep(1.5)
    mock.kill()
    stop.set()
    for client in clients:
        client.join(10)
    assert len(received) > 20, "the load did not run"

    mock = Spawned(port, data_dir)
    try:
        jwks = requests.get(mock.discovery["jwks_uri"], timeout=5).json()
        assert rotated in [key["kid"] for key in jwks["keys"]]
        rp = RelyingParty(mock.discovery)
        for tokens in received:
            assert rp.verify(tokens["access_token"])["SubjectNameID"] == AUTO
            assert active(introspect(mock.discovery, tokens["access_token"]))
        for tokens in received[:: max(1, len(received) // 10)]:
            assert refresh(mock.discovery, tokens["refresh_token"]).status_code == 200
        assert requests.get(f"{mock.base}/_mock/directory/{ADDED}", timeout=5).ok
        poll = Ciba(mock.discovery).poll(auth_req_id)
        assert poll.json()["error"] in ("authorization_pending", "slow_down")
        card = CardBrowser(mock.discovery)
        card.login(CARD_LOCK[0], "1234")
        assert "bloquée" in error_of(card.page)
    finally:
        mock.stop()
    with sqlite3.connect(data_dir / "state.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_without_a_data_dir_a_restart_forgets(port):
    mock = Spawned(port, None)
    _add_person(mock.base)
    tokens, _ = RelyingParty(mock.discovery).login_auto(AUTO)
    mock.stop()
    mock = Spawned(port, None)
    try:
        assert requests.get(f"{mock.base}/_mock/directory/{ADDED}", timeout=5).status_code == 404
        assert not active(introspect(mock.discovery, tokens["access_token"]))
    finally:
        mock.stop()


def test_a_reset_undoes_persisted_edits_too(tmp_path, port):
    data_dir = tmp_path / "data"
    mock = Spawned(port, data_dir)
    _add_person(mock.base)
    mock.kill()
    mock = Spawned(port, data_dir)
    try:
        assert requests.get(f"{mock.base}/_mock/directory/{ADDED}", timeout=5).ok
        assert requests.post(mock.base + "/_mock/reset", json={}, timeout=5).ok
        assert requests.get(f"{mock.base}/_mock/directory/{ADDED}", timeout=5).status_code == 404
    finally:
        mock.stop()
    mock = Spawned(port, data_dir)
    try:
        assert requests.get(f"{mock.base}/_mock/directory/{ADDED}", timeout=5).status_code == 404
    finally:
        mock.stop()
