"""Card login in the browser tab ("Carte CPS", simulated reader) over real HTTP, and the CRLs.

Each test uses its own card, and any card state it changes is put back afterwards
(``reset_cards``), so that tests do not leak PIN counters or oppositions to each other.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from urllib.parse import urljoin

import pytest
import requests
from cryptography import x509

from idp.app import BUNDLED_FIXTURES
from idp.card.pki import (
    FORT_PERSONNES,
    CardHolder,
    CardType,
    TestPki,
    card_validity,
    holder_for,
)
from idp.directory.index import Directory
from tests.card_browser import CardBrowser, error_of, text
from tests.fixture_people import person
from tests.oidc_client import forms

CARD_OK = ("2800100029", "899700100029")  # Julien PETIT, CPS
CARD_WRONG_PIN = ("2800100037", "899700100037")
CARD_LOCK = ("2800100045", "899700100045")
CARD_CRL = ("2800100052", "899700100052")
CPE = ("2600000001", "335B000017/CPET00001")
CPA = ("2600000002", "599900003700112/CPAT00001")
EXPIRED = "2800090292"
OPPOSED = "2800100102"
LOCKED = "2800100300"
FORT_PERSONNES_CRL = "/pki/crl/test-ac-igc-sante-fort-personnes.crl"


def test_the_reader_lists_the_declared_cards(discovery):
    browser = CardBrowser(discovery)
    listed = browser.serials_in_reader()
    for serial in (CARD_OK[0], CPE[0], CPA[0], EXPIRED, OPPOSED, LOCKED):
        assert serial in listed
    page = text(browser.page)
    assert "Lecteur de cartes simulé" in page and 'name="csrf"' in page
    assert 'type="password"' in page


def test_card_login_gives_tokens_with_auth_mode_card(discovery, reset_cards):
    serial, id_nat = CARD_OK
    reset_cards.append(serial)
    browser = CardBrowser(discovery)
    browser.login(serial, "1234")
    claims, access = browser.tokens()
    assert claims["authMode"] == "CARD" and claims["sub"].endswith(":" + id_nat)
    assert claims["nonce"] == browser.secrets["nonce"]
    assert access["authMode"] == "CARD"


def test_wrong_pin_says_the_tries_left_then_the_right_pin_logs_in(discovery, reset_cards, cards):
    serial, id_nat = CARD_WRONG_PIN
    reset_cards.append(serial)
    browser = CardBrowser(discovery)
    response = browser.login(serial, "0000")
    assert response.status_code == 400
    assert error_of(response) == "Code porteur incorrect : il vous reste 2 essais"
    assert f'value="{serial}" selected' in response.text  # the card stays chosen
    browser.login(serial, "1234")
    claims, _ = browser.tokens()
    assert claims["authMode"] == "CARD" and claims["sub"].endswith(":" + id_nat)
    assert cards.state(serial).pin_tries_left == 3  # a right PIN resets the counter


def test_three_wrong_pins_lock_the_card(discovery, reset_cards, cards):
    serial, _ = CARD_LOCK
    reset_cards.append(serial)
    browser = CardBrowser(discovery)
    assert error_of(browser.login(serial, "1111")).endswith("il vous reste 2 essais")
    assert error_of(browser.login(serial, "2222")).endswith("il vous reste 1 essai")
    locked = (
        "Carte bloquée : débloquez-la avec son code de déblocage (PUK) dans le lecteur de "
        "cartes (CPS-Gestion)."
    )
    assert error_of(browser.login(serial, "3333")) == locked
    assert error_of(browser.login(serial, "1234")) == locked  # even the right PIN now
    assert cards.state(serial).locked
    cards.unblock(serial)
    browser.login(serial, "1234")
    assert browser.tokens()[0]["authMode"] == "CARD"


def test_pin_of_the_wrong_format_costs_no_try(discovery, cards):
    browser = CardBrowser(discovery)
    assert error_of(browser.login(CARD_OK[0], "12")) == "Le code porteur se compose de 4 chiffres."
    assert cards.state(CARD_OK[0]).pin_tries_left == 3


@pytest.mark.parametrize(
    ("serial", "message"),
    [
        (LOCKED, "Carte bloquée : débloquez-la avec son code de déblocage (PUK)"),
        (EXPIRED, "Carte expirée"),
        (OPPOSED, "Carte en opposition"),
    ],
)
def test_fixture_cards_are_refused_with_their_message(discovery, serial, message):
    browser = CardBrowser(discovery)
    response = browser.login(serial, "1234")
    assert response.status_code in (400, 403)
    assert error_of(response).startswith(message)
    assert "Traceback" not in response.text


@pytest.mark.parametrize("card", [CPE, CPA])
def test_staff_cards_log_in(discovery, reset_cards, card):
    serial, id_nat = card
    reset_cards.append(serial)
    browser = CardBrowser(discovery)
    browser.login(serial, "1234")
    claims, _ = browser.tokens()
    assert claims["authMode"] == "CARD" and claims["sub"].endswith(":" + id_nat)


def test_no_card_unknown_serial_bad_csrf(discovery):
    browser = CardBrowser(discovery)
    assert "Choisissez une carte" in error_of(browser.login("", "1234"))
    message = error_of(browser.login("9999999999", "1234", typed=True))
    assert (
        message == "Aucune carte de numéro de série « 9999999999 » n'est connue du lecteur simulé."
    )
    hostile = '<script>alert("x")</script>'
    response = browser.login(hostile, "1234", typed=True)
    assert hostile not in response.text and "&lt;script&gt;" in response.text
    form = forms(browser.page.text)[0]
    data = {**form["fields"], "csrf": "forged", "serial": CARD_OK[0], "pin": "1234"}
    forged = browser.http.post(urljoin(browser.url, form["action"]), data=data, timeout=5)
    assert forged.status_code == 400 and "Formulaire expiré" in text(forged)


# --- Cards the mock's reader holds but the directory or the PKI do not vouch for --------


@pytest.fixture(scope="module")
def odd_cards_server(tmp_path_factory):
    """A mock whose reader also holds a foreign CA's card, an unknown holder's card and a
    CPS card on a staff idNat (all typed by serial)."""
    from idp.clock import Clock
    from idp.server import MockServer
    from idp.settings import Settings

    fixtures = tmp_path_factory.mktemp("fixtures") / "fixtures"
    shutil.copytree(BUNDLED_FIXTURES, fixtures)
    mock_pki = TestPki.load(fixtures / "pki")
    foreign = TestPki.create(tmp_path_factory.mktemp("foreign-pki"))
    directory = Directory.from_fixtures(fixtures / "annuaire")
    validity = card_validity(date(2045, 12, 31))
    doctor = holder_for(directory.get("899700100060"), CardType.CPS)
    mock_pki.save_card(foreign.issue_card(doctor, CardType.CPS, "2990000901", *validity))
    stranger = CardHolder("899700999993", "JEAN", "INCONNU", "10", "Médecin")
    mock_pki.save_card(mock_pki.issue_card(stranger, CardType.CPS, "2990000902", *validity))
    staff = holder_for(directory.get(CPE[1]), CardType.CPE)
    mock_pki.save_card(mock_pki.issue_card(staff, CardType.CPS, "2990000903", *validity))
    server = MockServer(Settings(port=0, fixtures=str(fixtures)), clock=Clock())
    server.start_in_thread()
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("serial", "message"),
    [
        ("2990000901", "Carte non reconnue : son certificat n'a pas été émis par une autorité"),
        ("2990000902", "Le porteur de cette carte n'est pas connu de l'Annuaire Santé"),
        ("2990000903", "Le type de cette carte ne correspond pas"),
    ],
)
def test_cards_refused_for_their_certificate(odd_cards_server, serial, message):
    issuer = odd_cards_server.settings.issuer
    discovery = requests.get(issuer + "/.well-known/wallet-openid-configuration", timeout=5)
    browser = CardBrowser(discovery.json())
    response = browser.login(serial, "1234", typed=True)
    assert response.status_code == 403
    assert error_of(response).startswith(message)


# --- CRLs ----------------------------------------------------------------------------------


def fetch_crl(base_url: str, path: str = FORT_PERSONNES_CRL) -> x509.CertificateRevocationList:
    response = requests.get(base_url + path, timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pkix-crl"
    return x509.load_der_x509_crl(response.content)


def test_published_crls_and_bundle(base_url, cards):
    crl = fetch_crl(base_url)
    issuer = cards.pki.authorities[FORT_PERSONNES].certificate
    assert crl.issuer == issuer.subject and crl.is_signature_valid(issuer.public_key())
    opposed = cards.material(OPPOSED)
    for certificate in opposed.certificates:  # the fixture opposition, on every CRL
        assert crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
    bundle = requests.get(base_url + "/pki/ca-bundle.pem", timeout=5)
    assert bundle.status_code == 200
    assert len(x509.load_pem_x509_certificates(bundle.content)) == 9
    index = requests.get(base_url + "/pki/crl/", timeout=5).json()
    assert {entry["authority"] for entry in index} >= {FORT_PERSONNES}
    assert requests.get(base_url + "/pki/crl/nope.crl", timeout=5).status_code == 404


def test_an_opposition_reaches_the_crl_and_refuses_the_card(
    base_url, discovery, cards, clock, reset_cards
):
    serial, _ = CARD_CRL
    reset_cards.append(serial)
    clock.freeze()
    certificate = cards.material(serial).authentication.certificate
    assert (
        fetch_crl(base_url).get_revoked_certificate_by_serial_number(certificate.serial_number)
        is None
    )
    cards.oppose(serial)
    crl = fetch_crl(base_url)
    entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
    assert entry is not None
    assert entry.revocation_date_utc == crl.last_update_utc  # dated by the mock clock
    browser = CardBrowser(discovery)
    assert error_of(browser.login(serial, "1234")).startswith("Carte en opposition")

    clock.advance(timedelta(days=8).total_seconds())  # past the CRL's next update
    later = fetch_crl(base_url)
    assert later.last_update_utc - crl.last_update_utc == timedelta(days=8)
    assert later.get_revoked_certificate_by_serial_number(certificate.serial_number)
    assert later.next_update_utc - later.last_update_utc == timedelta(days=7)


def test_the_mock_clock_decides_expiry(discovery, clock, reset_cards):
    serial, _ = CARD_OK
    reset_cards.append(serial)
    clock.advance(timedelta(days=365 * 21).total_seconds())  # past 2045-12-31
    browser = CardBrowser(discovery)
    assert error_of(browser.login(serial, "1234")).startswith("Carte expirée")


def _scenario(base_url: str, method: str, id_nat: str, body: dict | None = None):
    response = requests.request(
        method, f"{base_url}/_mock/scenarios/{id_nat}", json=body, timeout=5
    )
    assert response.status_code in (200, 204), response.text
    return response


def test_a_scenarios_cards_are_the_ones_that_log_in(discovery, base_url, reset_cards):
    """The control API's scenario declares cards as credentials.yaml does: the card tab,
    the reader and the CRLs follow it, and deleting it gives the declared card back."""
    serial, id_nat = CARD_OK
    reset_cards.append(serial)
    CardBrowser(discovery).login(serial, "0000")  # a stored state the scenario replaces
    opposed = {"cards": [{"type": "CPS", "serial": serial, "status": "opposed"}]}
    try:
        _scenario(base_url, "PUT", id_nat, opposed)
        refused = CardBrowser(discovery).login(serial, "1234")
        assert error_of(refused).startswith("Carte en opposition")
        _scenario(
            base_url, "PUT", id_nat, {"cards": [{"type": "CPS", "serial": serial, "pin": "9999"}]}
        )
        browser = CardBrowser(discovery)
        assert error_of(browser.login(serial, "1234")).endswith("il vous reste 2 essais")
        browser.login(serial, "9999")
        assert browser.tokens()[0]["authMode"] == "CARD"
    finally:
        _scenario(base_url, "DELETE", id_nat)
    browser = CardBrowser(discovery)
    browser.login(serial, "1234")
    assert browser.tokens()[0]["SubjectNameID"] == id_nat


def test_a_scenario_card_must_exist_in_the_test_pki(base_url):
    holder = person(lambda p, i: not i.cards and len(p.id_nat) == 12)
    refused = requests.put(
        f"{base_url}/_mock/scenarios/{holder.id_nat}",
        json={"cards": [{"type": "CPS", "serial": "2800199991"}]},
        timeout=5,
    )
    assert refused.status_code == 400
    assert "cards[0].serial" in refused.json()["error_description"]
    assert (
        requests.get(f"{base_url}/_mock/scenarios/{holder.id_nat}", timeout=5).json()["scenario"]
        is None
    )
