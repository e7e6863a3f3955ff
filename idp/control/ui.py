"""The trainer dashboard at ``/_mock/ui``: a page over the control API (search, claims,
scenarios, live approvals and sessions, request log, keys, clock) and the training mode's
printable identity sheets. Guarded like the control API; its writes are the control API's
own JSON calls, so the JSON-only rule and the ``Host`` check protect them from other sites.
"""

from __future__ import annotations

from flask import Blueprint, Response, make_response, redirect, render_template, request

from idp.context import services
from idp.control import guard
from idp.control.dashboard_api import trainees
from idp.web.errors import error_page
from idp.web.qr import qr_svg

bp = Blueprint("dashboard", __name__, url_prefix="/_mock/ui")


@bp.before_request
def _guard() -> Response | None:
    token = request.args.get("token")
    if token is not None:  # once, from a link: into a cookie, out of the address bar
        response = redirect(request.path)
        response.set_cookie(
            guard.ADMIN_COOKIE,
            token,
            httponly=True,
            samesite="Strict",
            secure=request.is_secure,
            path="/_mock",
        )
        return response
    refused = guard.check()
    if refused is None:
        return None
    return error_page(
        "Tableau de bord réservé au formateur",
        "Ouvrez-le depuis la machine qui fait tourner psc-mock, ou ajoutez "
        "?token=<PSC_MOCK_ADMIN_TOKEN> à son adresse (le jeton s'affiche au démarrage).",
        technical=refused.get_json()["error_description"],
        status=refused.status_code,
    )


@bp.get("/")
def dashboard() -> Response:
    settings = services().settings
    return make_response(render_template("dashboard.html", issuer=settings.issuer))


@bp.get("/sheets")
def sheets() -> Response:
    """One printable sheet per trainee: how to log in as their fictional professional."""
    listed = trainees(services())
    codes = {sheet["id_nat"]: qr_svg(sheet["phone_url"], scale=3) for sheet in listed}
    return make_response(render_template("dashboard_sheets.html", sheets=listed, codes=codes))
