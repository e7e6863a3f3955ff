"""The SQLite directory: lookups, search, edits, on-disk indexes, threads."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from idp.directory.codec import decode, encode, from_json, to_json
from idp.directory.facets import (
    LEGAL_ENTITY,
    STRUCTURE,
    STRUCTURE_CODE,
    STRUCTURE_ID,
    STRUCTURE_WORD,
    departement,
    legal_entity_key,
    structure_key,
    structure_kind,
)
from idp.directory.identifiers import IdNatError, luhn_key
from idp.directory.index import IDNAT, Directory, DirectoryIndexError, Match
from idp.directory.loaders import DirectoryFileError, Issue
from idp.directory.model import Activite, Exercice, Practitioner

DATA = Path(__file__).parents[1] / "data" / "annuaire"
FIXTURES = Path(__file__).parents[2] / "fixtures" / "annuaire"
DOCTOR = "899700200019"


@pytest.fixture(scope="module")
def fixtures() -> Directory:
    return Directory.from_fixtures(FIXTURES)


@pytest.fixture
def small() -> Directory:
    return Directory.from_paths(
        [DATA / "extraction_2021.txt", DATA / "extraction_2024.txt", DATA / "libreacces_56.txt"]
    )


def practitioner(number: int, *, nom: str = "TEST", profession: str = "10") -> Practitioner:
    body = f"997{number:07d}"
    rpps = body + str(luhn_key(body))
    activite = Activite(code_mode_exercice="L", code_postal="75009")
    exercice = Exercice(code_profession=profession, nom_exercice=nom, activites=(activite,))
    return Practitioner(f"8{rpps}", "8", rpps, nom=nom, exercices=(exercice,))


def ids(people: list[Practitioner]) -> list[str]:
    return [p.id_nat for p in people]


def test_get_is_exact_and_case_sensitive(small: Directory) -> None:
    assert small.get(DOCTOR).nom == "LECLERC"
    assert small.get("ANS20231105120000") is not None
    assert small.get("ans20231105120000") is None
    assert small.get(DOCTOR + " ") is None
    assert small.get("335B000017/CPET00009").identifiant == "35B000017/CPET00009"


def test_search_ignores_case_and_accents_on_names_and_id_nat(small: Directory) -> None:
    assert ids(small.search("vallee")) == ["899700200027"]
    assert ids(small.search("VALLÉE")) == ["899700200027"]
    assert ids(small.search("cpet00009")) == ["335B000017/CPET00009"]
    assert ids(small.search("335B000017/CPET")) == ["335B000017/CPET00009"]
    assert ids(small.search("89970020001")) == [DOCTOR]
    assert ids(small.search("hugo leclerc")) == [DOCTOR, "899700200050"]
    assert small.search("hugo roy") == []


def test_search_words_are_prefixes_and_carry_no_wildcards(small: Directory) -> None:
    assert ids(small.search("lec")) == [DOCTOR, "899700200050"]
    assert ids(small.search("lec%")) == ids(small.search("lec"))
    assert small.search("eclerc") == []  # the start of a word, not any substring
    assert ids(small.search("-  ;")) == ids(small.search())  # no word: no text filter


def test_search_filters_on_profession_role_and_departement(small: Directory) -> None:
    assert ids(small.search(profession="96")) == ["0359600426", "0359600772"]
    assert ids(small.search(role="313")) == ["899700200043"]
    assert ids(small.search("leclerc", role="FON-33")) == [DOCTOR]
    assert ids(small.search(departement="35", profession="10")) == [
        DOCTOR,
        "899700200050",
        "899700200035",
    ]
    assert ids(small.search(departement="971")) == ["0359600772"]  # from its postal code 97100


def test_search_sorts_by_name_and_honours_the_limit(small: Directory) -> None:
    names = [p.family_name for p in small.search()]
    assert names == sorted(names, key=str.casefold)
    assert len(small.search(limit=2)) == 2


def test_all_pages_through_everyone_in_id_order() -> None:
    directory = Directory.memory()
    directory.put_many(practitioner(n) for n in range(1200))
    everyone = ids(list(directory.all()))
    assert len(everyone) == len(directory) == 1200
    assert everyone == sorted(everyone)


def test_put_replaces_a_person_and_their_facets(small: Directory) -> None:
    doctor = small.get(DOCTOR)
    nurse = replace(doctor, exercices=(replace(doctor.exercices[0], code_profession="60"),))
    small.put(nurse)
    assert small.get(DOCTOR) == nurse
    assert DOCTOR in ids(small.search(profession="60"))
    assert DOCTOR not in ids(small.search(profession="10"))


def test_put_refuses_a_malformed_id_nat_and_stores_nothing(small: Directory) -> None:
    before = len(small)
    bad = Practitioner("899700200018", "8", "99700200018")
    with pytest.raises(IdNatError):
        small.put_many([practitioner(1), bad])
    assert len(small) == before
    assert small.get(practitioner(1).id_nat) is None


def test_remove_forgets_a_person(small: Directory) -> None:
    assert small.remove(DOCTOR) is True
    assert small.get(DOCTOR) is None
    assert DOCTOR not in ids(small.search(role="FON-33"))
    assert small.remove(DOCTOR) is False


def empty_keys(value: object) -> set[str]:
    if isinstance(value, dict):
        keys = {key for key, item in value.items() if item in ("", [])}
        return keys.union(*(empty_keys(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(empty_keys(item) for item in value))
    return set()


def test_json_round_trip_keeps_every_fixture_person_and_drops_defaults(
    fixtures: Directory,
) -> None:
    for person in fixtures.all():
        text = to_json(person)
        assert from_json(text) == person
        assert decode(encode(person)) == person  # the index's own, positional, row
        assert empty_keys(json.loads(text)) <= {"type_identifiant"}  # required, "" for EDIT


def test_a_person_in_two_files_is_an_error_naming_both(tmp_path: Path) -> None:
    shutil.copy(DATA / "extraction_2021.txt", tmp_path / "a.txt")
    shutil.copy(DATA / "extraction_2021.txt", tmp_path / "b.txt")
    with pytest.raises(DirectoryFileError) as raised:
        Directory.from_fixtures(tmp_path)
    first = raised.value.issues[0]
    assert (first.file, first.line, first.value) == (str(tmp_path / "b.txt"), 2, DOCTOR)
    assert f"figure déjà dans {tmp_path / 'a.txt'}" in first.reason
    assert len(raised.value.issues) == 3


def test_fixtures_with_an_error_are_refused(tmp_path: Path) -> None:
    shutil.copy(DATA / "malformed" / "rpps_key.txt", tmp_path / "x.txt")
    with pytest.raises(DirectoryFileError, match="clé de contrôle RPPS"):
        Directory.from_fixtures(tmp_path)


def test_the_bundled_fixtures_load_well_under_100_ms() -> None:
    Directory.from_fixtures(FIXTURES)  # warm the imports and nomenclatures
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        Directory.from_fixtures(FIXTURES)
        timings.append(time.perf_counter() - start)
    assert min(timings) < 0.1


def test_an_on_disk_index_is_built_by_streaming_and_opened_later(tmp_path: Path) -> None:
    index_file = tmp_path / "annuaire.sqlite"
    issues: list[Issue] = []
    directory = Directory.create(index_file)
    summary = directory.import_file(DATA / "extraction_2021.txt", on_issue=issues.append)
    assert (summary.layout, summary.people, summary.errors, summary.warnings) == (
        "extraction-2021",
        4,  # the doctor's rows come in two runs
        0,
        0,
    )
    directory.close()
    reopened = Directory.open(index_file)
    assert len(reopened) == 3
    assert len(reopened.get(DOCTOR).activites) == 2  # the two runs merged
    assert issues == []


def test_importing_again_replaces_instead_of_doubling(tmp_path: Path) -> None:
    directory = Directory.create(tmp_path / "annuaire.sqlite")
    directory.import_file(DATA / "extraction_2021.txt")
    directory.import_file(DATA / "extraction_2021.txt")
    assert len(directory.get(DOCTOR).activites) == 2


def test_import_skips_bad_lines_and_counts_them(tmp_path: Path) -> None:
    issues: list[Issue] = []
    directory = Directory.create(tmp_path / "annuaire.sqlite")
    summary = directory.import_file(DATA / "malformed" / "siret_key.txt", on_issue=issues.append)
    assert (summary.people, summary.errors) == (1, 1)
    assert [(i.line, i.column) for i in issues] == [(3, "Numéro SIRET site")]


def test_opening_checks_the_file(tmp_path: Path) -> None:
    with pytest.raises(DirectoryIndexError, match="introuvable"):
        Directory.open(tmp_path / "absent.sqlite")
    Directory.create(tmp_path / "annuaire.sqlite").close()
    with pytest.raises(FileExistsError):
        Directory.create(tmp_path / "annuaire.sqlite")
    stale = tmp_path / "stale.sqlite"
    sqlite3.connect(stale).close()
    with pytest.raises(ValueError, match="reconstruisez"):
        Directory.open(stale)


def test_threads_can_share_one_directory(fixtures: Directory) -> None:
    directory = Directory.memory()
    everyone = list(fixtures.all())
    directory.put_many(everyone)

    def work(n: int) -> int:
        person = everyone[n % len(everyone)]
        directory.put(practitioner(900_000 + n))
        assert directory.get(person.id_nat) == person
        return len(directory.search(person.family_name))

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(found >= 1 for found in pool.map(work, range(400)))
    assert len(directory) == len(everyone) + 400


@pytest.mark.parametrize(
    ("code_departement", "code_postal", "expected"),
    [
        ("35", "75009", "35"),
        ("", "75009", "75"),
        ("", "97410", "974"),
        ("", "20090", "2A"),
        ("", "20200", "2B"),
        ("", "", ""),
        ("", "7500", ""),
    ],
)
def test_departement_prefers_its_column_then_the_postal_code(
    code_departement: str, code_postal: str, expected: str
) -> None:
    activite = Activite(code_departement=code_departement, code_postal=code_postal)
    assert departement(activite) == expected


# find / structures: the query path of the FHIR API ---------------------------------------

CHU = "F35B000017"  # the bundled fixtures' university hospital (FINESS 35B000017)


def test_find_matches_every_group_and_any_match_of_a_group(fixtures: Directory) -> None:
    both = [Match(IDNAT, "899700100045"), Match(IDNAT, "899700100011")]
    assert ids(fixtures.find([both])) == ["899700100011", "899700100045"]
    cardiologists = [Match("qualification", "SM04")]
    assert ids(fixtures.find([both, cardiologists])) == ["899700100045"]
    assert fixtures.find([[]]) == []  # an empty group matches nobody
    assert ids(fixtures.find([both], exclude=["899700100011"])) == ["899700100045"]
    word = [Match("word", "lefeb", prefix=True)]
    assert ids(fixtures.find([word])) == ["899700100045"]


def test_find_is_the_search_by_structure(fixtures: Directory) -> None:
    at_chu = ids(fixtures.find([[Match(STRUCTURE, CHU)]], limit=100))
    assert at_chu == sorted(at_chu) and len(at_chu) == 8
    assert "899700100045" in at_chu  # the cardiologist's second activity
    assert all(
        any(structure_key(a) == CHU for a in fixtures.get(id_nat).activites) for id_nat in at_chu
    )
    legal = [Match(STRUCTURE, LEGAL_ENTITY + "35B000009")]  # the CHU's FINESS EJ
    group = ids(fixtures.find([legal], limit=100))  # its sites: the CHU and its IFSI
    assert group == sorted([*at_chu, "899700100383"])


def test_find_pages_by_id_nat_both_ways(fixtures: Directory) -> None:
    everyone = ids(fixtures.find(limit=1000))
    assert everyone == sorted(everyone) == sorted(p.id_nat for p in fixtures.all())
    assert ids(fixtures.find(after=everyone[9], limit=5)) == everyone[10:15]
    assert ids(fixtures.find(before=everyone[10], limit=5)) == everyone[5:10]
    assert ids(fixtures.find(before=everyone[2], limit=5)) == everyone[:2]
    with pytest.raises(ValueError):
        fixtures.find(after="a", before="b")


def test_structures_are_found_by_identifier_name_and_code(fixtures: Directory) -> None:
    assert fixtures.structures([[Match(STRUCTURE_ID, "35B000017")]]) == [CHU]  # FINESS
    assert fixtures.structures([[Match(STRUCTURE_ID, "135B000017")]]) == [CHU]  # idNatSt
    assert fixtures.structures([[Match(STRUCTURE_ID, CHU)]]) == [CHU]  # technical id
    assert fixtures.structures([[Match(STRUCTURE_ID, "35B00001")]]) == []  # exact only
    assert fixtures.structures([[Match(STRUCTURE_ID, "35B000009")]]) == ["EJ35B000009"]
    assert CHU in fixtures.structures([[Match(STRUCTURE_WORD, "tille", prefix=True)]])
    selas = fixtures.structures([[Match(STRUCTURE_ID, "999000037")]])  # one SIREN, 2 sites
    assert selas == ["C99900003700112", "C99900003700294"]
    cabinets = fixtures.structures([[Match(STRUCTURE_CODE, "SA07")], [Match(STRUCTURE_CODE, "EJ")]])
    assert "R10100099000011" in cabinets and CHU not in cabinets


def test_structures_page_by_key_and_forget_a_structure_with_its_last_member() -> None:
    directory = Directory.from_fixtures(FIXTURES)
    keys = directory.structures(limit=1000)
    assert keys == sorted(set(keys)) and CHU in keys
    assert directory.structures(after=keys[3], limit=2) == keys[4:6]
    assert directory.structures(before=keys[3], limit=2) == keys[1:3]
    dispatch = "F67B000010"  # centre de santé: two people work there
    members = ids(directory.find([[Match(STRUCTURE, dispatch)]]))
    assert len(members) == 2
    directory.remove(members[0])
    assert dispatch in directory.structures([[Match(STRUCTURE, dispatch)]])
    directory.remove(members[1])
    assert directory.structures([[Match(STRUCTURE, dispatch)]]) == []
    assert directory.structures([[Match(STRUCTURE_ID, "67B000010")]]) == []


def test_structure_keys_kinds_and_legal_entities() -> None:
    site = Activite(
        identifiant_technique_structure="F35B000017",
        ancien_identifiant_structure="135B000017",
        numero_finess_site="35B000017",
        numero_finess_etablissement_juridique="35B000009",
    )
    cabinet = Activite(identifiant_technique_structure="R10100099000011")
    assert (structure_key(site), structure_kind(site), legal_entity_key(site)) == (
        "F35B000017",
        "EG",
        "EJ35B000009",
    )
    assert (structure_key(cabinet), structure_kind(cabinet), legal_entity_key(cabinet)) == (
        "R10100099000011",
        "EJ",
        "",
    )
    assert structure_key(Activite(ancien_identifiant_structure="499700100011001")) == (
        "499700100011001"
    )
    assert structure_key(Activite()) == ""


def test_lookups_by_identifier_use_the_indexes(fixtures: Directory) -> None:
    """EXPLAIN QUERY PLAN: no full scan of a table (an FTS5 MATCH is an index lookup),
    whatever the index's size."""
    statements: list[str] = []
    fixtures._db.set_trace_callback(statements.append)
    try:
        fixtures.find([[Match(IDNAT, "899700100045")]])
        fixtures.find([[Match(IDNAT, "899700100045"), Match(IDNAT, "899700100011")]])
        fixtures.find([[Match(STRUCTURE, CHU)]])
        fixtures.structures([[Match(STRUCTURE_ID, "35B000017")]])
        fixtures.structures([[Match(STRUCTURE, CHU)]])
    finally:
        fixtures._db.set_trace_callback(None)
    for statement in (s for s in statements if not s.startswith("--")):  # FTS5's own
        plan = " | ".join(row[3] for row in fixtures._db.execute("EXPLAIN QUERY PLAN " + statement))
        full_scan = re.search(
            r"SCAN (practitioner|structure)(?!_tags VIRTUAL TABLE INDEX 0:M)", plan
        )
        assert not full_scan, (statement, plan)


def test_a_large_index_answers_an_identifier_in_under_5_ms(tmp_path: Path) -> None:
    directory = Directory.create(tmp_path / "large.sqlite")
    people = []
    for n in range(20_000):
        person = practitioner(n, nom=f"NOM{n % 997}")
        site = Activite(
            identifiant_technique_structure=f"F{n % 3000:09d}",
            numero_finess_site=f"{n % 3000:09d}",
            raison_sociale_site=f"CENTRE {n % 3000}",
        )
        exercice = replace(person.exercices[0], activites=(site,))
        people.append(replace(person, exercices=(exercice,)))
    directory.put_many(people)
    directory.close()
    large = Directory.open(tmp_path / "large.sqlite")
    target = people[12_345]
    timings = {"person": [], "structure": [], "members": []}
    for _ in range(5):
        start = time.perf_counter()
        assert ids(large.find([[Match(IDNAT, target.id_nat)]])) == [target.id_nat]
        timings["person"].append(time.perf_counter() - start)
        start = time.perf_counter()
        assert large.structures([[Match(STRUCTURE_ID, f"{345:09d}")]]) == [f"F{345:09d}"]
        timings["structure"].append(time.perf_counter() - start)
        start = time.perf_counter()
        assert len(large.find([[Match(STRUCTURE, f"F{345:09d}")]], limit=10)) == 7
        timings["members"].append(time.perf_counter() - start)
    assert {name: min(values) < 0.005 for name, values in timings.items()} == {
        "person": True,
        "structure": True,
        "members": True,
    }


@pytest.mark.parametrize(
    "name", ["extraction_2021.txt", "extraction_2024.txt", "libreacces_56.txt"]
)
def test_an_import_builds_the_structures_that_adding_people_builds(
    tmp_path: Path, name: str
) -> None:
    """An import into an empty index builds its structures at the end, in one statement;
    people added one batch at a time build them as they go: the same structures, the same
    tokens, the same answers."""
    imported = Directory.create(tmp_path / "index.sqlite")
    imported.import_file(DATA / name)
    added = Directory.from_paths([DATA / name], strict=False)

    def tokens(directory: Directory) -> dict[str, set[str]]:
        rows = directory._db.execute("SELECT key, tags FROM structure").fetchall()
        return {key: set(tags.split()) for key, tags in rows}

    assert tokens(imported) == tokens(added) != {}
    for word in ("centre", "cabinet", "pharmacie", "chu", "hop"):
        where = [[Match(STRUCTURE_WORD, word, prefix=True)]]
        assert imported.structures(where) == added.structures(where)
