"""Revocation (RFC 7009) with Keycloak's effects: a refresh token takes its client out of
the session, an access token is refused until it expires."""

from __future__ import annotations

import time

import requests

from tests.conftest import CI_CLIENT
from tests.fixture_people import auto_medecin
from tests.oidc_client import RelyingParty
from tests.session_client import (
    DEMO_CLIENT,
    POST_CLIENT,
    SsoBrowser,
    active,
    client_credentials,
    introspect,
    refresh,
    revoke,
    userinfo,
)


def test_revoking_the_refresh_token_ends_the_sessions_tokens(discovery):
    token, _ = RelyingParty(discovery).login_auto(auto_medecin().id_nat)
    response = revoke(discovery, token["refresh_token"], hint="refresh_token")
    assert response.status_code == 200

    refused = refresh(discovery, token["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert not active(introspect(discovery, token["refresh_token"]))
    assert not active(introspect(discovery, token["access_token"]))
    info = userinfo(discovery, token["access_token"])
    assert info.status_code == 401 and info.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in info.headers["WWW-Authenticate"]


def test_revoking_a_refresh_token_from_an_older_refresh_too(discovery):
    first, _ = RelyingParty(discovery).login_auto(auto_medecin().id_nat)
    second = refresh(discovery, first["refresh_token"]).json()
    assert revoke(discovery, second["refresh_token"]).status_code == 200
    # the client left the session: every refresh token of it goes
    assert refresh(discovery, first["refresh_token"]).json()["error"] == "invalid_grant"
    assert not active(introspect(discovery, second["access_token"]))


def test_revoking_the_access_token_leaves_the_session(discovery):
    token, _ = RelyingParty(discovery).login_auto(auto_medecin().id_nat)
    assert revoke(discovery, token["access_token"], post=False).status_code == 200
    assert not active(introspect(discovery, token["access_token"]))
    info = userinfo(discovery, token["access_token"])
    assert info.status_code == 401
    assert info.json()["error_description"] == "Token verification failed"

    renewed = refresh(discovery, token["refresh_token"])
    assert renewed.status_code == 200
    assert active(introspect(discovery, renewed.json()["access_token"]))
    assert userinfo(discovery, renewed.json()["access_token"]).status_code == 200


def test_another_clients_token_is_refused_and_stays_active(discovery):
    token, _ = RelyingParty(discovery).login_auto(auto_medecin().id_nat)
    for value in (token["refresh_token"], token["access_token"]):
        response = revoke(discovery, value, DEMO_CLIENT)
        assert response.status_code == 400
        assert response.json() == {
            "error": "invalid_request",
            "error_description": "Unmatching clients",
        }
        assert active(introspect(discovery, value))


def test_unknown_tokens_revoke_quietly_authentication_does_not(discovery):
    for value in ("garbage", "a.b.c", ""):
        assert revoke(discovery, value, POST_CLIENT, post=True).status_code == 200
    endpoint = discovery["revocation_endpoint"]
    anonymous = requests.post(endpoint, data={"token": "garbage"}, timeout=5)
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client"
    missing = requests.post(endpoint, data={}, auth=CI_CLIENT[:2], timeout=5)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"


def test_revoking_twice_is_harmless(discovery):
    token, _ = RelyingParty(discovery).login_auto(auto_medecin().id_nat)
    assert revoke(discovery, token["refresh_token"]).status_code == 200
    assert revoke(discovery, token["refresh_token"]).status_code == 200
    assert revoke(discovery, token["access_token"]).status_code == 200


def test_service_account_token_can_be_revoked(discovery):
    token = client_credentials(discovery).json()["access_token"]
    assert active(introspect(discovery, token))
    assert revoke(discovery, token, ("psc-mock-service", "psc-mock-service-secret")).ok
    assert not active(introspect(discovery, token))


def test_other_clients_of_the_sso_session_keep_their_tokens(discovery):
    """Keycloak detaches one client session; the user session ends with its last client."""
    browser = SsoBrowser()
    ci = RelyingParty(discovery)
    demo = RelyingParty(discovery, client=DEMO_CLIENT)
    ci_token = browser.login(ci, login_hint=auto_medecin().id_nat)
    demo_token = browser.login(demo)  # SSO: same session
    assert demo_token["session_state"] == ci_token["session_state"]

    assert revoke(discovery, ci_token["refresh_token"]).ok
    assert not active(introspect(discovery, ci_token["access_token"]))
    assert active(introspect(discovery, demo_token["access_token"]))
    assert refresh(discovery, demo_token["refresh_token"], DEMO_CLIENT).ok

    # The CI client signs in again in the same session: its new tokens count, its
    # tokens from before the revocation do not (Keycloak's 1-second slack, then stale).
    time.sleep(2.1)
    again = browser.login(ci)
    assert again["session_state"] == ci_token["session_state"]
    assert active(introspect(discovery, again["access_token"]))
    assert not active(introspect(discovery, ci_token["access_token"]))

    # The last client's refresh token revoked: the session ends, SSO with it.
    assert revoke(discovery, again["refresh_token"]).ok
    assert revoke(discovery, demo_token["refresh_token"], DEMO_CLIENT).ok
    response, _ = browser.authorize(demo)
    assert "/login-actions/authenticate" in response.headers["Location"]
