"""The control API, each call's effect observed through PSC's public endpoints with a
real client (Authlib's, pyjwt through the JWKS), over HTTP against a live mock."""

from __future__ import annotations

import json

import jwt
import pytest
import requests

from idp.settings import Settings
from tests.oidc_client import RelyingParty, follow_to_callback

AUTO = "899700100011"  # Claire MARTIN, policy auto
MANUAL = "899700100029"  # Julien PETIT, policy manual


@pytest.fixture
def url(own_url: str) -> str:
    """A mock of its own: these tests reset it, which must not touch the shared one."""
    return own_url


@pytest.fixture
def rp(url) -> RelyingParty:
    discovery = requests.get(
        url + "/auth/realms/esante-wallet/.well-known/wallet-openid-configuration", timeout=5
    ).json()
    return RelyingParty(discovery)


def control(url, method, path, body=None, **kwargs):
    if body is not None:
        kwargs["json"] = body
    return requests.request(method, url + "/_mock" + path, timeout=10, **kwargs)


# --- guard -------------------------------------------------------------------------


def test_writes_need_json(url):
    answer = requests.post(url + "/_mock/reset", data="x=1", timeout=5)
    assert answer.status_code == 415
    assert answer.json()["error"] == "unsupported_media_type"
    assert control(url, "POST", "/reset", {}).status_code == 200


def test_foreign_host_is_refused_even_from_loopback(url):
    answer = requests.post(
        url + "/_mock/reset", json={}, headers={"Host": "evil.example:80"}, timeout=5
    )
    assert answer.status_code == 403
    assert answer.json()["error"] == "forbidden_host"


def test_health_stays_open(url):
    answer = requests.get(url + "/_mock/health/ready", headers={"Host": "evil.example"}, timeout=5)
    assert answer.status_code == 200


def _remote(app, method, path, **kwargs):
    """The guard unit only: a request from a non-loopback peer, without a proxy."""
    client = app.test_client()
    environ = {"REMOTE_ADDR": "10.1.2.3"}
    return client.open(
        path, method=method, environ_overrides=environ, base_url="http://localhost", **kwargs
    )


def test_off_loopback_needs_the_admin_token():
    from idp.app import create_app

    app = create_app(Settings(admin_token="s3cret-token"))
    assert _remote(app, "GET", "/_mock/clock").status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert _remote(app, "GET", "/_mock/clock", headers=wrong).status_code == 401
    good = {"Authorization": "Bearer s3cret-token"}
    assert _remote(app, "GET", "/_mock/clock", headers=good).status_code == 200
    assert _remote(app, "GET", "/_mock/health/live").status_code == 200


def test_off_loopback_without_configured_token_is_closed_or_generated():
    from idp.app import create_app
    from idp.context import EXTENSION

    closed = create_app(Settings())  # listening on loopback: nothing generated
    assert _remote(closed, "GET", "/_mock/clock").status_code == 403
    exposed = create_app(Settings(host="0.0.0.0"))
    state = exposed.extensions[EXTENSION].control
    assert state.token_generated and len(state.admin_token) >= 32
    headers = {"Authorization": f"Bearer {state.admin_token}"}
    assert _remote(exposed, "GET", "/_mock/clock", headers=headers).status_code == 200
    opened = create_app(Settings(admin_token="none"))
    assert _remote(opened, "GET", "/_mock/clock").status_code == 200


# --- clock ---------------------------------------------------------------------------


def test_clock_freeze_advance_resume_reset(url):
    frozen = control(url, "POST", "/clock", {"action": "freeze"}).json()
    assert frozen["frozen"] is True
    later = control(url, "POST", "/clock", {"action": "advance", "by": "4h"}).json()
    assert later["now"] == pytest.approx(frozen["now"] + 4 * 3600)
    assert control(url, "POST", "/clock", {"action": "advance", "by": 90}).json()["now"] == (
        pytest.approx(frozen["now"] + 4 * 3600 + 90)
    )
    resumed = control(url, "POST", "/clock", {"action": "resume"}).json()
    assert resumed["frozen"] is False and resumed["offset"] == pytest.approx(4 * 3600 + 90, abs=5)
    assert control(url, "POST", "/clock", {"action": "reset"}).json()["offset"] == pytest.approx(
        0, abs=1
    )
    at = control(url, "POST", "/clock", {"action": "freeze", "at": "2030-01-02T03:04:05Z"})
    assert at.json()["now_iso"] == "2030-01-02T03:04:05+00:00"
    assert control(url, "POST", "/clock", {"action": "advance", "by": "1h30m"}).json()[
        "now_iso"
    ] == ("2030-01-02T04:34:05+00:00")
    control(url, "POST", "/clock", {"action": "reset"})
    assert control(url, "POST", "/clock", {"action": "sleep"}).status_code == 400
    bad = control(url, "POST", "/clock", {"action": "advance", "by": "soon"})
    assert bad.status_code == 400 and "duration" in bad.json()["error_description"]


def test_advanced_clock_expires_a_refresh_token(url, rp):
    token, _ = rp.login_auto(AUTO)
    control(url, "POST", "/clock", {"action": "advance", "by": "31m"})
    answer = requests.post(
        rp.discovery["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=("psc-mock-ci", "psc-mock-ci-secret"),
        timeout=5,
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


# --- scenarios -------------------------------------------------------------------------


def test_scenario_policy_auto_then_deleted(url, rp):
    url_, _ = rp.authorization_url(login_hint=MANUAL)
    first = requests.get(url_, allow_redirects=False, timeout=5)
    assert "/callback" not in first.headers["Location"]  # the login page: manual
    answer = control(url, "PUT", f"/scenarios/{MANUAL}", {"policy": "auto"})
    assert answer.status_code == 200, answer.text
    token, _ = rp.login_auto(MANUAL)
    assert rp.verify(token["access_token"])["SubjectNameID"] == MANUAL
    assert control(url, "DELETE", f"/scenarios/{MANUAL}").status_code == 204
    again = requests.get(rp.authorization_url(login_hint=MANUAL)[0], allow_redirects=False)
    assert "/callback" not in again.headers["Location"]


def test_scenario_deny_refuses_an_auto_identity(url, rp):
    control(url, "PUT", f"/scenarios/{AUTO}", {"policy": "deny"})
    login_url, _ = rp.authorization_url(login_hint=AUTO)
    answer = requests.get(login_url, allow_redirects=False, timeout=5)
    assert "/callback" not in answer.headers["Location"]


def test_scenario_drops_and_sets_claims(url, rp):
    body = {"claims": {"drop": ["acr"], "set": {"given_name": "Zoé"}}}
    assert control(url, "PUT", f"/scenarios/{AUTO}", body).status_code == 200
    token, _ = rp.login_auto(AUTO)
    access = rp.verify(token["access_token"])
    assert "acr" not in access
    info = requests.get(
        rp.discovery["userinfo_endpoint"],
        headers={"Authorization": "Bearer " + token["access_token"]},
        timeout=5,
    ).json()
    assert info["given_name"] == "Zoé"
    id_token = rp.verify(token["id_token"], audience="psc-mock-ci")
    assert "acr" not in id_token and id_token["given_name"] == "Zoé"


def test_scenario_is_validated_as_credentials_yaml(url):
    answer = control(url, "PUT", f"/scenarios/{AUTO}", {"policy": "sometimes"})
    assert answer.status_code == 400
    assert "policy" in answer.json()["error_description"]
    unknown = control(url, "PUT", f"/scenarios/{AUTO}", {"colour": "red"})
    assert unknown.status_code == 400 and "unknown field" in unknown.json()["error_description"]
    assert control(url, "PUT", "/scenarios/899700199999", {"policy": "auto"}).status_code == 404


def test_reset_drops_scenarios(url, rp):
    control(url, "PUT", f"/scenarios/{MANUAL}", {"policy": "auto"})
    control(url, "POST", "/reset", {})
    assert control(url, "GET", "/scenarios").json() == {}
    answer = requests.get(rp.authorization_url(login_hint=MANUAL)[0], allow_redirects=False)
    assert "/callback" not in answer.headers["Location"]


# --- faults ----------------------------------------------------------------------------


def test_injected_503_reaches_the_client_for_n_calls(url, rp):
    fault = {"status": 503, "error": "temporarily_unavailable", "times": 1}
    assert control(url, "PUT", "/faults/token", fault).status_code == 200
    url_, secrets = rp.authorization_url(login_hint=AUTO)
    callback = follow_to_callback(requests.Session(), url_, rp.redirect_uri)
    answer = requests.post(
        rp.discovery["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": callback.params["code"],
            "redirect_uri": rp.redirect_uri,
            "code_verifier": secrets["code_verifier"],
        },
        auth=("psc-mock-ci", "psc-mock-ci-secret"),
        timeout=5,
    )
    assert answer.status_code == 503
    assert answer.json()["error"] == "temporarily_unavailable"
    assert control(url, "GET", "/faults").json() == {}  # used up
    token, _ = rp.login_auto(AUTO)
    assert "access_token" in token


def test_fault_until_cleared_and_plain_status(url, rp):
    control(url, "PUT", "/faults/certs", {"status": 500})
    for _ in range(2):
        assert requests.get(rp.discovery["jwks_uri"], timeout=5).status_code == 500
    control(url, "DELETE", "/faults/certs")
    assert requests.get(rp.discovery["jwks_uri"], timeout=5).status_code == 200
    assert control(url, "PUT", "/faults/nowhere", {"status": 500}).status_code == 404
    assert control(url, "PUT", "/faults/token", {}).status_code == 400


# --- request log -----------------------------------------------------------------------


def test_request_log_masks_secrets_and_filters(url, rp):
    token, secrets = rp.login_auto(AUTO)
    entries = control(url, "GET", "/requests", params={"endpoint": "token"}).json()["requests"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["client_id"] == "psc-mock-ci" and entry["status"] == 200
    assert entry["params"]["code_verifier"] == "***" and entry["params"]["code"] == "***"
    everything = control(url, "GET", "/requests").text
    for secret in (secrets["code_verifier"], token["access_token"], "psc-mock-ci-secret"):
        assert secret not in everything
    assert control(url, "DELETE", "/requests").status_code == 204
    assert control(url, "GET", "/requests").json()["requests"] == []


def test_request_log_next_waits_for_a_request(url, rp):
    import threading

    timer = threading.Timer(0.3, lambda: requests.get(rp.discovery["jwks_uri"], timeout=5))
    first = control(url, "GET", "/requests/next", params={"timeout": 1}).json()
    assert first["endpoint"] == "discovery"  # the oldest not yet taken: rp's discovery
    timer.start()
    entry = control(url, "GET", "/requests/next", params={"timeout": 5}).json()
    timer.join()
    assert entry["endpoint"] == "certs" and entry["method"] == "GET"
    none = control(url, "GET", "/requests/next", params={"timeout": 0.2, "endpoint": "token"})
    assert none.status_code == 204


# --- keys ----------------------------------------------------------------------------


def test_rotated_key_still_verifies_older_tokens_while_listed(url, rp):
    old_token, _ = rp.login_auto(AUTO)
    old_kid = jwt.get_unverified_header(old_token["access_token"])["kid"]
    rotated = control(url, "POST", "/keys/rotate", {"retention": "1h"}).json()
    assert rotated["kid"] != old_kid
    kids = [key["kid"] for key in requests.get(rp.discovery["jwks_uri"], timeout=5).json()["keys"]]
    assert kids == [rotated["kid"], old_kid]
    new_token, _ = RelyingParty(rp.discovery).login_auto(AUTO)
    assert jwt.get_unverified_header(new_token["access_token"])["kid"] == rotated["kid"]
    assert RelyingParty(rp.discovery).verify(old_token["access_token"])["SubjectNameID"] == AUTO
    introspect = rp.discovery["introspection_endpoint"]
    auth = ("psc-mock-ci", "psc-mock-ci-secret")
    active = requests.post(introspect, data={"token": old_token["access_token"]}, auth=auth)
    assert active.json()["active"] is True
    control(url, "POST", "/clock", {"action": "advance", "by": "61m"})
    kids = [key["kid"] for key in requests.get(rp.discovery["jwks_uri"], timeout=5).json()["keys"]]
    assert kids == [rotated["kid"]]
    gone = requests.post(introspect, data={"token": old_token["access_token"]}, auth=auth)
    assert gone.json()["active"] is False
    control(url, "POST", "/reset", {})
    assert [k["kid"] for k in control(url, "GET", "/keys").json()["keys"]] == [old_kid]


# --- runtime directory -----------------------------------------------------------------


def test_directory_add_change_remove_then_reset(url, rp):
    person = control(url, "GET", f"/directory/{AUTO}").json()
    new_id = "899700100490"
    clone = {**person, "id_nat": new_id, "identifiant": new_id[1:], "nom": "NOUVEAU"}
    clone.pop("autres_identifiants", None)
    added = control(url, "PUT", f"/directory/{new_id}", clone)
    if added.status_code == 400 and "clé" in added.text:  # Luhn key of the test number
        pytest.skip(added.text)
    assert added.status_code == 201, added.text
    control(url, "PUT", f"/scenarios/{new_id}", {"policy": "auto"})
    token, _ = rp.login_auto(new_id)
    assert rp.verify(token["access_token"])["SubjectNameID"] == new_id
    assert control(url, "DELETE", f"/directory/{AUTO}").status_code == 204
    assert control(url, "GET", f"/directory/{AUTO}").status_code == 404
    control(url, "POST", "/reset", {})
    assert control(url, "GET", f"/directory/{new_id}").status_code == 404
    assert control(url, "GET", f"/directory/{AUTO}").json() == person


def test_directory_refuses_what_the_loaders_refuse(url):
    person = control(url, "GET", f"/directory/{AUTO}").json()
    bad_code = {**person}
    bad_code["exercices"] = [{**person["exercices"][0], "code_profession": "99999"}]
    answer = control(url, "PUT", f"/directory/{AUTO}", bad_code)
    assert answer.status_code == 400 and "99999" in answer.json()["error_description"]
    assert control(url, "PUT", f"/directory/{AUTO}", {"nom": 3}).status_code == 400
    assert control(url, "PUT", "/directory/12", {}).status_code == 400


# --- OpenAPI ---------------------------------------------------------------------------


def test_openapi_document_validates(url):
    from openapi_spec_validator import validate

    document = control(url, "GET", "/openapi.json").json()
    validate(document)
    assert "/_mock/faults/{endpoint}" in document["paths"]


# --- token tampering -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "token", "refusal"),
    [
        ("expired", "access_token", jwt.ExpiredSignatureError),
        ("not_yet_valid", "access_token", jwt.ImmatureSignatureError),
        ("wrong_iss", "access_token", jwt.InvalidIssuerError),
        ("wrong_aud", "id_token", jwt.InvalidAudienceError),
        ("unknown_key", "id_token", jwt.PyJWKClientError),
    ],
)
def test_tampered_token_is_refused_by_pyjwt_for_the_right_reason(url, rp, change, token, refusal):
    answer = control(url, "PUT", "/tampering", {"change": [change], "times": 1})
    assert answer.status_code == 200, answer.text
    options = {"audience": "psc-mock-ci"} if token == "id_token" else {}  # PSC: no aud in AT
    tampered, _ = rp.login_auto(AUTO)
    with pytest.raises(refusal):
        rp.verify(tampered[token], **options)
    fresh, _ = RelyingParty(rp.discovery).login_auto(AUTO)  # one shot only
    assert rp.verify(fresh[token], **options)["SubjectNameID"] == AUTO


def test_tampered_claims_until_cleared(url, rp):
    body = {"change": ["acr_eidas3", "sub_uuid"], "drop": ["authMode"], "tokens": "access_token"}
    assert control(url, "PUT", "/tampering", body).status_code == 200
    for _ in range(2):
        token, _ = RelyingParty(rp.discovery).login_auto(AUTO)
        access = rp.verify(token["access_token"])
        assert access["acr"] == "eidas3" and "authMode" not in access
        assert not access["sub"].startswith("f:")
        assert rp.verify(token["id_token"], audience="psc-mock-ci")["acr"] == "eidas1"
    assert control(url, "DELETE", "/tampering").status_code == 204
    token, _ = RelyingParty(rp.discovery).login_auto(AUTO)
    assert rp.verify(token["access_token"])["acr"] == "eidas1"
    bad = control(url, "PUT", "/tampering", {"change": ["prettier"]})
    assert bad.status_code == 400 and "change" in bad.json()["error_description"]


# --- tokens without a flow -------------------------------------------------------------


def test_issued_token_set_is_psc_shaped_and_usable(url, rp):
    body = {"id_nat": MANUAL, "means": "CARD", "set": {"acr": "eidas3"}, "drop": ["otherIds"]}
    token = control(url, "POST", "/tokens", body).json()
    assert list(token)[:4] == ["access_token", "expires_in", "refresh_expires_in", "refresh_token"]
    access = rp.verify(token["access_token"])
    assert access["SubjectNameID"] == MANUAL and access["authMode"] == "CARD"
    assert access["acr"] == "eidas3" and "otherIds" not in access
    assert rp.verify(token["id_token"], audience="psc-mock-ci")["SubjectNameID"] == MANUAL
    info = requests.get(
        rp.discovery["userinfo_endpoint"],
        headers={"Authorization": "Bearer " + token["access_token"]},
        timeout=5,
    )
    assert info.status_code == 200 and info.json()["SubjectNameID"] == MANUAL
    refreshed = requests.post(
        rp.discovery["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=("psc-mock-ci", "psc-mock-ci-secret"),
        timeout=5,
    )
    assert refreshed.status_code == 200
    assert control(url, "POST", "/tokens", {"id_nat": "899700199999"}).status_code == 404
    assert control(url, "POST", "/tokens", {"id_nat": AUTO, "client_id": "x"}).status_code == 400


def test_openapi_documents_every_control_route(url):
    import re as regex

    from idp.app import create_app

    document = control(url, "GET", "/openapi.json").json()
    for rule in create_app().url_map.iter_rules():
        if not rule.rule.startswith("/_mock/") or rule.rule.startswith("/_mock/health"):
            continue
        path = regex.sub(r"<(?:path:)?(\w+)>", r"{\1}", rule.rule).replace("{id_nat}", "{idNat}")
        assert path in document["paths"], path
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in document["paths"][path], (method, path)


def test_scenario_delay_approves_later_on_the_mock_clock(url, rp):
    control(url, "PUT", f"/scenarios/{AUTO}", {"policy": "auto", "delay": 30})
    login_url, _ = rp.authorization_url(login_hint=AUTO)
    page = requests.get(login_url, allow_redirects=False, timeout=5)
    assert "/callback" not in page.headers["Location"]  # no instant answer with a delay
    ciba = rp.discovery["issuer"] + "/protocol/openid-connect"
    auth = ("psc-mock-ciba", "psc-mock-ciba-secret")
    started = requests.post(
        ciba + "/ext/ciba/auth",
        auth=auth,
        data={
            "scope": "openid scope_all",
            "acr_values": "eidas1",
            "login_hint": AUTO,
            "binding_message": "42",
        },
        timeout=5,
    ).json()
    poll = {
        "grant_type": "urn:openid:params:grant-type:ciba",
        "auth_req_id": started["auth_req_id"],
    }
    pending = requests.post(ciba + "/token", auth=auth, data=poll, timeout=5)
    assert pending.json()["error"] == "authorization_pending"
    control(url, "POST", "/clock", {"action": "advance", "by": "31s"})
    approved = requests.post(ciba + "/token", auth=auth, data=poll, timeout=5)
    assert approved.status_code == 200, approved.text
    assert rp.verify(approved.json()["access_token"])["SubjectNameID"] == AUTO


def test_what_the_request_log_masks():
    from idp.control.hooks import is_secret

    for name in (
        "client_secret",
        "password",
        "code_verifier",
        "refresh_token",
        "code",
        "pin",
        "puk",
        "token",
        "id_token_hint",
        "access_token",
        "client_assertion",
        "csrf",
        "confirmation",  # the new e-CPS password, again
        "confirm",
        "mail_code",
        "sms_code",
        "user_code",
    ):
        assert is_secret(name), name
    for name in (
        "client_id",
        "token_type_hint",
        "login_hint",
        "state",
        "nonce",
        "scope",
        "grant_type",
        "redirect_uri",
        "binding_message",
        "code_challenge",
        "code_challenge_method",
    ):
        assert not is_secret(name), name


# --- bad input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/clock", {"action": "advance", "by": 1e308}, "by"),
        ("/clock", {"action": "advance", "by": -1e308}, "by"),
        ("/clock", {"action": "advance", "by": float("inf")}, "by"),
        ("/clock", {"action": "advance", "by": 10**400}, "by"),
        ("/clock", {"action": "freeze", "at": 1e300}, "at"),
        ("/clock", {"action": "freeze", "at": "0001-01-01T00:00:00Z"}, "at"),
        ("/tokens", {"id_nat": AUTO, "client_id": ["x"]}, "client_id"),
        ("/tokens", {"id_nat": AUTO, "client_id": {}}, "client_id"),
        ("/training", {"count": 5, "q": 5}, "q"),
        ("/training", {"count": 5, "q": ["x"]}, "q"),
        ("/training", {"count": 5, "profession": ["x"]}, "profession"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(url, path, body, field):
    raw = json.dumps(body)  # as a client may send it: Infinity too (requests' json= refuses)
    answer = control(url, "POST", path, data=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert f"'{field}'" in answer.json()["error_description"]
    clock = control(url, "GET", "/clock")
    assert clock.status_code == 200
    assert clock.json()["frozen"] is False and clock.json()["offset"] == pytest.approx(0, abs=5)
    assert control(url, "GET", "/sessions").json()["sessions"] == []
    assert control(url, "GET", "/training").json()["trainees"] == []
    assert requests.get(url + "/_mock/health/ready", timeout=5).status_code == 200
