"""The state writer of a deployment: what the stack holds while the deployment runs
(journal.Books), each change appended to the state's journal as it is made, and the
state file written once when the command ends.

Crash safety is the journal's: a call that changes KFP is preceded by a `begin` line and
followed by the resource it made (or the `forget` of the one it deleted), both flushed
to the disk, so a deployment killed at any point leaves, after replay, the state it held
then, with a note of the call in flight for the next one. Lines that only restate what
the file already holds (`keep`, `update`, `end`) are not flushed on their own: losing
them replays to the same resources.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterator
from typing import Any

from dh_kfp_pulumi.engine.journal import Books, Journal, event_line
from dh_kfp_pulumi.engine.state import ResourceState, StateStore, now


class Ledger:
    """One deployment's state; `lock` guards it, the journal and the state file."""

    def __init__(self, store: StateStore, *, persist: bool):
        self.store, self.persist = store, persist
        self.state = store.load()
        self.lock = threading.RLock()
        self.books = Books(self.state)
        self.journal = Journal(store.journal_path)
        self._unsynced: list[str] = []  # lines waiting for the next write
        self.saves = 0  # state files written, for tests and figures
        if persist and store.journal_path.exists():
            # The last command was killed: its journal (replayed above) goes into the file
            # now, so this one's journal follows a file that holds everything before it.
            self.save()

    # ---- the view ---------------------------------------------------------------------------

    @property
    def old(self) -> dict[str, ResourceState]:
        return self.books.old

    @property
    def seen(self) -> set[str]:
        return self.books.seen

    @property
    def pending(self) -> list[ResourceState]:
        return self.books.pending

    def condemned(self) -> list[ResourceState]:
        return self.books.condemned()

    def snapshot(self) -> list[ResourceState]:
        return self.books.snapshot()

    # ---- changes ----------------------------------------------------------------------------

    def begin_update(self) -> None:
        with self.lock:
            self.books.begin_update()
            self._log(event_line("update"))

    def record(self, entry: ResourceState) -> None:
        """A registration's outcome; a line that reaches the disk only if it differs."""
        with self.lock:
            kept = self.books.record(entry)
            if kept is not entry:
                self._log(event_line("keep", urn=entry.urn))
            else:
                self._log(event_line("put", entry=entry), sync=True)

    def mark_seen(self, urn: str) -> None:
        """A delete-before-replace deleted the old one: it leaves the state."""
        with self.lock:
            self.books.mark_seen(urn)
            self._log(event_line("seen", urn=urn), sync=True)

    def condemn(self, old: ResourceState) -> None:
        """The old copy of a replaced resource, to delete after the program (its line goes
        out with the new copy's `put`, which follows at once)."""
        with self.lock:
            self.books.condemn(old.urn)
            self._log(event_line("condemn", urn=old.urn))

    def forget(self, entry: ResourceState) -> None:
        with self.lock:
            self.books.forget(entry)
            self._log(event_line("forget", urn=entry.urn, delete=entry.delete, id=entry.id),
                      sync=True)

    def refreshed(self, entry: ResourceState, id_: str, inputs: dict[str, Any] | None,
                  outputs: dict[str, Any]) -> None:
        """What a refresh read: the entry replaced by one with these fields, if they differ."""
        new = dataclasses.replace(entry, id=id_, outputs=outputs,
                                  inputs=entry.inputs if inputs is None else inputs)
        if new == entry:
            return
        with self.lock:
            self.books.replace(entry, new)
            self._log(event_line("set", was=entry.id, entry=new), sync=True)

    def set_outputs(self, urn: str, outputs: dict[str, Any]) -> None:
        with self.lock:
            if self.books.set_outputs(urn, outputs):
                self._log(event_line("outputs", urn=urn, v=outputs), sync=True)

    def set_exports(self, exports: dict[str, Any]) -> None:
        with self.lock:
            if exports != self.state.exports:
                self.state.exports = exports
                self._log(event_line("exports", v=exports), sync=True)

    @contextlib.contextmanager
    def operation(self, op: str, urn: str) -> Iterator[None]:
        """A call that changes KFP, in the journal (on the disk) before it starts."""
        with self.lock:
            started = now()
            self.state.pending_operations = [{"op": op, "urn": urn, "started": started}]
            self._log(event_line("begin", op=op, urn=urn, started=started), sync=True)
        try:
            yield
        finally:
            with self.lock:
                self.state.pending_operations = []
                self._log(event_line("end"))

    # ---- writing ----------------------------------------------------------------------------

    def _log(self, line: str, *, sync: bool = False) -> None:
        if not self.persist:
            return
        self._unsynced.append(line)
        if sync:
            self.flush(sync=True)

    def flush(self, *, sync: bool = False) -> None:
        """The lines kept back, written (a replay by another reader then sees them)."""
        with self.lock:
            lines, self._unsynced = self._unsynced, []
            self.journal.write(lines, sync=sync, base=self.state.serial)

    def save(self) -> None:
        """The whole state into the file (once per command); the journal is then dropped."""
        if not self.persist:
            return
        with self.lock:
            self.journal.close()
            self._unsynced = []
            self.state.resources = list(self.books.snapshot())
            self.store.save(self.state)
            self.saves += 1
