"""CIBA, poll mode, as PSC offers it to thick clients and ANS's "Proxy e-Santé"
(reference §5.2; OpenID CIBA Core 1.0).

The client's server posts to ``{issuer}/protocol/openid-connect/ext/ciba/auth`` who it
wants to log in (``login_hint=<idNat>``) and the two digits it shows the person
(``binding_message``); the mock pushes an e-CPS approval with those digits to the
person's phone (the phone simulator), or with ``channel=CARD`` a request to the card
reader on the person's desktop (CPS-Gestion: the card-reader simulator, where the card's
PIN approves), and answers an ``auth_req_id``. The client then
polls the token endpoint with ``grant_type=urn:openid:params:grant-type:ciba`` until the
person approves (tokens), refuses (``access_denied``) or lets it expire
(``expired_token``). Only poll mode exists at PSC: ping and push are refused.

Error codes and texts are Keycloak's (PSC runs on Keycloak), except where PSC's
documentation says more: the pending text is the one ANS's mock sends, and strict mode
refuses what PSC requires (``openid scope_all``, ``acr_values=eidas1``, two digits).
Every timing decision (expiry, polling interval) is taken on the mock clock.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    AccessDeniedError,
    InvalidGrantError,
    InvalidRequestError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6749.hooks import hooked
from authlib.oauth2.rfc8628.errors import (
    AuthorizationPendingError,
    ExpiredTokenError,
    SlowDownError,
)
from authlib.oidc.core import OpenIDToken
from flask import Response, jsonify

from idp.auth.ecps import APPROVED, CARD, DENIED, EXPIRED, MOBILE, PENDING, Approvals
from idp.auth.eligibility import Refusal, check_ecps_login
from idp.mockdata import Identity
from idp.oidc.clients import CIBA_GRANT_TYPE
from idp.oidc.grants import AUTH_METHODS, _IdTokenMixin, _PscGrant, strict_violation
from idp.settings import Settings
from idp.store import Store

if TYPE_CHECKING:
    from idp.context import Services

GRANT_TYPE = CIBA_GRANT_TYPE
CIBA = "ciba"
# channel (ANS's custom parameter) -> authMode in the tokens (and the approval's channel)
CHANNELS = {MOBILE: "MOBILE", CARD: "CARD"}
DEFAULT_CHANNEL = MOBILE
SLOW_DOWN_STEP = 5  # CIBA Core §11 / RFC 8628 §3.5: each slow_down adds 5 s
# Records outlive their deadline a little, so a late poll learns "expired", not "unknown".
_GRACE = 120
_TWO_DIGITS = re.compile(r"[0-9]{2}")

# ANS's mock text (EDC-proxy), which is also Keycloak's.
PENDING_DESCRIPTION = (
    "The authorization request is still pending as the end-user hasn't yet been authenticated."
)
NOT_ALLOWED = "Client not allowed OIDC CIBA Grant"
INVALID_AUTH_REQ_ID = "Invalid auth_req_id"

# e-CPS eligibility refusals, for a developer (ASCII: OAuth error descriptions must be).
_REFUSALS = {
    "unknown_id_nat": "no user found",
    "not_propagated": (
        "user not known to Pro Sante Connect yet: data reach PSC 48 h after the "
        "registration in the RPPS"
    ),
    "outside_perimeter": "user outside Pro Sante Connect's perimeter (student)",
    "ecps_not_activated": "user has no activated e-CPS",
    "no_active_card": "user has no active CPS card (channel=CARD)",
}


class UnknownUserIdError(OAuth2Error):
    """CIBA Core §13: the hint does not identify a user the OP can authenticate."""

    error = "unknown_user_id"


class InvalidBindingMessageError(OAuth2Error):
    """CIBA Core §13: the binding message is invalid or unacceptable."""

    error = "invalid_binding_message"


@dataclass(slots=True)
class CibaRequest:
    """One backchannel authentication request, from ``auth_req_id`` to tokens."""

    id: str
    client_id: str
    id_nat: str
    scope: str
    auth_mode: str  # MOBILE or CARD, from the channel
    approval_id: str  # the push on the person's phone, or to the card reader (CARD)
    expires_at: float  # mock clock
    interval: int  # grows by 5 s with each slow_down
    last_poll: float | None = None
    used: bool = False


class CibaRequests:
    """The store-backed requests and the poll decision, on the mock clock."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        self._approvals = Approvals(store, settings.ciba_expires_in)

    def start(
        self, *, client_id: str, id_nat: str, scope: str, auth_mode: str, approval_id: str
    ) -> CibaRequest:
        request = CibaRequest(
            id=secrets.token_urlsafe(32),  # opaque and random (PSC's is a JWT)
            client_id=client_id,
            id_nat=id_nat,
            scope=scope,
            auth_mode=auth_mode,
            approval_id=approval_id,
            expires_at=self._store.clock.now() + self._settings.ciba_expires_in,
            interval=self._settings.ciba_interval,
        )
        self._store.put(
            CIBA, request.id, asdict(request), ttl=self._settings.ciba_expires_in + _GRACE
        )
        return request

    def poll(self, auth_req_id: str, client_id: str) -> CibaRequest:
        """The approved request, now used; otherwise the OAuth error the poll gets.

        Keycloak's order: unknown, expired, too fast, denied, pending. The decision and
        its bookkeeping (last poll, interval, single use) are one atomic store update.
        """
        now = self._store.clock.now()
        outcome: list[OAuth2Error | CibaRequest] = []

        def decide(value: dict) -> None:
            request = CibaRequest(**value)
            if request.client_id != client_id:
                outcome.append(
                    InvalidGrantError(INVALID_AUTH_REQ_ID + ": issued to another client")
                )
            elif request.used:
                outcome.append(InvalidGrantError(INVALID_AUTH_REQ_ID + ": already used"))
            elif now >= request.expires_at:
                outcome.append(ExpiredTokenError("authentication timed out"))
            elif request.last_poll is not None and now - request.last_poll < request.interval:
                value.update(last_poll=now, interval=request.interval + SLOW_DOWN_STEP)
                outcome.append(
                    SlowDownError(
                        f"too early to access: poll at most every {value['interval']} seconds"
                    )
                )
            else:
                value.update(last_poll=now)
                status = self._approval_status(request.approval_id, now)
                if status == DENIED:
                    outcome.append(AccessDeniedError("not authorized"))
                elif status == PENDING:
                    outcome.append(AuthorizationPendingError(PENDING_DESCRIPTION))
                elif status == APPROVED:
                    value.update(used=True)
                    outcome.append(CibaRequest(**value))
                else:  # the push is gone or ended (it lives as long as the request)
                    outcome.append(ExpiredTokenError("authentication timed out"))

        if self._store.update(CIBA, auth_req_id, decide) is None:
            raise InvalidGrantError(INVALID_AUTH_REQ_ID)
        result = outcome[0]
        if isinstance(result, OAuth2Error):
            raise result
        return result

    def _approval_status(self, approval_id: str, now: float) -> str:
        approval = self._approvals.get(approval_id)
        return approval.status_at(now) if approval else EXPIRED


# --- the backchannel authentication endpoint ------------------------------------------


def backchannel_authentication(svc: Services) -> Response:
    """``POST …/ext/ciba/auth``: authenticate the client, validate, push, answer."""
    server = svc.server
    request = server.create_oauth2_request(None)
    try:
        started = _start(svc, request)
    except OAuth2Error as error:
        return server.handle_error_response(request, error)
    return jsonify(
        auth_req_id=started.id,
        expires_in=svc.settings.ciba_expires_in,
        interval=started.interval,
    )


def _start(svc: Services, request) -> CibaRequest:
    server = svc.server
    client = server.authenticate_client(
        request, AUTH_METHODS, endpoint="backchannel_authentication"
    )
    if not client.check_grant_type(GRANT_TYPE):
        raise UnauthorizedClientError(NOT_ALLOWED)
    params = request.payload.data
    # What PSC does not offer is refused first, with what to do instead.
    if params.get("client_notification_token"):
        raise InvalidRequestError(
            "Pro Sante Connect implements CIBA poll mode only: ping and push "
            "(client_notification_token) are not supported"
        )
    if params.get("request") or params.get("request_uri"):
        raise InvalidRequestError("signed authentication requests are not supported")
    if params.get("user_code"):
        raise InvalidRequestError("User code not supported")

    # Then Keycloak's order: the user, the scope, the binding message.
    id_nat = params.get("login_hint")
    if not id_nat:
        raise InvalidRequestError("missing parameter : login_hint")
    channel = params.get("channel") or DEFAULT_CHANNEL
    if channel not in CHANNELS:
        raise InvalidRequestError("channel must be MOBILE or CARD")
    practitioner = svc.directory.get(id_nat)
    identity = svc.mockdata.identity(id_nat) if practitioner else None
    refusal = _eligibility(svc, id_nat, practitioner, identity, channel)
    if refusal:
        raise UnknownUserIdError(_REFUSALS.get(refusal.code, "no user found"))

    if not params.get("scope"):
        raise InvalidRequestError("missing parameter : scope")
    if svc.settings.strict:
        # CIBA has no state nor nonce: only PSC's scope and acr rules can be broken here.
        violation = strict_violation({**params, "state": "-", "nonce": "-"})
        if violation:
            error, description = violation
            raise error(description)
    binding = params.get("binding_message", "")
    if not _TWO_DIGITS.fullmatch(binding):
        raise InvalidBindingMessageError(
            "Pro Sante Connect requires binding_message: exactly two digits (00 to 99), "
            "shown by the client and picked by the user on the e-CPS app"
        )

    # The push lives as long as the CIBA request. MOBILE goes to the phone simulator,
    # CARD to the card-reader simulator (CPS-Gestion), which asks the card's PIN.
    pushes = Approvals(svc.store, svc.settings.ciba_expires_in)
    approval = pushes.request(
        identity, client.client.name or client.client_id, binding, channel=channel
    )
    return CibaRequests(svc.store, svc.settings).start(
        client_id=client.get_client_id(),
        id_nat=id_nat,
        scope=client.get_allowed_scope(params["scope"]),
        auth_mode=CHANNELS[channel],
        approval_id=approval.id,
    )


def _eligibility(svc: Services, id_nat, practitioner, identity, channel: str) -> Refusal | None:
    refusal = check_ecps_login(
        id_nat, practitioner, identity, settings=svc.settings, now=svc.clock.now()
    )
    if channel != CARD:
        return refusal
    if refusal and refusal.code != "ecps_not_activated":  # a card needs no e-CPS
        return refusal
    today = datetime.fromtimestamp(svc.clock.now(), UTC).date()
    if not _has_active_card(identity, today):
        return Refusal("no_active_card", "")
    return None


def _has_active_card(identity: Identity, today: date) -> bool:
    return any(
        card.status == "active" and date.fromisoformat(card.not_after) >= today
        for card in identity.cards
    )


# --- the token endpoint grant ---------------------------------------------------------


class CibaGrant(_PscGrant, grants.BaseGrant, grants.TokenEndpointMixin):
    """``grant_type=urn:openid:params:grant-type:ciba``: poll for the tokens."""

    GRANT_TYPE = GRANT_TYPE

    def validate_token_request(self) -> None:
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(GRANT_TYPE):
            raise UnauthorizedClientError(NOT_ALLOWED)
        auth_req_id = self.request.payload.data.get("auth_req_id")
        if not auth_req_id:
            raise InvalidRequestError("Missing parameter: auth_req_id")
        requests = CibaRequests(self.server.store, self.server.settings)
        self.ciba_request = requests.poll(auth_req_id, client.get_client_id())
        self.request.client = client

    @hooked
    def create_token_response(self):
        approved = self.ciba_request
        # As the browser flow's sso.sign_in: auth_time in real time, as tokens carry it.
        session = self.server.sessions.open(approved.id_nat, approved.auth_mode, int(time.time()))
        self.request.user = self.server.authentication_of(session.id)
        token = self.generate_token(user=self.request.user, scope=approved.scope)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER

    def grant_nonce(self) -> str:
        return ""  # CIBA has no nonce


class CibaIdToken(_IdTokenMixin, OpenIDToken):
    """The id_token of a CIBA token response, as the code flow's."""
