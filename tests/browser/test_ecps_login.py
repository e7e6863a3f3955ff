"""The e-CPS login walked in Chromium: the relying party's link, the PSC-like page, the
phone simulator in a second tab, and the login page continuing by itself."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.fixture_people import identity, person
from tests.oidc_client import RelyingParty

PENDING_PAGE = re.compile(r".*/login-actions/ecps\?tab_id=.*")


def _manual_person():
    return person(lambda p, i: i.ecps_activated and len(p.id_nat) == 12, policy="manual")


def test_ecps_login_with_the_phone_in_a_second_tab(
    context, discovery, base_url, screenshot, relying_party_callback
):
    practitioner = _manual_person()
    url, secrets = RelyingParty(discovery).authorization_url()

    page = context.new_page()
    page.goto(url)
    assert page.get_by_role("heading", name="Connectez-vous").is_visible()
    assert page.get_by_role("link", name="Application e-CPS").is_visible()
    screenshot(page, "01-login")
    page.get_by_label("Identifiant national").fill(practitioner.id_nat)
    page.get_by_role("button", name="SE CONNECTER AVEC E-CPS").click()
    expect(page).to_have_url(PENDING_PAGE)
    code = page.locator(".code").inner_text().strip()
    assert re.fullmatch(r"\d\d", code)
    screenshot(page, "02-pending")

    phone = context.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(f"{base_url}/phone/{practitioner.id_nat}")
    phone.get_by_label("Mot de passe e-CPS").fill(identity(practitioner.id_nat).ecps_password)
    phone.get_by_label(code, exact=True).check()
    screenshot(phone, "03-phone")
    phone.get_by_role("button", name="Valider").click()
    assert phone.get_by_text("Connexion validée").is_visible()

    expect(page).to_have_url(re.compile(re.escape(relying_party_callback)), timeout=10_000)
    expect(page.get_by_role("heading", name="Callback du service")).to_be_visible()
    assert f"state={secrets['state']}" in page.url and "code=" in page.url


def test_unknown_identifier_message_in_french(context, discovery, screenshot):
    page = context.new_page()
    page.goto(RelyingParty(discovery).authorization_url()[0])
    page.get_by_label("Identifiant national").fill("99700100011")
    page.get_by_role("button", name="SE CONNECTER AVEC E-CPS").click()
    alert = page.get_by_role("alert").filter(has_text="n'est pas connu")
    assert alert.is_visible()
    assert "899700100011" in alert.inner_text()
    screenshot(page, "04-unknown-identifier")


def test_keyboard_only_login(context, discovery):
    practitioner = _manual_person()
    page = context.new_page()
    page.goto(RelyingParty(discovery).authorization_url()[0])
    expect(page.get_by_label("Identifiant national")).to_be_focused()  # autofocus, no click
    page.keyboard.type(practitioner.id_nat)
    page.keyboard.press("Enter")
    expect(page).to_have_url(PENDING_PAGE)
    assert page.locator(".code").is_visible()
