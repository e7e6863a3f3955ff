"""Liveness and readiness. Ready means really usable: a token can be signed with the
loaded key and the directory answers, so a CI job never races the start-up."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from idp.context import services

bp = Blueprint("health", __name__, url_prefix="/_mock/health")


@bp.get("/live")
def live() -> Response:
    return jsonify(status="UP")


@bp.get("/ready")
def ready() -> Response:
    svc = services()
    checks = {
        "keys": svc.keys.verify(svc.keys.sign({"ready": True})) is not None,
        "directory": not svc.directory.is_empty(),
    }
    response = jsonify(status="UP" if all(checks.values()) else "DOWN", checks=checks)
    response.status_code = 200 if all(checks.values()) else 503
    return response
