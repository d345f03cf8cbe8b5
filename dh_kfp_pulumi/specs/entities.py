"""Function, Workflow, Task and Run: the seed's objects as validated, JSON-able models.

They travel as Pulumi/Terraform resource properties, so they are frozen, forbid unknown
fields and round-trip through `model_dump(mode="json")`. Checks here need no IO;
fetching and parsing sources is `dh_kfp_pulumi.source`'s job.

`source_origin` (Function and Workflow) names where the text in `code`/`base64` came
from (a path or URL). `source.resolve_spec` sets it when it replaces `code_src` by the
fetched text, so error messages and tracebacks still show the original file.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from dh_kfp_pulumi.errors import FieldProblem, FieldValueError, SpecError
from dh_kfp_pulumi.specs import fields as f
from dh_kfp_pulumi.specs.pod import PodSettings
from dh_kfp_pulumi.specs.schedule import check_schedule, kfp_cron, parse_rfc3339
from dh_kfp_pulumi.specs.validation import parse_model

CODE_FIELDS = ("code_src", "code", "base64")
S = TypeVar("S", bound="_Sourced")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EnvVar(_Model):
    """An environment variable of a container function's step."""

    name: str
    value: str

    @field_validator("name")
    @classmethod
    def _check_name(cls, v: str) -> str:
        return f.check_env_name(v)


class _Sourced(_Model):
    """Fields shared by Function and Workflow (the seed's Workflow table)."""

    project: str
    name: str
    uuid: str | None = None
    description: str | None = None
    labels: list[str] = Field(default_factory=list)
    embedded: f.StrictBool = True
    code_src: str | None = None
    code: str | None = None
    base64: str | None = None
    source_origin: str | None = None
    handler: str | None = None
    lang: Literal["python"] | None = None
    image: str | None = None
    tag: str | None = None

    @field_validator("project", "name")
    @classmethod
    def _check_name(cls, v: str) -> str:
        return f.check_name(v)

    @field_validator("description")
    @classmethod
    def _check_description(cls, v: str | None) -> str | None:
        return None if v is None else f.check_description(v)

    @field_validator("uuid")
    @classmethod
    def _check_uuid(cls, v: str | None) -> str | None:
        return None if v is None else f.check_uuid4(v)

    @field_validator("labels")
    @classmethod
    def _check_labels(cls, v: list[str]) -> list[str]:
        _each(v, f.check_label)
        return v

    @field_validator("code_src")
    @classmethod
    def _check_code_src(cls, v: str | None) -> str | None:
        return None if v is None else f.check_code_src(v)

    @field_validator("handler")
    @classmethod
    def _check_handler(cls, v: str | None) -> str | None:
        if v is not None:
            f.parse_handler(v)
        return v

    @field_validator("image")
    @classmethod
    def _check_image(cls, v: str | None) -> str | None:
        return None if v is None else f.check_image(v)

    @field_validator("tag")
    @classmethod
    def _check_tag(cls, v: str | None) -> str | None:
        return None if v is None else f.check_tag(v)

    def image_ref(self) -> str | None:
        """`image:tag` (or the image alone); None when no image is set."""
        return f.image_ref(self.image, self.tag)

    def pod_labels(self) -> dict[str, str]:
        """The labels as pod labels: 'k=v' -> {'k': 'v'}, 'k' -> {'k': ''}."""
        return f.pod_labels(self.labels)

    def _code_problems(self, needed: str) -> list[FieldProblem]:
        """Exactly one of code_src/code/base64, a non-empty one, and a sensible origin."""
        given = [name for name in CODE_FIELDS if getattr(self, name) is not None]
        problems: list[FieldProblem] = []
        if len(given) != 1:
            what = "none is set" if not given else f"{' and '.join(given)} are all set"
            if len(given) == 2:
                what = f"both {given[0]} and {given[1]} are set"
            problems.append(
                FieldProblem(
                    "code_src" if not given else given[1],
                    f"exactly one of code_src, code, base64 is needed ({needed}); {what}",
                )
            )
        for name in given:
            if not getattr(self, name).strip():
                problems.append(FieldProblem(name, "must not be empty", "", True))
        if self.source_origin is not None and self.code_src is not None:
            problems.append(
                FieldProblem(
                    "source_origin",
                    "only goes with code or base64 (code_src is its own origin)",
                    self.source_origin,
                    True,
                )
            )
        return problems

    def _tag_problems(self) -> list[FieldProblem]:
        if self.tag is None:
            return []
        if self.image is None:
            return [FieldProblem("tag", "needs image (the tag of which image?)", self.tag, True)]
        if f.image_has_tag(self.image):
            return [
                FieldProblem(
                    "tag",
                    f"image {self.image!r} already names a tag or digest; drop one of the two",
                    self.tag,
                    True,
                )
            ]
        return []


class FunctionSpec(_Sourced):
    """A project function, run by pipeline steps: kind `python` (code + handler) or `container`."""

    kind: Literal["python", "container"]
    requirements: list[str] = Field(default_factory=list)
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    envs: list[EnvVar] = Field(default_factory=list)

    @field_validator("requirements")
    @classmethod
    def _check_requirements(cls, v: list[str]) -> list[str]:
        _each(v, f.check_requirement)
        return v

    @field_validator("command", mode="before")
    @classmethod
    def _split_command(cls, v: Any) -> Any:
        if isinstance(v, str):
            try:
                return shlex.split(v)
            except ValueError as exc:
                raise ValueError(
                    f"must be a list of strings or a shell-like command line ({exc})"
                ) from None
        return v

    @model_validator(mode="after")
    def _check_kind(self) -> FunctionSpec:
        problems = self._tag_problems()
        if self.kind == "python":
            problems += self._code_problems("a python function runs that code")
            if self.handler is None:
                problems.append(
                    FieldProblem(
                        "handler",
                        "required for kind 'python': the function to call ('function' or 'module:function')",
                    )
                )
            for name in ("command", "args"):
                if getattr(self, name):
                    problems.append(
                        FieldProblem(
                            name,
                            "only for kind 'container' (a python function runs its handler)",
                            getattr(self, name),
                            True,
                        )
                    )
        else:
            if self.image is None:
                problems.append(
                    FieldProblem("image", "required for kind 'container': the image the step runs")
                )
            for name in (*CODE_FIELDS, "source_origin", "handler", "requirements", "lang"):
                value = getattr(self, name)
                if value:
                    problems.append(
                        FieldProblem(
                            name,
                            "not allowed for kind 'container' (it runs image, command and args); use kind 'python' for code",
                            value,
                            True,
                        )
                    )
        if problems:
            raise FieldValueError(*problems)
        return self


class WorkflowSpec(_Sourced):
    """A pipeline: a handler that declares steps under `pipeline_context()` (kind `kfp`)."""

    kind: Literal["kfp"]

    @model_validator(mode="after")
    def _check_source(self) -> WorkflowSpec:
        problems = self._code_problems("the workflow's pipeline code")
        if self.handler is None:
            problems.append(
                FieldProblem(
                    "handler",
                    "required: the pipeline function to run ('function' or 'module:function')",
                )
            )
        problems += self._tag_problems()
        if problems:
            raise FieldValueError(*problems)
        return self


class TaskSpec(PodSettings):
    """How a workflow runs: pod settings for every step and an optional KFP schedule."""

    action: Literal["pipeline"]
    schedule: str | None = None
    enabled: f.StrictBool = True
    max_concurrency: f.StrictInt = 1
    catchup: f.StrictBool = True
    start_time: str | None = None
    end_time: str | None = None

    @field_validator("schedule")
    @classmethod
    def _check_schedule(cls, v: str | None) -> str | None:
        return None if v is None else check_schedule(v)

    @field_validator("max_concurrency")
    @classmethod
    def _check_concurrency(cls, v: int) -> int:
        if not 1 <= v <= 10:
            raise ValueError("must be between 1 and 10 (KFP's limit for a recurring run)")
        return v

    @field_validator("start_time", "end_time")
    @classmethod
    def _check_time(cls, v: str | None) -> str | None:
        if v is not None:
            parse_rfc3339(v)
        return v

    @model_validator(mode="after")
    def _check_window(self) -> TaskSpec:
        problems = []
        if (
            self.start_time
            and self.end_time
            and parse_rfc3339(self.end_time) <= parse_rfc3339(self.start_time)
        ):
            problems.append(
                FieldProblem(
                    "end_time", f"must be after start_time {self.start_time!r}", self.end_time, True
                )
            )
        if self.schedule is None:
            defaults = {
                "enabled": True,
                "max_concurrency": 1,
                "catchup": True,
                "start_time": None,
                "end_time": None,
            }
            for name, default in defaults.items():
                value = getattr(self, name)
                if value != default:
                    problems.append(
                        FieldProblem(
                            name, "only applies to a scheduled task; set schedule too", value, True
                        )
                    )
        if problems:
            raise FieldValueError(*problems)
        return self

    def kfp_cron(self) -> str | None:
        """The schedule in KFP's seconds-first form, None without a schedule."""
        return None if self.schedule is None else kfp_cron(self.schedule)


class RunSpec(_Model):
    """One run of a workflow: its pipeline parameters."""

    inputs: dict[str, JsonValue] = Field(default_factory=dict)

    @field_validator("inputs")
    @classmethod
    def _check_keys(cls, v: dict[str, Any]) -> dict[str, Any]:
        bad = [
            FieldProblem(
                f"[{k!r}]", "must be a Python identifier (a pipeline parameter name)", k, True
            )
            for k in v
            if not k.isidentifier()
        ]
        if bad:
            raise FieldValueError(*bad)
        return v


# ---- parsing: the library form and the project form -------------------------------------


def parse_function(data: Mapping[str, Any], *, project: str | None = None) -> FunctionSpec:
    """A Function from keyword data; `project` given means the project form (see parse_workflow)."""
    return _parse_sourced(FunctionSpec, data, project, "function")


def parse_workflow(data: Mapping[str, Any], *, project: str | None = None) -> WorkflowSpec:
    """A Workflow from keyword data.

    `project=None` is the library form (`dh.new_workflow(project=..., ...)`): the data must
    hold `project`. A project name is the project form (`project.new_workflow(...)`): the
    data must not hold it, and the result carries `project`.
    """
    return _parse_sourced(WorkflowSpec, data, project, "workflow")


def parse_task(data: Mapping[str, Any]) -> TaskSpec:
    return parse_model(TaskSpec, _as_dict(data, "task"), "task")


def parse_run(data: Mapping[str, Any]) -> RunSpec:
    return parse_model(RunSpec, _as_dict(data, "run"), "run")


def _as_dict(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise SpecError(what, [FieldProblem("", "must be a mapping of fields", data, True)])
    return dict(data)


def _subject(what: str, data: Any) -> str:
    name = data.get("name") if isinstance(data, Mapping) else None
    return f"{what} {name!r}" if isinstance(name, str) and name else what


def _parse_sourced(model: type[S], data: Mapping[str, Any], project: str | None, what: str) -> S:
    subject = _subject(what, data)
    out = _as_dict(data, what)
    extra: list[FieldProblem] = []
    if project is not None:
        if out.get("project") is not None:
            extra.append(
                FieldProblem(
                    "project",
                    f"must not be set: it is set by the project {project!r} (project.new_{what}(...))",
                    out["project"],
                    True,
                )
            )
        out["project"] = project
    try:
        spec = parse_model(model, out, subject)
    except SpecError as exc:
        problems = [_library_form(p, what) if p.path == "project" else p for p in exc.problems]
        raise SpecError(subject, extra + problems) from None
    if extra:
        raise SpecError(subject, extra)
    return spec


def _library_form(problem: FieldProblem, what: str) -> FieldProblem:
    if problem.message != "required":
        return problem
    return FieldProblem(
        "project",
        f"required in the library form (dh.new_{what}(project=..., ...)); "
        f"or declare it from a project: project.new_{what}(...)",
    )


def _each(values: list[str], check: Any) -> None:
    """Run a single-value check on each item, reporting `[i]` paths."""
    problems = []
    for i, value in enumerate(values):
        try:
            check(value)
        except ValueError as exc:
            problems.append(FieldProblem(f"[{i}]", str(exc), value, True))
    if problems:
        raise FieldValueError(*problems)
