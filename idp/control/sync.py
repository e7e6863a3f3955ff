"""Several serving processes over one store (``--workers``): what each must see alike.

Sessions, codes, scenarios, faults and approvals are records of the shared store, so every
process reads the same. Three things live in each process: the mock clock, the signing
keys and the directory with the control API's runtime edits. A control API change to one
of them is written to the store under a new *generation*; before each request, a process
whose generation is behind takes the clock, the keys and the edits from the store. That
costs one store read per request, and only when there is more than one process.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import Flask

from idp.oidc.keys import SIGNING_KEYS

if TYPE_CHECKING:
    from idp.context import Services

KIND = "workers"
_GENERATION = "generation"
_CLOCK = "clock"


@dataclass
class Generation:
    """The generation of the shared state this process has caught up with."""

    seen: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)


def install(app: Flask) -> None:
    """Catch up before each request (only installed with ``--workers`` above 1)."""
    from idp.context import services

    app.before_request(lambda: catch_up(services()))


def changed(svc: Services) -> None:
    """After a control API change to the clock, the keys or the directory: the other
    processes will catch up. A no-op for a single process."""
    if svc.settings.workers <= 1:
        return
    svc.store.put(KIND, _CLOCK, svc.clock.state())
    generation = secrets.token_hex(8)
    svc.store.put(KIND, _GENERATION, {"id": generation})
    svc.generation.seen = generation


def catch_up(svc: Services) -> None:
    record = svc.store.get(KIND, _GENERATION)
    generation = record.value["id"] if record else ""
    if generation == svc.generation.seen:
        return
    with svc.generation.lock:
        if generation == svc.generation.seen:
            return
        clock = svc.store.get(KIND, _CLOCK)
        if clock:
            svc.clock.restore(clock.value)
        else:
            svc.clock.reset()  # a reset cleared the store
        keys = svc.store.get(SIGNING_KEYS, SIGNING_KEYS)
        if keys:
            svc.keys.restore(keys.value)
        else:
            svc.keys.reset()
        svc.edits.catch_up()
        svc.generation.seen = generation
