"""How many of a process's threads work on requests at once (``--active-threads``).

The HTTP server keeps many threads (``--threads``) so that requests that wait (an injected
delay, the request log's long poll, a slow client) do not hold the others up. But when
they all take connections, they mostly wait for the GIL and hand it to each other: with
wrk's 4 connections on one process, 16 threads at work served 740 to 860 tokens/s and 2
940 to 1,070. Two is what one process can use: one thread runs Python while another
signs, reads the database or writes to a socket, all of which release the GIL.

So only the threads holding a slot take connections from the server's queue; they keep
it from one connection to the next, and the others sleep. A thread that starts a wait
doing no work gives its slot away (:func:`idle`) and finishes its request without one.
A sleeping thread goes ahead without a slot when connections are queued and the holders
have taken none for :data:`PATIENCE`: what the mock does not know about (a client sending
its request slowly, a long search) cannot stall the others for longer than that.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

PATIENCE = 0.05  # seconds
_held = threading.local()  # .slots: the Slots whose slot this thread holds, if any


class ThreadPool(Protocol):
    """cheroot's pool, as its worker threads use it."""

    def get(self) -> Any: ...

    @property
    def qsize(self) -> int: ...


class Slots:
    def __init__(self, count: int) -> None:
        self._free = threading.Semaphore(count)
        self._watch = threading.Lock()  # held by the one sleeping thread that watches
        self._taken = 0  # connections the slot holders have taken
        self._stalled = -1  # self._taken when a watcher last found the holders stuck

    def around(self, pool: ThreadPool) -> Callable[[], Any]:
        """``pool.get`` (the next connection, for a worker thread), taken in turn."""
        get = pool.get

        def get_in_turn() -> Any:
            if getattr(_held, "slots", None) is not self:
                self._wait_for_turn(pool)
            if getattr(_held, "slots", None) is self:
                self._taken += 1
            return get()

        return get_in_turn

    def _wait_for_turn(self, pool: ThreadPool) -> None:
        """Until a slot is free. One sleeping thread at a time watches, so that the others
        do not wake every :data:`PATIENCE` for nothing: if connections wait and the
        holders have taken none meanwhile, it goes ahead without a slot, and the next ones
        at once while the holders are still stuck (a stopping server's are gone)."""
        with self._watch:
            while True:
                if pool.qsize and self._taken == self._stalled:
                    return
                taken = self._taken
                if self._free.acquire(timeout=PATIENCE):
                    _held.slots = self
                    return
                if pool.qsize and self._taken == taken:
                    self._stalled = taken
                    return


@contextmanager
def idle() -> Iterator[None]:
    """Around a wait that does no work: this thread's slot goes to another."""
    slots = getattr(_held, "slots", None)
    if slots is not None:
        _held.slots = None
        slots._free.release()
    yield
