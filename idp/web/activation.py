"""e-CPS activation on the phone simulator: choose a means (card, or mail and SMS codes),
prove it, choose the e-CPS password. The codes "sent" by mail and SMS are shown on a
mock-only panel, so that a trainee without the order's mailbox can type them."""

from __future__ import annotations

from flask import Blueprint, Response, make_response, render_template, request, url_for

from idp.auth import activation as rules
from idp.auth.activation import Activation, ActivationError, Activations
from idp.card.token import PIN_LENGTH
from idp.context import services
from idp.web.card import CardRefused, authenticate_card, reader_cards
from idp.web.errors import error_page

bp = Blueprint("activation", __name__, url_prefix="/phone")


@bp.get("/<path:id_nat>/activation")
def start(id_nat: str) -> Response:
    svc = services()
    practitioner = svc.directory.get(id_nat)
    if practitioner is None:
        return _unknown(id_nat)
    identity = svc.mockdata.identity(id_nat)
    refused = rules.refusal(practitioner, identity, settings=svc.settings, now=svc.clock.now())
    if refused:
        status = 200 if refused.code == "already_activated" else 403
        return error_page(
            "Activation de l'e-CPS impossible" if status == 403 else "e-CPS déjà activée",
            refused.message,
            status=status,
            actions=[("Retour à l'application e-CPS", url_for("phone.show", id_nat=id_nat))],
        )
    return _page(Activations(svc.store).begin(practitioner, identity))


@bp.post("/<path:id_nat>/activation/<step>")
def answer(id_nat: str, step: str) -> Response:
    svc = services()
    activations = Activations(svc.store)
    activation = activations.get(id_nat)
    if activation is None or not activation.check_csrf(request.form.get("csrf", "")):
        return error_page(
            "Activation expirée",
            "Cette activation n'est plus valable (elle a expiré, ou le formulaire est "
            "ancien). Recommencez depuis l'application e-CPS.",
            status=400,
            actions=[("Recommencer", url_for("activation.start", id_nat=id_nat))],
        )
    form = request.form
    try:
        if step == "mail-sms":
            activation = activations.send_codes(activation)
        elif step == "codes":
            activation = activations.check_codes(
                activation, form.get("mail_code", ""), form.get("sms_code", "")
            )
        elif step == "card":
            holder = authenticate_card(svc, form.get("serial", "").strip(), form.get("pin", ""))
            activation = activations.card_verified(activation, holder)
        elif step == "password":
            activations.choose_password(
                activation, form.get("password", ""), form.get("confirmation", "")
            )
            activation.step = "done"
        else:
            return error_page("Étape inconnue", "Recommencez l'activation.", status=404)
    except (ActivationError, CardRefused) as refused:
        current = activations.get(id_nat)
        if current is None:  # cancelled after too many tries
            return error_page(
                "Activation annulée",
                str(refused),
                status=400,
                actions=[("Recommencer", url_for("activation.start", id_nat=id_nat))],
            )
        message = refused.message if isinstance(refused, CardRefused) else str(refused)
        return _page(current, error=message, status=400)
    return _page(activation)


def _page(activation: Activation, *, error: str = "", status: int = 200) -> Response:
    svc = services()
    practitioner = svc.directory.get(activation.id_nat)
    identity = svc.mockdata.identity(activation.id_nat)
    html = render_template(
        "activation.html",
        activation=activation,
        practitioner=practitioner,
        order=identity.order,
        cards=[card for card, note in reader_cards(svc) if not note],
        own_cards=[card.serial for card in identity.cards],
        pin_length=PIN_LENGTH,
        error=error,
    )
    return make_response(html, status)


def _unknown(id_nat: str) -> Response:
    return error_page(
        "Identité inconnue",
        f"Aucun professionnel n'a l'identifiant national « {id_nat} » dans l'annuaire.",
        status=404,
        actions=[("Choisir une autre identité", url_for("phone.index"))],
    )
