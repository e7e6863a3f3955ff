"""Malformed requests at the endpoints where clients authenticate: each gets Keycloak's
OAuth error, never a 500."""

from __future__ import annotations

import base64

import pytest
import requests

CLIENT_ENDPOINTS = {
    "token": ("/token", {"grant_type": "client_credentials"}),
    "introspect": ("/token/introspect", {"token": "x"}),
    "revoke": ("/revoke", {"token": "x"}),
    "ciba": (
        "/ext/ciba/auth",
        {"login_hint": "899700100011", "scope": "openid scope_all", "binding_message": "42"},
    ),
}
# Basic credentials Authlib cannot decode: it raised, and the endpoints answered 500.
BAD_BASIC = {
    "not-utf8": "Basic " + base64.b64encode(b"\xff\xfe:x").decode("ascii"),
    "not-ascii": "Basic é",
    "not-base64": "Basic psc-mock-ci:psc-mock-ci-secret",
}


@pytest.mark.parametrize("endpoint", CLIENT_ENDPOINTS)
@pytest.mark.parametrize("header", BAD_BASIC.values(), ids=BAD_BASIC)
def test_undecodable_basic_credentials_are_invalid_client(issuer, endpoint, header):
    path, data = CLIENT_ENDPOINTS[endpoint]
    response = requests.post(
        issuer + "/protocol/openid-connect" + path,
        data=data,
        headers={"Authorization": header},
        timeout=5,
    )
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


def _token_request(discovery: dict, body: str) -> requests.Response:
    return requests.post(
        discovery["token_endpoint"],
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=("psc-mock-service", "psc-mock-service-secret"),
        timeout=5,
    )


def _refused(response: requests.Response, description: str) -> None:
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "error_description": description}
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"


@pytest.mark.parametrize(
    "body",
    [
        "grant_type=client_credentials&grant_type=client_credentials",
        "grant_type=authorization_code&code=a&code=b&redirect_uri=http://localhost:9999/callback",
        "grant_type=authorization_code&code=a&redirect_uri=http://localhost:9999/callback"
        "&redirect_uri=http://localhost:9999/callback",
        "grant_type=client_credentials&scope=scope_all&scope=openid",
    ],
    ids=["grant_type", "code", "redirect_uri", "scope"],
)
def test_a_repeated_parameter_is_refused(discovery, body):
    _refused(_token_request(discovery, body), "duplicated parameter")


def test_a_missing_grant_type_is_invalid_request(discovery):
    _refused(_token_request(discovery, "scope=scope_all"), "Missing form parameter: grant_type")


def test_an_unknown_grant_type_is_still_unsupported(discovery):
    response = _token_request(discovery, "grant_type=password")
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"
