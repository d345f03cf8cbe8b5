"""A stack's state: one JSON file, rewritten atomically after every step.

Like a Pulumi checkpoint, it lists the resources in an order where each comes after what
it depends on, with their inputs and outputs in the SDK's wire format (secrets stay inside
their secret markers), the resources whose replacement left them to delete, and the
operation in flight (so an interrupted deployment is reported on the next one). Unlike a
Pulumi checkpoint, secret values are not encrypted: the file is created mode 0600, and the
values dh-kfp treats as secret (the KFP token) live in stack config, never in resources.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
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


@dataclass
class State:
    project: str
    stack: str
    resources: list[ResourceState] = field(default_factory=list)
    exports: dict[str, Any] = field(default_factory=dict)
    pending_operations: list[dict[str, str]] = field(default_factory=list)
    last_update: dict[str, Any] = field(default_factory=dict)

    def find(self, urn: str) -> ResourceState | None:
        for resource in self.resources:
            if resource.urn == urn and not resource.delete:
                return resource
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "engine": "dh-kfp offline engine (not a Pulumi checkpoint)",
            "project": self.project,
            "stack": self.stack,
            "last_update": self.last_update,
            "pending_operations": self.pending_operations,
            "exports": self.exports,
            "resources": [asdict(r) for r in self.resources],
        }

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
        )


class StateStore:
    """The state file of one stack, with its lock."""

    def __init__(self, state_dir: Path, project: str, stack: str):
        self.path = state_dir / f"{project}-{stack}.json"
        self.project, self.stack = project, stack

    def load(self) -> State:
        if not self.path.exists():
            return State(project=self.project, stack=self.stack)
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise StateError(f"cannot read the state file {self.path}: {exc}") from None
        state = State.from_json(data, self.path)
        if (state.project, state.stack) != (self.project, self.stack):
            raise StateError(
                f"{self.path} holds {state.project}/{state.stack}, not {self.project}/{self.stack}")
        return state

    def save(self, state: State) -> None:
        """Write the whole state atomically: a crash leaves the old file or the new one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(state.to_json(), indent=1, sort_keys=False)
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
        with contextlib.suppress(OSError):
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

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


def default_state_dir(project_root: Path) -> Path:
    """`$DH_KFP_STATE_DIR`, else `.dh-kfp/state` beside Pulumi.yaml."""
    env = os.environ.get(ENV_STATE_DIR)
    return Path(env).expanduser().resolve() if env else project_root / ".dh-kfp" / "state"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def delete_order(entries: Iterable[ResourceState]) -> list[ResourceState]:
    """Dependents before what they depend on; otherwise the reverse of the state's order."""
    items = list(entries)
    waiting_on = [0] * len(items)  # how many to-delete dependents each one still has
    for i, item in enumerate(items):
        deps = item.depends_on()
        for j, other in enumerate(items):
            if i != j and other.urn in deps:
                waiting_on[j] += 1
    order: list[ResourceState] = []
    done = [False] * len(items)
    while len(order) < len(items):
        ready = [i for i in range(len(items)) if not done[i] and waiting_on[i] == 0]
        pick = max(ready) if ready else max(i for i in range(len(items)) if not done[i])
        done[pick] = True
        order.append(items[pick])
        deps = items[pick].depends_on()
        for j, other in enumerate(items):
            if not done[j] and other.urn in deps:
                waiting_on[j] -= 1
    return order
