"""A logout link carrying an ``id_token_hint`` logs the browser out unasked only when the
hint was issued for that browser's own session: anyone can get a valid id_token of their
own, so a foreign one proves nothing and the browser is asked to confirm (as Keycloak)."""

from __future__ import annotations

import html
from urllib.parse import urljoin

from tests.fixture_people import auto_medecin, person
from tests.oidc_client import RelyingParty, forms
from tests.session_client import SsoBrowser, active, introspect, refresh

LOGGED_OUT = "http://localhost:9999/logged-out"  # psc-mock-ci's registered URI
CONFIRM = "Voulez-vous vous déconnecter"


def _signed_in(discovery: dict, id_nat: str) -> tuple[SsoBrowser, RelyingParty, dict]:
    browser = SsoBrowser()
    rp = RelyingParty(discovery)
    return browser, rp, browser.login(rp, login_hint=id_nat)


def _other_auto_person() -> str:
    return person(lambda p, _: p.id_nat != auto_medecin().id_nat, policy="auto").id_nat


def _logout_link(browser: SsoBrowser, discovery: dict, id_token: str):
    return browser.http.get(
        discovery["end_session_endpoint"],
        params={"id_token_hint": id_token, "post_logout_redirect_uri": LOGGED_OUT},
        allow_redirects=False,
        timeout=5,
    )


def test_the_browsers_own_hint_logs_out_without_confirmation(discovery):
    browser, _, token = _signed_in(discovery, auto_medecin().id_nat)
    response = _logout_link(browser, discovery, token["id_token"])
    assert response.status_code == 302 and response.headers["Location"] == LOGGED_OUT
    assert browser.cookie() is None
    assert refresh(discovery, token["refresh_token"]).status_code == 400


def test_another_sessions_hint_asks_the_browser_to_confirm(discovery):
    """The attack: a site sends the victim's browser to the logout URL with the
    attacker's own valid id_token. The victim is asked; nothing ends unless they agree."""
    victim, _, token = _signed_in(discovery, auto_medecin().id_nat)
    _, _, attackers = _signed_in(discovery, _other_auto_person())

    response = _logout_link(victim, discovery, attackers["id_token"])
    assert response.status_code == 200 and CONFIRM in html.unescape(response.text)
    assert victim.cookie() is not None
    assert refresh(discovery, token["refresh_token"]).status_code == 200
    assert active(introspect(discovery, attackers["access_token"]))  # nothing ended at all

    # The same person's hint from another browser's session is no better.
    _, _, same_person_elsewhere = _signed_in(discovery, auto_medecin().id_nat)
    again = _logout_link(victim, discovery, same_person_elsewhere["id_token"])
    assert again.status_code == 200 and CONFIRM in html.unescape(again.text)

    # Confirming ends the victim's own session (the hint is not carried over).
    form = forms(response.text)[0]
    confirmed = victim.http.post(
        urljoin(response.url, form["action"]),
        data=form["fields"],
        allow_redirects=False,
        timeout=5,
    )
    assert confirmed.status_code == 302 and confirmed.headers["Location"] == LOGGED_OUT
    assert victim.cookie() is None
    assert active(introspect(discovery, attackers["access_token"]))
