"""Refresh tokens slide with use and die with their session (4 h), on the mock clock."""

from __future__ import annotations

import pytest
from authlib.integrations.base_client.errors import OAuthError

from tests.fixture_people import auto_medecin
from tests.oidc_client import RelyingParty


def _refresh(rp: RelyingParty, discovery: dict, refresh_token: str) -> dict:
    return rp.session.refresh_token(discovery["token_endpoint"], refresh_token=refresh_token)


def test_refresh_token_expires_after_idle_lifetime(discovery, clock):
    rp = RelyingParty(discovery)
    token, _ = rp.login_auto(auto_medecin().id_nat)
    clock.advance(1801)
    with pytest.raises(OAuthError) as error:
        _refresh(rp, discovery, token["refresh_token"])
    assert error.value.error == "invalid_grant"


def test_refresh_slides_with_use(discovery, clock):
    rp = RelyingParty(discovery)
    token, _ = rp.login_auto(auto_medecin().id_nat)
    for _ in range(3):  # 3 x 20 min: beyond one idle lifetime, within the session
        clock.advance(1200)
        token = _refresh(rp, discovery, token["refresh_token"])
        assert token["refresh_expires_in"] == 1800


def test_session_maximum_caps_refresh(discovery, clock):
    rp = RelyingParty(discovery)
    token, _ = rp.login_auto(auto_medecin().id_nat)
    for _ in range(9):  # 9 x 25 min = 3 h 45: 15 min left in the 4 h session
        clock.advance(1500)
        token = _refresh(rp, discovery, token["refresh_token"])
    assert 895 <= token["refresh_expires_in"] <= 900
    clock.advance(token["refresh_expires_in"] + 1)
    with pytest.raises(OAuthError) as error:
        _refresh(rp, discovery, token["refresh_token"])
    assert error.value.error == "invalid_grant"


def test_refresh_token_of_another_client_is_refused(discovery):
    token, _ = RelyingParty(discovery).login_auto(auto_medecin().id_nat)
    demo = RelyingParty(
        discovery,
        client=("psc-mock-demo", "psc-mock-demo-secret", "http://localhost:8000/callback"),
    )
    with pytest.raises(OAuthError) as error:
        _refresh(demo, discovery, token["refresh_token"])
    assert error.value.error == "invalid_grant"


def test_access_tokens_expire_on_the_mock_clock_and_new_ones_still_work(discovery, clock):
    import requests

    def userinfo(access_token: str) -> int:
        return requests.get(
            discovery["userinfo_endpoint"],
            headers={"Authorization": "Bearer " + access_token},
            timeout=5,
        ).status_code

    rp = RelyingParty(discovery)
    old, _ = rp.login_auto(auto_medecin().id_nat)
    assert userinfo(old["access_token"]) == 200
    clock.advance(3600)
    assert userinfo(old["access_token"]) == 401  # 120 s have passed on the mock clock
    new, _ = rp.login_auto(auto_medecin().id_nat)
    assert userinfo(new["access_token"]) == 200  # issued after the advance: live
