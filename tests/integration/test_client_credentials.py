"""client_credentials for clients with a service account: an access token without a
person; and the accurate discovery document that advertises it with the rest."""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.conftest import CI_CLIENT
from tests.oidc_client import RelyingParty
from tests.session_client import (
    SERVICE_CLIENT,
    client_credentials,
    discovery_of,
    introspect,
    userinfo,
)


def test_service_account_gets_an_access_token_without_a_person(discovery):
    response = client_credentials(discovery)
    assert response.status_code == 200
    token = response.json()
    assert list(token) == [
        "access_token",
        "expires_in",
        "refresh_expires_in",
        "token_type",
        "not-before-policy",
        "scope",
    ]
    assert token["expires_in"] == 120 and token["refresh_expires_in"] == 0
    assert token["token_type"] == "Bearer" and token["scope"] == "scope_all"
    assert "refresh_token" not in token and "id_token" not in token

    claims = RelyingParty(discovery, client=SERVICE_CLIENT).verify(token["access_token"])
    assert claims["typ"] == "Bearer" and "aud" not in claims
    assert claims["azp"] == claims["client_id"] == "psc-mock-service"
    assert claims["preferred_username"] == "service-account-psc-mock-service"
    assert uuid.UUID(claims["sub"])  # a local Keycloak user: a UUID
    assert claims["exp"] - claims["iat"] == 120
    for person_claim in ("SubjectNameID", "authMode", "otherIds", "sid", "acr", "nonce"):
        assert person_claim not in claims


def test_service_account_with_client_secret_post_and_a_scope(discovery):
    response = requests.post(
        discovery["token_endpoint"],
        data={
            "grant_type": "client_credentials",
            "client_id": "psc-mock-service",
            "client_secret": "psc-mock-service-secret",
            "scope": "scope_all unknown",
        },
        timeout=5,
    )
    assert response.status_code == 200
    assert response.json()["scope"] == "scope_all"  # unknown scopes are dropped


def test_sub_is_stable(discovery):
    first = RelyingParty(discovery, client=SERVICE_CLIENT).verify(
        client_credentials(discovery).json()["access_token"]
    )
    second = RelyingParty(discovery, client=SERVICE_CLIENT).verify(
        client_credentials(discovery).json()["access_token"]
    )
    assert first["sub"] == second["sub"] and first["jti"] != second["jti"]


@pytest.mark.parametrize("client", [CI_CLIENT, ("psc-mock-ciba", "psc-mock-ciba-secret")])
def test_clients_without_a_service_account_are_refused(discovery, client):
    response = client_credentials(discovery, client)
    assert response.status_code == 400
    assert response.json() == {
        "error": "unauthorized_client",
        "error_description": "Client not enabled to retrieve service account",
    }


def test_wrong_secret_is_invalid_client(discovery):
    response = client_credentials(discovery, ("psc-mock-service", "wrong"))
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_service_account_token_at_userinfo_and_introspection(discovery):
    token = client_credentials(discovery).json()["access_token"]
    info = userinfo(discovery, token)
    assert info.status_code == 200
    assert info.json()["preferred_username"] == "service-account-psc-mock-service"
    assert "SubjectNameID" not in info.json()
    body = introspect(discovery, token).json()
    assert body["active"] is True and body["username"] == "service-account-psc-mock-service"


def test_service_account_token_expires_on_the_mock_clock(discovery, clock):
    token = client_credentials(discovery).json()["access_token"]
    clock.advance(121)
    assert introspect(discovery, token).json() == {"active": False}
    assert userinfo(discovery, token).status_code == 401


def test_accurate_discovery_advertises_what_is_implemented(start_server):
    server = start_server(discovery="accurate")
    accurate = discovery_of(server)
    oidc = server.settings.issuer + "/protocol/openid-connect"
    assert accurate["introspection_endpoint"] == oidc + "/token/introspect"
    assert accurate["revocation_endpoint"] == oidc + "/revoke"
    assert accurate["end_session_endpoint"] == oidc + "/logout"
    assert {"authorization_code", "refresh_token", "client_credentials"} <= set(
        accurate["grant_types_supported"]
    )
    for name in ("introspection", "revocation"):
        assert accurate[f"{name}_endpoint_auth_methods_supported"] == [
            "client_secret_basic",
            "client_secret_post",
        ]
    assert accurate["backchannel_logout_supported"] is True
    assert accurate["backchannel_logout_session_supported"] is True
    assert accurate["frontchannel_logout_supported"] is False
    assert accurate["userinfo_signing_alg_values_supported"] == ["RS256"]
    assert "sid" in accurate["claims_supported"]
    # and each advertised endpoint answers
    assert client_credentials(accurate).status_code == 200
    token = client_credentials(accurate).json()["access_token"]
    assert introspect(accurate, token, SERVICE_CLIENT).json()["active"] is True


def test_psc_discovery_lists_them_too(discovery):
    assert discovery["introspection_endpoint"].endswith("/token/introspect")
    assert discovery["revocation_endpoint"].endswith("/revoke")
    assert discovery["end_session_endpoint"].endswith("/logout")
    assert "client_credentials" in discovery["grant_types_supported"]
    assert discovery["backchannel_logout_supported"] is True
