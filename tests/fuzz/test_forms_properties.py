"""Property tests for what people and clients type: whatever the login identifier, PIN,
binding message or redirect URI, the mock answers with a page or an OAuth error it
documents, never a 5xx, and the next well-formed request still works."""

from __future__ import annotations

from urllib.parse import urljoin

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idp.server import MockServer
from idp.settings import Settings
from tests.card_browser import CardBrowser
from tests.conftest import CI_CLIENT
from tests.integration.test_ciba import Ciba
from tests.oidc_client import RelyingParty, forms

AUTO = "899700100011"
CARD = "2800100029"  # declared in the fixtures; its PIN counter is reset after the test
typed = st.text(st.characters(blacklist_categories=["Cs"]), max_size=60)
HTTP = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def fuzzed():
    server = MockServer(Settings(port=0)).start_in_thread()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def discovery(fuzzed) -> dict:
    url = fuzzed.settings.issuer + "/.well-known/wallet-openid-configuration"
    return requests.get(url, timeout=5).json()


def _is_page(response: requests.Response) -> bool:
    return response.headers["Content-Type"].startswith("text/html") and "<html" in response.text


@HTTP
@given(identifier=typed)
def test_any_typed_identifier_gets_a_page(discovery, identifier):
    browser = requests.Session()
    url, _ = RelyingParty(discovery).authorization_url()
    login = browser.get(url, timeout=5)
    form = forms(login.text)[0]
    answer = browser.post(
        urljoin(login.url, form["action"]),
        data={**form["fields"], "id_nat": identifier},
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code in (200, 302, 400, 404), answer.status_code
    assert answer.status_code == 302 or _is_page(answer)


@HTTP
@given(pin=typed, serial=st.sampled_from([CARD, "", "0", "2800100029 "]) | typed)
def test_any_pin_and_serial_get_a_page(fuzzed, discovery, pin, serial):
    card = CardBrowser(discovery)
    answer = card.login(serial, pin, typed=True)
    assert answer.status_code < 500, answer.status_code
    assert answer.status_code in (302, 303) or _is_page(answer)
    fuzzed.app.extensions["psc_mock"].cards.reset(CARD)


@HTTP
@given(binding=typed, hint=st.sampled_from([AUTO]) | typed, channel=typed)
def test_any_ciba_request_gets_an_oauth_answer(discovery, binding, hint, channel):
    answer = Ciba(discovery).start(hint, binding=binding, channel=channel)
    assert answer.status_code in (200, 400, 401), answer.status_code
    assert "error" in answer.json() or "auth_req_id" in answer.json()


@HTTP
@given(redirect_uri=typed, state=typed)
def test_any_redirect_uri_at_the_token_endpoint_gets_an_oauth_error(discovery, redirect_uri, state):
    answer = requests.post(
        discovery["token_endpoint"],
        data={"grant_type": "authorization_code", "code": state, "redirect_uri": redirect_uri},
        auth=CI_CLIENT[:2],
        timeout=5,
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
