"""The one converter from pydantic's ValidationError to our SpecError.

Every model of this package (and the pod settings) is parsed through `parse_model`, so
every bad input reads the same way: `path: what is valid (got value)`, with no pydantic
boilerplate. Validators report precise sub-paths by raising
`dh_kfp_pulumi.errors.FieldValueError`; a plain ValueError keeps its message as is.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from dh_kfp_pulumi.errors import FieldProblem, FieldValueError, SpecError, field_path

M = TypeVar("M", bound=BaseModel)

_MAX_SHOWN = 120  # long values (inline code, base64) are cut in messages


def parse_model(model: type[M], data: Any, subject: str) -> M:
    """Validate `data` into `model`, or raise SpecError(subject, problems)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SpecError(subject, problems_from(exc, model)) from None


def problems_from(exc: ValidationError, model: type[BaseModel] | None = None) -> list[FieldProblem]:
    """One FieldProblem per pydantic error; `model` lets unknown fields list the known ones."""
    problems: list[FieldProblem] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err.get("loc", ()))
        base = field_path(loc)
        kind = err.get("type", "")
        ctx = err.get("ctx") or {}
        original = ctx.get("error")
        if isinstance(original, FieldValueError):
            for p in original.problems:
                problems.append(
                    FieldProblem(join_path(base, p.path), p.message, p.value, p.has_value)
                )
            continue
        if kind == "missing":
            problems.append(FieldProblem(base, "required"))
            continue
        message = _message(kind, err, ctx, original, model, loc)
        problems.append(FieldProblem(base, message, shown(err.get("input")), True))
    return problems


def join_path(base: str, sub: str) -> str:
    """('volumes', '[1].name') -> 'volumes[1].name'; ('', 'code') -> 'code'."""
    if not sub:
        return base
    if not base:
        return sub.lstrip(".")
    if sub.startswith("["):
        return base + sub
    return f"{base}.{sub.lstrip('.')}"


def shown(value: Any) -> Any:
    """The value as it appears in a message: long strings are cut, the rest kept."""
    if isinstance(value, str) and len(value) > _MAX_SHOWN:
        return f"{value[:60]}... ({len(value)} characters)"
    return value


def _message(
    kind: str,
    err: Mapping[str, Any],
    ctx: Mapping[str, Any],
    original: Any,
    model: type[BaseModel] | None,
    loc: tuple[Any, ...],
) -> str:
    if kind == "extra_forbidden":
        owner = _model_at(model, loc[:-1]) if model is not None else None
        if owner is not None:
            known = ", ".join(owner.model_fields)
            return f"unknown field; known fields: {known}"
        return "unknown field"
    if kind == "literal_error":
        return f"must be {ctx.get('expected')}"
    if kind in ("value_error", "assertion_error") and original is not None:
        return str(original)
    if kind in ("model_type", "model_attributes_type", "dict_type", "mapping_type"):
        return "must be a mapping (an object with named fields)"
    msg = str(err.get("msg", ""))
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    if msg.startswith("Input should be"):
        msg = "must be" + msg[len("Input should be") :]
    return msg


def _model_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class found by following `loc` through field annotations."""
    tp: Any = model
    for part in loc:
        tp = _descend(tp, part)
        if tp is None:
            return None
    tp = _unwrap_optional(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _descend(tp: Any, part: Any) -> Any:
    tp = _unwrap_optional(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        field = tp.model_fields.get(part) if isinstance(part, str) else None
        return field.annotation if field is not None else None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (list, tuple, set, frozenset) and isinstance(part, int) and args:
        return args[0]
    if origin in (dict, Mapping) and len(args) == 2:
        return args[1]
    return None


def _unwrap_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp
