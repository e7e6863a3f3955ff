"""Directory objects → FHIR R4 resources, as the IG "Annuaire Santé" profiles them.

The same :class:`~idp.directory.model.Practitioner` that feeds PSC's claims gives:

- one **Practitioner** (``as-dp-practitioner``): identifiers idNatPs and RPPS, the
  exercise name with civility (prefix) and civilité d'exercice (suffix), one
  ``qualification`` per profession (TRE_G15/R94/R95 + TRE_R09) and per savoir-faire
  (TRE_R04 + TRE_R38 …), the ``as-ext-smartcard`` extension per card of the fixtures;
- one **PractitionerRole** (``as-dp-practitionerrole``) per *distinct* activity: PSC's
  claims repeat an activity under each exercice of the same profession (one per
  savoir-faire), the Annuaire holds one situation d'exercice; codes genre (TRE_R22), mode
  (TRE_R23), fonction or rôle (JDV_J108: TRE_R21, R96, R85), section (TRE_R06);
- one **Organization** (``as-dp-organization``) per structure, deduplicated by structure
  key: the site (entité géographique, or a cabinet registered as entité juridique) with
  its identifiers, name, sign, type, sector (TRE_R02), address and telecom, and, when the
  file gives a FINESS EJ, its legal entity (``partOf``).

Every element is a ``fhir.resources`` R4B model (FHIR 4.0.1 and 4.3.0 agree on these
three resources), so what is served is structurally valid. With ``restricted`` the
``as-dr-*`` profiles are claimed and restricted data is added (birth date, the order's
phone and e-mail).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from fhir.resources.R4B.address import Address
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.contactpoint import ContactPoint
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.fhirprimitiveextension import FHIRPrimitiveExtension
from fhir.resources.R4B.humanname import HumanName
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.meta import Meta
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.period import Period
from fhir.resources.R4B.practitioner import Practitioner as FhirPractitioner
from fhir.resources.R4B.practitioner import PractitionerQualification
from fhir.resources.R4B.practitionerrole import PractitionerRole
from fhir.resources.R4B.reference import Reference

from idp.directory import nomenclatures
from idp.directory.facets import (
    GEOGRAPHICAL_ENTITY,
    departement,
    legal_entity_key,
    structure_key,
    structure_kind,
)
from idp.directory.model import Activite, Exercice, Practitioner
from idp.fhir import ids
from idp.mockdata import Card, Identity

IG_VERSION = "1.2.0-snapshot-2"
FR_CORE_VERSION = "2.2.0"
IG = "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/"
FR_CORE = "https://hl7.fr/ig/fhir/core/StructureDefinition/"
META_SOURCE = "https://annuaire.esante.gouv.fr"
# The bundled extraction's date: when people without a registration date in
# credentials.yaml, and structures, were last updated.
DIRECTORY_UPDATED = datetime(2024, 11, 20, tzinfo=UTC)

IDENTIFIER_TYPE = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
ORGANIZATION_TYPE = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-3307"
IDNPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
IDNST_SYSTEM = "urn:oid:1.2.250.1.71.4.2.2"
RPPS_SYSTEM = "https://rpps.esante.gouv.fr"
FINESS_SYSTEM = "https://finess.esante.gouv.fr"
SIRENE_SYSTEM = "https://sirene.fr"
RPPS_RANG_SYSTEM = "https://rppsrang.esante.gouv.fr"

SMARTCARD = IG + "as-ext-smartcard"
ORGANIZATION_TYPES = IG + "as-ext-organization-types"
INSEE_CODE = FR_CORE + "fr-core-address-insee-code"
ADXP = "http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-"
CARD_TYPES = "TRE_R87-TypeCarte"
COMMUNES = "TRE_R13-Commune"

GEOGRAPHICAL = "GEOGRAPHICAL-ENTITY"
LEGAL = "LEGAL-ENTITY"
PROFESSION_TABLES = ("G15", "R94", "R95")  # JDV_J106/J186: where a profession code lives
ROLE_TABLES = ("R21", "R96", "R85")  # JDV_J108: functions, other functions, roles
# The code system of a savoir-faire, by its type (TRE_R04); types not listed (SH, CM) have
# no table the Annuaire names: their code is given without a system.
SAVOIR_FAIRE_TABLES = {
    "S": "TRE_R38-SpecialiteOrdinale",
    "C": "TRE_R39-Competence",
    "CEX": "TRE_R40-CompetenceExclusive",
    "DNQ": "TRE_R42-DESCnonQualifiant",
    "CAPA": "TRE_R43-CapaciteSavoirFaire",
    "PAC": "TRE_R44-QualificationPAC",
    "FQ": "TRE_R45-FonctionQualifiee",
    "DEC": "TRE_R97-DroitExerciceCompl",
    "OP": "TRE_G13-OrientationParticuliere",
    "SST": "TRE_R359-SurspecialiteTransversale",
}


def nos_system(name: str) -> str:
    """The FHIR code system URL of a NOS table, e.g. ``TRE_R22-GenreActivite``."""
    return f"https://mos.esante.gouv.fr/NOS/{name}/FHIR/{name.replace('_', '-')}"


def table_system(table: str) -> str:
    return nos_system(nomenclatures.name(table))


@dataclass(frozen=True, slots=True)
class Situation:
    """One situation d'exercice (PractitionerRole): a distinct activity of a person."""

    practitioner: Practitioner
    rank: int  # 1-based, in the file's order
    exercice: Exercice
    activite: Activite

    @property
    def id(self) -> str:
        return ids.role_id(self.practitioner.id_nat, self.rank)

    @property
    def structure(self) -> str:
        return structure_key(self.activite)


@dataclass(frozen=True, slots=True)
class Structure:
    """A structure as an activity describes it: a site or cabinet, or the legal entity
    (FINESS EJ) of a site."""

    key: str
    activite: Activite
    legal_entity: bool  # the FINESS EJ's entity, not the site itself

    @property
    def id(self) -> str | None:
        return ids.organization_id(self.key)


def situations(practitioner: Practitioner) -> list[Situation]:
    """The person's distinct activities, ranked in the file's order."""
    seen: set[tuple[str, Activite]] = set()
    found: list[Situation] = []
    for exercice in practitioner.exercices:
        for activite in exercice.activites:
            if (exercice.code_profession, activite) in seen:
                continue
            seen.add((exercice.code_profession, activite))
            found.append(Situation(practitioner, len(found) + 1, exercice, activite))
    return found


def structure_of(practitioner: Practitioner, key: str) -> Structure | None:
    """The structure ``key`` as one of the person's activities describes it."""
    for activite in practitioner.activites:
        if structure_key(activite) == key:
            return Structure(key, activite, legal_entity=False)
    for activite in practitioner.activites:
        if legal_entity_key(activite) == key:
            return Structure(key, activite, legal_entity=True)
    return None


def practitioner_identifiers(practitioner: Practitioner) -> list[tuple[str, str, str]]:
    """(system, type code, value) of the person's identifiers: the idNat always, the RPPS
    number for an RPPS idNat (ADELI, staff and EDIT idNats have no RPPS to show)."""
    found = [(IDNPS_SYSTEM, "IDNPS", practitioner.id_nat)]
    if practitioner.type_identifiant == "8":
        found.append((RPPS_SYSTEM, "RPPS", practitioner.identifiant))
    return found


def structure_identifiers(structure: Structure) -> list[tuple[str, str, str]]:
    """(system, type code, value) of a structure's identifiers."""
    activite = structure.activite
    if structure.legal_entity:
        finess = activite.numero_finess_etablissement_juridique
        return [(IDNST_SYSTEM, "IDNST", "1" + finess), (FINESS_SYSTEM, "FINEJ", finess)]
    national = activite.ancien_identifiant_structure
    if not national and activite.numero_finess_site:
        national = "1" + activite.numero_finess_site
    elif not national and activite.numero_siret_site:
        national = "3" + activite.numero_siret_site
    found = [
        (IDNST_SYSTEM, "IDNST", national),
        (FINESS_SYSTEM, "FINEG", activite.numero_finess_site),
        (SIRENE_SYSTEM, "SIRET", activite.numero_siret_site),
        (SIRENE_SYSTEM, "SIREN", activite.numero_siren_site),
        (RPPS_RANG_SYSTEM, "RPPSRG", activite.identifiant_technique_structure),
    ]
    return [(system, code, value) for system, code, value in found if value]


def shown_cards(identity: Identity) -> list[Card]:
    """The cards the Annuaire lists: not those in opposition (the public profile forbids
    their opposition date, and the fixtures do not record it)."""
    return [card for card in identity.cards if card.status != "opposed" and card.serial.strip()]


class ResourceBuilder:
    """Builds the resources; knows the profile tier, the cards and update times."""

    def __init__(
        self,
        *,
        restricted: bool,
        identity: Callable[[str], Identity],
        updated: Callable[[str], datetime],
    ) -> None:
        self.restricted = restricted
        self._identity = identity
        self._updated = updated

    # Practitioner -----------------------------------------------------------------------

    def practitioner(self, practitioner: Practitioner) -> FhirPractitioner:
        restricted = self.restricted
        extensions = [
            self._smartcard(card) for card in shown_cards(self._identity(practitioner.id_nat))
        ]
        return FhirPractitioner(
            id=ids.practitioner_id(practitioner.id_nat),
            meta=self._meta("practitioner", "fr-core-practitioner", practitioner.id_nat),
            language="fr",
            extension=extensions or None,
            identifier=[
                _identifier(system, code, value)
                for system, code, value in practitioner_identifiers(practitioner)
            ],
            active=True,
            name=[self._name(practitioner)],
            telecom=self._correspondence(practitioner) if restricted else None,
            birthDate=_birth_date(practitioner.date_naissance) if restricted else None,
            qualification=self._qualifications(practitioner) or None,
        )

    def _name(self, practitioner: Practitioner) -> HumanName:
        suffixes = [e.code_civilite_exercice for e in practitioner.exercices]
        given = practitioner.given_name
        return HumanName(
            use="usual",
            family=practitioner.family_name or None,
            given=[given] if given else None,
            prefix=[practitioner.code_civilite] if practitioner.code_civilite else None,
            suffix=list(dict.fromkeys(s for s in suffixes if s)) or None,
        )

    def _qualifications(self, practitioner: Practitioner) -> list[PractitionerQualification]:
        found: dict[tuple[str, ...], list[Coding]] = {}
        for exercice in practitioner.exercices:
            profession_code = _code(exercice.code_profession)
            category = _code(exercice.code_categorie_professionnelle)
            profession = _codings(
                (_table_of(profession_code, PROFESSION_TABLES), profession_code),
                ("R09", category),
            )
            if profession:
                found.setdefault(("exercicePro", profession_code, category), profession)
            kind, code = _code(exercice.code_type_savoir_faire), _code(exercice.code_savoir_faire)
            savoir_faire = _codings(("R04", kind))
            if code:
                table = SAVOIR_FAIRE_TABLES.get(kind)
                savoir_faire.append(
                    Coding(
                        system=nos_system(table) if table else None,
                        code=code,
                        display=_label("R38", code) if kind == "S" else None,
                    )
                )
            if savoir_faire:
                found.setdefault(("savoirFaire", kind, code), savoir_faire)
        return [
            PractitionerQualification(code=CodeableConcept(coding=codings))
            for codings in found.values()
        ]

    def _smartcard(self, card: Card) -> Extension:
        return Extension(
            url=SMARTCARD,
            extension=[
                Extension(
                    url="type",
                    valueCodeableConcept=CodeableConcept(
                        coding=[Coding(system=nos_system(CARD_TYPES), code=card.type)]
                    ),
                ),
                Extension(url="number", valueString=card.serial),
                Extension(url="period", valuePeriod=Period(end=card.not_after)),
            ],
        )

    def _correspondence(self, practitioner: Practitioner) -> list[ContactPoint] | None:
        telecom = []
        if practitioner.telephone:
            telecom.append(ContactPoint(system="phone", value=practitioner.telephone))
        if practitioner.email:
            telecom.append(ContactPoint(system="email", value=practitioner.email))
        return telecom or None

    # PractitionerRole -------------------------------------------------------------------

    def practitioner_role(self, situation: Situation) -> PractitionerRole:
        activite = situation.activite
        id_nat = situation.practitioner.id_nat
        organization = ids.organization_id(situation.structure) if situation.structure else None
        role = _code(activite.code_role)
        codes = [
            CodeableConcept(coding=[coding])
            for coding in _codings(
                ("R22", _code(activite.code_genre_activite)),
                ("R23", _code(activite.code_mode_exercice)),
                (_table_of(role, ROLE_TABLES), role),
                ("R06", _code(activite.code_section_pharmacien)),
            )
        ]
        return PractitionerRole(
            id=situation.id,
            meta=self._meta("practitionerrole", "fr-core-practitioner-role", id_nat),
            language="fr",
            identifier=[
                Identifier(
                    system=RPPS_SYSTEM, value=ids.situation_identifier(id_nat, situation.rank)
                )
            ],
            active=True,
            practitioner=Reference(reference=f"Practitioner/{ids.practitioner_id(id_nat)}"),
            organization=Reference(reference=f"Organization/{organization}")
            if organization
            else None,
            code=codes or None,
        )

    # Organization -----------------------------------------------------------------------

    def organization(self, structure: Structure) -> Organization:
        activite = structure.activite
        legal = structure.legal_entity or structure_kind(activite) != GEOGRAPHICAL_ENTITY
        types = [
            _organization_type(
                "organizationType", ORGANIZATION_TYPE, LEGAL if legal else GEOGRAPHICAL
            )
        ]
        sector = _code(activite.code_secteur_activite)
        if not structure.legal_entity and sector:
            types.append(_organization_type("secteurActiviteRASS", table_system("R02"), sector))
        part_of = None
        if not structure.legal_entity and legal_entity_key(activite):
            parent = ids.organization_id(legal_entity_key(activite))
            part_of = Reference(reference=f"Organization/{parent}") if parent else None
        site = not structure.legal_entity
        alias = activite.enseigne_commerciale_site
        return Organization(
            id=structure.id,
            meta=self._meta("organization", "fr-core-organization", None),
            language="fr",
            identifier=[
                _identifier(system, code, value)
                for system, code, value in structure_identifiers(structure)
            ],
            active=True,
            type=types,
            name=(activite.raison_sociale_site or None) if site else None,
            alias=[alias] if site and alias and alias != activite.raison_sociale_site else None,
            telecom=_structure_telecom(activite) if site else None,
            address=[_address(activite)] if site and _has_address(activite) else None,
            partOf=part_of,
        )

    # ------------------------------------------------------------------------------------

    def _meta(self, kind: str, fr_core: str, id_nat: str | None) -> Meta:
        tier = "dr" if self.restricted else "dp"
        return Meta(
            lastUpdated=self._updated(id_nat) if id_nat else DIRECTORY_UPDATED,
            source=META_SOURCE,
            profile=[
                f"{IG}as-{tier}-{kind}|{IG_VERSION}",
                f"{FR_CORE}{fr_core}|{FR_CORE_VERSION}",
            ],
        )


def _identifier(system: str, type_code: str, value: str) -> Identifier:
    return Identifier(
        use="official",
        type=CodeableConcept(coding=[Coding(system=IDENTIFIER_TYPE, code=type_code)]),
        system=system,
        value=value,
    )


def _table_of(code: str, tables: tuple[str, ...]) -> str:
    """The table of a value set where ``code`` is live, else where it is known, else the
    value set's first table (an unknown code keeps the main system)."""
    for table in tables:
        if nomenclatures.is_known(table, code) and not nomenclatures.is_deprecated(table, code):
            return table
    for table in tables:
        if nomenclatures.is_known(table, code):
            return table
    return tables[0]


def _label(table: str, code: str) -> str | None:
    return nomenclatures.label(table, code) or None


def _code(value: str) -> str:
    """A code as FHIR's ``code`` type allows it: no leading, trailing or double spaces
    (extraction cells are not trimmed)."""
    return " ".join(value.split())


def _codings(*pairs: tuple[str, str]) -> list[Coding]:
    """A coding per (table, code) whose code is not empty."""
    return [
        Coding(system=table_system(table), code=code, display=_label(table, code))
        for table, code in pairs
        if code
    ]


def _organization_type(slice_name: str, system: str, code: str) -> CodeableConcept:
    display = {GEOGRAPHICAL: "Entité géographique", LEGAL: "Entité juridique"}.get(code)
    if display is None and system == table_system("R02"):
        display = _label("R02", code)
    return CodeableConcept(
        extension=[Extension(url=ORGANIZATION_TYPES, valueCode=slice_name)],
        coding=[Coding(system=system, code=code, display=display)],
    )


def _structure_telecom(activite: Activite) -> list[ContactPoint] | None:
    telecom = [
        ContactPoint(system=system, value=value)
        for system, value in (
            ("phone", activite.telephone),
            ("phone", activite.telephone2),
            ("fax", activite.telecopie),
            ("email", activite.adresse_email),
        )
        if value
    ]
    return telecom or None


def _has_address(activite: Activite) -> bool:
    return any(
        (
            activite.libelle_voie,
            activite.code_postal,
            activite.bureau_cedex,
            activite.code_commune,
            activite.mention_distribution,
        )
    )


def _address(activite: Activite) -> Address:
    """The structure's address: one line per part, each tagged with its ISO 21090 part
    (``as-address-extended``), the INSEE commune code as FR Core's extension."""
    lines: list[tuple[str, list[Extension]]] = []
    if activite.complement_destinataire:
        lines.append(
            (activite.complement_destinataire, [_adxp("careOf", activite.complement_destinataire)])
        )
    if activite.complement_point_geographique:
        lines.append(
            (
                activite.complement_point_geographique,
                [_adxp("additionalLocator", activite.complement_point_geographique)],
            )
        )
    street_parts = [
        ("houseNumber", activite.numero_voie),
        ("buildingNumberSuffix", activite.indice_repetition_voie),
        ("streetNameType", activite.code_type_de_voie),
        ("streetNameBase", activite.libelle_voie),
    ]
    street = " ".join(value for _, value in street_parts if value)
    if street:
        lines.append((street, [_adxp(part, value) for part, value in street_parts if value]))
    if activite.mention_distribution:
        lines.append(
            (activite.mention_distribution, [_adxp("postBox", activite.mention_distribution)])
        )
    city = activite.bureau_cedex
    if activite.code_postal and city.startswith(activite.code_postal + " "):
        city = city[len(activite.code_postal) + 1 :]
    commune = _code(activite.code_commune)
    return Address(
        extension=[
            Extension(url=INSEE_CODE, valueCoding=Coding(system=nos_system(COMMUNES), code=commune))
        ]
        if commune
        else None,
        use="work",
        type="both",
        line=[text for text, _ in lines] or None,
        line__ext=[FHIRPrimitiveExtension(extension=parts) for _, parts in lines] or None,
        city=city or None,
        district=departement(activite) or None,
        postalCode=activite.code_postal or None,
        country=activite.code_pays or None,
    )


def _adxp(part: str, value: str) -> Extension:
    return Extension(url=ADXP + part, valueString=value)


def _birth_date(text: str) -> date | None:
    """``dd/MM/yyyy`` (the files' form) as a date; None if absent or malformed."""
    try:
        return datetime.strptime(text, "%d/%m/%Y").date()
    except ValueError:
        return None
