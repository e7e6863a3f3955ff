"""What the control API keeps beside the store: the admin token, the request log, the
runtime directory's undo journal. One instance per app (``Services.control``)."""

from __future__ import annotations

import ipaddress
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from idp.slots import idle

OPEN = "none"  # PSC_MOCK_ADMIN_TOKEN=none: no token, even off loopback
_LOG_SIZE = 1000


def take_shot(store, kind: str, key: str) -> dict[str, Any] | None:
    """Consume one use of an N-shot record (a fault, a tampering): its value, or None when
    there is none left. ``times`` absent: it lasts until cleared.

    Asked on every request and nearly always absent: a plain read first, so that the
    write transaction (a lock shared by ``--workers`` processes) is taken only for a shot.
    """
    if store.get(kind, key) is None:
        return None
    shot: dict[str, Any] = {}

    def consume(value: dict[str, Any]) -> None:
        remaining = value.get("times")
        if remaining is not None and remaining <= 0:
            return
        if remaining is not None:
            value["times"] = remaining - 1
        shot.update(value)

    record = store.update(kind, key, consume)
    if record is not None and record.value.get("times") is not None and record.value["times"] <= 0:
        store.delete(kind, key)
    return shot or None


def is_loopback(address: str | None) -> bool:
    if not address:
        return False
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


class RequestLog:
    """The last requests the mock received, secrets masked, with a take-next queue."""

    def __init__(self, size: int = _LOG_SIZE) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=size)
        self._next_id = 1
        self._taken = 0  # id of the last entry handed out by take()
        self._changed = threading.Condition()

    def add(self, entry: dict[str, Any]) -> dict[str, Any]:
        with self._changed:
            entry = {"id": self._next_id, **entry}
            self._next_id += 1
            self._entries.append(entry)
            self._changed.notify_all()
        return entry

    def list(self, **filters: Any) -> list[dict[str, Any]]:
        with self._changed:
            entries = list(self._entries)
        return [entry for entry in entries if _matches(entry, filters)]

    def clear(self) -> None:
        with self._changed:
            self._entries.clear()
            self._taken = self._next_id - 1

    def take(self, timeout: float, **filters: Any) -> dict[str, Any] | None:
        """The oldest matching entry not taken yet, waiting up to ``timeout`` seconds
        for one (navikt's ``takeRequest``)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for entry in self._entries:
                    if entry["id"] > self._taken and _matches(entry, filters):
                        self._taken = entry["id"]
                        return entry
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                with idle():  # another request may work meanwhile
                    self._changed.wait(remaining)


def _matches(entry: dict[str, Any], filters: dict[str, Any]) -> bool:
    return all(
        value in (None, "") or str(entry.get(name)) == str(value) for name, value in filters.items()
    )


def published(settings) -> bool:
    """Whether the public URL names a host other than this machine: then the mock is
    published, typically by a reverse proxy on this host, whose every client reaches the
    mock from loopback, so a loopback peer proves nothing."""
    return not is_loopback(urlsplit(settings.effective_public_url).hostname)


def generates_token(settings) -> bool:
    """Whether a token is made up at start: none was configured and someone beyond this
    machine may call (the mock listens off loopback or is published)."""
    return not settings.admin_token and (published(settings) or not is_loopback(settings.host))


@dataclass
class ControlState:
    admin_token: str  # "" closed off loopback, OPEN, or the token
    token_generated: bool = False
    requests: RequestLog = field(default_factory=RequestLog)
    # False when the mock is published: the token is then asked of loopback peers too.
    loopback_open: bool = True

    @classmethod
    def for_settings(cls, settings) -> ControlState:
        """The token is generated when someone beyond this machine may call: the mock
        listens off loopback or is published (``--admin-token none`` opts out)."""
        token = settings.admin_token
        loopback_open = not published(settings)
        if token:
            return cls(admin_token=token, loopback_open=loopback_open)
        if generates_token(settings):
            return cls(
                admin_token=secrets.token_urlsafe(32),
                token_generated=True,
                loopback_open=loopback_open,
            )
        return cls(admin_token="")


SCENARIO = "scenario"


def scenario_overlay(store):
    """``MockData.overlay``: an identity's scenario, as the control API stored it."""

    def overlay(id_nat: str) -> dict[str, Any] | None:
        record = store.get(SCENARIO, id_nat)
        return record.value if record else None

    return overlay


def scenario_holders(store):
    """``MockData.overlaid``: who has a scenario."""
    return lambda: [record.key for record in store.owned_by(SCENARIO, SCENARIO)]
