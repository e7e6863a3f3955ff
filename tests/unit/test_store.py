"""The store forgets what expired, not only in what it answers but on disk too."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor

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


def test_read_then_write_steps_are_atomic_between_processes_sharing_the_file(tmp_path):
    """Two stores on one file stand for two ``--workers`` processes (one connection each):
    a code is taken once, and no increment is lost."""
    path = tmp_path / "state.sqlite3"
    stores = [Store(Clock(), path) for _ in range(4)]
    for number in range(50):
        stores[0].put("code", f"c{number}", {"n": number})
    stores[0].put("counter", "n", {"n": 0})

    def work(store: Store) -> int:
        taken = sum(store.take("code", f"c{number}") is not None for number in range(50))
        for _ in range(100):
            store.update("counter", "n", lambda value: value.update(n=value["n"] + 1))
        return taken

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert sum(pool.map(work, stores)) == 50
    assert stores[1].get("counter", "n").value == {"n": 400}


def test_an_owners_newest_records_come_first_and_only_live_ones():
    clock = Clock()
    clock.freeze(1_000_000)
    store = Store(clock)
    store.put("approval", "short", {"n": 0}, ttl=10, owner="899700100011 MOBILE")
    for number in range(1, 4):
        store.put("approval", f"a{number}", {"n": number}, ttl=60, owner="899700100011 MOBILE")
    store.put("approval", "other", {"n": 9}, ttl=60, owner="899700100011 CARD")
    assert [r.key for r in store.owned_by("approval", "899700100011 MOBILE", newest=2)] == [
        "a3",
        "a2",
    ]
    assert [r.key for r in store.owned_by("approval", "899700100011 MOBILE")] == [
        "short",
        "a1",
        "a2",
        "a3",
    ]
    store.put("approval", "latest", {"n": 4}, ttl=5, owner="899700100011 MOBILE")
    clock.advance(30)  # "short" and "latest" have expired: the newest live one is a3
    assert [r.key for r in store.owned_by("approval", "899700100011 MOBILE", newest=1)] == ["a3"]
    store.close()
