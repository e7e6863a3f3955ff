"""App-wide hooks of the control API: injected faults before PSC's endpoints answer, and
the request log after every request (secrets masked)."""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Flask, Response, jsonify, request
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import HTTP_STATUS_CODES

from idp.context import services
from idp.control.state import take_shot
from idp.slots import idle

log = logging.getLogger("idp.control")
FAULT = "fault"
# Flask endpoint -> the name the control API uses.
ENDPOINTS = {
    "oidc.authorize": "authorize",
    "oidc.token": "token",
    "oidc.userinfo": "userinfo",
    "oidc.certs": "certs",
    "oidc.discovery": "discovery",
    "oidc.introspect": "introspect",
    "oidc.revoke": "revoke",
    "oidc.logout": "logout",
    "oidc.ciba_authentication": "ciba",
}
FAULT_ENDPOINTS = tuple(ENDPOINTS.values())
MASK = "***"
# Parameter names whose values are never stored: credentials, tokens, one-time values.
_SECRET_NAMES = frozenset(
    {
        "client_secret",
        "password",
        "code_verifier",
        "refresh_token",
        "access_token",
        "id_token",
        "id_token_hint",
        "logout_token",
        "token",
        "code",
        "pin",
        "puk",
        "client_assertion",
        "assertion",
        "subject_token",
        "actor_token",
        "csrf",
        "auth_req_id",
    }
)
# Kinds of fields, whatever the form calls them: credentials and what repeats them
# (``confirmation`` repeats a new e-CPS password), verifiers; tokens and one-time codes
# (``mail_code``, ``sms_code``, ``user_code``...), as ``code`` itself.
_SECRET_PARTS = ("secret", "password", "verifier", "confirm")
_SECRET_SUFFIXES = ("_token", "_code")


def install(app: Flask) -> None:
    app.before_request(_inject_fault)
    app.after_request(_log_request)


def is_secret(name: str) -> bool:
    lowered = name.lower()
    return (
        lowered in _SECRET_NAMES
        or lowered.endswith(_SECRET_SUFFIXES)
        or any(part in lowered for part in _SECRET_PARTS)
    )


def masked(params: dict[str, Any]) -> dict[str, Any]:
    return {name: MASK if is_secret(name) else value for name, value in params.items()}


def _inject_fault() -> Response | None:
    name = ENDPOINTS.get(request.endpoint or "")
    if name is None:
        return None
    applied = take_shot(services().store, FAULT, name)
    if applied is None:
        return None
    request.environ["psc_mock.fault"] = True
    if applied.get("delay"):
        with idle():
            time.sleep(float(applied["delay"]))
    status, error = applied.get("status"), applied.get("error")
    if not status and not error:
        return None  # a delay only: the endpoint answers as usual, late
    if error:
        body = {"error": error}
        if applied.get("error_description"):
            body["error_description"] = applied["error_description"]
        response = jsonify(body)
        response.status_code = status or 400
        return response
    return Response(
        HTTP_STATUS_CODES.get(status, "Error"), status=status, content_type="text/plain"
    )


def _log_request(response: Response) -> Response:
    path = request.path
    if path.startswith(("/_mock/", "/static/")) or request.endpoint == "static":
        return response
    try:
        services().control.requests.add(_entry(response))
    except Exception:  # the log must never break a response
        log.exception("request log")
    return response


def _entry(response: Response) -> dict[str, Any]:
    params: dict[str, Any] = {}
    try:
        form = request.form
    except RequestEntityTooLarge:  # the endpoint answered 413: log the request without it
        form = ImmutableMultiDict()
    for source in (request.args, form):
        for name in source:
            values = source.getlist(name)
            params[name] = values[0] if len(values) == 1 else values
    client_id = params.get("client_id")
    auth_scheme = ""
    authorization = request.authorization
    if authorization is not None:
        auth_scheme = authorization.type
        if authorization.type == "basic" and authorization.username:
            client_id = client_id or authorization.username
    entry = {
        "time": time.time(),
        "method": request.method,
        "path": request.path,
        "endpoint": ENDPOINTS.get(request.endpoint or "", request.endpoint or ""),
        "params": masked(params),
        "client_id": client_id,
        "authorization": auth_scheme,
        "status": response.status_code,
        "error": _error_of(response),
    }
    if request.environ.get("psc_mock.fault"):
        entry["fault"] = True
    return entry


def _error_of(response: Response) -> str | None:
    location = response.headers.get("Location")
    if location and "error=" in location:  # most redirects carry a code: no parsing
        parts = urlsplit(location)
        for part in (parts.query, parts.fragment):
            error = parse_qs(part).get("error")
            if error:
                return error[0]
    if response.status_code >= 400 and response.is_json and not response.direct_passthrough:
        body = response.get_json(silent=True)
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return body["error"]
    return None
