"""The one model of mock-only data: clients, e-CPS state, cards, approval policies.

None of this exists in the Annuaire Santé; it is what the mock needs to play PSC's part.
``fixtures/credentials.yaml`` and ``fixtures/clients.yaml`` are its initial state. Errors
name the file, the line and the field, and refuse the whole file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

POLICIES = ("manual", "auto", "deny", "timeout")
CARD_TYPES = ("CPS", "CPF", "CPE", "CPA")
CARD_STATUSES = ("active", "opposed", "locked")
CLAIM_PROFILES = ("psc-2023", "psc-2026")
# tls_client_auth (RFC 8705 §2.1): only for a client with a tls_client_auth_subject_dn.
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "tls_client_auth")
DEFAULT_ECPS_PASSWORD = "1234"
_RELATIVE = re.compile(r"^([+-])(\d+)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class MockDataError(ValueError):
    """A fixture YAML file is wrong; the message names file, line and field."""


@dataclass(frozen=True, slots=True)
class Card:
    type: str
    serial: str
    pin: str = "1234"
    puk: str = "12345678"
    not_after: str = "2045-12-31"
    status: str = "active"


@dataclass(frozen=True, slots=True)
class OrderContact:
    """The order's contact data, through which e-CPS can be activated by mail and SMS."""

    registered: bool = True
    email: str = ""
    mobile: str = ""


@dataclass(frozen=True, slots=True)
class Identity:
    """What the mock knows of one idNat beyond the directory."""

    id_nat: str
    purpose: str = ""
    policy: str = "manual"
    registered_at: float = 0.0  # epoch seconds; PSC knows the person a delay later
    ecps_activated: bool = True
    ecps_password: str = DEFAULT_ECPS_PASSWORD
    order: OrderContact = field(default_factory=OrderContact)
    cards: tuple[Card, ...] = ()
    delay: float = 0.0  # an ``auto`` policy approves this many seconds (mock clock) later
    drop_claims: tuple[str, ...] = ()  # left out of tokens and userinfo
    set_claims: dict[str, Any] = field(default_factory=dict, hash=False)  # added or replaced

    def adjust_claims(self, claims: dict[str, Any]) -> dict[str, Any]:
        """The claims as this identity's scenario changes them (tokens and userinfo)."""
        if not self.drop_claims and not self.set_claims:
            return claims
        changed = {name: value for name, value in claims.items() if name not in self.drop_claims}
        changed.update(self.set_claims)
        return changed

    @classmethod
    def default(cls, id_nat: str) -> Identity:
        """A person of the directory with no entry: activated e-CPS, manual approval."""
        return cls(id_nat=id_nat)


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    name: str = ""
    post_logout_redirect_uris: tuple[str, ...] = ()
    auth_methods: tuple[str, ...] = AUTH_METHODS
    ciba: bool = False  # CIBA (poll) is enabled per service at PSC
    service_account: bool = False  # may use client_credentials (Keycloak service account)
    introspection: bool = True  # may introspect any token of this issuer, as gateways do
    backchannel_logout_uri: str = ""  # OIDC Back-Channel Logout 1.0 target, if any
    userinfo_signed: bool = False  # userinfo as application/jwt instead of JSON
    claim_profile: str = ""  # psc-2023 | psc-2026; "" follows the server's setting
    # RFC 8705 §2.1.2: the subject DN (RFC 4514) of the client's TLS certificate, which
    # must also chain to the test IGC-Santé; "" disables tls_client_auth for the client.
    tls_client_auth_subject_dn: str = ""


@dataclass(frozen=True)
class MockData:
    identities: dict[str, Identity]
    clients: dict[str, Client]
    # The control API's scenarios: idNat -> field values overriding the fixtures' (kept in
    # the store, so a reset drops them). See ``idp.control.scenarios``.
    overlay: Callable[[str], dict[str, Any] | None] | None = field(default=None, compare=False)
    # The idNats that have a scenario: one may give cards to someone the fixtures do not list.
    overlaid: Callable[[], Iterable[str]] | None = field(default=None, compare=False)

    def all_identities(self) -> list[Identity]:
        """Every identity the fixtures or a scenario declare, scenarios applied."""
        id_nats = dict.fromkeys(self.identities)
        id_nats.update(dict.fromkeys(self.overlaid() if self.overlaid else ()))
        return [self.identity(id_nat) for id_nat in id_nats]

    def identity(self, id_nat: str) -> Identity:
        """The one accessor of an identity's mock-only facts: fixtures, then scenario."""
        base = self.identities.get(id_nat) or Identity.default(id_nat)
        values = self.overlay(id_nat) if self.overlay else None
        return replace(base, **identity_values_from_json(values)) if values else base

    def claim_profile(self, client_id: str, default: str) -> str:
        """The claim profile a client's tokens follow: its own, else the server's."""
        client = self.clients.get(client_id)
        return client.claim_profile if client and client.claim_profile else default

    @classmethod
    def load(cls, fixtures: Path, *, now: float) -> MockData:
        identities = load_identities(fixtures / "credentials.yaml", now=now)
        clients = load_clients(fixtures / "clients.yaml")
        return cls(identities, clients)


# libyaml when it is there (start-up: the fixtures' YAML in ~3 ms instead of ~20); both keep
# line numbers for the errors.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Reader:
    """Walks a YAML document keeping line numbers, so errors can point at them."""

    def __init__(self, path: Path, text: str | None = None) -> None:
        self.path = path
        try:
            if text is None:
                text = path.read_text(encoding="utf-8")
            self.root = yaml.compose(text, Loader=_LOADER)
        except FileNotFoundError as exc:
            raise MockDataError(f"{path}: file not found") from exc
        except UnicodeDecodeError as exc:
            raise MockDataError(f"{path}: not UTF-8 ({exc.reason})") from exc
        except yaml.YAMLError as exc:
            raise MockDataError(f"{path}: not valid YAML: {exc}") from exc

    @classmethod
    def from_text(cls, text: str, source: str) -> _Reader:
        return cls(Path(source), text)

    def fail(self, node: yaml.Node | None, where: str, reason: str) -> MockDataError:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        return MockDataError(f"{self.path}{line}: {where}: {reason}")

    def mapping(self, node: yaml.Node | None, where: str) -> dict[str, yaml.Node]:
        if node is None:
            return {}
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, where, "expected a mapping")
        result = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                raise self.fail(key, where, "keys must be plain values")
            result[key.value] = value
        return result

    def sequence(self, node: yaml.Node | None, where: str) -> list[yaml.Node]:
        if node is None:
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, where, "expected a list")
        return list(node.value)

    def scalar(self, node: yaml.Node, where: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, where, "expected a single value")
        return self.value(node)

    def value(self, node: yaml.Node) -> Any:
        """The node as plain data, with YAML's safe types."""
        return yaml.constructor.SafeConstructor().construct_document(node)

    def text(self, node: yaml.Node, where: str, choices: tuple[str, ...] = ()) -> str:
        value = self.scalar(node, where)
        if not isinstance(value, str):
            raise self.fail(node, where, f"expected text (quote it), got {value!r}")
        if choices and value not in choices:
            raise self.fail(node, where, f"must be one of {', '.join(choices)}, not {value!r}")
        return value

    def flag(self, node: yaml.Node, where: str) -> bool:
        value = self.scalar(node, where)
        if not isinstance(value, bool):
            raise self.fail(node, where, f"expected true or false, got {value!r}")
        return value

    def texts(self, node: yaml.Node, where: str) -> tuple[str, ...]:
        return tuple(self.text(item, where) for item in self.sequence(node, where))

    def fields(self, node: yaml.Node, where: str, allowed: set[str]) -> dict[str, yaml.Node]:
        items = self.mapping(node, where)
        for name in items:
            if name not in allowed:
                known = ", ".join(sorted(allowed))
                raise self.fail(items[name], f"{where}.{name}", f"unknown field (known: {known})")
        return items


def load_identities(path: Path, *, now: float) -> dict[str, Identity]:
    reader = _Reader(path)
    top = reader.fields(reader.root, "top level", {"identities"})
    identities: dict[str, Identity] = {}
    for id_nat, node in reader.mapping(top.get("identities"), "identities").items():
        identities[id_nat] = _identity(reader, id_nat, node, now)
    return identities


def _identity(reader: _Reader, id_nat: str, node: yaml.Node, now: float) -> Identity:
    return Identity(id_nat=id_nat, **_identity_values(reader, id_nat, node, now))


def parse_scenario(text: str, id_nat: str, *, now: float, source: str) -> dict[str, Any]:
    """Validate one identity's entry given as JSON (or YAML) text, with the rules of
    ``credentials.yaml``: the fields it sets, JSON-ready (see :func:`identity_values_to_json`).
    """
    reader = _Reader.from_text(text, source)
    return identity_values_to_json(_identity_values(reader, id_nat, reader.root, now))


def identity_values_to_json(values: dict[str, Any]) -> dict[str, Any]:
    result = dict(values)
    if "order" in result:
        result["order"] = asdict(result["order"])
    if "cards" in result:
        result["cards"] = [asdict(card) for card in result["cards"]]
    if "drop_claims" in result:
        result["drop_claims"] = list(result["drop_claims"])
    return result


def identity_values_from_json(values: dict[str, Any]) -> dict[str, Any]:
    result = dict(values)
    if "order" in result:
        result["order"] = OrderContact(**result["order"])
    if "cards" in result:
        result["cards"] = tuple(Card(**card) for card in result["cards"])
    if "drop_claims" in result:
        result["drop_claims"] = tuple(result["drop_claims"])
    return result


def _identity_values(reader: _Reader, id_nat: str, node: yaml.Node, now: float) -> dict[str, Any]:
    where = f"identities.{id_nat}"
    items = reader.fields(
        node,
        where,
        {"purpose", "policy", "delay", "claims", "registered", "ecps", "order", "cards"},
    )
    values: dict[str, Any] = {}
    if "purpose" in items:
        values["purpose"] = reader.text(items["purpose"], f"{where}.purpose")
    if "policy" in items:
        values["policy"] = reader.text(items["policy"], f"{where}.policy", POLICIES)
    if "registered" in items:
        values["registered_at"] = _instant(reader, items["registered"], f"{where}.registered", now)
    ecps = reader.fields(items.get("ecps"), f"{where}.ecps", {"activated", "password"})
    if "activated" in ecps:
        values["ecps_activated"] = reader.flag(ecps["activated"], f"{where}.ecps.activated")
    if "password" in ecps:
        values["ecps_password"] = reader.text(ecps["password"], f"{where}.ecps.password")
    if "order" in items:
        values["order"] = _order(reader, items["order"], f"{where}.order")
    if "cards" in items:
        cards = reader.sequence(items["cards"], f"{where}.cards")
        values["cards"] = tuple(
            _card(reader, card, f"{where}.cards[{i}]") for i, card in enumerate(cards)
        )
    if "delay" in items:
        delay = reader.scalar(items["delay"], f"{where}.delay")
        if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
            raise reader.fail(items["delay"], f"{where}.delay", "expected seconds (>= 0)")
        values["delay"] = float(delay)
    if "claims" in items:
        changes = reader.fields(items["claims"], f"{where}.claims", {"drop", "set"})
        if "drop" in changes:
            values["drop_claims"] = reader.texts(changes["drop"], f"{where}.claims.drop")
        if "set" in changes:
            node_set = changes["set"]
            if not isinstance(node_set, yaml.MappingNode):
                raise reader.fail(node_set, f"{where}.claims.set", "expected a mapping")
            values["set_claims"] = reader.value(node_set)
    return values


def _order(reader: _Reader, node: yaml.Node, where: str) -> OrderContact:
    items = reader.fields(node, where, {"registered", "email", "mobile"})
    return OrderContact(
        registered=reader.flag(items["registered"], f"{where}.registered")
        if "registered" in items
        else True,
        email=reader.text(items["email"], f"{where}.email") if "email" in items else "",
        mobile=reader.text(items["mobile"], f"{where}.mobile") if "mobile" in items else "",
    )


def _card(reader: _Reader, node: yaml.Node, where: str) -> Card:
    names = {"type", "serial", "pin", "puk", "not_after", "status"}
    items = reader.fields(node, where, names)
    for required in ("type", "serial"):
        if required not in items:
            raise reader.fail(node, where, f"missing field '{required}'")
    values = {
        name: reader.text(
            items[name],
            f"{where}.{name}",
            CARD_TYPES if name == "type" else CARD_STATUSES if name == "status" else (),
        )
        for name in names & items.keys()
    }
    for name, pattern, rule in (
        ("pin", r"\d{4}", "4 digits"),
        ("puk", r"\d{8}", "8 digits"),
        ("not_after", r"\d{4}-\d{2}-\d{2}", "a date YYYY-MM-DD"),
    ):
        if name in values and not re.fullmatch(pattern, values[name]):
            raise reader.fail(items[name], f"{where}.{name}", f"must be {rule}")
    return Card(**values)


def _instant(reader: _Reader, node: yaml.Node, where: str, now: float) -> float:
    value = reader.scalar(node, where)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, str):
        relative = _RELATIVE.match(value)
        if relative:
            sign, amount, unit = relative.groups()
            offset = int(amount) * _UNIT_SECONDS[unit]
            return now + offset if sign == "+" else now - offset
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    raise reader.fail(
        node, where, f"expected an ISO date-time or a relative time like '-12h', got {value!r}"
    )


_CLIENT_FLAGS = ("ciba", "service_account", "introspection")
_CLIENT_TEXTS = ("name", "backchannel_logout_uri", "claim_profile", "tls_client_auth_subject_dn")
_CLIENT_LISTS = ("redirect_uris", "post_logout_redirect_uris")


def load_clients(path: Path) -> dict[str, Client]:
    reader = _Reader(path)
    top = reader.fields(reader.root, "top level", {"clients"})
    clients: dict[str, Client] = {}
    for index, node in enumerate(reader.sequence(top.get("clients"), "clients")):
        client = _client(reader, node, f"clients[{index}]")
        if client.client_id in clients:
            raise reader.fail(node, f"clients[{index}].client_id", "declared twice")
        clients[client.client_id] = client
    return clients


def _client(reader: _Reader, node: yaml.Node, where: str) -> Client:
    names = {"client_id", "client_secret", "token_endpoint_auth_methods", "userinfo_signed"}
    items = reader.fields(node, where, names | {*_CLIENT_FLAGS, *_CLIENT_TEXTS, *_CLIENT_LISTS})
    for required in ("client_id", "client_secret", "redirect_uris"):
        if required not in items:
            raise reader.fail(node, where, f"missing field '{required}'")
    values: dict[str, Any] = {
        name: reader.text(items[name], f"{where}.{name}")
        for name in ("client_id", "client_secret", *_CLIENT_TEXTS)
        if name in items
    }
    if values.get("claim_profile", "psc-2023") not in CLAIM_PROFILES:
        raise reader.fail(
            items["claim_profile"],
            f"{where}.claim_profile",
            f"must be one of {', '.join(CLAIM_PROFILES)}",
        )
    for name in (*_CLIENT_FLAGS, "userinfo_signed"):
        if name in items:
            values[name] = reader.flag(items[name], f"{where}.{name}")
    for name in _CLIENT_LISTS:
        values[name] = reader.texts(items.get(name), f"{where}.{name}")
    if "token_endpoint_auth_methods" in items:
        field_name = f"{where}.token_endpoint_auth_methods"
        methods = reader.texts(items["token_endpoint_auth_methods"], field_name)
        for method in methods:
            if method not in AUTH_METHODS:
                raise reader.fail(
                    items["token_endpoint_auth_methods"],
                    field_name,
                    f"{method!r} is not one of {', '.join(AUTH_METHODS)}",
                )
        values["auth_methods"] = methods
    if values.get("tls_client_auth_subject_dn"):
        from cryptography import x509

        try:
            x509.Name.from_rfc4514_string(values["tls_client_auth_subject_dn"])
        except ValueError as exc:
            raise reader.fail(
                items["tls_client_auth_subject_dn"],
                f"{where}.tls_client_auth_subject_dn",
                f"not an RFC 4514 distinguished name ({exc})",
            ) from exc
    return Client(**values)
