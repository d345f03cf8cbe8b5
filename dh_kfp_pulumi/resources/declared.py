"""What the program's declarations are checked against when they are made, so a bad one
fails the program at the line that made it: names, a spec parsed with its source read now
(`resolved_props`), a run's inputs against the workflow handler's parameters, an entity
file read. Output values (not known yet) pass through unchecked."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pulumi import Output

from dh_kfp_pulumi.errors import FieldProblem, SpecError

SOURCE_FIELDS = (
    "project",
    "name",
    "kind",
    "code_src",
    "code",
    "base64",
    "handler",
    "source_origin",
)


def valid_name(name: Any) -> bool:
    """A project or run name by the specs' rule (letters, digits, '-', '_')."""
    from dh_kfp_pulumi.specs.fields import check_name

    try:
        return isinstance(name, str) and check_name(name) == name
    except ValueError:
        return False


def is_output(value: Any) -> bool:
    return isinstance(value, Output) or asyncio.isfuture(value) or asyncio.iscoroutine(value)


def resolved_props(
    parse: Callable[..., Any],
    data: Mapping[str, Any],
    project: str | None,
    base_dir: Path,
    what: str,
) -> dict[str, Any]:
    """Spec props with the source read into `code`; Output values pass through unchecked.

    The spec is parsed now, so a bad declaration fails the program at the line that made
    it; the source is read into that spec by reconcile's `resolve_parsed` (what
    `resolve_sources` does for props, as the Terraform provider reads them).
    """
    from dh_kfp_pulumi.reconcile.sources import resolve_parsed

    deferred = {k: v for k, v in data.items() if is_output(v)}
    fixed = [k for k in deferred if k in SOURCE_FIELDS]
    if fixed:
        raise SpecError(
            f"{what} {data.get('name')!r}",
            [
                FieldProblem(k, "must be a plain value, not an Output (it is read now)")
                for k in fixed
            ],
        )
    plain = {k: v for k, v in data.items() if k not in deferred}
    spec = parse(plain, project=project)  # parsed once: the source is read into this spec
    resolved = resolve_parsed(spec, base_dir, f"{what} {spec.name!r}")
    props = resolved.model_dump(mode="json", exclude_defaults=True)
    props.update(deferred)
    return props


def check_run_inputs(
    workflow: str, workflow_spec: Mapping[str, Any] | None, inputs: Any, base_dir: Path
) -> None:
    """A run's (or schedule's) inputs against the workflow handler's parameters, now, so
    that preview and plan refuse them (unknown names, required ones missing, wrong types);
    skipped while the inputs are an Output, and when the source cannot be loaded (the
    Workflow's own check says why)."""
    if workflow_spec is None or is_output(inputs):
        return
    from dh_kfp_pulumi.build import handler_parameters, input_problems
    from dh_kfp_pulumi.errors import DhKfpError
    from dh_kfp_pulumi.specs import WorkflowSpec, parse_workflow

    data = {
        k: v
        for k, v in workflow_spec.items()
        if k in WorkflowSpec.model_fields and not is_output(v)
    }
    try:
        parameters = handler_parameters(parse_workflow(data), base_dir)
    except DhKfpError:
        return
    given = inputs if inputs is not None else {}
    if not isinstance(given, Mapping):
        return  # the Run's check says what inputs must be
    problems = input_problems(given, parameters, unknown=is_output)
    if problems:
        raise SpecError(f"run of workflow {workflow!r}", problems)


def read_entity(path: Path, subject: str) -> Any:
    import json

    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(
            subject, [FieldProblem("", f"cannot read {path}: {exc.strerror}")]
        ) from None
    try:
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise SpecError(
            subject, [FieldProblem("", f"{path} is not valid JSON/YAML: {exc}")]
        ) from None
