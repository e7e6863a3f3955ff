"""The trainer dashboard's guard and the control API calls it makes, over HTTP."""

from __future__ import annotations

import html

import pytest
import requests

from idp.app import create_app
from idp.settings import Settings

AUTO = "899700100011"


@pytest.fixture
def url(own_url: str) -> str:
    return own_url


def _remote(client, method, path, **kwargs):
    """From a non-loopback peer (the app's test client; never real remote traffic)."""
    environ = {"REMOTE_ADDR": "10.1.2.3"}
    return client.open(
        path, method=method, environ_overrides=environ, base_url="http://localhost", **kwargs
    )


def test_off_loopback_the_dashboard_needs_the_token_and_keeps_it_in_a_strict_cookie():
    client = create_app(Settings(admin_token="s3cret-token")).test_client()
    refused = _remote(client, "GET", "/_mock/ui/")
    assert refused.status_code == 401 and "text/html" in refused.content_type
    assert "réservé au formateur" in html.unescape(refused.get_data(as_text=True))
    exchanged = _remote(client, "GET", "/_mock/ui/?token=s3cret-token")
    assert exchanged.status_code == 302 and exchanged.headers["Location"] == "/_mock/ui/"
    cookie = exchanged.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/_mock" in cookie
    assert _remote(client, "GET", "/_mock/ui/").status_code == 200
    assert _remote(client, "GET", "/_mock/directory?q=martin").status_code == 200
    wrong = create_app(Settings(admin_token="s3cret-token")).test_client()
    _remote(wrong, "GET", "/_mock/ui/?token=guess")
    assert _remote(wrong, "GET", "/_mock/ui/").status_code == 401


def test_dashboard_writes_are_json_only_and_host_checked(url):
    form = requests.post(url + "/_mock/training", data={"count": "2"}, timeout=5)
    assert form.status_code == 415  # a cross-site form cannot post JSON
    foreign = requests.get(url + "/_mock/ui/", headers={"Host": "evil.example"}, timeout=5)
    assert foreign.status_code == 403


def test_search_and_claims(url):
    found = requests.get(url + "/_mock/directory", params={"q": "claire martin"}, timeout=5)
    assert [p["id_nat"] for p in found.json()["results"]] == [AUTO]
    by_profession = requests.get(
        url + "/_mock/directory", params={"profession": "60", "limit": 100}, timeout=5
    ).json()["results"]
    assert by_profession and all("Infirmier" in p["professions"] for p in by_profession)
    claims = requests.get(f"{url}/_mock/directory/{AUTO}/claims", timeout=5).json()
    assert claims["userinfo"]["SubjectNameID"] == AUTO and claims["ecps"]["policy"] == "auto"
    assert requests.get(f"{url}/_mock/directory/nobody/claims", timeout=5).status_code == 404
    bad = requests.get(url + "/_mock/directory", params={"limit": "many"}, timeout=5)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"


def test_training_hands_out_distinct_identities_until_reset(url):
    first = requests.post(url + "/_mock/training", json={"count": 3}, timeout=5).json()
    more = requests.post(url + "/_mock/training", json={"count": 2}, timeout=5).json()
    ids = [t["id_nat"] for t in more["trainees"]]
    assert len(ids) == len(set(ids)) == 5 and ids[:3] == [t["id_nat"] for t in first["trainees"]]
    assert all(
        t["ecps_password"] and t["phone_url"].endswith(t["id_nat"]) for t in more["trainees"]
    )
    sheets = requests.get(url + "/_mock/ui/sheets", timeout=5).text
    assert all(id_nat in sheets for id_nat in ids) and sheets.count("<svg") == 5
    for bad in ({"count": 0}, {"count": "3"}, {"count": 10_000}, {}):
        answer = requests.post(url + "/_mock/training", json=bad, timeout=5)
        assert answer.status_code == 400, bad
    requests.post(url + "/_mock/reset", json={}, timeout=5)
    assert requests.get(url + "/_mock/training", timeout=5).json() == {"trainees": []}


def test_pending_approvals_and_sessions_are_listed(url):
    discovery = requests.get(
        url + "/auth/realms/esante-wallet/.well-known/wallet-openid-configuration", timeout=5
    ).json()
    from tests.integration.test_ciba import Ciba
    from tests.oidc_client import RelyingParty

    Ciba(discovery).started("899700100029", binding="57")
    RelyingParty(discovery).login_auto(AUTO)
    approvals = requests.get(url + "/_mock/approvals", timeout=5).json()["approvals"]
    assert any(a["id_nat"] == "899700100029" and a["code"] == "57" for a in approvals)
    sessions = requests.get(url + "/_mock/sessions", timeout=5).json()["sessions"]
    assert any(s["id_nat"] == AUTO and s["clients"] == ["psc-mock-ci"] for s in sessions)
    assert "browser_key" not in str(sessions) and "csrf" not in str(approvals)


def test_the_latest_sessions_are_listed_past_the_limit(url):
    """A busy training room has more sessions than the list shows (200): the ones left out
    are the oldest, not the login the trainer just watched."""
    from tests.fixture_people import person
    from tests.oidc_client import RelyingParty

    discovery = requests.get(
        url + "/auth/realms/esante-wallet/.well-known/wallet-openid-configuration", timeout=5
    ).json()
    rp = RelyingParty(discovery)
    with requests.Session() as browser:
        for _ in range(201):  # each its own browser: no SSO cookie sent back
            browser.cookies.clear()
            login = browser.get(rp.authorization_url(login_hint=AUTO)[0], allow_redirects=False)
            assert login.status_code == 302
    latest = person(lambda p, i: p.id_nat != AUTO and len(p.id_nat) == 12, policy="auto")
    rp.login_auto(latest.id_nat)
    sessions = requests.get(url + "/_mock/sessions", timeout=5).json()["sessions"]
    assert len(sessions) == 200 and sessions[0]["id_nat"] == latest.id_nat
