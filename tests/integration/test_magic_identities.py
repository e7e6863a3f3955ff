"""Magic identities: fixture people whose scenario always gives one outcome, so a user
who cannot call the control API still exercises PSC's known failure modes."""

from __future__ import annotations

import requests

from tests.oidc_client import RelyingParty

ACR_EIDAS3, NO_ACR, SLOW, NO_REFPRO = "899700100409", "899700100417", "899700100425", "899700100433"


def test_acr_eidas3_bug(discovery):
    rp = RelyingParty(discovery)
    token, _ = rp.login_auto(ACR_EIDAS3)
    assert rp.verify(token["id_token"], audience="psc-mock-ci")["acr"] == "eidas3"
    assert rp.verify(token["access_token"])["acr"] == "eidas3"


def test_tokens_without_acr(discovery):
    rp = RelyingParty(discovery)
    token, _ = rp.login_auto(NO_ACR)
    assert "acr" not in rp.verify(token["id_token"], audience="psc-mock-ci")


def test_userinfo_without_subject_ref_pro(discovery):
    rp = RelyingParty(discovery)
    token, _ = rp.login_auto(NO_REFPRO)
    info = requests.get(
        discovery["userinfo_endpoint"],
        headers={"Authorization": "Bearer " + token["access_token"]},
        timeout=5,
    ).json()
    assert "SubjectRefPro" not in info and info["SubjectNameID"] == NO_REFPRO


def test_slow_approval_shows_the_pending_page(discovery):
    url, _ = RelyingParty(discovery).authorization_url(login_hint=SLOW)
    response = requests.get(url, allow_redirects=False, timeout=5)
    assert response.status_code == 302
    assert "/login-actions/" in response.headers["Location"]  # not straight to the client
