"""What a hostile page or input can do to the mock's pages: forged form posts (CSRF),
script through any text a page shows (reflected and stored XSS), framing, sniffing."""

from __future__ import annotations

import re
from urllib.parse import urlencode, urljoin

import pytest
import requests

from tests.conftest import CI_CLIENT
from tests.oidc_client import RelyingParty, forms
from tests.session_client import SsoBrowser

AUTO = "899700100011"
MANUAL = "899700100029"
EVIL_ID = "899700100490"
SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(1)>'
AUTHORIZE = {
    "response_type": "code",
    "client_id": CI_CLIENT[0],
    "redirect_uri": CI_CLIENT[2],
    "scope": "openid scope_all",
    "acr_values": "eidas1",
    "state": "s1",
    "nonce": "n1",
}


@pytest.fixture
def base(own_url: str) -> str:
    return own_url


def _authorize_url(base: str, **params) -> str:
    return base + "/auth?" + urlencode({**AUTHORIZE, **params})


def _login_page(browser: requests.Session, base: str, **params) -> requests.Response:
    return browser.get(_authorize_url(base, **params), timeout=5)


def _type_id_nat(browser: requests.Session, page: requests.Response, id_nat: str):
    form = forms(page.text)[0]
    data = {**form["fields"], "id_nat": id_nat}
    return browser.post(urljoin(page.url, form["action"]), data=data, timeout=5)


def _post_forms(html: str) -> list[str]:
    return re.findall(r'<form[^>]*method="post"[^>]*>(.*?)</form>', html, re.DOTALL)


def _assert_no_markup_injected(html: str) -> None:
    assert SCRIPT not in html
    assert "<img src=x" not in html
    assert "onerror=alert" not in html or "&#34;&gt;&lt;img" in html or "&quot;&gt;" in html


# --- CSRF ------------------------------------------------------------------------------


def test_every_post_form_of_every_page_carries_its_token(base):
    browser = requests.Session()
    login = _login_page(browser, base)
    card_tab = browser.get(login.url.replace("/authenticate", "/card"), timeout=5)
    pending = _type_id_nat(browser, login, MANUAL)
    phone = browser.get(base + f"/phone/{MANUAL}", timeout=5)
    reader = browser.get(base + "/reader/2800100300", timeout=5)  # locked: the PUK form
    pages = {
        "login": login,
        "card": card_tab,
        "pending": pending,
        "phone": phone,
        "reader": reader,
    }
    for name, page in pages.items():
        assert page.status_code == 200, name
        for form in _post_forms(page.text):
            assert re.search(r'name="(csrf|confirm)" value="[^"]{16,}"', form), name
    assert _post_forms(login.text) and _post_forms(card_tab.text) and _post_forms(phone.text)
    assert _post_forms(reader.text)


def test_a_forged_phone_answer_changes_nothing(base):
    browser = requests.Session()
    pending = _type_id_nat(browser, _login_page(browser, base), MANUAL)
    phone = browser.get(base + f"/phone/{MANUAL}", timeout=5)
    form = forms(phone.text)[0]
    forged = {**form["fields"], "csrf": "forged", "password": "1234", "code": form["radios"][0]}
    answer = requests.post(urljoin(phone.url, form["action"]), data=forged, timeout=5)
    assert answer.status_code == 400 and "Formulaire expiré" in answer.text
    status = browser.get(pending.url.replace("/ecps?", "/ecps/status?"), timeout=5)
    assert status.json()["status"] == "pending"


# --- XSS -------------------------------------------------------------------------------


def test_reflected_markup_in_login_hint_and_typed_id_is_escaped(base):
    browser = requests.Session()
    login = _login_page(browser, base, login_hint=ATTRIBUTE)
    assert login.status_code == 200
    _assert_no_markup_injected(login.text)
    refused = _type_id_nat(browser, login, SCRIPT + ATTRIBUTE)
    assert refused.status_code in (200, 400)
    _assert_no_markup_injected(refused.text)


@pytest.mark.parametrize(
    "params",
    [
        {"redirect_uri": "http://localhost:9999/" + SCRIPT},
        {"client_id": SCRIPT},
        {"scope": SCRIPT, "state": ATTRIBUTE},
        {"prompt": SCRIPT},
    ],
)
def test_reflected_markup_in_authorize_errors_is_escaped(base, params):
    response = requests.get(_authorize_url(base, **params), allow_redirects=False, timeout=5)
    assert response.status_code < 500
    _assert_no_markup_injected(response.text)
    assert SCRIPT not in response.headers.get("Location", "")


def test_markup_in_directory_names_is_escaped_on_every_page(base):
    person = requests.get(base + f"/_mock/directory/{MANUAL}", timeout=5).json()
    evil = {**person, "id_nat": EVIL_ID, "identifiant": EVIL_ID[1:]}
    evil.update(nom=SCRIPT, prenoms=[ATTRIBUTE])
    named = {"nom_exercice": SCRIPT, "prenom_exercice": ATTRIBUTE}
    evil["exercices"] = [{**exercice, **named} for exercice in person["exercices"]]
    evil.pop("autres_identifiants", None)
    added = requests.put(base + f"/_mock/directory/{EVIL_ID}", json=evil, timeout=5)
    assert added.status_code == 201, added.text
    browser = requests.Session()
    pending = _type_id_nat(browser, _login_page(browser, base), EVIL_ID)
    assert pending.status_code == 200, pending.text[:300]
    phone = browser.get(base + f"/phone/{EVIL_ID}", timeout=5)
    for page in (pending, phone):
        _assert_no_markup_injected(page.text)
    assert "&lt;script&gt;" in phone.text  # the name is shown, as text
    discovery = requests.get(
        base + "/auth/realms/esante-wallet/.well-known/wallet-openid-configuration", timeout=5
    ).json()
    requests.put(base + f"/_mock/scenarios/{EVIL_ID}", json={"policy": "auto"}, timeout=5)
    tokens = SsoBrowser().login(RelyingParty(discovery), login_hint=EVIL_ID)
    assert RelyingParty(discovery).verify(tokens["id_token"])["family_name"] == SCRIPT  # data


# --- headers -------------------------------------------------------------------------------


def test_every_html_page_refuses_framing_sniffing_and_inline_script(base):
    browser = requests.Session()
    login = _login_page(browser, base)
    pages = [
        login,
        browser.get(login.url.replace("/authenticate", "/card"), timeout=5),
        _type_id_nat(browser, login, MANUAL),
        browser.get(base + f"/phone/{MANUAL}", timeout=5),
        browser.get(base + "/phone/", timeout=5),
        browser.get(base + "/reader/", timeout=5),
        requests.get(_authorize_url(base, client_id="nobody"), timeout=5),
        requests.get(base + "/auth/realms/esante-wallet/protocol/openid-connect/logout", timeout=5),
        requests.get(base + "/no/such/page", timeout=5),
    ]
    for page in pages:
        if not page.headers.get("Content-Type", "").startswith("text/html"):
            continue
        csp = page.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp, page.url
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, page.url
        assert "script-src" not in csp or "'self'" in csp
        assert page.headers["X-Frame-Options"] == "DENY", page.url
        assert page.headers["X-Content-Type-Options"] == "nosniff", page.url
        assert page.headers["Referrer-Policy"] == "no-referrer", page.url
        assert "<script>" not in page.text, page.url  # scripts come from files only
