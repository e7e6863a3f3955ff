"""The index's tables, and the one way to write them.

A person is a row of ``practitioner`` (:func:`~idp.directory.codec.encode`) and a
document of the FTS5 table ``practitioner_tags`` (their facets' tokens, see
:mod:`idp.directory.facets`) under the same rowid; a structure is a row of ``structure``
and a document of ``structure_tags``. :class:`Writer` keeps them in step. The FTS5 tables
are contentless (no second copy of the text), so a document is removed by giving back its
tokens, recomputed from the stored row; a structure goes when its last member does.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

from idp.directory.codec import decode, encode
from idp.directory.facets import STRUCTURE, fold, person_facets, structure_tags, tags, token
from idp.directory.identifiers import parse_id_nat
from idp.directory.loaders import merge
from idp.directory.model import Practitioner

SCHEMA_VERSION = 3  # 3: FTS5 documents for people and structures
_SCHEMA = """
CREATE TABLE practitioner (
    id_nat TEXT PRIMARY KEY,
    sort_key TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE VIRTUAL TABLE practitioner_tags USING fts5(
    tags, content='', columnsize=0, detail=none, tokenize='ascii'
);
CREATE TABLE structure (key TEXT PRIMARY KEY, tags TEXT NOT NULL);
CREATE VIRTUAL TABLE structure_tags USING fts5(
    tags, content='', columnsize=0, detail=none, tokenize='ascii'
);
"""
SORT_INDEX = "CREATE INDEX IF NOT EXISTS practitioner_sort ON practitioner (sort_key, id_nat)"
PEOPLE_MATCHING = "SELECT rowid FROM practitioner_tags WHERE practitioner_tags MATCH ?"
STRUCTURES_MATCHING = "SELECT rowid FROM structure_tags WHERE structure_tags MATCH ?"
BATCH = 500  # people written together; SQLite takes up to 32766 parameters per query


class Record(NamedTuple):
    """A person as the index writes them (computed in worker processes by an import)."""

    id_nat: str
    sort_key: str
    data: str
    tags: str
    structures: dict[str, str]  # structure key -> its tokens


def record(practitioner: Practitioner) -> Record:
    """What the index stores of a person; IdNatError for a malformed idNat."""
    parse_id_nat(practitioner.id_nat)
    return Record(
        practitioner.id_nat,
        fold(f"{practitioner.family_name} {practitioner.given_name}"),
        encode(practitioner),
        tags(person_facets(practitioner)),
        structure_tags(practitioner),
    )


def create_schema(connection: sqlite3.Connection) -> None:
    connection.executescript(f"{_SCHEMA}{SORT_INDEX};")
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


class Writer:
    """Writes records and removes people inside the caller's transaction."""

    def __init__(
        self,
        db: sqlite3.Connection,
        *,
        merging: Callable[[str], bool] | None = None,
        staging: bool = False,
    ):
        """``merging(id_nat)`` says whether a person already there is an earlier run of
        the same import (merged with the new one) rather than someone to replace.

        ``staging`` (an import into an empty index): structures are appended to a scratch
        table and built once by :meth:`finish`, instead of being looked up and upserted
        batch by batch (measured on 500,000 rows: the lookups alone took 3.5 s of the
        writer's 20 s).
        """
        self._db = db
        self._merging = merging or (lambda id_nat: False)
        self._staging = staging
        if staging:
            db.execute("CREATE TEMP TABLE IF NOT EXISTS staged_structure (key TEXT, tags TEXT)")
            db.execute("DELETE FROM staged_structure")

    def write(self, records: list[Record]) -> None:
        records = _merge_runs(records)
        marks = ",".join("?" * len(records))
        known = {
            id_nat: (rowid, data)
            for rowid, id_nat, data in self._db.execute(
                f"SELECT rowid, id_nat, data FROM practitioner WHERE id_nat IN ({marks})",
                [r.id_nat for r in records],
            )
        }
        fresh = [r for r in records if r.id_nat not in known]
        first = self._next_rowid("practitioner")
        self._db.executemany(
            "INSERT INTO practitioner (rowid, id_nat, sort_key, data) VALUES (?, ?, ?, ?)",
            [(rowid, r.id_nat, r.sort_key, r.data) for rowid, r in enumerate(fresh, first)],
        )
        self._db.executemany(
            "INSERT INTO practitioner_tags (rowid, tags) VALUES (?, ?)",
            [(rowid, r.tags) for rowid, r in enumerate(fresh, first)],
        )
        written, left = list(fresh), set()
        for new in (r for r in records if r.id_nat in known):
            rowid, data = known[new.id_nat]
            new, gone = self._replace(rowid, decode(data), new)
            written.append(new)
            left |= gone
        if self._staging:
            self._db.executemany(
                "INSERT INTO staged_structure VALUES (?, ?)",
                [item for r in written for item in r.structures.items()],
            )
        else:
            self._add_structures(written)
        self._forget_orphans(left)

    def finish(self) -> None:
        """Build the staged structures: one row and one document each, their tokens what
        every activity said of them (the same tokens from its many members once; what
        repeats across different ones is harmless: a document keeps no counts)."""
        if not self._staging:
            return
        self._db.execute(
            "INSERT INTO structure (key, tags) "
            "SELECT key, replace(group_concat(DISTINCT tags), ',', ' ') "
            "FROM staged_structure GROUP BY key"
        )
        self._db.execute(
            "INSERT INTO structure_tags (rowid, tags) SELECT rowid, tags FROM structure"
        )
        self._db.execute("DELETE FROM staged_structure")

    def remove(self, id_nat: str) -> bool:
        row = self._db.execute(
            "SELECT rowid, data FROM practitioner WHERE id_nat = ?", (id_nat,)
        ).fetchone()
        if row is None:
            return False
        gone = self._drop_document(row[0], decode(row[1]))
        self._db.execute("DELETE FROM practitioner WHERE rowid = ?", (row[0],))
        self._forget_orphans(gone)
        return True

    def _replace(self, rowid: int, old: Practitioner, new: Record) -> tuple[Record, set[str]]:
        """Write ``new`` over ``old`` (merged with it when importing its next run): the
        record written, and the structure keys only ``old`` named."""
        if self._merging(new.id_nat):
            new = record(merge(old, decode(new.data)))
        gone = self._drop_document(rowid, old) - set(new.structures)
        self._db.execute(
            "UPDATE practitioner SET sort_key = ?, data = ? WHERE rowid = ?",
            (new.sort_key, new.data, rowid),
        )
        self._db.execute(
            "INSERT INTO practitioner_tags (rowid, tags) VALUES (?, ?)", (rowid, new.tags)
        )
        return new, gone

    def _drop_document(self, rowid: int, old: Practitioner) -> set[str]:
        """Remove a person's FTS5 document; the keys of the structures it named."""
        old_record = record(old)
        self._db.execute(
            "INSERT INTO practitioner_tags (practitioner_tags, rowid, tags) "
            "VALUES ('delete', ?, ?)",
            (rowid, old_record.tags),
        )
        return set(old_record.structures)

    def _add_structures(self, records: Iterable[Record]) -> None:
        """Each structure once, its tokens the union of what every activity says of it."""
        wanted: dict[str, set[str]] = {}
        for r in records:
            for key, found in r.structures.items():
                wanted.setdefault(key, set()).update(found.split())
        if not wanted:
            return
        marks = ",".join("?" * len(wanted))
        known = {
            key: (rowid, stored)
            for rowid, key, stored in self._db.execute(
                f"SELECT rowid, key, tags FROM structure WHERE key IN ({marks})", list(wanted)
            )
        }
        added, changed = [], []
        for rowid, key in enumerate(
            (key for key in wanted if key not in known), self._next_rowid("structure")
        ):
            added.append((rowid, key, " ".join(sorted(wanted[key]))))
        for key, (rowid, stored) in known.items():
            merged = " ".join(sorted(wanted[key] | set(stored.split())))
            if merged != stored:
                self._drop_structure_document(rowid, stored)
                changed.append((rowid, key, merged))
        self._db.executemany("DELETE FROM structure WHERE rowid = ?", [c[:1] for c in changed])
        self._db.executemany(
            "INSERT INTO structure (rowid, key, tags) VALUES (?, ?, ?)", added + changed
        )
        self._db.executemany(
            "INSERT INTO structure_tags (rowid, tags) VALUES (?, ?)",
            [(rowid, merged) for rowid, _, merged in added + changed],
        )

    def _forget_orphans(self, keys: Iterable[str]) -> None:
        """Remove the structures of ``keys`` that nobody works at any more."""
        for key in keys:
            member = self._db.execute(f"{PEOPLE_MATCHING} LIMIT 1", (token(STRUCTURE, key),))
            if member.fetchone():
                continue
            row = self._db.execute(
                "SELECT rowid, tags FROM structure WHERE key = ?", (key,)
            ).fetchone()
            if row:
                self._drop_structure_document(*row)
                self._db.execute("DELETE FROM structure WHERE rowid = ?", (row[0],))

    def _drop_structure_document(self, rowid: int, stored: str) -> None:
        self._db.execute(
            "INSERT INTO structure_tags (structure_tags, rowid, tags) VALUES ('delete', ?, ?)",
            (rowid, stored),
        )

    def _next_rowid(self, table: str) -> int:
        return self._db.execute(f"SELECT coalesce(max(rowid), 0) + 1 FROM {table}").fetchone()[0]


def _merge_runs(records: list[Record]) -> list[Record]:
    """One record per person: runs of the same person in one batch are merged."""
    by_id: dict[str, Record] = {}
    for r in records:
        known = by_id.get(r.id_nat)
        by_id[r.id_nat] = record(merge(decode(known.data), decode(r.data))) if known else r
    return list(by_id.values())
