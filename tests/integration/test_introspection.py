"""Introspection (RFC 7662) as PSC answers API gateways: PSC's fields for access tokens,
Keycloak's for refresh tokens, ``active:false`` for anything that does not count."""

from __future__ import annotations

import pytest
import requests

from tests.conftest import CI_CLIENT
from tests.fixture_people import auto_medecin
from tests.oidc_client import RelyingParty
from tests.session_client import (
    DEMO_CLIENT,
    POST_CLIENT,
    PSC_BAS_ISSUER,
    active,
    client_credentials,
    discovery_of,
    fixtures_with_clients,
    introspect,
    other_key_pem,
    resign,
)

# The keys of PSC's introspection samples (reference §4.3), in their order.
PSC_SAMPLE_KEYS = [
    "exp",
    "iat",
    "auth_time",
    "jti",
    "iss",
    "sub",
    "typ",
    "azp",
    "nonce",
    "session_state",
    "acr",
    "scope",
    "sid",
    "authMode",
    "otherIds",
    "preferred_username",
    "client_id",
    "username",
    "active",
]


@pytest.fixture
def tokens(discovery):
    token, secrets = RelyingParty(discovery).login_auto(auto_medecin().id_nat)
    return token, secrets


@pytest.mark.parametrize(
    ("client", "post"),
    [(CI_CLIENT, False), (CI_CLIENT, True), (DEMO_CLIENT, False), (POST_CLIENT, True)],
    ids=["issuer-basic", "issuer-post", "other-basic", "other-post"],
)
def test_access_token_has_psc_fields_for_any_client(discovery, tokens, client, post):
    token, secrets = tokens
    practitioner = auto_medecin()
    response = introspect(discovery, token["access_token"], client, post=post)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["active"] is True
    assert body["client_id"] == "psc-mock-ci"  # the token's client, whoever asks
    assert body["azp"] == "psc-mock-ci"
    assert body["username"] == body["SubjectNameID"] == practitioner.id_nat
    assert body["preferred_username"] == practitioner.id_nat
    assert body["authMode"] == "MOBILE" and body["acr"] == "eidas1"
    assert body["typ"] == "Bearer" and body["iss"] == discovery["issuer"]
    assert body["nonce"] == secrets["nonce"]
    assert body["sid"] == body["session_state"] == token["session_state"]
    assert body["scope"] == "openid scope_all"
    assert body["otherIds"][0]["qualite"] == 1
    assert body["exp"] - body["iat"] == 120
    assert "aud" not in body
    # PSC's sample order, with ``client_id``, ``username``, ``active`` last.
    assert [key for key in body if key in PSC_SAMPLE_KEYS] == [
        key for key in PSC_SAMPLE_KEYS if key in body
    ]
    assert list(body)[-3:] == ["client_id", "username", "active"]


def test_refresh_token_has_keycloak_fields_without_psc_claims(discovery, tokens):
    token, _ = tokens
    body = introspect(discovery, token["refresh_token"], DEMO_CLIENT).json()
    assert body["active"] is True
    assert body["typ"] == "Refresh" and body["aud"] == discovery["issuer"]
    assert body["client_id"] == body["azp"] == "psc-mock-ci"
    assert body["username"] == auto_medecin().id_nat
    assert body["sid"] == body["session_state"] == token["session_state"]
    assert 1795 <= body["exp"] - body["iat"] <= 1800
    # ANS: SubjectNameID only comes when the access token is introspected.
    assert "SubjectNameID" not in body and "authMode" not in body


def test_hint_orders_the_search_only(discovery, tokens):
    token, _ = tokens
    assert active(introspect(discovery, token["access_token"], hint="refresh_token"))
    assert active(introspect(discovery, token["refresh_token"], hint="access_token"))
    assert active(introspect(discovery, token["access_token"], hint="id_token"))  # ignored


def test_expiry_follows_the_mock_clock(discovery, tokens, clock):
    token, _ = tokens
    clock.advance(121)
    assert introspect(discovery, token["access_token"]).json() == {"active": False}
    assert active(introspect(discovery, token["refresh_token"]))
    clock.advance(1800)
    assert introspect(discovery, token["refresh_token"]).json() == {"active": False}


def test_tokens_that_are_not_ours_are_inactive(discovery, tokens):
    token, _ = tokens
    access = token["access_token"]
    header, payload, signature = access.split(".")
    flipped = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    cases = {
        "garbage": "garbage",
        "three dots": "a.b.c",
        "empty": "",
        "bad signature": f"{header}.{payload}.{flipped}",
        "another key": resign(access, key=other_key_pem()),
        "another issuer": resign(access, iss=PSC_BAS_ISSUER),
        "id_token": token["id_token"],
        "unsigned": f"{header}.{payload}.",
    }
    for name, value in cases.items():
        response = introspect(discovery, value, DEMO_CLIENT)
        assert response.status_code == 200, name
        assert response.json() == {"active": False}, name


def test_client_authentication_is_required(discovery, tokens):
    token, _ = tokens
    endpoint = discovery["introspection_endpoint"]
    anonymous = requests.post(endpoint, data={"token": token["access_token"]}, timeout=5)
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client"
    wrong = introspect(discovery, token["access_token"], ("psc-mock-ci", "wrong"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    # psc-mock-post authenticates with client_secret_post only
    basic = introspect(discovery, token["access_token"], POST_CLIENT)
    assert basic.status_code == 401
    missing = requests.post(endpoint, data={}, auth=CI_CLIENT[:2], timeout=5)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"


def test_a_client_without_introspection_is_refused(start_server, tmp_path):
    fixtures = fixtures_with_clients(
        tmp_path,
        {
            "client_id": "no-introspection",
            "client_secret": "s3cret",
            "redirect_uris": ["http://localhost:9999/callback"],
            "introspection": False,
        },
    )
    discovery = discovery_of(start_server(fixtures=str(fixtures)))
    token, _ = RelyingParty(discovery).login_auto(auto_medecin().id_nat)
    refused = introspect(discovery, token["access_token"], ("no-introspection", "s3cret"))
    assert refused.status_code == 403
    assert refused.json() == {
        "error": "invalid_request",
        "error_description": "Client not allowed.",
    }
    assert active(introspect(discovery, token["access_token"], CI_CLIENT))


def test_service_account_token(discovery):
    token = client_credentials(discovery).json()
    body = introspect(discovery, token["access_token"], DEMO_CLIENT).json()
    assert body["active"] is True
    assert body["client_id"] == "psc-mock-service"
    assert body["username"] == "service-account-psc-mock-service"
    assert "SubjectNameID" not in body and "sid" not in body
