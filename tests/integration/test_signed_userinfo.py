"""Signed userinfo (``application/jwt``) for clients registered with ``userinfo_signed``,
verified as a relying party would, with pyjwt through the published JWKS."""

from __future__ import annotations

import jwt
import pytest

from tests.fixture_people import auto_medecin
from tests.integration.test_code_flow import assert_missing_openid, refreshed_without_openid
from tests.oidc_client import RelyingParty
from tests.session_client import discovery_of, fixtures_with_clients, revoke, userinfo

SIGNED = ("rp-signed", "rp-signed-secret", "http://localhost:9999/callback")


@pytest.fixture
def signed_discovery(start_server, tmp_path) -> dict:
    fixtures = fixtures_with_clients(
        tmp_path,
        {
            "client_id": SIGNED[0],
            "client_secret": SIGNED[1],
            "redirect_uris": [SIGNED[2]],
            "userinfo_signed": True,
        },
    )
    return discovery_of(start_server(fixtures=str(fixtures)))


def test_userinfo_is_a_jwt_signed_with_the_same_key(signed_discovery):
    practitioner = auto_medecin()
    rp = RelyingParty(signed_discovery, client=SIGNED)
    token, _ = rp.login_auto(practitioner.id_nat)
    response = userinfo(signed_discovery, token["access_token"])
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/jwt"

    header = jwt.get_unverified_header(response.text)
    access_header = jwt.get_unverified_header(token["access_token"])
    assert header["alg"] == "RS256" and header["kid"] == access_header["kid"]
    key = jwt.PyJWKClient(signed_discovery["jwks_uri"]).get_signing_key_from_jwt(response.text)
    claims = jwt.decode(
        response.text,
        key.key,
        algorithms=["RS256"],
        audience=SIGNED[0],
        issuer=signed_discovery["issuer"],
    )
    # the same content as the JSON userinfo of an unsigned client, plus iss and aud
    plain_rp = RelyingParty(signed_discovery)
    plain_token, _ = plain_rp.login_auto(practitioner.id_nat)
    plain = userinfo(signed_discovery, plain_token["access_token"])
    assert plain.headers["Content-Type"].startswith("application/json")
    assert {k: v for k, v in claims.items() if k not in ("iss", "aud")} == plain.json()
    assert claims["SubjectNameID"] == practitioner.id_nat


def test_signed_userinfo_refuses_what_json_userinfo_refuses(signed_discovery):
    rp = RelyingParty(signed_discovery, client=SIGNED)
    token, _ = rp.login_auto(auto_medecin().id_nat)
    assert revoke(signed_discovery, token["access_token"], SIGNED).ok
    response = userinfo(signed_discovery, token["access_token"])
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_signed_userinfo_needs_the_openid_scope_too(signed_discovery):
    rp = RelyingParty(signed_discovery, client=SIGNED)
    token, _ = rp.login_auto(auto_medecin().id_nat)
    narrowed = refreshed_without_openid(signed_discovery, token["refresh_token"], SIGNED)
    assert_missing_openid(userinfo(signed_discovery, narrowed["access_token"]))
