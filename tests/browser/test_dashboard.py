"""The trainer dashboard in Chromium: search, a professional's claims, a scenario toggle
that a login then obeys, key rotation, and training sheets; no serious axe violation."""

from __future__ import annotations

import re
import signal

import requests
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.integration.test_cli import start_serving
from tests.oidc_client import RelyingParty

MANUAL = "899700100029"  # Julien PETIT, manual approval in the fixtures
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def _serious(page) -> list[str]:
    violations = Axe().run(page, options=WCAG).response["violations"]
    return [v["id"] for v in violations if v["impact"] in ("serious", "critical")]


def test_trainer_dashboard(chromium, discovery, base_url, screenshot, relying_party_callback):
    context = chromium.new_context(locale="fr-FR", bypass_csp=True)  # for axe's script
    page = context.new_page()
    try:
        page.goto(base_url + "/_mock/ui/")
        page.get_by_label("Nom ou identifiant national").fill("julien petit")
        page.get_by_role("button", name="Rechercher").click()
        page.get_by_role("button", name="Voir Julien PETIT").click()
        expect(page.locator("#claims")).to_contain_text('"SubjectNameID": "899700100029"')
        expect(page.get_by_label("Scénario de validation e-CPS")).to_have_value("manual")
        page.get_by_label("Scénario de validation e-CPS").select_option("auto")
        page.get_by_role("button", name="Appliquer le scénario").click()
        expect(page.get_by_text("Scénario « auto » appliqué.")).to_be_visible()
        login = context.new_page()  # the scenario applies at once: no page, no phone
        login.goto(RelyingParty(discovery).authorization_url(login_hint=MANUAL)[0])
        expect(login).to_have_url(re.compile(re.escape(relying_party_callback)))
        expect(page.locator("#sessions")).to_contain_text(MANUAL)
        before = page.locator("#cles").inner_text()
        page.get_by_role("button", name="Faire tourner les clés").click()
        expect(page.locator("#cles")).not_to_have_text(before)
        page.get_by_label("Nombre de stagiaires").fill("4")
        page.get_by_role("button", name="Attribuer des identités").click()
        expect(page.get_by_text("4 identités attribuées aux stagiaires.")).to_be_visible()
        assert _serious(page) == []
        screenshot(page, "dashboard")
        sheets = context.new_page()
        sheets.goto(base_url + "/_mock/ui/sheets")
        expect(sheets.locator("article.sheet")).to_have_count(4)
        expect(sheets.locator("article.sheet svg").first).to_be_visible()
        assert _serious(sheets) == []
        screenshot(sheets, "identity-sheets")
    finally:
        context.close()
        requests.post(base_url + "/_mock/reset", json={}, timeout=5)


def test_with_several_processes_the_journal_says_why_it_is_empty(chromium):
    """``--workers 2``: each process keeps its own request log, so the dashboard's journal
    says it is unavailable, in French, instead of showing a part of the traffic; the
    rest of the page works across the processes."""
    process, urls = start_serving("--workers", "2")
    context = chromium.new_context(locale="fr-FR")
    page = context.new_page()
    try:
        page.goto(urls["dashboard"])
        expect(page.locator("#journal")).to_contain_text("Journal indisponible")
        expect(page.locator("#journal")).to_contain_text("--workers 1")
        expect(page.locator("#cles")).to_contain_text("(actuelle)")
    finally:
        context.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
