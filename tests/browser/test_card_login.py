"""The card login walked in Chromium: the "Carte CPS" tab, the simulated reader, a wrong
PIN (the tries left are shown), then the right one, back to the relying party."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from idp.context import EXTENSION
from tests.oidc_client import RelyingParty

SERIAL = "2800100060"  # Nicolas FAURE's CPS, used by no other card test
LOCKED = "2800100300"  # declared locked: PUK 12345678


@pytest.fixture
def card_reset(mock_server):
    yield
    mock_server.app.extensions[EXTENSION].cards.reset(SERIAL)


def test_card_login_wrong_then_right_pin(
    context, discovery, screenshot, relying_party_callback, card_reset
):
    url, secrets = RelyingParty(discovery).authorization_url()
    page = context.new_page()
    page.goto(url)
    page.get_by_role("link", name="Carte CPS").click()
    expect(page.get_by_role("button", name="SE CONNECTER AVEC LA CARTE")).to_be_visible()
    page.get_by_label("Carte insérée").select_option(SERIAL)
    page.get_by_label("Code porteur").fill("9999")
    screenshot(page, "10-card-reader")
    page.get_by_role("button", name="SE CONNECTER AVEC LA CARTE").click()
    alert = page.get_by_role("alert")
    expect(alert).to_have_text("Code porteur incorrect : il vous reste 2 essais")
    screenshot(page, "11-card-wrong-pin")

    expect(page.get_by_label("Carte insérée")).to_have_value(SERIAL)  # still chosen
    page.get_by_label("Code porteur").fill("1234")
    page.get_by_role("button", name="SE CONNECTER AVEC LA CARTE").click()
    expect(page).to_have_url(re.compile(re.escape(relying_party_callback)), timeout=10_000)
    assert f"state={secrets['state']}" in page.url and "code=" in page.url


@pytest.fixture
def locked_reset(mock_server):
    yield
    mock_server.app.extensions[EXTENSION].cards.reset(LOCKED)


def test_a_locked_card_unblocked_with_its_puk(context, base_url, screenshot, locked_reset):
    page = context.new_page()
    page.goto(f"{base_url}/reader/{LOCKED}")
    page.get_by_label("Code de déblocage (PUK)").fill("12345678")
    page.get_by_label("Nouveau code porteur", exact=True).fill("4321")
    page.get_by_label("Confirmez le nouveau code porteur").fill("4321")
    screenshot(page, "12-reader-unblock")
    page.get_by_role("button", name="Débloquer").click()
    expect(page.get_by_role("status")).to_have_text(
        "Carte débloquée : utilisez désormais votre nouveau code porteur."
    )
    expect(page.get_by_role("button", name="Débloquer")).to_have_count(0)
