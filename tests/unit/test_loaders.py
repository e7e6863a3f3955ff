"""Extraction files: layouts, encodings, grouping, and one malformed file per rule.

Each file in ``tests/data/annuaire/malformed/`` has a valid line 2 and breaks one rule on
line 3; the header problems break line 1.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from idp.directory.loaders import (
    DirectoryFileError,
    ExtractionReader,
    Issue,
    load_file,
    merge,
)

DATA = Path(__file__).parents[1] / "data" / "annuaire"
MALFORMED = DATA / "malformed"
DOCTOR = "899700200019"  # in extraction_2021.txt, rows on lines 2 and 4
ADELI = "0359600426"
ENDED = "899700200027"
TWO_SAVOIR_FAIRE = "899700200035"  # in extraction_2024.txt


def by_id(path: Path) -> dict:
    return {p.id_nat: p for p in load_file(path, strict=True).practitioners}


@pytest.mark.parametrize(
    ("name", "layout"),
    [
        ("extraction_2021.txt", "extraction-2021"),
        ("extraction_2024.txt", "extraction-2024"),
        ("libreacces_52.txt", "libreacces-52"),
        ("libreacces_56.txt", "libreacces-56"),
    ],
)
def test_layout_is_detected_from_the_header(name: str, layout: str) -> None:
    result = load_file(DATA / name, strict=True)
    assert result.layout == layout
    assert result.encoding == "utf-8"
    assert result.issues == ()


def test_rows_of_one_person_become_exercices_and_activities() -> None:
    doctor = by_id(DATA / "extraction_2021.txt")[DOCTOR]
    assert (doctor.type_identifiant, doctor.identifiant) == ("8", "99700200019")
    assert (doctor.nom, doctor.prenoms, doctor.date_naissance) == (
        "LECLERC",
        ("Hugo", "Jean"),
        "14/07/1980",
    )
    [exercice] = doctor.exercices
    assert (exercice.code_profession, exercice.code_savoir_faire) == ("10", "SM54")
    assert [a.code_mode_exercice for a in exercice.activites] == ["L", "S"]
    assert exercice.activites[0].numero_siret_site == "99900101900192"
    assert exercice.activites[1].numero_finess_site == "350999900"


def test_non_adjacent_rows_are_merged_and_first_lines_recorded() -> None:
    result = load_file(DATA / "extraction_2021.txt", strict=True)
    assert [p.id_nat for p in result.practitioners] == [DOCTOR, ADELI, ENDED]
    assert dict(result.first_lines) == {DOCTOR: 2, ADELI: 3, ENDED: 5}


def test_several_first_names_are_split_on_apostrophes() -> None:
    assert by_id(DATA / "extraction_2021.txt")[ADELI].prenoms == ("Jeanne", "Marie", "Louise")


def test_a_row_without_structure_nor_mode_is_an_exercice_without_activity() -> None:
    ended = by_id(DATA / "extraction_2021.txt")[ENDED]
    [exercice] = ended.exercices
    assert exercice.code_profession == "60"
    assert exercice.activites == ()  # the registration authority alone makes no activity


def test_other_ids_are_derived_from_the_id_nat_when_the_file_has_none() -> None:
    people = by_id(DATA / "extraction_2021.txt")
    assert [(o.identifiant, o.origine, o.qualite) for o in people[DOCTOR].autres_identifiants] == [
        (DOCTOR, "RPPS", 1)
    ]
    assert people[ADELI].autres_identifiants[0].origine == "ADELI"


def test_2024_layout_reads_other_ids_and_groups_by_savoir_faire() -> None:
    people = by_id(DATA / "extraction_2024.txt")
    doctor = people[TWO_SAVOIR_FAIRE]
    assert [(e.code_savoir_faire, len(e.activites)) for e in doctor.exercices] == [
        ("SM26", 1),
        ("SM53", 2),
    ]
    assert [(o.identifiant, o.origine) for o in doctor.autres_identifiants] == [
        (TWO_SAVOIR_FAIRE, "RPPS"),
        (ADELI, "ADELI"),
    ]


def test_2024_layout_reads_staff_edit_and_role_only_people() -> None:
    people = by_id(DATA / "extraction_2024.txt")
    staff = people["335B000017/CPET00009"]
    assert (staff.type_identifiant, staff.identifiant) == ("3", "35B000017/CPET00009")
    assert staff.autres_identifiants[0].origine == "FINESS"
    edit = people["ANS20231105120000"]
    assert (edit.type_identifiant, edit.identifiant) == ("", "ANS20231105120000")
    assert edit.activites[0].code_genre_activite == "GENR01"
    role = people["899700200043"]
    [exercice] = role.exercices
    assert exercice.code_profession == ""
    assert (exercice.activites[0].code_role, exercice.activites[0].code_genre_activite) == (
        "313",
        "GENR11",
    )


def test_open_data_layouts_fill_what_they_have() -> None:
    doctor = by_id(DATA / "libreacces_52.txt")["899700200050"]
    assert (doctor.nom, doctor.prenoms, doctor.date_naissance) == ("", (), "")
    assert (doctor.family_name, doctor.given_name) == ("LECLERC", "Hugo")
    activite = doctor.activites[0]
    assert activite.code_departement == "35"  # from "Code Département (structure)"
    assert (activite.code_role, activite.code_genre_activite) == ("", "")
    role = by_id(DATA / "libreacces_56.txt")["899700200050"].activites[0]
    assert (role.code_role, role.code_genre_activite) == ("FON-02", "GENR01")


ERRORS = [
    ("column_count.txt", "", "50 colonnes au lieu des 51 de l'en-tête"),
    ("no_trailing_pipe.txt", "", "la ligne ne se termine pas par « | »"),
    ("id_nat_form.txt", "Identification nationale PP", "aucune forme d'identifiant national"),
    ("rpps_key.txt", "Identification nationale PP", "clé de contrôle RPPS invalide"),
    ("id_nat_mismatch.txt", "Identification nationale PP", "ne correspond pas à"),
    ("finess_key.txt", "Numéro FINESS site", "clé de contrôle FINESS invalide"),
    ("siret_key.txt", "Numéro SIRET site", "clé de contrôle SIRET invalide"),
    ("siren_key.txt", "Numéro SIREN site", "clé de contrôle SIREN invalide"),
    ("unknown_profession.txt", "Code profession", "code « 99 » inconnu de JDV_J186"),
    ("unknown_categorie.txt", "Code catégorie professionnelle", "code « Z » inconnu de TRE_R09"),
    ("unknown_mode.txt", "Code mode exercice", "code « X » inconnu de TRE_R23"),
    ("unknown_secteur.txt", "Code secteur d'activité", "code « SA99 » inconnu de TRE_R02"),
    ("unknown_genre.txt", "Code genre d'activité", "code « GENR42 » inconnu de TRE_R22"),
    ("unknown_role.txt", "Code rôle", "code « FON-99 » inconnu de JDV_J108"),
    ("unknown_section.txt", "Code section tableau pharmaciens", "code « Z » inconnu de TRE_R06"),
    ("date.txt", "Date de naissance", "date « 31/02/1980 » invalide"),
    ("autres_identifiants.txt", "Autres identifiants", "attendu identifiant,origine,qualité"),
]


@pytest.mark.parametrize(("name", "column", "reason"), ERRORS)
def test_each_verified_rule_refuses_the_file_in_strict_mode(
    name: str, column: str, reason: str
) -> None:
    path = MALFORMED / name
    with pytest.raises(DirectoryFileError) as raised:
        load_file(path, strict=True)
    [issue] = raised.value.issues
    assert (issue.file, issue.line, issue.column, issue.severity) == (str(path), 3, column, "error")
    assert reason in issue.reason
    where = f"{path}:3: column '{column}': " if column else f"{path}:3: "
    assert f"{where}{issue.reason}" in str(raised.value)


def test_a_line_of_one_column_is_counted_in_the_singular(tmp_path: Path) -> None:
    header = (MALFORMED / "column_count.txt").read_text(encoding="utf-8").splitlines()[0]
    path = tmp_path / "one_column.txt"
    path.write_text(f"{header}\n899700200019|\n", encoding="utf-8")
    [issue] = load_file(path, strict=False).errors
    assert issue.reason == "1 colonne au lieu des 51 de l'en-tête"


@pytest.mark.parametrize(("name", "column", "reason"), ERRORS)
def test_each_bad_line_is_skipped_and_reported_in_lenient_mode(
    name: str, column: str, reason: str
) -> None:
    result = load_file(MALFORMED / name, strict=False)
    assert [p.id_nat for p in result.practitioners] == ["899700200019"]
    assert [(i.line, i.column) for i in result.errors] == [(3, column)]


def test_bad_values_are_kept_in_the_issue() -> None:
    result = load_file(MALFORMED / "unknown_secteur.txt", strict=False)
    assert result.errors[0].value == "SA99"


@pytest.mark.parametrize(
    ("name", "column", "fragments"),
    [
        ("adeli_key.txt", "Identification nationale PP", ["clé ADELI douteuse", "359600427"]),
        ("deprecated_codes.txt", "Code profession", ["« 35 » (Aide-soignant) obsolète"]),
    ],
)
def test_uncertain_rules_are_warnings_and_the_line_loads(
    name: str, column: str, fragments: list[str]
) -> None:
    result = load_file(MALFORMED / name, strict=True)
    assert len(result.practitioners) == 2
    assert result.errors == ()
    warning = result.warnings[0]
    assert (warning.line, warning.column) == (3, column)
    assert all(fragment in warning.reason for fragment in fragments)


def test_a_deprecated_category_is_a_warning_too() -> None:
    warnings = load_file(MALFORMED / "deprecated_codes.txt", strict=True).warnings
    assert [w.column for w in warnings] == ["Code profession", "Code catégorie professionnelle"]


def test_an_unknown_header_is_refused_even_leniently_and_says_which_column() -> None:
    path = MALFORMED / "unknown_header.txt"
    with pytest.raises(DirectoryFileError) as raised:
        load_file(path, strict=False)
    [issue] = raised.value.issues
    assert (issue.line, issue.column) == (1, "")
    assert "au plus proche de extraction-2024, la colonne 24 devrait être « Code rôle »" in str(
        issue
    )
    assert "« Code fonction »" in issue.reason


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "fichier vide"),
        (b"Type d'identifiant PP|Identifiant PP\n", "ne se termine pas par « | »"),
    ],
)
def test_a_file_without_a_usable_header_is_refused(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(DirectoryFileError, match=reason):
        load_file(path, strict=False)


def test_latin_1_is_detected_and_reported_as_a_warning(tmp_path: Path) -> None:
    text = (DATA / "extraction_2021.txt").read_text("utf-8")
    path = tmp_path / "latin1.txt"
    path.write_bytes(text.encode("latin-1"))
    result = load_file(path, strict=True)
    assert result.encoding == "latin-1"
    assert [(w.line, w.value) for w in result.warnings] == [(0, "latin-1")]
    assert {p.id_nat: p.nom for p in result.practitioners}[ENDED] == "VALLÉE"
    assert str(result.warnings[0]).startswith(f"{path}: ")


def test_a_utf_8_bom_and_crlf_line_ends_are_accepted(tmp_path: Path) -> None:
    text = (DATA / "extraction_2021.txt").read_text("utf-8")
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8") + b"\r\n")
    result = load_file(path, strict=True)
    assert (result.encoding, result.layout) == ("utf-8-sig", "extraction-2021")
    assert len(result.practitioners) == 3


def test_strict_refusal_lists_every_error_and_lenient_keeps_the_good_lines(
    tmp_path: Path,
) -> None:
    path = tmp_path / "several.txt"
    header, good = (MALFORMED / "date.txt").read_text("utf-8").splitlines()[:2]
    bad_lines = [
        (MALFORMED / name).read_text("utf-8").splitlines()[2] for name, _, _ in ERRORS[2:6]
    ]
    path.write_text("\n".join([header, *bad_lines, good, ""]), "utf-8")
    with pytest.raises(DirectoryFileError) as raised:
        load_file(path, strict=True)
    assert [issue.line for issue in raised.value.issues] == [2, 3, 4, 5]
    assert str(raised.value).startswith("annuaire refusé, 4 erreurs :\n")
    assert str(raised.value).count(f"{path}:") == 4
    lenient = load_file(path, strict=False)
    assert [p.id_nat for p in lenient.practitioners] == [DOCTOR]
    assert len(lenient.errors) == 4


def test_the_reader_streams_runs_and_merge_joins_a_split_person() -> None:
    reader = ExtractionReader(DATA / "extraction_2021.txt")
    runs = list(reader.runs())
    assert [(line, p.id_nat) for line, p in runs] == [
        (2, DOCTOR),
        (3, ADELI),
        (4, DOCTOR),
        (5, ENDED),
    ]
    merged = merge(runs[0][1], runs[2][1])
    assert len(merged.exercices[0].activites) == 2
    assert merge(merged, runs[2][1]) == merged  # nothing repeated


def test_the_reader_hands_issues_to_a_callback(tmp_path: Path) -> None:
    seen: list[Issue] = []
    path = tmp_path / "copy.txt"
    shutil.copy(MALFORMED / "rpps_key.txt", path)
    reader = ExtractionReader(path, on_issue=seen.append)
    assert [p.id_nat for p in reader] == [DOCTOR]
    assert [issue.line for issue in seen] == [3]
    assert reader.issues == []


def _with_bytes(tmp_path: Path, line: int, old: bytes, new: bytes, *, cut: bool = False) -> Path:
    """extraction_2021.txt with ``old`` replaced by ``new`` on ``line`` (1 is the header),
    the file ending right after it if ``cut``."""
    lines = (DATA / "extraction_2021.txt").read_bytes().split(b"\n")
    before, _, after = lines[line - 1].partition(old)
    lines[line - 1] = before + new + (b"" if cut else after)
    path = tmp_path / "extraction.txt"
    path.write_bytes(b"\n".join(lines[:line] if cut else lines))
    return path


def test_one_latin_1_byte_rejects_its_line_not_the_file(tmp_path: Path) -> None:
    path = _with_bytes(tmp_path, 3, b"|", "|é".encode("latin-1"))
    result = load_file(path, strict=False)
    assert result.encoding == "utf-8"
    assert [(e.line, e.reason) for e in result.errors] == [
        (3, "octets non UTF-8 (octet 3 de la ligne) : ligne ignorée")  # "0|é"
    ]
    assert {p.id_nat: p.nom for p in result.practitioners} == {
        DOCTOR: "LECLERC",
        ENDED: "VALLÉE",
    }


def test_a_download_cut_inside_a_character_rejects_the_last_line(tmp_path: Path) -> None:
    path = _with_bytes(tmp_path, 5, "É".encode(), "É".encode()[:1], cut=True)
    result = load_file(path, strict=False)
    assert result.encoding == "utf-8"
    assert [(e.line, e.reason.split(" (")[0]) for e in result.errors] == [(5, "octets non UTF-8")]
    assert [p.id_nat for p in result.practitioners] == [DOCTOR, ADELI]


def test_a_lone_cr_in_a_field_does_not_shift_line_numbers(tmp_path: Path) -> None:
    path = _with_bytes(tmp_path, 2, b"LECLERC", b"LEC\rLERC")
    runs = list(ExtractionReader(path).runs())
    assert [(line, p.id_nat) for line, p in runs] == [
        (2, DOCTOR),
        (3, ADELI),
        (4, DOCTOR),
        (5, ENDED),
    ]
    assert runs[0][1].nom == "LEC\rLERC"


def test_a_pipe_is_refused_by_name(tmp_path: Path) -> None:
    pipe = tmp_path / "fifo"
    os.mkfifo(pipe)
    with pytest.raises(DirectoryFileError, match="pas un fichier ordinaire"):
        ExtractionReader(pipe)
