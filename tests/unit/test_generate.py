"""Synthetic national extractions: valid for the strict loaders, realistic, reproducible."""

from __future__ import annotations

import io
from collections import Counter

from idp.app import BUNDLED_FIXTURES
from idp.directory.facets import departement
from idp.directory.generate import generate
from idp.directory.identifiers import parse_id_nat
from idp.directory.index import Directory
from idp.directory.loaders import load_file

FIXTURES = BUNDLED_FIXTURES / "annuaire"


def _generated(rows: int, seed: int = 0) -> str:
    out = io.StringIO()
    generate(out, rows, seed=seed, fixtures=FIXTURES)
    return out.getvalue()


def test_a_seed_gives_the_same_file_and_another_seed_another():
    assert _generated(300, seed=7) == _generated(300, seed=7)
    assert _generated(300, seed=7) != _generated(300, seed=8)


def test_generated_rows_pass_the_strict_loaders(tmp_path):
    path = tmp_path / "Extraction_ProSanteConnect_Personne_activite_202401010000.txt"
    path.write_text(_generated(3000), encoding="utf-8")
    result = load_file(path, strict=True)  # raises on any error
    assert result.layout == "extraction-2024" and not result.warnings
    assert sum(len(p.activites) for p in result.practitioners) == 3000
    people = result.practitioners
    assert len(people) < 3000 * 0.95  # several activities for some people
    for practitioner in people:
        assert parse_id_nat(practitioner.id_nat).kind == "RPPS"
        assert practitioner.id_nat.startswith("8997")  # a fictional range


def test_shares_look_like_the_national_directory(tmp_path):
    path = tmp_path / "Extraction_ProSanteConnect_Personne_activite_202401010000.txt"
    path.write_text(_generated(5000), encoding="utf-8")
    people = load_file(path, strict=True).practitioners
    professions = Counter(p.exercices[0].code_profession for p in people)
    assert professions.most_common(2)[0][0] in ("60", "10") and len(professions) >= 6
    departements = {departement(a) for p in people for a in p.activites}
    assert {"971", "974"} & departements and len(departements) > 60
    structures = Counter(a.identifiant_technique_structure for p in people for a in p.activites)
    assert structures.most_common(1)[0][1] > 5  # establishments shared by many people


def test_no_generated_identifier_meets_a_fixture(tmp_path):
    path = tmp_path / "Extraction_ProSanteConnect_Personne_activite_202401010000.txt"
    path.write_text(_generated(2000), encoding="utf-8")
    generated = {p.id_nat for p in load_file(path, strict=True).practitioners}
    fixtures = {p.id_nat for p in Directory.from_fixtures(FIXTURES).all()}
    assert not generated & fixtures
