"""Importing an extraction into an index: lines parsed by worker processes, written by one.

Parsing a row, building the person and their tokens is pure Python and costs most of an
import (about two thirds of its CPU, measured on 100,000 rows); SQLite writing is the rest
and must stay in one process. So chunks of lines go to one worker process per core, a few
at a time (memory stays constant), and their records come back in file order to be
written. Files under a few megabytes are parsed here: starting workers would cost more.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import sqlite3
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

from idp.directory.index import ImportSummary
from idp.directory.loaders import ExtractionReader, Issue, RowParser
from idp.directory.tables import BATCH, SORT_INDEX, Record, Writer, batches, record

_CHUNK_LINES = 2000  # lines a worker process parses at a time
_PARALLEL_FROM = 4 << 20  # bytes: smaller files are parsed in this process

Prepared = tuple[list[tuple], list[Issue]]


def prepare(parser: RowParser, first: int, lines: list[str]) -> Prepared:
    """The records of a chunk of lines, by column, and what was wrong with them (in a
    worker). Columns of strings cross to the writer's process in a fourth of the time
    records take (measured: 2.4 against 9.1 µs a person, pickling and unpickling)."""
    issues: list[Issue] = []
    records = [record(p) for _, p in parser.runs(enumerate(lines, first), issues.append)]
    return list(zip(*records, strict=True)), issues


def _worker_setup() -> None:
    """In each worker: Ctrl-C is the parent's to handle (it stops the pool), and SIGTERM,
    the pool's way to stop a worker, kills it quietly. Without this, Ctrl-C printed one
    KeyboardInterrupt traceback per worker, and a handler the parent had installed ran in
    them too.

    No cyclic garbage collection either: parsing makes no cycles (the RSS of a worker is
    the same with and without it, 96 MB on 400,000 rows), and the collector's passes over
    millions of short-lived rows cost 9 % of the workers' CPU (28.3-29.6 s, then 26.3-26.4
    on 400,000 rows; the import's wall time 20.3-21.4 s, then 19.7-19.9). On 2 million
    rows the workers' CPU went from 153 to 146 s but the wall time hardly moved (110.9 s,
    then 109.7): there the writer and the two shared cores set the pace."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    gc.disable()


class Import:
    """One run of :meth:`Directory.import_file`, on a connection its caller has locked."""

    def __init__(
        self,
        db: sqlite3.Connection,
        path: str | Path,
        on_issue: Callable[[Issue], None] | None,
        progress: Callable[[int], None] | None,
        workers: int | None,
    ) -> None:
        self._db = db
        self._path = Path(path)
        self._on_issue = on_issue
        self._progress = progress
        self._counts: Counter[str] = Counter()
        if workers is None:
            large = self._path.is_file() and self._path.stat().st_size >= _PARALLEL_FROM
            workers = len(os.sched_getaffinity(0)) if large else 0
        self._workers = workers

    def run(self) -> ImportSummary:
        reader = ExtractionReader(self._path, on_issue=self._report)
        fresh = self._db.execute("SELECT 1 FROM practitioner LIMIT 1").fetchone() is None
        self._db.execute("PRAGMA synchronous = OFF")  # an interrupted import is redone
        self._db.execute("PRAGMA cache_size = -131072")  # 128 MiB
        # One transaction from here: a DROP INDEX outside it was committed at once, and an
        # import killed midway left an index without its sort order.
        self._db.execute("BEGIN")
        try:
            if fresh:  # one sorted build at the end beats two million random inserts
                self._db.execute("DROP INDEX IF EXISTS practitioner_sort")
            else:  # who this import wrote: their next run is merged, others are replaced
                self._db.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS imported (id_nat TEXT PRIMARY KEY)"
                )
                self._db.execute("DELETE FROM imported")
            merging = (lambda _: True) if fresh else self._imported
            writer = Writer(self._db, merging=merging, staging=fresh)
            people = self._write(reader, writer, fresh)
            writer.finish()
            self._db.execute(SORT_INDEX)
            self._db.commit()
        except BaseException:
            self._db.rollback()  # the DROP INDEX too: it is part of the transaction
            raise
        finally:
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("PRAGMA cache_size = -2000")  # SQLite's default
        return ImportSummary(
            str(self._path),
            reader.encoding,
            reader.layout.name,
            people,
            self._counts["error"],
            self._counts["warning"],
        )

    def _write(self, reader: ExtractionReader, writer: Writer, fresh: bool) -> int:
        """Write every chunk's people as they come; closing the chunks on an error (or
        Ctrl-C) at once stops the worker processes."""
        people = 0
        with closing(self._prepared(reader)) as prepared:
            for columns, issues in prepared:
                records = list(map(Record._make, zip(*columns, strict=True)))
                for issue in issues:
                    self._report(issue)
                for batch in batches(records, BATCH):
                    writer.write(batch)
                    if not fresh:
                        self._db.executemany(
                            "INSERT OR IGNORE INTO imported VALUES (?)",
                            [(r.id_nat,) for r in batch],
                        )
                people += len(records)
                if self._progress:
                    self._progress(reader.bytes_read)
        return people

    def _prepared(self, reader: ExtractionReader) -> Iterator[Prepared]:
        """Each chunk's records, in file order."""
        chunks = reader.chunks(_CHUNK_LINES)
        if not self._workers:
            yield from (prepare(reader.parser, first, lines) for first, lines in chunks)
            return
        # fork: forkserver and spawn import the caller's __main__ again in each worker, and
        # a caller whose __main__ cannot be imported (a script read from stdin) hung for
        # good. The workers only parse lines: they touch no lock of this process's threads.
        context = multiprocessing.get_context("fork")
        with context.Pool(self._workers, initializer=_worker_setup) as pool:
            pending: deque = deque()
            for first, lines in chunks:
                pending.append(pool.apply_async(prepare, (reader.parser, first, lines)))
                if len(pending) > 2 * self._workers:
                    yield pending.popleft().get()
            while pending:
                yield pending.popleft().get()

    def _imported(self, id_nat: str) -> bool:
        """Whether this import wrote that person already (their next run is merged)."""
        found = self._db.execute("SELECT 1 FROM imported WHERE id_nat = ?", (id_nat,))
        return found.fetchone() is not None

    def _report(self, issue: Issue) -> None:
        self._counts[issue.severity] += 1
        if self._on_issue:
            self._on_issue(issue)
