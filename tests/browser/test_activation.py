"""A new user in Chromium: activates e-CPS on the phone simulator (mail and SMS codes),
then logs in from a relying party; the refusals, a refused and an expired login, and a
logout, each as a person sees them. Screenshots in test-artifacts/."""

from __future__ import annotations

import re

import requests
from playwright.sync_api import expect

from idp.settings import Settings
from tests.fixture_people import identity, person
from tests.oidc_client import RelyingParty

MAIL_SMS_NURSE = "899700100268"
DOM_NURSE = "899700100276"
UNREGISTERED_NURSE = "899700100284"
PENDING_PAGE = re.compile(r".*/login-actions/ecps\?tab_id=.*")
PHONE = {"width": 390, "height": 844}


def _manual_person():
    return person(lambda p, i: i.ecps_activated and len(p.id_nat) == 12, policy="manual")


def _start_login(context, discovery, id_nat: str):
    page = context.new_page()
    page.goto(RelyingParty(discovery).authorization_url()[0])
    page.get_by_label("Identifiant national").fill(id_nat)
    page.get_by_role("button", name="SE CONNECTER AVEC E-CPS").click()
    expect(page).to_have_url(PENDING_PAGE)
    return page


def test_a_new_user_activates_e_cps_then_logs_in(
    context, discovery, base_url, screenshot, relying_party_callback
):
    phone = context.new_page()
    phone.set_viewport_size(PHONE)
    phone.goto(f"{base_url}/phone/{MAIL_SMS_NURSE}")
    phone.get_by_role("link", name="Activer mon e-CPS").click()
    expect(phone.get_by_role("heading", name="Activer votre e-CPS")).to_be_visible()
    screenshot(phone, "activation-1-choose")
    phone.get_by_role("button", name="Recevoir les codes").click()
    mail_code = phone.locator("#code-courriel").inner_text()
    sms_code = phone.locator("#code-sms").inner_text()
    phone.get_by_label("Code reçu par courriel").fill(mail_code)
    phone.get_by_label("Code reçu par SMS").fill(sms_code)
    screenshot(phone, "activation-2-codes")
    phone.get_by_role("button", name="Valider les codes").click()
    phone.get_by_label("Mot de passe e-CPS (4 à 8 chiffres)").fill("2468")
    phone.get_by_label("Confirmez le mot de passe").fill("2468")
    phone.get_by_role("button", name="Activer mon e-CPS").click()
    expect(phone.get_by_text("Votre e-CPS est activée")).to_be_visible()
    screenshot(phone, "activation-3-done")
    try:
        page = _start_login(context, discovery, MAIL_SMS_NURSE)
        code = page.locator(".code").inner_text().strip()
        qr = page.get_by_role("img", name=re.compile("QR code du simulateur e-CPS"))
        expect(qr.locator("svg")).to_be_visible()
        assert f"/phone/{MAIL_SMS_NURSE}" in page.locator(".qr figcaption a").inner_text()
        screenshot(page, "pending")
        phone.goto(f"{base_url}/phone/{MAIL_SMS_NURSE}")
        phone.get_by_label("Mot de passe e-CPS").fill("2468")
        phone.get_by_label(code, exact=True).check()
        screenshot(phone, "phone")
        phone.get_by_role("button", name="Valider").click()
        expect(page).to_have_url(re.compile(re.escape(relying_party_callback)), timeout=10_000)
    finally:
        requests.delete(f"{base_url}/_mock/scenarios/{MAIL_SMS_NURSE}", timeout=5)


def test_activation_refusals_say_what_to_do(context, base_url, screenshot):
    page = context.new_page()
    page.set_viewport_size(PHONE)
    for id_nat, says, name in (
        (DOM_NURSE, "sans indicatif", "activation-refused-dom"),
        (UNREGISTERED_NURSE, "inscrivez-vous", "activation-refused-order"),
    ):
        page.goto(f"{base_url}/phone/{id_nat}/activation")
        expect(page.get_by_role("heading", name="Activation de l'e-CPS impossible")).to_be_visible()
        expect(page.get_by_role("alert")).to_contain_text(says)
        screenshot(page, name)


def test_a_refused_login(context, discovery, base_url, screenshot):
    practitioner = _manual_person()
    page = _start_login(context, discovery, practitioner.id_nat)
    phone = context.new_page()
    phone.goto(f"{base_url}/phone/{practitioner.id_nat}")
    phone.get_by_label("Mot de passe e-CPS").fill(identity(practitioner.id_nat).ecps_password)
    phone.get_by_role("button", name="Refuser").click()
    expect(phone.get_by_text("Demande refusée")).to_be_visible()
    expect(page.get_by_role("heading", name="Connexion refusée")).to_be_visible(timeout=10_000)
    screenshot(page, "login-refused")


def test_an_expired_login(context, discovery, clock, screenshot):
    page = _start_login(context, discovery, _manual_person().id_nat)
    clock.advance(Settings().approval_lifetime + 1)
    expect(page.get_by_role("heading", name="Demande expirée")).to_be_visible(timeout=10_000)
    expect(page.get_by_role("link", name="Réessayer")).to_be_visible()
    screenshot(page, "login-expired")


def test_logout_in_the_browser(context, discovery, screenshot, relying_party_callback):
    practitioner = person(lambda p, i: len(p.id_nat) == 12, policy="auto")
    page = context.new_page()
    page.goto(RelyingParty(discovery).authorization_url(login_hint=practitioner.id_nat)[0])
    expect(page).to_have_url(re.compile(re.escape(relying_party_callback)))
    page.goto(discovery["end_session_endpoint"] + "?client_id=psc-mock-ci")
    expect(page.get_by_role("heading", name="Voulez-vous vous déconnecter ?")).to_be_visible()
    screenshot(page, "logout-confirm")
    page.get_by_role("button", name="SE DÉCONNECTER").click()
    expect(page.get_by_role("heading", name="Vous êtes déconnecté")).to_be_visible()
    screenshot(page, "logout")
    assert identity(practitioner.id_nat).policy == "auto"
