"""CIBA's CARD channel over HTTP: the request goes to the card-reader simulator (as
CPS-Gestion on the professional's desktop), where the card's PIN approves it.

The client side is idpyoidc's CIBA client (as in ``test_ciba``); the reader is driven as a
person would, through its pages and forms. Each test uses its own card, which no other
test uses, and any card state it changes (PIN tries, lock) is put back afterwards.
"""

from __future__ import annotations

from urllib.parse import urljoin

import requests

from tests.card_browser import error_of, text
from tests.fixture_people import identity
from tests.integration.test_ciba import (
    PENDING,
    Ciba,
    error,
    idpyoidc_client,
    idpyoidc_poll,
    idpyoidc_start,
)
from tests.integration.test_ecps_flow import Phone
from tests.oidc_client import RelyingParty, forms

# (serial, idNat): manual identities whose cards no other test uses
APPROVED_CARD = ("2800100151", "899700100151")
WRONG_PIN_CARD = ("2800100169", "899700100169")
REFUSED_CARD = ("2800100177", "899700100177")
BOTH_CHANNELS_CARD = ("2800100193", "899700100193")


class Reader:
    """The card-reader simulator with one card inserted."""

    def __init__(self, base_url: str, serial: str) -> None:
        self.url = f"{base_url}/reader/{serial}"
        self.http = requests.Session()

    def page(self) -> requests.Response:
        page = self.http.get(self.url, timeout=5)
        assert page.status_code == 200, page.text[:500]
        return page

    def pending_forms(self) -> list[dict]:
        return [form for form in forms(self.page().text) if "/approvals/" in form["action"]]

    def answer(self, *, pin: str | None, action: str = "approve", form=None) -> requests.Response:
        form = form or self.pending_forms()[0]
        data = {**form["fields"], "action": action}
        if pin is None:
            data.pop("pin", None)
        else:
            data["pin"] = pin
        return self.http.post(urljoin(self.url, form["action"]), data=data, timeout=5)


def test_card_request_is_approved_on_the_reader_with_the_pin(
    discovery, issuer, base_url, clock, reset_cards
):
    serial, id_nat = APPROVED_CARD
    reset_cards.append(serial)
    rp = idpyoidc_client(issuer)
    started = idpyoidc_start(rp, id_nat, "37", channel="CARD")
    pending = idpyoidc_poll(rp, started["auth_req_id"])
    assert pending["error"] == "authorization_pending"
    assert pending["error_description"] == PENDING

    reader = Reader(base_url, serial)
    page = text(reader.page())
    assert "Client lourd (CIBA)" in page and ">37<" in page
    assert 'name="csrf"' in page and 'type="password"' in page
    assert not forms(requests.get(f"{base_url}/phone/{id_nat}", timeout=5).text)  # not the phone's
    answered = reader.answer(pin="1234")
    assert answered.status_code == 200 and "Connexion validée" in text(answered)
    assert not reader.pending_forms()

    clock.advance(5)  # the interval
    token = idpyoidc_poll(rp, started["auth_req_id"])
    assert "error" not in token, token.to_dict()
    relying_party = RelyingParty(discovery)
    id_token = relying_party.verify(token["id_token"], audience="psc-mock-ciba")
    access = relying_party.verify(token["access_token"])
    for claims in (id_token, access):
        assert claims["authMode"] == "CARD"
        assert claims["SubjectNameID"] == id_nat and claims["azp"] == "psc-mock-ciba"


def test_wrong_pin_shows_the_tries_left_and_the_request_stays_pending(
    discovery, base_url, clock, cards, reset_cards
):
    serial, id_nat = WRONG_PIN_CARD
    reset_cards.append(serial)
    clock.freeze()
    ciba = Ciba(discovery)
    auth_req_id = ciba.started(id_nat, binding="64", channel="CARD")
    reader = Reader(base_url, serial)

    wrong = reader.answer(pin="0000")
    assert wrong.status_code == 400
    assert error_of(wrong) == "Code porteur incorrect : il vous reste 2 essais"
    assert len(reader.pending_forms()) == 1  # still there, still pending
    assert error(ciba.poll(auth_req_id)) == ("authorization_pending", PENDING)

    assert error_of(reader.answer(pin="9999")) == "Code porteur incorrect : il vous reste 1 essai"
    locked = reader.answer(pin="0000")
    assert locked.status_code == 400 and error_of(locked).startswith("Carte bloquée")
    assert cards.state(serial).locked
    assert "bloquée" in text(reader.page())
    # even the right PIN no longer opens a locked card; the request is still pending
    assert error_of(reader.answer(pin="1234")).startswith("Carte bloquée")
    clock.advance(5)
    assert error(ciba.poll(auth_req_id)) == ("authorization_pending", PENDING)

    cards.unblock(serial)  # the PUK, then the right PIN approves
    assert "Connexion validée" in text(reader.answer(pin="1234"))
    clock.advance(5)
    assert ciba.poll(auth_req_id).status_code == 200


def test_refusal_on_the_reader_is_access_denied(discovery, base_url, reset_cards):
    serial, id_nat = REFUSED_CARD
    reset_cards.append(serial)
    ciba = Ciba(discovery)
    auth_req_id = ciba.started(id_nat, binding="08", channel="CARD")
    refused = Reader(base_url, serial).answer(pin=None, action="refuse")  # no PIN needed
    assert refused.status_code == 200 and "Demande refusée" in text(refused)
    assert error(ciba.poll(auth_req_id)) == ("access_denied", "not authorized")


def test_each_simulator_shows_only_its_channel(discovery, base_url, clock):
    serial, id_nat = BOTH_CHANNELS_CARD
    clock.freeze()
    ciba = Ciba(discovery)
    mobile = ciba.started(id_nat, binding="12", channel="MOBILE")
    card = ciba.started(id_nat, binding="34", channel="CARD")  # supersedes no phone push

    phone = Phone(base_url, id_nat)
    phone_forms = [f for f in forms(phone.http.get(phone.url, timeout=5).text) if f["radios"]]
    assert len(phone_forms) == 1 and "12" in phone_forms[0]["radios"]
    reader = Reader(base_url, serial)
    reader_forms = reader.pending_forms()
    assert len(reader_forms) == 1 and ">34<" in reader.page().text

    # the phone cannot answer the reader's request, even with the e-CPS password
    card_approval = reader_forms[0]["action"].rsplit("/", 1)[1]
    stolen = phone.http.post(
        f"{phone.url}/approvals/{card_approval}",
        data={
            "csrf": reader_forms[0]["fields"]["csrf"],
            "password": identity(id_nat).ecps_password,
            "code": "34",
            "action": "approve",
        },
        timeout=5,
    )
    assert stolen.status_code == 404 and "n'existe plus" in text(stolen)
    # nor the reader the phone's, even with the card's PIN
    mobile_approval = phone_forms[0]["action"].rsplit("/", 1)[1]
    crossed = {
        "action": f"{reader.url}/approvals/{mobile_approval}",
        "fields": {"csrf": phone_forms[0]["fields"]["csrf"]},
    }
    assert reader.answer(pin="1234", form=crossed).status_code == 404

    # both still pending; each answered where it belongs
    phone.answer(password=identity(id_nat).ecps_password, code="12")
    reader.answer(pin=None, action="refuse")
    assert ciba.poll(mobile).status_code == 200
    assert error(ciba.poll(card)) == ("access_denied", "not authorized")


def test_reader_index_lists_the_inserted_cards(base_url):
    page = requests.get(f"{base_url}/reader/", timeout=5)
    assert page.status_code == 200
    for serial, _ in (APPROVED_CARD, WRONG_PIN_CARD, REFUSED_CARD):
        assert f'href="/reader/{serial}"' in page.text
    assert "2600000001" in page.text  # staff cards too


def test_unknown_card_and_escaping(base_url):
    page = requests.get(f"{base_url}/reader/%3Cscript%3Ex", timeout=5)
    assert page.status_code == 404
    assert "<script>x" not in page.text and "&lt;script&gt;x" in page.text


def test_stale_csrf_is_refused(discovery, base_url):
    serial, id_nat = REFUSED_CARD
    Ciba(discovery).started(id_nat, binding="55", channel="CARD")
    reader = Reader(base_url, serial)
    form = reader.pending_forms()[0]
    form = {**form, "fields": {**form["fields"], "csrf": "forged"}}
    refused = reader.answer(pin="1234", form=form)
    assert refused.status_code == 400 and "Formulaire expiré" in error_of(refused)
    assert len(reader.pending_forms()) == 1
    reader.answer(pin=None, action="refuse")  # leave nothing pending
