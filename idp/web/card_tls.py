"""Card login by TLS client authentication: the browser (through the card's PKCS#11
module) or a script (the card's exported certificate and key) shows the card's
authentication certificate during the TLS handshake with the HTTPS listener.

``GET {issuer}/login-actions/card-tls?tab_id=…`` on the HTTPS listener (``--tls-port``,
or ``--tls``, or behind a trusted proxy's certificate header) takes that certificate, runs
the one card check (:meth:`idp.auth.card.Cards.check`: chain, mock-time validity, CRL,
holder known, card type), and completes the parked login with ``authMode=CARD``. The
TLS layer accepted any certificate, so each refusal is a French page that says why.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from flask import Blueprint, Response, request

from idp.auth.eligibility import check_ecps_login
from idp.context import services
from idp.oidc import authorize
from idp.tls import client_certificate
from idp.web.card import _PERSON_REFUSALS, NO_PKI
from idp.web.errors import error_page
from idp.web.login import _ACTIONS, _expired_login, _login_or_404

log = logging.getLogger(__name__)
bp = Blueprint("card_tls", __name__)

PATH = _ACTIONS + "/card-tls"
TITLE = "Connexion par carte refusée"
NOT_TLS = (
    "La connexion par carte via TLS se fait sur l'adresse sécurisée (HTTPS) de Pro Santé "
    "Connect : votre navigateur y présente le certificat de votre carte."
)
NO_TLS_LISTENER = (
    "La connexion par carte via TLS n'est pas activée sur ce bac à sable "
    "(réglage --tls-port). Utilisez le lecteur de cartes simulé."
)
NO_CERTIFICATE = (
    "Aucun certificat de carte n'a été présenté. Vérifiez que la carte est insérée dans le "
    "lecteur et que le module de la carte (PKCS#11) est chargé dans le navigateur, puis "
    "recommencez."
)


def tls_login_url(tab_id: str) -> str:
    """The card-TLS URL of a parked login, on the HTTPS listener ("" without one)."""
    base = services().settings.effective_tls_url
    return f"{base}{PATH}?{urlencode({'tab_id': tab_id})}" if base else ""


@bp.app_context_processor
def _template_helpers() -> dict:
    return {"card_tls_url": tls_login_url}


@bp.get(PATH)
def login() -> Response:
    svc = services()
    tab_id = request.args.get("tab_id", "")
    parked = _login_or_404(tab_id)
    back = [("Revenir à la page de connexion", f"{_ACTIONS}/card?{urlencode({'tab_id': tab_id})}")]
    certificate = client_certificate(request.environ)
    if certificate is None:
        if request.environ.get("wsgi.url_scheme") != "https":
            target = tls_login_url(tab_id)
            if not target:
                return error_page(TITLE, NO_TLS_LISTENER, status=400, actions=back)
            return error_page(
                TITLE, NOT_TLS, status=400, actions=[("Continuer en HTTPS", target), *back]
            )
        return error_page(TITLE, NO_CERTIFICATE, status=401, actions=back)
    if svc.cards is None:
        return error_page(TITLE, NO_PKI, status=400, actions=back)
    check = svc.cards.check(certificate)
    if not check.ok:
        log.info(
            "card TLS login refused: %s (%s) for %s",
            check.code,
            check.detail,
            certificate.subject.rfc4514_string(),
        )
        return error_page(TITLE, check.message, technical=check.code, status=403, actions=back)
    practitioner = check.practitioner
    identity = svc.mockdata.identity(practitioner.id_nat)
    refusal = check_ecps_login(
        practitioner.id_nat, practitioner, identity, settings=svc.settings, now=svc.clock.now()
    )
    if refusal and refusal.code in _PERSON_REFUSALS:
        return error_page(TITLE, refusal.message, technical=refusal.code, status=403, actions=back)
    finished = svc.logins.finish(parked.tab_id)
    if finished is None:
        return _expired_login()
    log.info("card TLS login: %s, card %s", practitioner.id_nat, check.serial)
    return authorize.complete(svc, finished, practitioner, "CARD")
