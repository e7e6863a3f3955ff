"""A small client of the control API and of the code flow, on the standard library only
(the pytest plugin must stay import-light; ``psc-mock ctl`` uses it too)."""

from __future__ import annotations

import base64
import contextlib
import html
import json
import re
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

REALM_PATH = "/auth/realms/esante-wallet"
CI_CLIENT = ("psc-mock-ci", "psc-mock-ci-secret", "http://localhost:9999/callback")


class ControlError(RuntimeError):
    """The mock answered with an error; ``status`` and ``body`` say which."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status, self.body = status, body


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _call(method: str, url: str, *, body: bytes | None = None, headers=None, timeout=30):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with _opener.open(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class Control:
    """The control API of the mock at ``url`` (a token when it is not on loopback)."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if method in ("POST", "PUT", "PATCH"):
            headers["Content-Type"] = "application/json"
            data = json.dumps(body if body is not None else {}).encode()
        params = {k: v for k, v in query.items() if v is not None}
        url = self.url + "/_mock" + path + (("?" + urlencode(params)) if params else "")
        status, _, raw = _call(method, url, body=data, headers=headers, timeout=90)
        payload = json.loads(raw) if raw else None
        if status >= 400:
            raise ControlError(status, payload)
        return payload

    # clock
    def clock(self) -> dict:
        return self.call("GET", "/clock")

    def freeze(self, at: float | str | None = None) -> dict:
        return self.call("POST", "/clock", {"action": "freeze", "at": at})

    def advance(self, by: float | str) -> dict:
        return self.call("POST", "/clock", {"action": "advance", "by": by})

    def resume(self) -> dict:
        return self.call("POST", "/clock", {"action": "resume"})

    # scenarios, faults, reset, keys
    def set_scenario(self, id_nat: str, **values: Any) -> dict:
        return self.call("PUT", f"/scenarios/{id_nat}", values)

    def clear_scenario(self, id_nat: str) -> None:
        self.call("DELETE", f"/scenarios/{id_nat}")

    def fault(self, endpoint: str, **fault: Any) -> dict:
        return self.call("PUT", f"/faults/{endpoint}", fault)

    def clear_fault(self, endpoint: str | None = None) -> None:
        self.call("DELETE", f"/faults/{endpoint}" if endpoint else "/faults")

    def reset(self) -> None:
        self.call("POST", "/reset", {})

    def rotate_keys(self, retention: float | str | None = None) -> dict:
        return self.call("POST", "/keys/rotate", {"retention": retention})

    def tamper(self, *change: str, **options: Any) -> dict:
        return self.call("PUT", "/tampering", {"change": list(change), **options})

    def clear_tampering(self) -> None:
        self.call("DELETE", "/tampering")

    def issue_token(self, id_nat: str, **options: Any) -> dict:
        return self.call("POST", "/tokens", {"id_nat": id_nat, **options})


class RequestLog:
    """``psc_mock.requests``: what the mock received, secrets masked."""

    def __init__(self, control: Control) -> None:
        self._control = control

    def list(self, **filters: Any) -> list[dict]:
        return self._control.call("GET", "/requests", **filters)["requests"]

    __call__ = list

    def next(self, timeout: float = 5, **filters: Any) -> dict | None:
        """The oldest request not taken yet, waiting up to ``timeout`` s (``takeRequest``)."""
        return self._control.call("GET", "/requests/next", timeout=timeout, **filters)

    take = next

    def clear(self) -> None:
        self._control.call("DELETE", "/requests")


class PscMockClient:
    """A mock at ``url``: where it is, its control API, and helpers for tests."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.control = Control(self.url, token)
        self.requests = RequestLog(self.control)

    @property
    def issuer(self) -> str:
        return self.url + REALM_PATH

    @property
    def discovery_url(self) -> str:
        return self.issuer + "/.well-known/wallet-openid-configuration"

    def reset(self) -> None:
        self.control.reset()

    @contextlib.contextmanager
    def scenario(self, id_nat: str, **values: Any) -> Iterator[dict]:
        """An identity's scenario for the ``with`` block (``policy``, ``delay``,
        ``claims={"drop": [...], "set": {...}}``, …), then the fixtures again."""
        stored = self.control.set_scenario(id_nat, **values)
        try:
            yield stored
        finally:
            self.control.clear_scenario(id_nat)

    @contextlib.contextmanager
    def fault(self, endpoint: str, **fault: Any) -> Iterator[dict]:
        stored = self.control.fault(endpoint, **fault)
        try:
            yield stored
        finally:
            self.control.clear_fault(endpoint)

    @contextlib.contextmanager
    def tamper(self, *change: str, **options: Any) -> Iterator[dict]:
        """The next tokens tampered with (``"expired"``, ``"unknown_key"``, …,
        ``drop=[...]``, ``set={...}``, ``tokens=[...]``, ``times=N``) inside the block."""
        stored = self.control.tamper(*change, **options)
        try:
            yield stored
        finally:
            self.control.clear_tampering()

    def issue_token(
        self,
        id_nat: str,
        *,
        client_id: str = CI_CLIENT[0],
        means: str = "MOBILE",
        change: list[str] | tuple[str, ...] = (),
        drop: list[str] | tuple[str, ...] = (),
        **claims: Any,
    ) -> dict:
        """A PSC-shaped token set for ``id_nat`` without a flow; keyword arguments set
        claims (``acr="eidas3"``), ``drop`` removes some, ``change`` tampers."""
        options: dict[str, Any] = {"client_id": client_id, "means": means}
        if change:
            options["change"] = list(change)
        if drop:
            options["drop"] = list(drop)
        if claims:
            options["set"] = claims
        return self.control.issue_token(id_nat, **options)

    def ciba(
        self,
        id_nat: str,
        *,
        client_id: str = "psc-mock-ciba",
        client_secret: str = "psc-mock-ciba-secret",
        binding_message: str = "42",
        channel: str = "MOBILE",
        timeout: float = 30,
    ) -> dict:
        """A CIBA login (poll mode) for an identity that answers by itself (``auto``, or a
        scenario): the token set, or ControlError with PSC's error."""
        import time

        basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        headers = {
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        base = self.issuer + "/protocol/openid-connect"
        form = {
            "scope": "openid scope_all",
            "acr_values": "eidas1",
            "login_hint": id_nat,
            "binding_message": binding_message,
            "channel": channel,
        }
        status, _, raw = _call(
            "POST", base + "/ext/ciba/auth", body=urlencode(form).encode(), headers=headers
        )
        started = json.loads(raw)
        if status != 200:
            raise ControlError(status, started)
        interval = float(started.get("interval", 5))
        poll = urlencode(
            {
                "grant_type": "urn:openid:params:grant-type:ciba",
                "auth_req_id": started["auth_req_id"],
            }
        ).encode()
        deadline = time.monotonic() + timeout
        while True:
            status, _, raw = _call("POST", base + "/token", body=poll, headers=headers)
            answer = json.loads(raw)
            if status == 200:
                return answer
            error = answer.get("error")
            if error not in ("authorization_pending", "slow_down") or time.monotonic() > deadline:
                raise ControlError(status, answer)
            interval += 5 if error == "slow_down" else 0
            time.sleep(interval)

    def login(
        self,
        id_nat: str,
        client_id: str = CI_CLIENT[0],
        client_secret: str = CI_CLIENT[1],
        redirect_uri: str = CI_CLIENT[2],
        scope: str = "openid scope_all",
        means: str = "MOBILE",
    ) -> dict:
        """The token set of a code flow for ``id_nat``. ``MOBILE`` (e-CPS): with
        ``login_hint``, no page; an identity that is not ``auto`` is made ``auto`` for the
        duration of the login. ``CARD``: the card tab, with the person's first active card
        and its PIN, as a browser would submit it."""
        if means == "CARD":
            return self._card_flow(id_nat, client_id, client_secret, redirect_uri, scope)
        if means != "MOBILE":
            raise ValueError("means must be MOBILE or CARD")
        current = self.control.call("GET", f"/scenarios/{id_nat}")
        scenario = current.get("scenario")
        if current["effective"]["policy"] != "auto" or current["effective"]["delay"]:
            self.control.set_scenario(id_nat, **_as_input(scenario), policy="auto", delay=0)
        try:
            return self._code_flow(id_nat, client_id, client_secret, redirect_uri, scope)
        finally:
            if scenario != self.control.call("GET", f"/scenarios/{id_nat}")["scenario"]:
                if scenario:
                    self.control.set_scenario(id_nat, **_as_input(scenario))
                else:
                    self.control.clear_scenario(id_nat)

    def _card_flow(self, id_nat, client_id, client_secret, redirect_uri, scope) -> dict:
        cards = self.control.call("GET", f"/scenarios/{id_nat}")["effective"]["cards"]
        card = next((c for c in cards if c["status"] == "active"), None)
        if card is None:
            raise ControlError(400, f"{id_nat} has no active card in credentials.yaml")
        state, query = self._authorize_query(client_id, redirect_uri, scope, None)
        status, headers, body = _call("GET", self.url + "/auth?" + urlencode(query))
        login_page = urljoin(self.url + "/auth", headers.get("Location", ""))
        if status not in (302, 303) or "tab_id=" not in login_page:
            raise ControlError(status, body.decode(errors="replace")[:500])
        card_page = login_page.replace("/authenticate?", "/card?", 1)
        status, _, page = _call("GET", card_page)
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.decode())
        if status != 200 or csrf is None:
            raise ControlError(status, page.decode(errors="replace")[:500])
        form = {"serial": card["serial"], "pin": card["pin"], "csrf": html.unescape(csrf[1])}
        status, headers, page = _call(
            "POST",
            card_page,
            body=urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        return self._exchange(status, headers, page, state, client_id, client_secret, redirect_uri)

    def _authorize_query(self, client_id, redirect_uri, scope, id_nat) -> tuple[str, dict]:
        state = secrets.token_urlsafe(16)
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "acr_values": "eidas1",
            "state": state,
            "nonce": secrets.token_urlsafe(16),
        }
        if id_nat:
            query["login_hint"] = id_nat
        return state, query

    def _code_flow(self, id_nat, client_id, client_secret, redirect_uri, scope) -> dict:
        state, query = self._authorize_query(client_id, redirect_uri, scope, id_nat)
        status, headers, body = _call("GET", self.url + "/auth?" + urlencode(query))
        return self._exchange(status, headers, body, state, client_id, client_secret, redirect_uri)

    def _exchange(self, status, headers, body, state, client_id, client_secret, redirect_uri):
        """The client's side of the callback: check ``state``, swap the code for tokens."""
        location = headers.get("Location", "")
        params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        if status not in (302, 303) or "code" not in params or params.get("state") != state:
            raise ControlError(status, params or body.decode(errors="replace")[:500])
        basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        form = urlencode(
            {
                "grant_type": "authorization_code",
                "code": params["code"],
                "redirect_uri": redirect_uri,
            }
        ).encode()
        status, _, raw = _call(
            "POST",
            self.issuer + "/protocol/openid-connect/token",
            body=form,
            headers={
                "Authorization": f"Basic {basic}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        token = json.loads(raw)
        if status != 200:
            raise ControlError(status, token)
        return token


def _as_input(scenario: dict | None) -> dict:
    """A stored scenario back into the control API's input shape."""
    if not scenario:
        return {}
    values = {
        k: v for k, v in scenario.items() if k in ("purpose", "policy", "delay", "cards", "order")
    }
    if "registered_at" in scenario:
        values["registered"] = datetime.fromtimestamp(scenario["registered_at"], UTC).isoformat()
    claims = {}
    if scenario.get("drop_claims"):
        claims["drop"] = scenario["drop_claims"]
    if scenario.get("set_claims"):
        claims["set"] = scenario["set_claims"]
    if claims:
        values["claims"] = claims
    ecps = {}
    if "ecps_activated" in scenario:
        ecps["activated"] = scenario["ecps_activated"]
    if "ecps_password" in scenario:
        ecps["password"] = scenario["ecps_password"]
    if ecps:
        values["ecps"] = ecps
    return values
