"""Who may log in with e-CPS, and what to tell those who may not.

PSC refuses a login before any push when the person is unknown to it, outside its
perimeter, or has no activated e-CPS. These rules, and how someone could activate their
e-CPS, come from the seeds (000: nurses and the order's data; 002: 24 h / 48 h
propagation) and the e-CPS FAQ (students, ADELI professions). Messages are French: they
are shown to the person on the login page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from idp.directory.identifiers import diagnose_login_input
from idp.directory.model import Exercice, Practitioner
from idp.mockdata import Identity
from idp.settings import Settings

NURSE = "60"
STUDENT_CATEGORY = "E"
# Students inside PSC's perimeter: internes in medicine, pharmacy, odontology, and
# midwifery students (esante.gouv.fr e-CPS FAQ).
INTERNE_PROFESSIONS = frozenset({"10", "21", "40"})
MIDWIFE = "50"
DOM_DEPARTMENTS = (
    "971",
    "972",
    "973",
    "974",
    "975",
    "976",
    "977",
    "978",
    "984",
    "986",
    "987",
    "988",
)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a login cannot start, for the person (French) and for logs (a short code)."""

    code: str
    message: str


def check_ecps_login(
    typed: str,
    practitioner: Practitioner | None,
    identity: Identity | None,
    *,
    settings: Settings,
    now: float,
) -> Refusal | None:
    if practitioner is None or identity is None:
        hint = diagnose_login_input(typed)
        message = "Cet identifiant national n'est pas connu de Pro Santé Connect."
        if hint:
            message += " " + hint
        else:
            message += " Vérifiez votre saisie ou votre inscription dans l'Annuaire Santé."
        return Refusal("unknown_id_nat", message)
    known_from = identity.registered_at + settings.propagation_delay
    if now < known_from:
        when = datetime.fromtimestamp(known_from, UTC).strftime("%d/%m/%Y à %H:%M UTC")
        return Refusal(
            "not_propagated",
            "Vos données ne sont pas encore arrivées à Pro Santé Connect : après "
            "l'enregistrement au RPPS, elles mettent au moins 48 heures. "
            f"Réessayez après le {when}.",
        )
    if not in_perimeter(practitioner, settings):
        return Refusal(
            "outside_perimeter",
            "Les étudiants ne sont pas dans le périmètre de Pro Santé Connect, à "
            "l'exception des internes (médecine, pharmacie, odontologie) et des étudiants "
            "sages-femmes."
            if settings.interns_in_perimeter
            else "Les étudiants, internes compris, ne sont pas dans le périmètre de "
            "Pro Santé Connect.",
        )
    if not identity.ecps_activated:
        return Refusal(
            "ecps_not_activated",
            "Votre e-CPS n'est pas activée. " + activation_advice(practitioner, identity),
        )
    return None


def in_perimeter(practitioner: Practitioner, settings: Settings) -> bool:
    """At least one exercice is not a student's, or is a student's PSC accepts."""
    return any(_exercice_in_perimeter(e, settings) for e in practitioner.exercices)


def _exercice_in_perimeter(exercice: Exercice, settings: Settings) -> bool:
    if exercice.code_categorie_professionnelle != STUDENT_CATEGORY:
        return True
    if exercice.code_profession == MIDWIFE:
        return True
    return settings.interns_in_perimeter and exercice.code_profession in INTERNE_PROFESSIONS


def activation_means(practitioner: Practitioner, identity: Identity) -> tuple[str, ...]:
    """How this person could activate e-CPS: ``card``, ``mail_sms``, or nothing.

    Seed 000: card-holding nurses must use their card; nurses not registered with their
    order cannot use mail/SMS; an ADELI-enriched mobile (10 digits, no country code)
    cannot receive the SMS in the DOM or abroad. e-CPS FAQ: ADELI professions activate
    with a physical card only.
    """
    means = []
    has_card = any(card.status == "active" for card in identity.cards)
    if has_card:
        means.append("card")
    if _can_use_mail_sms(practitioner, identity, has_card):
        means.append("mail_sms")
    return tuple(means)


def _can_use_mail_sms(practitioner: Practitioner, identity: Identity, has_card: bool) -> bool:
    order = identity.order
    if practitioner.type_identifiant == "0":  # ADELI
        return False
    if has_card and any(e.code_profession == NURSE for e in practitioner.exercices):
        return False
    if not (order.registered and order.email and order.mobile):
        return False
    return order.mobile.startswith("+") or not _outside_metropole(practitioner)


def _outside_metropole(practitioner: Practitioner) -> bool:
    for activite in practitioner.activites:
        if activite.code_departement.startswith(DOM_DEPARTMENTS) or activite.code_postal.startswith(
            "97"
        ):
            return True
        if activite.code_pays not in ("", "99000", "99100"):
            return True
    return False


def activation_advice(practitioner: Practitioner, identity: Identity) -> str:
    means = activation_means(practitioner, identity)
    if means == ("card",):
        return (
            "Activez-la avec votre carte CPS physique, depuis l'application e-CPS "
            "(l'activation par courriel et SMS ne vous est pas ouverte)."
        )
    if means == ("mail_sms",):
        return (
            "Activez-la depuis l'application e-CPS avec le code reçu par courriel et par "
            "SMS, aux coordonnées connues de votre ordre."
        )
    if means:
        return (
            "Activez-la depuis l'application e-CPS avec votre carte CPS, ou par courriel "
            "et SMS aux coordonnées connues de votre ordre."
        )
    return (
        "Aucun moyen d'activation ne vous est ouvert aujourd'hui : mettez à jour vos "
        "coordonnées auprès de votre ordre (mobile avec indicatif pour l'outre-mer et "
        "l'étranger), ou demandez une carte CPS."
    )
