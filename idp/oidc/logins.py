"""Logins in progress: an authorization request waiting for the person to prove who
they are, kept server-side under an unguessable ``tab_id`` (Keycloak's name for it)."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import asdict, dataclass, field

from idp.store import Store

LOGIN = "login"


@dataclass(slots=True)
class Login:
    tab_id: str
    params: dict[str, str]  # the authorization request, as the client sent it
    client_name: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    id_nat: str = ""
    approval_id: str = ""

    def check_csrf(self, token: str) -> bool:
        return hmac.compare_digest(token.encode(), self.csrf.encode())


class Logins:
    def __init__(self, store: Store, lifetime: int) -> None:
        self._store = store
        self._lifetime = lifetime

    def begin(self, params: dict[str, str], client_name: str) -> Login:
        login = Login(tab_id=secrets.token_urlsafe(24), params=params, client_name=client_name)
        self._store.put(LOGIN, login.tab_id, asdict(login), ttl=self._lifetime)
        return login

    def get(self, tab_id: str) -> Login | None:
        record = self._store.get(LOGIN, tab_id)
        return Login(**record.value) if record else None

    def attach(self, tab_id: str, *, id_nat: str, approval_id: str) -> None:
        self._store.update(
            LOGIN, tab_id, lambda value: value.update(id_nat=id_nat, approval_id=approval_id)
        )

    def finish(self, tab_id: str) -> Login | None:
        """Take the login out: a login completes once, even if the browser reloads."""
        record = self._store.take(LOGIN, tab_id)
        return Login(**record.value) if record else None
