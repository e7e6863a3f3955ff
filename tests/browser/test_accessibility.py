"""axe-core (through axe-playwright-python, offline) over every page people see: no
serious or critical violation of WCAG 2.1 A/AA rules."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.fixture_people import person
from tests.oidc_client import RelyingParty

SERIOUS = {"serious", "critical"}
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
MANUAL = "899700100029"


@pytest.fixture
def scanned(chromium):
    """A context whose pages can take axe's script (the pages' CSP refuses injected ones)."""
    context = chromium.new_context(locale="fr-FR", bypass_csp=True)
    axe = Axe()
    found: dict[str, list] = {}

    def scan(page, name: str) -> None:
        violations = axe.run(page, options=WCAG).response["violations"]
        found[name] = [
            f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in violations
            if v["impact"] in SERIOUS
        ]

    yield scan, context
    context.close()
    assert {name: v for name, v in found.items() if v} == {}


def test_every_page_has_no_serious_violation(scanned, discovery, base_url, relying_party_callback):
    scan, context = scanned
    page = context.new_page()
    page.goto(RelyingParty(discovery).authorization_url()[0])
    scan(page, "login")
    page.get_by_role("link", name="Carte CPS").click()
    scan(page, "login-card")
    page.go_back()
    page.get_by_label("Identifiant national").fill("123")
    page.get_by_role("button", name="SE CONNECTER AVEC E-CPS").click()
    scan(page, "login-error")
    page.get_by_label("Identifiant national").fill(MANUAL)
    page.get_by_role("button", name="SE CONNECTER AVEC E-CPS").click()
    expect(page).to_have_url(re.compile(".*/login-actions/ecps.*"))
    scan(page, "pending")
    phone = context.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    for path, name in (
        (f"/phone/{MANUAL}", "phone"),
        ("/phone/", "phone-index"),
        ("/reader/", "reader"),
        ("/reader/2800100300", "reader-unblock"),  # a locked card: the PUK form
        ("/phone/899700100268/activation", "activation"),
        ("/phone/899700100276/activation", "activation-refused"),
        ("/auth?client_id=nobody", "error"),
    ):
        phone.goto(base_url + path)
        scan(phone, name)
    page.goto(base_url + "/auth/realms/esante-wallet/login-actions/cancel?tab_id=x")
    scan(page, "expired")
    auto = person(lambda p, i: len(p.id_nat) == 12, policy="auto")
    page.goto(RelyingParty(discovery).authorization_url(login_hint=auto.id_nat)[0])
    page.goto(discovery["end_session_endpoint"] + "?client_id=psc-mock-ci")
    scan(page, "logout-confirm")
    page.get_by_role("button", name="SE DÉCONNECTER").click()
    scan(page, "logged-out")
