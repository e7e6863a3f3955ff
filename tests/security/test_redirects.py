"""Open redirects and header injection: the mock sends a browser only to a URI its client
registered, exactly, and no input reaches a response header unencoded."""

from __future__ import annotations

import re
from urllib.parse import urlencode, urlparse

import pytest
import requests

from tests.conftest import CI_CLIENT
from tests.fixture_people import auto_medecin
from tests.oidc_client import RelyingParty, follow_to_callback
from tests.session_client import SsoBrowser

REGISTERED = CI_CLIENT[2]  # http://localhost:9999/callback
AUTHORIZE = {
    "response_type": "code",
    "client_id": CI_CLIENT[0],
    "scope": "openid scope_all",
    "acr_values": "eidas1",
    "state": "s1",
    "nonce": "n1",
}

NEAR_MISSES = [
    "http://localhost:9999/callback/../evil",
    "http://localhost:9999/callbackx",
    "http://localhost:9999/callback/",
    "http://localhost:9999/callback?next=http://evil.example",
    "http://localhost:9999/callback#frag",
    "http://localhost:9999@evil.example/callback",
    "http://evil.example/?http://localhost:9999/callback",
    "http://LOCALHOST:9999/callback",
    "HTTP://localhost:9999/callback",
    "http://localhost:9999/CALLBACK",
    "http://localhost:9999/%63allback",
    "https://localhost:9999/callback",
    "http://localhost:99999/callback",
    "http://localhost:9998/callback",
    "//evil.example/callback",
    "/callback",
    "javascript:alert(1)//localhost:9999/callback",
    "http://localhost:9999/callback\r\nSet-Cookie: x=1",
]


def _authorize(discovery, **params) -> requests.Response:
    query = urlencode({**AUTHORIZE, **params})
    return requests.get(
        discovery["authorization_endpoint"] + "?" + query, allow_redirects=False, timeout=5
    )


@pytest.mark.parametrize("redirect_uri", NEAR_MISSES)
def test_a_near_miss_redirect_uri_gets_a_page_never_a_redirect(discovery, redirect_uri):
    response = _authorize(discovery, redirect_uri=redirect_uri, login_hint=auto_medecin().id_nat)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.headers["Content-Type"].startswith("text/html")
    assert re.search("redirect.uri", response.text, re.IGNORECASE)  # names what was wrong


@pytest.mark.parametrize("client_id", ["unknown-client", "", "psc-mock-ci\r\nX: y", "<script>"])
def test_an_unknown_client_gets_a_page_never_a_redirect(discovery, client_id):
    response = _authorize(discovery, client_id=client_id, redirect_uri=REGISTERED)
    assert response.status_code in (400, 401)
    assert "Location" not in response.headers
    assert "<script>" not in response.text


def test_an_error_for_a_good_client_goes_only_to_its_registered_uri(discovery):
    response = _authorize(discovery, redirect_uri=REGISTERED, scope="openid")
    assert response.status_code == 302
    location = urlparse(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REGISTERED


@pytest.mark.parametrize(
    "target",
    [
        "http://evil.example/",
        "http://localhost:9999/callback",  # a redirect_uri, not a post-logout URI
        "http://localhost:9999/logged-out/../x",
        "//evil.example",
        "javascript:alert(1)",
    ],
)
def test_post_logout_redirect_uri_must_be_registered_exactly(discovery, target):
    browser = SsoBrowser()
    tokens = browser.login(RelyingParty(discovery), login_hint=auto_medecin().id_nat)
    response = browser.http.get(
        discovery["end_session_endpoint"],
        params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": target},
        allow_redirects=False,
        timeout=5,
    )
    assert response.status_code == 400
    assert "Location" not in response.headers


@pytest.mark.parametrize("field", ["state", "login_hint", "nonce", "redirect_uri"])
def test_crlf_in_a_parameter_never_splits_a_header(discovery, field):
    injected = "a\r\nSet-Cookie: injected=1\r\nX-Injected: 1"
    params = {"redirect_uri": REGISTERED, "login_hint": auto_medecin().id_nat, field: injected}
    response = _authorize(discovery, **params)
    assert response.status_code < 500
    assert "X-Injected" not in response.headers
    assert "injected" not in response.headers.get("Set-Cookie", "")
    assert "\n" not in response.headers.get("Location", "")


def test_state_with_crlf_comes_back_encoded_to_the_client(discovery):
    query = {**AUTHORIZE, "redirect_uri": REGISTERED, "login_hint": auto_medecin().id_nat}
    query["state"] = "x\r\nX-Injected: 1"
    url = discovery["authorization_endpoint"] + "?" + urlencode(query)
    callback = follow_to_callback(requests.Session(), url, REGISTERED)
    assert callback.params["state"] == "x\r\nX-Injected: 1"
    assert "%0D%0A" in callback.url.upper()
