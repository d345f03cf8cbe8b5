"""Program-side source fetching: `code_src` read into `code` before a resource is declared.

A Pulumi program (or the Terraform provider at plan time) calls `resolve_sources` for a
workflow and its functions and `resolve_function` for one function; the resource then
carries the text, so `check` stays offline and every later build reads the same code.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from dh_kfp_pulumi.errors import FieldProblem, SpecError
from dh_kfp_pulumi.reconcile.common import UNKNOWN, is_unknown, split_props, without_unknown
from dh_kfp_pulumi.reconcile.workflow_plan import CODE_GROUP, SPEC_FIELDS


def resolve_sources(
    props: Mapping[str, Any],
    base_dir: str | os.PathLike[str] | None = None,
    *,
    local_only: bool = False,
) -> dict[str, Any]:
    """Props with the workflow's and functions' `code_src` fetched (and `base64` decoded)
    into `code`; may use the network.

    For the program side (a Pulumi program, a Terraform provider's plan): the resource
    then carries the text and `check` stays offline. A `code_src` that is UNKNOWN (not
    known yet in a preview or plan) or belongs to an invalid spec is left as it is, for
    `check` to judge. With `local_only`, remote sources are replaced by UNKNOWN instead
    of fetched (a validation that must not use the network).

    Raises SpecError naming `code_src` / `functions[i].code_src` when a source cannot be
    read (missing file, bad archive, syntax error, no handler).
    """
    from dh_kfp_pulumi.specs import parse_function, parse_workflow

    out = dict(props)
    problems: list[FieldProblem] = []
    spec_data, _ = split_props(props, SPEC_FIELDS)
    resolved = _resolve_one(spec_data, parse_workflow, base_dir, local_only, "", problems)
    if resolved is not None:
        out.update(resolved)
    functions_value = props.get("functions")
    if isinstance(functions_value, list):
        functions = []
        for i, data in enumerate(functions_value):
            if isinstance(data, Mapping):
                data = dict(data)
                with_project = dict(data)
                if with_project.get("project") is None:
                    with_project["project"] = spec_data.get("project")
                fixed = _resolve_one(
                    with_project, parse_function, base_dir, local_only, f"functions[{i}].", problems
                )
                if fixed is not None:
                    data.update(fixed)
            functions.append(data)
        out["functions"] = functions
    if problems:
        raise SpecError(f"workflow {props.get('name')!r}", problems)
    return out


def resolve_function(
    props: Mapping[str, Any],
    base_dir: str | os.PathLike[str] | None = None,
    *,
    local_only: bool = False,
) -> dict[str, Any]:
    """One function's props with its source read into `code`, as `resolve_sources` does
    for a workflow's functions: for adapters that take functions one at a time."""
    from dh_kfp_pulumi.specs import parse_function

    problems: list[FieldProblem] = []
    fixed = _resolve_one(props, parse_function, base_dir, local_only, "", problems)
    if problems:
        raise SpecError(f"function {props.get('name')!r}", problems)
    return {**props, **(fixed or {})}


def _resolve_one(
    data: Mapping[str, Any],
    parse: Callable[[Mapping[str, Any]], Any],
    base_dir: str | os.PathLike[str] | None,
    local_only: bool,
    prefix: str,
    problems: list[FieldProblem],
) -> dict[str, Any] | None:
    """The source fields of one spec once its code_src is read (or its base64 decoded); None
    when left as it is."""
    from dh_kfp_pulumi import source
    from dh_kfp_pulumi.errors import DhKfpError
    from dh_kfp_pulumi.specs.fields import code_src_scheme

    field = next((k for k in ("code_src", "base64") if isinstance(data.get(k), str)), None)
    if field is None or is_unknown({k: data.get(k) for k in CODE_GROUP}):
        return None
    if field == "code_src" and local_only and code_src_scheme(data[field]) not in (None, "file"):
        return {"code_src": UNKNOWN}
    try:
        spec = parse(without_unknown(data))
    except SpecError:
        return None  # check reports what is wrong with the spec
    try:
        return _source_fields(source.resolve_spec(spec, base_dir))
    except DhKfpError as exc:
        # a base64 text is no use in a message: the problem says what is wrong with it
        problems.append(FieldProblem(f"{prefix}{field}", str(exc), data[field], field == "code_src"))
        return None


def _source_fields(spec: Any) -> dict[str, Any]:
    return {
        "code": spec.code,
        "code_src": None,
        "base64": None,
        "source_origin": spec.source_origin,
    }


def resolve_parsed(spec: Any, base_dir: str | os.PathLike[str] | None, subject: str) -> Any:
    """A parsed Function/Workflow spec with its `code_src` read (or `base64` decoded) into
    `code`, as `resolve_sources` does for props, without parsing it again; SpecError
    (`subject`) naming the field when the source cannot be read."""
    from dh_kfp_pulumi import source
    from dh_kfp_pulumi.errors import DhKfpError

    field = next((k for k in ("code_src", "base64") if isinstance(getattr(spec, k), str)), None)
    if field is None:
        return spec
    try:
        return source.resolve_spec(spec, base_dir)
    except DhKfpError as exc:
        value = getattr(spec, field)
        raise SpecError(subject, [FieldProblem(field, str(exc), value, field == "code_src")]) from None
