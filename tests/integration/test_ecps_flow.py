"""The e-CPS login as a person does it: identifier page, pending page, phone approval."""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin

import pytest
import requests

from tests.fixture_people import identity, person, professions
from tests.oidc_client import RelyingParty, follow_to_callback, forms


def text(response: requests.Response) -> str:
    """What the person reads (entities decoded)."""
    return html.unescape(response.text)


class Browser:
    """A person's browser on the login pages (no JavaScript: the page reloads itself)."""

    def __init__(self, discovery: dict) -> None:
        self.rp = RelyingParty(discovery)
        self.http = requests.Session()
        url, self.secrets = self.rp.authorization_url()
        response = self.http.get(url, timeout=5)
        assert response.status_code == 200, response.text[:300]
        self.login_url = response.url
        self.page = response

    def submit_id_nat(self, id_nat: str, remember: bool = False) -> requests.Response:
        form = forms(self.page.text)[0]
        data = {**form["fields"], "id_nat": id_nat}
        if remember:
            data["remember"] = "on"
        self.page = self.http.post(urljoin(self.login_url, form["action"]), data=data, timeout=5)
        return self.page

    @property
    def shown_code(self) -> str:
        match = re.search(r'class="code"[^>]*>(\d\d)<', self.page.text)
        assert match, self.page.text[:500]
        return match.group(1)

    def continue_to_client(self):
        return follow_to_callback(self.http, self.page.url, self.rp.redirect_uri)


class Phone:
    def __init__(self, base_url: str, id_nat: str) -> None:
        self.url = f"{base_url}/phone/{id_nat}"
        self.http = requests.Session()

    def pending_form(self) -> dict:
        page = self.http.get(self.url, timeout=5)
        assert page.status_code == 200
        found = forms(page.text)
        assert found, "no pending request on the phone"
        return found[0]

    def answer(self, *, password: str, code: str | None, action="approve") -> requests.Response:
        form = self.pending_form()
        data = {**form["fields"], "password": password, "action": action}
        if code is not None:
            data["code"] = code
        return self.http.post(urljoin(self.url, form["action"]), data=data, timeout=5)


def _manual_person():
    return person(lambda p, i: i.ecps_activated and len(p.id_nat) == 12, policy="manual")


def test_full_ecps_login_with_phone_approval(discovery, base_url):
    practitioner = _manual_person()
    browser = Browser(discovery)
    assert "Connectez-vous" in text(browser.page) and "Application e-CPS" in text(browser.page)
    browser.submit_id_nat(practitioner.id_nat)
    assert browser.page.status_code == 200 and "/login-actions/ecps" in browser.page.url
    code = browser.shown_code

    phone = Phone(base_url, practitioner.id_nat)
    form = phone.pending_form()
    assert code in form["radios"] and len(form["radios"]) == 3
    answered = phone.answer(password=identity(practitioner.id_nat).ecps_password, code=code)
    assert "Connexion validée" in text(answered)

    callback = browser.continue_to_client()
    assert callback.params["state"] == browser.secrets["state"]
    token = browser.rp.fetch_token(callback, browser.secrets["code_verifier"])
    claims = browser.rp.verify(token["id_token"], audience="psc-mock-ci")
    assert claims["SubjectNameID"] == practitioner.id_nat
    assert claims["authMode"] == "MOBILE"


def test_wrong_password_changes_nothing_wrong_code_refuses(discovery, base_url):
    practitioner = _manual_person()
    browser = Browser(discovery)
    browser.submit_id_nat(practitioner.id_nat)
    code = browser.shown_code
    phone = Phone(base_url, practitioner.id_nat)
    wrong_password = phone.answer(password="nope", code=code)
    assert wrong_password.status_code == 400 and "Mot de passe e-CPS incorrect" in text(
        wrong_password
    )
    wrong = next(c for c in phone.pending_form()["radios"] if c != code)
    phone.answer(password=identity(practitioner.id_nat).ecps_password, code=wrong)
    refused = browser.http.get(browser.page.url, timeout=5)
    assert refused.status_code == 403
    assert "ne correspond pas" in text(refused)


def test_refusal_on_the_phone_and_cancel_back_to_the_client(discovery, base_url, issuer):
    practitioner = _manual_person()
    browser = Browser(discovery)
    browser.submit_id_nat(practitioner.id_nat)
    Phone(base_url, practitioner.id_nat).answer(
        password=identity(practitioner.id_nat).ecps_password, code=None, action="refuse"
    )
    refused = browser.http.get(browser.page.url, timeout=5)
    assert refused.status_code == 403 and "Vous avez refusé" in text(refused)
    cancel = next(url for url in re.findall(r'href="([^"]+)"', refused.text) if "cancel" in url)
    callback = follow_to_callback(
        browser.http,
        urljoin(browser.page.url, cancel.replace("&amp;", "&")),
        browser.rp.redirect_uri,
    )
    assert callback.params["error"] == "access_denied"
    assert callback.params["state"] == browser.secrets["state"]
    assert callback.params["iss"] == issuer


def test_approval_expires_on_the_mock_clock(discovery, clock):
    practitioner = _manual_person()
    browser = Browser(discovery)
    browser.submit_id_nat(practitioner.id_nat)
    clock.advance(121)
    expired = browser.http.get(browser.page.url, timeout=5)
    assert expired.status_code == 408 and "Demande expirée" in text(expired)


def test_deny_and_timeout_policies(discovery, clock):
    denied = person(lambda p, i: True, policy="deny")
    browser = Browser(discovery)
    browser.submit_id_nat(denied.id_nat)
    assert browser.page.status_code == 403

    silent = person(lambda p, i: True, policy="timeout")
    browser = Browser(discovery)
    browser.submit_id_nat(silent.id_nat)
    assert browser.page.status_code == 200  # waits...
    clock.advance(121)
    assert browser.http.get(browser.page.url, timeout=5).status_code == 408


def test_remember_my_identifier_cookie(discovery):
    practitioner = _manual_person()
    browser = Browser(discovery)
    browser.submit_id_nat(practitioner.id_nat, remember=True)
    cookie = browser.http.cookies.get("PSC_MOCK_IDNAT")
    assert cookie == practitioner.id_nat
    url, _ = browser.rp.authorization_url()
    again = browser.http.get(url, timeout=5)
    assert f'value="{practitioner.id_nat}"' in text(again)


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("899999999999", "n'est pas connu"),
        ("<script>alert(1)</script>", "n'est pas connu"),
    ],
)
def test_unknown_identifier(discovery, typed, says):
    browser = Browser(discovery)
    page = browser.submit_id_nat(typed)
    assert page.status_code == 400 and says in text(page)
    assert "<script>alert(1)</script>" not in page.text  # escaped in the HTML


def test_rpps_typed_without_its_leading_8(discovery):
    practitioner = _manual_person()
    browser = Browser(discovery)
    page = browser.submit_id_nat(practitioner.id_nat[1:])
    assert page.status_code == 400
    assert "8" + practitioner.id_nat[1:] in text(page)


def test_student_outside_the_perimeter(discovery):
    student = person(
        lambda p, _: (
            all(e.code_categorie_professionnelle == "E" for e in p.exercices)
            and not professions(p) & {"10", "21", "40", "50"}
        )
    )
    page = Browser(discovery).submit_id_nat(student.id_nat)
    assert page.status_code == 400 and "étudiants" in text(page)


def test_interne_is_inside_by_default_outside_with_the_old_rule(discovery, start_server):
    interne = person(
        lambda p, _: any(
            e.code_categorie_professionnelle == "E" and e.code_profession == "10"
            for e in p.exercices
        )
    )
    assert Browser(discovery).submit_id_nat(interne.id_nat).status_code in (200, 403)
    server = start_server(interns_in_perimeter=False)
    old = requests.get(
        server.settings.issuer + "/.well-known/wallet-openid-configuration", timeout=5
    ).json()
    assert Browser(old).submit_id_nat(interne.id_nat).status_code == 400


def test_ecps_not_activated_says_how_to_activate(discovery):
    inactive = person(lambda p, i: not i.ecps_activated)
    page = Browser(discovery).submit_id_nat(inactive.id_nat)
    assert page.status_code == 400
    assert ("pas activée" in text(page) and "Activez-la" in text(page)) or "Aucun moyen" in text(
        page
    )


def test_person_not_yet_known_to_psc(discovery):
    recent = person(lambda p, i: i.registered_at < 0)  # registered "-12h" relative to start
    page = Browser(discovery).submit_id_nat(recent.id_nat)
    assert page.status_code == 400 and "48 heures" in text(page)


def test_login_page_csrf_token_is_required(discovery):
    browser = Browser(discovery)
    form = forms(browser.page.text)[0]
    response = browser.http.post(
        urljoin(browser.login_url, form["action"]),
        data={"id_nat": _manual_person().id_nat, "csrf": "forged"},
        timeout=5,
    )
    assert response.status_code == 400 and "Formulaire expiré" in text(response)


def test_a_new_push_replaces_the_pending_one_on_the_phone(discovery, base_url):
    practitioner = _manual_person()
    first = Browser(discovery)
    first.submit_id_nat(practitioner.id_nat)
    second = Browser(discovery)
    second.submit_id_nat(practitioner.id_nat)
    phone_forms = forms(
        Phone(base_url, practitioner.id_nat)
        .http.get(f"{base_url}/phone/{practitioner.id_nat}", timeout=5)
        .text
    )
    assert len(phone_forms) == 1 and second.shown_code in phone_forms[0]["radios"]
    replaced = first.http.get(first.page.url, timeout=5)
    assert replaced.status_code == 403 and "plus récente" in text(replaced)


def test_refusing_asks_for_the_password_first(discovery, base_url):
    """The Refuser button skips the browser's checks: the server asks for the password and
    the request stays pending."""
    practitioner = _manual_person()
    Browser(discovery).submit_id_nat(practitioner.id_nat)
    phone = Phone(base_url, practitioner.id_nat)
    refused = phone.answer(password="", code=None, action="refuse")
    assert refused.status_code == 400 and "Saisissez votre mot de passe e-CPS" in text(refused)
    assert phone.pending_form()


def test_a_code_in_another_script_is_a_wrong_code(discovery, base_url):
    practitioner = _manual_person()
    browser = Browser(discovery)
    browser.submit_id_nat(practitioner.id_nat)
    phone = Phone(base_url, practitioner.id_nat)
    answered = phone.answer(password=identity(practitioner.id_nat).ecps_password, code="é٤")
    assert answered.status_code == 200 and "Demande refusée" in text(answered)
    assert browser.http.get(browser.page.url, timeout=5).status_code == 403


def test_an_answer_after_the_decision_says_what_happened(discovery, base_url):
    """A second answer (another tab, a double click) changes nothing and says so, rather
    than showing the earlier outcome as its own."""
    practitioner = _manual_person()
    browser = Browser(discovery)
    browser.submit_id_nat(practitioner.id_nat)
    phone = Phone(base_url, practitioner.id_nat)
    form = phone.pending_form()
    data = {**form["fields"], "password": identity(practitioner.id_nat).ecps_password}
    url = urljoin(phone.url, form["action"])
    approved = phone.http.post(url, data={**data, "code": browser.shown_code}, timeout=5)
    assert "Connexion validée" in text(approved)
    late = phone.http.post(url, data={**data, "action": "refuse"}, timeout=5)
    assert late.status_code == 409 and "déjà été validée" in text(late)
    callback = browser.continue_to_client()
    assert "code" in callback.params


def test_an_answer_to_a_replaced_request_says_so(discovery, base_url):
    practitioner = _manual_person()
    first = Browser(discovery)
    first.submit_id_nat(practitioner.id_nat)
    phone = Phone(base_url, practitioner.id_nat)
    form = phone.pending_form()
    second = Browser(discovery)
    second.submit_id_nat(practitioner.id_nat)
    data = {
        **form["fields"],
        "password": identity(practitioner.id_nat).ecps_password,
        "code": first.shown_code,
    }
    late = phone.http.post(urljoin(phone.url, form["action"]), data=data, timeout=5)
    assert late.status_code == 409 and "remplacée par une plus récente" in text(late)
    assert phone.pending_form()  # the newer request is still there to answer
