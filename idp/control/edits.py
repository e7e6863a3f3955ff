"""Runtime edits of the directory through the control API, and how they are undone.

An edit changes the directory at once and is written to the store, so that a mock with
``--data-dir`` finds it again after a restart (even after ``kill -9``); a reset undoes
every edit from the journal of what each person was before their first edit.
"""

from __future__ import annotations

import logging
import threading

from idp.directory.codec import from_json, to_json
from idp.directory.index import Directory
from idp.directory.model import Practitioner
from idp.store import Store

DIRECTORY_EDIT = "directory-edit"
_OWNER = "control"  # every edit has this owner, so that they can be listed together
log = logging.getLogger(__name__)


class ReadOnlyDirectory(Exception):
    """An imported index (``--directory``) is served read-only: an edit written into it
    stayed there for good (the undo journal is in memory, a restart forgot it)."""

    def __init__(self) -> None:
        super().__init__(
            "the directory is an imported index (--directory), served read-only: change "
            "the extraction and import it again, or edit the fixtures' directory (serve "
            "without --directory)"
        )


class RuntimeDirectory:
    """The directory as the control API edits it."""

    def __init__(self, directory: Directory, store: Store) -> None:
        self._directory = directory
        self._store = store
        self._undo: dict[str, Practitioner | None] = {}  # idNat -> before its first edit
        self._lock = threading.Lock()

    def put(self, practitioner: Practitioner) -> bool:
        """Add or replace someone; True if they were already in the directory.
        ReadOnlyDirectory for an imported index."""
        self._refuse_read_only()
        with self._lock:
            known = self._remember(practitioner.id_nat)
            self._directory.put(practitioner)
            edit = {"data": to_json(practitioner)}
            self._store.put(DIRECTORY_EDIT, practitioner.id_nat, edit, owner=_OWNER)
        return known is not None

    def remove(self, id_nat: str) -> bool:
        """Forget someone; False if they were not in the directory. ReadOnlyDirectory for
        an imported index."""
        self._refuse_read_only()
        with self._lock:
            if self._remember(id_nat) is None:
                return False
            self._directory.remove(id_nat)
            self._store.put(DIRECTORY_EDIT, id_nat, {"data": None}, owner=_OWNER)
        return True

    def replay(self) -> int:
        """At start-up: apply the edits a previous run left in the store."""
        records = self._store.owned_by(DIRECTORY_EDIT, _OWNER)
        if records and self._directory.read_only:  # edits of a --data-dir's fixtures run
            log.warning(
                "%d directory edits in the store not applied: the directory is an "
                "imported index, served read-only",
                len(records),
            )
            return 0
        with self._lock:
            for record in records:
                self._remember(record.key)
                data = record.value["data"]
                if data is None:
                    self._directory.remove(record.key)
                else:
                    self._directory.put(from_json(data))
        return len(records)

    def undo_all(self) -> None:
        """Every edited person back as the fixtures had them (the store is cleared apart)."""
        with self._lock:
            self._undo_here()
            self._store.delete_owned_by(DIRECTORY_EDIT, _OWNER)

    def catch_up(self) -> None:
        """Another process edited the shared store (``--workers``): this process's
        directory becomes the fixtures' plus the stored edits."""
        with self._lock:
            self._undo_here()
        self.replay()

    def _refuse_read_only(self) -> None:
        if self._directory.read_only:
            raise ReadOnlyDirectory()

    def _undo_here(self) -> None:
        for id_nat, original in self._undo.items():
            if original is None:
                self._directory.remove(id_nat)
            else:
                self._directory.put(original)
        self._undo.clear()

    def _remember(self, id_nat: str) -> Practitioner | None:
        known = self._directory.get(id_nat)
        self._undo.setdefault(id_nat, known)
        return known
