"""What a relying party does, written once for the tests: authorize with Authlib's
client, follow the mock's redirects, exchange the code, verify tokens with the JWKS."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlparse

import jwt
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from tests.conftest import CI_CLIENT

PSC_PARAMS = {"scope": "openid scope_all", "acr_values": "eidas1"}


@dataclass
class Callback:
    """Where the mock sent the browser back: the client's redirect URI and its query."""

    url: str
    params: dict[str, str]


class RelyingParty:
    def __init__(self, discovery: dict, client=CI_CLIENT, **session_options) -> None:
        client_id, secret, redirect_uri = client
        self.discovery = discovery
        self.redirect_uri = redirect_uri
        self.session = OAuth2Session(
            client_id,
            secret,
            redirect_uri=redirect_uri,
            **{"code_challenge_method": "S256", **session_options},
        )
        self.jwks = jwt.PyJWKClient(discovery["jwks_uri"])

    def authorization_url(self, **params) -> tuple[str, dict]:
        """The authorize URL, and the state/nonce/verifier a client keeps to check the
        callback."""
        secrets = {
            "state": generate_token(20),
            "nonce": generate_token(20),
            "code_verifier": generate_token(48),
        }
        query = {**PSC_PARAMS, "nonce": secrets["nonce"], **params}
        url, _ = self.session.create_authorization_url(
            self.discovery["authorization_endpoint"],
            state=secrets["state"],
            code_verifier=secrets["code_verifier"],
            **query,
        )
        return url, secrets

    def fetch_token(self, callback: Callback, code_verifier: str) -> dict:
        return self.session.fetch_token(
            self.discovery["token_endpoint"],
            code=callback.params["code"],
            code_verifier=code_verifier,
        )

    def verify(self, token: str, **options) -> dict:
        """Decode and verify a JWT as a relying party would, through the published JWKS."""
        key = self.jwks.get_signing_key_from_jwt(token)
        return jwt.decode(
            token,
            key.key,
            algorithms=["RS256"],
            issuer=self.discovery["issuer"],
            options={"verify_aud": "audience" in options},
            **options,
        )

    def login_auto(self, id_nat: str, **params) -> tuple[dict, dict]:
        """Code flow with ``login_hint`` for an ``auto`` identity: no page at all."""
        url, secrets = self.authorization_url(login_hint=id_nat, **params)
        callback = follow_to_callback(requests.Session(), url, self.redirect_uri)
        assert callback.params.get("state") == secrets["state"], callback.params
        return self.fetch_token(callback, secrets["code_verifier"]), secrets


def follow_to_callback(browser: requests.Session, url: str, redirect_uri: str) -> Callback:
    """Follow redirects until the mock sends the browser to the client."""
    for _ in range(10):
        response = browser.get(url, allow_redirects=False, timeout=5)
        location = response.headers.get("Location")
        if response.status_code not in (302, 303) or not location:
            raise AssertionError(
                f"no redirect from {url}: {response.status_code} {response.text[:500]}"
            )
        url = urljoin(url, location)
        if url.startswith(redirect_uri):
            query = parse_qs(urlparse(url).query)
            return Callback(url, {key: values[0] for key, values in query.items()})
    raise AssertionError("too many redirects")


class FormParser(HTMLParser):
    """The forms of a page: action and input values, as a browser would submit them."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attributes.get("action", ""), "fields": {}, "radios": []})
        elif tag == "input" and self.forms:
            name = attributes.get("name")
            if attributes.get("type") == "radio":
                self.forms[-1]["radios"].append(attributes.get("value"))
            elif name:
                self.forms[-1]["fields"][name] = attributes.get("value") or ""


def forms(html: str) -> list[dict]:
    parser = FormParser()
    parser.feed(html)
    return parser.forms
