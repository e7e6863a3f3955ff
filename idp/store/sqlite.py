"""The SQLite store behind :mod:`idp.store`."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson

from idp.clock import Clock

_SCHEMA = """
CREATE TABLE IF NOT EXISTS record (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    owner TEXT,
    value TEXT NOT NULL,
    expires_at REAL,
    PRIMARY KEY (kind, key)
);
CREATE INDEX IF NOT EXISTS record_owner ON record (kind, owner);
CREATE INDEX IF NOT EXISTS record_expiry ON record (expires_at) WHERE expires_at IS NOT NULL;
"""
# Expired records are invisible at once; every so many writes they are also deleted, so
# that a mock running for days (a demo, a soak) keeps a flat memory and a small file.
_PURGE_EVERY = 1000
_BUSY_TIMEOUT = 5.0  # seconds a statement waits for another process's write
_BUSY_PAUSE = 0.0001
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Record:
    key: str
    value: dict[str, Any]
    expires_at: float | None


class StoreError(ValueError):
    """The state file cannot be used (not a SQLite database, damaged): the message names
    it and says what to do, where sqlite3 said only "file is not a database"."""


class Store:
    """Records with expiry. Thread-safe: one connection guarded by a lock.

    An expired record is invisible at once and purged lazily. The steps that read then
    write (:meth:`take`, :meth:`update`) run in one ``BEGIN IMMEDIATE`` transaction, so
    that they stay atomic when several processes share the file (``--workers``): a code
    is taken once, whichever process is asked.
    """

    def __init__(self, clock: Clock, path: Path | None = None) -> None:
        self.clock = clock
        self._lock = threading.RLock()
        self._writes = 0
        target = str(path) if path else ":memory:"
        # timeout=0: no SQLite busy handler; _patiently waits instead.
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None, timeout=0)
        try:
            if path:
                self._execute("PRAGMA journal_mode=WAL")
                self._execute("PRAGMA synchronous=NORMAL")
            _patiently(self._db.executescript, _SCHEMA)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            if _locked(exc):
                raise
            raise StoreError(
                f"{path} : n'est pas un fichier d'état de psc-mock ({exc}) ; supprimez-le "
                "pour repartir de zéro (il garde les sessions, les modifications du "
                "contrôle et les clés de --data-dir)"
            ) from exc

    def put(
        self,
        kind: str,
        key: str,
        value: dict[str, Any],
        *,
        ttl: float | None = None,
        owner: str | None = None,
    ) -> Record:
        expires_at = self.clock.now() + ttl if ttl is not None else None
        with self._lock:
            self._execute(
                "INSERT OR REPLACE INTO record (kind, key, owner, value, expires_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (kind, key, owner, _text(value), expires_at),
            )
            self._writes += 1
            if self._writes % _PURGE_EVERY == 0:
                self.purge_expired()
        return Record(key, value, expires_at)

    def get(self, kind: str, key: str) -> Record | None:
        with self._lock:
            row = self._execute(
                "SELECT key, value, expires_at FROM record WHERE kind = ? AND key = ?"
                " AND (expires_at IS NULL OR expires_at > ?)",
                (kind, key, self.clock.now()),
            ).fetchone()
        return _record(row)

    def take(self, kind: str, key: str) -> Record | None:
        """Get and delete in one step: what a single-use code needs."""
        with self._atomic():
            record = self.get(kind, key)
            self._execute("DELETE FROM record WHERE kind = ? AND key = ?", (kind, key))
        return record

    def update(
        self,
        kind: str,
        key: str,
        change: Callable[[dict[str, Any]], None],
        *,
        ttl: float | None = None,
    ) -> Record | None:
        """Apply ``change`` to the live record's value in place, atomically; ``ttl`` gives
        it a new lifetime from now (else it keeps its expiry)."""
        with self._atomic():
            record = self.get(kind, key)
            if record is None:
                return None
            change(record.value)
            expires_at = self.clock.now() + ttl if ttl is not None else record.expires_at
            self._execute(
                "UPDATE record SET value = ?, expires_at = ? WHERE kind = ? AND key = ?",
                (_text(record.value), expires_at, kind, key),
            )
        return Record(key, record.value, expires_at)

    def _execute(self, sql: str, parameters: tuple = ()) -> sqlite3.Cursor:
        return _patiently(self._db.execute, sql, parameters)

    @contextmanager
    def _atomic(self) -> Iterator[None]:
        """One write transaction: the lock for this process's threads, SQLite's write lock
        (taken at once by ``BEGIN IMMEDIATE``) for the other processes."""
        with self._lock:
            self._execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._execute("ROLLBACK")
                raise
            self._execute("COMMIT")

    def of_kind(self, kind: str, limit: int = 200) -> list[Record]:
        """Live records of one kind, latest expiry first (a dashboard's listing: past the
        limit, the oldest are left out, not the logins a trainer just saw happen)."""
        with self._lock:
            rows = self._execute(
                "SELECT key, value, expires_at FROM record WHERE kind = ?"
                " AND (expires_at IS NULL OR expires_at > ?) ORDER BY expires_at DESC LIMIT ?",
                (kind, self.clock.now(), limit),
            ).fetchall()
        return [_record(row) for row in rows]

    def owned_by(self, kind: str, owner: str, *, newest: int = -1) -> list[Record]:
        """Live records of ``owner``, in the order they were written; ``newest=n``: the
        last ``n`` written only, newest first (read from the end of the owner index)."""
        order = "DESC" if newest >= 0 else "ASC"
        with self._lock:
            rows = self._execute(
                "SELECT key, value, expires_at FROM record WHERE kind = ? AND owner = ?"
                f" AND (expires_at IS NULL OR expires_at > ?) ORDER BY rowid {order} LIMIT ?",
                (kind, owner, self.clock.now(), newest),
            ).fetchall()
        return [_record(row) for row in rows]

    def delete(self, kind: str, key: str) -> bool:
        with self._lock:
            cursor = self._execute("DELETE FROM record WHERE kind = ? AND key = ?", (kind, key))
        return cursor.rowcount > 0

    def delete_owned_by(self, kind: str, owner: str) -> int:
        with self._lock:
            cursor = self._execute("DELETE FROM record WHERE kind = ? AND owner = ?", (kind, owner))
        return cursor.rowcount

    def purge_expired(self) -> int:
        with self._lock:
            cursor = self._execute(
                "DELETE FROM record WHERE expires_at IS NOT NULL AND expires_at <= ?",
                (self.clock.now(),),
            )
        return cursor.rowcount

    def clear(self) -> None:
        with self._lock:
            self._execute("DELETE FROM record")

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _patiently(run: Callable[..., _T], *args: Any) -> _T:
    """Run a statement, waiting while another process writes (``--workers``).

    Measured with two processes issuing tokens under wrk (one process: 1,000 tokens/s):
    with SQLite's own busy handler, whose first wait is a whole millisecond, 1,180 tokens/s;
    polling every 0.1 ms, 1,420 to 1,510.
    """
    deadline = 0.0
    while True:
        try:
            return run(*args)
        except sqlite3.OperationalError as error:
            if not _locked(error):
                raise
            deadline = deadline or time.monotonic() + _BUSY_TIMEOUT
            if time.monotonic() > deadline:
                raise
            time.sleep(_BUSY_PAUSE)


def _locked(error: sqlite3.Error) -> bool:
    return str(error).startswith("database is locked")


def _record(row: tuple | None) -> Record | None:
    if row is None:
        return None
    key, value, expires_at = row
    return Record(key, orjson.loads(value), expires_at)


def _text(value: dict[str, Any]) -> str:
    """A record's value as stored: orjson's JSON, 0.1 ms a code flow faster than the
    standard library's (a flow writes and reads a dozen records)."""
    return orjson.dumps(value).decode()
