"""What an engine operation did: its steps (one per resource touched) and its result.

Its own module so that the deployment that makes them (`deploy`) and the printer that
shows them (`display`) both name them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dh_kfp_pulumi.engine import props as P
from dh_kfp_pulumi.engine.state import ResourceState

STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass(frozen=True)
class Step:
    """One thing the engine did (or, in a preview, would do) to one resource.

    `op`: create, update, replace, delete, same; `delete-replaced` for the old copy of a
    replaced resource; in a refresh (`phase="refresh"`): update (drift), delete (gone), same.
    """

    op: str
    urn: str
    type: str
    custom: bool = True
    keys: tuple[str, ...] = ()  # the inputs that change (refresh: the outputs that changed)
    replaces: tuple[str, ...] = ()
    phase: str = "deploy"

    @property
    def name(self) -> str:
        return self.urn.split("::", 3)[-1]


@dataclass
class Result:
    operation: str
    project: str
    stack: str
    preview: bool
    steps: list[Step]
    resources: dict[str, ResourceState]  # URN -> state after the operation (preview: before)
    exports: dict[str, Any]  # stack outputs, plain values
    state_file: Path
    duration: float
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def counts(self, phase: str = "deploy") -> dict[str, int]:
        found: dict[str, int] = {}
        for step in self.steps:
            if step.phase == phase and step.type != STACK_TYPE:
                found[step.op] = found.get(step.op, 0) + 1
        return found

    def changed(self, phase: str = "deploy") -> list[Step]:
        """The steps that change something (everything but `same`)."""
        return [s for s in self.steps if s.phase == phase and s.op != "same"
                and s.type != STACK_TYPE]

    def resource(self, name: str, type_: str | None = None) -> ResourceState:
        """The one resource named `name` (of type `type_`, a suffix of its type, if given)."""
        found = [r for r in self.resources.values() if not r.delete and r.name == name
                 and (type_ is None or r.type.endswith(type_))]
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources named {name!r}"
                           f"{f' of type {type_}' if type_ else ''} in {self.stack}")
        return found[0]

    def outputs(self, name: str, type_: str | None = None) -> dict[str, Any]:
        """A resource's outputs, plain (secrets unwrapped)."""
        return P.unwrap_secrets(self.resource(name, type_).outputs)
