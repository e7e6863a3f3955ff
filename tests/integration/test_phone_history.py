"""The phone simulator's history: the identity's last requests and what became of them."""

from __future__ import annotations

import html
import re

import pytest
import requests

from tests.integration.test_ciba import Ciba
from tests.integration.test_ecps_flow import Browser, Phone

MANUAL = "899700100029"  # Julien PETIT, password 1234


@pytest.fixture
def discovery(own_url: str) -> dict:
    url = own_url + "/auth/realms/esante-wallet/.well-known/wallet-openid-configuration"
    return requests.get(url, timeout=5).json()


def _history(base: str) -> list[str]:
    page = html.unescape(requests.get(f"{base}/phone/{MANUAL}", timeout=5).text)
    section = page.split("<h2>Historique</h2>")[1] if "Historique" in page else ""
    return [re.sub(r"<[^>]+>", "", item).strip() for item in re.findall(r"<li>(.*?)</li>", section)]


def test_history_lists_approved_refused_superseded_and_expired(discovery, own_url, own_server):
    browser = Browser(discovery)
    browser.submit_id_nat(MANUAL)
    Phone(own_url, MANUAL).answer(password="1234", code=browser.shown_code)
    Ciba(discovery).started(MANUAL, binding="31")  # will be superseded by the next one
    Ciba(discovery).started(MANUAL, binding="32")
    Phone(own_url, MANUAL).answer(password="1234", code=None, action="refuse")
    Ciba(discovery).started(MANUAL, binding="33")
    own_server.app.extensions["psc_mock"].clock.advance(600)
    try:
        lines = _history(own_url)
    finally:
        own_server.app.extensions["psc_mock"].clock.reset()
    assert lines[0].endswith("code 33 : expirée")
    assert lines[1].endswith("code 32 : refusée") and lines[2].endswith("code 31 : refusée")
    assert lines[3].startswith("Pipeline d'intégration continue") and lines[3].endswith("validée")
    assert len(lines) == 4
