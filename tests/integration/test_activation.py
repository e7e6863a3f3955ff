"""e-CPS activation on the phone simulator, over HTTP: by mail and SMS codes, by card,
and each refusal the seeds describe; then the person logs in with the new password."""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin

import pytest
import requests

from tests.integration.test_ecps_flow import Browser
from tests.integration.test_ecps_flow import Phone as EcpsPhone
from tests.oidc_client import forms

MAIL_SMS = "899700100268"  # nurse registered with her order, no card: mail and SMS
RECENT = "899700100094"  # registered 12 h ago: activation opens 48 h after registration
CARD_NURSE = "899700100243"  # nurse with a CPS card: the card is her only means
CARD_NURSE_SERIAL = "2800100243"
DOM_NURSE = "899700100276"  # mobile without country code, in Réunion: no means
UNREGISTERED_NURSE = "899700100284"  # not registered with the order: no means
ACTIVATED = "899700100011"


@pytest.fixture
def base(own_url: str) -> str:
    return own_url


class Phone:
    """The phone simulator's activation pages, as a person uses them."""

    def __init__(self, base: str, id_nat: str) -> None:
        self.base, self.id_nat = base, id_nat
        self.http = requests.Session()
        self.page = self.http.get(f"{base}/phone/{id_nat}/activation", timeout=5)

    def submit(self, step: str, **fields: str) -> requests.Response:
        form = next(f for f in forms(self.page.text) if f["action"].endswith("/" + step))
        data = {**form["fields"], **fields}
        self.page = self.http.post(urljoin(self.page.url, form["action"]), data=data, timeout=5)
        return self.page

    def shown_code(self, channel: str) -> str:
        return re.search(rf'id="code-{channel}">(\d+)<', self.page.text).group(1)

    def text(self) -> str:
        return html.unescape(self.page.text)


def _login_with_phone(base: str, id_nat: str, password: str) -> dict:
    """A relying party's login with the new e-CPS, approved on the phone simulator."""
    discovery = requests.get(
        base + "/auth/realms/esante-wallet/.well-known/wallet-openid-configuration", timeout=5
    ).json()
    browser = Browser(discovery)
    browser.submit_id_nat(id_nat)
    answered = EcpsPhone(base, id_nat).answer(password=password, code=browser.shown_code)
    assert "Connexion validée" in html.unescape(answered.text)
    callback = browser.continue_to_client()
    tokens = browser.rp.fetch_token(callback, browser.secrets["code_verifier"])
    return browser.rp.verify(tokens["access_token"])


def test_activation_by_mail_and_sms_then_a_login(base):
    phone = Phone(base, MAIL_SMS)
    assert phone.page.status_code == 200 and "Par courriel et SMS" in phone.text()
    assert "Avec votre carte CPS" not in phone.text()
    phone.submit("mail-sms")
    assert "manon.robin@example.org" in phone.text() and "+33639980025" in phone.text()
    phone.submit("codes", mail_code=phone.shown_code("courriel"), sms_code=phone.shown_code("sms"))
    assert "Choisissez le mot de passe" in phone.text()
    phone.submit("password", password="4821", confirmation="4821")
    assert phone.page.status_code == 200 and "Votre e-CPS est activée" in phone.text()
    claims = _login_with_phone(base, MAIL_SMS, "4821")
    assert claims["SubjectNameID"] == MAIL_SMS


def test_activation_with_the_card_for_a_card_holding_nurse(base, own_server):
    phone = Phone(base, CARD_NURSE)
    assert "Avec votre carte CPS" in phone.text() and "Par courriel" not in phone.text()
    phone.submit("card", serial=CARD_NURSE_SERIAL, pin="0000")
    assert phone.page.status_code == 400 and "essai" in phone.text()  # a try costs
    phone.submit("card", serial=CARD_NURSE_SERIAL, pin="1234")
    assert "Choisissez le mot de passe" in phone.text(), phone.text()[:500]
    phone.submit("password", password="1357", confirmation="1357")
    assert "Votre e-CPS est activée" in phone.text()
    own_server.app.extensions["psc_mock"].cards.reset(CARD_NURSE_SERIAL)


def test_someone_elses_card_is_refused(base):
    phone = Phone(base, CARD_NURSE)
    phone.submit("card", serial="2800100029", pin="1234")
    assert phone.page.status_code == 400 and "pas la vôtre" in phone.text()


@pytest.mark.parametrize(
    ("id_nat", "says"),
    [
        (DOM_NURSE, "sans indicatif"),
        (UNREGISTERED_NURSE, "pas inscrit à votre ordre"),
        (ACTIVATED, "déjà activée"),
    ],
    ids=["dom-mobile-without-country-code", "not-registered-with-the-order", "already"],
)
def test_refusals_say_what_to_do(base, id_nat, says):
    phone = Phone(base, id_nat)
    assert phone.page.status_code in (200, 403)
    assert says in phone.text() and 'method="post"' not in phone.page.text


def test_too_early_after_registration_on_the_mock_clock(base):
    phone = Phone(base, RECENT)
    assert phone.page.status_code == 403 and "48 heures" in phone.text()
    requests.post(base + "/_mock/clock", json={"action": "advance", "by": "37h"}, timeout=5)
    assert Phone(base, RECENT).page.status_code == 200


def test_wrong_codes_cost_tries_then_cancel_and_leave_nothing(base):
    phone = Phone(base, MAIL_SMS)
    phone.submit("mail-sms")
    sms = phone.shown_code("sms")
    for left in (2, 1):
        phone.submit("codes", mail_code="000000", sms_code=sms)
        assert phone.page.status_code == 400 and f"Il vous reste {left}" in phone.text()
    phone.submit("codes", mail_code="000000", sms_code=sms)
    assert "annulée" in phone.text()
    assert "Votre e-CPS n'est pas encore activée" in html.unescape(
        requests.get(f"{base}/phone/{MAIL_SMS}", timeout=5).text
    )


def test_a_forged_or_stale_form_is_refused(base):
    phone = Phone(base, MAIL_SMS)
    form = forms(phone.page.text)[0]
    forged = requests.post(
        urljoin(phone.page.url, form["action"]), data={"csrf": "forged"}, timeout=5
    )
    assert forged.status_code == 400 and "expirée" in html.unescape(forged.text)
    skipped = phone.submit("mail-sms")
    assert skipped.status_code == 200
    jump = phone.http.post(
        f"{base}/phone/{MAIL_SMS}/activation/password",
        data={"csrf": form["fields"]["csrf"], "password": "1111", "confirmation": "1111"},
        timeout=5,
    )
    assert jump.status_code == 400 and "Vérifiez d'abord" in html.unescape(jump.text)


def test_password_rules(base):
    phone = Phone(base, MAIL_SMS)
    phone.submit("mail-sms")
    phone.submit("codes", mail_code=phone.shown_code("courriel"), sms_code=phone.shown_code("sms"))
    phone.submit("password", password="12", confirmation="12")
    assert phone.page.status_code == 400 and "4 à 8 chiffres" in phone.text()
    phone.submit("password", password="1234", confirmation="4321")
    assert "différents" in phone.text()


def test_the_request_log_keeps_no_activation_secret(base):
    """The mail and SMS codes and the new password, typed twice, are stored as ``***``
    in ``GET /_mock/requests`` (shared with everyone who can reach the control API)."""
    phone = Phone(base, MAIL_SMS)
    phone.submit("mail-sms")
    mail, sms = phone.shown_code("courriel"), phone.shown_code("sms")
    phone.submit("codes", mail_code=mail, sms_code=sms)
    phone.submit("password", password="7359", confirmation="7359")
    assert "Votre e-CPS est activée" in phone.text()

    entries = requests.get(base + "/_mock/requests", timeout=5).json()["requests"]
    posted = {name: value for entry in entries for name, value in entry["params"].items()}
    for name in ("mail_code", "sms_code", "password", "confirmation", "csrf"):
        assert posted[name] == "***", name
    values = [str(value) for entry in entries for value in entry["params"].values()]
    for secret in (mail, sms, "7359"):
        assert not any(secret in value for value in values), secret
