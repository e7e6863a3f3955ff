"""What the index searches on: a person's facets, a structure's, and their FTS5 tokens.

A facet is a (kind, code) pair: the person's profession, role, department, the words of
their names... The index (:mod:`idp.directory.index`) keeps them in two SQLite FTS5
tables, one document per person and one per structure, so that a search among two million
people is an inverted-index lookup and an import writes a few compressed doclists instead
of tens of millions of B-tree rows (measured: 80,000 people's facets in 0.2 s through FTS5
against 3.4 s as rows of a facet table).

Each facet becomes one token: a letter for its kind, then the code's UTF-8 bytes in hex.
Tokens are thus plain ASCII letters and digits, whatever the code holds (accents, dashes,
spaces), and a prefix of a code is a prefix of its token, so ``dup*`` searches work.

Structures (where activities take place) are known through the people who work there: a
person's document holds the keys of their structures (:func:`structure_key`,
:func:`legal_entity_key`); each structure's own document holds its identifiers, the words
of its name and its codes, gathered from every activity that names it.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator

from idp.directory.model import Activite, Practitioner

STRUCTURE = "structure"  # a person works there; code: the structure key
STRUCTURE_ID = "structure-id"  # a structure's identifier (FINESS, SIRET, technical id...)
STRUCTURE_WORD = "structure-word"  # a word of its name or sign
STRUCTURE_CODE = "structure-code"  # its secteur d'activité, or EG / EJ
LEGAL_ENTITY = "EJ"  # entité juridique: a legal entity, or a cabinet known by its rang
GEOGRAPHICAL_ENTITY = "EG"  # entité géographique: a site (FINESS or SIRET)

_KIND_LETTERS = {
    "word": "w",
    "profession": "p",
    "qualification": "q",
    "civilite": "c",
    "role": "r",
    "departement": "d",
    "activite-code": "a",
    STRUCTURE: "s",
    STRUCTURE_ID: "i",
    STRUCTURE_WORD: "n",
    STRUCTURE_CODE: "k",
}
_WORD = re.compile(r"[^\W_]+")

Facets = set[tuple[str, str]]


@functools.lru_cache(maxsize=1 << 16)
def token(kind: str, code: str, *, prefix: bool = False) -> str:
    """The FTS5 query term for a facet: exact, or every code starting with ``code``.

    Cached: codes, departments and names repeat throughout a national file.
    """
    return f"{_KIND_LETTERS[kind]}{code.encode().hex()}{'*' if prefix else ''}"


def tags(facets: Facets) -> str:
    """The FTS5 document of a set of facets (in no particular order: the tables keep no
    positions, ``detail=none``)."""
    return " ".join(token(kind, code) for kind, code in facets)


def person_facets(practitioner: Practitioner) -> Facets:
    """Everything a person is searched by, the keys of their structures included."""
    facets = {("word", word) for name in _names(practitioner) for word in words(name)}
    facets.add(("civilite", _normalize(practitioner.code_civilite)))
    for exercice in practitioner.exercices:
        facets.add(("profession", exercice.code_profession))
        facets.add(("civilite", _normalize(exercice.code_civilite_exercice)))
        for code in (
            exercice.code_profession,
            exercice.code_categorie_professionnelle,
            exercice.code_type_savoir_faire,
            exercice.code_savoir_faire,
        ):
            facets.add(("qualification", code.strip()))
        for activite in exercice.activites:
            facets.add(("role", activite.code_role))
            facets.add(("departement", departement(activite)))
            for code in (
                activite.code_mode_exercice,
                activite.code_genre_activite,
                activite.code_section_pharmacien,
            ):
                facets.add(("activite-code", code.strip()))
            facets.add((STRUCTURE, structure_key(activite)))
            facets.add((STRUCTURE, legal_entity_key(activite)))
    return {(kind, code) for kind, code in facets if code}


def structure_tags(practitioner: Practitioner) -> dict[str, str]:
    """Each structure the person's activities name (by key), with the tokens it is searched
    by: its identifiers, the words of its name and sign, its sector and kind (EG / EJ)."""
    structures: dict[str, str] = {}
    for activite in practitioner.activites:
        for key, facets in _structure_facets(activite):
            found = tags({facet for facet in facets if facet[1]})
            structures[key] = f"{structures[key]} {found}" if key in structures else found
    return structures


def _structure_facets(activite: Activite) -> Iterator[tuple[str, Facets]]:
    key = structure_key(activite)
    if key:
        names = f"{activite.raison_sociale_site} {activite.enseigne_commerciale_site}"
        facets = {(STRUCTURE_ID, value) for value in structure_identifiers(activite)}
        facets |= {(STRUCTURE_WORD, word) for word in words(names)}
        facets.add((STRUCTURE_CODE, activite.code_secteur_activite.strip()))
        facets.add((STRUCTURE_CODE, structure_kind(activite)))
        yield key, facets
    legal = legal_entity_key(activite)
    if legal:
        finess = activite.numero_finess_etablissement_juridique
        yield (
            legal,
            {(STRUCTURE_ID, finess), (STRUCTURE_ID, "1" + finess), (STRUCTURE_CODE, LEGAL_ENTITY)},
        )


def _names(practitioner: Practitioner) -> list[str]:
    names = [practitioner.id_nat, practitioner.nom, *practitioner.prenoms]
    for exercice in practitioner.exercices:
        names += [exercice.nom_exercice, exercice.prenom_exercice]
    return names


def departement(activite: Activite) -> str:
    """The activity's department: its own column, else deduced from the postal code.

    Real rows often leave ``Code département`` empty (PSC's own userinfo sample does).
    Overseas departments have 3 digits (971...); Corsica's postal codes 200xx-201xx are
    2A, 202xx-206xx 2B.
    """
    if activite.code_departement:
        return activite.code_departement
    postal = activite.code_postal
    if len(postal) != 5 or not postal.isdigit():
        return ""
    if postal.startswith("97"):
        return postal[:3]
    if postal.startswith("20"):
        return "2A" if postal < "20200" else "2B"
    return postal[:2]


def structure_key(activite: Activite) -> str:
    """The key of the structure an activity takes place at: its ``Identifiant technique de
    la structure``, else its national structure identifier (``Ancien identifiant de la
    structure``, e.g. ``1`` + FINESS); ``""`` when the activity names no structure."""
    key = activite.identifiant_technique_structure or activite.ancien_identifiant_structure
    return key if _is_key(key) else ""


def legal_entity_key(activite: Activite) -> str:
    """The key of the legal entity (entité juridique) of the activity's structure, when the
    file gives its FINESS EJ: ``EJ`` + FINESS EJ; ``""`` otherwise."""
    finess = activite.numero_finess_etablissement_juridique
    return LEGAL_ENTITY + finess if finess and _is_key(finess) else ""


def structure_kind(activite: Activite) -> str:
    """:data:`GEOGRAPHICAL_ENTITY` for a site (it has a FINESS or a SIRET), else
    :data:`LEGAL_ENTITY`: a cabinet known only by its RPPS/ADELI rang is registered as an
    entité juridique (the Annuaire's own example ``pp19dp-organization-ej-cab``)."""
    if activite.numero_finess_site or activite.numero_siret_site:
        return GEOGRAPHICAL_ENTITY
    return LEGAL_ENTITY


def structure_identifiers(activite: Activite) -> list[str]:
    """Every identifier of the activity's structure the file gives, in the file's order."""
    values = (
        activite.identifiant_technique_structure,
        activite.ancien_identifiant_structure,
        activite.numero_finess_site,
        activite.numero_siret_site,
        activite.numero_siren_site,
    )
    return list(dict.fromkeys(value.strip() for value in values if value.strip()))


def _is_key(value: str) -> bool:
    """Whether a value can be a structure key (it names an FHIR Organization): non-empty,
    without spaces."""
    return bool(value) and " " not in value


@functools.lru_cache(maxsize=1 << 16)
def words(text: str) -> tuple[str, ...]:
    """Lowercase words without accents, split on anything but letters and digits, so that
    "Jean-Marc" is "jean" and "marc" and "HÉLÈNE" is "helene": the index keeps these.

    Cached: a national file has two million rows and far fewer names.
    """
    return tuple(_WORD.findall(_normalize(text)))


def fold(text: str) -> str:
    """``text`` as the index compares it: lowercase, accents removed."""
    return _normalize(text)


@functools.lru_cache(maxsize=65536)
def _normalize(text: str) -> str:
    """Cached: names, streets and establishments repeat throughout a national file."""
    if text.isascii():  # most are: nothing to decompose (0.1 µs against 1 to 3 µs)
        return text.casefold()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()
