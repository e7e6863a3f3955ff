"""The code flow a relying party runs against PSC, end to end over HTTP."""

from __future__ import annotations

import pytest
import requests
from authlib.integrations.base_client.errors import OAuthError

from tests.conftest import CI_CLIENT
from tests.fixture_people import auto_medecin
from tests.oidc_client import RelyingParty, follow_to_callback
from tests.session_client import userinfo

LEGACY_SUB = "f:550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd:"


def test_auto_identity_logs_in_without_a_page(discovery):
    practitioner = auto_medecin()
    rp = RelyingParty(discovery)
    token, secrets = rp.login_auto(practitioner.id_nat)

    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 120
    assert token["refresh_expires_in"] == 1800
    assert token["not-before-policy"] == 0
    assert token["scope"] == "openid scope_all"
    assert list(token)[:5] == [
        "access_token",
        "expires_in",
        "refresh_expires_in",
        "refresh_token",
        "token_type",
    ]

    id_token = rp.verify(token["id_token"], audience="psc-mock-ci")
    assert id_token["nonce"] == secrets["nonce"]
    assert id_token["SubjectNameID"] == practitioner.id_nat
    assert id_token["sub"] == LEGACY_SUB + practitioner.id_nat
    assert id_token["acr"] == "eidas1" and id_token["authMode"] == "MOBILE"
    assert id_token["typ"] == "ID" and id_token["azp"] == "psc-mock-ci"
    assert id_token["exp"] - id_token["iat"] == 120
    assert id_token["session_state"] == token["session_state"] == id_token["sid"]
    assert "amr" not in id_token

    access = rp.verify(token["access_token"])
    assert "aud" not in access
    assert access["typ"] == "Bearer" and access["nonce"] == secrets["nonce"]
    assert access["exp"] - access["iat"] == 120
    assert access["otherIds"][0]["qualite"] == 1
    assert access["preferred_username"] == practitioner.id_nat


def test_authorization_response_carries_iss_and_session_state(discovery):
    practitioner = auto_medecin()
    rp = RelyingParty(discovery)
    url, _ = rp.authorization_url(login_hint=practitioner.id_nat)
    response = requests.get(url, allow_redirects=False, timeout=5)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("http://localhost:9999/callback?code=")
    assert "iss=" + requests.utils.quote(discovery["issuer"], safe="") in location
    assert "session_state=" in location


def test_userinfo_has_every_psc_key_with_psc_types(discovery):
    practitioner = auto_medecin()
    rp = RelyingParty(discovery)
    token, _ = rp.login_auto(practitioner.id_nat)
    response = requests.get(
        discovery["userinfo_endpoint"],
        headers={"Authorization": "Bearer " + token["access_token"]},
        timeout=5,
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    info = response.json()
    assert info["SubjectNameID"] == practitioner.id_nat
    assert info["sub"] == rp.verify(token["id_token"], audience="psc-mock-ci")["sub"]
    assert isinstance(info["SubjectRole"], list) and info["SubjectRole"]
    assert info["email_verified"] is False
    exercices = info["SubjectRefPro"]["exercices"]
    assert len(exercices) == len(practitioner.exercices)
    for activity in (a for e in exercices for a in e["activities"]):
        assert all(isinstance(value, str) for value in activity.values())


def test_refresh_returns_new_tokens_for_the_same_session(discovery):
    rp = RelyingParty(discovery)
    token, secrets = rp.login_auto(auto_medecin().id_nat)
    refreshed = rp.session.refresh_token(
        discovery["token_endpoint"], refresh_token=token["refresh_token"]
    )
    assert refreshed["session_state"] == token["session_state"]
    assert refreshed["refresh_token"] != token["refresh_token"]
    id_token = rp.verify(refreshed["id_token"], audience="psc-mock-ci")
    assert id_token["nonce"] == secrets["nonce"]


def test_userinfo_refuses_missing_and_forged_tokens(discovery):
    missing = requests.get(discovery["userinfo_endpoint"], timeout=5)
    assert missing.status_code == 401
    forged = requests.get(
        discovery["userinfo_endpoint"],
        headers={"Authorization": "Bearer eyJhbGciOiJub25lIn0.e30."},
        timeout=5,
    )
    assert forged.status_code == 401
    assert forged.json()["error"] == "invalid_token"
    assert "invalid_token" in forged.headers["WWW-Authenticate"]


def test_a_challenge_without_method_is_plain(discovery):
    """RFC 7636 §4.3: no ``code_challenge_method`` means ``plain`` (it was a 500)."""
    rp = RelyingParty(discovery, code_challenge_method=None)
    verifier = "plain-by-default-" + "v" * 40
    url, _ = rp.authorization_url(login_hint=auto_medecin().id_nat, code_challenge=verifier)
    assert "code_challenge_method" not in url
    wrong = follow_to_callback(requests.Session(), url, rp.redirect_uri)
    with pytest.raises(OAuthError) as refused:
        rp.fetch_token(wrong, verifier[:-1] + "w")
    assert refused.value.error == "invalid_grant"
    right = follow_to_callback(requests.Session(), url, rp.redirect_uri)
    assert rp.fetch_token(right, verifier)["access_token"]


def refreshed_without_openid(discovery: dict, refresh_token: str, client=CI_CLIENT) -> dict:
    """A person's token response whose scope lost ``openid`` (a refresh narrowed to
    ``scope_all``): no id_token, and an access token userinfo must refuse."""
    response = requests.post(
        discovery["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": refresh_token, "scope": "scope_all"},
        auth=client[:2],
        timeout=5,
    )
    assert response.status_code == 200, response.text
    token = response.json()
    assert token["scope"] == "scope_all" and "id_token" not in token
    return token


def assert_missing_openid(response: requests.Response) -> None:
    """Keycloak's UserInfoEndpoint for a token without the ``openid`` scope."""
    assert response.status_code == 403
    assert response.json() == {
        "error": "insufficient_scope",
        "error_description": "Missing openid scope",
    }
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ") and 'error="insufficient_scope"' in challenge


def test_userinfo_needs_the_openid_scope(discovery):
    rp = RelyingParty(discovery)
    token, _ = rp.login_auto(auto_medecin().id_nat)
    narrowed = refreshed_without_openid(discovery, token["refresh_token"])
    assert_missing_openid(userinfo(discovery, narrowed["access_token"]))
    assert userinfo(discovery, token["access_token"]).status_code == 200
