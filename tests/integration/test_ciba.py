"""CIBA poll mode over HTTP, as a thick client's server or ANS's Proxy e-Santé runs it.

The logins are driven by an independent CIBA client, idpyoidc's RP (its
``BackChannelAuthentication`` service, and its access-token service pointed at the CIBA
grant): it discovers the mock, authenticates with ``client_secret_basic`` and verifies
the id_token against the JWKS itself. Errors are checked with plain ``requests``, so that
each status, error code and description is asserted as it goes over the wire. The CARD
channel's approval on the card-reader simulator is in ``test_ciba_card``.
"""

from __future__ import annotations

import re
import shutil

import pytest
import requests
from idpyoidc.client.oauth2 import Client
from idpyoidc.client.oidc.access_token import AccessToken
from idpyoidc.message.oidc import backchannel_authentication, verified_claim_name

from idp.app import BUNDLED_FIXTURES
from tests.fixture_people import identity, person
from tests.integration.test_ecps_flow import Phone
from tests.oidc_client import RelyingParty

GRANT_TYPE = "urn:openid:params:grant-type:ciba"
CIBA_CLIENT = ("psc-mock-ciba", "psc-mock-ciba-secret")
CI_CLIENT = ("psc-mock-ci", "psc-mock-ci-secret")
PSC_PARAMS = {"scope": "openid scope_all", "acr_values": "eidas1"}
PENDING = (
    "The authorization request is still pending as the end-user hasn't yet been authenticated."
)


# --- the independent client -------------------------------------------------------------


class CibaTokenPoll(AccessToken):
    """idpyoidc's OIDC access-token service (id_token verified against the JWKS) sending
    the CIBA token request instead of a code exchange."""

    msg_type = backchannel_authentication.TokenRequest
    service_name = "ciba_token"

    def __init__(self, upstream_get, conf=None):
        super().__init__(upstream_get, conf=conf)
        self.pre_construct = []  # no authorization code to look up in a state

    def update_service_context(self, resp, key="", **kwargs):
        """No browser state to bind the response to (no state, no nonce in CIBA)."""


def idpyoidc_client(issuer: str, client=CIBA_CLIENT) -> Client:
    client_id, secret = client
    rp = Client(
        config={"issuer": issuer, "client_id": client_id, "client_secret": secret},
        services={
            "discovery": {
                "class": "idpyoidc.client.oidc.provider_info_discovery.ProviderInfoDiscovery"
            },
            "backchannel_authentication": {
                "class": "idpyoidc.client.oidc.backchannel_authentication."
                "BackChannelAuthentication",
                "kwargs": {"http_method": "POST", "default_authn_method": "client_secret_basic"},
            },
            "ciba_token": {"class": CibaTokenPoll},
        },
        client_type="oidc",
    )
    rp.do_request("provider_info")  # discovery, then the JWKS into its key jar
    return rp


def idpyoidc_start(rp: Client, id_nat: str, binding: str, **params) -> dict:
    response = rp.do_request(
        "backchannel_authentication",
        request_args={**PSC_PARAMS, "login_hint": id_nat, "binding_message": binding, **params},
    )
    assert "error" not in response, response.to_dict()
    return response.to_dict()


def idpyoidc_poll(rp: Client, auth_req_id: str):
    return rp.do_request(
        "ciba_token", request_args={"grant_type": GRANT_TYPE, "auth_req_id": auth_req_id}
    )


# --- plain HTTP, for the errors ---------------------------------------------------------


class Ciba:
    def __init__(self, discovery: dict, client=CIBA_CLIENT) -> None:
        self.auth_url = discovery["backchannel_authentication_endpoint"]
        self.token_url = discovery["token_endpoint"]
        self.client = client

    def start(self, id_nat: str | None, binding: str | None = "42", **params):
        data = {**PSC_PARAMS, **params}
        if id_nat is not None:
            data["login_hint"] = id_nat
        if binding is not None:
            data["binding_message"] = binding
        return requests.post(
            self.auth_url,
            data={k: v for k, v in data.items() if v is not None},
            auth=self.client,
            timeout=5,
        )

    def started(self, id_nat: str, **params) -> str:
        response = self.start(id_nat, **params)
        assert response.status_code == 200, response.text
        return response.json()["auth_req_id"]

    def poll(self, auth_req_id: str, client=None):
        return requests.post(
            self.token_url,
            data={"grant_type": GRANT_TYPE, "auth_req_id": auth_req_id},
            auth=client or self.client,
            timeout=5,
        )


def error(response: requests.Response, status: int = 400) -> tuple[str, str]:
    assert response.status_code == status, response.text
    body = response.json()
    return body["error"], body.get("error_description", "")


@pytest.fixture
def ciba(discovery) -> Ciba:
    return Ciba(discovery)


# --- who logs in ------------------------------------------------------------------------


def _card(i) -> bool:
    return any(card.status == "active" for card in i.cards)


def auto_with_card():
    return person(lambda p, i: len(p.id_nat) == 12 and i.ecps_activated and _card(i), policy="auto")


def manual_people(count: int) -> list:
    """Distinct manual identities with e-CPS and a card, none of test_ecps_flow's."""
    chosen: list = []
    taken = {person(lambda p, i: i.ecps_activated and len(p.id_nat) == 12, policy="manual").id_nat}
    for _ in range(count):
        found = person(
            lambda p, i: (
                len(p.id_nat) == 12 and i.ecps_activated and _card(i) and p.id_nat not in taken
            ),
            policy="manual",
        )
        taken.add(found.id_nat)
        chosen.append(found)
    return chosen


def _person(policy: str):
    return person(lambda p, i: i.ecps_activated and _card(i), policy=policy)


# --- logins -----------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["MOBILE", "CARD"])
def test_idpyoidc_ciba_login_auto_approval(discovery, issuer, channel):
    practitioner = auto_with_card()
    rp = idpyoidc_client(issuer)
    started = idpyoidc_start(rp, practitioner.id_nat, "42", channel=channel)
    assert started["expires_in"] == 120 and started["interval"] == 5
    assert len(started["auth_req_id"]) >= 43  # 256 random bits

    token = idpyoidc_poll(rp, started["auth_req_id"])
    assert "error" not in token, token.to_dict()
    verified = token[verified_claim_name("id_token")]  # idpyoidc checked it with the JWKS
    assert verified["SubjectNameID"] == practitioner.id_nat and verified["aud"] == ["psc-mock-ciba"]

    relying_party = RelyingParty(discovery)
    id_token = relying_party.verify(token["id_token"], audience="psc-mock-ciba")
    access = relying_party.verify(token["access_token"])
    for claims in (id_token, access):
        assert claims["authMode"] == channel
        assert claims["acr"] == "eidas1"
        assert claims["SubjectNameID"] == claims["preferred_username"] == practitioner.id_nat
        assert claims["azp"] == "psc-mock-ciba"
        assert not claims.get("nonce")  # CIBA has no nonce
    assert "nonce" not in id_token
    assert id_token["sid"] == token["session_state"] == access["sid"]
    assert token["expires_in"] == 120 and token["refresh_expires_in"] == 1800
    assert token["token_type"] == "Bearer" and token["scope"] == ["openid", "scope_all"]


def test_ciba_tokens_have_the_code_flows_shape(discovery, ciba):
    practitioner = auto_with_card()
    relying_party = RelyingParty(discovery)
    code_flow, _ = relying_party.login_auto(practitioner.id_nat)
    polled = ciba.poll(ciba.started(practitioner.id_nat))
    assert polled.status_code == 200, polled.text
    token = polled.json()
    # same keys in Keycloak's order (expires_at is what Authlib's client adds)
    assert list(token) == [key for key in code_flow if key != "expires_at"]
    ciba_id = relying_party.verify(token["id_token"], audience="psc-mock-ciba")
    code_id = relying_party.verify(code_flow["id_token"], audience="psc-mock-ci")
    assert set(ciba_id) == set(code_id) - {"nonce"}
    assert set(relying_party.verify(token["access_token"])) == set(
        relying_party.verify(code_flow["access_token"])
    )
    # the session it opened serves userinfo, and its refresh token refreshes
    info = requests.get(
        discovery["userinfo_endpoint"],
        headers={"Authorization": "Bearer " + token["access_token"]},
        timeout=5,
    )
    assert info.status_code == 200 and info.json()["SubjectNameID"] == practitioner.id_nat
    refreshed = requests.post(
        discovery["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=CIBA_CLIENT,
        timeout=5,
    )
    assert refreshed.status_code == 200, refreshed.text
    claims = relying_party.verify(refreshed.json()["id_token"], audience="psc-mock-ciba")
    assert claims["authMode"] == "MOBILE" and claims["sid"] == ciba_id["sid"]


def test_manual_approval_on_the_phone_simulator(discovery, issuer, base_url, clock):
    """MOBILE on the phone; CARD is approved on the card reader (``test_ciba_card``)."""
    practitioner = manual_people(1)[0]
    rp = idpyoidc_client(issuer)
    started = idpyoidc_start(rp, practitioner.id_nat, "37", channel="MOBILE")
    pending = idpyoidc_poll(rp, started["auth_req_id"])
    assert pending["error"] == "authorization_pending"
    assert pending["error_description"] == PENDING

    phone = Phone(base_url, practitioner.id_nat)
    page = phone.http.get(phone.url, timeout=5).text
    assert "Client lourd (CIBA)" in page
    form = phone.pending_form()
    assert "37" in form["radios"] and len(form["radios"]) == 3
    answered = phone.answer(password=identity(practitioner.id_nat).ecps_password, code="37")
    assert "Connexion validée" in answered.text

    clock.advance(5)  # the interval
    token = idpyoidc_poll(rp, started["auth_req_id"])
    assert "error" not in token, token.to_dict()
    claims = RelyingParty(discovery).verify(token["id_token"], audience="psc-mock-ciba")
    assert claims["SubjectNameID"] == practitioner.id_nat and claims["authMode"] == "MOBILE"


@pytest.mark.parametrize("answer", ["refuse", "wrong_code"])
def test_refused_on_the_phone_is_access_denied(ciba, base_url, answer):
    practitioner = manual_people(3)[2]
    auth_req_id = ciba.started(practitioner.id_nat, binding="08")
    phone = Phone(base_url, practitioner.id_nat)
    password = identity(practitioner.id_nat).ecps_password
    if answer == "refuse":
        phone.answer(password=password, code=None, action="refuse")
    else:
        wrong = next(code for code in phone.pending_form()["radios"] if code != "08")
        phone.answer(password=password, code=wrong)
    assert error(ciba.poll(auth_req_id)) == ("access_denied", "not authorized")


def test_login_hint_with_a_slash(ciba, base_url):
    staff = person(lambda p, i: "/" in p.id_nat, policy="manual")
    ciba.started(staff.id_nat, binding="55")
    assert "55" in Phone(base_url, staff.id_nat).pending_form()["radios"]


# --- policies and timing (mock clock) ---------------------------------------------------


def test_a_due_delayed_approval_is_not_superseded(ciba, clock):
    """An ``auto`` approval with a delay is approved once its time has come, even though
    nobody wrote it down: a newer request must not turn it into a refusal."""
    delayed = person(lambda p, i: i.delay > 0 and i.ecps_activated, policy="auto")
    clock.freeze()
    first = ciba.started(delayed.id_nat)
    clock.advance(identity(delayed.id_nat).delay + 1)
    ciba.started(delayed.id_nat)
    answer = ciba.poll(first)
    assert answer.status_code == 200, answer.text


def test_deny_policy_is_access_denied(ciba):
    auth_req_id = ciba.started(_person("deny").id_nat)
    assert error(ciba.poll(auth_req_id)) == ("access_denied", "not authorized")


def test_timeout_policy_expires(ciba, clock):
    clock.freeze()
    auth_req_id = ciba.started(_person("timeout").id_nat)
    assert error(ciba.poll(auth_req_id)) == ("authorization_pending", PENDING)
    clock.advance(119)
    assert error(ciba.poll(auth_req_id))[0] == "authorization_pending"
    clock.advance(1)
    assert error(ciba.poll(auth_req_id)) == ("expired_token", "authentication timed out")


def test_slow_down_and_the_interval_grows_by_five_seconds(ciba, clock):
    clock.freeze()
    auth_req_id = ciba.started(_person("timeout").id_nat)

    def poll() -> str:
        return error(ciba.poll(auth_req_id))[0]

    assert poll() == "authorization_pending"  # the first poll may come at once
    clock.advance(5)
    assert poll() == "authorization_pending"  # 5 s apart: the interval
    clock.advance(4)
    slow = error(ciba.poll(auth_req_id))
    assert slow[0] == "slow_down" and "10 seconds" in slow[1]
    clock.advance(5)
    assert poll() == "slow_down"  # 5 s no longer enough: 15 now
    clock.advance(15)
    assert poll() == "authorization_pending"
    clock.advance(14)
    assert poll() == "slow_down"  # 20 now
    clock.advance(20)
    assert poll() == "authorization_pending"


def test_slow_down_comes_first_even_once_approved(ciba, base_url, clock):
    """Keycloak's order: a too-fast poll is slow_down whatever the person did."""
    clock.freeze()
    practitioner = manual_people(4)[3]
    auth_req_id = ciba.started(practitioner.id_nat, binding="19")
    assert error(ciba.poll(auth_req_id))[0] == "authorization_pending"
    Phone(base_url, practitioner.id_nat).answer(
        password=identity(practitioner.id_nat).ecps_password, code="19"
    )
    assert error(ciba.poll(auth_req_id))[0] == "slow_down"
    clock.advance(10)
    assert ciba.poll(auth_req_id).status_code == 200


def test_expiry_and_interval_are_settings(start_server):
    server = start_server(ciba_expires_in=30, ciba_interval=2)
    doc = requests.get(
        server.settings.issuer + "/.well-known/wallet-openid-configuration", timeout=5
    ).json()
    response = Ciba(doc).start(_person("timeout").id_nat)
    assert response.status_code == 200, response.text
    assert response.json()["expires_in"] == 30 and response.json()["interval"] == 2


# --- token endpoint errors --------------------------------------------------------------


def test_auth_req_id_is_single_use(ciba):
    auth_req_id = ciba.started(auto_with_card().id_nat)
    assert ciba.poll(auth_req_id).status_code == 200
    assert error(ciba.poll(auth_req_id)) == ("invalid_grant", "Invalid auth_req_id: already used")


def test_unknown_or_missing_auth_req_id(ciba):
    assert error(ciba.poll("not-an-auth-req-id")) == ("invalid_grant", "Invalid auth_req_id")
    missing = requests.post(
        ciba.token_url, data={"grant_type": GRANT_TYPE}, auth=CIBA_CLIENT, timeout=5
    )
    assert error(missing) == ("invalid_request", "Missing parameter: auth_req_id")


def test_auth_req_ids_are_random(ciba):
    ids = {ciba.started(_person("timeout").id_nat) for _ in range(5)}
    assert len(ids) == 5
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", i) for i in ids)


def test_another_clients_auth_req_id(start_server, tmp_path):
    fixtures = tmp_path / "fixtures"
    shutil.copytree(BUNDLED_FIXTURES, fixtures)
    with (fixtures / "clients.yaml").open("a", encoding="utf-8") as clients:
        clients.write(
            "  - client_id: other-ciba\n"
            "    client_secret: other-ciba-secret\n"
            "    redirect_uris: []\n"
            "    ciba: true\n"
        )
    server = start_server(fixtures=str(fixtures))
    doc = requests.get(
        server.settings.issuer + "/.well-known/wallet-openid-configuration", timeout=5
    ).json()
    mine = Ciba(doc)
    auth_req_id = mine.started(auto_with_card().id_nat)
    stolen = mine.poll(auth_req_id, client=("other-ciba", "other-ciba-secret"))
    assert error(stolen) == ("invalid_grant", "Invalid auth_req_id: issued to another client")
    assert mine.poll(auth_req_id).status_code == 200  # still the owner's


def test_non_ciba_client_cannot_poll(ciba):
    auth_req_id = ciba.started(auto_with_card().id_nat)
    refused = ciba.poll(auth_req_id, client=CI_CLIENT)
    assert error(refused) == ("unauthorized_client", "Client not allowed OIDC CIBA Grant")


def test_poll_with_bad_client_credentials(ciba):
    auth_req_id = ciba.started(auto_with_card().id_nat)
    assert error(ciba.poll(auth_req_id, client=("psc-mock-ciba", "wrong")), 401)[0] == (
        "invalid_client"
    )


# --- backchannel endpoint errors --------------------------------------------------------


def test_unknown_user(ciba):
    assert error(ciba.start("899999999999")) == ("unknown_user_id", "no user found")


@pytest.mark.parametrize(
    ("who", "channel", "says"),
    [
        (lambda p, i: not i.ecps_activated and _card(i), "MOBILE", "no activated e-CPS"),
        (lambda p, i: i.registered_at < 0, "MOBILE", "48 h"),
        (
            lambda p, i: (
                all(e.code_categorie_professionnelle == "E" for e in p.exercices)
                and not {e.code_profession for e in p.exercices} & {"10", "21", "40", "50"}
            ),
            "MOBILE",
            "perimeter",
        ),
        (lambda p, i: i.ecps_activated and not i.cards, "CARD", "no active CPS card"),
        (lambda p, i: any(c.status == "locked" for c in i.cards), "CARD", "no active CPS card"),
    ],
    ids=["ecps-not-activated", "not-propagated", "outside-perimeter", "no-card", "locked-card"],
)
def test_eligibility_refusals_are_unknown_user_id(ciba, who, channel, says):
    refused = ciba.start(person(who).id_nat, channel=channel)
    code, description = error(refused)
    assert code == "unknown_user_id" and says in description


def test_card_channel_needs_no_ecps(ciba):
    card_only = person(lambda p, i: not i.ecps_activated and _card(i))
    assert ciba.start(card_only.id_nat, channel="CARD").status_code == 200


@pytest.mark.parametrize("binding", [None, "", "4", "123", "ab", "4 2", "\u0664\u0662", "4a"])
def test_binding_message_must_be_two_digits(ciba, binding):
    code, description = error(ciba.start(auto_with_card().id_nat, binding=binding))
    assert code == "invalid_binding_message" and "two digits" in description


@pytest.mark.parametrize(
    ("drop", "description"),
    [("scope", "missing parameter : scope"), ("login_hint", "missing parameter : login_hint")],
)
def test_missing_parameters(ciba, drop, description):
    params = {"scope": None} if drop == "scope" else {}
    response = ciba.start(None if drop == "login_hint" else auto_with_card().id_nat, **params)
    assert error(response) == ("invalid_request", description)


@pytest.mark.parametrize(
    ("params", "code", "says"),
    [
        ({"scope": "openid"}, "invalid_scope", "scope_all"),
        ({"scope": "scope_all"}, "invalid_scope", "openid scope_all"),
        ({"acr_values": None}, "invalid_request", "acr_values=eidas1"),
        ({"acr_values": "eidas2"}, "invalid_request", "acr_values=eidas1"),
    ],
)
def test_strict_mode_requires_psc_parameters(ciba, params, code, says):
    refused = ciba.start(auto_with_card().id_nat, **params)
    error_code, description = error(refused)
    assert error_code == code and says in description and "Pro Sante Connect" in description


def test_lenient_mode_accepts_what_keycloak_accepts(start_server):
    server = start_server(strict=False)
    doc = requests.get(
        server.settings.issuer + "/.well-known/wallet-openid-configuration", timeout=5
    ).json()
    lenient = Ciba(doc)
    auth_req_id = lenient.started(auto_with_card().id_nat, scope="openid", acr_values=None)
    token = lenient.poll(auth_req_id)
    assert token.status_code == 200 and token.json()["scope"] == "openid"
    # the binding message is the e-CPS app's: required in both modes
    assert error(lenient.start(auto_with_card().id_nat, binding="x"))[0] == (
        "invalid_binding_message"
    )


@pytest.mark.parametrize("binding", ["42", None])
def test_ping_and_push_are_refused(ciba, binding):
    refused = ciba.start(
        auto_with_card().id_nat, binding=binding, client_notification_token="callback-token"
    )
    code, description = error(refused)
    assert code == "invalid_request" and "poll mode only" in description


@pytest.mark.parametrize(
    ("param", "says"),
    [("request", "signed authentication requests"), ("user_code", "User code not supported")],
)
def test_unsupported_parameters(ciba, param, says):
    code, description = error(ciba.start(auto_with_card().id_nat, **{param: "x"}))
    assert code == "invalid_request" and says in description


@pytest.mark.parametrize("channel", ["mobile", "SMS", "CARD,MOBILE"])
def test_unknown_channel(ciba, channel):
    refused = ciba.start(auto_with_card().id_nat, channel=channel)
    assert error(refused) == ("invalid_request", "channel must be MOBILE or CARD")


@pytest.mark.parametrize(
    "client", [("psc-mock-ciba", "wrong"), ("nobody", "x"), None], ids=["secret", "id", "none"]
)
def test_bad_client_authentication_is_401(discovery, client):
    response = Ciba(discovery, client=client).start(auto_with_card().id_nat)
    assert error(response, 401)[0] == "invalid_client"
    if client:
        assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_client_secret_post_is_accepted(discovery):
    response = requests.post(
        discovery["backchannel_authentication_endpoint"],
        data={
            **PSC_PARAMS,
            "login_hint": auto_with_card().id_nat,
            "binding_message": "00",
            "client_id": "psc-mock-ciba",
            "client_secret": "psc-mock-ciba-secret",
        },
        timeout=5,
    )
    assert response.status_code == 200, response.text
    assert list(response.json()) == ["auth_req_id", "expires_in", "interval"]


def test_client_without_ciba_is_unauthorized(discovery):
    refused = Ciba(discovery, client=CI_CLIENT).start(auto_with_card().id_nat)
    assert error(refused) == ("unauthorized_client", "Client not allowed OIDC CIBA Grant")


def test_get_is_not_the_endpoint(discovery):
    response = requests.get(discovery["backchannel_authentication_endpoint"], timeout=5)
    assert response.status_code == 405
