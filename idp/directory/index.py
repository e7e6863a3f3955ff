"""The directory as the server queries it: one SQLite index, in memory or on disk.

The bundled fixtures load into an in-memory database at start-up; a national extraction is
imported once into a file, which later starts only open it (DESIGN: "a national index is
opened, not loaded"). Each person is one row holding the practitioner (:func:`encode`),
and one document of an FTS5 table holding their facets (:mod:`idp.directory.facets`):
profession, role, department, qualifications, activity codes, the words of their names
and idNat, and the keys of the structures they work at. Each structure has a row and a
document too: its identifiers, name words and codes. A search is an inverted-index lookup
among two million people; an import appends compressed doclists.

The FTS5 tables are contentless: a document is removed by giving back its tokens, which
the index recomputes from the stored row (the schema version pins how they are computed).

One connection serves every thread, behind a lock: lookups are by primary key and take
microseconds, so serialising them costs less than a connection per thread would.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from idp.directory.codec import decode
from idp.directory.facets import STRUCTURE, token, words
from idp.directory.loaders import ID_NAT, DirectoryFileError, Issue, LoadResult, load_file
from idp.directory.model import Practitioner
from idp.directory.tables import (
    BATCH,
    PEOPLE_MATCHING,
    SCHEMA_VERSION,
    STRUCTURES_MATCHING,
    Writer,
    batches,
    create_schema,
    record,
)

_PAGE = 500
_NEXT_PAGE = "SELECT id_nat, data FROM practitioner WHERE id_nat > ? ORDER BY id_nat LIMIT ?"
IDNAT = "idnat"  # a Match kind: the idNat itself rather than a facet


class DirectoryIndexError(ValueError):
    """An index file that cannot be served: missing, or built by another version."""


@dataclass(frozen=True, slots=True)
class Match:
    """One indexed condition of :meth:`Directory.find` / :meth:`Directory.structures`.

    ``kind`` is a facet kind (or :data:`IDNAT`, the idNat itself); ``code`` matches the
    facet's code exactly, or every code that starts with it when ``prefix`` is set.
    """

    kind: str
    code: str
    prefix: bool = False

    @property
    def term(self) -> str:
        return token(self.kind, self.code, prefix=self.prefix)


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

    def __init__(self, connection: sqlite3.Connection, *, read_only: bool = False) -> None:
        """Wrap an open connection to an index; use the class methods to get one."""
        self._db = connection
        self._lock = threading.RLock()
        self.read_only = read_only  # an imported index: served, never written

    @classmethod
    def memory(cls) -> Directory:
        """An empty in-memory directory."""
        connection = sqlite3.connect(":memory:", check_same_thread=False)
        create_schema(connection)
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
        """A new, empty on-disk index; refuses to overwrite an existing file.

        DirectoryIndexError, naming the file, when it cannot be created (SQLite only says
        "unable to open database file")."""
        path = Path(index_file)
        if path.exists():
            raise FileExistsError(f"{path}: l'index existe déjà")
        try:
            connection = sqlite3.connect(path, check_same_thread=False)
            create_schema(connection)
        except sqlite3.Error as exc:
            raise DirectoryIndexError(
                f"{path} : impossible de créer l'index ({why_not_creatable(path) or exc})"
            ) from exc
        return cls(connection)

    @classmethod
    def open(cls, index_file: str | Path) -> Directory:
        """An on-disk index built earlier: opened read-only, not loaded.

        Read-only because it is the import's output: edits written into it stayed there
        for good (the control API's undo journal is in memory). A file that is not one of
        our indexes (another file, a SQLite file cut short, another database) is refused
        here, not by a 500 on the first request."""
        path = Path(index_file)
        if not path.is_file():
            raise DirectoryIndexError(f"{path}: index de l'annuaire introuvable")
        uri = f"{path.resolve().as_uri()}?mode=ro"
        connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
        try:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                raise DirectoryIndexError(
                    f"{path}: index au format {version}, ce programme lit le format "
                    f"{SCHEMA_VERSION} ; reconstruisez-le à partir du fichier d'extraction"
                )
            problem = _index_problem(connection, path)
        except sqlite3.DatabaseError as exc:
            problem = str(exc)
        except DirectoryIndexError:
            connection.close()
            raise
        if problem:
            connection.close()
            raise DirectoryIndexError(
                f"{path} : n'est pas un index de l'annuaire ({problem}) ; "
                "reconstruisez-le avec psc-mock directory import"
            )
        return cls(connection, read_only=True)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def get(self, id_nat: str) -> Practitioner | None:
        """The person with exactly this idNat (case-sensitive, as PSC's SubjectNameID)."""
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM practitioner WHERE id_nat = ?", (id_nat,)
            ).fetchone()
        return decode(row[0]) if row else None

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
        terms = [token("word", word, prefix=True) for word in words(text)]
        for kind, code in (
            ("profession", profession),
            ("role", role),
            ("departement", departement),
        ):
            if code:
                terms.append(token(kind, code))
        where = f"WHERE rowid IN ({PEOPLE_MATCHING})" if terms else ""
        query = f"SELECT data FROM practitioner {where} ORDER BY sort_key, id_nat LIMIT ?"
        parameters = [" AND ".join(terms)] if terms else []
        with self._lock:
            rows = self._db.execute(query, [*parameters, limit]).fetchall()
        return [decode(data) for (data,) in rows]

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
        page_conditions, page_parameters, order = _page("id_nat", after, before)
        where_sql = " AND ".join([*conditions, *page_conditions]) or "1"
        query = f"SELECT data FROM practitioner WHERE {where_sql} ORDER BY id_nat {order} LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, [*parameters, *page_parameters, limit]).fetchall()
        people = [decode(data) for (data,) in rows]
        return people[::-1] if before else people

    def structures(
        self,
        where: Iterable[Iterable[Match]] = (),
        *,
        after: str = "",
        before: str = "",
        limit: int = 50,
    ) -> list[str]:
        """Keys of the structures (see :func:`~idp.directory.facets.structure_key`)
        matching every group of ``where``, in key order, paged as :meth:`find` pages people.

        Conditions are on the structure facets: ``Match(STRUCTURE_ID, "35B000017")`` keeps
        the structures with that identifier, ``Match(STRUCTURE_WORD, "chu", prefix=True)``
        those with a word of their name starting with "chu", ``Match(STRUCTURE, key)`` one
        structure.
        """
        if after and before:
            raise ValueError("after or before, not both")
        conditions: list[str] = []
        parameters: list[Any] = []
        for group in where:
            matches = list(group)
            keys = [match.code for match in matches if match.kind == STRUCTURE]
            terms = [match.term for match in matches if match.kind != STRUCTURE]
            alternatives = ["key = ?"] * len(keys)
            if terms:
                alternatives.append(f"rowid IN ({STRUCTURES_MATCHING})")
            conditions.append(f"({' OR '.join(alternatives)})" if alternatives else "0")
            parameters += [*keys, *([" OR ".join(terms)] if terms else [])]
        page_conditions, page_parameters, order = _page("key", after, before)
        where_sql = " AND ".join([*conditions, *page_conditions]) or "1"
        query = f"SELECT key FROM structure WHERE {where_sql} ORDER BY key {order} LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, [*parameters, *page_parameters, limit]).fetchall()
        keys = [key for (key,) in rows]
        return keys[::-1] if before else keys

    def all(self) -> Iterator[Practitioner]:
        """Everyone, by idNat, a page at a time (the lock is not held between pages)."""
        last = ""
        while True:
            with self._lock:
                rows = self._db.execute(_NEXT_PAGE, (last, _PAGE)).fetchall()
            yield from (decode(data) for _, data in rows)
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
        records = [record(practitioner) for practitioner in practitioners]
        with self._lock, self._db:
            for batch in batches(records, BATCH):
                Writer(self._db).write(batch)

    def remove(self, id_nat: str) -> bool:
        """Forget one person; False if they were not there. A structure goes with its last
        member."""
        with self._lock, self._db:
            return Writer(self._db).remove(id_nat)

    def import_file(
        self,
        path: str | Path,
        *,
        on_issue: Callable[[Issue], None] | None = None,
        progress: Callable[[int], None] | None = None,
        workers: int | None = None,
    ) -> ImportSummary:
        """Stream a (national) extraction file into this index, leniently.

        Bad lines are skipped and passed to ``on_issue``; memory stays constant (a few
        chunks of lines are in flight at a time). A person whose rows are split across the
        file is merged with what this import already wrote; people already in the index
        from elsewhere are replaced. ``progress`` is called with the bytes read so far.
        Lines are parsed by ``workers`` processes (default: one per core, none for a small
        file); this process writes. Other threads wait until the import ends: it builds an
        index, it does not serve one.
        """
        from idp.directory.importer import Import

        with self._lock:
            return Import(self._db, path, on_issue, progress, workers).run()


_TABLES = ("practitioner", "practitioner_tags", "structure", "structure_tags")


def _index_problem(connection: sqlite3.Connection, path: Path) -> str:
    """What makes this SQLite file not an index, "" if nothing: a table missing, or a
    file shorter than its header says (a copy cut short). Cheap: no page is scanned."""
    found = {
        name
        for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    missing = [table for table in _TABLES if table not in found]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        return f"table{plural} {', '.join(missing)} absente{plural}"
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    size = connection.execute("PRAGMA page_size").fetchone()[0]
    if path.stat().st_size < pages * size:
        return f"fichier tronqué : {path.stat().st_size} octets au lieu de {pages * size}"
    for table in ("practitioner", "structure"):  # the FTS5 tables cannot be scanned
        connection.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchall()
    return ""


def why_not_creatable(path: Path) -> str:
    """Why a file cannot be created at ``path``, in words, or "" if no reason is seen
    (SQLite only says "unable to open database file")."""
    folder = path.parent
    if not folder.is_dir():
        return f"le dossier {folder} n'existe pas"
    if not os.access(folder, os.W_OK):
        return f"pas le droit d'écrire dans le dossier {folder}"
    return ""


def _page(column: str, after: str, before: str) -> tuple[list[str], list[str], str]:
    """Key-paging conditions, their parameters, and the order to read in."""
    if after:
        return [f"{column} > ?"], [after], "ASC"
    if before:
        return [f"{column} < ?"], [before], "DESC"
    return [], [], "ASC"


def _person_conditions(where: Iterable[Iterable[Match]]) -> tuple[list[str], list[Any]]:
    """SQL conditions on ``practitioner`` for :meth:`Directory.find`'s groups: the groups
    of facets alone become one FTS5 query, the others a condition each."""
    conditions: list[str] = []
    parameters: list[Any] = []
    facet_groups: list[str] = []
    for group in where:
        matches = list(group)
        terms = [match.term for match in matches if match.kind != IDNAT]
        id_nat_matches = [match for match in matches if match.kind == IDNAT]
        if not matches:
            conditions.append("0")
        elif not id_nat_matches:
            facet_groups.append(f"({' OR '.join(terms)})")
        else:
            alternatives, values = _id_nat_alternatives(id_nat_matches)
            if terms:
                alternatives.append(f"rowid IN ({PEOPLE_MATCHING})")
                values.append(" OR ".join(terms))
            conditions.append(f"({' OR '.join(alternatives)})")
            parameters += values
    if facet_groups:
        conditions.insert(0, f"rowid IN ({PEOPLE_MATCHING})")
        parameters.insert(0, " AND ".join(facet_groups))
    return conditions, parameters


def _id_nat_alternatives(matches: list[Match]) -> tuple[list[str], list[Any]]:
    alternatives: list[str] = []
    values: list[Any] = []
    for match in matches:
        if match.prefix:
            alternatives.append("(id_nat >= ? AND id_nat < ?)")
            values += [match.code, match.code + "\U0010ffff"]
    exact = [match.code for match in matches if not match.prefix]
    if len(exact) == 1:
        alternatives.append("id_nat = ?")
        values.append(exact[0])
    elif exact:
        alternatives.append("id_nat IN (SELECT value FROM json_each(?))")
        values.append(json.dumps(exact))
    return alternatives, values


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
