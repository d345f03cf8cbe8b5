"""A pipeline's parameters and a run's inputs against them.

`ir_parameters` reads them from compiled IR (`root.inputDefinitions`);
`handler_signature` checks a workflow handler's signature as pipeline parameters (which
`build.handler_parameters` reads without compiling); and
`input_problems` names every input that is not a parameter, every required one missing
and every value of the wrong type.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dh_kfp_pulumi import dsl
from dh_kfp_pulumi.errors import BuildError, FieldProblem

# Pipeline parameter annotations we accept (also as strings, for `from __future__ import annotations`).
PARAMETER_TYPES: dict[Any, type] = {t: t for t in (str, int, float, bool, dict, list)}
PARAMETER_TYPES.update({t.__name__: t for t in (str, int, float, bool, dict, list)})


@dataclass(frozen=True)
class Parameter:
    """A pipeline parameter as a run's inputs must fill it."""

    type: str  # KFP's parameterType: STRING, NUMBER_INTEGER, NUMBER_DOUBLE, BOOLEAN, STRUCT, LIST
    optional: bool  # it has a default


_PYTHON_TYPE = {
    "STRING": "str",
    "NUMBER_INTEGER": "int",
    "NUMBER_DOUBLE": "float",
    "BOOLEAN": "bool",
    "STRUCT": "dict",
    "LIST": "list",
}


def ir_parameters(ir_yaml: str) -> dict[str, Parameter]:
    """The pipeline's parameters, from its compiled IR (`root.inputDefinitions`)."""
    import yaml

    ir = next(iter(yaml.safe_load_all(ir_yaml)), None) or {}
    root = ir.get("root") or {}
    given = (root.get("inputDefinitions") or {}).get("parameters") or {}
    return {
        name: Parameter(str(p.get("parameterType", "STRING")), bool(p.get("isOptional")))
        for name, p in given.items()
    }


def input_problems(
    inputs: Mapping[str, Any],
    parameters: Mapping[str, Parameter],
    *,
    field: str = "inputs",
    unknown: Callable[[Any], bool] = lambda value: False,
) -> list[FieldProblem]:
    """A run's inputs against the pipeline's parameters: unknown names, required ones
    missing, values of the wrong type (values `unknown` says are not known yet pass)."""

    def described(name: str) -> str:
        p = parameters[name]
        return f"{name} ({_PYTHON_TYPE.get(p.type, p.type)}{'' if p.optional else ', required'})"

    listed = ", ".join(described(n) for n in sorted(parameters)) or "none"
    problems = [
        FieldProblem(
            f"{field}.{name}",
            f"not a parameter of the pipeline; its parameters: {listed}",
            value,
            True,
        )
        for name, value in inputs.items()
        if name not in parameters
    ]
    for name in sorted(parameters):
        p = parameters[name]
        value = inputs.get(name)
        if name not in inputs or value is None:
            if not p.optional:
                problems.append(
                    FieldProblem(
                        f"{field}.{name}",
                        f"required: pipeline parameter {name!r} ({_PYTHON_TYPE.get(p.type)}) "
                        "has no default",
                    )
                )
            continue
        if unknown(value) or _fits(p.type, value):
            continue
        problems.append(
            FieldProblem(
                f"{field}.{name}",
                f"must be a {_PYTHON_TYPE.get(p.type, p.type)}: the type of pipeline "
                f"parameter {name!r}",
                value,
                True,
            )
        )
    return problems


def _fits(kind: str, value: Any) -> bool:
    if isinstance(value, bool):
        return kind == "BOOLEAN"
    if kind == "NUMBER_INTEGER":  # Pulumi carries every number as a float
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if kind == "NUMBER_DOUBLE":
        return isinstance(value, (int, float))
    expected = {"STRING": str, "BOOLEAN": bool, "STRUCT": dict, "LIST": list}.get(kind)
    return expected is None or isinstance(value, expected)


def handler_signature(handler: Callable[..., Any], handler_name: str) -> list[inspect.Parameter]:
    """The handler's parameters as annotated pipeline parameters."""
    out = []
    for p in inspect.signature(handler).parameters.values():
        where = f"handler {handler_name!r}: parameter {p.name!r}"
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise BuildError(
                f"{where}: *args/**kwargs cannot be pipeline parameters; name each one"
            )
        if not dsl.is_valid_name(p.name):
            raise BuildError(f"{where}: pipeline parameter names must not start with '_'")
        annotation = p.annotation
        kind: type | None
        if annotation is inspect.Parameter.empty:
            default_type = type(p.default)
            kind = default_type if default_type in (int, float, bool, dict, list) else str
        else:
            kind = PARAMETER_TYPES.get(annotation)
            if kind is None:
                raise BuildError(
                    f"{where}: annotation {annotation!r} is not a pipeline parameter type; "
                    "use str, int, float, bool, dict or list (or none: str)"
                )
        default = p.default
        if default is not inspect.Parameter.empty and default is not None:
            try:
                default = dsl._literal(default)
            except dsl._NotLiteral as exc:
                raise BuildError(
                    f"{where}: default {p.default!r} is not JSON: {exc.reason}"
                ) from None
            if not _matches(kind, default):
                raise BuildError(f"{where}: default {p.default!r} is not a {kind.__name__}")
        out.append(p.replace(kind=p.POSITIONAL_OR_KEYWORD, annotation=kind, default=default))
    return out


def _matches(kind: type, value: Any) -> bool:
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def parameters_of(params: list[inspect.Parameter]) -> dict[str, Parameter]:
    """Annotated handler parameters as `Parameter`s (KFP's type, whether it has a default)."""
    from kfp.dsl.types import type_utils

    return {
        p.name: Parameter(
            type_utils.get_parameter_type_name(p.annotation),
            p.default is not inspect.Parameter.empty,
        )
        for p in params
    }
