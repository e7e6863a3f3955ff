"""Stolen or replayed authorization codes, and PKCE downgrades: the second use of a code
is refused and costs its first use's tokens (RFC 6749 §4.1.2); a code bound to an S256
challenge needs its verifier, hashed."""

from __future__ import annotations

import pytest
import requests
from authlib.integrations.base_client.errors import OAuthError

from tests.fixture_people import auto_medecin
from tests.oidc_client import RelyingParty, follow_to_callback
from tests.session_client import active, introspect, refresh, userinfo


def _code(rp: RelyingParty, **params):
    url, secrets = rp.authorization_url(login_hint=auto_medecin().id_nat, **params)
    return follow_to_callback(requests.Session(), url, rp.redirect_uri), secrets


def test_replayed_code_is_refused_and_revokes_the_first_tokens(discovery):
    rp = RelyingParty(discovery)
    callback, secrets = _code(rp)
    tokens = rp.fetch_token(callback, secrets["code_verifier"])
    assert active(introspect(discovery, tokens["access_token"]))

    with pytest.raises(OAuthError) as replay:
        rp.fetch_token(callback, secrets["code_verifier"])

    assert replay.value.error == "invalid_grant"
    assert not active(introspect(discovery, tokens["access_token"]))
    assert userinfo(discovery, tokens["access_token"]).status_code == 401
    assert refresh(discovery, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_replay_by_another_client_revokes_nothing(discovery):
    from tests.session_client import POST_CLIENT

    rp = RelyingParty(discovery)
    callback, secrets = _code(rp)
    tokens = rp.fetch_token(callback, secrets["code_verifier"])
    thief = requests.post(
        discovery["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": callback.params["code"],
            "redirect_uri": rp.redirect_uri,
            "code_verifier": secrets["code_verifier"],
            "client_id": POST_CLIENT[0],
            "client_secret": POST_CLIENT[1],
        },
        timeout=5,
    )
    assert thief.json()["error"] == "invalid_grant"
    assert active(introspect(discovery, tokens["access_token"]))


def _exchange(discovery, rp: RelyingParty, code: str, **extra) -> requests.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri}
    return requests.post(
        discovery["token_endpoint"],
        data={**data, **extra},
        auth=(rp.session.client_id, rp.session.client_secret),
        timeout=5,
    )


@pytest.mark.parametrize(
    "verifier",
    [None, "", "the-challenge-itself", "x" * 43],
    ids=["missing", "empty", "challenge-as-plain", "wrong"],
)
def test_s256_code_without_its_verifier_is_refused(discovery, verifier):
    rp = RelyingParty(discovery)
    callback, secrets = _code(rp)
    extra = {} if verifier is None else {"code_verifier": verifier}
    if verifier == "the-challenge-itself":
        from authlib.oauth2.rfc7636 import create_s256_code_challenge

        extra["code_verifier"] = create_s256_code_challenge(secrets["code_verifier"])
    response = _exchange(discovery, rp, callback.params["code"], **extra)
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_grant", "invalid_request")
    # and the code is spent: the right verifier no longer helps
    spent = _exchange(
        discovery, rp, callback.params["code"], code_verifier=secrets["code_verifier"]
    )
    assert spent.json()["error"] == "invalid_grant"


def test_a_verifier_sent_for_a_code_issued_without_challenge_is_refused(discovery):
    rp = RelyingParty(discovery, code_challenge_method=None)
    url, _ = rp.authorization_url(login_hint=auto_medecin().id_nat)
    callback = follow_to_callback(requests.Session(), url, rp.redirect_uri)
    response = _exchange(discovery, rp, callback.params["code"], code_verifier="v" * 50)
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_grant", "invalid_request")
