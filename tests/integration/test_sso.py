"""The SSO session: a cookie lets the same browser sign in again without a login, within
PSC's limits (4 h, 30 min idle), and ``prompt``/``max_age`` decide when it may not."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, quote, urlparse

import pytest
import requests

from tests.fixture_people import auto_medecin, identity, person
from tests.integration.test_authorize_errors import GOOD
from tests.integration.test_ecps_flow import Browser, Phone, _manual_person
from tests.oidc_client import RelyingParty
from tests.session_client import (
    DEMO_CLIENT,
    SsoBrowser,
    active,
    goes_to_login_page,
    introspect,
    refresh,
    to_callback,
)


def other_auto_person():
    return person(lambda p, _: p.id_nat != auto_medecin().id_nat, policy="auto")


@pytest.fixture
def signed_in(discovery):
    """A browser signed in to psc-mock-ci as the auto médecin (login_hint, no page)."""
    browser = SsoBrowser()
    rp = RelyingParty(discovery)
    token = browser.login(rp, login_hint=auto_medecin().id_nat)
    return browser, rp, token


def _claims(rp: RelyingParty, token: dict) -> dict:
    return rp.verify(token["id_token"], audience=rp.session.client_id)


def test_cookie_is_set_httponly_lax_on_auth(discovery):
    rp = RelyingParty(discovery)
    response, _ = SsoBrowser().authorize(rp, login_hint=auto_medecin().id_nat)
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("KEYCLOAK_IDENTITY=")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path"} <= attributes and "secure" not in attributes
    assert "SameSite=Lax" in cookie and "Path=/auth" in cookie
    assert "max-age" not in attributes and "expires" not in attributes  # browser session
    sid = parse_qs(urlparse(response.headers["Location"]).query)["session_state"][0]
    assert cookie.split("=", 1)[1].split(";")[0].split(".")[0] == sid


def test_cookie_is_secure_under_https(start_server):
    server = start_server(public_url="https://psc.test")
    url = f"http://127.0.0.1:{server.port}/auth"
    response = requests.get(
        url,
        params={**GOOD, "login_hint": auto_medecin().id_nat},
        allow_redirects=False,
        timeout=5,
    )
    assert response.status_code == 302
    assert "; Secure" in response.headers["Set-Cookie"]


def test_second_authorize_reuses_the_session(signed_in):
    browser, rp, first = signed_in
    response, secrets = browser.authorize(rp)  # no login_hint: only the cookie
    callback = to_callback(response, rp)
    assert callback.params["state"] == secrets["state"]
    assert callback.params["iss"] == rp.discovery["issuer"]
    assert callback.params["session_state"] == first["session_state"]
    second = rp.fetch_token(callback, secrets["code_verifier"])
    one, two = _claims(rp, first), _claims(rp, second)
    assert two["sid"] == two["session_state"] == one["sid"] == second["session_state"]
    assert two["auth_time"] == one["auth_time"]
    assert two["nonce"] == secrets["nonce"]


def test_another_client_reuses_the_session(signed_in, discovery):
    browser, rp, first = signed_in
    demo = RelyingParty(discovery, client=DEMO_CLIENT)
    token = browser.login(demo)
    claims = _claims(demo, token)
    assert claims["sid"] == first["session_state"]
    assert claims["SubjectNameID"] == auto_medecin().id_nat
    assert claims["auth_time"] == _claims(rp, first)["auth_time"]


def test_without_cookie_or_with_a_forged_one_a_login_is_needed(signed_in, discovery):
    browser, rp, first = signed_in
    response, _ = SsoBrowser().authorize(rp)
    assert goes_to_login_page(response)
    forged = SsoBrowser()
    forged.http.cookies.set("KEYCLOAK_IDENTITY", first["session_state"] + ".guess")
    response, _ = forged.authorize(rp)
    assert goes_to_login_page(response)
    forged.http.cookies.set("KEYCLOAK_IDENTITY", first["session_state"])
    response, _ = forged.authorize(rp)
    assert goes_to_login_page(response)
    copied = SsoBrowser()  # the control: the real cookie, set the same way, works
    copied.http.cookies.set("KEYCLOAK_IDENTITY", browser.cookie())
    assert copied.login(rp)["session_state"] == first["session_state"]


def test_prompt_none_with_and_without_a_session(signed_in):
    browser, rp, first = signed_in
    token = browser.login(rp, prompt="none")
    assert token["session_state"] == first["session_state"]

    response, secrets = SsoBrowser().authorize(rp, prompt="none")
    callback = to_callback(response, rp)
    assert callback.params["error"] == "login_required"
    assert callback.params["state"] == secrets["state"]
    assert callback.params["iss"] == rp.discovery["issuer"]
    # even an ``auto`` identity does not log in with prompt=none
    response, _ = SsoBrowser().authorize(rp, prompt="none", login_hint=auto_medecin().id_nat)
    assert to_callback(response, rp).params["error"] == "login_required"


def test_prompt_none_with_another_value_is_invalid(signed_in):
    browser, rp, _ = signed_in
    response, _ = browser.authorize(rp, prompt="none login")
    assert to_callback(response, rp).params["error"] == "invalid_request"


def test_prompt_login_forces_a_new_login(signed_in):
    browser, rp, first = signed_in
    response, _ = browser.authorize(rp, prompt="login")
    assert goes_to_login_page(response)

    time.sleep(1.1)  # auth_time has one-second precision
    again = browser.login(rp, prompt="login", login_hint=auto_medecin().id_nat)
    one, two = _claims(rp, first), _claims(rp, again)
    assert two["sid"] == one["sid"]  # the same person: the same session, re-authenticated
    assert two["auth_time"] > one["auth_time"]
    # the session now carries the new auth_time
    third = browser.login(rp)
    assert _claims(rp, third)["auth_time"] == two["auth_time"]


@pytest.mark.parametrize("prompt", ["consent", "select_account"])
def test_other_prompts_reuse_the_session(signed_in, prompt):
    browser, rp, first = signed_in
    assert browser.login(rp, prompt=prompt)["session_state"] == first["session_state"]


def test_max_age_on_the_mock_clock(signed_in, clock):
    browser, rp, first = signed_in
    clock.advance(100)
    assert browser.login(rp, max_age="3600")["session_state"] == first["session_state"]
    response, _ = browser.authorize(rp, max_age="60")
    assert goes_to_login_page(response)
    response, _ = browser.authorize(rp, max_age="60", prompt="none")
    assert to_callback(response, rp).params["error"] == "login_required"
    response, _ = browser.authorize(rp, max_age="0")
    assert goes_to_login_page(response)
    # a new login resets the age
    browser.login(rp, max_age="60", login_hint=auto_medecin().id_nat)
    assert browser.login(rp, max_age="60")["session_state"] == first["session_state"]


def test_invalid_max_age_is_refused_to_the_client(signed_in):
    browser, rp, _ = signed_in
    response, _ = browser.authorize(rp, max_age="soon")
    params = to_callback(response, rp).params
    assert params["error"] == "invalid_request"
    assert "max_age" in params["error_description"]


def test_login_hint_for_someone_else_logs_them_in(signed_in):
    browser, rp, first = signed_in
    other = other_auto_person()
    token = browser.login(rp, login_hint=other.id_nat)
    claims = _claims(rp, token)
    assert claims["SubjectNameID"] == other.id_nat
    assert claims["sid"] != first["session_state"]
    # the browser now holds the new session; the old one lives on for its client
    assert browser.login(rp)["session_state"] == token["session_state"]
    assert refresh(rp.discovery, first["refresh_token"]).ok


def test_idle_session_ends_after_30_minutes(signed_in, clock):
    browser, rp, first = signed_in
    clock.advance(1799)
    assert browser.login(rp)["session_state"] == first["session_state"]  # activity
    clock.advance(1799)
    second = browser.login(rp)
    assert second["session_state"] == first["session_state"]
    clock.advance(1800)
    response, _ = browser.authorize(rp)
    assert goes_to_login_page(response)
    refused = refresh(rp.discovery, second["refresh_token"])
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_grant", "error_description": "Session not active"}
    assert not active(introspect(rp.discovery, second["access_token"]))


def test_refresh_is_activity_for_the_session(signed_in, clock):
    browser, rp, first = signed_in
    token = first
    for _ in range(3):  # 3 x 25 min without the browser, refreshing
        clock.advance(1500)
        token = refresh(rp.discovery, token["refresh_token"]).json()
    assert browser.login(rp)["session_state"] == first["session_state"]


def test_session_ends_after_4_hours_whatever_the_activity(signed_in, clock):
    browser, rp, first = signed_in
    for _ in range(9):  # 9 x 25 min = 3 h 45, active all along
        clock.advance(1500)
        token = browser.login(rp)
        assert token["session_state"] == first["session_state"]
    assert 895 <= token["refresh_expires_in"] <= 900  # what is left of the 4 h
    clock.advance(901)
    response, _ = browser.authorize(rp)
    assert goes_to_login_page(response)
    refused = refresh(rp.discovery, token["refresh_token"]).json()
    assert refused == {"error": "invalid_grant", "error_description": "Session not active"}


def test_manual_ecps_login_sets_the_session_too(discovery, base_url):
    practitioner = _manual_person()
    login = Browser(discovery)
    login.submit_id_nat(practitioner.id_nat)
    phone = Phone(base_url, practitioner.id_nat)
    phone.answer(password=identity(practitioner.id_nat).ecps_password, code=login.shown_code)
    callback = login.continue_to_client()
    first = login.rp.fetch_token(callback, login.secrets["code_verifier"])

    url, _ = login.rp.authorization_url()
    response = login.http.get(url, allow_redirects=False, timeout=5)
    assert response.headers["Location"].startswith("http://localhost:9999/callback?code=")
    assert f"session_state={quote(first['session_state'])}" in response.headers["Location"]


def _exchange(rp: RelyingParty, code: str, verifier: str) -> requests.Response:
    return requests.post(
        rp.discovery["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": rp.redirect_uri,
            "code_verifier": verifier,
        },
        auth=(rp.session.client_id, rp.session.client_secret),
        timeout=5,
    )


def test_a_retried_code_exchange_leaves_the_sso_session(discovery):
    """A replayed code detaches its client (Keycloak), it does not log the person out."""
    browser, rp = SsoBrowser(), RelyingParty(discovery)
    response, _ = browser.authorize(rp, login_hint=auto_medecin().id_nat)
    code = to_callback(response, rp).params["code"]
    for _ in range(2):  # a wrong PKCE verifier, then the retry (a replay)
        failed = _exchange(rp, code, "x" * 43)
        assert failed.status_code == 400 and failed.json()["error"] == "invalid_grant"
    response, _ = browser.authorize(rp, prompt="none")
    assert "code" in to_callback(response, rp).params


def test_a_replayed_code_revokes_its_client_tokens_not_the_session(signed_in):
    browser, rp, first = signed_in  # the session's only client
    response, secrets = browser.authorize(rp)
    code = to_callback(response, rp).params["code"]
    second = _exchange(rp, code, secrets["code_verifier"]).json()
    assert _exchange(rp, code, secrets["code_verifier"]).json()["error"] == "invalid_grant"
    for token in (first, second):
        assert not active(introspect(rp.discovery, token["access_token"]))
        assert refresh(rp.discovery, token["refresh_token"]).json()["error"] == "invalid_grant"
    assert browser.login(rp, prompt="none")["session_state"] == first["session_state"]
