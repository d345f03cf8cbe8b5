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
"""

from dh_kfp_pulumi.reconcile import job, run, task, workflow
from dh_kfp_pulumi.reconcile.common import UNKNOWN, Plan, is_unknown
from dh_kfp_pulumi.reconcile.sources import resolve_function, resolve_sources

KINDS = {"workflow": workflow, "task": task, "run": run, "job": job}

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
