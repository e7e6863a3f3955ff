"""State with expiry: codes, sessions, refresh tokens, approval requests.

One SQLite table of JSON records keyed by ``(kind, key)``, each with an optional owner
(to find a session's refresh tokens or an identity's pending approvals) and an expiry
decided by the mock clock. In memory by default; a file (WAL) with ``--data-dir``, so that
state survives a restart and several processes may share it.
"""

from idp.store.sqlite import Record, Store

__all__ = ["Record", "Store"]
