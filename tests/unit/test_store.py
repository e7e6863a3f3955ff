"""The store forgets what expired, not only in what it answers but on disk too."""

from __future__ import annotations

import sqlite3

from idp.clock import Clock
from idp.store import Store


def _rows(path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT count(*) FROM record").fetchone()[0]


def test_expired_records_are_invisible_then_deleted_as_writes_go_on(tmp_path):
    clock = Clock()
    clock.freeze(1_000_000)
    path = tmp_path / "state.sqlite3"
    store = Store(clock, path)
    for number in range(500):
        store.put("code", f"c{number}", {"n": number}, ttl=60)
    store.put("keep", "k", {"forever": True})
    clock.advance(61)
    assert store.get("code", "c1") is None  # invisible at once
    assert _rows(path) == 501  # still on disk
    for number in range(499):
        store.put("login", f"l{number}", {}, ttl=3600)
    assert _rows(path) == 1 + 499  # the 1000th write purged the expired codes
    assert store.get("keep", "k").value == {"forever": True}
    store.close()
