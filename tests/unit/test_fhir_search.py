"""Search parameters → index lookups + exact tests, key paging both ways, includes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from idp.app import BUNDLED_FIXTURES
from idp.directory.index import Directory
from idp.fhir.resources import ResourceBuilder
from idp.fhir.search import (
    ORGANIZATION,
    PRACTITIONER,
    ROLE,
    Engine,
    Query,
    SearchError,
    last_updated,
    parse,
    parse_date,
    parse_token,
    string_matches,
)
from idp.mockdata import MockData

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC).timestamp()
R21 = "https://mos.esante.gouv.fr/NOS/TRE_R21-Fonction/FHIR/TRE-R21-Fonction"


@pytest.fixture(scope="module")
def directory() -> Directory:
    return Directory.from_fixtures(BUNDLED_FIXTURES / "annuaire")


@pytest.fixture(scope="module")
def mockdata() -> MockData:
    return MockData.load(Path(BUNDLED_FIXTURES), now=NOW)


@pytest.fixture
def search(directory, mockdata):
    def run(resource_type: str, query: str = "", **options) -> list[str]:
        page = engine(directory, mockdata).search(parsed(resource_type, query, mockdata))
        return [e.id for e in page.matches + (page.included if options.get("all") else [])]

    return run


def engine(directory: Directory, mockdata: MockData) -> Engine:
    builder = ResourceBuilder(
        restricted=False,
        identity=mockdata.identity,
        updated=lambda id_nat: last_updated(mockdata, id_nat),
    )
    return Engine(directory, builder)


def parsed(resource_type: str, query: str, mockdata: MockData) -> Query:
    pairs = [tuple(part.split("=", 1)) for part in query.split("&") if part]
    return parse(resource_type, pairs, mockdata=mockdata)


# Parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource_type", "query", "status", "fragment"),
    [
        (PRACTITIONER, "foo=1", 400, "Unknown search parameter 'foo'"),
        (PRACTITIONER, "role=FON-01", 400, "Unknown search parameter 'role'"),
        (ORGANIZATION, "family=X", 400, "Unknown search parameter 'family'"),
        (PRACTITIONER, "identifier:exact=1", 400, "Modifier ':exact'"),
        (PRACTITIONER, "family:missing=true", 400, "Modifier ':missing'"),
        (PRACTITIONER, "_count=0", 400, "_count"),
        (PRACTITIONER, "_count=ten", 400, "_count"),
        (PRACTITIONER, "active=yes", 400, "true or false"),
        (PRACTITIONER, "_lastUpdated=2024-13-01", 400, "Invalid date"),
        (PRACTITIONER, "_lastUpdated=ap2024", 400, "Invalid date"),
        (PRACTITIONER, "_lastUpdated=yesterday", 400, "Invalid date"),
        (PRACTITIONER, "_include=PractitionerRole:organization", 400, "must start from"),
        (PRACTITIONER, "_revinclude=PractitionerRole:organization", 400, "must refer to"),
        (PRACTITIONER, "_include=Patient:link", 400, "supported are"),
        (ROLE, "_include=PractitionerRole:practitioner:Organization", 400, "refers to"),
        (ROLE, "_include:reverse=PractitionerRole:practitioner", 400, "Modifier"),
        (PRACTITIONER, "_after=003-899700100011&_before=003-899700100029", 400, "cannot"),
        (PRACTITIONER, "_after=001-F35B000017", 400, "not a Practitioner id"),
        (PRACTITIONER, "_format=xml", 406, "JSON only"),
        (PRACTITIONER, "_sort=family", 400, "Unknown search parameter '_sort'"),
    ],
)
def test_bad_queries_are_refused_with_a_reason(mockdata, resource_type, query, status, fragment):
    with pytest.raises(SearchError) as caught:
        parsed(resource_type, query, mockdata)
    assert caught.value.status == status
    assert fragment in caught.value.diagnostics


def test_counts_are_capped_and_empty_values_ignored(mockdata):
    assert parsed(PRACTITIONER, "_count=5000", mockdata).count == 1000
    assert parsed(PRACTITIONER, "family=&given=", mockdata).tests == []


def test_tokens():
    assert parse_token("10") == (None, "10")
    assert parse_token("https://x|10") == ("https://x", "10")
    assert parse_token("|10") == ("", "10")
    assert parse_token("https://x|") == ("https://x", None)


def test_strings_start_with_ignoring_case_and_accents_unless_exact_or_contains():
    assert string_matches("", "HÉLÈNE", "hel")
    assert not string_matches("", "HÉLÈNE", "lene")
    assert string_matches("contains", "HÉLÈNE", "lène")
    assert string_matches("exact", "HÉLÈNE", "HÉLÈNE")
    assert not string_matches("exact", "HÉLÈNE", "helene")
    assert not string_matches("", None, "a")


def test_dates_stand_for_the_interval_of_their_precision():
    instant = datetime(2024, 3, 15, 10, 30, tzinfo=UTC)
    assert parse_date("2024")(instant) and parse_date("2024-03")(instant)
    assert parse_date("2024-03-15")(instant) and not parse_date("2024-03-16")(instant)
    assert parse_date("ge2024-03-15")(instant) and not parse_date("gt2024-03-15")(instant)
    assert parse_date("gt2024-03-14")(instant) and parse_date("sa2024-03-14")(instant)
    assert parse_date("le2024-03-15")(instant) and not parse_date("lt2024-03-15")(instant)
    assert parse_date("eb2025")(instant) and parse_date("ne2023")(instant)
    assert parse_date("2024-03-15T10:30")(instant)
    assert parse_date("2024-03-15T11:30:00+01:00")(instant)  # same instant, other zone
    assert not parse_date("2024-03-15T10:30:01Z")(instant)
    assert parse_date("2024-12")(datetime(2024, 12, 31, 23, 59, tzinfo=UTC))


# Searching the fixtures -----------------------------------------------------------------


def test_identifier_finds_a_person_by_rpps_or_id_nat_with_or_without_system(search):
    doctor = ["003-899700100045"]
    assert search(PRACTITIONER, "identifier=99700100045") == doctor
    assert search(PRACTITIONER, "identifier=899700100045") == doctor
    assert search(PRACTITIONER, "identifier=https://rpps.esante.gouv.fr|99700100045") == doctor
    assert search(PRACTITIONER, "identifier=urn:oid:1.2.250.1.71.4.2.1|899700100045") == doctor
    assert search(PRACTITIONER, "identifier=https://rpps.esante.gouv.fr|899700100045") == []
    assert search(PRACTITIONER, "identifier=|99700100045") == []  # no identifier lacks a system
    assert search(PRACTITIONER, "identifier=335B000017/CPET00001") == ["003-335B000017-CPET00001"]
    both = search(PRACTITIONER, "identifier=99700100045,00B9400027")
    assert both == ["003-00B9400027", "003-899700100045"]


def test_names_qualifications_cards_and_ids(search):
    assert search(PRACTITIONER, "family=lefeb") == ["003-899700100045"]
    assert search(PRACTITIONER, "family=antoine") == []  # a given name is not a family
    assert search(PRACTITIONER, "given=hélène") == ["003-899700100037"]
    assert search(PRACTITIONER, "name=helene") == ["003-899700100037"]
    assert search(PRACTITIONER, "family:exact=Lefebvre") == []
    assert search(PRACTITIONER, "family:exact=LEFEBVRE") == ["003-899700100045"]
    assert search(PRACTITIONER, "family:contains=febv") == ["003-899700100045"]
    professors = search(PRACTITIONER, "name=PR")
    assert professors == ["003-899700100052"]  # civilité d'exercice, as a name suffix
    cardiologists = search(PRACTITIONER, "qualification-code=SM04")
    assert cardiologists == ["003-899700100045"]
    r38 = (
        "https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale"
    )
    assert search(PRACTITIONER, f"qualification-code={r38}|SM04") == cardiologists
    assert search(PRACTITIONER, "qualification-code=https://other|SM04") == []
    pharmacists = search(PRACTITIONER, "qualification-code=21")
    assert pharmacists == [
        "003-899700100185",
        "003-899700100193",
        "003-899700100201",
        "003-899700100219",
    ]
    assert search(PRACTITIONER, "number-smartcard=2800100045") == ["003-899700100045"]
    assert search(PRACTITIONER, "_id=003-899700100045,003-bogus") == ["003-899700100045"]
    assert search(PRACTITIONER, "active=false") == []
    everyone = len(Directory.from_fixtures(BUNDLED_FIXTURES / "annuaire"))
    assert len(search(PRACTITIONER, "active=true&_count=100")) == everyone


def test_last_updated_follows_the_registration_dates(search):
    assert search(PRACTITIONER, "_lastUpdated=ge2025-05-31") == ["003-899700100094"]  # -12h
    recent = search(PRACTITIONER, "_lastUpdated=ge2024-01-01&_count=100")
    assert "003-899700100334" in recent and "003-899700100045" not in recent
    assert search(ORGANIZATION, "_lastUpdated=lt2024") == []
    assert len(search(ORGANIZATION, "_lastUpdated=2024-11-20&_count=100")) > 20


def test_roles_by_practitioner_organization_role_and_identifier(search):
    assert search(ROLE, "practitioner=Practitioner/003-899700100045") == [
        "005-899700100045-1",
        "005-899700100045-2",
    ]
    assert search(ROLE, "practitioner=003-899700100045&organization=001-F35B000017") == [
        "005-899700100045-2"
    ]
    at_chu = search(ROLE, "organization=Organization/001-F35B000017&_count=100")
    assert len(at_chu) == 8 and "005-899700100045-2" in at_chu
    assert search(ROLE, "identifier=899700100045-2") == ["005-899700100045-2"]
    assert search(ROLE, "role=313") == ["005-899700100334-1"]
    assert search(ROLE, f"role={R21}|FON-37") == ["005-899700100201-1"]
    assert search(ROLE, "role=A") == ["005-899700100185-1"]  # section A
    assert search(ROLE, "_id=005-899700100060-3") == ["005-899700100060-3"]
    assert search(ROLE, "practitioner=Organization/001-F35B000017") == []


def test_organizations_by_identifier_name_and_type(search):
    chu = ["001-F35B000017"]
    assert search(ORGANIZATION, "identifier=35B000017") == chu
    assert search(ORGANIZATION, "identifier=https://finess.esante.gouv.fr|35B000017") == chu
    assert search(ORGANIZATION, "identifier=urn:oid:1.2.250.1.71.4.2.2|135B000017") == chu
    assert search(ORGANIZATION, "identifier=https://sirene.fr|35B000017") == []
    assert search(ORGANIZATION, "identifier=35B000009") == ["001-EJ35B000009"]
    assert search(ORGANIZATION, "name=chu") == chu
    assert search(ORGANIZATION, "name=hôpital universitaire") == chu  # the sign (alias)
    assert search(ORGANIZATION, "name:contains=tilleuls") == [
        "001-F35B000017",
        "001-F35B000025",
    ]
    hospitals = search(ORGANIZATION, "type=SA01")
    assert "001-F35B000017" in hospitals and "001-R10100099000011" not in hospitals
    legal = search(ORGANIZATION, "type=LEGAL-ENTITY&_count=100")
    assert "001-R10100099000011" in legal and "001-EJ35B000009" in legal
    assert "001-F35B000017" not in legal
    assert search(ORGANIZATION, "_id=001-F35B000017") == chu
    assert search(ORGANIZATION, "_id=001-nothing") == []


@pytest.mark.parametrize("resource_type", [PRACTITIONER, ROLE, ORGANIZATION])
def test_pages_forward_and_backward_are_the_whole_list(directory, mockdata, resource_type):
    run = engine(directory, mockdata)
    everything = [e.id for e in run.search(parsed(resource_type, "_count=1000", mockdata)).matches]
    assert len(everything) == len(set(everything)) > 20
    pages, after = [], ""
    while True:
        query = parsed(resource_type, f"_count=7{after}", mockdata)
        page = run.search(query)
        pages.append([e.id for e in page.matches])
        assert page.has_previous == bool(after)
        if not page.has_next:
            break
        after = f"&_after={page.matches[-1].id}"
    assert [i for page in pages for i in page] == everything
    backward, before = [], f"&_before={pages[-1][0]}"
    while True:
        page = run.search(parsed(resource_type, f"_count=7{before}", mockdata))
        backward.insert(0, [e.id for e in page.matches])
        assert page.has_next
        if not page.has_previous:
            break
        before = f"&_before={page.matches[0].id}"
    assert [i for page in backward for i in page] == everything[: -len(pages[-1])]


def test_includes_and_revincludes(search):
    person = "identifier=99700100045"
    assert search(PRACTITIONER, f"{person}&_revinclude=PractitionerRole:practitioner", all=1) == [
        "003-899700100045",
        "005-899700100045-1",
        "005-899700100045-2",
    ]
    everything = search(
        PRACTITIONER,
        f"{person}&_revinclude=PractitionerRole:practitioner"
        "&_include:iterate=PractitionerRole:organization&_include:iterate=Organization:partof",
        all=1,
    )
    assert everything[3:] == ["001-C99900007800140", "001-F35B000017", "001-EJ35B000009"]
    assert search(ROLE, "identifier=899700100045-2&_include=*", all=1) == [
        "005-899700100045-2",
        "003-899700100045",
        "001-F35B000017",
    ]
    staff = search(
        ORGANIZATION, "identifier=67B000010&_revinclude=PractitionerRole:organization", all=1
    )
    assert staff == ["001-F67B000010", "005-899700100094-1", "005-899700100284-1"]
    sites = search(ORGANIZATION, "identifier=35B000009&_revinclude=Organization:partof", all=1)
    assert sites == ["001-EJ35B000009", "001-F35B000017", "001-F35B000025"]


def test_reads(directory, mockdata):
    run = engine(directory, mockdata)
    assert run.read(PRACTITIONER, "003-899700100045").resource.id == "003-899700100045"
    assert run.read(ROLE, "005-899700100045-2").resource.organization.reference.endswith(
        "F35B000017"
    )
    assert run.read(ROLE, "005-899700100045-3") is None
    assert run.read(ORGANIZATION, "001-EJ35B000009").resource.name is None
    assert run.read(PRACTITIONER, "899700100045") is None
    assert run.read(ORGANIZATION, "001-UNKNOWN") is None
