"""What each kind of object needs done against KFP, for any IaC engine.

Four modules, one per kind (`workflow`, `task`, `run`, and `job`: one function run
alone, the seed's `function.run(action="job")`), each with the same plain functions
over JSON-able dicts (no Pulumi or Terraform import here; the adapters are thin):

- `plan(olds, news) -> Plan(changes, replaces, delete_before_replace)`: no network;
  `olds` may be the previous outputs or inputs (only input keys are compared).
- `check(news, config) -> (inputs, problems)`: validation and, for workflows, jobs and
  tasks with pod settings, the build that sets `spec_hash`; no network. `config` is the
  stack's `BackendConfig` (default image, profiles, pull secrets change the build). Values the engine
  does not know yet are passed as `UNKNOWN`; a hash that depends on them is UNKNOWN.
- `create(inputs, backend) -> (id, outputs)`, `read(id, state, backend) -> (id or "",
  outputs, inputs)`, `update(id, olds, news, backend) -> outputs` (full),
  `delete(id, state, backend)`; `backend` is a `dh_kfp_pulumi.backends.Backend`.

Each module also names its `INPUTS`, `OUTPUTS` (output-only keys), `REPLACES` and
`DEFAULTS`, for adapters that declare schemas.

Every kind takes `owner` (`<engine>/<stack>`, set by the adapter: `pulumi/dev`,
`terraform/default`), written into each KFP object's owner mark (`naming`). A create
takes over an existing object only when its mark is this resource's own (a create
retried after a crash); another owner's or an unmarked one needs `adopt`. A delete
leaves in KFP, with a warning, what another owner made.

For engines that plan first and hold the provider to the plan (Terraform), `workflow`,
`task` and `run` also have `planned_outputs(olds, news) -> outputs` (UNKNOWN where only
the apply can tell); imports are `read` with no state. `resolve_sources` (a workflow and
its functions) and `resolve_function` (one function) read `code_src` into `code` on the
program/plan side; `workflow.spec_for_task(props)` is what a Task with pod settings
carries as `workflow_spec`.

A kind's module (and what it imports) loads when first asked for, here or in `KINDS`:
a Terraform plugin process answering from remembered checks needs none of them.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from dh_kfp_pulumi.lazy import names_from

if TYPE_CHECKING:
    from dh_kfp_pulumi.reconcile import job, run, task, workflow
    from dh_kfp_pulumi.reconcile.common import UNKNOWN, Plan, is_unknown
    from dh_kfp_pulumi.reconcile.sources import resolve_function, resolve_sources

_KIND_NAMES = ("workflow", "task", "run", "job")
_HOMES = {
    "UNKNOWN": ".common",
    "Plan": ".common",
    "is_unknown": ".common",
    "resolve_function": ".sources",
    "resolve_sources": ".sources",
}


class _Kinds(Mapping[str, ModuleType]):
    """kind -> its module, imported on first use."""

    def __getitem__(self, kind: str) -> ModuleType:
        if kind not in _KIND_NAMES:
            raise KeyError(kind)
        return importlib.import_module(f"{__name__}.{kind}")

    def __iter__(self) -> Iterator[str]:
        return iter(_KIND_NAMES)

    def __len__(self) -> int:
        return len(_KIND_NAMES)


KINDS: Mapping[str, ModuleType] = _Kinds()


_names = names_from(__name__, _HOMES, globals())


def __getattr__(name: str) -> Any:
    if name in _KIND_NAMES:
        return importlib.import_module(f"{__name__}.{name}")
    return _names(name)


__all__ = [
    "KINDS",
    "UNKNOWN",
    "Plan",
    "is_unknown",
    "job",
    "resolve_function",
    "resolve_sources",
    "run",
    "task",
    "workflow",
]
