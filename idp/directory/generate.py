"""Synthetic national extractions: millions of fictional professionals, in the real format.

Teams want to test against a directory the size of the real one (about two million
activity rows) without downloading it. The rows are built from the bundled fixtures' own
activities (so every code combination is one the loaders accept), with the shares of the
real directory: professions, liberal or salaried practice, departments (DOM included),
one to three activities per person, establishments shared by many people. Identifiers are
valid (Luhn keys) and in fictional ranges that cannot meet real ones nor the fixtures':
RPPS ``997…``, SIRET/SIREN ``999…``, FINESS with a letter (``35B…``) as test FINESS are.
The same seed gives the same file.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from idp.directory.identifiers import luhn_key
from idp.directory.loaders import LAYOUTS

LAYOUT = next(layout for layout in LAYOUTS if layout.name == "extraction-2024")
COLUMN = {name: index for index, name in enumerate(LAYOUT.columns)}
FIRST_RPPS = 1_000_000  # generated RPPS serials start above the fixtures' (99700100xxx)


def _words(paragraph: str) -> list[str]:
    return paragraph.split()


# Shares of the real directory (RPPS + ADELI, 2024 orders of magnitude), by profession code.
PROFESSION_SHARES = {
    "60": 0.36,  # infirmiers
    "10": 0.27,  # médecins
    "21": 0.09,  # pharmaciens
    "70": 0.07,  # masseurs-kinésithérapeutes
    "40": 0.04,  # chirurgiens-dentistes
    "50": 0.02,  # sages-femmes
    "91": 0.02,
    "93": 0.02,
    "94": 0.02,
    "96": 0.02,
    "98": 0.02,
}
# Departments weighted roughly by population; the five DOM about 3 %.
DEPARTMENTS = (
    ["75"] * 8
    + ["13"] * 6
    + ["69"] * 6
    + ["59"] * 7
    + ["33"] * 5
    + ["31"] * 4
    + ["44"] * 4
    + ["35"] * 3
    + ["67"] * 3
    + ["34"] * 3
    + ["06"] * 3
    + ["92"] * 5
    + ["93"] * 5
    + ["94"] * 4
    + [f"{n:02d}" for n in range(1, 96) if n != 20]
    + ["2A", "2B", "971", "972", "973", "974", "976"]
)
FAMILY_NAMES = _words(
    "MARTIN BERNARD THOMAS PETIT ROBERT RICHARD DURAND DUBOIS MOREAU LAURENT SIMON MICHEL "
    "LEFEBVRE LEROY ROUX DAVID BERTRAND MOREL FOURNIER GIRARD BONNET DUPONT LAMBERT FONTAINE "
    "ROUSSEAU VINCENT MULLER LEFEVRE FAURE ANDRE MERCIER BLANC GUERIN BOYER GARNIER CHEVALIER "
    "FRANCOIS LEGRAND GAUTHIER GARCIA PERRIN ROBIN CLEMENT MORIN NICOLAS HENRY ROUSSEL MATHIEU "
    "GAUTIER MASSON MARCHAND DUVAL DENIS DUMONT MARIE LEMAIRE NOEL MEYER DUFOUR MEUNIER BRUN "
    "BLANCHARD GIRAUD JOLY RIVIERE LUCAS BRUNET GAILLARD BARBIER ARNAUD MARTINEZ GERARD ROCHE "
    "RENARD SCHMITT ROY LEROUX COLIN VIDAL CARON PICARD ROGER FABRE AUBERT LEMOINE RENAUD DUMAS"
)
GIVEN_NAMES = _words(
    "Marie Jean Pierre Michel Nathalie Isabelle Sylvie Catherine Philippe Nicolas Christophe "
    "Sophie Julie Camille Thomas Julien Aurélie Céline Sandrine Laurent Stéphane Sébastien "
    "Émilie Claire Anne Hélène Antoine Alexandre Mathieu Caroline Valérie Olivier Frédéric "
    "Élodie Laetitia Virginie David Vincent Guillaume Maxime Léa Manon Chloé Hugo Lucas Inès "
    "Sarah Emma Louis Paul Zoé Yasmine Karim Mehdi Fatima Nadia Thierry Pascal Patrick Agnès"
)
ESTABLISHMENTS = ("CENTRE HOSPITALIER", "CLINIQUE", "EHPAD", "CENTRE DE SANTÉ")
STREETS = ("R", "AV", "BD", "PL", "CHE", "IMP", "ALL", "QU")
STREET_NAMES = (
    "DE LA RÉPUBLIQUE",
    "VICTOR HUGO",
    "JEAN JAURÈS",
    "DU GÉNÉRAL DE GAULLE",
    "PASTEUR",
    "DES LILAS",
    "DE LA GARE",
    "NATIONALE",
    "DU MOULIN",
    "DES ÉCOLES",
    "SAINT-MARTIN",
)


@dataclass(frozen=True, slots=True)
class _Activity:
    """A fixture activity row (codes only), the template of generated ones."""

    fields: tuple[str, ...]
    liberal: bool
    profession: str


@dataclass(slots=True)
class _Structure:
    siret: str
    siren: str
    finess_site: str
    finess_ej: str
    technical_id: str
    name: str
    departement: str
    postal_code: str
    commune: str


def generate(out: TextIO, rows: int, *, seed: int = 0, fixtures: Path) -> int:
    """Write a header and ``rows`` activity rows; returns the number of people."""
    out.write("|".join(LAYOUT.columns) + "|\n")
    people = 0
    for person_rows in _people(rows, random.Random(seed), _templates(fixtures)):
        out.writelines("|".join(row) + "|\n" for row in person_rows)
        people += 1
    return people


def _templates(fixtures: Path) -> dict[str, list[_Activity]]:
    """The fixtures' RPPS activities by profession: their codes are known to be valid."""
    by_profession: dict[str, list[_Activity]] = {}
    for path in sorted(fixtures.glob("*.txt")):
        header, *lines = path.read_text(encoding="utf-8").splitlines()
        names = header.split("|")
        for line in lines:
            row = dict(zip(names, line.split("|"), strict=False))
            profession = row.get("Code profession", "")
            if row["Type d'identifiant PP"] != "8" or profession not in PROFESSION_SHARES:
                continue
            fields = tuple(row.get(column, "") for column in LAYOUT.columns)
            liberal = row.get("Code mode exercice", "") == "L"
            by_profession.setdefault(profession, []).append(_Activity(fields, liberal, profession))
    return by_profession


def _people(total_rows: int, rng: random.Random, templates) -> Iterator[list[list[str]]]:
    professions = [code for code in PROFESSION_SHARES if code in templates]
    weights = [PROFESSION_SHARES[code] for code in professions]
    establishments = [_structure(rng, n, salaried=True) for n in range(max(50, total_rows // 60))]
    sectors: dict[str, str] = {}  # an establishment's sector, from the first person placed there
    written = 0
    serial = FIRST_RPPS
    while written < total_rows:
        profession = rng.choices(professions, weights)[0]
        count = min(total_rows - written, rng.choices((1, 2, 3), (0.8, 0.15, 0.05))[0])
        serial += 1
        yield _person(rng, serial, templates[profession], count, establishments, sectors)
        written += count


def _person(rng, serial: int, templates: list[_Activity], count: int, establishments, sectors):
    body = f"997{serial:07d}"
    rpps = body + str(luhn_key(body))
    family, given = rng.choice(FAMILY_NAMES), rng.choice(GIVEN_NAMES)
    birth = f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(1950, 1999)}"
    rows = []
    for _ in range(count):
        template = rng.choice(templates)
        row = list(template.fields)
        row[COLUMN["Identifiant PP"]] = rpps
        row[COLUMN["Identification nationale PP"]] = "8" + rpps
        row[COLUMN["Nom de famille"]] = family
        row[COLUMN["Prénoms"]] = given + "''"
        row[COLUMN["Nom d'exercice"]] = family
        row[COLUMN["Prénom d'exercice"]] = given
        row[COLUMN["Date de naissance"]] = birth
        email = f"{given}.{family}.{serial}@example.org".lower()
        row[COLUMN["Adresse e-mail (coord. correspondance)"]] = email
        row[COLUMN["Téléphone (coord. correspondance)"]] = f"+336{serial % 10**8:08d}"
        row[COLUMN["Autres identifiants"]] = f"8{rpps},RPPS,1"
        if template.liberal:
            structure = _structure(rng, serial, salaried=False)
        else:
            structure = rng.choice(establishments)
            sector = COLUMN["Code secteur d'activité"]
            row[sector] = sectors.setdefault(structure.technical_id, row[sector])
        _place(row, structure, rng)
        rows.append(row)
    return rows


def _structure(rng: random.Random, number: int, *, salaried: bool) -> _Structure:
    departement = rng.choice(DEPARTMENTS)
    siren_body = f"999{number % 10**5:05d}"
    siren = siren_body + str(luhn_key(siren_body))
    siret_body = siren + f"{number // 10**5 % 10**4:04d}"
    siret = siret_body + str(luhn_key(siret_body))
    prefix = departement[:2].replace("2A", "20").replace("2B", "20")
    finess = f"{prefix}B{number % 10**6:06d}"
    overseas = len(departement) == 3
    commune = (
        f"{departement}{rng.randint(1, 30):02d}"
        if overseas
        else f"{prefix}{rng.randint(1, 400):03d}"
    )
    postal_code = (
        f"{departement}{rng.randint(0, 9)}0" if overseas else f"{prefix}{rng.randint(0, 99):02d}0"
    )
    kind = rng.choice(ESTABLISHMENTS) if salaried else "CABINET"
    name = f"{kind} {rng.choice(FAMILY_NAMES)}"
    return _Structure(
        siret=siret if not salaried or rng.random() < 0.5 else "",
        siren=siren,
        finess_site=finess if salaried else "",
        finess_ej=f"{prefix}B{(number + 500_000) % 10**6:06d}" if salaried else "",
        technical_id=("F" + finess) if salaried else ("C" + siret),
        name=name,
        departement=departement,
        postal_code=postal_code,
        commune=commune,
    )


def _place(row: list[str], structure: _Structure, rng: random.Random) -> None:
    row[COLUMN["Numéro SIRET site"]] = structure.siret
    row[COLUMN["Numéro SIREN site"]] = structure.siren if structure.siret else ""
    row[COLUMN["Numéro FINESS site"]] = structure.finess_site
    row[COLUMN["Numéro FINESS établissement juridique"]] = structure.finess_ej
    row[COLUMN["Identifiant technique de la structure"]] = structure.technical_id
    row[COLUMN["Raison sociale site"]] = structure.name
    row[COLUMN["Enseigne commerciale site"]] = structure.name
    row[COLUMN["Numéro Voie (coord. structure)"]] = str(rng.randint(1, 150))
    row[COLUMN["Code type de voie (coord. structure)"]] = rng.choice(STREETS)
    row[COLUMN["Libellé Voie (coord. structure)"]] = rng.choice(STREET_NAMES)
    row[COLUMN["Bureau cedex (coord. structure)"]] = f"{structure.postal_code} VILLE"
    row[COLUMN["Code postal (coord. structure)"]] = structure.postal_code
    row[COLUMN["Code commune (coord. structure)"]] = structure.commune
    row[COLUMN["Code département (coord. structure)"]] = structure.departement
    row[COLUMN["Ancien identifiant de la structure"]] = ""
