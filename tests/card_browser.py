"""A person at the login page's "Carte CPS" tab, using the simulated reader."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urljoin, urlparse

import requests

from tests.oidc_client import Callback, RelyingParty, follow_to_callback, forms


def text(response: requests.Response) -> str:
    return html.unescape(response.text)


def error_of(response: requests.Response) -> str:
    match = re.search(r'id="erreur">(.*?)</p>', response.text, re.S)
    assert match, response.text[:800]
    return html.unescape(match.group(1)).strip()


class CardBrowser:
    """A person at the login page who picks the "Carte CPS" tab and uses the reader."""

    def __init__(self, discovery: dict) -> None:
        self.rp = RelyingParty(discovery)
        self.http = requests.Session()
        url, self.secrets = self.rp.authorization_url()
        page = self.http.get(url, timeout=5)
        assert page.status_code == 200, page.text[:300]
        tab = re.search(r'href="([^"]*/login-actions/card\?[^"]*)"', page.text)
        assert tab, "the login page has no Carte CPS tab"
        self.url = urljoin(page.url, html.unescape(tab.group(1)))
        self.page = self.http.get(self.url, timeout=5)
        assert self.page.status_code == 200

    def serials_in_reader(self) -> list[str]:
        return re.findall(r'<option value="(\d+)"', self.page.text)

    def login(self, serial: str, pin: str, *, typed: bool = False) -> requests.Response:
        form = forms(self.page.text)[0]
        data = {**form["fields"], "pin": pin}
        data["other_serial" if typed else "serial"] = serial
        self.page = self.http.post(
            urljoin(self.url, form["action"]), data=data, allow_redirects=False, timeout=5
        )
        return self.page

    def tokens(self) -> tuple[dict, dict]:
        assert self.page.status_code in (302, 303), text(self.page)[:800]
        location = urljoin(self.url, self.page.headers["Location"])
        if location.startswith(self.rp.redirect_uri):
            query = parse_qs(urlparse(location).query)
            callback = Callback(location, {key: values[0] for key, values in query.items()})
        else:
            callback = follow_to_callback(self.http, location, self.rp.redirect_uri)
        assert callback.params["state"] == self.secrets["state"]
        token = self.rp.fetch_token(callback, self.secrets["code_verifier"])
        claims = self.rp.verify(token["id_token"], audience="psc-mock-ci")
        access = self.rp.verify(token["access_token"])
        return claims, access
