"""The directory as the server queries it: one SQLite index, in memory or on disk.

The bundled fixtures load into an in-memory database at start-up; a national extraction is
imported once into a file, which later starts only open it (DESIGN: "a national index is
opened, not loaded"). Each person is one row holding the practitioner as compact JSON
(:func:`to_json` / :func:`from_json`), plus facets, indexed rows (kind, code, idNat):
profession, role, department, and every word of their names and idNat, so that a search
is a few index lookups even among two million people.

One connection serves every thread, behind a lock: lookups are by primary key and take
microseconds, so serialising them costs less than a connection per thread would.
"""

from __future__ import annotations

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

SCHEMA_VERSION = 1
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
CREATE INDEX facet_person ON facet (id_nat);
"""
_PAGE = 500
_FACET = "SELECT id_nat FROM facet WHERE kind = ?"
_AFTER_PREFIX = "\U0010ffff"  # prefix <= word < prefix + this: words that start with prefix
_NEXT_PAGE = "SELECT id_nat, data FROM practitioner WHERE id_nat > ? ORDER BY id_nat LIMIT ?"
_COMMIT_EVERY = 10_000
_WORD = re.compile(r"[^\W_]+")


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
            raise FileNotFoundError(f"{path}: index de l'annuaire introuvable")
        uri = f"{path.resolve().as_uri()}?mode=rw"
        connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            connection.close()
            raise ValueError(
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
        self, path: str | Path, *, on_issue: Callable[[Issue], None] | None = None
    ) -> ImportSummary:
        """Stream a (national) extraction file into this index, leniently.

        Bad lines are skipped and passed to ``on_issue``; memory stays constant. A person
        whose rows are split across the file is merged with what this import already
        wrote; people already in the index from elsewhere are replaced. Other threads wait
        until the import ends: it is meant for building an index, not for a live server.
        """
        counts = {"error": 0, "warning": 0}

        def report(issue: Issue) -> None:
            counts[issue.severity] += 1
            if on_issue:
                on_issue(issue)

        reader = ExtractionReader(path, on_issue=report)
        people = 0
        with self._lock:
            self._db.execute("CREATE TEMP TABLE IF NOT EXISTS imported (id_nat TEXT PRIMARY KEY)")
            self._db.execute("DELETE FROM imported")
            for practitioner in reader:
                self._write(self._merged_with_import(practitioner))
                people += 1
                if people % _COMMIT_EVERY == 0:
                    self._db.commit()
            self._db.commit()
        return ImportSummary(
            str(path),
            reader.encoding,
            reader.layout.name,
            people,
            counts["error"],
            counts["warning"],
        )

    def _merged_with_import(self, practitioner: Practitioner) -> Practitioner:
        """The person, merged with their earlier runs of rows in this same import."""
        first_run = self._db.execute(
            "INSERT OR IGNORE INTO imported VALUES (?)", (practitioner.id_nat,)
        ).rowcount
        known = None if first_run else self.get(practitioner.id_nat)
        return merge(known, practitioner) if known else practitioner

    def _write(self, practitioner: Practitioner) -> None:
        parse_id_nat(practitioner.id_nat)
        self._db.execute("DELETE FROM facet WHERE id_nat = ?", (practitioner.id_nat,))
        self._db.execute(
            "INSERT OR REPLACE INTO practitioner VALUES (?, ?, ?)",
            (
                practitioner.id_nat,
                _normalize(f"{practitioner.family_name} {practitioner.given_name}"),
                to_json(practitioner),
            ),
        )
        self._db.executemany(
            "INSERT OR IGNORE INTO facet VALUES (?, ?, ?)",
            [(kind, code, practitioner.id_nat) for kind, code in _facets(practitioner)],
        )


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


def _facets(practitioner: Practitioner) -> set[tuple[str, str]]:
    facets = {("profession", e.code_profession) for e in practitioner.exercices}
    for activite in practitioner.activites:
        facets |= {("role", activite.code_role), ("departement", departement(activite))}
    names = [practitioner.id_nat, practitioner.nom, *practitioner.prenoms]
    for exercice in practitioner.exercices:
        names += [exercice.nom_exercice, exercice.prenom_exercice]
    facets |= {("word", word) for word in _words(" ".join(names))}
    return {(kind, code) for kind, code in facets if code}


def _words(text: str) -> list[str]:
    """Lowercase words without accents, split on anything but letters and digits, so that
    "Jean-Marc" is "jean" and "marc" and "HÉLÈNE" is "helene"."""
    return _WORD.findall(_normalize(text))


def _normalize(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def _create_schema(connection: sqlite3.Connection) -> None:
    connection.executescript(_SCHEMA)
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
