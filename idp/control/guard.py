"""The control API is not an open door (DESIGN.md): open to loopback peers, a bearer
token for anyone else (and for loopback peers too when the public URL publishes the mock
beyond this machine), JSON only for writes, and a ``Host`` that names this mock (against
CSRF from a browser page and DNS rebinding)."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from flask import Response, jsonify, request

from idp.context import services
from idp.control.state import OPEN, is_loopback

_WRITES = ("POST", "PUT", "PATCH")
# The dashboard's browser holds the admin token in this cookie (HttpOnly, SameSite=Strict),
# set from ``/_mock/ui?token=…`` once: a browser cannot send a bearer header by itself.
ADMIN_COOKIE = "psc_mock_admin"
# The largest body the control API reads (it reads JSON whole, into memory): its biggest
# legitimate ones, a professional of the directory or a PEM signing key, are a few KiB.
MAX_JSON_BYTES = 1024 * 1024


def refuse(status: int, error: str, description: str) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    return response


def check() -> Response | None:
    """``before_request`` of the control blueprint: None lets the request through."""
    request.max_content_length = MAX_JSON_BYTES  # reading more raises RequestEntityTooLarge
    svc = services()
    if not host_allowed(request.host, svc.settings):
        return refuse(
            403,
            "forbidden_host",
            f"Host '{request.host}' is not this mock's public or back-channel host",
        )
    state = svc.control
    if not (state.loopback_open and _local_peer()) and state.admin_token != OPEN:
        if not state.admin_token:
            return refuse(
                403,
                "forbidden",
                "the control API is open to loopback only: set PSC_MOCK_ADMIN_TOKEN",
            )
        if not hmac.compare_digest(_given_token(), state.admin_token.encode()):
            response = refuse(
                401, "unauthorized", "send Authorization: Bearer <PSC_MOCK_ADMIN_TOKEN>"
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="psc-mock"'
            return response
    if request.method in _WRITES and request.mimetype != "application/json":
        return refuse(
            415, "unsupported_media_type", "the control API accepts application/json only"
        )
    return None


def _local_peer() -> bool:
    """A loopback peer speaking for itself. A request forwarded for someone else
    (``X-Forwarded-For``, ``Forwarded``) is local only when a ``--trusted-proxies`` peer
    named a loopback client: ProxyFix has then put that client in ``remote_addr`` (and
    kept the original in ``werkzeug.proxy_fix.orig``); from any other peer, the client
    behind it is unknown."""
    if not is_loopback(request.remote_addr):
        return False
    headers = request.headers
    if "X-Forwarded-For" not in headers and "Forwarded" not in headers:
        return True
    return "werkzeug.proxy_fix.orig" in request.environ and "X-Forwarded-For" in headers


def _given_token() -> bytes:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip().encode()
    return request.cookies.get(ADMIN_COOKIE, "").encode()


def host_allowed(host: str, settings) -> bool:
    """Loopback names on any port, or exactly the public or back-channel host."""
    host = host.lower()
    name = urlsplit("//" + host).hostname or ""
    if is_loopback(name):
        return True
    allowed = {
        urlsplit(url).netloc.lower()
        for url in (settings.effective_public_url, settings.effective_backchannel_url)
    }
    return host in allowed
