"""Directory objects → FHIR resources, as the IG "Annuaire Santé" profiles them."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.practitionerrole import PractitionerRole

from idp.app import BUNDLED_FIXTURES
from idp.directory.index import Directory
from idp.fhir.resources import (
    DIRECTORY_UPDATED,
    FINESS_SYSTEM,
    IDNPS_SYSTEM,
    IDNST_SYSTEM,
    RPPS_RANG_SYSTEM,
    RPPS_SYSTEM,
    SIRENE_SYSTEM,
    SMARTCARD,
    ResourceBuilder,
    nos_system,
    situations,
    structure_of,
)
from idp.mockdata import MockData

DP = "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-dp-"
DR = "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-dr-"
FR_CORE = "https://hl7.fr/ig/fhir/core/StructureDefinition/"
R38 = nos_system("TRE_R38-SpecialiteOrdinale")


@pytest.fixture(scope="module")
def directory() -> Directory:
    return Directory.from_fixtures(BUNDLED_FIXTURES / "annuaire")


@pytest.fixture(scope="module")
def mockdata() -> MockData:
    return MockData.load(Path(BUNDLED_FIXTURES), now=1_700_000_000)


def builder(mockdata: MockData, *, restricted: bool = False) -> ResourceBuilder:
    return ResourceBuilder(
        restricted=restricted, identity=mockdata.identity, updated=lambda _: DIRECTORY_UPDATED
    )


def codings(concepts) -> set[tuple[str, str]]:
    return {(c.system, c.code) for concept in concepts or () for c in concept.coding}


def test_every_fixture_person_gives_resources_that_parse_back(directory, mockdata):
    """What is served is what fhir.resources validates, and reads back identical."""
    build = builder(mockdata)
    for person in directory.all():
        resources = [build.practitioner(person)]
        for situation in situations(person):
            resources.append(build.practitioner_role(situation))
            if situation.structure:
                resources.append(build.organization(structure_of(person, situation.structure)))
        for resource in resources:
            data = resource.model_dump(mode="json", exclude_none=True)
            again = type(resource).model_validate(data)
            assert again.model_dump(mode="json", exclude_none=True) == data


def test_practitioner_identifiers_name_and_profile(directory, mockdata):
    resource = builder(mockdata).practitioner(directory.get("899700100052"))
    assert resource.id == "003-899700100052"
    assert resource.meta.profile == [
        f"{DP}practitioner|1.2.0-snapshot-2",
        f"{FR_CORE}fr-core-practitioner|2.2.0",
    ]
    assert resource.meta.source == "https://annuaire.esante.gouv.fr"
    assert [(i.system, i.type.coding[0].code, i.value) for i in resource.identifier] == [
        (IDNPS_SYSTEM, "IDNPS", "899700100052"),
        (RPPS_SYSTEM, "RPPS", "99700100052"),
    ]
    (name,) = resource.name
    assert (name.family, name.given, name.prefix, name.suffix) == (
        "GIRARD",
        ["Sophie"],
        ["MME"],
        ["PR"],  # civilité d'exercice: professeure
    )
    assert resource.active is True
    assert resource.birthDate is None and resource.telecom is None  # restricted data


@pytest.mark.parametrize(
    ("id_nat", "codes"),
    [
        ("00B9400027", ["IDNPS"]),  # ADELI: no RPPS number to show
        ("335B000017/CPET00001", ["IDNPS"]),
        ("ANS20240315093000", ["IDNPS"]),
    ],
)
def test_a_person_without_rpps_number_has_their_id_nat_only(directory, mockdata, id_nat, codes):
    resource = builder(mockdata).practitioner(directory.get(id_nat))
    assert [i.type.coding[0].code for i in resource.identifier] == codes
    assert resource.identifier[0].value == id_nat


def test_qualifications_give_profession_category_and_each_savoir_faire(directory, mockdata):
    resource = builder(mockdata).practitioner(directory.get("899700100078"))  # SM26 + SM53
    profession, *savoir_faire = [codings([q.code]) for q in resource.qualification]
    assert profession == {
        (nos_system("TRE_G15-ProfessionSante"), "10"),
        (nos_system("TRE_R09-CategorieProfessionnelle"), "C"),
    }
    assert savoir_faire == [
        {(nos_system("TRE_R04-TypeSavoirFaire"), "S"), (R38, "SM26")},
        {(nos_system("TRE_R04-TypeSavoirFaire"), "S"), (R38, "SM53")},
    ]


def test_profession_codes_take_the_table_where_they_live(directory, mockdata):
    psychologist = builder(mockdata).practitioner(directory.get("899700100326"))
    assert (nos_system("TRE_R95-UsagerTitre"), "93") in codings(
        [q.code for q in psychologist.qualification]
    )  # deprecated in TRE_G15, live in TRE_R95
    role_only = builder(mockdata).practitioner(directory.get("899700100334"))
    assert role_only.qualification is None  # RPPS+: a role, no profession
    student = builder(mockdata).practitioner(directory.get("899700100383"))
    assert codings([q.code for q in student.qualification]) == {
        (nos_system("TRE_R09-CategorieProfessionnelle"), "E")
    }


def test_smartcards_come_from_the_card_fixtures_but_not_opposed_ones(directory, mockdata):
    build = builder(mockdata)
    (card,) = build.practitioner(directory.get("899700100011")).extension
    assert card.url == SMARTCARD
    parts = {sub.url: sub for sub in card.extension}
    assert set(parts) == {"type", "number", "period"}  # DP: no oppositionDate
    assert parts["type"].valueCodeableConcept.coding[0].code == "CPS"
    assert parts["type"].valueCodeableConcept.coding[0].system == nos_system("TRE_R87-TypeCarte")
    assert parts["number"].valueString == "2800100011"
    assert parts["period"].valuePeriod.end == date(2045, 12, 31)
    assert build.practitioner(directory.get("899700100102")).extension is None  # opposed
    assert build.practitioner(directory.get("899700100300")).extension  # locked: still a card
    staff = build.practitioner(directory.get("335B000017/CPET00001")).extension
    assert staff[0].extension[0].valueCodeableConcept.coding[0].code == "CPE"


def test_restricted_data_only_with_the_dr_profiles(directory, mockdata):
    resource = builder(mockdata, restricted=True).practitioner(directory.get("899700100011"))
    assert resource.meta.profile[0] == f"{DR}practitioner|1.2.0-snapshot-2"
    assert resource.birthDate is not None
    assert {t.system for t in resource.telecom} == {"phone", "email"}
    role = builder(mockdata, restricted=True).practitioner_role(
        situations(directory.get("899700100011"))[0]
    )
    assert role.meta.profile[0] == f"{DR}practitionerrole|1.2.0-snapshot-2"


def test_one_role_per_distinct_activity(directory):
    assert len(situations(directory.get("899700100078"))) == 1  # two exercices, one activity
    assert len(situations(directory.get("899700100060"))) == 3
    assert situations(directory.get("899700100102")) == []  # exercice without activity
    ranks = [s.rank for s in situations(directory.get("899700100045"))]
    assert ranks == [1, 2]


def test_practitioner_role_codes_references_and_identifier(directory, mockdata):
    build = builder(mockdata)
    liberal, salaried = (
        build.practitioner_role(s) for s in situations(directory.get("899700100045"))
    )
    assert liberal.id == "005-899700100045-1"
    assert [(i.system, i.value) for i in liberal.identifier] == [(RPPS_SYSTEM, "899700100045-1")]
    assert liberal.practitioner.reference == "Practitioner/003-899700100045"
    assert liberal.organization.reference == "Organization/001-C99900007800140"
    assert codings(liberal.code) == {
        (nos_system("TRE_R22-GenreActivite"), "GENR01"),
        (nos_system("TRE_R23-ModeExercice"), "L"),
        (nos_system("TRE_R21-Fonction"), "FON-02"),
    }
    assert salaried.organization.reference == "Organization/001-F35B000017"
    pharmacist = build.practitioner_role(situations(directory.get("899700100185"))[0])
    assert (nos_system("TRE_R06-SectionTableauCNOP"), "A") in codings(pharmacist.code)
    carer = build.practitioner_role(situations(directory.get("899700100334"))[0])
    assert (nos_system("TRE_R85-RolePriseCharge"), "313") in codings(carer.code)
    assert carer.period is None and carer.specialty is None  # DP forbids them


def test_a_hospital_site_and_its_legal_entity(directory, mockdata):
    build = builder(mockdata)
    nurse = directory.get("899700100250")
    site = build.organization(structure_of(nurse, "F35B000017"))
    assert site.id == "001-F35B000017"
    assert [(i.system, i.type.coding[0].code, i.value) for i in site.identifier] == [
        (IDNST_SYSTEM, "IDNST", "135B000017"),
        (FINESS_SYSTEM, "FINEG", "35B000017"),
        (RPPS_RANG_SYSTEM, "RPPSRG", "F35B000017"),
    ]
    assert codings(site.type) == {
        ("https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-3307", "GEOGRAPHICAL-ENTITY"),
        (nos_system("TRE_R02-SecteurActivite"), "SA01"),
    }
    assert [t.extension[0].valueCode for t in site.type] == [
        "organizationType",
        "secteurActiviteRASS",
    ]
    assert (site.name, site.alias) == ("CHU DES TILLEULS", ["HÔPITAL UNIVERSITAIRE DES TILLEULS"])
    assert site.partOf.reference == "Organization/001-EJ35B000009"
    (address,) = site.address
    assert (address.city, address.postalCode, address.district) == ("RENNES CEDEX 9", "35033", "35")
    assert address.line == ["SITE NORD", "2 R HENRI LE GUILLOUX"]
    assert address.extension[0].valueCoding.code == "35238"
    legal = build.organization(structure_of(nurse, "EJ35B000009"))
    assert [(i.type.coding[0].code, i.value) for i in legal.identifier] == [
        ("IDNST", "135B000009"),
        ("FINEJ", "35B000009"),
    ]
    assert legal.type[0].coding[0].code == "LEGAL-ENTITY" and legal.name is None


def test_a_cabinet_is_a_legal_entity_and_a_siret_site_has_siret_and_siren(directory, mockdata):
    build = builder(mockdata)
    cabinet = build.organization(structure_of(directory.get("899700100011"), "R10100099000011"))
    assert cabinet.type[0].coding[0].code == "LEGAL-ENTITY"
    assert cabinet.type[1].coding[0].code == "SA07"
    assert cabinet.partOf is None
    scp = build.organization(structure_of(directory.get("899700100029"), "C99900001100125"))
    assert scp.type[0].coding[0].code == "GEOGRAPHICAL-ENTITY"
    assert [(i.system, i.type.coding[0].code) for i in scp.identifier] == [
        (IDNST_SYSTEM, "IDNST"),
        (SIRENE_SYSTEM, "SIRET"),
        (SIRENE_SYSTEM, "SIREN"),
        (RPPS_RANG_SYSTEM, "RPPSRG"),
    ]


def test_resources_are_the_r4b_models(directory, mockdata):
    person = directory.get("899700100045")
    build = builder(mockdata)
    assert isinstance(build.practitioner(person), Practitioner)
    assert isinstance(build.practitioner_role(situations(person)[0]), PractitionerRole)
    assert isinstance(build.organization(structure_of(person, "F35B000017")), Organization)


def test_untrimmed_cells_still_give_valid_codes(directory, mockdata):
    """Extraction cells are not trimmed: a code with stray spaces must not break a
    resource (FHIR's ``code`` forbids them)."""
    person = directory.get("899700100045")
    exercice = person.exercices[0]
    activite = replace(
        exercice.activites[0],
        code_role=" FON-02 ",
        code_secteur_activite="SA08  ",
        code_commune=" ",
    )
    messy = replace(
        person,
        exercices=(
            replace(exercice, code_savoir_faire="SM04 ", activites=(activite,)),
            *person.exercices[1:],
        ),
    )
    build = builder(mockdata)
    qualification = build.practitioner(messy).qualification
    assert (R38, "SM04") in codings([q.code for q in qualification])
    role = build.practitioner_role(situations(messy)[0])
    assert (nos_system("TRE_R21-Fonction"), "FON-02") in codings(role.code)
    site = build.organization(structure_of(messy, "C99900007800140"))
    assert site.type[1].coding[0].code == "SA08"
    assert site.address[0].extension is None
