"""Read Annuaire Santé extraction files into :class:`Practitioner` objects.

Four layouts are known, told apart by their header line (``reference/annuaire-and-cps.md``
§A1): PSC's restricted ``Extraction_ProSanteConnect_Personne_activite`` (2021: 49 named
columns, "50" counting the empty field after the trailing ``|``; 2024: two more,
``Autres identifiants`` and ``Code genre d'activité``) and the open-data
``PS_LibreAcces_Personne_activite`` (52 and 56 named columns, labels beside codes, no civil
status). Fields are separated by ``|`` and every line, header included, ends with one.

One row is one (exercice, activity) pair of a person; rows are grouped per idNat, and a
person's rows into exercices the way PSC groups them (same profession, category, exercise
civility and names, and savoir-faire). A row whose activity columns are all empty gives an
exercice without activity: that is how an ended activity shows.

Validation follows the project's policy: rules the reference marks verified are errors,
uncertain ones (ADELI key, Latin-1 encoding, deprecated codes) are warnings. Strict loading
refuses a file with any error; lenient loading skips each bad line and reports it. The
reader streams (constant memory) so that a national file of two million rows can be
imported the same way.
"""

from __future__ import annotations

import codecs
import functools
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, fields, replace
from datetime import date
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Literal, TextIO, TypeVar

from idp.directory import nomenclatures
from idp.directory.identifiers import (
    IdentifierError,
    IdNat,
    IdNatError,
    check_adeli_key,
    check_finess,
    check_siren,
    check_siret,
    parse_id_nat,
)
from idp.directory.model import Activite, AutreIdentifiant, Exercice, Practitioner

Severity = Literal["error", "warning"]
Row = Mapping[str, str]  # canonical column name -> value
_T = TypeVar("_T")
_DATE = re.compile(r"[0-9]{2}/[0-9]{2}/[0-9]{4}")

TYPE_IDENTIFIANT = "Type d'identifiant PP"
IDENTIFIANT = "Identifiant PP"
ID_NAT = "Identification nationale PP"
PRENOMS = "Prénoms"
DATE_NAISSANCE = "Date de naissance"
AUTRES_IDENTIFIANTS = "Autres identifiants"
CODE_DEPARTEMENT = "Code département (coord. structure)"
CODE_GENRE = "Code genre d'activité"

# Model field -> the column it reads (names of the 2024 extraction layout).
_PRACTITIONER_COLUMNS = {
    "nom": "Nom de famille",
    "code_civilite": "Code civilité",
    "date_naissance": DATE_NAISSANCE,
    "telephone": "Téléphone (coord. correspondance)",
    "email": "Adresse e-mail (coord. correspondance)",
}
_EXERCICE_COLUMNS = {
    "code_profession": "Code profession",
    "code_categorie_professionnelle": "Code catégorie professionnelle",
    "code_civilite_exercice": "Code civilité d'exercice",
    "nom_exercice": "Nom d'exercice",
    "prenom_exercice": "Prénom d'exercice",
    "code_type_savoir_faire": "Code type savoir-faire",
    "code_savoir_faire": "Code savoir-faire",
}
_ACTIVITE_COLUMNS = {
    "code_mode_exercice": "Code mode exercice",
    "code_secteur_activite": "Code secteur d'activité",
    "code_section_pharmacien": "Code section tableau pharmaciens",
    "code_role": "Code rôle",
    "code_genre_activite": CODE_GENRE,
    "numero_siret_site": "Numéro SIRET site",
    "numero_siren_site": "Numéro SIREN site",
    "numero_finess_site": "Numéro FINESS site",
    "numero_finess_etablissement_juridique": "Numéro FINESS établissement juridique",
    "identifiant_technique_structure": "Identifiant technique de la structure",
    "raison_sociale_site": "Raison sociale site",
    "enseigne_commerciale_site": "Enseigne commerciale site",
    "complement_destinataire": "Complément destinataire (coord. structure)",
    "complement_point_geographique": "Complément point géographique (coord. structure)",
    "numero_voie": "Numéro Voie (coord. structure)",
    "indice_repetition_voie": "Indice répétition voie (coord. structure)",
    "code_type_de_voie": "Code type de voie (coord. structure)",
    "libelle_voie": "Libellé Voie (coord. structure)",
    "mention_distribution": "Mention distribution (coord. structure)",
    "bureau_cedex": "Bureau cedex (coord. structure)",
    "code_postal": "Code postal (coord. structure)",
    "code_commune": "Code commune (coord. structure)",
    "code_pays": "Code pays (coord. structure)",
    "telephone": "Téléphone (coord. structure)",
    "telephone2": "Téléphone 2 (coord. structure)",
    "telecopie": "Télécopie (coord. structure)",
    "adresse_email": "Adresse e-mail (coord. structure)",
    "code_departement": CODE_DEPARTEMENT,
    "ancien_identifiant_structure": "Ancien identifiant de la structure",
    "autorite_enregistrement": "Autorité d'enregistrement",
}
# The registration authority is repeated on rows without activity: it does not make one.
_ACTIVITY_PRESENCE = tuple(
    column for field, column in _ACTIVITE_COLUMNS.items() if field != "autorite_enregistrement"
)

_EXERCICE_KEY = attrgetter(*_EXERCICE_COLUMNS)
# The model's fields, in order, from a row (every column read is in every row, see _row).
_EXERCICE_VALUES = itemgetter(*(_EXERCICE_COLUMNS[f.name] for f in fields(Exercice)[:-1]))
_ACTIVITE_VALUES = itemgetter(*(_ACTIVITE_COLUMNS[f.name] for f in fields(Activite)))
_ACTIVITY_VALUES = itemgetter(*_ACTIVITY_PRESENCE)
_READ_COLUMNS = {
    *_PRACTITIONER_COLUMNS.values(),
    *_EXERCICE_COLUMNS.values(),
    *_ACTIVITE_COLUMNS.values(),
}

# Columns bound to a code system: an unknown code is an error, a deprecated one a warning.
_CODED_COLUMNS = (
    ("Code profession", nomenclatures.PROFESSIONS),
    ("Code catégorie professionnelle", "R09"),
    ("Code mode exercice", "R23"),
    ("Code secteur d'activité", "R02"),
    (CODE_GENRE, "R22"),
    ("Code rôle", nomenclatures.ROLES),
    ("Code section tableau pharmaciens", "R06"),
)
_STRUCTURE_NUMBERS: tuple[tuple[str, Callable[[str], None]], ...] = (
    ("Numéro SIRET site", check_siret),
    ("Numéro SIREN site", check_siren),
    ("Numéro FINESS site", check_finess),
    ("Numéro FINESS établissement juridique", check_finess),
)


@dataclass(frozen=True, slots=True)
class Layout:
    """One known header: its name and exact column names (the trailing ``|`` aside)."""

    name: str
    columns: tuple[str, ...]


_EXTRACTION_2021 = (
    TYPE_IDENTIFIANT,
    IDENTIFIANT,
    ID_NAT,
    "Nom de famille",
    PRENOMS,
    DATE_NAISSANCE,
    "Code commune de naissance",
    "Code pays de naissance",
    "Lieu de naissance",
    "Code sexe",
    "Téléphone (coord. correspondance)",
    "Adresse e-mail (coord. correspondance)",
    "Code civilité",
    "Code profession",
    "Code catégorie professionnelle",
    "Code civilité d'exercice",
    "Nom d'exercice",
    "Prénom d'exercice",
    "Code type savoir-faire",
    "Code savoir-faire",
    "Code mode exercice",
    "Code secteur d'activité",
    "Code section tableau pharmaciens",
    "Code rôle",
    "Numéro SIRET site",
    "Numéro SIREN site",
    "Numéro FINESS site",
    "Numéro FINESS établissement juridique",
    "Identifiant technique de la structure",
    "Raison sociale site",
    "Enseigne commerciale site",
    "Complément destinataire (coord. structure)",
    "Complément point géographique (coord. structure)",
    "Numéro Voie (coord. structure)",
    "Indice répétition voie (coord. structure)",
    "Code type de voie (coord. structure)",
    "Libellé Voie (coord. structure)",
    "Mention distribution (coord. structure)",
    "Bureau cedex (coord. structure)",
    "Code postal (coord. structure)",
    "Code commune (coord. structure)",
    "Code pays (coord. structure)",
    "Téléphone (coord. structure)",
    "Téléphone 2 (coord. structure)",
    "Télécopie (coord. structure)",
    "Adresse e-mail (coord. structure)",
    CODE_DEPARTEMENT,
    "Ancien identifiant de la structure",
    "Autorité d'enregistrement",
)
_LIBREACCES_52 = (
    TYPE_IDENTIFIANT,
    IDENTIFIANT,
    ID_NAT,
    "Code civilité d'exercice",
    "Libellé civilité d'exercice",
    "Code civilité",
    "Libellé civilité",
    "Nom d'exercice",
    "Prénom d'exercice",
    "Code profession",
    "Libellé profession",
    "Code catégorie professionnelle",
    "Libellé catégorie professionnelle",
    "Code type savoir-faire",
    "Libellé type savoir-faire",
    "Code savoir-faire",
    "Libellé savoir-faire",
    "Code mode exercice",
    "Libellé mode exercice",
    "Numéro SIRET site",
    "Numéro SIREN site",
    "Numéro FINESS site",
    "Numéro FINESS établissement juridique",
    "Identifiant technique de la structure",
    "Raison sociale site",
    "Enseigne commerciale site",
    "Complément destinataire (coord. structure)",
    "Complément point géographique (coord. structure)",
    "Numéro Voie (coord. structure)",
    "Indice répétition voie (coord. structure)",
    "Code type de voie (coord. structure)",
    "Libellé type de voie (coord. structure)",
    "Libellé Voie (coord. structure)",
    "Mention distribution (coord. structure)",
    "Bureau cedex (coord. structure)",
    "Code postal (coord. structure)",
    "Code commune (coord. structure)",
    "Libellé commune (coord. structure)",
    "Code pays (coord. structure)",
    "Libellé pays (coord. structure)",
    "Téléphone (coord. structure)",
    "Téléphone 2 (coord. structure)",
    "Télécopie (coord. structure)",
    "Adresse e-mail (coord. structure)",
    "Code Département (structure)",
    "Libellé Département (structure)",
    "Ancien identifiant de la structure",
    "Autorité d'enregistrement",
    "Code secteur d'activité",
    "Libellé secteur d'activité",
    "Code section tableau pharmaciens",
    "Libellé section tableau pharmaciens",
)
LAYOUTS = (
    Layout("extraction-2021", _EXTRACTION_2021),
    Layout("extraction-2024", (*_EXTRACTION_2021, AUTRES_IDENTIFIANTS, CODE_GENRE)),
    Layout("libreacces-52", _LIBREACCES_52),
    Layout(
        "libreacces-56",
        (
            *_LIBREACCES_52,
            "Code rôle",
            "Libellé rôle",
            "Code genre activité",
            "Libellé genre activité",
        ),
    ),
)
# Open-data spellings of columns the extraction names otherwise.
_ALIASES = {
    "Code Département (structure)": CODE_DEPARTEMENT,
    "Code genre activité": CODE_GENRE,
}


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found in a file: where, what value, why, and how serious."""

    file: str
    line: int  # 1 is the header; 0 means the whole file
    column: str
    value: str
    reason: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        column = f" column '{self.column}':" if self.column else ""
        return f"{where}:{column} {self.reason}"


class DirectoryFileError(ValueError):
    """A directory file was refused; ``issues`` lists every error, the message too."""

    def __init__(self, issues: Iterable[Issue]) -> None:
        self.issues = tuple(issues)
        count = len(self.issues)
        lines = "\n".join(f"  {issue}" for issue in self.issues)
        super().__init__(f"annuaire refusé, {count} erreur{'s' if count > 1 else ''} :\n{lines}")


@dataclass(frozen=True, slots=True)
class LoadResult:
    """A whole file, loaded: its people, what was found wrong, how it was read."""

    path: str
    practitioners: tuple[Practitioner, ...]
    issues: tuple[Issue, ...]
    encoding: str
    layout: str
    first_lines: Mapping[str, int]  # idNat -> line of the person's first row

    @property
    def errors(self) -> tuple[Issue, ...]:
        return tuple(issue for issue in self.issues if issue.severity == "error")

    @property
    def warnings(self) -> tuple[Issue, ...]:
        return tuple(issue for issue in self.issues if issue.severity == "warning")


def load_file(path: str | Path, *, strict: bool) -> LoadResult:
    """Load one file whole. Strict: any error refuses it (DirectoryFileError), nothing half
    loaded. Lenient: bad lines are skipped and listed in ``issues``.

    A person whose rows are not adjacent is merged into one practitioner.
    """
    reader = ExtractionReader(path)
    people: dict[str, Practitioner] = {}
    first_lines: dict[str, int] = {}
    for line, practitioner in reader.runs():
        known = people.get(practitioner.id_nat)
        people[practitioner.id_nat] = merge(known, practitioner) if known else practitioner
        first_lines.setdefault(practitioner.id_nat, line)
    result = LoadResult(
        path=str(reader.path),
        practitioners=tuple(people.values()),
        issues=tuple(reader.issues),
        encoding=reader.encoding,
        layout=reader.layout.name,
        first_lines=first_lines,
    )
    if strict and result.errors:
        raise DirectoryFileError(result.errors)
    return result


@dataclass(frozen=True)
class RowParser:
    """Turns numbered lines of one layout into practitioners, reporting bad lines.

    It holds no file: worker processes receive it (it pickles small) with chunks of a
    national file's lines and parse them in parallel (see :meth:`ExtractionReader.chunks`).
    """

    path: str
    layout: Layout

    @functools.cached_property
    def _names(self) -> tuple[str, ...]:
        return tuple(_ALIASES.get(name, name) for name in self.layout.columns)

    @functools.cached_property
    def _absent(self) -> dict[str, str]:
        """The columns read that this layout lacks, empty: rows are read by position."""
        return dict.fromkeys(_READ_COLUMNS.difference(self._names), "")

    def runs(
        self, numbered_lines: Iterable[tuple[int, str]], report: Callable[[Issue], None]
    ) -> Iterator[tuple[int, Practitioner]]:
        """(line of the first row, practitioner) for each run of adjacent valid rows."""
        rows = (
            (number, row)
            for number, line in numbered_lines
            if line and (row := self._row(number, line, report)) is not None
        )
        for _, run in itertools.groupby(rows, key=lambda numbered: numbered[1][ID_NAT]):
            numbered_rows = list(run)
            yield numbered_rows[0][0], _practitioner([row for _, row in numbered_rows])

    def issue(
        self, line: int, column: str, value: str, reason: str, severity: Severity = "error"
    ) -> Issue:
        return Issue(self.path, line, column, value, reason, severity)

    def _row(self, number: int, line: str, report: Callable[[Issue], None]) -> Row | None:
        """The row as canonical column -> value, or None (reported) when it has errors."""
        if not line.isascii() and (offset := _non_utf8_offset(line)) is not None:
            reason = f"octets non UTF-8 (octet {offset + 1} de la ligne) : ligne ignorée"
            report(self.issue(number, "", "", reason))
            return None
        fields = line.split("|")
        expected = len(self.layout.columns) + 1
        if len(fields) != expected or fields[-1]:
            report(self.issue(number, "", "", _count_reason(fields, expected)))
            return None
        row = dict(zip(self._names, fields, strict=False))  # the last, empty field aside
        row.update(self._absent)
        problems = list(_row_problems(row))
        for problem in problems:
            report(self.issue(number, *problem))
        return None if any(problem[3] == "error" for problem in problems) else row


class ExtractionReader:
    """Streams one file: one practitioner per run of adjacent rows of the same idNat.

    Memory stays constant whatever the file size (a national file is sorted by idNat, so
    each person is one run). A person split across runs comes out once per run; callers
    combine them with :func:`merge`. Each issue goes to ``on_issue`` if given, else to
    :attr:`issues`. A file whose header is unreadable raises DirectoryFileError at once.
    """

    def __init__(self, path: str | Path, *, on_issue: Callable[[Issue], None] | None = None):
        self.path = Path(path)
        self.issues: list[Issue] = []
        self._report = on_issue or self.issues.append
        if self.path.exists() and not (self.path.is_file() or self.path.is_dir()):
            reason = "pas un fichier ordinaire (un tube ?) : il est lu deux fois, enregistrez-le"
            raise DirectoryFileError([Issue(str(self.path), 0, "", "", reason)])
        self.encoding = detect_encoding(self.path)
        layout = self._read_layout()
        self.parser = RowParser(str(self.path), layout)
        if self.encoding == "latin-1":
            reason = "fichier non UTF-8, lu en Latin-1 : encodage à vérifier"
            self._report(self.parser.issue(0, "", "latin-1", reason, "warning"))
        self._stream: TextIO | None = None

    @property
    def layout(self) -> Layout:
        return self.parser.layout

    @property
    def bytes_read(self) -> int:
        """How far into the file the reading is (for a progress bar)."""
        return self._stream.buffer.tell() if self._stream and not self._stream.closed else 0

    def __iter__(self) -> Iterator[Practitioner]:
        for _, practitioner in self.runs():
            yield practitioner

    def runs(self) -> Iterator[tuple[int, Practitioner]]:
        """(line of the first row, practitioner) for each run of adjacent valid rows."""
        return self.parser.runs(self._rows(), self._report)

    def chunks(self, size: int) -> Iterator[tuple[int, list[str]]]:
        """The lines after the header, ``size`` at a time, with the number of the first:
        what :meth:`RowParser.runs` parses elsewhere. A person's rows may straddle two
        chunks and come out as two runs."""
        rows = self._rows()
        while chunk := list(itertools.islice(rows, size)):
            yield chunk[0][0], [line for _, line in chunk]

    def _open(self) -> TextIO:
        """The file as text, lines split on "\n" only (a lone CR inside a field shifted
        every later line number), its bytes that are not UTF-8 kept as surrogates for
        :meth:`RowParser._row` to reject their line (one bad byte made the whole file
        Latin-1, and its header unknown)."""
        errors = "strict" if self.encoding == "latin-1" else "surrogateescape"
        return self.path.open(encoding=self.encoding, errors=errors, newline="\n")

    def _rows(self) -> Iterator[tuple[int, str]]:
        with self._open() as stream:
            self._stream = stream
            next(stream, None)  # the header, read by _read_layout
            for number, line in enumerate(stream, start=2):
                yield number, line.rstrip("\r\n")

    def _read_layout(self) -> Layout:
        with self._open() as stream:
            header = stream.readline().rstrip("\r\n")
        if not header:
            raise DirectoryFileError([self._issue(1, "", "", "fichier vide : en-tête absent")])
        names = header.split("|")
        if names[-1]:
            raise DirectoryFileError(
                [self._issue(1, "", names[-1], "l'en-tête ne se termine pas par « | »")]
            )
        columns = tuple(names[:-1])
        for layout in LAYOUTS:
            if layout.columns == columns:
                return layout
        raise DirectoryFileError([self._issue(1, "", "", _header_mismatch(columns))])

    def _issue(self, line: int, column: str, value: str, reason: str) -> Issue:
        return Issue(str(self.path), line, column, value, reason)


_SAMPLE = 1 << 20  # bytes read to tell the encoding when the header is all ASCII
_NON_UTF8 = re.compile("[\udc80-\udcff]")  # bytes surrogateescape could not decode


def detect_encoding(path: Path) -> str:
    """``utf-8`` (``utf-8-sig`` with a BOM) if the header decodes so, else ``latin-1``.

    Every known header has accented names ("Prénoms"): it tells the encoding alone; an
    all-ASCII one is decided by the first megabyte. A UTF-8 file is not scanned whole: a
    line with a byte that is not UTF-8 (a download cut inside "É", one Latin-1 byte) is
    rejected alone, by :meth:`RowParser._row`, where it was the whole file read as Latin-1.
    """
    with path.open("rb") as stream:
        header = stream.readline(_SAMPLE)
        sample = header if not header.isascii() else header + stream.read(_SAMPLE)
    bom = sample.startswith(codecs.BOM_UTF8)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample)  # a cut last character: fine
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8-sig" if bom else "utf-8"


def _non_utf8_offset(line: str) -> int | None:
    """Where in the line (bytes) is the first byte that is not UTF-8, None if none.

    On the import's hot path: a line of Latin-1 characters (most French lines) encodes to
    Latin-1 in a copy (0.04 µs a line, measured); only the rare line with a character
    beyond it, a non-UTF-8 byte or a "œ", is searched."""
    try:
        line.encode("latin-1")
        return None
    except UnicodeEncodeError:
        found = _NON_UTF8.search(line)
    if found is None:
        return None
    return len(line[: found.start()].encode("utf-8", "surrogateescape"))


def merge(first: Practitioner, second: Practitioner) -> Practitioner:
    """One person from two partial views: exercices and identifiers combined, the first
    view's civil status kept."""
    return replace(
        first,
        exercices=_merge_exercices(first.exercices + second.exercices),
        autres_identifiants=_unique(first.autres_identifiants + second.autres_identifiants),
    )


@functools.lru_cache(maxsize=256)
def parse_autres_identifiants(text: str) -> tuple[AutreIdentifiant, ...]:
    """``800AMAR10,RPPS,1;0012600631,ADELI,1`` -> AutreIdentifiants; IdentifierError if bad.

    Cached for the row's check and its reading, one after the other.
    """
    result = []
    for item in filter(None, text.split(";")):
        parts = item.split(",")
        if len(parts) != 3 or not parts[0] or not parts[1] or not parts[2].isdigit():
            raise IdentifierError(
                f"« {item} » : attendu identifiant,origine,qualité (par exemple "
                "810001045367,RPPS,1), plusieurs séparés par « ; »"
            )
        result.append(AutreIdentifiant(parts[0], parts[1], int(parts[2])))
    return tuple(result)


def _row_problems(row: Row) -> Iterator[tuple[str, str, str, Severity]]:
    """(column, value, reason, severity) for every rule the row breaks."""
    yield from _id_nat_problems(row)
    birth = row.get(DATE_NAISSANCE, "")
    if birth and not _is_date(birth):
        yield DATE_NAISSANCE, birth, f"date « {birth} » invalide : attendu jj/mm/aaaa", "error"
    for column, table in _CODED_COLUMNS:
        code = row.get(column, "")
        if code:
            yield from _code_problems(column, code, table)
    for column, _ in _STRUCTURE_NUMBERS:
        value = row.get(column, "")
        if value:
            reason = _structure_number_problem(column, value)
            if reason:
                yield column, value, reason, "error"
    others = row.get(AUTRES_IDENTIFIANTS, "")
    try:
        parse_autres_identifiants(others)
    except IdentifierError as error:
        yield AUTRES_IDENTIFIANTS, others, str(error), "error"


def _id_nat_problems(row: Row) -> Iterator[tuple[str, str, str, Severity]]:
    text = row[ID_NAT]
    try:
        id_nat = parse_id_nat(text)
    except IdNatError as error:
        yield ID_NAT, text, str(error), "error"
        return
    declared = (row[TYPE_IDENTIFIANT], row[IDENTIFIANT])
    if declared != (id_nat.type_identifiant, id_nat.identifiant):
        yield (
            ID_NAT,
            text,
            f"« {text} » ne correspond pas à {TYPE_IDENTIFIANT} « {declared[0]} » suivi de "
            f"{IDENTIFIANT} « {declared[1]} » (attendu « {id_nat.type_identifiant} » et "
            f"« {id_nat.identifiant} »)",
            "error",
        )
    if id_nat.kind == "ADELI":
        try:
            check_adeli_key(id_nat.identifiant)
        except IdentifierError as error:
            yield ID_NAT, text, str(error), "warning"


@functools.lru_cache(maxsize=4096)
def _code_problems(
    column: str, code: str, table: str
) -> tuple[tuple[str, str, str, Severity], ...]:
    """Cached: a national file repeats a few hundred codes two million times."""
    if not nomenclatures.is_known(table, code):
        return ((column, code, f"code « {code} » inconnu de {nomenclatures.name(table)}", "error"),)
    if nomenclatures.is_deprecated(table, code):
        reason = f"code « {code} » ({nomenclatures.label(table, code)}) obsolète dans "
        return ((column, code, reason + nomenclatures.name(table), "warning"),)
    return ()


@functools.lru_cache(maxsize=65536)
def _structure_number_problem(column: str, value: str) -> str:
    """Cached: the same establishment's numbers come back on each of its people's rows."""
    try:
        dict(_STRUCTURE_NUMBERS)[column](value)
    except IdentifierError as error:
        return str(error)
    return ""


def _is_date(text: str) -> bool:
    """dd/MM/yyyy and a real day (strptime is too slow for two million rows)."""
    if not _DATE.fullmatch(text):
        return False
    try:
        date(int(text[6:]), int(text[3:5]), int(text[:2]))
    except ValueError:
        return False
    return True


def _count_reason(fields: list[str], expected: int) -> str:
    if fields[-1]:
        return f"la ligne ne se termine pas par « | » ({expected - 1} colonnes attendues)"
    found = len(fields) - 1
    return f"{found} colonne{'s' if found > 1 else ''} au lieu des {expected - 1} de l'en-tête"


def _header_mismatch(columns: tuple[str, ...]) -> str:
    """Say how the header differs from the closest known layout."""
    closest = max(
        LAYOUTS,
        key=lambda layout: (
            _common_prefix(layout.columns, columns),
            -abs(len(layout.columns) - len(columns)),
        ),
    )
    position = _common_prefix(closest.columns, columns)
    expected = closest.columns[position] if position < len(closest.columns) else "(fin)"
    found = columns[position] if position < len(columns) else "(fin)"
    known = ", ".join(layout.name for layout in LAYOUTS)
    return (
        f"en-tête inconnu (formats connus : {known}) ; au plus proche de {closest.name}, "
        f"la colonne {position + 1} devrait être « {expected} » et non « {found} »"
    )


def _common_prefix(left: tuple[str, ...], right: tuple[str, ...]) -> int:
    return next(
        (i for i, (a, b) in enumerate(zip(left, right, strict=False)) if a != b),
        min(len(left), len(right)),
    )


def _practitioner(rows: list[dict[str, str]]) -> Practitioner:
    """One person from their valid rows (at least one, all with the same idNat)."""
    first = rows[0]
    id_nat = parse_id_nat(first[ID_NAT])
    others = _unique(
        identifier
        for row in rows
        for identifier in parse_autres_identifiants(row.get(AUTRES_IDENTIFIANTS, ""))
    )
    return Practitioner(
        id_nat=id_nat.id_nat,
        type_identifiant=id_nat.type_identifiant,
        identifiant=id_nat.identifiant,
        prenoms=tuple(filter(None, first.get(PRENOMS, "").split("'"))),
        exercices=_merge_exercices(_exercice(row) for row in rows),
        autres_identifiants=others or (_derived_identifier(id_nat),),
        **{field: first.get(column, "") for field, column in _PRACTITIONER_COLUMNS.items()},
    )


def _derived_identifier(id_nat: IdNat) -> AutreIdentifiant:
    """What PSC lists in ``otherIds`` when the file has no ``Autres identifiants``."""
    return AutreIdentifiant(id_nat.id_nat, id_nat.origine, 1)


def _exercice(row: Row) -> Exercice:
    """The row's exercice, built by position (measured: 5.7 µs a row, 9.8 µs by name)."""
    activites = (Activite(*_ACTIVITE_VALUES(row)),) if any(_ACTIVITY_VALUES(row)) else ()
    return Exercice(*_EXERCICE_VALUES(row), activites=activites)


def _merge_exercices(exercices: Iterable[Exercice]) -> tuple[Exercice, ...]:
    """Exercices with the same key become one, their activities combined without repeats."""
    merged: dict[tuple[str, ...], Exercice] = {}
    for exercice in exercices:
        key = _EXERCICE_KEY(exercice)
        known = merged.get(key)
        if known is None:
            merged[key] = exercice
        else:
            merged[key] = replace(known, activites=_unique(known.activites + exercice.activites))
    return tuple(merged.values())


def _unique(items: Iterable[_T]) -> tuple[_T, ...]:
    return tuple(dict.fromkeys(items))
