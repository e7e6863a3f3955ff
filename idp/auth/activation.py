"""e-CPS activation, as the e-CPS app walks a professional through it.

Who may activate and how follows the seeds (:func:`idp.auth.eligibility.activation_means`):
with the physical CPS card, or with two codes sent by mail and SMS to the contact data the
order holds; and only 48 hours after registration (seed 002: "48 heures plus tard, le
professionnel enregistré peut activer sa e-CPS"), on the mock clock. An activation in
progress lives in the store for a few minutes; its end result is the identity's e-CPS
activated with the chosen password, kept with the control API's scenarios (so that a
reset of the mock undoes it, and ``--data-dir`` keeps it).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from idp.auth.eligibility import Refusal, activation_means, in_perimeter
from idp.control.state import SCENARIO
from idp.directory.model import Practitioner
from idp.mockdata import Identity
from idp.settings import Settings
from idp.store import Store

ACTIVATION = "ecps-activation"
ACTIVATION_DELAY = 48 * 3600  # seed 002: registration, then 48 h before activating
LIFETIME = 900  # seconds an activation in progress stays open
CODE_TRIES = 3
# Steps of an activation in progress.
CHOOSE, CODES, PASSWORD = "choose", "codes", "password"


@dataclass
class Activation:
    """One person's activation in progress."""

    id_nat: str
    means: tuple[str, ...]
    step: str = CHOOSE
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    mail_code: str = ""
    sms_code: str = ""
    tries_left: int = CODE_TRIES

    def check_csrf(self, token: str) -> bool:
        return hmac.compare_digest(token.encode(), self.csrf.encode())


class ActivationError(Exception):
    """A step refused; the French message says what to do next."""


def refusal(
    practitioner: Practitioner, identity: Identity, *, settings: Settings, now: float
) -> Refusal | None:
    """Why this person cannot activate e-CPS now, or None."""
    if identity.ecps_activated:
        return Refusal(
            "already_activated", "Votre e-CPS est déjà activée : vous pouvez l'utiliser."
        )
    if not in_perimeter(practitioner, settings):
        return Refusal(
            "outside_perimeter",
            "Les étudiants hors du périmètre de Pro Santé Connect ne peuvent pas activer d'e-CPS.",
        )
    opens_at = identity.registered_at + ACTIVATION_DELAY
    if now < opens_at:
        when = datetime.fromtimestamp(opens_at, UTC).strftime("%d/%m/%Y à %H:%M UTC")
        return Refusal(
            "too_early",
            "Votre enregistrement est trop récent : l'activation de l'e-CPS est possible "
            f"48 heures après l'enregistrement au RPPS. Réessayez après le {when}.",
        )
    if not activation_means(practitioner, identity):
        return Refusal("no_means", _NO_MEANS)
    return None


_NO_MEANS = (
    "Aucun moyen d'activation ne vous est ouvert : sans carte CPS, l'activation passe par "
    "un code envoyé par courriel et par SMS aux coordonnées connues de votre ordre. Si "
    "vous n'êtes pas inscrit à votre ordre, inscrivez-vous ; si votre mobile est enregistré "
    "sans indicatif (outre-mer, étranger), faites-le corriger auprès de votre ordre ; ou "
    "demandez une carte CPS."
)


class Activations:
    """Activations in progress, in the store, and the activated state they end with."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def begin(self, practitioner: Practitioner, identity: Identity) -> Activation:
        """A new activation (replacing one in progress) at its first step."""
        activation = Activation(practitioner.id_nat, activation_means(practitioner, identity))
        self._save(activation)
        return activation

    def get(self, id_nat: str) -> Activation | None:
        record = self._store.get(ACTIVATION, id_nat)
        if record is None:
            return None
        value = record.value
        return Activation(**{**value, "means": tuple(value["means"])})

    def send_codes(self, activation: Activation) -> Activation:
        """Mail and SMS codes "sent" to the order's contact data (shown by the mock)."""
        if "mail_sms" not in activation.means:
            raise ActivationError("L'activation par courriel et SMS ne vous est pas ouverte.")
        activation.mail_code = f"{secrets.randbelow(10**6):06d}"
        activation.sms_code = f"{secrets.randbelow(10**6):06d}"
        activation.tries_left, activation.step = CODE_TRIES, CODES
        self._save(activation)
        return activation

    def check_codes(self, activation: Activation, mail_code: str, sms_code: str) -> Activation:
        if activation.step != CODES:
            raise ActivationError("Demandez d'abord l'envoi des codes.")
        right = hmac.compare_digest(mail_code.strip().encode(), activation.mail_code.encode())
        right &= hmac.compare_digest(sms_code.strip().encode(), activation.sms_code.encode())
        if not right:
            activation.tries_left -= 1
            if activation.tries_left <= 0:
                self._store.delete(ACTIVATION, activation.id_nat)
                raise ActivationError(
                    "Codes incorrects trop de fois : l'activation est annulée. Recommencez "
                    "pour recevoir de nouveaux codes."
                )
            self._save(activation)
            raise ActivationError(
                f"Codes incorrects. Il vous reste {activation.tries_left} essai(s)."
            )
        return self._to_password_step(activation)

    def card_verified(self, activation: Activation, holder: Practitioner) -> Activation:
        """The card was authenticated (PIN, signature, chain): it must be this person's."""
        if "card" not in activation.means:
            raise ActivationError("L'activation par carte CPS ne vous est pas ouverte.")
        if holder.id_nat != activation.id_nat:
            raise ActivationError("Cette carte CPS n'est pas la vôtre.")
        return self._to_password_step(activation)

    def choose_password(self, activation: Activation, password: str, confirmation: str) -> str:
        """The last step: returns the password, and activates e-CPS with it."""
        if activation.step != PASSWORD:
            raise ActivationError("Vérifiez d'abord votre identité (codes ou carte CPS).")
        if not (password.isascii() and password.isdigit() and 4 <= len(password) <= 8):
            raise ActivationError("Le mot de passe e-CPS compte de 4 à 8 chiffres.")
        if not hmac.compare_digest(password.encode(), confirmation.encode()):
            raise ActivationError("Les deux mots de passe saisis sont différents.")
        self._activate(activation.id_nat, password)
        self._store.delete(ACTIVATION, activation.id_nat)
        return password

    def _to_password_step(self, activation: Activation) -> Activation:
        activation.step, activation.mail_code, activation.sms_code = PASSWORD, "", ""
        self._save(activation)
        return activation

    def _activate(self, id_nat: str, password: str) -> None:
        values = {"ecps_activated": True, "ecps_password": password}
        if self._store.update(SCENARIO, id_nat, lambda scenario: scenario.update(values)) is None:
            self._store.put(SCENARIO, id_nat, values, owner=SCENARIO)

    def _save(self, activation: Activation) -> None:
        self._store.put(ACTIVATION, activation.id_nat, asdict(activation), ttl=LIFETIME)
