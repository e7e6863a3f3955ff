"""A login in progress belongs to the browser that started it (``AUTH_SESSION_ID``), not
to whoever holds its ``tab_id`` link: the e-CPS approval happens on a phone, so the
browser that finishes the login gets the code and the SSO session."""

from __future__ import annotations

import html
from urllib.parse import parse_qs, urljoin, urlparse

import requests

from tests.fixture_people import identity
from tests.integration.test_authorize_errors import GOOD
from tests.integration.test_ecps_flow import Browser, Phone, _manual_person
from tests.oidc_client import RelyingParty, follow_to_callback, forms

OTHER_BROWSER = "Connexion commencée dans un autre navigateur"


def _tab_id(url: str) -> str:
    return parse_qs(urlparse(url).query)["tab_id"][0]


def _status_url(login_url: str) -> str:
    return urljoin(login_url, f"ecps/status?tab_id={_tab_id(login_url)}")


def _pending_url(login_url: str) -> str:
    return urljoin(login_url, f"ecps?tab_id={_tab_id(login_url)}")


def test_a_forwarded_login_link_cannot_be_taken_over(discovery):
    """The reported attack: the attacker starts a login and sends the victim its link;
    the victim's browser is refused (before typing anything), so no approval ever
    reaches the victim's phone and the attacker has nothing to collect."""
    practitioner = _manual_person()
    attacker = Browser(discovery)
    victim = requests.Session()

    opened = victim.get(attacker.login_url, timeout=5)
    assert opened.status_code == 403
    assert OTHER_BROWSER in html.unescape(opened.text)
    assert "recommencez la connexion" in html.unescape(opened.text)
    assert not forms(opened.text)

    # Even with the attacker's whole form (its CSRF token) forwarded, the post is refused.
    form = forms(attacker.page.text)[0]
    posted = victim.post(
        urljoin(attacker.login_url, form["action"]),
        data={**form["fields"], "id_nat": practitioner.id_nat},
        timeout=5,
    )
    assert posted.status_code == 403 and OTHER_BROWSER in html.unescape(posted.text)

    # The attacker polls and loads the pending page: no approval, so no code.
    assert attacker.http.get(_status_url(attacker.login_url), timeout=5).json() == {
        "status": "expired"
    }
    pending = attacker.http.get(_pending_url(attacker.login_url), allow_redirects=False, timeout=5)
    assert "code=" not in pending.headers.get("Location", "")


def test_a_leaked_tab_id_gives_nothing_and_the_owner_still_logs_in(discovery, base_url):
    """The victim's own login, its tab link leaked: the holder cannot see it, poll it,
    finish it after the phone's approval, nor cancel it; the victim then finishes."""
    practitioner = _manual_person()
    victim = Browser(discovery)
    victim.submit_id_nat(practitioner.id_nat)
    pending_url = victim.page.url
    attacker = requests.Session()

    Phone(base_url, practitioner.id_nat).answer(
        password=identity(practitioner.id_nat).ecps_password, code=victim.shown_code
    )
    polled = attacker.get(_status_url(victim.login_url), timeout=5)
    assert polled.status_code == 403 and polled.json() == {"status": "expired"}
    taken = attacker.get(pending_url, allow_redirects=False, timeout=5)
    assert taken.status_code == 403 and OTHER_BROWSER in html.unescape(taken.text)
    assert "KEYCLOAK_IDENTITY" not in taken.headers.get("Set-Cookie", "")
    cancelled = attacker.get(
        urljoin(victim.login_url, f"cancel?tab_id={_tab_id(victim.login_url)}"),
        allow_redirects=False,
        timeout=5,
    )
    assert cancelled.status_code == 403

    assert victim.http.get(_status_url(victim.login_url), timeout=5).json() == {
        "status": "approved"
    }
    callback = victim.continue_to_client()
    token = victim.rp.fetch_token(callback, victim.secrets["code_verifier"])
    claims = victim.rp.verify(token["id_token"], audience="psc-mock-ci")
    assert claims["SubjectNameID"] == practitioner.id_nat


def test_the_binding_cookie_is_httponly_lax_and_scoped_to_the_login_pages(discovery):
    url, _ = RelyingParty(discovery).authorization_url()
    response = requests.get(url, allow_redirects=False, timeout=5)
    assert response.status_code == 302 and "tab_id=" in response.headers["Location"]
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("AUTH_SESSION_ID=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    # /auth: the realm's pages and the wallet's authorize URL (another tab reuses the key).
    assert "Path=/auth;" in cookie and "Secure" not in cookie


def test_the_binding_cookie_is_secure_under_https(start_server):
    server = start_server(public_url="https://psc.test")
    response = requests.get(
        f"http://127.0.0.1:{server.port}/auth", params=GOOD, allow_redirects=False, timeout=5
    )
    assert response.status_code == 302 and "; Secure" in response.headers["Set-Cookie"]


def test_two_tabs_of_one_browser_log_in_side_by_side(discovery, base_url):
    """One key per browser, as Keycloak's one authentication session with several tabs:
    a second login started in the same browser does not lock the first one out."""
    practitioner = _manual_person()
    first = Browser(discovery)
    second_url, second_secrets = first.rp.authorization_url()
    second = first.http.get(second_url, timeout=5)
    assert second.status_code == 200 and second.url != first.login_url

    first.submit_id_nat(practitioner.id_nat)
    Phone(base_url, practitioner.id_nat).answer(
        password=identity(practitioner.id_nat).ecps_password, code=first.shown_code
    )
    callback = first.continue_to_client()
    assert callback.params["state"] == first.secrets["state"]
    # The second tab is still this browser's: its page and its cancel still answer it.
    cancel = urljoin(second.url, f"cancel?tab_id={_tab_id(second.url)}")
    back = follow_to_callback(first.http, cancel, first.rp.redirect_uri)
    assert back.params["error"] == "access_denied"
    assert back.params["state"] == second_secrets["state"]
