"""An independent OIDC client library (idpyoidc, not the one the other tests use) runs
introspection, revocation and end-session against the mock, and checks a back-channel
logout token its own way."""

from __future__ import annotations

import pytest
import requests
from idpyoidc.client.oauth2 import Client
from idpyoidc.message.oidc import verified_claim_name
from idpyoidc.message.oidc.session import BackChannelLogoutRequest

from tests.conftest import CI_CLIENT
from tests.fixture_people import auto_medecin
from tests.oidc_client import RelyingParty
from tests.session_client import (
    BackchannelReceiver,
    SsoBrowser,
    active,
    discovery_of,
    fixtures_with_clients,
    introspect,
    refresh,
)

LOGGED_OUT = "http://localhost:9999/logged-out"


def idpyoidc_client(issuer: str, client=CI_CLIENT) -> Client:
    client_id, secret = client[0], client[1]
    basic = {"default_authn_method": "client_secret_basic"}
    rp = Client(
        config={"issuer": issuer, "client_id": client_id, "client_secret": secret},
        services={
            "discovery": {
                "class": "idpyoidc.client.oidc.provider_info_discovery.ProviderInfoDiscovery"
            },
            "introspection": {
                "class": "idpyoidc.client.oauth2.introspection.Introspection",
                "kwargs": basic,
            },
            "token_revocation": {
                "class": "idpyoidc.client.oauth2.token_revocation.TokenRevocation",
                "kwargs": basic,
            },
            "end_session": {"class": "idpyoidc.client.oidc.end_session.EndSession"},
        },
        client_type="oidc",
    )
    rp.do_request("provider_info")  # discovery, then the JWKS into its key jar
    return rp


@pytest.fixture
def tokens(discovery):
    token, _ = RelyingParty(discovery).login_auto(auto_medecin().id_nat)
    return token


def test_introspection_gives_psc_fields(issuer, tokens):
    rp = idpyoidc_client(issuer, ("psc-mock-demo", "psc-mock-demo-secret"))
    response = rp.do_request("introspection", request_args={"token": tokens["access_token"]})
    body = response.to_dict()
    assert body["active"] is True
    assert body["client_id"] == "psc-mock-ci"
    assert body["username"] == body["SubjectNameID"] == auto_medecin().id_nat
    assert body["authMode"] == "MOBILE" and body["otherIds"]


def test_revocation_then_introspection(issuer, discovery, tokens):
    rp = idpyoidc_client(issuer)
    # idpyoidc builds the request (Basic authentication, form body); its response parser
    # wants a body, and Keycloak's (so the mock's) success is an empty 200.
    request = rp.get_service("token_revocation").get_request_parameters(
        request_args={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"}
    )
    assert request["headers"]["Authorization"].startswith("Basic ")
    response = requests.post(
        request["url"], data=request["body"], headers=request["headers"], timeout=5
    )
    assert response.status_code == 200 and response.text == ""
    after = rp.do_request("introspection", request_args={"token": tokens["access_token"]})
    assert after.to_dict() == {"active": False}
    assert refresh(discovery, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_end_session_request_built_by_idpyoidc(issuer, discovery):
    browser = SsoBrowser()
    token = browser.login(RelyingParty(discovery), login_hint=auto_medecin().id_nat)
    rp = idpyoidc_client(issuer)
    rp.get_context().cstate.set("login", {"id_token": token["id_token"]})
    request = rp.get_service("end_session").get_request_parameters(
        request_args={"post_logout_redirect_uri": LOGGED_OUT}, state="login"
    )
    state = request["request"]["state"]
    response = browser.http.get(request["url"], allow_redirects=False, timeout=5)
    assert response.status_code == 302
    assert response.headers["Location"] == f"{LOGGED_OUT}?state={state}"
    assert not active(introspect(discovery, token["access_token"]))


def test_logout_token_verifies_with_idpyoidc(start_server, tmp_path):
    with BackchannelReceiver() as receiver:
        fixtures = fixtures_with_clients(
            tmp_path,
            {
                "client_id": "rp-idpy",
                "client_secret": "rp-idpy-long-secret",
                "redirect_uris": ["http://localhost:9999/callback"],
                "backchannel_logout_uri": receiver.url,
            },
        )
        server = start_server(fixtures=str(fixtures))
        discovery = discovery_of(server)
        client = ("rp-idpy", "rp-idpy-long-secret", "http://localhost:9999/callback")
        token, _ = RelyingParty(discovery, client=client).login_auto(auto_medecin().id_nat)
        requests.post(
            discovery["end_session_endpoint"], data={"id_token_hint": token["id_token"]}, timeout=5
        )
        received = receiver.wait(1)
    assert len(received) == 1
    rp = idpyoidc_client(server.settings.issuer, client)
    request = BackChannelLogoutRequest(logout_token=received[0]["form"]["logout_token"])
    assert request.verify(
        keyjar=rp.get_attribute("keyjar"), aud="rp-idpy", iss=server.settings.issuer
    )
    logout_token = request[verified_claim_name("logout_token")]
    assert logout_token["sid"] == token["session_state"]
