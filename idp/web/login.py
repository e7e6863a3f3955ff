"""The login pages: identifier, pending approval, and their outcomes.

The browser holds the ``tab_id`` in the URL, the ``AUTH_SESSION_ID`` cookie that binds
the login to it (:mod:`idp.oidc.logins`) and an optional "remember my identifier" cookie;
everything else is in the store. Every e-CPS step checks the binding: the approval is
given on a phone, so whoever finishes the login takes the code, and that must be the
browser that asked for it. The card tab needs no binding (the card proves the person in
the very request that receives the code) and stays open to cookie-less CI clients.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from idp.auth.ecps import APPROVED, DENIED, EXPIRED
from idp.auth.eligibility import check_ecps_login
from idp.context import Services, services
from idp.oidc import authorize
from idp.oidc.logins import Login
from idp.settings import REALM_PATH
from idp.web.errors import error_page
from idp.web.qr import qr_svg

REMEMBER_COOKIE = "PSC_MOCK_IDNAT"
_ACTIONS = REALM_PATH + "/login-actions"

bp = Blueprint("login", __name__)

_DENIED_MESSAGES = {
    "refused": "Vous avez refusé la demande de connexion sur votre application e-CPS.",
    "wrong_code": (
        "Le code choisi sur votre téléphone ne correspond pas à celui affiché sur cette "
        "page : la demande a été refusée par sécurité."
    ),
    "policy": "La demande de connexion a été refusée sur l'application e-CPS.",
    "superseded": (
        "Une demande de connexion plus récente a été envoyée à votre application e-CPS : "
        "celle-ci a été annulée."
    ),
}


def _login_or_404(tab_id: str) -> Login:
    login = services().logins.get(tab_id)
    if login is None:
        abort(_expired_login())
    return login


def _this_browsers_login(tab_id: str) -> Login:
    """The login, if this browser started it (else a page saying to start again)."""
    return _this_browsers(_login_or_404(tab_id))


def _this_browsers(login: Login) -> Login:
    if not login.in_this_browser():
        abort(_other_browser())
    return login


def _other_browser() -> Response:
    return error_page(
        "Connexion commencée dans un autre navigateur",
        "Cette demande de connexion n'a pas été commencée dans ce navigateur, ou les "
        "cookies y sont bloqués : pour votre sécurité, elle ne peut pas continuer ici. "
        "Retournez sur le service que vous utilisiez et recommencez la connexion depuis "
        "ce navigateur, en autorisant les cookies pour Pro Santé Connect. Si quelqu'un "
        "vous a envoyé ce lien, ne l'utilisez pas.",
        status=403,
    )


def _expired_login() -> Response:
    return error_page(
        "Demande de connexion expirée",
        "Cette demande de connexion n'existe plus (elle a expiré ou a déjà abouti). "
        "Retournez sur le service que vous utilisiez et recommencez la connexion.",
        status=404,
    )


@bp.get(_ACTIONS + "/authenticate")
def show() -> Response:
    login = _this_browsers_login(request.args.get("tab_id", ""))
    typed = request.cookies.get(REMEMBER_COOKIE, "") or login.params.get("login_hint", "")
    return _login_page(login, typed=typed, remembered=bool(request.cookies.get(REMEMBER_COOKIE)))


def _login_page(login: Login, *, typed: str, remembered: bool, error: str = "", status=200):
    html = render_template(
        "login.html", login=login, typed=typed, remembered=remembered, error=error
    )
    return make_response(html, status)


def posted_login() -> Login:
    """The login a form was posted for, its CSRF token checked (else an error page)."""
    login = _login_or_404(request.args.get("tab_id", ""))
    if not login.check_csrf(request.form.get("csrf", "")):
        abort(
            error_page(
                "Formulaire expiré",
                "Ce formulaire n'est plus valable. Rechargez la page de connexion et recommencez.",
                status=400,
            )
        )
    return login


@bp.post(_ACTIONS + "/authenticate")
def submit() -> Response:
    svc = services()
    login = _this_browsers(posted_login())
    typed = request.form.get("id_nat", "").strip()
    remember = request.form.get("remember") == "on"
    practitioner = svc.directory.get(typed) if typed else None
    identity = svc.mockdata.identity(typed) if practitioner else None
    refusal = check_ecps_login(
        typed, practitioner, identity, settings=svc.settings, now=svc.clock.now()
    )
    if refusal:
        return _login_page(
            login, typed=typed, remembered=remember, error=refusal.message, status=400
        )
    approval = svc.approvals.request(identity, login.client_name)
    svc.logins.attach(login.tab_id, id_nat=typed, approval_id=approval.id)
    response = redirect(url_for("login.pending", tab_id=login.tab_id))
    _remember(response, typed if remember else "", secure=svc.settings.issuer.startswith("https"))
    return response


def _remember(response: Response, id_nat: str, *, secure: bool) -> None:
    if id_nat:
        response.set_cookie(
            REMEMBER_COOKIE,
            id_nat,
            max_age=365 * 86400,
            httponly=True,
            samesite="Lax",
            secure=secure,
        )
    else:
        response.delete_cookie(REMEMBER_COOKIE)


@bp.get(_ACTIONS + "/ecps")
def pending() -> Response:
    """The page that waits: it continues by itself once the phone has approved."""
    svc = services()
    login = _this_browsers_login(request.args.get("tab_id", ""))
    approval = svc.approvals.get(login.approval_id) if login.approval_id else None
    if approval is None:
        return redirect(url_for("login.show", tab_id=login.tab_id))
    status = approval.status_at(svc.clock.now())
    if status == APPROVED:
        return _finish(svc, login)
    if status in (DENIED, EXPIRED):
        return _failed(login, status, approval.reason)
    remaining = max(0, int(approval.expires_at - svc.clock.now()))
    phone_url = url_for("phone.show", id_nat=login.id_nat, _external=True)
    html = render_template(
        "pending.html",
        login=login,
        approval=approval,
        remaining=remaining,
        phone_url=phone_url,
        phone_qr=qr_svg(phone_url),
    )
    return make_response(html)


@bp.get(_ACTIONS + "/ecps/status")
def pending_status() -> Response:
    """Polled by the pending page's script, so it continues within a second. Another
    browser learns nothing (and its reload shows it the page saying why)."""
    svc = services()
    login = svc.logins.get(request.args.get("tab_id", ""))
    if login is not None and not login.in_this_browser():
        return make_response(jsonify(status=EXPIRED), 403)
    approval = svc.approvals.get(login.approval_id) if login and login.approval_id else None
    status = approval.status_at(svc.clock.now()) if approval else EXPIRED
    return jsonify(status=status)


def _finish(svc: Services, login: Login) -> Response:
    """Only for a login already checked to be this browser's (:func:`pending`)."""
    login = svc.logins.finish(login.tab_id)
    practitioner = svc.directory.get(login.id_nat) if login else None
    if login is None or practitioner is None:
        return _expired_login()
    return authorize.complete(svc, login, practitioner, "MOBILE")


def _failed(login: Login, status: str, reason: str) -> Response:
    if status == EXPIRED:
        title = "Demande expirée"
        message = (
            "Vous n'avez pas validé la demande sur votre application e-CPS à temps. "
            "Vous pouvez recommencer."
        )
    else:
        title = "Connexion refusée"
        message = _DENIED_MESSAGES.get(reason, _DENIED_MESSAGES["policy"])
    actions = [
        ("Réessayer", url_for("login.show", tab_id=login.tab_id)),
        ("Revenir au service", url_for("login.cancel", tab_id=login.tab_id)),
    ]
    return error_page(title, message, status=403 if status == DENIED else 408, actions=actions)


@bp.get(_ACTIONS + "/cancel")
def cancel() -> Response:
    """Only the browser that started the login may end it (the link can be forwarded)."""
    svc = services()
    login = svc.logins.finish(_this_browsers_login(request.args.get("tab_id", "")).tab_id)
    if login is None:
        return _expired_login()
    return authorize.cancel(svc, login)
