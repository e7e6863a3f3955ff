"""One injectable clock for every expiry decision the mock makes.

Codes, sessions, refresh tokens and approval requests expire against this clock, so a
test can freeze or fast-forward it. Timestamps written into issued tokens use real time
instead (``time.time``), so that relying parties keep accepting them.
"""

from __future__ import annotations

import threading
import time


class Clock:
    """Real time plus an offset, optionally frozen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen_at: float | None = None

    def now(self) -> float:
        frozen = self._frozen_at
        return frozen if frozen is not None else time.time() + self._offset

    def freeze(self, at: float | None = None) -> None:
        with self._lock:
            self._frozen_at = self.now() if at is None else at

    def advance(self, seconds: float) -> None:
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += seconds
            else:
                self._offset += seconds

    def resume(self) -> None:
        """Run again from where the clock stands (keeping any advance made)."""
        with self._lock:
            if self._frozen_at is not None:
                self._offset = self._frozen_at - time.time()
                self._frozen_at = None

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0
            self._frozen_at = None

    def state(self) -> dict[str, float | None]:
        """What another process needs to run the same clock (see :meth:`restore`)."""
        with self._lock:
            return {"offset": self._offset, "frozen_at": self._frozen_at}

    def restore(self, state: dict[str, float | None]) -> None:
        with self._lock:
            self._offset = float(state["offset"] or 0.0)
            self._frozen_at = state["frozen_at"]
