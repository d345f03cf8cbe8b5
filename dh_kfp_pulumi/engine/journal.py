"""The state's journal: what a deployment changed since the state file was last written,
one JSON line per change, appended as it happens; the state file is rewritten once, at the
end of the command, which then drops the journal.

A step that changes nothing appends nothing that must reach the disk, so a no-op `up`
writes the state file once and no journal at all; a create appends its resource once
(and the call in flight before it), instead of rewriting every resource twice. If the
command is killed, the next load replays the journal on the file: the same `Books`
calls the deployment made, so the replayed state is the one the deployment held.

Lines: `update` (an `up` starts: the state's resources become the old ones), `keep` (an
old resource registered again unchanged), `put` (one registered with new fields), `seen`
(a delete-before-replace removed the old one), `condemn` (a replaced one's old copy waits
for its delete), `forget` (deleted, or gone on refresh), `set` (refreshed in place),
`outputs` (a component's), `exports`, `begin` / `end` (a call that changes KFP).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from dh_kfp_pulumi.engine.state import ResourceState, State, StateError, fsync_dir

JOURNAL_VERSION = 1


class Books:
    """A deployment's view of the stack, changed only through its methods (each one a
    journal line), so that a replay makes the same view.

    During an `up` the stack is the resources registered so far, in order, then the old
    ones not (yet) registered again, then the old copies of replaced ones waiting for
    their delete; otherwise it is `state.resources`, changed in place."""

    def __init__(self, state: State):
        self.state = state
        self.new: dict[str, ResourceState] = {}  # registered by this run, in order
        self.seen: set[str] = set()  # their URNs, and those a delete-before-replace removed
        self.old: dict[str, ResourceState] = {}  # what the state held, in order
        self.pending: list[ResourceState] = []  # old copies of replaced resources
        self.in_update = False

    def snapshot(self) -> list[ResourceState]:
        if not self.in_update:
            return self.state.resources
        return [*self.new.values(), *(r for r in self.old.values() if r.urn not in self.seen),
                *self.pending]

    def condemned(self) -> list[ResourceState]:
        """What an `up` deletes after the program: the old ones it did not declare again,
        then the old copies of replaced ones."""
        return [r for r in self.old.values() if r.urn not in self.seen] + self.pending

    # ---- the changes, each a journal line's meaning ----------------------------------------

    def begin_update(self) -> None:
        self.old = {r.urn: r for r in self.state.resources if not r.delete}
        self.pending = [r for r in self.state.resources if r.delete]
        self.in_update = True

    def record(self, entry: ResourceState) -> ResourceState:
        """Registered: `entry`, or the old entry itself when nothing differs (its text,
        already encoded, is then what the state file gets)."""
        old = self.old.get(entry.urn)
        if old is not None and old == entry:
            entry = old
        self.seen.add(entry.urn)
        self.new[entry.urn] = entry
        return entry

    def mark_seen(self, urn: str) -> None:
        self.seen.add(urn)

    def condemn(self, urn: str) -> None:
        old = self.old[urn]
        old.delete = True
        self.pending.append(old)

    def forget(self, entry: ResourceState) -> None:
        for bucket in (self.pending, self.state.resources):
            for i, item in enumerate(bucket):
                if item is entry:
                    del bucket[i]
                    break
        for books in (self.old, self.new):
            if books.get(entry.urn) is entry:
                del books[entry.urn]

    def find(self, urn: str, delete: bool, id_: str) -> ResourceState | None:
        """The entry a `forget` or `set` line names."""
        for bucket in (self.pending, list(self.new.values()), list(self.old.values()),
                       self.state.resources):
            for item in bucket:
                if item.urn == urn and item.delete == delete and item.id == id_:
                    return item
        return None

    def replace(self, entry: ResourceState, new: ResourceState) -> None:
        for i, item in enumerate(self.state.resources):
            if item is entry:
                self.state.resources[i] = new
                return

    def set_outputs(self, urn: str, outputs: dict[str, Any]) -> bool:
        entry = self.new.get(urn)
        if entry is None or entry.outputs == outputs:
            return False
        entry.outputs = outputs
        return True

    def apply(self, event: dict[str, Any], text: str | None) -> None:
        """One journal line, replayed (`text`: the resource's own JSON text in it)."""
        kind = event["e"]
        if kind == "begin":
            self.state.pending_operations = [
                {k: event[k] for k in ("op", "urn", "started")}]
            return
        self.state.pending_operations = []  # any later line: that call returned
        if kind == "update":
            self.begin_update()
        elif kind == "keep":
            self.record(self.old[event["urn"]])
        elif kind in ("put", "set"):
            entry = ResourceState.from_json(event["r"])
            if text is not None:
                entry.remember_text(text)
            if kind == "put":
                self.record(entry)
            else:
                found = self.find(entry.urn, entry.delete, event["was"])
                if found is not None:
                    self.replace(found, entry)
        elif kind == "seen":
            self.mark_seen(event["urn"])
        elif kind == "condemn":
            self.condemn(event["urn"])
        elif kind == "forget":
            found = self.find(event["urn"], event["delete"], event["id"])
            if found is not None:
                self.forget(found)
        elif kind == "outputs":
            self.set_outputs(event["urn"], event["v"])
        elif kind == "exports":
            self.state.exports = event["v"]
        elif kind != "end":
            raise ValueError(f"unknown journal line {kind!r}")


def event_line(kind: str, *, entry: ResourceState | None = None, **fields: Any) -> str:
    """One line; a resource goes last, as its own text, so a replay keeps that text."""
    head = json.dumps({"e": kind, **fields})
    if entry is None:
        return head + "\n"
    return f'{head[:-1]}, "r": {entry.json_text()}}}\n'


def _resource_text(line: str) -> str | None:
    at = line.find(', "r": ')
    return line[at + len(', "r": '):-1] if at >= 0 and line.endswith("}") else None


def replay(state: State, path: Path) -> State:
    """`state` with the journal at `path` replayed on it, if there is one that follows it
    (a journal of an earlier serial was already saved into the file: it is ignored)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return state
    except OSError as exc:
        raise StateError(f"cannot read the state journal {path}: {exc}") from None
    lines = text.split("\n")
    try:
        header = json.loads(lines[0])
    except ValueError:
        return state  # killed while creating it: nothing after the header either
    if header.get("journal") != JOURNAL_VERSION or header.get("base") != state.serial:
        return state
    books = Books(state)
    # The last line may be cut short by the kill: it and anything after it are dropped.
    for line in lines[1:-1]:
        try:
            event = json.loads(line)
        except ValueError:
            break
        try:
            books.apply(event, _resource_text(line) if "r" in event else None)
        except (KeyError, ValueError, TypeError) as exc:
            raise StateError(f"{path}: cannot replay the line {line[:200]!r}: {exc}") from None
    state.resources = list(books.snapshot())
    return state


class Journal:
    """The journal file, opened at the first line: each line is written at once (a killed
    process loses none); `sync` lines are also flushed to the disk before returning, for
    the ones a crash of the machine must not lose (a call to KFP about to start, or done)."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None
        self.lines = 0  # written, for tests and figures
        self.syncs = 0

    def write(self, lines: list[str], *, sync: bool, base: int) -> None:
        if not lines:
            return
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND,
                               0o600)
            header = json.dumps({"journal": JOURNAL_VERSION, "base": base}) + "\n"
            os.write(self._fd, header.encode())
            os.fsync(self._fd)
            fsync_dir(self.path.parent)
        data = "".join(lines).encode()
        while data:
            data = data[os.write(self._fd, data):]
        self.lines += len(lines)
        if sync:
            os.fdatasync(self._fd)
            self.syncs += 1

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
