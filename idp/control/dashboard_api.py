"""What the trainer dashboard (``/_mock/ui``) reads through the control API: directory
search, a professional's claims as PSC sends them, live approvals and sessions, and the
training mode's identity assignments. JSON, under the control API's guard."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from idp.auth.ecps import APPROVAL, PENDING
from idp.claims import Authentication, userinfo
from idp.context import Services, services
from idp.control import guard
from idp.control.api import BadRequest, json_body, text_field
from idp.directory import nomenclatures
from idp.directory.model import Practitioner
from idp.oidc.sessions import SESSION

bp = Blueprint("control_dashboard", __name__, url_prefix="/_mock")
bp.before_request(guard.check)
TRAINING = "training"
_MAX_TRAINEES = 200


def summary(practitioner: Practitioner) -> dict[str, Any]:
    """One line of a search result: who, what they do, where."""
    professions = sorted(
        {
            nomenclatures.label(nomenclatures.PROFESSIONS, e.code_profession) or e.code_profession
            for e in practitioner.exercices
            if e.code_profession
        }
    )
    departements = sorted(
        {a.code_departement for a in practitioner.activites if a.code_departement}
    )
    return {
        "id_nat": practitioner.id_nat,
        "name": f"{practitioner.given_name} {practitioner.family_name}",
        "professions": professions,
        "departements": departements,
    }


@bp.errorhandler(BadRequest)
def _bad_request(error: BadRequest) -> Response:
    return guard.refuse(error.status, error.error, error.description)


@bp.get("/directory")
def directory_search() -> Response:
    svc = services()
    try:
        limit = min(int(request.args.get("limit", "50")), 200)
    except ValueError as exc:
        raise BadRequest("'limit' must be a number") from exc
    found = svc.directory.search(
        request.args.get("q", ""),
        profession=request.args.get("profession", ""),
        role=request.args.get("role", ""),
        departement=request.args.get("departement", ""),
        limit=limit,
    )
    return jsonify(results=[summary(p) for p in found])


@bp.get("/directory/<path:id_nat>/claims")
def directory_claims(id_nat: str) -> Response:
    """Userinfo as PSC would answer it after an e-CPS login of this person."""
    svc = services()
    practitioner = svc.directory.get(id_nat)
    if practitioner is None:
        raise BadRequest(f"no professional {id_nat} in the directory", 404, "not_found")
    auth = Authentication(practitioner, request.args.get("means", "MOBILE"), 0, "")
    claims = svc.mockdata.identity(id_nat).adjust_claims(
        userinfo(auth, profile=svc.settings.claim_profile)
    )
    identity = svc.mockdata.identity(id_nat)
    return jsonify(
        id_nat=id_nat,
        userinfo=claims,
        ecps={"activated": identity.ecps_activated, "policy": identity.policy},
        cards=[{"serial": c.serial, "type": c.type, "status": c.status} for c in identity.cards],
    )


@bp.get("/approvals")
def approvals_pending() -> Response:
    svc = services()
    now = svc.clock.now()
    pending = []
    for record in svc.store.of_kind(APPROVAL):
        value = record.value
        if value["status"] == PENDING and value["expires_at"] > now:
            pending.append(
                {
                    "id_nat": value["id_nat"],
                    "client": value["client_name"],
                    "channel": value["channel"],
                    "code": value["code"],
                    "expires_in": int(value["expires_at"] - now),
                }
            )
    return jsonify(approvals=pending)


@bp.get("/sessions")
def sessions_live() -> Response:
    svc = services()
    now = svc.clock.now()
    return jsonify(
        sessions=[
            {
                "id_nat": r.value["id_nat"],
                "auth_mode": r.value["auth_mode"],
                "clients": sorted(r.value.get("clients", {})),
                "idle_s": int(now - r.value.get("last_active", now)),
            }
            for r in svc.store.of_kind(SESSION)
        ]
    )


@bp.get("/training")
def training_show() -> Response:
    return jsonify(trainees=trainees(services()))


@bp.post("/training")
def training_assign() -> Response:
    """Hand ``count`` trainees each a distinct identity that can log in both ways
    (activated e-CPS; a card when there is one), keeping earlier assignments."""
    svc = services()
    body = json_body()
    count = body.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= _MAX_TRAINEES:
        raise BadRequest(f"'count' must be a number from 1 to {_MAX_TRAINEES}")
    taken = {t["id_nat"] for t in trainees(svc)}
    candidates = [
        p
        for p in svc.directory.search(
            text_field(body, "q"), profession=text_field(body, "profession"), limit=2000
        )
        if p.id_nat not in taken and _trainable(svc, p)
    ]
    candidates.sort(key=lambda p: not svc.mockdata.identity(p.id_nat).cards)
    if len(candidates) < count:
        raise BadRequest(f"only {len(candidates)} more identities fit: ask for fewer")
    number = len(taken)
    for practitioner in candidates[:count]:
        number += 1
        svc.store.put(TRAINING, practitioner.id_nat, {"trainee": number}, owner=TRAINING)
    return jsonify(trainees=trainees(svc))


def _trainable(svc: Services, practitioner: Practitioner) -> bool:
    identity = svc.mockdata.identity(practitioner.id_nat)
    return (
        identity.ecps_activated and identity.policy == "manual" and len(practitioner.id_nat) == 12
    )


def trainees(svc: Services) -> list[dict[str, Any]]:
    sheets = []
    for record in svc.store.owned_by(TRAINING, TRAINING):
        practitioner = svc.directory.get(record.key)
        if practitioner is None:
            continue
        identity = svc.mockdata.identity(record.key)
        active = [c for c in identity.cards if c.status == "active"]
        sheets.append(
            {
                "trainee": record.value["trainee"],
                **summary(practitioner),
                "ecps_password": identity.ecps_password,
                "card": {"serial": active[0].serial, "pin": active[0].pin} if active else None,
                "phone_url": url_for("phone.show", id_nat=record.key, _external=True),
            }
        )
    return sorted(sheets, key=lambda sheet: sheet["trainee"])
