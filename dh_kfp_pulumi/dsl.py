"""The seed's pipeline DSL: `pipeline_context()` and `PipelineContext.step(...)`.

A pipeline handler is plain Python that calls `pc.step(...)` once per step. It
only means something while `dh_kfp_pulumi.build` runs it: the build opens a KFP
pipeline, activates a `PipelineContext` bound to the project's functions (a
context variable, so concurrent builds in threads do not mix), and calls the
handler. Each `step` checks its arguments here, in the user's words, before kfp
sees them, then asks the build for the KFP task. The returned `Step` exposes
`.outputs[key]`, a KFP channel that can feed a later step's `inputs`.
"""

from __future__ import annotations

import json
import keyword
import math
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from dh_kfp_pulumi.errors import BuildError

__all__ = [
    "PipelineContext",
    "Step",
    "StepCall",
    "StepOutputs",
    "pipeline_context",
]

ACTIONS = ("job",)
# Names kfp reserves in a component's interface.
_RESERVED = frozenset({"Output"})

_ACTIVE: ContextVar[PipelineContext | None] = ContextVar("dh_kfp_pipeline_context", default=None)


# kfp is imported when a build uses it, not with this module: pipeline files import this
# module, and importing kfp takes half a second.
def _task_name(step_name: str) -> str:
    """The KFP task name of a step (kfp's rule: `extract_parking` -> `extract-parking`)."""
    from kfp.dsl import utils

    return utils.maybe_rename_for_k8s(step_name)


def _is_channel(value: Any) -> bool:
    """True for a pipeline parameter or a step output (a kfp PipelineChannel)."""
    if "kfp.dsl.pipeline_channel" not in sys.modules:
        return False  # kfp not loaded: no channel can exist
    from kfp.dsl import pipeline_channel

    return isinstance(value, pipeline_channel.PipelineChannel)


@dataclass(frozen=True)
class StepCall:
    """One `pc.step(...)` call, checked and normalised (sorted keys, tuples)."""

    name: str
    function: str
    action: str
    inputs: Mapping[str, Any]  # name -> JSON literal | kfp PipelineChannel
    parameters: Mapping[str, Any]  # same kinds as inputs
    outputs: Mapping[str, str]  # output key -> name the artifact is published as
    values: tuple[str, ...]
    where: str  # "pipeline.py:12" ("" for steps this package declares), for messages

    @property
    def label(self) -> str:
        """How messages name the step: "pipeline.py:12: step 'download'"."""
        return f"{self.where}: step {self.name!r}" if self.where else f"step {self.name!r}"

    @property
    def arguments(self) -> dict[str, Any]:
        """inputs and parameters together: both reach the handler as keyword arguments."""
        return {**self.inputs, **self.parameters}


class StepFactory(Protocol):
    """What the build gives a PipelineContext: the project's functions and task creation."""

    def function_names(self) -> Sequence[str]: ...

    def create_task(self, call: StepCall) -> Any: ...  # a kfp.dsl.PipelineTask


class StepOutputs(Mapping[str, Any]):
    """`step.outputs[key]`: the KFP channel of a declared output or value."""

    def __init__(self, step: str, channels: Mapping[str, Any]):
        self._step = step
        self._channels = dict(channels)

    def __getitem__(self, key: str) -> Any:
        try:
            return self._channels[key]
        except (KeyError, TypeError):
            declared = sorted(self._channels)
            where = _where(sys._getframe(1))
            raise BuildError(
                f"{where + ': ' if where else ''}step {self._step!r}: outputs[{key!r}] is not "
                f"declared; the step declares {declared or 'no outputs'} (add it to the step's "
                "`outputs` or `values`)"
            ) from None

    def __contains__(self, key: object) -> bool:
        return key in self._channels

    def get(self, key: str, default: Any = None) -> Any:
        return self._channels.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._channels)

    def __len__(self) -> int:
        return len(self._channels)

    def __repr__(self) -> str:
        return f"StepOutputs({self._step!r}, {sorted(self._channels)})"


class Step:
    """A step of the pipeline being built."""

    def __init__(self, call: StepCall, task: Any):
        self.name = call.name
        self.function = call.function
        self.call = call
        self.task = task  # the kfp.dsl.PipelineTask
        declared = [*call.outputs, *call.values]
        self.outputs = StepOutputs(call.name, {key: task.outputs[key] for key in declared})

    def __repr__(self) -> str:
        return f"Step(name={self.name!r}, function={self.function!r})"


class PipelineContext:
    """The `pc` of `with pipeline_context() as pc:`; one per build."""

    def __init__(self, factory: StepFactory):
        self._factory = factory
        self._steps: dict[str, Step] = {}
        self._task_names: dict[str, str] = {}  # kfp task name -> step name
        self._open = 0  # `with pipeline_context()` blocks now open

    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(self._steps.values())

    def step(
        self,
        name: str,
        function: str,
        action: str = "job",
        inputs: Mapping[str, Any] | None = None,
        outputs: Mapping[str, str] | None = None,
        parameters: Mapping[str, Any] | None = None,
        values: Sequence[str] | None = None,
    ) -> Step:
        """Add a step running the project function `function` (see DESIGN.md, Functions and steps)."""
        if not self._open:
            where = _caller()
            raise BuildError(
                f"{where + ': ' if where else ''}pc.step(...) is called outside its "
                "`with pipeline_context() as pc:` block; declare every step inside the block"
            )
        call = self._check(name, function, action, inputs, outputs, parameters, values, _caller())
        step = Step(call, self._factory.create_task(call))
        self._steps[call.name] = step
        self._task_names[_task_name(call.name)] = call.name
        return step

    def _check(
        self, name, function, action, inputs, outputs, parameters, values, where
    ) -> StepCall:
        label = f"step {name!r}" if isinstance(name, str) else "step"
        label = f"{where}: {label}" if where else label

        def fail(field: str, message: str, *value: Any) -> BuildError:
            got = f" (got {value[0]!r})" if value else ""
            return BuildError(f"{label}: {field}: {message}{got}")

        if not isinstance(name, str) or not name.strip():
            raise fail("name", "must be a non-empty string", name)
        task_name = _task_name(name)
        if not task_name:
            raise fail(
                "name", "needs at least one letter or digit (KFP names tasks after steps)", name
            )
        if not _STEP_NAME.fullmatch(name) or len(task_name) > MAX_STEP_NAME:
            raise fail("name", f"must be {STEP_NAME_RULE}", _shown(name))
        if name in self._steps:
            raise fail("name", "is used by an earlier step; step names must be unique", name)
        if task_name in self._task_names:
            raise fail(
                "name",
                f"becomes the KFP task name {task_name!r}, like step {self._task_names[task_name]!r}; "
                "choose names that differ in more than case and punctuation",
                name,
            )

        known = sorted(self._factory.function_names())
        if not isinstance(function, str) or function not in known:
            raise fail("function", f"is not a function of the project; known: {known}", function)
        if action not in ACTIONS:
            raise fail("action", f"must be one of {list(ACTIONS)}", action)

        checked_inputs = _check_arguments("inputs", inputs, fail)
        checked_parameters = _check_arguments("parameters", parameters, fail)
        checked_outputs = _check_outputs(outputs, fail)
        checked_values = _check_values(values, fail)

        seen: dict[str, str] = {}
        for field, names in (
            ("inputs", checked_inputs),
            ("parameters", checked_parameters),
            ("outputs", checked_outputs),
            ("values", checked_values),
        ):
            for key in names:
                if key in seen:
                    raise fail(
                        field,
                        f"name {key!r} is already used in {seen[key]}; a name may appear once "
                        "across inputs, parameters, outputs and values",
                    )
                seen[key] = field

        return StepCall(
            name=name,
            function=function,
            action=action,
            inputs=checked_inputs,
            parameters=checked_parameters,
            outputs=checked_outputs,
            values=checked_values,
            where=where,
        )


class _ContextBlock:
    """What `pipeline_context()` returns: a context manager yielding the build's context.

    Used as the context itself (`pc = pipeline_context(); pc.step(...)`), it says how to
    write it instead of an AttributeError.
    """

    def __init__(self, where: str):
        self._where = where
        self._context: PipelineContext | None = None

    def __enter__(self) -> PipelineContext:
        context = _ACTIVE.get()
        if context is None:
            raise BuildError(
                "pipeline_context() is only available while dh-kfp builds a workflow: call the "
                "handler through a Workflow resource, `dh-kfp compile` or "
                "dh_kfp_pulumi.build.build_workflow, not directly"
            )
        context._open += 1
        self._context = context
        return context

    def __exit__(self, *exc: object) -> None:
        if self._context is not None:
            self._context._open -= 1
            self._context = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        where = f"{self._where}: " if self._where else ""
        raise BuildError(
            f"{where}pipeline_context().{name} is used without a `with` block; write "
            f"`with pipeline_context() as pc:` and call pc.{name}(...) inside it"
        )


def pipeline_context() -> _ContextBlock:
    """The seed's context manager (`with pipeline_context() as pc:`); only valid while
    dh-kfp builds the workflow."""
    return _ContextBlock(_where(sys._getframe(1)))


@contextmanager
def activate(factory: StepFactory) -> Iterator[PipelineContext]:
    """Used by the build: make `pipeline_context()` yield a context bound to `factory`."""
    context = PipelineContext(factory)
    token = _ACTIVE.set(context)
    try:
        yield context
    finally:
        _ACTIVE.reset(token)


def is_valid_name(name: Any) -> bool:
    """A name KFP and the generated Python component can both carry unchanged."""
    return (
        isinstance(name, str)
        and name.isidentifier()
        and not keyword.iskeyword(name)
        and not name.startswith("_")
        and name not in _RESERVED
    )


_NAME_RULE = "a Python identifier not starting with '_' (letters, digits, '_')"

# A step's KFP task name is the step name in lower case with '_' as '-' (kfp's rule); KFP
# task names are Kubernetes DNS labels, so a step name may hold nothing else.
MAX_STEP_NAME = 63
_STEP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
STEP_NAME_RULE = (
    "letters, digits, '-' or '_', starting with a letter or digit, at most 63 characters "
    "(KFP names the step's task after it, a Kubernetes DNS label: 'Extract_data' is "
    "task 'extract-data')"
)


def _check_name(field: str, key: Any, fail) -> None:
    if not is_valid_name(key):
        raise fail(field, f"name must be {_NAME_RULE}", key)


def _check_arguments(field: str, given: Any, fail) -> dict[str, Any]:
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise fail(field, "must be a dict of name -> value", given)
    out: dict[str, Any] = {}
    for key in sorted(given, key=str):
        _check_name(field, key, fail)
        out[key] = _check_argument(f"{field}.{key}", given[key], fail)
    return out


def _check_argument(field: str, value: Any, fail) -> Any:
    if _is_channel(value):
        return value
    if isinstance(value, (Step, StepOutputs)):
        raise fail(field, "pass one output of a step, as in step.outputs['key']", value)
    try:
        return _literal(value)
    except _NotLiteral as exc:
        raise fail(
            field,
            "must be a literal (str, int, float, bool, None, or a list/dict of those), a "
            f"pipeline parameter or a step output; {exc.reason}",
            value,
        ) from None


class _NotLiteral(Exception):
    def __init__(self, reason: str):
        self.reason = reason


def _literal(value: Any) -> Any:
    """A JSON-able copy of `value` (tuples become lists) or _NotLiteral."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _NotLiteral("NaN and infinity are not JSON")
        return value
    if isinstance(value, (list, tuple)):
        return [_literal(item) for item in value]
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _NotLiteral(f"dict keys must be strings, not {type(key).__name__}")
            out[key] = _literal(item)
        return out
    if _is_channel(value):
        raise _NotLiteral(
            "a pipeline parameter or step output must be a value of its own, not inside a list or dict"
        )
    raise _NotLiteral(f"a {type(value).__name__} is none of these")


def _check_outputs(given: Any, fail) -> dict[str, str]:
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise fail("outputs", "must be a dict of output key -> artifact name", given)
    out: dict[str, str] = {}
    for key in sorted(given, key=str):
        _check_name("outputs", key, fail)
        published = given[key]
        if not isinstance(published, str) or not published.strip():
            raise fail(f"outputs.{key}", "must be a non-empty artifact name", published)
        out[key] = published
    return out


def _check_values(given: Any, fail) -> tuple[str, ...]:
    if given is None:
        return ()
    if isinstance(given, (str, bytes)) or not isinstance(given, (Sequence, set, frozenset)):
        raise fail("values", "must be a list of names", given)
    names: list[str] = []
    for index, item in enumerate(given):
        if not is_valid_name(item):
            raise fail(f"values[{index}]", f"must be {_NAME_RULE}", item)
        if item in names:
            raise fail(f"values[{index}]", "is listed twice", item)
        names.append(item)
    return tuple(sorted(names))


def _caller() -> str:
    """`file:line` of the handler line that called `pc.step` ("" when this package did)."""
    return _where(sys._getframe(2))


def _where(frame: Any) -> str:
    """`file:line` of a frame of the user's code ("" for a frame of this package)."""
    if os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == _PACKAGE_DIR:
        return ""
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"


def _shown(value: str) -> str:
    """A long name cut for a message."""
    return value if len(value) <= 80 else f"{value[:40]}... ({len(value)} characters)"


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def literal_json(value: Any) -> str:
    """Canonical JSON of a checked literal (sorted keys), for components and hashing."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
