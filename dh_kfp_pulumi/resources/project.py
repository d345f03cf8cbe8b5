"""The seed's API as Pulumi resources: `Project`, `new_function`, `new_workflow`, `run`.

    project = dh.Project("parking")
    project.new_function(name="downloader-funct", kind="python",
                         code_src="src/download.py", handler="download")
    workflow = project.new_workflow(name="workflow", kind="kfp",
                                    code_src="pipeline.py", handler="myhandler")
    nightly = workflow.run(action="pipeline", schedule="5 4 * * *", inputs={"url": url})
    once = workflow.run(action="pipeline", inputs={"url": url}, wait=True)

What each call declares (all children of the Project component; the same program always
gives the same resource names, so the same URNs):

- `Project(name)`: a component `dh-kfp:index:Project` named `<project>`.
- `new_function(...)`: records a FunctionSpec; no KFP object of its own.
- `new_workflow(...)`: a `Workflow` named `<project>-<workflow>` (the KFP pipeline's name).
- `workflow.run(action="pipeline", ...)`: a `Task` `<project>-<workflow>-<run name>`
  (its recurring run when there is a `schedule`, its own version when there are pod
  settings) and, without a schedule, a `Run` of the same name. It returns the Run, or
  the Task when scheduled (a Run's Task is its `.task`).
- `function.run(action="job", ...)`: a `Job` `<project>-<function>-job` (a one-step
  pipeline; one per function, built with the first run()'s inputs as the parameters'
  defaults and its pod settings), then a Task and a Run as above, named
  `<project>-<function>-job-<run name>`.

Run names: `name=`, else `run` (no schedule) or `schedule` (with one), then `run-2`,
`run-3`, ... for the next run() of the same workflow or function, in program order.
Give runs a `name=` when there are several: a name that moves to another run() call
moves its resources too.

Functions reach every workflow of the project, declared before or after it: a
workflow's `functions` input is an Output resolved with every function declared by the
end of the program's top-level code (the first turn of the event loop), sorted by name.
Declaring a function later (in an apply callback, after an `await`) is an error.

Sources are fetched now, when the program runs (`reconcile.resolve_sources`), and reach
the resources as text, so `check` never needs the network. Relative `code_src` start at the
directory of the program file that made the Project (or called `dh.new_workflow` /
`dh.new_function`), or at `Project(..., base_dir=...)`.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

import pulumi
from pulumi import Input, Output, ResourceOptions

from dh_kfp_pulumi.errors import FieldProblem, SpecError
from dh_kfp_pulumi.pulumi_internals import output_from_futures
from dh_kfp_pulumi.resources.declared import (
    check_run_inputs,
    read_entity,
    resolved_props,
    valid_name,
)
from dh_kfp_pulumi.resources.handles import FunctionHandle, WorkflowHandle, check_settings
from dh_kfp_pulumi.resources.kubernetes import settings_with_names
from dh_kfp_pulumi.resources.plain_fields import refuse_secrets
from dh_kfp_pulumi.resources.resources import Job, Run, Task, Workflow
from dh_kfp_pulumi.specs.fields import NAME_RULE

PROJECT_TYPE = "dh-kfp:index:Project"
_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)

__all__ = ["FunctionHandle", "Project", "WorkflowHandle", "new_function", "new_workflow"]


# ---- the projects of this program run ----------------------------------------------------

_RUN: dict[str, Any] = {"monitor": None, "projects": {}}


def _projects() -> dict[str, Project]:
    """Projects declared in this program run (a new run, e.g. a new set_mocks, starts afresh)."""
    from pulumi.runtime.settings import get_monitor

    monitor = get_monitor()
    if _RUN["monitor"] is not monitor:
        _RUN.update(monitor=monitor, projects={})
    return _RUN["projects"]


def _caller_dir() -> Path:
    """The directory of the first calling file outside this package (the program's)."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_PACKAGE_DIR) and os.path.isfile(filename):
            return Path(filename).resolve().parent
        frame = frame.f_back
    return Path.cwd()


def _loop() -> asyncio.AbstractEventLoop:
    from dh_kfp_pulumi.pulumi_internals import event_loop

    return event_loop()


# ---- the project ---------------------------------------------------------------------------


class Project(pulumi.ComponentResource):
    """A DigitalHub project: the component that every workflow, task and run is a child of.

    The backend (KFP host, namespace, token, default image, profiles, ...) comes from the
    stack config `dh-kfp:*`; it is checked here, so a typo fails the program at once.
    """

    def __init__(
        self,
        name: str,
        *,
        base_dir: str | os.PathLike[str] | None = None,
        opts: ResourceOptions | None = None,
    ) -> None:
        from dh_kfp_pulumi.resources.config import program_config

        if not valid_name(name):
            raise SpecError("project", [FieldProblem("name", f"must be {NAME_RULE}", name, True)])
        projects = _projects()
        if name in projects:
            raise SpecError(
                f"project {name!r}",
                [
                    FieldProblem(
                        "name",
                        "is already declared in this program (by dh.Project or by the library "
                        "form's project=...); use that one",
                        name,
                        True,
                    )
                ],
            )
        program_config()
        super().__init__(PROJECT_TYPE, name, None, opts)
        projects[name] = self
        self.name = name
        self.base_dir = Path(base_dir).resolve() if base_dir is not None else _caller_dir()
        self.functions: dict[str, FunctionHandle] = {}
        self.workflows: dict[str, WorkflowHandle] = {}
        self._run_names: set[str] = set()
        self._pipelines: dict[str, str] = {}  # KFP pipeline name -> the declaration owning it
        self._functions_output: Output[list[dict[str, Any]]] | None = None
        self._sealed = False
        self.register_outputs({})

    # -- declarations --

    def new_function(self, name: str, kind: str, **fields: Any) -> FunctionHandle:
        """A function steps can call by name (fields of the seed's table); no KFP object."""
        from dh_kfp_pulumi.specs import parse_function

        return self._add_function({"name": name, "kind": kind, **fields}, parse_function, self.name)

    def new_workflow(
        self,
        name: str,
        kind: str = "kfp",
        *,
        adopt: Input[str] | None = None,
        opts: ResourceOptions | None = None,
        **fields: Any,
    ) -> WorkflowHandle:
        """A workflow (fields of the seed's table): a KFP pipeline `<project>-<name>`."""
        from dh_kfp_pulumi.specs import parse_workflow

        data = {"name": name, "kind": kind, **fields}
        return self._add_workflow(data, parse_workflow, self.name, adopt, opts)

    def _add_function(
        self, data: Mapping[str, Any], parse: Callable[..., Any], project: str | None
    ) -> FunctionHandle:
        name = data.get("name")
        if name in self.functions:
            raise SpecError(
                f"function {name!r}",
                [FieldProblem("name", "is already a function of this project", name, True)],
            )
        if self._sealed:
            raise SpecError(
                f"function {name!r}",
                [
                    FieldProblem(
                        "",
                        f"declared too late: project {self.name!r} gave its functions to its "
                        "workflows when the program's top-level code finished; declare functions "
                        "there (not in an apply callback or after an await)",
                    )
                ],
            )
        props = resolved_props(parse, data, project, self.base_dir, "function")
        props = refuse_secrets(f"function {name!r}", props)
        props["project"] = self.name
        handle = FunctionHandle(self, str(name), props)
        self.functions[handle.name] = handle
        return handle

    def _add_workflow(
        self,
        data: Mapping[str, Any],
        parse: Callable[..., Any],
        project: str | None,
        adopt: Input[str] | None,
        opts: ResourceOptions | None,
    ) -> WorkflowHandle:
        name = data.get("name")
        if name in self.workflows:
            raise SpecError(
                f"workflow {name!r}",
                [FieldProblem("name", "is already a workflow of this project", name, True)],
            )
        self._claim_pipeline(str(name), f"workflow {name!r}")
        props = resolved_props(parse, data, project, self.base_dir, "workflow")
        props = refuse_secrets(f"workflow {name!r}", props)
        props["project"] = self.name
        props["functions"] = self._functions()
        resource_props = dict(props)
        if adopt is not None:
            resource_props["adopt"] = adopt
        resource = Workflow(f"{self.name}-{name}", resource_props, self._child(opts))
        handle = WorkflowHandle(self, str(name), props, resource)
        self.workflows[handle.name] = handle
        return handle

    def _functions(self) -> Output[list[dict[str, Any]]]:
        """Every function of the project, once the program's top-level code has run."""
        if self._functions_output is None:
            loop = _loop()
            value, known, secret = loop.create_future(), loop.create_future(), loop.create_future()

            def seal() -> None:
                self._sealed = True
                value.set_result([self.functions[n].props for n in sorted(self.functions)])
                known.set_result(True)
                secret.set_result(False)

            loop.call_soon(seal)
            self._functions_output = output_from_futures(value, known, secret)
        return self._functions_output

    def _task_entity(self, entity: Mapping[str, Any] | str | os.PathLike[str]) -> dict[str, Any]:
        """The TaskSpec fields a DigitalHub task entity sets; warns naming what it ignores."""
        from dh_kfp_pulumi.specs import TaskSpec, from_entity, ignored_warning

        subject = "task entity"
        if isinstance(entity, (str, os.PathLike)):
            path = self.base_dir / entity
            subject = f"task entity {entity}"
            entity = read_entity(path, subject)
        if not isinstance(entity, Mapping):
            raise SpecError(
                "run",
                [
                    FieldProblem(
                        "entity",
                        "must be a DigitalHub task entity (kind 'kfp+pipeline'): a mapping or "
                        "the path of its JSON/YAML file",
                        entity,
                        True,
                    )
                ],
            )
        if entity.get("kind") != "kfp+pipeline":
            raise SpecError(
                subject,
                [FieldProblem("kind", "must be 'kfp+pipeline' (a task)", entity.get("kind"), True)],
            )
        try:
            spec, ignored = from_entity(entity)
        except SpecError as exc:
            raise SpecError(subject, exc.problems) from None
        assert isinstance(spec, TaskSpec)  # the kind says so
        warning = ignored_warning(ignored, subject)
        if warning is not None:
            pulumi.log.warn(warning)
        dumped = spec.model_dump(mode="json", exclude_unset=True)
        return {k: v for k, v in dumped.items() if k != "action"}

    def _claim_pipeline(self, name: str, declaration: str) -> None:
        """One KFP pipeline per declaration: `my_wf` and `my-wf` would share one."""
        from dh_kfp_pulumi.build import pipeline_name

        kfp_name = pipeline_name(self.name, name)
        other = self._pipelines.get(kfp_name)
        if other is not None:
            raise SpecError(
                declaration,
                [FieldProblem("name", f"maps to the KFP pipeline {kfp_name!r}, as {other} of "
                                      "this project does; two declarations would share one "
                                      "pipeline: rename one", name, True)],
            )
        self._pipelines[kfp_name] = declaration

    def _child(self, opts: ResourceOptions | None) -> ResourceOptions:
        return ResourceOptions.merge(ResourceOptions(parent=self), opts)

    # -- runs --

    def _run_name(self, prefix: str, name: str | None, scheduled: bool) -> str:
        if name is not None:
            if not valid_name(name):
                raise SpecError("run", [FieldProblem("name", f"must be {NAME_RULE}", name, True)])
            full = f"{prefix}-{name}"
            if full in self._run_names:
                raise SpecError(
                    "run",
                    [
                        FieldProblem(
                            "name", f"is already the name of a run of {prefix!r}", name, True
                        )
                    ],
                )
        else:
            base = "schedule" if scheduled else "run"
            n = 1
            while f"{prefix}-{base}{'' if n == 1 else f'-{n}'}" in self._run_names:
                n += 1
            full = f"{prefix}-{base}{'' if n == 1 else f'-{n}'}"
        self._run_names.add(full)
        return full

    def _declare_run(
        self,
        prefix: str,
        source: Workflow | Job,
        workflow_spec: Mapping[str, Any] | None,
        *,
        inputs: Input[Mapping[str, Any]] | None,
        schedule: Input[str] | None,
        name: str | None,
        adopt: Input[str] | None,
        run_options: Mapping[str, Any],
        settings: Mapping[str, Any],
        opts: ResourceOptions | None,
    ) -> Task | Run:
        from dh_kfp_pulumi.reconcile.task import POD_FIELDS
        from dh_kfp_pulumi.reconcile.workflow import spec_for_task

        check_settings(settings)
        check_run_inputs(prefix, workflow_spec, inputs, self.base_dir)
        if schedule is not None:
            given = [k for k, v in run_options.items() if v is not None]
            if given:
                raise SpecError(
                    "run",
                    [
                        FieldProblem(k, "applies to a run; a run() with a schedule makes no run")
                        for k in given
                    ],
                )
        full = self._run_name(prefix, name, schedule is not None)
        settings = settings_with_names({k: v for k, v in settings.items() if v is not None})
        task_props: dict[str, Any] = {
            "project": self.name,
            "name": full,
            "action": "pipeline",
            "pipeline_id": source.pipeline_id,
            "workflow_version_id": source.version_id,
            "inputs": inputs if inputs is not None else {},
            **settings,
        }
        if schedule is not None:
            task_props["schedule"] = schedule
            if adopt is not None:
                task_props["adopt"] = adopt
        if workflow_spec is not None and any(k in settings for k in POD_FIELDS):
            task_props["workflow_spec"] = spec_for_task(workflow_spec)
        resource_name = f"{self.name}-{full}"
        task_props = refuse_secrets(f"task {resource_name!r}", task_props)
        task = Task(resource_name, task_props, self._child(opts))
        if schedule is not None:
            return task
        run_props: dict[str, Any] = {
            "project": self.name,
            "name": full,
            "pipeline_id": source.pipeline_id,
            "version_id": task.version_id,
            "inputs": inputs if inputs is not None else {},
            **{k: v for k, v in run_options.items() if v is not None},
        }
        if adopt is not None:
            run_props["adopt"] = adopt
        run_props = refuse_secrets(f"run {resource_name!r}", run_props)
        run = Run(resource_name, run_props, self._child(opts))
        run.task = task  # type: ignore[attr-defined]
        return run


# ---- the library form --------------------------------------------------------------------


def _library_project(data: Mapping[str, Any], parse: Callable[..., Any]) -> Project:
    """The project named by `project=` (declared now as a component if it is new)."""
    project = data.get("project")
    if not isinstance(project, str):
        parse(dict(data))  # raises SpecError: project required in the library form
        raise SpecError("library form", [FieldProblem("project", "required", project, True)])
    found = _projects().get(project)
    if found is not None:
        return found
    return Project(project, base_dir=_caller_dir())


def new_function(*, project: str | None = None, **fields: Any) -> FunctionHandle:
    """The library form: `dh.new_function(project="parking", name=..., kind=..., ...)`."""
    from dh_kfp_pulumi.specs import parse_function

    data = {**fields} if project is None else {"project": project, **fields}
    owner = _library_project(data, parse_function)
    return owner._add_function(data, parse_function, None)


def new_workflow(
    *,
    project: str | None = None,
    adopt: Input[str] | None = None,
    opts: ResourceOptions | None = None,
    **fields: Any,
) -> WorkflowHandle:
    """The library form: `dh.new_workflow(project="parking", name=..., kind="kfp", ...)`."""
    from dh_kfp_pulumi.specs import parse_workflow

    data = {**fields} if project is None else {"project": project, **fields}
    owner = _library_project(data, parse_workflow)
    return owner._add_workflow(data, parse_workflow, None, adopt, opts)
