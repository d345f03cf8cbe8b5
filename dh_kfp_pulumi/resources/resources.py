"""The Pulumi resources: `Workflow`, `Task`, `Run` and `Job`, one per `reconcile` kind.

Each takes the kind's props (see the `dh_kfp_pulumi.reconcile.<kind>` docstring for
every field) and exposes its outputs as attributes: the annotated `Output[...]`s below
are seeded with None in the props, which is how a dynamic resource gets outputs that
are not inputs. `owner` (`pulumi/<stack>`) is added to every resource's props: KFP
objects carry it in their owner mark. Most programs do not make these directly: `Project.new_workflow(...)`
and `.run(...)` do (see `project.py`).

Type tokens are `pulumi-python:dynamic/dh-kfp:<Kind>`, so a stack's URNs read
`...::pulumi-python:dynamic/dh-kfp:Workflow::parking-workflow`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import Resource, ResourceProvider

from dh_kfp_pulumi.errors import FieldProblem, SpecError
from dh_kfp_pulumi.resources.providers import (
    PROVIDER_KEY,
    JobProvider,
    RunProvider,
    TaskProvider,
    WorkflowProvider,
)

MODULE = "dh-kfp"

__all__ = ["Job", "Run", "Task", "Workflow", "type_token"]


def type_token(kind: str) -> str:
    """The Pulumi type of a kind's resource ('workflow' -> pulumi-python:dynamic/dh-kfp:Workflow)."""
    return f"pulumi-python:dynamic/{MODULE}:{kind.capitalize()}"


def _props(kind: str, props: Mapping[str, Input[Any]]) -> dict:
    """The props with every output (and `spec_hash`, set by check) seeded as None; outputs
    given as props are an error."""
    from dh_kfp_pulumi import reconcile

    module = reconcile.KINDS[kind]
    if not isinstance(props, Mapping):
        raise SpecError(kind, [FieldProblem("", "props must be a mapping", props, True)])
    bad = [
        FieldProblem(key, "is an output (set by the provider), not an input")
        for key in props
        if key in module.OUTPUTS or key == PROVIDER_KEY
    ]
    if bad:
        raise SpecError(f"{kind} {props.get('name')!r}", bad)
    seeded = (*module.OUTPUTS, *(["spec_hash"] if "spec_hash" in module.INPUTS else []))
    return {**dict.fromkeys(seeded), "owner": stack_owner(), **props}


def stack_owner() -> str:
    """`pulumi/<stack>`: the owner mark of what this stack makes in KFP (see `naming`)."""
    import pulumi

    from dh_kfp_pulumi.naming import owner_of

    return owner_of("pulumi", pulumi.get_stack())


class _KindResource(Resource):
    """A reconcile kind as a dynamic resource: its provider, and its props with outputs seeded."""

    _kind: ClassVar[str]
    _provider_class: ClassVar[type[ResourceProvider]]

    def __init__(
        self,
        resource_name: str,
        props: Mapping[str, Input[Any]],
        opts: ResourceOptions | None = None,
    ) -> None:
        super().__init__(self._provider_class(), resource_name, _props(self._kind, props), opts)


class _PipelineResource(_KindResource):
    """The outputs of a kind that is a KFP pipeline with a version per spec."""

    pipeline_id: Output[str]
    pipeline_name: Output[str]
    version_id: Output[str]
    version_name: Output[str]
    spec_hash: Output[str]
    ir: Output[str | None]
    url: Output[str]


class Workflow(_PipelineResource, module=MODULE, name="Workflow"):
    """A KFP pipeline `<project>-<name>` and one version per compiled spec (the id is the
    pipeline's). Props: `reconcile.workflow`."""

    _kind, _provider_class = "workflow", WorkflowProvider


class Job(_PipelineResource, module=MODULE, name="Job"):
    """One function run alone: a one-step pipeline `<project>-<name>` (the name ends in
    `-job`) and one version per spec. Props: `reconcile.job`."""

    _kind, _provider_class = "job", JobProvider


class Task(_KindResource, module=MODULE, name="Task"):
    """How a workflow runs: its own version with pod settings, and a KFP recurring run when
    it has a `schedule` (the id is stable across schedule moves). Props: `reconcile.task`."""

    _kind, _provider_class = "task", TaskProvider

    version_id: Output[str]
    version_name: Output[str]
    own_version: Output[bool]
    spec_hash: Output[str]
    recurring_run_id: Output[str]
    recurring_run_name: Output[str]
    cron: Output[str]
    experiment_id: Output[str]
    url: Output[str]
    retired_recurring_run_ids: Output[list[str]]
    cleanup_recurring_run_ids: Output[list[str]]


class Run(_KindResource, module=MODULE, name="Run"):
    """One KFP run (the id is the run's); immutable: new inputs or version replace it.
    Props: `reconcile.run`."""

    _kind, _provider_class = "run", RunProvider

    run_id: Output[str]
    run_name: Output[str]
    state: Output[str]
    created_at: Output[str]
    finished_at: Output[str]
    url: Output[str]
    experiment_id: Output[str]
    error: Output[str]
