"""The e-CPS phone simulator: one page per idNat, where its pending requests are
approved as on the phone (password, then the right code among three) or refused.
CIBA's ``channel=CARD`` requests are not the phone's: the card-reader simulator
(:mod:`idp.web.reader`) answers them."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, make_response, redirect, render_template, request, url_for

from idp.auth.ecps import APPROVED, MOBILE, NotPending, WrongPassword
from idp.context import services
from idp.web.errors import GONE, error_page, not_pending_message

bp = Blueprint("phone", __name__, url_prefix="/phone")
PASSWORD_FIRST = (
    "Saisissez votre mot de passe e-CPS : l'application le demande pour refuser comme pour valider."
)


@bp.get("/")
def index() -> Response:
    typed = request.args.get("id_nat", "").strip()
    if typed:
        return redirect(url_for("phone.show", id_nat=typed))
    return make_response(render_template("phone_index.html"))


@bp.get("/<path:id_nat>")
def show(id_nat: str) -> Response:
    return _page(id_nat)


def _page(id_nat: str, *, message: str = "", error: str = "", status: int = 200) -> Response:
    svc = services()
    practitioner = svc.directory.get(id_nat)
    if practitioner is None:
        return error_page(
            "Identité inconnue",
            f"Aucun professionnel n'a l'identifiant national « {id_nat} » dans l'annuaire "
            "du bac à sable.",
            status=404,
            actions=[("Choisir une autre identité", url_for("phone.index"))],
        )
    identity = svc.mockdata.identity(id_nat)
    html = render_template(
        "phone.html",
        practitioner=practitioner,
        identity=identity,
        approvals=svc.approvals.pending_for(identity),
        history=[(a, a.status_at(svc.clock.now())) for a in svc.approvals.history(id_nat)],
        message=message,
        error=error,
    )
    return make_response(html, status)


@bp.post("/<path:id_nat>/approvals/<approval_id>")
def answer(id_nat: str, approval_id: str) -> Response:
    svc = services()
    approval = svc.approvals.get(approval_id)
    if approval is None or approval.id_nat != id_nat or approval.channel != MOBILE:
        return _page(id_nat, error=GONE, status=404)
    if not hmac.compare_digest(request.form.get("csrf", "").encode(), approval.csrf.encode()):
        return _page(id_nat, error="Formulaire expiré : rechargez la page.", status=400)
    identity = svc.mockdata.identity(id_nat)
    refuse = request.form.get("action") == "refuse"
    chosen = request.form.get("code", "")
    password = request.form.get("password", "")
    if not password:  # the Refuser button skips the browser's checks
        return _page(id_nat, error=PASSWORD_FIRST, status=400)
    if not refuse and not chosen:
        return _page(id_nat, error="Choisissez le code affiché sur votre navigateur.", status=400)
    try:
        answered = svc.approvals.answer(
            approval_id,
            identity,
            password=password,
            chosen=None if refuse else chosen,
        )
    except WrongPassword:
        return _page(id_nat, error="Mot de passe e-CPS incorrect.", status=400)
    except NotPending as decided:
        return _page(id_nat, error=not_pending_message(decided), status=409)
    if answered is None:
        return _page(id_nat, error=GONE, status=404)
    if answered.status == APPROVED:
        return _page(id_nat, message="Connexion validée : le service qui l'a demandée continue.")
    return _page(id_nat, message="Demande refusée.")
