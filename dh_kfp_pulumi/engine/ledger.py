"""The state writer of a deployment: what the stack holds while the deployment runs, and
the state file, rewritten atomically after every step.

During an `up` the state is the resources registered so far, then the old ones not (yet)
registered again, then the old copies of replaced ones waiting for their delete; a call
that changes KFP is recorded as a pending operation while it runs, so a deployment killed
in the middle leaves a note for the next one.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from dh_kfp_pulumi.engine.state import ResourceState, StateStore, now


class Ledger:
    """One deployment's state; `lock` guards it and the state file."""

    def __init__(self, store: StateStore, *, persist: bool):
        self.store, self.persist = store, persist
        self.state = store.load()
        self.lock = threading.RLock()
        self.new: list[ResourceState] = []  # registered by this run, in order
        self.seen: set[str] = set()  # their URNs
        self.old_order: list[ResourceState] = []  # what the state held, in order
        self.old: dict[str, ResourceState] = {}
        self.pending: list[ResourceState] = []  # old copies of replaced resources
        self.in_update = False

    def begin_update(self) -> None:
        with self.lock:
            self.old_order = [r for r in self.state.resources if not r.delete]
            self.old = {r.urn: r for r in self.old_order}
            self.pending = [r for r in self.state.resources if r.delete]
            self.in_update = True

    def begin_destroy(self) -> None:
        with self.lock:
            self.old_order = list(self.state.resources)

    def record(self, entry: ResourceState) -> None:
        self.seen.add(entry.urn)
        self.new.append(entry)

    def forget(self, entry: ResourceState) -> None:
        for bucket in (self.old_order, self.pending, self.new, self.state.resources):
            for i, item in enumerate(bucket):
                if item is entry:
                    del bucket[i]
                    break
        if self.old.get(entry.urn) is entry:
            del self.old[entry.urn]

    def condemned(self) -> list[ResourceState]:
        """What an `up` deletes after the program: the old ones it did not declare again,
        then the old copies of replaced ones."""
        return [r for r in self.old_order if r.urn not in self.seen] + self.pending

    def snapshot(self) -> list[ResourceState]:
        if not self.in_update:
            return self.state.resources
        return self.new + [r for r in self.old_order if r.urn not in self.seen] + self.pending

    def save(self) -> None:
        if not self.persist:
            return
        self.state.resources = list(self.snapshot())
        self.store.save(self.state)

    @contextlib.contextmanager
    def operation(self, op: str, urn: str) -> Iterator[None]:
        """A call that changes KFP, recorded in the state file while it runs."""
        with self.lock:
            self.state.pending_operations = [{"op": op, "urn": urn, "started": now()}]
            self.save()
        try:
            yield
        finally:
            with self.lock:
                self.state.pending_operations = []
