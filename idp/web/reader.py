"""The card-reader simulator: CPS-Gestion on the professional's desktop, where CIBA's
``channel=CARD`` requests are approved with the card and its PIN.

``/reader/`` lists the inserted cards (``credentials.yaml``'s); ``/reader/<serial>`` shows
the pending CARD requests for that card's holder (the client's name and the two digits of
its ``binding_message``). Approving runs the card login's own steps
(:func:`idp.web.card.authenticate_card`: PIN with its tries and lock, a challenge signed
by the software card, the card check at the mock clock) and then approves the request;
refusing denies it (no PIN needed). MOBILE requests stay on the phone simulator.

A locked card is unblocked there too, as CPS-Gestion does: the PUK, then a new PIN
(:meth:`idp.card.backend.SoftCardBackend.unblock`). That form has no request record to
carry a CSRF token, so it uses a double-submit cookie (SameSite=Strict).
"""

from __future__ import annotations

import hmac
import logging
import secrets

from flask import Blueprint, Response, make_response, render_template, request, url_for

from idp.auth.ecps import APPROVED, CARD, NotPending
from idp.card.token import CKR, PIN_LENGTH, PUK_LENGTH, Pkcs11Error
from idp.context import Services, services
from idp.web.card import (
    CARD_FAILED,
    NO_PKI,
    PIN_FORMAT,
    CardRefused,
    authenticate_card,
    reader_cards,
    unknown_card_message,
    wrong_pin_message,
)
from idp.web.errors import GONE, error_page, not_pending_message

log = logging.getLogger(__name__)
bp = Blueprint("reader", __name__, url_prefix="/reader")

APPROVED_MESSAGE = "Connexion validée : l'application va recevoir la réponse."
REFUSED_MESSAGE = "Demande refusée."
CSRF_EXPIRED = "Formulaire expiré : rechargez la page."
UNBLOCKED = "Carte débloquée : utilisez désormais votre nouveau code porteur."
PUK_FORMAT = f"Le code de déblocage (PUK) se compose de {PUK_LENGTH} chiffres."
PIN_MISMATCH = "Les deux saisies du nouveau code porteur diffèrent : recommencez."
PUK_LOCKED = (
    "Code de déblocage bloqué : la carte est inutilisable. Dans ce bac à sable, "
    "réinitialisez-la (POST /_mock/reset, ou psc-mock card unblock avec --data-dir)."
)
_CSRF_COOKIE = "PSC_MOCK_READER_CSRF"


def wrong_holder_message(id_nat: str) -> str:
    return f"Cette carte n'est pas celle de la personne à qui la demande est adressée ({id_nat})."


@bp.get("/")
def index() -> Response:
    svc = services()
    if svc.cards is None:
        return error_page("Lecteur de cartes indisponible", NO_PKI, status=404)
    cards = []
    for card, note in reader_cards(svc):
        pending = svc.approvals.pending_for(svc.mockdata.identity(card.id_nat), CARD)
        cards.append((card, note, len(pending)))
    return make_response(render_template("reader_index.html", cards=cards))


@bp.get("/<serial>")
def show(serial: str) -> Response:
    return _page(services(), serial)


def _inserted(svc: Services, serial: str):
    """The reader's card of this serial and its state note, or None."""
    for card, note in reader_cards(svc):
        if card.serial == serial:
            return card, note
    return None


def _page(
    svc: Services, serial: str, *, message: str = "", error: str = "", status: int = 200
) -> Response:
    if svc.cards is None:
        return error_page("Lecteur de cartes indisponible", NO_PKI, status=404)
    inserted = _inserted(svc, serial)
    if inserted is None:
        return error_page(
            "Carte inconnue",
            unknown_card_message(serial),
            status=404,
            actions=[("Choisir une autre carte", url_for("reader.index"))],
        )
    card, note = inserted
    identity = svc.mockdata.identity(card.id_nat)
    csrf = request.cookies.get(_CSRF_COOKIE) or secrets.token_urlsafe(16)
    html = render_template(
        "reader.html",
        card=card,
        note=note,
        locked=svc.cards.state(serial).locked,
        approvals=svc.approvals.pending_for(identity, CARD),
        message=message,
        error=error,
        pin_length=PIN_LENGTH,
        puk_length=PUK_LENGTH,
        csrf=csrf,
    )
    response = make_response(html, status)
    response.set_cookie(
        _CSRF_COOKIE,
        csrf,
        path="/reader",
        httponly=True,
        samesite="Strict",
        secure=svc.settings.issuer.startswith("https"),
    )
    return response


@bp.post("/<serial>/approvals/<approval_id>")
def answer(serial: str, approval_id: str) -> Response:
    svc = services()
    if svc.cards is None:
        return error_page("Lecteur de cartes indisponible", NO_PKI, status=404)
    inserted = _inserted(svc, serial)
    if inserted is None:
        return _page(svc, serial)  # the unknown card's page
    card, _ = inserted
    approval = svc.approvals.get(approval_id)
    if approval is None or approval.id_nat != card.id_nat or approval.channel != CARD:
        return _page(svc, serial, error=GONE, status=404)
    if not hmac.compare_digest(request.form.get("csrf", "").encode(), approval.csrf.encode()):
        return _page(svc, serial, error=CSRF_EXPIRED, status=400)

    approve = request.form.get("action") != "refuse"
    if approve:
        try:
            holder = authenticate_card(svc, serial, request.form.get("pin", ""))
        except CardRefused as refused:
            return _page(svc, serial, error=refused.message, status=refused.status)
        if holder.id_nat != approval.id_nat:  # the card's certificate names someone else
            log.info("reader: card %s is %s's, not %s's", serial, holder.id_nat, approval.id_nat)
            return _page(svc, serial, error=wrong_holder_message(approval.id_nat), status=403)
    try:
        answered = svc.approvals.answer_on_card(approval_id, card.id_nat, approve=approve)
    except NotPending as decided:
        return _page(svc, serial, error=not_pending_message(decided), status=409)
    if answered is None:
        return _page(svc, serial, error=GONE, status=404)
    if answered.status == APPROVED:
        log.info("reader: card %s approved CIBA request for %s", serial, card.id_nat)
        return _page(svc, serial, message=APPROVED_MESSAGE)
    return _page(svc, serial, message=REFUSED_MESSAGE)


@bp.post("/<serial>/unblock")
def unblock(serial: str) -> Response:
    """The PUK and a new PIN, typed twice; the formats are checked before the card is
    asked, so that a typing slip costs no PUK try."""
    svc = services()
    if svc.cards is None:
        return error_page("Lecteur de cartes indisponible", NO_PKI, status=404)
    if _inserted(svc, serial) is None:
        return _page(svc, serial)  # the unknown card's page
    cookie = request.cookies.get(_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(
        request.form.get("csrf", "").encode(), cookie.encode()
    ):
        return _page(svc, serial, error=CSRF_EXPIRED, status=400)
    puk, pin = request.form.get("puk", ""), request.form.get("new_pin", "")
    if not _is_code(puk, PUK_LENGTH):
        return _page(svc, serial, error=PUK_FORMAT, status=400)
    if not _is_code(pin, PIN_LENGTH):
        return _page(svc, serial, error=PIN_FORMAT, status=400)
    if not hmac.compare_digest(pin.encode(), request.form.get("new_pin_again", "").encode()):
        return _page(svc, serial, error=PIN_MISMATCH, status=400)
    try:
        svc.cards.backend(serial).unblock(puk, pin)
    except Pkcs11Error as error:
        return _page(svc, serial, error=_puk_message(error), status=400)
    log.info("reader: card %s unblocked with its PUK", serial)
    return _page(svc, serial, message=UNBLOCKED)


def _is_code(code: str, length: int) -> bool:
    return len(code) == length and code.isascii() and code.isdigit()


def _puk_message(error: Pkcs11Error) -> str:
    if error.name == CKR.PIN_INCORRECT:
        return wrong_pin_message(error.tries_left, "Code de déblocage")
    if error.name == CKR.PIN_LOCKED:
        return PUK_LOCKED
    return CARD_FAILED
