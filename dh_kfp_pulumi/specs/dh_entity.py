"""Reading DigitalHub entity JSON (workflow `kfp`, task `kfp+pipeline`, run `kfp+pipeline:run`).

An entity carries what the platform adds around the seed's fields (ids, keys, status,
metadata, references to other entities). `from_entity` maps the seed's fields to our
specs and returns the dotted paths of everything it ignored; every caller shows them to
the user with `ignored_warning` (`dh-kfp compile`, and the Pulumi adapter's
`pulumi.log.warn`, which `dh-kfp plan` and `pulumi preview` print). A Task field that
KFP cannot express (`spec.priority_class`, `spec.runtime_class`) is not ignored: it is
refused, as it is in a Task declared directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from dh_kfp_pulumi.errors import FieldProblem, SpecError
from dh_kfp_pulumi.specs.entities import (
    RunSpec,
    TaskSpec,
    WorkflowSpec,
    parse_run,
    parse_task,
    parse_workflow,
)
from dh_kfp_pulumi.specs.pod import INEXPRESSIBLE
from dh_kfp_pulumi.specs.validation import join_path

M = TypeVar("M", bound=BaseModel)

ENTITY_KINDS = ("kfp", "kfp+pipeline", "kfp+pipeline:run")

# our field -> where it sits in a workflow entity
_WORKFLOW_PATHS = {
    "project": "project",
    "name": "name",
    "description": "metadata.description",
    "labels": "metadata.labels",
    "embedded": "metadata.embedded",
    "code_src": "spec.source.source",
    "source_origin": "spec.source.source",
    "code": "spec.source.code",
    "base64": "spec.source.base64",
    "handler": "spec.source.handler",
    "lang": "spec.source.lang",
    "image": "spec.image",
    "tag": "spec.tag",
    "uuid": "spec.uuid",
}
_TOP_USED = {"kind", "project", "name", "spec", "metadata"}
# A task or run entity's own project and name are the platform's (the name is an id): the
# task and run are named by the program that declares them.
_TOP_USED_TASK_RUN = {"kind", "spec", "metadata"}


def ignored_warning(ignored: list[str], subject: str) -> str | None:
    """The warning that names every ignored field of an entity; None when there is none."""
    if not ignored:
        return None
    return (
        f"{subject}: {len(ignored)} field(s) not carried over (DigitalHub's platform "
        f"bookkeeping: ids, status, metadata, references to other entities): "
        f"{', '.join(ignored)}"
    )


def from_entity(entity: Mapping[str, Any]) -> tuple[WorkflowSpec | TaskSpec | RunSpec, list[str]]:
    """The spec of a DigitalHub entity and the sorted paths of the fields it ignored."""
    if not isinstance(entity, Mapping):
        raise SpecError("entity", [FieldProblem("", "must be a JSON object", entity, True)])
    kind = entity.get("kind")
    spec = _mapping(entity.get("spec"))
    ignored = [k for k in entity if k not in _TOP_USED]
    metadata = _mapping(entity.get("metadata"))
    if kind == "kfp":
        return _workflow(entity, spec, metadata, ignored)
    ignored = [k for k in entity if k not in _TOP_USED_TASK_RUN]
    ignored += [f"metadata.{k}" for k in metadata]
    if kind == "kfp+pipeline":
        # the fields KFP cannot express go to the parse, which refuses them by name
        used = {k for k in TaskSpec.model_fields if k != "action"} | set(INEXPRESSIBLE)
        data = {k: v for k, v in spec.items() if k in used}
        ignored += [f"spec.{k}" for k in spec if k not in used]
        task = _remapped(lambda: parse_task({"action": "pipeline", **data}), "spec.", "task entity")
        return task, sorted(ignored)
    if kind == "kfp+pipeline:run":
        data = {k: v for k, v in spec.items() if k in RunSpec.model_fields}
        ignored += [f"spec.{k}" for k in spec if k not in RunSpec.model_fields]
        run = _remapped(lambda: parse_run(data), "spec.", "run entity")
        return run, sorted(ignored)
    raise SpecError(
        "entity",
        [
            FieldProblem(
                "kind", f"must be one of {', '.join(repr(k) for k in ENTITY_KINDS)}", kind, True
            )
        ],
    )


def _workflow(
    entity: Mapping[str, Any],
    spec: Mapping[str, Any],
    metadata: Mapping[str, Any],
    ignored: list[str],
) -> tuple[WorkflowSpec, list[str]]:
    source = _mapping(spec.get("source"))
    data: dict[str, Any] = {"kind": "kfp"}
    for key in ("project", "name"):
        value = entity.get(key, metadata.get(key))
        if value is not None:
            data[key] = value
    for ours, theirs in (
        ("description", "description"),
        ("labels", "labels"),
        ("embedded", "embedded"),
    ):
        if metadata.get(theirs) is not None:
            data[ours] = metadata[theirs]
    ignored += [
        f"metadata.{k}"
        for k in metadata
        if k not in ("project", "name", "description", "labels", "embedded")
    ]
    for key in ("code", "base64", "handler", "lang"):
        if source.get(key) is not None:
            data[key] = source[key]
    if source.get("source") is not None:
        # With the text inline, `source` only says which file it came from.
        inline = "code" in data or "base64" in data
        data["source_origin" if inline else "code_src"] = source["source"]
    ignored += [
        f"spec.source.{k}"
        for k in source
        if k not in ("source", "code", "base64", "handler", "lang")
    ]
    for key in ("image", "tag", "uuid"):
        if spec.get(key) is not None:
            data[key] = spec[key]
    ignored += [f"spec.{k}" for k in spec if k not in ("source", "image", "tag", "uuid")]
    name = data.get("name")
    workflow = _remapped(lambda: parse_workflow(data), _WORKFLOW_PATHS, f"workflow entity {name!r}")
    return workflow, sorted(ignored)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _remapped(parse: Callable[[], M], paths: Mapping[str, str] | str, subject: str) -> M:
    """Run `parse`, rewriting problem paths to where the fields sit in the entity."""
    try:
        return parse()
    except SpecError as exc:
        problems = []
        for p in exc.problems:
            head, _, rest = p.path.partition(".")
            bracket = head.find("[")
            if bracket > 0:
                head, rest = head[:bracket], head[bracket:] + (f".{rest}" if rest else "")
            if isinstance(paths, str):
                where = paths + head if head else paths.rstrip(".")
            else:
                where = paths.get(head, head)
            path = join_path(where, rest) if rest else where
            # the library-form hint about `project` means nothing for an entity
            required = p.path == "project" and p.message.startswith("required")
            message = "required" if required else p.message
            problems.append(FieldProblem(path, message, p.value, p.has_value))
        raise SpecError(subject, problems) from None
