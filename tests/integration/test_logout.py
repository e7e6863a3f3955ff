"""Logout: RP-initiated (GET and POST, hint, redirect, state, confirmation), its effects
on the session's tokens and cookie, every bad input as a page, and back-channel logout
tokens received by a relying party's server."""

from __future__ import annotations

import html
import logging
import time
from urllib.parse import urljoin

import jwt
import pytest
import requests

from tests.fixture_people import auto_medecin
from tests.oidc_client import RelyingParty, forms
from tests.session_client import (
    PSC_BAS_ISSUER,
    BackchannelReceiver,
    SsoBrowser,
    active,
    discovery_of,
    fixtures_with_clients,
    goes_to_login_page,
    introspect,
    other_key_pem,
    refresh,
    resign,
    userinfo,
)

LOGGED_OUT = "http://localhost:9999/logged-out"  # psc-mock-ci's registered URI


@pytest.fixture
def signed_in(discovery):
    browser = SsoBrowser()
    rp = RelyingParty(discovery)
    token = browser.login(rp, login_hint=auto_medecin().id_nat)
    return browser, rp, token


def text(response: requests.Response) -> str:
    return html.unescape(response.text)


def logout(browser: SsoBrowser, discovery: dict, *, method="GET", **params):
    if method == "POST":
        return browser.http.post(
            discovery["end_session_endpoint"], data=params, allow_redirects=False, timeout=5
        )
    return browser.http.get(
        discovery["end_session_endpoint"], params=params, allow_redirects=False, timeout=5
    )


def assert_session_ended(rp: RelyingParty, token: dict) -> None:
    refused = refresh(rp.discovery, token["refresh_token"])
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_grant", "error_description": "Session not active"}
    assert not active(introspect(rp.discovery, token["access_token"]))
    assert not active(introspect(rp.discovery, token["refresh_token"]))
    assert userinfo(rp.discovery, token["access_token"]).status_code == 401


def assert_session_alive(rp: RelyingParty, token: dict) -> None:
    assert active(introspect(rp.discovery, token["access_token"]))
    assert active(introspect(rp.discovery, token["refresh_token"]))


def test_logout_with_hint_redirects_with_state_and_ends_everything(signed_in, discovery):
    browser, rp, token = signed_in
    response = logout(
        browser,
        discovery,
        id_token_hint=token["id_token"],
        post_logout_redirect_uri=LOGGED_OUT,
        state="après/là",
    )
    assert response.status_code == 302
    assert response.headers["Location"] == LOGGED_OUT + "?state=apr%C3%A8s%2Fl%C3%A0"
    cleared = response.headers["Set-Cookie"]
    assert cleared.startswith("KEYCLOAK_IDENTITY=;") and "Path=/auth" in cleared
    assert "1970" in cleared
    assert browser.cookie() is None
    assert_session_ended(rp, token)
    sso, _ = browser.authorize(rp)
    assert goes_to_login_page(sso)


def test_logout_without_state_adds_none(signed_in, discovery):
    browser, _, token = signed_in
    response = logout(
        browser, discovery, id_token_hint=token["id_token"], post_logout_redirect_uri=LOGGED_OUT
    )
    assert response.headers["Location"] == LOGGED_OUT


def test_logout_without_redirect_shows_psc_page(signed_in, discovery):
    browser, rp, token = signed_in
    response = logout(browser, discovery, id_token_hint=token["id_token"], state="ignored")
    assert response.status_code == 200 and "Location" not in response.headers
    assert "Vous êtes déconnecté" in text(response)
    assert response.headers["Content-Type"].startswith("text/html")
    assert browser.cookie() is None
    assert_session_ended(rp, token)


def test_server_to_server_post_with_hint(signed_in, discovery):
    """ANS's Proxy e-Santé posts the hint from its server: no cookie, no browser."""
    _, rp, token = signed_in
    response = logout(SsoBrowser(), discovery, method="POST", id_token_hint=token["id_token"])
    assert response.status_code == 200
    assert_session_ended(rp, token)


def test_post_with_redirect(signed_in, discovery):
    browser, rp, token = signed_in
    response = logout(
        browser,
        discovery,
        method="POST",
        id_token_hint=token["id_token"],
        post_logout_redirect_uri=LOGGED_OUT,
        state="s",
    )
    assert response.status_code == 302 and response.headers["Location"] == LOGGED_OUT + "?state=s"
    assert_session_ended(rp, token)


def test_an_expired_hint_is_still_accepted(signed_in, discovery):
    browser, rp, token = signed_in
    now = int(time.time())
    expired = resign(token["id_token"], iat=now - 7200, exp=now - 3600)
    with pytest.raises(jwt.ExpiredSignatureError):
        rp.verify(expired, audience="psc-mock-ci")
    response = logout(
        browser, discovery, id_token_hint=expired, post_logout_redirect_uri=LOGGED_OUT
    )
    assert response.status_code == 302 and response.headers["Location"] == LOGGED_OUT
    assert_session_ended(rp, token)


def test_a_hint_of_an_ended_session_is_still_accepted(signed_in, discovery):
    browser, _, token = signed_in
    assert logout(SsoBrowser(), discovery, id_token_hint=token["id_token"]).status_code == 200
    response = logout(
        browser, discovery, id_token_hint=token["id_token"], post_logout_redirect_uri=LOGGED_OUT
    )
    assert response.status_code == 302
    assert browser.cookie() is None


def test_client_id_without_hint_asks_the_browser_to_confirm(signed_in, discovery):
    browser, rp, token = signed_in
    response = logout(
        browser,
        discovery,
        client_id="psc-mock-ci",
        post_logout_redirect_uri=LOGGED_OUT,
        state="s1",
    )
    assert response.status_code == 200 and "Voulez-vous vous déconnecter" in text(response)
    assert "form-action 'self' http://localhost:9999" in response.headers["Content-Security-Policy"]
    assert_session_alive(rp, token)  # nothing happened yet

    form = forms(response.text)[0]
    wrong = browser.http.post(
        urljoin(response.url, form["action"]),
        data={**form["fields"], "confirm": "forged"},
        allow_redirects=False,
        timeout=5,
    )
    assert wrong.status_code == 200 and "Voulez-vous vous déconnecter" in text(wrong)
    assert_session_alive(rp, token)

    confirmed = browser.http.post(
        urljoin(response.url, form["action"]),
        data=form["fields"],
        allow_redirects=False,
        timeout=5,
    )
    assert confirmed.status_code == 302
    assert confirmed.headers["Location"] == LOGGED_OUT + "?state=s1"
    assert browser.cookie() is None
    assert_session_ended(rp, token)
    # the confirmation is single use
    again = browser.http.post(
        urljoin(response.url, form["action"]), data=form["fields"], allow_redirects=False
    )
    assert again.status_code == 302  # no session left: nothing to confirm


def test_without_hint_nor_session_there_is_nothing_to_confirm(discovery):
    response = logout(
        SsoBrowser(), discovery, client_id="psc-mock-ci", post_logout_redirect_uri=LOGGED_OUT
    )
    assert response.status_code == 302 and response.headers["Location"] == LOGGED_OUT
    bare = logout(SsoBrowser(), discovery)
    assert bare.status_code == 200 and "Vous êtes déconnecté" in text(bare)


def _bad_inputs(token: dict) -> dict[str, dict]:
    id_token = token["id_token"]
    return {
        "unregistered redirect": {
            "id_token_hint": id_token,
            "post_logout_redirect_uri": "http://localhost:9999/elsewhere",
        },
        "another client's redirect": {
            "id_token_hint": id_token,
            "post_logout_redirect_uri": "http://localhost:8000/",
        },
        "redirect without hint or client_id": {"post_logout_redirect_uri": LOGGED_OUT},
        "garbage hint": {"id_token_hint": "garbage", "post_logout_redirect_uri": LOGGED_OUT},
        "hint from another issuer": {
            "id_token_hint": resign(id_token, iss=PSC_BAS_ISSUER),
            "post_logout_redirect_uri": LOGGED_OUT,
        },
        "hint signed by another key": {
            "id_token_hint": resign(id_token, key=other_key_pem()),
            "post_logout_redirect_uri": LOGGED_OUT,
        },
        "access token as hint": {
            "id_token_hint": token["access_token"],
            "post_logout_redirect_uri": LOGGED_OUT,
        },
        "client_id not the hint's audience": {
            "id_token_hint": id_token,
            "client_id": "psc-mock-demo",
            "post_logout_redirect_uri": "http://localhost:8000/",
        },
        "unknown client_id": {"client_id": "nobody", "post_logout_redirect_uri": LOGGED_OUT},
    }


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_every_bad_input_is_a_page_never_a_redirect(signed_in, discovery, method):
    browser, rp, token = signed_in
    for name, params in _bad_inputs(token).items():
        response = logout(browser, discovery, method=method, **params, state="s")
        assert response.status_code == 400, name
        assert "Location" not in response.headers, name
        assert "Déconnexion impossible" in text(response), name
        assert "Set-Cookie" not in response.headers, name
        assert_session_alive(rp, token)
    assert browser.cookie() is not None


def test_error_pages_say_what_was_wrong(signed_in, discovery):
    browser, _, token = signed_in
    cases = _bad_inputs(token)
    expected = {
        "unregistered redirect": "Invalid redirect uri",
        "redirect without hint or client_id": "Either the parameter client_id or the "
        "parameter id_token_hint is required when post_logout_redirect_uri is used.",
        "hint from another issuer": "another issuer",
        "unknown client_id": "Invalid parameter: client_id",
    }
    for name, says in expected.items():
        assert says in text(logout(browser, discovery, **cases[name])), name


# --- back-channel logout ----------------------------------------------------------------


def _backchannel_server(start_server, tmp_path, *clients):
    fixtures = fixtures_with_clients(tmp_path, *clients)
    server = start_server(fixtures=str(fixtures))
    return discovery_of(server)


def _client(client_id: str, backchannel_uri: str = "") -> dict:
    client = {
        "client_id": client_id,
        "client_secret": client_id + "-secret",
        "redirect_uris": ["http://localhost:9999/callback"],
        "post_logout_redirect_uris": [LOGGED_OUT],
    }
    if backchannel_uri:
        client["backchannel_logout_uri"] = backchannel_uri
    return client


def _rp(discovery: dict, client_id: str) -> RelyingParty:
    return RelyingParty(
        discovery, client=(client_id, client_id + "-secret", "http://localhost:9999/callback")
    )


def validate_logout_token(discovery: dict, token: str, audience: str) -> dict:
    """What a relying party does (Back-Channel Logout 1.0 §2.6), with pyjwt and the JWKS."""
    key = jwt.PyJWKClient(discovery["jwks_uri"]).get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience=audience,
        issuer=discovery["issuer"],
        options={"require": ["iss", "aud", "iat", "exp", "jti", "events"]},
    )
    assert claims["events"] == {"http://schemas.openid.net/event/backchannel-logout": {}}
    assert "nonce" not in claims
    return claims


def test_backchannel_logout_token_reaches_each_registered_client(start_server, tmp_path):
    with BackchannelReceiver() as receiver:
        discovery = _backchannel_server(
            start_server,
            tmp_path,
            _client("rp-one", receiver.url),
            _client("rp-two", receiver.url),
            _client("rp-silent"),
        )
        browser = SsoBrowser()
        one = browser.login(_rp(discovery, "rp-one"), login_hint=auto_medecin().id_nat)
        browser.login(_rp(discovery, "rp-two"))
        browser.login(_rp(discovery, "rp-silent"))
        response = logout(browser, discovery, id_token_hint=one["id_token"])
        assert response.status_code == 200
        received = receiver.wait(2)
    assert len(received) == 2
    audiences = set()
    for post in received:
        assert post["path"] == "/backchannel-logout"
        assert post["content_type"] == "application/x-www-form-urlencoded"
        token = post["form"]["logout_token"]
        header = jwt.get_unverified_header(token)
        assert header["typ"] == "logout+jwt" and header["alg"] == "RS256" and header["kid"]
        audience = jwt.decode(token, options={"verify_signature": False})["aud"]
        claims = validate_logout_token(discovery, token, audience)
        assert claims["sid"] == one["session_state"]
        assert claims["sub"] == "f:550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd:" + auto_medecin().id_nat
        assert claims["typ"] == "Logout"
        audiences.add(audience)
    assert audiences == {"rp-one", "rp-two"}


def test_backchannel_logout_does_not_block_the_browser(start_server, tmp_path):
    with BackchannelReceiver(delay=3) as receiver:
        discovery = _backchannel_server(start_server, tmp_path, _client("rp-slow", receiver.url))
        token = SsoBrowser().login(_rp(discovery, "rp-slow"), login_hint=auto_medecin().id_nat)
        started = time.monotonic()
        response = logout(
            SsoBrowser(),
            discovery,
            id_token_hint=token["id_token"],
            post_logout_redirect_uri=LOGGED_OUT,
        )
        elapsed = time.monotonic() - started
        assert response.status_code == 302
        assert elapsed < 1.5, elapsed
        assert len(receiver.wait(1)) == 1


@pytest.mark.parametrize("failure", ["unreachable", "refused"])
def test_backchannel_failures_are_logged_not_shown(start_server, tmp_path, caplog, failure):
    caplog.set_level(logging.INFO, logger="idp.oidc.logout")
    with BackchannelReceiver(status=500) as receiver:
        if failure == "unreachable":
            with BackchannelReceiver() as closed:
                uri = closed.url  # closed again when this block ends
        else:
            uri = receiver.url
        discovery = _backchannel_server(start_server, tmp_path, _client("rp-broken", uri))
        token = SsoBrowser().login(_rp(discovery, "rp-broken"), login_hint=auto_medecin().id_nat)
        response = logout(SsoBrowser(), discovery, id_token_hint=token["id_token"])
        assert response.status_code == 200 and "Vous êtes déconnecté" in text(response)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not _warnings(caplog):
            time.sleep(0.05)
    messages = _warnings(caplog)
    assert messages and "rp-broken" in messages[0]
    assert ("HTTP 500" in messages[0]) == (failure == "refused")


def _warnings(caplog) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "idp.oidc.logout" and record.levelno == logging.WARNING
    ]
