"""The directory as the server queries it: one SQLite index, in memory or on disk.

The bundled fixtures load into an in-memory database at start-up; a national extraction is
imported once into a file, which later starts only open it (DESIGN: "a national index is
opened, not loaded"). Each person is one row holding the practitioner as compact JSON
(:func:`to_json` / :func:`from_json`), plus facets, indexed rows (kind, code, idNat):
profession, role, department, qualifications, activity codes, every word of their names
and idNat, and the structures they work at, so that a search is a few index lookups even
among two million people.

Structures (where activities take place) have no table of their own: they exist through
the people who work there. Each activity gives a ``structure`` facet (the structure's
key, :func:`structure_key`, and its legal entity's, :func:`legal_entity_key`) and facets
whose code is ``<value>\x1f<structure key>`` (its identifiers, name words, codes), so that
:meth:`Directory.structures` finds structures by identifier or name through the same
index, and forgets a structure when its last member goes.

One connection serves every thread, behind a lock: lookups are by primary key and take
microseconds, so serialising them costs less than a connection per thread would.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import sqlite3
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path
from typing import Any

from idp.directory.identifiers import parse_id_nat
from idp.directory.loaders import (
    ID_NAT,
    DirectoryFileError,
    ExtractionReader,
    Issue,
    LoadResult,
    load_file,
    merge,
)
from idp.directory.model import Activite, AutreIdentifiant, Exercice, Practitioner

SCHEMA_VERSION = 2  # 2: qualification, activity-code, civility and structure facets
_SCHEMA = """
CREATE TABLE practitioner (
    id_nat TEXT PRIMARY KEY,
    sort_key TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX practitioner_sort ON practitioner (sort_key, id_nat);
CREATE TABLE facet (
    kind TEXT NOT NULL,
    code TEXT NOT NULL,
    id_nat TEXT NOT NULL,
    PRIMARY KEY (kind, code, id_nat)
) WITHOUT ROWID;
"""
_SCHEMA_INDEXES = """
CREATE INDEX IF NOT EXISTS facet_person ON facet (id_nat);
"""
_PAGE = 500
_FACET = "SELECT id_nat FROM facet WHERE kind = ?"
_AFTER_PREFIX = "\U0010ffff"  # prefix <= word < prefix + this: words that start with prefix
_NEXT_PAGE = "SELECT id_nat, data FROM practitioner WHERE id_nat > ? ORDER BY id_nat LIMIT ?"
_BATCH = 500  # people written together; SQLite takes up to 32766 parameters per query
_WORD = re.compile(r"[^\W_]+")
_SEPARATOR = "\x1f"  # between a value and its structure key, in structure facets' codes

IDNAT = "idnat"  # a Match kind: the idNat itself rather than a facet
STRUCTURE = "structure"  # code: a structure key; one row per person working there
STRUCTURE_ID = "structure-id"  # code: "<identifier>\x1f<key>"
STRUCTURE_WORD = "structure-word"  # code: "<word of its name or sign>\x1f<key>"
STRUCTURE_CODE = "structure-code"  # code: "<secteur d'activité, or EG / EJ>\x1f<key>"
LEGAL_ENTITY = "EJ"  # entité juridique: a legal entity, or a cabinet known by its rang
GEOGRAPHICAL_ENTITY = "EG"  # entité géographique: a site (FINESS or SIRET)


class DirectoryIndexError(ValueError):
    """An index file that cannot be served: missing, or built by another version."""


@dataclass(frozen=True, slots=True)
class Match:
    """One indexed condition of :meth:`Directory.find` / :meth:`Directory.structures`.

    ``kind`` is a facet kind (or :data:`IDNAT`, the idNat itself); ``code`` matches the
    facet's code exactly, or every code that starts with it when ``prefix`` is set. For the
    structure facets (``structure-id``, ``structure-word``, ``structure-code``), ``code`` is
    the value alone: the structure key that follows it in the index is not part of it.
    """

    kind: str
    code: str
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What :meth:`Directory.import_file` did with one file."""

    path: str
    encoding: str
    layout: str
    people: int  # runs of rows written (a person split across runs counts once per run)
    errors: int  # rejected lines
    warnings: int


class Directory:
    """Who exists, looked up by idNat or searched, safe to share between threads."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        """Wrap an open connection to an index; use the class methods to get one."""
        self._db = connection
        self._lock = threading.RLock()

    @classmethod
    def memory(cls) -> Directory:
        """An empty in-memory directory."""
        connection = sqlite3.connect(":memory:", check_same_thread=False)
        _create_schema(connection)
        return cls(connection)

    @classmethod
    def from_paths(cls, paths: Iterable[str | Path], *, strict: bool = True) -> Directory:
        """An in-memory directory of these extraction files.

        A person in two files is an error: each file is one person's whole truth.
        """
        loaded = [load_file(path, strict=strict) for path in paths]
        _refuse_duplicates(loaded)
        directory = cls.memory()
        directory.put_many(p for result in loaded for p in result.practitioners)
        return directory

    @classmethod
    def from_fixtures(cls, folder: str | Path) -> Directory:
        """Every ``*.txt`` of ``folder``, loaded strictly (the bundled fixtures)."""
        return cls.from_paths(sorted(Path(folder).glob("*.txt")), strict=True)

    @classmethod
    def create(cls, index_file: str | Path) -> Directory:
        """A new, empty on-disk index; refuses to overwrite an existing file."""
        path = Path(index_file)
        if path.exists():
            raise FileExistsError(f"{path}: l'index existe déjà")
        connection = sqlite3.connect(path, check_same_thread=False)
        _create_schema(connection)
        return cls(connection)

    @classmethod
    def open(cls, index_file: str | Path) -> Directory:
        """An on-disk index built earlier: opened, not loaded."""
        path = Path(index_file)
        if not path.is_file():
            raise DirectoryIndexError(f"{path}: index de l'annuaire introuvable")
        uri = f"{path.resolve().as_uri()}?mode=rw"
        connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            connection.close()
            raise DirectoryIndexError(
                f"{path}: index au format {version}, ce programme lit le format "
                f"{SCHEMA_VERSION} ; reconstruisez-le à partir du fichier d'extraction"
            )
        return cls(connection)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def get(self, id_nat: str) -> Practitioner | None:
        """The person with exactly this idNat (case-sensitive, as PSC's SubjectNameID)."""
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM practitioner WHERE id_nat = ?", (id_nat,)
            ).fetchone()
        return from_json(row[0]) if row else None

    def search(
        self,
        text: str = "",
        *,
        profession: str = "",
        role: str = "",
        departement: str = "",
        limit: int = 50,
    ) -> list[Practitioner]:
        """People matching every given code, and for whom each word of ``text`` begins a
        word of their names or idNat (case and accents ignored), sorted by name."""
        conditions: list[str] = []
        parameters: list[Any] = []
        for word in _words(text):
            conditions.append(f"id_nat IN ({_FACET} AND code >= ? AND code < ?)")
            parameters += ["word", word, word + _AFTER_PREFIX]
        for kind, code in (
            ("profession", profession),
            ("role", role),
            ("departement", departement),
        ):
            if code:
                conditions.append(f"id_nat IN ({_FACET} AND code = ?)")
                parameters += [kind, code]
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        query = f"SELECT data FROM practitioner {where} ORDER BY sort_key, id_nat LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, [*parameters, limit]).fetchall()
        return [from_json(data) for (data,) in rows]

    def find(
        self,
        where: Iterable[Iterable[Match]] = (),
        *,
        exclude: Iterable[str] = (),
        after: str = "",
        before: str = "",
        limit: int = 50,
    ) -> list[Practitioner]:
        """People, by idNat, for whom every group of ``where`` has a matching condition.

        Each group is an OR of :class:`Match` (an empty group matches nobody); people whose
        idNat is in ``exclude`` are left out. This is the search by structure too: a
        ``Match(STRUCTURE, key)`` group keeps the people with an activity there. Paging is
        by key: ``after`` gives the first ``limit`` people after that idNat, ``before`` the
        last ``limit`` people before it (still in ascending order).
        """
        if after and before:
            raise ValueError("after or before, not both")
        conditions, parameters = _person_conditions(where)
        excluded = list(exclude)
        if excluded:
            conditions.append("id_nat NOT IN (SELECT value FROM json_each(?))")
            parameters.append(json.dumps(excluded))
        if after:
            conditions.append("id_nat > ?")
            parameters.append(after)
        if before:
            conditions.append("id_nat < ?")
            parameters.append(before)
        where_sql = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        order = "DESC" if before else "ASC"
        query = f"SELECT data FROM practitioner {where_sql} ORDER BY id_nat {order} LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, [*parameters, limit]).fetchall()
        people = [from_json(data) for (data,) in rows]
        return people[::-1] if before else people

    def structures(
        self,
        where: Iterable[Iterable[Match]] = (),
        *,
        after: str = "",
        before: str = "",
        limit: int = 50,
    ) -> list[str]:
        """Keys of the structures (see :func:`structure_key`) matching every group of
        ``where``, in key order, paged as :meth:`find` pages people.

        Conditions are on the structure facets: ``Match(STRUCTURE_ID, "35B000017")`` keeps
        the structures with that identifier, ``Match(STRUCTURE_WORD, "chu", prefix=True)``
        those with a word of their name starting with "chu", ``Match(STRUCTURE, key)`` one
        structure.
        """
        if after and before:
            raise ValueError("after or before, not both")
        conditions: list[str] = ["kind = ?"]
        parameters: list[Any] = [STRUCTURE]
        for group in where:
            alternatives = []
            for match in group:
                if match.kind == STRUCTURE:
                    alternatives.append("code = ?")
                    parameters.append(match.code)
                    continue
                low, high = _prefix_range(match.code if match.prefix else match.code + _SEPARATOR)
                alternatives.append(
                    "code IN (SELECT substr(code, instr(code, char(31)) + 1) FROM facet "
                    "WHERE kind = ? AND code >= ? AND code < ?)"
                )
                parameters += [match.kind, low, high]
            conditions.append(f"({' OR '.join(alternatives)})" if alternatives else "0")
        if after:
            conditions.append("code > ?")
            parameters.append(after)
        if before:
            conditions.append("code < ?")
            parameters.append(before)
        order = "DESC" if before else "ASC"
        query = (
            f"SELECT DISTINCT code FROM facet WHERE {' AND '.join(conditions)} "
            f"ORDER BY code {order} LIMIT ?"
        )
        with self._lock:
            rows = self._db.execute(query, [*parameters, limit]).fetchall()
        keys = [code for (code,) in rows]
        return keys[::-1] if before else keys

    def all(self) -> Iterator[Practitioner]:
        """Everyone, by idNat, a page at a time (the lock is not held between pages)."""
        last = ""
        while True:
            with self._lock:
                rows = self._db.execute(_NEXT_PAGE, (last, _PAGE)).fetchall()
            yield from (from_json(data) for _, data in rows)
            if len(rows) < _PAGE:
                return
            last = rows[-1][0]

    def is_empty(self) -> bool:
        """Whether nobody is in it (cheap, unlike counting two million people)."""
        with self._lock:
            return self._db.execute("SELECT 1 FROM practitioner LIMIT 1").fetchone() is None

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM practitioner").fetchone()[0]

    def put(self, practitioner: Practitioner) -> None:
        """Add or replace one person (runtime edits); their idNat must be well formed."""
        self.put_many([practitioner])

    def put_many(self, practitioners: Iterable[Practitioner]) -> None:
        """Add or replace several people in one transaction."""
        with self._lock, self._db:
            for practitioner in practitioners:
                self._write(practitioner)

    def remove(self, id_nat: str) -> bool:
        """Forget one person; False if they were not there."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM facet WHERE id_nat = ?", (id_nat,))
            cursor = self._db.execute("DELETE FROM practitioner WHERE id_nat = ?", (id_nat,))
        return cursor.rowcount > 0

    def import_file(
        self,
        path: str | Path,
        *,
        on_issue: Callable[[Issue], None] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> ImportSummary:
        """Stream a (national) extraction file into this index, leniently.

        Bad lines are skipped and passed to ``on_issue``; memory stays constant (people
        are written a batch at a time). A person whose rows are split across the file is
        merged with what this import already wrote; people already in the index from
        elsewhere are replaced. ``progress`` is called with the bytes read so far. Other
        threads wait until the import ends: it builds an index, it does not serve one.
        """
        counts = {"error": 0, "warning": 0}

        def report(issue: Issue) -> None:
            counts[issue.severity] += 1
            if on_issue:
                on_issue(issue)

        reader = ExtractionReader(path, on_issue=report)
        people = 0
        with self._lock:
            fresh = self.is_empty()
            self._db.execute("PRAGMA synchronous = OFF")  # an interrupted import is redone
            if fresh:  # one sorted build at the end beats two million random inserts
                self._db.execute("DROP INDEX IF EXISTS facet_person")
            self._db.execute("CREATE TEMP TABLE IF NOT EXISTS imported (id_nat TEXT PRIMARY KEY)")
            self._db.execute("DELETE FROM imported")
            for batch in _batches(reader, _BATCH):
                self._import_batch(batch)
                people += len(batch)
                if progress:
                    progress(reader.bytes_read)
            self._db.executescript(_SCHEMA_INDEXES)
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.commit()
        return ImportSummary(
            str(path),
            reader.encoding,
            reader.layout.name,
            people,
            counts["error"],
            counts["warning"],
        )

    def _import_batch(self, batch: Iterable[Practitioner]) -> None:
        """Write a batch of runs, each merged with the person's earlier runs in this import
        (in this batch or a previous one); people from elsewhere are replaced."""
        people: dict[str, Practitioner] = {}
        for practitioner in batch:
            known = people.get(practitioner.id_nat)
            people[practitioner.id_nat] = merge(known, practitioner) if known else practitioner
        marks = ",".join("?" * len(people))
        earlier = self._db.execute(
            f"SELECT p.id_nat, p.data FROM imported JOIN practitioner p USING (id_nat) "
            f"WHERE id_nat IN ({marks})",
            list(people),
        ).fetchall()
        for id_nat, data in earlier:
            people[id_nat] = merge(from_json(data), people[id_nat])
        self._db.executemany("INSERT OR IGNORE INTO imported VALUES (?)", [(i,) for i in people])
        self._write_all(people.values())

    def _write(self, practitioner: Practitioner) -> None:
        self._write_all([practitioner])

    def _write_all(self, practitioners: Iterable[Practitioner]) -> None:
        rows, facets = [], []
        for practitioner in practitioners:
            parse_id_nat(practitioner.id_nat)
            sort_key = _normalize(f"{practitioner.family_name} {practitioner.given_name}")
            rows.append((practitioner.id_nat, sort_key, to_json(practitioner)))
            facets += [(kind, code, practitioner.id_nat) for kind, code in _facets(practitioner)]
        replaced = self._db.execute(
            f"SELECT id_nat FROM practitioner WHERE id_nat IN ({','.join('?' * len(rows))})",
            [row[0] for row in rows],
        ).fetchall()
        self._db.executemany("DELETE FROM facet WHERE id_nat = ?", replaced)
        self._db.executemany("INSERT OR REPLACE INTO practitioner VALUES (?, ?, ?)", rows)
        self._db.executemany("INSERT OR IGNORE INTO facet VALUES (?, ?, ?)", facets)


def _batches(items: Iterable[Practitioner], size: int) -> Iterator[list[Practitioner]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def to_json(practitioner: Practitioner) -> str:
    """Compact JSON of a practitioner: fields equal to their default are left out."""
    return json.dumps(_compact(practitioner), ensure_ascii=False, separators=(",", ":"))


def from_json(text: str) -> Practitioner:
    """The practitioner :func:`to_json` wrote."""
    data = json.loads(text)
    return Practitioner(
        **{
            **data,
            "prenoms": tuple(data.get("prenoms", ())),
            "exercices": tuple(_exercice(item) for item in data.get("exercices", ())),
            "autres_identifiants": tuple(
                AutreIdentifiant(**item) for item in data.get("autres_identifiants", ())
            ),
        }
    )


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


def _exercice(data: dict[str, Any]) -> Exercice:
    activites = tuple(Activite(**item) for item in data.get("activites", ()))
    return Exercice(**{**data, "activites": activites})


def _compact(value: Any) -> Any:
    if isinstance(value, str | int):
        return value
    if isinstance(value, tuple):
        return [_compact(item) for item in value]
    return {
        name: _compact(item)
        for name, default in _field_defaults(type(value))
        if (item := getattr(value, name)) != default
    }


@cache
def _field_defaults(cls: type) -> tuple[tuple[str, Any], ...]:
    """(name, default) of a dataclass's fields; MISSING never equals a value."""
    return tuple((field.name, field.default) for field in fields(cls))


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
    return list(dict.fromkeys(value for value in values if value))


def _facets(practitioner: Practitioner) -> set[tuple[str, str]]:
    facets = {("profession", e.code_profession) for e in practitioner.exercices}
    for exercice in practitioner.exercices:
        facets |= {
            ("qualification", code.strip())
            for code in (
                exercice.code_profession,
                exercice.code_categorie_professionnelle,
                exercice.code_type_savoir_faire,
                exercice.code_savoir_faire,
            )
        }
        facets.add(("civilite", _normalize(exercice.code_civilite_exercice)))
    facets.add(("civilite", _normalize(practitioner.code_civilite)))
    for activite in practitioner.activites:
        facets |= {("role", activite.code_role), ("departement", departement(activite))}
        facets |= {
            ("activite-code", code.strip())
            for code in (
                activite.code_mode_exercice,
                activite.code_genre_activite,
                activite.code_section_pharmacien,
            )
        }
        facets |= _structure_facets(activite)
    names = [practitioner.id_nat, practitioner.nom, *practitioner.prenoms]
    for exercice in practitioner.exercices:
        names += [exercice.nom_exercice, exercice.prenom_exercice]
    facets |= {("word", word) for word in _words(" ".join(names))}
    return {(kind, code) for kind, code in facets if code}


def _structure_facets(activite: Activite) -> set[tuple[str, str]]:
    facets: set[tuple[str, str]] = set()
    key = structure_key(activite)
    if key:
        facets.add((STRUCTURE, key))
        names = f"{activite.raison_sociale_site} {activite.enseigne_commerciale_site}"
        values = [
            *((STRUCTURE_ID, value) for value in structure_identifiers(activite)),
            *((STRUCTURE_WORD, word) for word in _words(names)),
            (STRUCTURE_CODE, activite.code_secteur_activite),
            (STRUCTURE_CODE, structure_kind(activite)),
        ]
        facets |= {
            (kind, value.strip() + _SEPARATOR + key)
            for kind, value in values
            if _is_key(value.strip())
        }
    legal = legal_entity_key(activite)
    if legal:
        finess = activite.numero_finess_etablissement_juridique
        facets.add((STRUCTURE, legal))
        facets |= {
            (STRUCTURE_ID, finess + _SEPARATOR + legal),
            (STRUCTURE_ID, "1" + finess + _SEPARATOR + legal),
            (STRUCTURE_CODE, LEGAL_ENTITY + _SEPARATOR + legal),
        }
    return facets


def _is_key(value: str) -> bool:
    """Whether a value can stand in a structure facet: non-empty, no separator, no space."""
    return bool(value) and _SEPARATOR not in value and " " not in value


def _person_conditions(where: Iterable[Iterable[Match]]) -> tuple[list[str], list[Any]]:
    """SQL conditions on ``practitioner.id_nat`` for :meth:`Directory.find`'s groups."""
    conditions: list[str] = []
    parameters: list[Any] = []
    for group in where:
        alternatives: list[str] = []
        id_nats: list[str] = []
        for match in group:
            if match.kind == IDNAT and not match.prefix:
                id_nats.append(match.code)
                continue
            if match.kind == IDNAT:
                low, high = _prefix_range(match.code)
                alternatives.append("(id_nat >= ? AND id_nat < ?)")
                parameters += [low, high]
                continue
            if match.prefix:
                low, high = _prefix_range(match.code)
                alternatives.append(f"id_nat IN ({_FACET} AND code >= ? AND code < ?)")
                parameters += [match.kind, low, high]
            else:
                alternatives.append(f"id_nat IN ({_FACET} AND code = ?)")
                parameters += [match.kind, match.code]
        if len(id_nats) == 1:
            alternatives.append("id_nat = ?")
            parameters.append(id_nats[0])
        elif id_nats:
            alternatives.append("id_nat IN (SELECT value FROM json_each(?))")
            parameters.append(json.dumps(id_nats))
        conditions.append(f"({' OR '.join(alternatives)})" if alternatives else "0")
    return conditions, parameters


def _prefix_range(code: str) -> tuple[str, str]:
    """The [low, high) range of the codes that start with ``code``."""
    return code, code + _AFTER_PREFIX


def words(text: str) -> list[str]:
    """The words the index keeps of ``text`` (see :func:`_words`): match against these."""
    return _words(text)


def fold(text: str) -> str:
    """``text`` as the index compares it: lowercase, accents removed."""
    return _normalize(text)


def _words(text: str) -> list[str]:
    """Lowercase words without accents, split on anything but letters and digits, so that
    "Jean-Marc" is "jean" and "marc" and "HÉLÈNE" is "helene"."""
    return _WORD.findall(_normalize(text))


@functools.lru_cache(maxsize=65536)
def _normalize(text: str) -> str:
    """Cached: names, streets and establishments repeat throughout a national file."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def _create_schema(connection: sqlite3.Connection) -> None:
    connection.executescript(_SCHEMA + _SCHEMA_INDEXES)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _refuse_duplicates(loaded: list[LoadResult]) -> None:
    """A person in two files is an error naming both files."""
    seen: dict[str, str] = {}
    issues = []
    for result in loaded:
        for id_nat, line in result.first_lines.items():
            if id_nat in seen:
                reason = f"« {id_nat} » figure déjà dans {seen[id_nat]}"
                issues.append(Issue(result.path, line, ID_NAT, id_nat, reason))
            seen.setdefault(id_nat, result.path)
    if issues:
        raise DirectoryFileError(issues)
