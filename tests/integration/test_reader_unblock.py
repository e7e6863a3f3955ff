"""Unblocking a locked card with its PUK on the card-reader simulator, as CPS-Gestion does:
the PUK (its own tries), then a new PIN typed twice; the card logs in with the new PIN."""

from __future__ import annotations

from urllib.parse import urljoin

import pytest

from tests.card_browser import CardBrowser, error_of, text
from tests.integration.test_ciba_card import Reader
from tests.oidc_client import forms

LOCKED = "2800100300"  # declared locked; PIN 1234, PUK 12345678
PUK = "12345678"


def unblock(reader: Reader, puk: str, pin: str, again: str | None = None):
    [form] = [form for form in forms(reader.page().text) if form["action"].endswith("/unblock")]
    data = {**form["fields"], "puk": puk, "new_pin": pin, "new_pin_again": again or pin}
    return reader.http.post(urljoin(reader.url, form["action"]), data=data, timeout=5)


@pytest.fixture
def locked(reset_cards) -> str:
    reset_cards.append(LOCKED)
    return LOCKED


def test_the_puk_and_a_new_pin_unblock_the_card(discovery, base_url, cards, locked):
    reader = Reader(base_url, locked)
    assert "Débloquer la carte" in text(reader.page())
    wrong = unblock(reader, "87654321", "4321")
    assert wrong.status_code == 400
    assert error_of(wrong) == "Code de déblocage incorrect : il vous reste 2 essais"
    done = unblock(reader, PUK, "4321")
    assert done.status_code == 200 and "Carte débloquée" in text(done)
    assert "Débloquer la carte" not in text(reader.page())
    state = cards.state(locked)
    assert (state.pin_tries_left, state.puk_tries_left) == (3, 3)
    assert error_of(CardBrowser(discovery).login(locked, "1234")).startswith(
        "Code porteur incorrect"
    )
    browser = CardBrowser(discovery)
    browser.login(locked, "4321")
    assert browser.tokens()[0]["authMode"] == "CARD"


@pytest.mark.parametrize(
    ("puk", "pin", "again", "says"),
    [
        ("1234", "4321", None, "Le code de déblocage (PUK) se compose de 8 chiffres."),
        (
            "\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18",
            "4321",
            None,
            "Le code de déblocage (PUK) se compose de 8 chiffres.",
        ),
        (PUK, "43", None, "Le code porteur se compose de 4 chiffres."),
        (PUK, "4321", "4322", "Les deux saisies du nouveau code porteur diffèrent : recommencez."),
    ],
)
def test_a_typing_slip_costs_no_puk_try(base_url, cards, locked, puk, pin, again, says):
    slipped = unblock(Reader(base_url, locked), puk, pin, again)
    assert slipped.status_code == 400 and error_of(slipped) == says
    state = cards.state(locked)
    assert state.locked and state.puk_tries_left == 3


def test_three_wrong_puks_make_the_card_unusable(base_url, locked):
    reader = Reader(base_url, locked)
    unblock(reader, "00000000", "4321")
    unblock(reader, "00000000", "4321")
    last = unblock(reader, "00000000", "4321")
    assert error_of(last).startswith("Code de déblocage bloqué : la carte est inutilisable")
    assert error_of(unblock(reader, PUK, "4321")).startswith("Code de déblocage bloqué")


def test_the_form_needs_the_readers_own_cookie(base_url, cards, locked):
    """A page elsewhere cannot post it: its token must match a SameSite=Strict cookie."""
    reader = Reader(base_url, locked)
    page = reader.page()
    assert "samesite=strict" in page.headers["Set-Cookie"].lower()
    [form] = [form for form in forms(page.text) if form["action"].endswith("/unblock")]
    data = {**form["fields"], "puk": PUK, "new_pin": "4321", "new_pin_again": "4321"}
    reader.http.cookies.clear()
    refused = reader.http.post(urljoin(reader.url, form["action"]), data=data, timeout=5)
    assert refused.status_code == 400
    assert error_of(refused) == "Formulaire expiré : rechargez la page."
    assert cards.state(locked).locked
