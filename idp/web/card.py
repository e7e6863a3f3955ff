"""Card login (the "Carte CPS" tab, with a simulated reader) and the PKI's public files.

The reader holds the virtual cards ``credentials.yaml`` declares; the person picks one
(or types the serial of another card of the PKI) and types the PIN. The server then does
what a card login does: it issues a random challenge, the software card signs it after
the PIN login (``SoftCardBackend`` over the card state kept in the store), and the server
verifies the signature and the certificate (:func:`idp.auth.card.check_card_certificate`,
at the mock clock) before completing the parked login with ``authMode=CARD``. Those steps
(:func:`authenticate_card`) and the reader's list (:func:`reader_cards`) also serve the
card-reader simulator of CIBA's CARD channel (:mod:`idp.web.reader`).

The CRLs each authority publishes (DER, issued at start-up, after each opposition, and
again when the mock clock passes their next update) are at ``/pki/crl/<authority>.crl``,
the authorities' certificates at ``/pki/ca-bundle.pem``.
"""

from __future__ import annotations

import logging
import re
import secrets

from cryptography.hazmat.primitives import serialization
from flask import Blueprint, Response, abort, jsonify, make_response, render_template, request

from idp.auth import card as card_auth
from idp.auth.eligibility import check_ecps_login
from idp.card.pki import HIERARCHY
from idp.card.token import CKR, PIN_LENGTH, Pkcs11Error
from idp.context import Services, services
from idp.directory.model import Practitioner
from idp.oidc import authorize
from idp.oidc.logins import Login
from idp.web.login import _ACTIONS, _expired_login, _login_or_404, posted_login
from idp.web.security import content_security_policy

log = logging.getLogger(__name__)
bp = Blueprint("card", __name__)

_SERIAL = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,39}")
# Refusals PSC makes before any authentication means is considered (not e-CPS-specific).
_PERSON_REFUSALS = frozenset({"not_propagated", "outside_perimeter"})
NO_CARD = "Choisissez une carte insérée dans le lecteur, ou saisissez son numéro de série."
PIN_FORMAT = f"Le code porteur se compose de {PIN_LENGTH} chiffres."
CARD_FAILED = "La carte n'a pas répondu correctement. Retirez-la, réinsérez-la et recommencez."
NO_PKI = "La connexion par carte n'est pas disponible : ce bac à sable n'a pas d'IGC de test."


def authority_slug(name: str) -> str:
    """``TEST AC IGC-SANTE FORT PERSONNES`` -> ``test-ac-igc-sante-fort-personnes``."""
    return name.lower().replace(" ", "-")


_AUTHORITIES = {authority_slug(name): name for name, _ in HIERARCHY}


def wrong_pin_message(tries_left: int | None, code: str = "Code porteur") -> str:
    """``code``: what was typed wrong (the PIN, or the PUK: "Code de déblocage")."""
    if tries_left is None:
        return f"{code} incorrect."
    plural = "s" if tries_left > 1 else ""
    return f"{code} incorrect : il vous reste {tries_left} essai{plural}"


def unknown_card_message(serial: str) -> str:
    return f"Aucune carte de numéro de série « {serial} » n'est connue du lecteur simulé."


# --- The simulated reader and the card authentication (login tab and CIBA reader) ----------


class CardRefused(Exception):
    """The card authentication failed: the French message to show, and the HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def reader_cards(svc: Services) -> list[tuple]:
    """The inserted cards (``credentials.yaml``'s), each with a note on its state."""
    reader = []
    if svc.cards is not None:
        for card in svc.cards.reader():
            state = svc.cards.state(card.serial)
            note = ""
            if state.opposed_at is not None:
                note = "en opposition"
            elif state.locked:
                note = "bloquée"
            reader.append((card, note))
    return reader


def authenticate_card(svc: Services, serial: str, pin: str) -> Practitioner:
    """What a card login does, for the card of ``serial`` and the typed PIN: a random
    challenge signed by the software card after the PIN login (3 tries, then locked), the
    signature verified, the card checked (chain, validity, CRL, holder, card type) at the
    mock clock, and the holder one PSC lets in. The holder, or :class:`CardRefused`."""
    if svc.cards is None:
        raise CardRefused(NO_PKI)
    if not serial:
        raise CardRefused(NO_CARD)
    if not _SERIAL.fullmatch(serial):
        raise CardRefused(unknown_card_message(serial))
    try:
        backend = svc.cards.backend(serial)
    except (KeyError, ValueError):
        raise CardRefused(unknown_card_message(serial)) from None
    challenge = secrets.token_bytes(32)
    try:
        answer = backend.authenticate(pin, challenge)
    except Pkcs11Error as error:
        log.info("card %s: %s", serial, error)
        raise CardRefused(_pin_message(error)) from None
    if not card_auth.verify_challenge_signature(answer.certificate, challenge, answer.signature):
        raise CardRefused(card_auth.MESSAGES[card_auth.BAD_SIGNATURE], 403)
    check = svc.cards.check(answer.certificate)
    if not check.ok:
        log.info("card %s refused: %s (%s)", serial, check.code, check.detail)
        raise CardRefused(check.message, 403)
    practitioner = check.practitioner
    identity = svc.mockdata.identity(practitioner.id_nat)
    refusal = check_ecps_login(
        practitioner.id_nat, practitioner, identity, settings=svc.settings, now=svc.clock.now()
    )
    if refusal and refusal.code in _PERSON_REFUSALS:
        raise CardRefused(refusal.message, 403)
    return practitioner


# --- The "Carte CPS" tab ----------------------------------------------------------------


@bp.get(_ACTIONS + "/card")
def show() -> Response:
    login = _login_or_404(request.args.get("tab_id", ""))
    return _card_page(services(), login, selected=request.args.get("serial", ""))


def _card_page(
    svc: Services, login: Login, *, selected: str = "", typed: str = "", error: str = "", status=200
) -> Response:
    html = render_template(
        "login_card.html",
        login=login,
        reader=reader_cards(svc),
        selected=selected,
        typed=typed,
        error=error,
        available=svc.cards is not None,
        pin_length=PIN_LENGTH,
    )
    response = make_response(html, status)
    response.headers["Content-Security-Policy"] = content_security_policy(
        login.params.get("redirect_uri", "")
    )
    return response


@bp.post(_ACTIONS + "/card")
def submit() -> Response:
    svc = services()
    login = posted_login()
    selected = request.form.get("serial", "").strip()
    typed = request.form.get("other_serial", "").strip()
    serial = typed or selected
    pin = request.form.get("pin", "")

    try:
        practitioner = authenticate_card(svc, serial, pin)
    except CardRefused as refused:
        return _card_page(
            svc, login, selected=selected, typed=typed, error=refused.message, status=refused.status
        )
    finished = svc.logins.finish(login.tab_id)
    if finished is None:
        return _expired_login()
    return authorize.complete(svc, finished, practitioner, "CARD")


def _pin_message(error: Pkcs11Error) -> str:
    if error.name == CKR.PIN_INCORRECT:
        return wrong_pin_message(error.tries_left)
    if error.name == CKR.PIN_LOCKED:
        return card_auth.MESSAGES[card_auth.LOCKED]
    if error.name in (CKR.PIN_LEN_RANGE, CKR.PIN_INVALID):
        return PIN_FORMAT
    return CARD_FAILED


# --- Published PKI files ------------------------------------------------------------------


def _cards_or_404(svc: Services):
    if svc.cards is None:
        abort(404)
    return svc.cards


@bp.get("/pki/crl/")
def crl_index() -> Response:
    """Where each authority's CRL is, and when the current one was issued (mock clock)."""
    cards = _cards_or_404(services())
    listing = []
    for slug, name in _AUTHORITIES.items():
        crl = cards.crl(name)
        listing.append(
            {
                "authority": name,
                "url": f"{request.url_root.rstrip('/')}/pki/crl/{slug}.crl",
                "this_update": crl.last_update_utc.isoformat() if crl else None,
                "next_update": crl.next_update_utc.isoformat()
                if crl and crl.next_update_utc
                else None,
                "revoked": len(crl) if crl else 0,
            }
        )
    return jsonify(listing)


@bp.get("/pki/crl/<slug>.crl")
def crl(slug: str) -> Response:
    cards = _cards_or_404(services())
    name = _AUTHORITIES.get(slug)
    current = cards.crl(name) if name else None
    if current is None:
        abort(404)
    response = make_response(current.public_bytes(serialization.Encoding.DER))
    response.mimetype = "application/pkix-crl"
    return response


@bp.get("/pki/ca-bundle.pem")
def ca_bundle() -> Response:
    cards = _cards_or_404(services())
    response = make_response(cards.pki.bundle_pem())
    response.mimetype = "application/x-pem-file"
    return response
