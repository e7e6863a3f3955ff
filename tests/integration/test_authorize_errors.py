"""Every refusal of the authorize and token endpoints, as PSC (Keycloak) gives it."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import requests
from authlib.integrations.base_client.errors import OAuthError

from tests.fixture_people import auto_medecin
from tests.oidc_client import RelyingParty, follow_to_callback

GOOD = {
    "response_type": "code",
    "client_id": "psc-mock-ci",
    "redirect_uri": "http://localhost:9999/callback",
    "scope": "openid scope_all",
    "acr_values": "eidas1",
    "state": "s1",
    "nonce": "n1",
}


def _authorize(discovery, **changes):
    params = {k: v for k, v in {**GOOD, **changes}.items() if v is not None}
    return requests.get(
        discovery["authorization_endpoint"] + "?" + urlencode(params),
        allow_redirects=False,
        timeout=5,
    )


def _redirect_error(response) -> dict[str, str]:
    assert response.status_code == 302, response.text[:300]
    location = response.headers["Location"]
    assert location.startswith(GOOD["redirect_uri"])
    return {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}


@pytest.mark.parametrize(
    ("changes", "error", "says"),
    [
        ({"scope": "openid"}, "invalid_scope", "scope_all"),
        ({"acr_values": None}, "invalid_request", "acr_values=eidas1"),
        ({"acr_values": "eidas2"}, "invalid_request", "acr_values=eidas1"),
        ({"nonce": None}, "invalid_request", "nonce"),
    ],
)
def test_strict_mode_refuses_what_psc_requires(discovery, issuer, changes, error, says):
    params = _redirect_error(_authorize(discovery, **changes))
    assert params["error"] == error
    assert says in params["error_description"]
    assert params["state"] == "s1"
    assert params["iss"] == issuer


def test_missing_state_is_refused_without_state_in_the_answer(discovery, issuer):
    params = _redirect_error(_authorize(discovery, state=None))
    assert params["error"] == "invalid_request" and "state" in params["error_description"]
    assert "state" not in params and params["iss"] == issuer


def test_lenient_mode_accepts_what_keycloak_tolerates(start_server):
    server = start_server(strict=False)
    url = (
        server.settings.effective_public_url
        + "/auth?"
        + urlencode(
            {
                **GOOD,
                "scope": "openid",
                "acr_values": "",
                "nonce": "",
                "state": "",
                "login_hint": auto_medecin().id_nat,
            }
        )
    )
    callback = follow_to_callback(requests.Session(), url, GOOD["redirect_uri"])
    assert "code" in callback.params


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"redirect_uri": "http://evil.example/callback"}, "Redirect URI"),
        ({"redirect_uri": "http://localhost:9999/callback/../x"}, "Redirect URI"),
        ({"redirect_uri": None}, "redirect_uri"),
        ({"client_id": "nobody"}, "client"),
        ({"client_id": None}, "client_id"),
    ],
)
def test_no_redirect_to_an_unverified_uri_a_page_instead(discovery, changes, says):
    response = _authorize(discovery, **changes)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Requête de connexion invalide" in response.text
    assert says in response.text


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"request": "eyJhbGciOiJub25lIn0.eyJzdGF0ZSI6Im90aGVyIn0."}, "request_not_supported"),
        ({"request_uri": "https://rp.example/request.jwt"}, "request_uri_not_supported"),
    ],
)
def test_request_objects_are_refused_not_ignored(discovery, changes, error):
    params = _redirect_error(_authorize(discovery, **changes))
    assert params["error"] == error and params["state"] == "s1"


def test_unsupported_response_type_is_redirected(discovery):
    params = _redirect_error(_authorize(discovery, response_type="token"))
    assert params["error"] == "unsupported_response_type"


def test_code_is_single_use(discovery):
    rp = RelyingParty(discovery)
    url, secrets = rp.authorization_url(login_hint=auto_medecin().id_nat)
    callback = follow_to_callback(requests.Session(), url, rp.redirect_uri)
    rp.fetch_token(callback, secrets["code_verifier"])
    with pytest.raises(OAuthError) as error:
        rp.fetch_token(callback, secrets["code_verifier"])
    assert error.value.error == "invalid_grant"


def test_pkce_mismatch_is_refused(discovery):
    rp = RelyingParty(discovery)
    url, _ = rp.authorization_url(login_hint=auto_medecin().id_nat)
    callback = follow_to_callback(requests.Session(), url, rp.redirect_uri)
    with pytest.raises(OAuthError) as error:
        rp.fetch_token(callback, "x" * 50)
    assert error.value.error == "invalid_grant"


def test_plain_pkce_is_accepted(discovery):
    rp = RelyingParty(discovery, code_challenge_method=None)
    verifier = "plain-verifier-" + "v" * 40
    url, _ = rp.authorization_url(
        login_hint=auto_medecin().id_nat, code_challenge=verifier, code_challenge_method="plain"
    )
    callback = follow_to_callback(requests.Session(), url, rp.redirect_uri)
    with pytest.raises(OAuthError):
        rp.fetch_token(callback, verifier[:-1] + "w")  # and the code is spent
    callback = follow_to_callback(requests.Session(), url, rp.redirect_uri)
    assert rp.fetch_token(callback, verifier)["access_token"]


def test_wrong_client_secret_is_401_invalid_client(discovery):
    response = requests.post(
        discovery["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": "x",
            "redirect_uri": GOOD["redirect_uri"],
        },
        auth=("psc-mock-ci", "wrong"),
        timeout=5,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_client_secret_post_client_cannot_use_basic(discovery):
    response = requests.post(
        discovery["token_endpoint"],
        data={"grant_type": "authorization_code", "code": "x"},
        auth=("psc-mock-post", "psc-mock-post-secret"),
        timeout=5,
    )
    assert response.status_code == 401


def test_client_secret_post_works(discovery):
    rp = RelyingParty(
        discovery,
        client=("psc-mock-post", "psc-mock-post-secret", "http://localhost:9999/callback"),
        token_endpoint_auth_method="client_secret_post",
    )
    token, _ = rp.login_auto(auto_medecin().id_nat)
    assert token["id_token"]


def test_unknown_grant_type(discovery):
    response = requests.post(
        discovery["token_endpoint"],
        data={"grant_type": "password", "username": "x", "password": "y"},
        auth=("psc-mock-ci", "psc-mock-ci-secret"),
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"
