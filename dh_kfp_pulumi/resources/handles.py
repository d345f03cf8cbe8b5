"""What `new_function` and `new_workflow` return: a declared workflow or function, its
resource's outputs, and `run()`, which declares a Task (or a Run) through the project."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pulumi import Input, ResourceOptions

from dh_kfp_pulumi.errors import FieldProblem, SpecError
from dh_kfp_pulumi.resources.kubernetes import settings_with_names
from dh_kfp_pulumi.resources.plain_fields import refuse_secrets
from dh_kfp_pulumi.resources.resources import Job, Run, Task, Workflow

if TYPE_CHECKING:
    from dh_kfp_pulumi.resources.project import Project


def _resource_output(name: str) -> property:
    """A handle's `name`: the Output of the same name of its `.resource`."""
    return property(lambda self: getattr(self.resource, name), doc=f"`.resource.{name}`")


class WorkflowHandle:
    """A declared workflow: its `Workflow` resource (`.resource`) and `run()`."""

    def __init__(
        self, project: Project, name: str, props: dict[str, Any], resource: Workflow
    ) -> None:
        self.project = project
        self.name = name
        self.props = props  # the Workflow's spec props (a Task with pod settings builds from them)
        self.resource = resource

    pipeline_id = _resource_output("pipeline_id")
    version_id = _resource_output("version_id")
    spec_hash = _resource_output("spec_hash")
    url = _resource_output("url")

    def run(
        self,
        action: str = "pipeline",
        inputs: Input[Mapping[str, Any]] | None = None,
        *,
        schedule: Input[str] | None = None,
        name: str | None = None,
        wait: Input[bool] | None = None,
        wait_timeout: Input[float] | None = None,
        delete_on_destroy: Input[bool] | None = None,
        adopt: Input[str] | None = None,
        entity: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        opts: ResourceOptions | None = None,
        **settings: Any,
    ) -> Task | Run:
        """A Task (the seed's table: pod settings, profile, schedule and its options) and,
        without a schedule, a Run of it with `inputs` (`wait` blocks until it ends).

        `entity`: a DigitalHub task entity (kind `kfp+pipeline`; a mapping, or the path of
        its JSON/YAML file, relative to the project's base_dir) whose schedule and pod
        settings the Task takes; a keyword given here wins over the entity's field. The
        entity's platform fields (ids, status, metadata, ...) are named in a warning.
        """
        _check_action(action, "pipeline", "a workflow")
        if entity is not None:
            from_entity = self.project._task_entity(entity)
            entity_schedule = from_entity.pop("schedule", None)
            schedule = schedule if schedule is not None else entity_schedule
            settings = {**from_entity, **{k: v for k, v in settings.items() if v is not None}}
        return self.project._declare_run(
            self.name,
            self.resource,
            self.props,
            inputs=inputs,
            schedule=schedule,
            name=name,
            adopt=adopt,
            run_options={
                "wait": wait,
                "wait_timeout": wait_timeout,
                "delete_on_destroy": delete_on_destroy,
            },
            settings=settings,
            opts=opts,
        )


class FunctionHandle:
    """A declared function: steps call it by name; `run(action="job")` runs it alone."""

    def __init__(self, project: Project, name: str, props: dict[str, Any]) -> None:
        self.project = project
        self.name = name
        self.props = props  # the FunctionSpec props, source as text
        self.job: Job | None = None
        self._job_shape: dict[str, Any] | None = None

    @property
    def kind(self) -> str:
        return str(self.props.get("kind"))

    def run(
        self,
        action: str = "job",
        inputs: Input[Mapping[str, Any]] | None = None,
        *,
        parameters: Mapping[str, Any] | None = None,
        outputs: Mapping[str, str] | None = None,
        values: list[str] | None = None,
        schedule: Input[str] | None = None,
        name: str | None = None,
        wait: Input[bool] | None = None,
        wait_timeout: Input[float] | None = None,
        delete_on_destroy: Input[bool] | None = None,
        opts: ResourceOptions | None = None,
        **settings: Any,
    ) -> Task | Run:
        """Run this function alone as a one-step pipeline (the seed's `action="job"`).

        The first run() declares the function's `Job` (its pipeline); its inputs become the
        pipeline's parameters (the values their defaults), its pod settings and the step's
        `parameters`/`outputs`/`values` are the job's. Later run()s may pass other input
        values but must keep the input names and the job's settings.
        """
        from dh_kfp_pulumi.reconcile.task import POD_FIELDS

        _check_action(action, "job", "a function")
        check_settings(settings)
        pod = {k: settings.pop(k) for k in list(settings) if k in POD_FIELDS}
        pod = settings_with_names({k: v for k, v in pod.items() if v is not None})
        shape = {
            "parameters": parameters,
            "outputs": outputs,
            "values": values,
            "input names": sorted(inputs) if isinstance(inputs, Mapping) else None,
            **pod,
        }
        if self.job is None:
            props: dict[str, Any] = {
                "project": self.project.name,
                "name": f"{self.name}-job",
                "function": self.props,
                "inputs": inputs if inputs is not None else {},
                **{k: v for k, v in (("parameters", parameters), ("outputs", outputs)) if v},
                **pod,
            }
            if values:
                props["values"] = list(values)
            self.project._claim_pipeline(f"{self.name}-job", f"function {self.name!r}'s job")
            job_name = f"{self.project.name}-{self.name}-job"
            props = refuse_secrets(f"job {job_name!r}", props)
            self.job = Job(job_name, props, self.project._child(opts))
            self._job_shape = shape
        elif shape != self._job_shape:
            first = self._job_shape or {}
            changed = sorted(k for k in {*shape, *first} if shape.get(k) != first.get(k))
            raise SpecError(
                f"function {self.name!r}",
                [
                    FieldProblem(
                        k,
                        "differs from the first run() of this function, which shaped its job "
                        "pipeline; run() again only with other input values",
                    )
                    for k in changed
                ],
            )
        return self.project._declare_run(
            f"{self.name}-job",
            self.job,
            None,
            inputs=inputs,
            schedule=schedule,
            name=name,
            adopt=None,
            run_options={
                "wait": wait,
                "wait_timeout": wait_timeout,
                "delete_on_destroy": delete_on_destroy,
            },
            settings=settings,
            opts=opts,
        )


def check_settings(settings: Mapping[str, Any]) -> None:
    from dh_kfp_pulumi.specs import TaskSpec
    from dh_kfp_pulumi.specs.pod import INEXPRESSIBLE, inexpressible_problems

    allowed = [k for k in TaskSpec.model_fields if k not in ("action", "schedule")]
    problems = inexpressible_problems(settings)
    problems += [
        FieldProblem(k, f"not a setting of run(); settings: {', '.join(allowed)}")
        for k in settings
        if k not in allowed and k not in INEXPRESSIBLE
    ]
    if problems:
        raise SpecError("run", problems)


def _check_action(action: str, expected: str, what: str) -> None:
    if action != expected:
        raise SpecError(
            "run",
            [FieldProblem("action", f"{what} runs with action {expected!r}", action, True)],
        )
