"""Identifier rules of the Annuaire Santé: check digits, idNat forms, login hints.

Which rules are errors and which are only warnings follows ``reference/annuaire-and-cps.md``
§A4: Luhn on RPPS, FINESS, SIREN and SIRET is checked (verified or checked against real
numbers), the ADELI key is not (uncertain), so :func:`check_adeli_key` is kept apart for
callers to treat as a warning. Messages are French: they reach fixture authors and, through
:func:`diagnose_login_input`, people typing their identifier on the login page.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

IdNatKind = Literal["RPPS", "ADELI", "FINESS_STAFF", "SIRET_STAFF", "EDIT"]

LA_POSTE_SIREN = "356000000"
EDIT_PREFIX = "ANS"

_ADELI = re.compile(r"[0-9A-Z]{2}[0-9]{7}")  # department (2A, 2B, test "0B"...) + 7 digits
_FINESS = re.compile(r"[0-9A-Z]{9}")
_STAFF_SUFFIX = re.compile(r"[A-Za-z0-9]+")
_EXPECTED_FORMS = (
    "8 + RPPS (12 chiffres), 0 + ADELI (10 caractères), 3 + FINESS + / + identifiant, "
    "5 + SIRET + / + identifiant, ou ANS + horodatage (EDIT)"
)
# The otherIds origin of each form: the TRE_G08 type name, as PSC spells it.
_ORIGINE: dict[IdNatKind, str] = {
    "RPPS": "RPPS",
    "ADELI": "ADELI",
    "FINESS_STAFF": "FINESS",
    "SIRET_STAFF": "SIRET",
    "EDIT": "EDIT",
}


class IdentifierError(ValueError):
    """An identifier breaks a verified rule; the message says which, in French."""


class IdNatError(IdentifierError):
    """A national identifier (idNat) is malformed: unknown form, wrong length or key."""


@dataclass(frozen=True, slots=True)
class IdNat:
    """A national identifier split as the extraction files split it.

    ``type_identifiant`` is the TRE_G08 digit ("" for EDIT) and ``identifiant`` what
    follows it (the whole idNat for EDIT), as in the ``Type d'identifiant PP`` and
    ``Identifiant PP`` columns.
    """

    kind: IdNatKind
    type_identifiant: str
    identifiant: str
    id_nat: str

    @property
    def origine(self) -> str:
        """The ``origine`` PSC gives this identifier in ``otherIds``."""
        return _ORIGINE[self.kind]


_DOUBLED = {str(d): (2 * d - 9 if d > 4 else 2 * d) for d in range(10)}  # Luhn's doubling
_PLAIN = {str(d): d for d in range(10)}


def luhn_key(digits: str) -> int:
    """The Luhn key to append to ``digits`` (a number written without its key)."""
    doubled = sum(map(_DOUBLED.__getitem__, digits[::-2]))  # from the right, every other
    total = doubled + sum(map(_PLAIN.__getitem__, digits[-2::-2]))
    return (10 - total % 10) % 10


def luhn_valid(number: str) -> bool:
    """Whether ``number`` (key included) passes Luhn; False for anything but digits."""
    return number.isascii() and number.isdigit() and luhn_key(number[:-1]) == int(number[-1])


def check_rpps(value: str) -> None:
    """An RPPS number is 11 digits with a Luhn key."""
    _check_digits(value, 11, "RPPS")
    if not luhn_valid(value):
        raise IdentifierError(_bad_key("RPPS", value))


def check_finess(value: str) -> None:
    """A FINESS number is 9 characters; Luhn applies unless it holds letters (test FINESS)."""
    if not _FINESS.fullmatch(value):
        raise IdentifierError(
            "un numéro FINESS compte 9 chiffres ou lettres majuscules : "
            f"« {value} » n'en est pas un"
        )
    if value.isdigit() and not luhn_valid(value):
        raise IdentifierError(_bad_key("FINESS", value))


def check_siren(value: str) -> None:
    """A SIREN number is 9 digits with a Luhn key."""
    _check_digits(value, 9, "SIREN")
    if not luhn_valid(value):
        raise IdentifierError(_bad_key("SIREN", value))


def check_siret(value: str) -> None:
    """A SIRET is 14 digits; Luhn holds on all 14 and on its SIREN, except at La Poste.

    La Poste's establishments share SIREN 356000000; a SIRET of theirs that fails Luhn is
    still valid when its digits add up to a multiple of 5 (INSEE rule quoted by
    ``InseeFrLab/validinsee``).
    """
    _check_digits(value, 14, "SIRET")
    if value.startswith(LA_POSTE_SIREN):
        if not luhn_valid(value) and sum(map(int, value)) % 5:
            raise IdentifierError(
                f"SIRET de La Poste « {value} » invalide : il ne respecte pas l'algorithme "
                "de Luhn et la somme de ses chiffres n'est pas un multiple de 5"
            )
        return
    if not luhn_valid(value[:9]):
        raise IdentifierError(
            _bad_key("SIREN", value[:9]) + f" (9 premiers chiffres du SIRET {value})"
        )
    if not luhn_valid(value):
        raise IdentifierError(_bad_key("SIRET", value))


def check_adeli(value: str) -> None:
    """An ADELI number: department (2) + profession (2) + serial (4) + key (1)."""
    if not _ADELI.fullmatch(value):
        raise IdentifierError(
            f"un numéro ADELI compte 9 caractères (département, 2 chiffres de profession, "
            f"4 de rang, 1 de clé) : « {value} » n'en est pas un"
        )


def check_adeli_key(value: str) -> None:
    """Luhn on an all-digit ADELI number: observed on real numbers, never documented.

    Callers report a failure as a warning, not an error (reference §A4, [U]).
    """
    if value.isdigit() and not luhn_valid(value):
        raise IdentifierError(
            f"clé ADELI douteuse : « {value} » ne respecte pas l'algorithme de Luhn "
            "(règle observée, non documentée)"
        )


@functools.lru_cache(maxsize=256)
def parse_id_nat(text: str) -> IdNat:
    """Split an idNat into its parts, or raise :class:`IdNatError` saying what is wrong.

    Exact and case-sensitive, as PSC's ``SubjectNameID``: no trimming, no case folding.
    Cached for the few calls in a row that a person's rows cost an import (checked, then
    parsed, then indexed): with :func:`~idp.directory.loaders.parse_autres_identifiants`'s
    cache, 6 % of the import's parsing time (measured on 40,000 rows).
    """
    if not text:
        raise IdNatError("identifiant national vide")
    if text.startswith(EDIT_PREFIX):
        return _parse_edit(text)
    parser = _PARSERS.get(text[0])
    if parser is None:
        raise IdNatError(f"« {text} » n'a aucune forme d'identifiant national : {_EXPECTED_FORMS}")
    try:
        return parser(text)
    except IdNatError:
        raise
    except IdentifierError as error:
        raise IdNatError(f"identifiant national « {text} » : {error}") from None


def diagnose_login_input(text: str) -> str | None:
    """A French hint about what is wrong with an identifier typed on the login page.

    None when ``text`` is a well-formed idNat (whether the person exists is another
    question). Otherwise the likeliest fix: the missing ``8`` before an RPPS number (the
    most common mistake, per the ANS FAQ), spaces, a lowercase ``ans``, the missing ``0``
    before an ADELI number; failing those, what :func:`parse_id_nat` objects.
    """
    try:
        parse_id_nat(text)
    except IdNatError as error:
        problem = str(error)
    else:
        return None
    compact = "".join(text.split())
    for fix, hint in _LOGIN_FIXES:
        candidate = fix(compact)
        if candidate is not None:
            return _hint(candidate, hint)
    if compact != text:
        return _hint(compact, "Votre identifiant national s'écrit sans espace : essayez {}.")
    return _sentence(problem)


def _hint(candidate: str, hint: str) -> str:
    """The hint if the fixed input is well formed, else what is still wrong with it."""
    try:
        parse_id_nat(candidate)
    except IdNatError as error:
        return _sentence(str(error))
    return hint.format(candidate)


def _sentence(message: str) -> str:
    return message[0].upper() + message[1:] + "."


def _rpps_without_8(compact: str) -> str | None:
    return "8" + compact if re.fullmatch(r"[0-9]{11}", compact) else None


def _lowercase_ans(compact: str) -> str | None:
    prefix = compact[: len(EDIT_PREFIX)]
    if prefix.upper() == EDIT_PREFIX and prefix != EDIT_PREFIX:
        return EDIT_PREFIX + compact[len(EDIT_PREFIX) :]
    return None


def _adeli_without_0(compact: str) -> str | None:
    return "0" + compact if _ADELI.fullmatch(compact) else None


_LOGIN_FIXES = (
    (
        _rpps_without_8,
        "Votre identifiant national commence par 8 suivi de vos 11 chiffres RPPS : essayez {}.",
    ),
    (_lowercase_ans, "Un identifiant EDIT commence par ANS en majuscules : essayez {}."),
    (_adeli_without_0, "Un numéro ADELI se saisit précédé de 0 : essayez {}."),
)


def _parse_rpps(text: str) -> IdNat:
    if len(text) != 12:
        raise IdNatError(
            f"un identifiant national RPPS s'écrit 8 suivi des 11 chiffres RPPS "
            f"(12 caractères) : « {text} » en compte {len(text)}"
        )
    check_rpps(text[1:])
    return IdNat("RPPS", "8", text[1:], text)


def _parse_adeli(text: str) -> IdNat:
    check_adeli(text[1:])
    return IdNat("ADELI", "0", text[1:], text)


def _parse_finess_staff(text: str) -> IdNat:
    finess = _staff_structure(text, "FINESS")
    check_finess(finess)
    return IdNat("FINESS_STAFF", "3", text[1:], text)


def _parse_siret_staff(text: str) -> IdNat:
    siret = _staff_structure(text, "SIRET")
    check_siret(siret)
    return IdNat("SIRET_STAFF", "5", text[1:], text)


def _staff_structure(text: str, structure: str) -> str:
    """The structure number of a staff idNat ``<type><number>/<id in its register>``."""
    number, slash, suffix = text[1:].partition("/")
    if not slash or not _STAFF_SUFFIX.fullmatch(suffix):
        raise IdNatError(
            f"un identifiant national de personnel s'écrit {text[0]} + {structure} + / + "
            f"identifiant (lettres et chiffres) : « {text} » ne suit pas cette forme"
        )
    return number


def _parse_edit(text: str) -> IdNat:
    if not _is_timestamp(text[len(EDIT_PREFIX) :]):
        raise IdNatError(
            f"un identifiant EDIT s'écrit ANS suivi de sa date de création aaaammjjhhmmss "
            f"(14 chiffres) : « {text} » ne suit pas cette forme"
        )
    return IdNat("EDIT", "", text, text)


def _is_timestamp(stamp: str) -> bool:
    if not re.fullmatch(r"[0-9]{14}", stamp):
        return False
    try:
        datetime.strptime(stamp, "%Y%m%d%H%M%S")
    except ValueError:
        return False
    return True


_PARSERS = {
    "8": _parse_rpps,
    "0": _parse_adeli,
    "3": _parse_finess_staff,
    "5": _parse_siret_staff,
}


def _check_digits(value: str, length: int, name: str) -> None:
    if not (len(value) == length and value.isascii() and value.isdigit()):
        raise IdentifierError(
            f"un numéro {name} compte {length} chiffres : « {value} » n'en est pas un"
        )


def _bad_key(name: str, value: str) -> str:
    return f"clé de contrôle {name} invalide : « {value} » ne respecte pas l'algorithme de Luhn"
