"""The control API under ``/_mock/`` (health aside): clock, scenarios, faults, request
log, keys, runtime directory, reset. JSON in and out; guarded by :mod:`idp.control.guard`;
described by ``/_mock/openapi.json``."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from idp.context import Services, services
from idp.control import guard, sync
from idp.control.directory import PractitionerError, practitioner_from_json, practitioner_to_json
from idp.control.edits import ReadOnlyDirectory
from idp.control.hooks import FAULT, FAULT_ENDPOINTS
from idp.control.state import SCENARIO, RequestLog
from idp.mockdata import MockDataError, parse_scenario
from idp.oidc.keys import SIGNING_KEYS
from idp.oidc.tokens import in_keycloak_order

bp = Blueprint("control", __name__, url_prefix="/_mock")
bp.before_request(guard.check)

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class BadRequest(Exception):
    def __init__(self, description: str, status: int = 400, error: str = "invalid_request"):
        super().__init__(description)
        self.description, self.status, self.error = description, status, error


@bp.errorhandler(BadRequest)
def _bad_request(error: BadRequest) -> Response:
    return guard.refuse(error.status, error.error, error.description)


def json_body() -> dict[str, Any]:
    """The request's JSON object ({} without a body), refused (413) from
    ``guard.MAX_JSON_BYTES`` on: Werkzeug raises beyond it for a Content-Length, and
    stops reading a chunked body there, which then fills the limit exactly."""
    try:
        data = request.get_data()
    except RequestEntityTooLarge:
        data = None
    if data is None or len(data) >= guard.MAX_JSON_BYTES:
        raise BadRequest(
            f"the body must be smaller than {guard.MAX_JSON_BYTES} bytes", 413, "request_too_large"
        )
    if not data:
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def text_field(body: dict[str, Any], name: str, default: str = "") -> str:
    """A text field of a JSON body (absent or null: ``default``), else 400 naming it: a
    list or a number passed on to a lookup or a search was a 500."""
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise BadRequest(f"'{name}' must be text")
    return value


def parse_duration(value: Any, name: str) -> float:
    """Seconds from the field ``name``: a number or a text such as ``"90s"``, ``"30m"``,
    ``"4h"``, ``"1h30m"``, ``"-10s"``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError as exc:  # an integer of hundreds of digits
            raise BadRequest(f"'{name}' is too long a duration") from exc
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        sign = -1.0 if text.startswith("-") else 1.0
        text = text.lstrip("+-")
        parts = _DURATION.findall(text)
        if text and "".join(number + unit for number, unit in parts) == text:
            return sign * sum(float(number) * _UNITS[unit] for number, unit in parts)
    raise BadRequest(f"'{name}' is not a duration: {value!r} (seconds, or e.g. '90s', '30m', '4h')")


# --- clock ---------------------------------------------------------------------------

# Where the mock clock may stand: a datetime holds years 1 to 9999, and expiries (lifetimes,
# the 48 h propagation delay, key retention) are added to the clock: a year of margin.
_CLOCK_RANGE = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))


def _clock_state(svc: Services) -> dict[str, Any]:
    clock = svc.clock
    now = clock.now()
    frozen = clock.state()["frozen_at"] is not None
    return {
        "now": now,
        "now_iso": datetime.fromtimestamp(now, UTC).isoformat(),
        "frozen": frozen,
        "offset": round(now - datetime.now(UTC).timestamp(), 3),
    }


@bp.get("/clock")
def clock_show() -> Response:
    return jsonify(_clock_state(services()))


def _clock_time(seconds: float, name: str) -> float:
    """``seconds`` (epoch) if the clock may stand there, else 400 naming the field: one
    advance of 1e308 s left every later read of the clock failing until a reset."""
    low, high = _CLOCK_RANGE
    if not low.timestamp() <= seconds <= high.timestamp():  # NaN too
        raise BadRequest(
            f"'{name}' must keep the mock clock between {low:%Y-%m-%d} and {high:%Y-%m-%d}"
        )
    return seconds


def _freeze_at(at: Any) -> float | None:
    """``at`` (epoch seconds or an ISO date-time, absent: now) as epoch seconds."""
    if at is None:
        return None
    if isinstance(at, str):
        try:
            parsed = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError as exc:
            raise BadRequest(f"'at' is not an ISO date-time: {at!r}") from exc
        at = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    elif not isinstance(at, int | float) or isinstance(at, bool):
        raise BadRequest("'at' must be epoch seconds or an ISO date-time")
    return _clock_time(at, "at")


@bp.post("/clock")
def clock_change() -> Response:
    svc = services()
    body = json_body()
    action = body.get("action")
    if action == "freeze":
        svc.clock.freeze(_freeze_at(body.get("at")))
    elif action == "advance":
        if "by" not in body:
            raise BadRequest("'advance' needs 'by' (e.g. '90s', '30m', '4h', or seconds)")
        by = parse_duration(body["by"], "by")
        _clock_time(svc.clock.now() + by, "by")
        svc.clock.advance(by)
    elif action == "resume":
        svc.clock.resume()
    elif action == "reset":
        svc.clock.reset()
    else:
        raise BadRequest("'action' must be one of freeze, advance, resume, reset")
    sync.changed(svc)
    return jsonify(_clock_state(svc))


# --- scenarios -----------------------------------------------------------------------


def _require_person(svc: Services, id_nat: str) -> None:
    if svc.directory.get(id_nat) is None:
        raise BadRequest(f"no professional {id_nat} in the directory", 404, "not_found")


@bp.get("/scenarios")
def scenarios_list() -> Response:
    store = services().store
    return jsonify(
        {key: value for key, value in _all(store, SCENARIO)},
    )


@bp.get("/scenarios/<path:id_nat>")
def scenario_show(id_nat: str) -> Response:
    svc = services()
    record = svc.store.get(SCENARIO, id_nat)
    identity = svc.mockdata.identity(id_nat)
    return jsonify(
        id_nat=id_nat,
        scenario=record.value if record else None,
        effective={
            "policy": identity.policy,
            "delay": identity.delay,
            "ecps": {"activated": identity.ecps_activated},
            "cards": [
                {"type": c.type, "serial": c.serial, "pin": c.pin, "status": c.status}
                for c in identity.cards
            ],
            "claims": {"drop": list(identity.drop_claims), "set": identity.set_claims},
        },
    )


@bp.put("/scenarios/<path:id_nat>")
def scenario_set(id_nat: str) -> Response:
    svc = services()
    _require_person(svc, id_nat)
    json_body()  # a JSON object
    try:
        values = parse_scenario(
            request.get_data(as_text=True) or "{}",
            id_nat,
            now=svc.clock.now(),
            source="request body",
        )
    except MockDataError as exc:
        raise BadRequest(str(exc)) from exc
    _require_issued_cards(svc, values.get("cards", ()))
    _redeclaring_cards(
        svc, [id_nat], lambda: svc.store.put(SCENARIO, id_nat, values, owner=SCENARIO)
    )
    return jsonify(id_nat=id_nat, scenario=values)


@bp.delete("/scenarios/<path:id_nat>")
def scenario_clear(id_nat: str) -> Response:
    svc = services()
    _redeclaring_cards(svc, [id_nat], lambda: svc.store.delete(SCENARIO, id_nat))
    return Response(status=204)


def _require_issued_cards(svc: Services, cards) -> None:
    """A scenario's card must exist in the test PKI: its certificates sign the login."""
    if svc.cards is None:
        return
    for position, card in enumerate(cards):
        try:
            svc.cards.material(card["serial"])
        except KeyError:
            raise BadRequest(
                f"cards[{position}].serial: the test PKI has no card {card['serial']}; "
                "issue it first with `psc-mock card issue`"
            ) from None


def _redeclaring_cards(svc: Services, id_nats: list[str], change: Callable[[], object]) -> None:
    """Make ``change`` to these identities' scenarios; the cards they had and have then
    start again from their declaration (a login's stored PIN tries, lock or opposition
    would otherwise outlive the scenario that changed them)."""
    before = [card for id_nat in id_nats for card in svc.mockdata.identity(id_nat).cards]
    change()
    if svc.cards is not None:
        after = [card for id_nat in id_nats for card in svc.mockdata.identity(id_nat).cards]
        for serial in dict.fromkeys(card.serial for card in (*before, *after)):
            svc.cards.reset(serial)


@bp.delete("/scenarios")
def scenarios_clear() -> Response:
    svc = services()
    holders = [id_nat for id_nat, _ in _all(svc.store, SCENARIO)]
    _redeclaring_cards(svc, holders, lambda: svc.store.delete_owned_by(SCENARIO, SCENARIO))
    return Response(status=204)


def _all(store, kind: str) -> list[tuple[str, dict]]:
    """Every live record of a kind (the store has no listing by kind: owner is the kind)."""
    return [(record.key, record.value) for record in store.owned_by(kind, kind)]


# --- faults --------------------------------------------------------------------------


def _fault_endpoint(endpoint: str) -> str:
    if endpoint not in FAULT_ENDPOINTS:
        raise BadRequest(
            f"unknown endpoint {endpoint!r} (one of {', '.join(FAULT_ENDPOINTS)})", 404, "not_found"
        )
    return endpoint


@bp.get("/faults")
def faults_list() -> Response:
    return jsonify(dict(_all(services().store, FAULT)))


@bp.put("/faults/<endpoint>")
def fault_set(endpoint: str) -> Response:
    endpoint = _fault_endpoint(endpoint)
    body = json_body()
    known = {"status", "error", "error_description", "delay", "times"}
    unknown = set(body) - known
    if unknown:
        raise BadRequest(
            f"unknown field(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})"
        )
    fault: dict[str, Any] = {}
    status = body.get("status")
    if status is not None:
        if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
            raise BadRequest("'status' must be an HTTP status code (200-599)")
        fault["status"] = status
    for name in ("error", "error_description"):
        if body.get(name) is not None:
            fault[name] = text_field(body, name)
    if body.get("delay") is not None:
        delay = parse_duration(body["delay"], "delay")
        if not 0 <= delay <= 120:
            raise BadRequest("'delay' must be between 0 and 120 seconds")
        fault["delay"] = delay
    times = body.get("times")
    if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 1):
        raise BadRequest("'times' must be a positive integer (absent: until cleared)")
    fault["times"] = times
    if not ({"status", "error", "delay"} & fault.keys()):
        raise BadRequest("a fault needs at least one of status, error, delay")
    services().store.put(FAULT, endpoint, fault, owner=FAULT)
    return jsonify(endpoint=endpoint, fault=fault)


@bp.delete("/faults/<endpoint>")
def fault_clear(endpoint: str) -> Response:
    services().store.delete(FAULT, _fault_endpoint(endpoint))
    return Response(status=204)


@bp.delete("/faults")
def faults_clear() -> Response:
    services().store.delete_owned_by(FAULT, FAULT)
    return Response(status=204)


# --- token tampering -----------------------------------------------------------------


@bp.get("/tampering")
def tampering_show() -> Response:
    from idp.control.tampering import KEY, TAMPER

    record = services().store.get(TAMPER, KEY)
    return jsonify(record.value if record else None)


@bp.put("/tampering")
def tampering_set() -> Response:
    from idp.control.tampering import KEY, TAMPER, validate

    try:
        spec = validate(json_body())
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc
    services().store.put(TAMPER, KEY, spec)
    return jsonify(spec)


@bp.delete("/tampering")
def tampering_clear() -> Response:
    from idp.control.tampering import KEY, TAMPER

    services().store.delete(TAMPER, KEY)
    return Response(status=204)


# --- tokens without a flow --------------------------------------------------------------


@bp.post("/tokens")
def tokens_issue() -> Response:
    """A PSC-shaped token set for a professional, as a login would give (a real session,
    refresh token included), optionally with claims set, dropped or tampered."""
    from idp.claims import Authentication
    from idp.control import tampering

    svc = services()
    body = json_body()
    id_nat = body.get("id_nat")
    if not isinstance(id_nat, str) or not id_nat:
        raise BadRequest("'id_nat' is required")
    practitioner = svc.directory.get(id_nat)
    if practitioner is None:
        raise BadRequest(f"no professional {id_nat} in the directory", 404, "not_found")
    client_id = text_field(body, "client_id", "psc-mock-ci")
    if client_id not in svc.mockdata.clients:
        raise BadRequest(f"unknown client_id {client_id!r} (see clients.yaml)")
    means = text_field(body, "means", "MOBILE")
    if means not in ("MOBILE", "CARD"):
        raise BadRequest("'means' must be MOBILE or CARD")
    scope = text_field(body, "scope", "openid scope_all")
    nonce = text_field(body, "nonce")
    spec = None
    extra = {name: body[name] for name in ("change", "drop", "set", "tokens") if name in body}
    if extra:
        try:
            spec = tampering.validate(extra)
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc
    if spec is not None:
        tampering.use_for_this_request(spec)
    session = svc.sessions.open(id_nat, means, int(time.time()))
    svc.sessions.attach(session.id, client_id)
    auth = Authentication(practitioner, means, session.auth_time, session.id)
    token = svc.server.tokens.token_response(auth, client_id, scope, nonce)
    if "openid" in scope.split():
        token["id_token"] = svc.server.tokens.id_token(token, auth, client_id, nonce)
    return jsonify(in_keycloak_order(token))


# --- request log ---------------------------------------------------------------------

_FILTERS = ("endpoint", "method", "client_id", "status", "path")


def _filters() -> dict[str, str]:
    return {name: request.args[name] for name in _FILTERS if request.args.get(name)}


def _request_log(svc: Services) -> RequestLog:
    """This process's request log; refused when several processes serve (each has its own,
    and one would show a part of the traffic as if it were all of it)."""
    if svc.settings.workers > 1:
        raise BadRequest(
            f"the request log is kept per process and {svc.settings.workers} processes serve "
            "(--workers): run with --workers 1 to read it",
            409,
            "conflict",
        )
    return svc.control.requests


@bp.get("/requests")
def requests_list() -> Response:
    return jsonify(requests=_request_log(services()).list(**_filters()))


@bp.delete("/requests")
def requests_clear() -> Response:
    _request_log(services()).clear()
    return Response(status=204)


@bp.get("/requests/next")
def requests_next() -> Response:
    log = _request_log(services())
    raw = request.args.get("timeout", "5")
    try:
        timeout = float(raw)
    except ValueError as exc:
        raise BadRequest(f"'timeout' must be seconds, not {raw!r}") from exc
    entry = log.take(min(max(timeout, 0.0), 60.0), **_filters())
    return jsonify(entry) if entry else Response(status=204)


# --- keys ----------------------------------------------------------------------------


@bp.get("/keys")
def keys_list() -> Response:
    svc = services()
    return jsonify(keys=svc.keys.describe(), retention=svc.settings.key_retention)


@bp.post("/keys/rotate")
def keys_rotate() -> Response:
    from idp.oidc.keys import SigningKey

    svc = services()
    body = json_body()
    retention = svc.settings.key_retention
    if body.get("retention") is not None:
        retention = parse_duration(body["retention"], "retention")
    new = None
    if body.get("pem"):
        try:
            new = SigningKey.from_pem(str(body["pem"]).encode())
        except Exception as exc:
            raise BadRequest(f"'pem' is not an RSA private key in PEM: {exc}") from exc
        if not new.key.is_private:
            raise BadRequest("'pem' must be a private key (the mock signs with it)")
    key = svc.keys.rotate(retention, new)
    svc.store.put(SIGNING_KEYS, SIGNING_KEYS, svc.keys.snapshot())  # --data-dir: survives
    sync.changed(svc)
    return jsonify(kid=key.kid, keys=svc.keys.describe(), retention=retention)


# --- runtime directory ---------------------------------------------------------------


@bp.get("/directory/<path:id_nat>")
def directory_show(id_nat: str) -> Response:
    practitioner = services().directory.get(id_nat)
    if practitioner is None:
        raise BadRequest(f"no professional {id_nat} in the directory", 404, "not_found")
    return jsonify(practitioner_to_json(practitioner))


@bp.put("/directory/<path:id_nat>")
def directory_put(id_nat: str) -> Response:
    svc = services()
    try:
        practitioner = practitioner_from_json(json_body(), id_nat)
    except PractitionerError as exc:
        raise BadRequest(str(exc)) from exc
    try:
        known = svc.edits.put(practitioner)
    except ReadOnlyDirectory as exc:
        raise BadRequest(str(exc), 409, "read_only_directory") from exc
    sync.changed(svc)
    response = jsonify(practitioner_to_json(practitioner))
    response.status_code = 200 if known else 201
    return response


@bp.delete("/directory/<path:id_nat>")
def directory_remove(id_nat: str) -> Response:
    svc = services()
    try:
        removed = svc.edits.remove(id_nat)
    except ReadOnlyDirectory as exc:
        raise BadRequest(str(exc), 409, "read_only_directory") from exc
    if not removed:
        raise BadRequest(f"no professional {id_nat} in the directory", 404, "not_found")
    sync.changed(svc)
    return Response(status=204)


# --- reset, OpenAPI ------------------------------------------------------------------


def reset(svc: Services) -> None:
    """Back to the fixtures: state, scenarios and faults gone, clock and keys as at start,
    runtime directory edits undone, request log emptied."""
    svc.edits.undo_all()
    svc.store.clear()
    svc.clock.reset()
    svc.keys.reset()
    svc.control.requests.clear()
    sync.changed(svc)


@bp.post("/reset")
def reset_view() -> Response:
    reset(services())
    return jsonify(status="reset")


@bp.get("/openapi.json")
def openapi() -> Response:
    from idp.control.openapi import document

    return jsonify(document(services().settings))


@bp.get("/openapi-public.json")
def openapi_public() -> Response:
    """The public endpoints' description (for fuzzers and API tools); mock-only."""
    from idp.oidc.openapi import document

    svc = services()
    return jsonify(document(svc.settings, svc.settings.effective_public_url))
