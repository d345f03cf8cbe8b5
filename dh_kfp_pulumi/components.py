"""KFP components generated for steps: one per `pc.step(...)`.

A python function becomes a KFP lightweight Python component whose code is a
small generated wrapper with the step's typed interface, plus `step_runtime`'s
runner, plus the function module's source text as a literal: the step image
needs nothing but kfp, and the IR carries everything. A container function
becomes a KFP container component whose `command`/`args` refer to the step's
inputs and outputs with `{inputs.x}` / `{parameters.p}` / `{outputs.y}` /
`{values.v}` (see docs/decisions.md).

Everything here is deterministic: names are sorted, literals are canonical JSON.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping
from typing import Any

from kfp.dsl import (
    PIPELINE_TASK_EXECUTOR_INPUT_PLACEHOLDER,
    Artifact,
    Input,
    Output,
    OutputPath,
    component_factory,
    container_component_class,
    pipeline_channel,
    placeholders,
    structures,
)
from kfp.dsl.python_component import PythonComponent
from kfp.dsl.types import type_utils

from dh_kfp_pulumi.dsl import StepCall, literal_json
from dh_kfp_pulumi.errors import BuildError
from dh_kfp_pulumi.step_runtime import _dh_run_step

KFP_DEFAULT_IMAGE = component_factory._DEFAULT_BASE_IMAGE
ARTIFACT_TYPE = type_utils.create_bundled_artifact_type(
    Artifact.schema_title, Artifact.schema_version
)

# KFP parameter channel type -> Python annotation of the generated wrapper.
_CHANNEL_TYPES = {
    "String": "str",
    "Integer": "int",
    "Float": "float",
    "Double": "float",
    "Boolean": "bool",
    "Dict": "dict",
    "Struct": "dict",
    "List": "list",
    "JsonObject": "dict",
    "JsonArray": "list",
}
_PY_TO_KFP = {
    "str": "String",
    "int": "Integer",
    "float": "Float",
    "bool": "Boolean",
    "dict": "Dict",
    "list": "List",
}


@dataclasses.dataclass(frozen=True)
class StepFunction:
    """A project function as a step needs it: source text already loaded, fields normalised."""

    name: str
    kind: str  # "python" | "container"
    image: str | None = None
    # python
    source: str = ""
    filename: str = ""
    module_name: str = ""
    handler: str = ""
    requirements: tuple[str, ...] = ()
    # container
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    envs: tuple[tuple[str, str], ...] = ()


@dataclasses.dataclass(frozen=True)
class Argument:
    """How one input/parameter of a step reaches its component."""

    name: str
    kind: str  # "artifact" | "parameter" | "json" (a dict/list literal sent as JSON text) | "none"
    annotation: str  # Python annotation in the generated wrapper
    value: Any  # what the KFP task receives (channel or constant); None for "none"


def classify(call: StepCall) -> list[Argument]:
    """The step's inputs and parameters, sorted by name."""
    out = []
    for name, value in sorted(call.arguments.items()):
        if isinstance(value, pipeline_channel.PipelineArtifactChannel):
            out.append(Argument(name, "artifact", "Input[Artifact]", value))
        elif isinstance(value, pipeline_channel.PipelineParameterChannel):
            annotation = _CHANNEL_TYPES.get(str(value.channel_type))
            if annotation is None:
                raise BuildError(
                    f"{call.label}: {name}: unsupported KFP parameter type "
                    f"{value.channel_type!r}; supported: {sorted(_CHANNEL_TYPES)}"
                )
            out.append(Argument(name, "parameter", annotation, value))
        elif value is None:
            out.append(Argument(name, "none", "", None))
        elif isinstance(value, (dict, list)):
            out.append(Argument(name, "json", "str", literal_json(value)))
        else:
            out.append(Argument(name, "parameter", type(value).__name__, value))
    return out


def task_arguments(arguments: list[Argument]) -> dict[str, Any]:
    """The keyword arguments of the KFP task for the step."""
    return {a.name: a.value for a in arguments if a.kind != "none"}


def python_component(call: StepCall, function: StepFunction, image: str) -> Any:
    """A KFP lightweight Python component running `function` with the step contract.

    The same component `@dsl.component(base_image=image, packages_to_install=...)`
    makes of the generated wrapper (with `_dh_run_step` as an additional function),
    assembled from kfp's own pieces without `inspect.getsource`, which costs more
    than the rest of the build on a long pipeline (tests/build/test_components.py
    checks the two stay equal).
    """
    check_signature(call, function)
    arguments = classify(call)
    source = _wrapper_source(call, function, arguments)
    namespace: dict[str, Any] = {
        "Input": Input,
        "Output": Output,
        "Artifact": Artifact,
        "OutputPath": OutputPath,
        "_dh_run_step": _dh_run_step,
    }
    exec(compile(source, f"<dh-kfp step {call.name}>", "exec", dont_inherit=True), namespace)
    func = namespace[WRAPPER]
    spec = component_factory.extract_component_interface(func, name=call.name)
    launcher, prefix, suffix = _lightweight_program()
    install = component_factory._get_packages_to_install_command(
        packages_to_install=list(function.requirements)
    )
    spec.implementation = structures.Implementation(
        container=structures.ContainerSpecImplementation(
            image=image,
            command=[*install, *launcher, prefix + source + suffix],
            args=[
                "--executor_input",
                PIPELINE_TASK_EXECUTOR_INPUT_PLACEHOLDER,
                "--function_to_execute",
                WRAPPER,
            ],
        )
    )
    return PythonComponent(component_spec=spec, python_func=func)


WRAPPER = "_dh_step"


def check_signature(call: StepCall, function: StepFunction) -> None:
    """The step's inputs and parameters against the handler's signature, read with `ast`
    (function code is never run at build time): every argument must be a parameter of the
    handler (unless it takes **kwargs) and every parameter without a default must be given."""
    signature = _handler_signature(function.source, function.filename, function.handler)
    if signature is None:
        return  # decorated: the decorator may change the signature
    line, accepted, required, open_kwargs = signature
    handler = (
        f"function {function.name!r} (handler {function.handler!r}, {function.filename}:{line})"
    )
    takes = ", ".join(accepted) or "no arguments"
    for field, names in (("inputs", call.inputs), ("parameters", call.parameters)):
        for name in names:
            if name not in accepted and not open_kwargs:
                raise BuildError(
                    f"{call.label}: {field}.{name}: {handler} has no parameter {name!r}; "
                    f"it takes: {takes}"
                )
    missing = [name for name in required if name not in call.arguments]
    if missing:
        raise BuildError(
            f"{call.label}: {handler} needs {', '.join(map(repr, missing))}, which the step "
            "gives in neither its inputs nor its parameters"
        )


@functools.lru_cache(maxsize=256)
def _handler_signature(
    source: str, filename: str, handler: str
) -> tuple[int, tuple[str, ...], tuple[str, ...], bool] | None:
    """(line, keyword-passable names, required names, takes **kwargs) of the handler's
    top-level def; None when a decorator may change it."""
    from dh_kfp_pulumi.source import LoadedSource, check_handler_defined

    loaded = LoadedSource(text=source, filename=filename, module="", function=handler)
    node = check_handler_defined(loaded)
    if node.decorator_list:
        return None
    a = node.args
    positional = [*a.posonlyargs, *a.args]
    defaults = len(a.defaults)
    with_default = (
        {arg.arg for arg in positional[len(positional) - defaults :]} if defaults else set()
    )
    with_default |= {
        arg.arg
        for arg, default in zip(a.kwonlyargs, a.kw_defaults, strict=True)
        if default is not None
    }
    by_keyword = [arg.arg for arg in (*a.args, *a.kwonlyargs)]
    # positional-only parameters cannot be passed by keyword: required ones can never be given
    required = [arg.arg for arg in (*positional, *a.kwonlyargs) if arg.arg not in with_default]
    return node.lineno, tuple(by_keyword), tuple(required), a.kwarg is not None


def _probe():
    pass


@functools.cache
def _lightweight_program() -> tuple[tuple[str, ...], str, str]:
    """kfp's launcher and the program around a component's function, learnt from kfp once."""
    command, _ = component_factory._get_command_and_args_for_lightweight_component(
        func=_probe, additional_funcs=[_dh_run_step]
    )
    *launcher, program = command
    prefix, found, suffix = program.partition(
        component_factory._get_function_source_definition(_probe)
    )
    if not found:
        raise BuildError("this kfp version lays out lightweight components unexpectedly")
    return tuple(launcher), prefix, suffix


def _wrapper_source(call: StepCall, function: StepFunction, arguments: list[Argument]) -> str:
    params = [f"{a.name}: {a.annotation}" for a in arguments if a.kind != "none"]
    params += [f"{key}: Output[Artifact]" for key in sorted(call.outputs)]
    params += [f"{name}: OutputPath(str)" for name in call.values]
    kwargs = ", ".join(
        f"{a.name!r}: {'None' if a.kind == 'none' else a.name}"
        for a in arguments
        if a.kind != "artifact"
    )
    json_kwargs = "".join(f"{a.name!r}, " for a in arguments if a.kind == "json")
    artifact_kwargs = ", ".join(f"{a.name!r}: {a.name}" for a in arguments if a.kind == "artifact")
    outputs = ", ".join(f"{key!r}: ({key}, {call.outputs[key]!r})" for key in sorted(call.outputs))
    values = ", ".join(f"{name!r}: {name}" for name in call.values)
    return (
        f"def {WRAPPER}({', '.join(params)}):\n"
        f"    _dh_run_step(\n"
        f"        step={call.name!r},\n"
        f"        function={function.name!r},\n"
        f"        filename={function.filename!r},\n"
        f"        module_name={function.module_name!r},\n"
        f"        handler={function.handler!r},\n"
        f"        kwargs={{{kwargs}}},\n"
        f"        json_kwargs=({json_kwargs}),\n"
        f"        artifact_kwargs={{{artifact_kwargs}}},\n"
        f"        outputs={{{outputs}}},\n"
        f"        values={{{values}}},\n"
        f"        source={function.source!r},\n"
        f"    )\n"
    )


_REFERENCE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)\}")
_REFERENCE_KINDS = ("inputs", "parameters", "outputs", "values")


def container_component(call: StepCall, function: StepFunction, image: str) -> Any:
    """A KFP container component; `{inputs.x}`-style references become KFP placeholders."""
    arguments = classify(call)
    by_kind: dict[str, dict[str, Any]] = {kind: {} for kind in _REFERENCE_KINDS}
    inputs: dict[str, structures.InputSpec] = {}
    for a in arguments:
        field = "inputs" if a.name in call.inputs else "parameters"
        if a.kind == "none":
            raise BuildError(
                f"{call.label}: {field}.{a.name}: a container function's "
                "arguments cannot be None (got None)"
            )
        if a.kind == "artifact":
            inputs[a.name] = structures.InputSpec(type=ARTIFACT_TYPE)
            by_kind[field][a.name] = placeholders.InputPathPlaceholder(a.name)
        else:
            inputs[a.name] = structures.InputSpec(type=_PY_TO_KFP[a.annotation])
            by_kind[field][a.name] = placeholders.InputValuePlaceholder(a.name)
    outputs: dict[str, structures.OutputSpec] = {}
    for key in sorted(call.outputs):
        outputs[key] = structures.OutputSpec(type=ARTIFACT_TYPE)
        by_kind["outputs"][key] = placeholders.OutputPathPlaceholder(key)
    for name in call.values:
        outputs[name] = structures.OutputSpec(type="String")
        by_kind["values"][name] = placeholders.OutputParameterPlaceholder(name)

    used: set[tuple[str, str]] = set()

    def convert(field: str, items: tuple[str, ...]) -> list[Any]:
        return [
            _substitute(call, function, f"{field}[{i}]", item, by_kind, used)
            for i, item in enumerate(items)
        ]

    command = convert("command", function.command)
    args = convert("args", function.args)
    unused = sorted(
        f"{{{kind}.{name}}}"
        for kind, names in by_kind.items()
        for name in names
        if (kind, name) not in used
    )
    if unused:
        raise BuildError(
            f"{call.label}: container function {function.name!r} never "
            f"refers to {', '.join(unused)} in its command or args, so the container could "
            "not read or write them; add each reference where the value or file path belongs"
        )
    spec = structures.ComponentSpec(
        name=call.name,
        implementation=structures.Implementation(
            container=structures.ContainerSpecImplementation(
                image=image,
                command=command,
                args=args,
                env=dict(function.envs) or None,
            )
        ),
        inputs=inputs or None,
        outputs=outputs or None,
    )
    return container_component_class.ContainerComponent(spec, pipeline_func=None)


def _substitute(
    call: StepCall,
    function: StepFunction,
    field: str,
    text: str,
    by_kind: Mapping[str, Mapping[str, Any]],
    used: set[tuple[str, str]],
) -> Any:
    """One command/args item -> a string, a placeholder, or a concatenation of both."""
    parts: list[Any] = []
    position = 0
    for match in _REFERENCE.finditer(text):
        kind, name = match.group(1), match.group(2)
        if kind not in _REFERENCE_KINDS:
            continue
        placeholder = by_kind[kind].get(name)
        if placeholder is None:
            declared = sorted(by_kind[kind])
            raise BuildError(
                f"{call.label}: function {function.name!r} {field} refers "
                f"to {match.group(0)!r}, but the step declares {kind} {declared or 'none'} "
                f"(got {text!r})"
            )
        used.add((kind, name))
        if match.start() > position:
            parts.append(text[position : match.start()])
        parts.append(placeholder)
        position = match.end()
    if not parts:
        return text
    if position < len(text):
        parts.append(text[position:])
    return parts[0] if len(parts) == 1 else placeholders.ConcatPlaceholder(parts)
