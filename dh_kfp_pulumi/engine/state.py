"""A stack's state: one JSON file, rewritten atomically once per command, and the journal
of what changed since (journal.py), replayed on load when a command did not finish.

Like a Pulumi checkpoint, it lists the resources in an order where each comes after what
it depends on, with their inputs and outputs in the SDK's wire format (secrets stay inside
their secret markers), the resources whose replacement left them to delete, and the
operation in flight (so an interrupted deployment is reported on the next one). Unlike a
Pulumi checkpoint, secret values are not encrypted: the file is created mode 0600, and the
values dh-kfp treats as secret (the KFP token) live in stack config, never in resources.

The file is JSON with one resource per line, so that a resource unchanged since it was
read is written back from its own text: a Workflow carries its whole IR, and encoding
every one again on each save was most of a no-op `up`.
"""

from __future__ import annotations

import contextlib
import fcntl
import heapq
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dh_kfp_pulumi.errors import DhKfpError

STATE_VERSION = 1
ENV_STATE_DIR = "DH_KFP_STATE_DIR"


class StateError(DhKfpError):
    """The state file cannot be read, written or locked."""


@dataclass
class ResourceState:
    urn: str
    type: str
    custom: bool
    id: str = ""
    parent: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    protect: bool = False
    retain_on_delete: bool = False
    delete: bool = False  # an old copy left by a create-before-delete replacement

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    def depends_on(self) -> set[str]:
        found = set(self.dependencies)
        for urns in self.property_dependencies.values():
            found.update(urns)
        if self.parent:
            found.add(self.parent)
        found.discard(self.urn)
        return found

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResourceState:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_json(self) -> dict[str, Any]:
        """The fields as a dict, sharing (not copying) the inputs and outputs."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def json_text(self) -> str:
        """Compact JSON on one line, encoded once: kept until a field is assigned anew.
        The engine replaces inputs, outputs and dependencies, never edits them in place."""
        cached = self.__dict__.get("_text")
        if cached is not None and cached[0] == self._fingerprint():
            return str(cached[1])
        text = json.dumps(self.to_json(), separators=(",", ":"))
        self.remember_text(text)
        return text

    def remember_text(self, text: str) -> None:
        self.__dict__["_text"] = (self._fingerprint(), text)

    def _fingerprint(self) -> tuple[Any, ...]:
        # The containers themselves are held (compared with `is`), so their ids cannot be
        # reused by new ones while the text is kept.
        return (self.urn, self.type, self.custom, self.id, self.parent, self.protect,
                self.retain_on_delete, self.delete, _Same(self.inputs), _Same(self.outputs),
                _Same(self.dependencies), _Same(self.property_dependencies))


class _Same:
    """Compares by identity: the fingerprint of a container that is never edited in place."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.value is self.value

    __hash__ = None  # type: ignore[assignment]


@dataclass
class State:
    project: str
    stack: str
    resources: list[ResourceState] = field(default_factory=list)
    exports: dict[str, Any] = field(default_factory=dict)
    pending_operations: list[dict[str, str]] = field(default_factory=list)
    last_update: dict[str, Any] = field(default_factory=dict)
    serial: int = 0  # one more on every save; a journal names the serial it follows

    def find(self, urn: str) -> ResourceState | None:
        for resource in self.resources:
            if resource.urn == urn and not resource.delete:
                return resource
        return None

    def header(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "engine": "dh-kfp offline engine (not a Pulumi checkpoint)",
            "project": self.project,
            "stack": self.stack,
            "serial": self.serial,
            "last_update": self.last_update,
            "pending_operations": self.pending_operations,
            "exports": self.exports,
        }

    def to_text(self) -> str:
        """The file: the header, then `"resources": [`, then one resource a line."""
        head = json.dumps(self.header())[:-1] + ', "resources": ['
        lines = ",\n".join(r.json_text() for r in self.resources)
        return f"{head}\n{lines}\n]}}\n" if lines else f"{head}]}}\n"

    def to_json(self) -> dict[str, Any]:
        return {**self.header(), "resources": [r.to_json() for r in self.resources]}

    @classmethod
    def from_json(cls, data: dict[str, Any], where: Path) -> State:
        if data.get("version") != STATE_VERSION:
            raise StateError(
                f"{where}: state version {data.get('version')!r} is not {STATE_VERSION}, the one "
                "this dh-kfp writes")
        return cls(
            project=data["project"], stack=data["stack"],
            resources=[ResourceState.from_json(r) for r in data.get("resources", [])],
            exports=data.get("exports") or {},
            pending_operations=data.get("pending_operations") or [],
            last_update=data.get("last_update") or {},
            serial=int(data.get("serial") or 0),
        )

    @classmethod
    def from_text(cls, text: str, where: Path) -> State:
        """Reads the file as `to_text` wrote it, keeping each resource's line as its text
        (any other JSON layout is read whole)."""
        lines = text.split("\n")
        if len(lines) > 2 and lines[0].endswith('"resources": [') and lines[-2] == "]}":
            state = cls.from_json(json.loads(lines[0] + "]}"), where)
            for line in lines[1:-2]:
                line = line[:-1] if line.endswith(",") else line
                entry = ResourceState.from_json(json.loads(line))
                entry.remember_text(line)
                state.resources.append(entry)
            return state
        return cls.from_json(json.loads(text), where)


class StateStore:
    """The state file of one stack, its journal and its lock."""

    def __init__(self, state_dir: Path, project: str, stack: str):
        self.path = state_dir / f"{project}-{stack}.json"
        self.journal_path = self.path.with_suffix(".journal")
        self.project, self.stack = project, stack

    def load(self) -> State:
        """The state as the last command left it: the file, and the journal replayed on it
        if that command did not finish (was killed, or its machine stopped)."""
        from dh_kfp_pulumi.engine.journal import replay  # journal.py builds on this module

        state = self.load_file()
        return replay(state, self.journal_path)

    def load_file(self) -> State:
        if not self.path.exists():
            return State(project=self.project, stack=self.stack)
        try:
            state = State.from_text(self.path.read_text(), self.path)
        except (OSError, ValueError) as exc:
            raise StateError(f"cannot read the state file {self.path}: {exc}") from None
        if (state.project, state.stack) != (self.project, self.stack):
            raise StateError(
                f"{self.path} holds {state.project}/{state.stack}, not {self.project}/{self.stack}")
        return state

    def save(self, state: State) -> None:
        """Write the whole state atomically (a crash leaves the old file or the new one),
        then drop the journal it includes. The new serial makes a journal that outlives
        the drop (a crash between the two) stale, so it is never replayed twice."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        state.serial += 1
        text = state.to_text()
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.journal_path)
        fsync_dir(self.path.parent)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One deployment per stack at a time (released by the OS if this process dies)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_suffix(".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                raise StateError(
                    f"stack {self.project}/{self.stack} is locked by another deployment (pid "
                    f"{holder}, lock file {lock_path}); wait for it to finish") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            os.close(fd)


def fsync_dir(directory: Path) -> None:
    """Makes a rename, a new file or a removal in `directory` durable."""
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def default_state_dir(project_root: Path) -> Path:
    """`$DH_KFP_STATE_DIR`, else `.dh-kfp/state` beside Pulumi.yaml."""
    env = os.environ.get(ENV_STATE_DIR)
    return Path(env).expanduser().resolve() if env else project_root / ".dh-kfp" / "state"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def delete_order(entries: Iterable[ResourceState]) -> list[ResourceState]:
    """Dependents before what they depend on; otherwise the reverse of the state's order.
    Linear in the resources and their dependencies (a destroy of hundreds stays cheap)."""
    items = list(entries)
    by_urn: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        by_urn.setdefault(item.urn, []).append(i)
    # what each one depends on, as indexes; how many to-delete dependents each one has
    needs = [[j for urn in item.depends_on() for j in by_urn.get(urn, ()) if j != i]
             for i, item in enumerate(items)]
    waiting_on = [0] * len(items)
    for deps in needs:
        for j in deps:
            waiting_on[j] += 1
    ready = [-i for i in range(len(items)) if waiting_on[i] == 0]
    heapq.heapify(ready)  # the latest in the state first
    order: list[ResourceState] = []
    done = [False] * len(items)
    while len(order) < len(items):
        while ready and done[-ready[0]]:
            heapq.heappop(ready)
        # a cycle (no state written by an engine has one): the latest left goes first
        pick = -heapq.heappop(ready) if ready else \
            max(i for i in range(len(items)) if not done[i])
        done[pick] = True
        order.append(items[pick])
        for j in needs[pick]:
            if not done[j]:
                waiting_on[j] -= 1
                if waiting_on[j] == 0:
                    heapq.heappush(ready, -j)
    return order
