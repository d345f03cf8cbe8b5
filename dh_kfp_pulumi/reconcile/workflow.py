"""Workflow -> one KFP pipeline `<project>-<workflow>` and one version per compiled spec.

Props (inputs): every WorkflowSpec field (`project`, `name`, `kind`, `code`/`base64`/
`code_src`, `handler`, `image`, `tag`, `labels`, `description`, `embedded`, ...), plus
`functions` (a list of FunctionSpec dicts: the project functions its steps may call),
`adopt` (an existing pipeline's id or name, honoured by create) and `spec_hash` (set by
`check` from the build; UNKNOWN when inputs are unknown).

Outputs: the inputs plus `pipeline_id` (also the resource id), `pipeline_name`,
`version_id`, `version_name` (the first 16 hex chars of spec_hash), `ir` (the compiled
YAML when `embedded`, else None) and `url` (the version's page in KFP's UI).

A version is named by its hash and described as `dh-kfp:workflow <project>/<name>
sha256:<hash>`, so finding it again needs no state: the same hash makes no API write,
a new hash uploads a new version and keeps the old ones (runs and schedules may still
use them).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from dh_kfp_pulumi.backends import ApiError, BackendConfig, KfpBackend, Pipeline
from dh_kfp_pulumi.errors import FieldProblem, SpecError
from dh_kfp_pulumi.naming import (
    Mark,
    hash_from_description,
    mark_of,
    marked_description,
    version_description,
)
from dh_kfp_pulumi.reconcile.common import (
    UNKNOWN,
    Undo,
    adopt_problems,
    adopted,
    drop_unknown_problems,
    foreign_mark,
    get_or_none,
    identity_from_marker,
    is_unknown,
    log,
    marker,
    only_inputs,
    owner_problems,
    owner_text,
    prefixed,
    problems_of,
    short_hash,
    split_props,
    without_unknown,
)
from dh_kfp_pulumi.reconcile.workflow_plan import (  # noqa: F401 - the kind's names
    CODE_GROUP,
    DEFAULTS,
    EXTRA_FIELDS,
    FIELDS,
    INPUTS,
    KIND,
    OUTPUTS,
    REPLACES,
    SPEC_FIELDS,
    pipeline_display_name,
    plan,
    planned_outputs,
)

# ---- plan & check (no network) -----------------------------------------------------------


def check(news: Mapping[str, Any], config: BackendConfig) -> tuple[dict[str, Any], list[FieldProblem]]:
    """Validate the props and compute `spec_hash` by building (UNKNOWN if inputs are unknown)."""
    news, problems = FIELDS.start_check(news)
    inputs = dict(news)
    problems += adopt_problems(news, "a pipeline id or name")
    problems += owner_problems(news)
    specs, spec_problems, complete = parse_specs(news)
    problems += spec_problems
    if problems:
        inputs["spec_hash"] = ""
        return inputs, problems
    if not complete:
        inputs["spec_hash"] = UNKNOWN
        return inputs, problems
    assert specs is not None
    try:
        result = build_specs(*specs, config=config)
    except Exception as exc:  # noqa: BLE001 - a build error is a check failure
        inputs["spec_hash"] = ""
        return inputs, problems_of_build(exc)
    inputs["spec_hash"] = result.spec_hash
    return inputs, problems


def problems_of_build(exc: BaseException, prefix: str = "") -> list[FieldProblem]:
    from dh_kfp_pulumi.errors import DhKfpError

    if isinstance(exc, DhKfpError):
        return problems_of(exc, prefix)
    return [FieldProblem(prefix, f"the build failed: {type(exc).__name__}: {exc}")]


def parse_specs(
    props: Mapping[str, Any], prefix: str = ""
) -> tuple[tuple[Any, list[Any]] | None, list[FieldProblem], bool]:
    """(WorkflowSpec, [FunctionSpec]) from props, problems, and whether every value is known.

    Problems caused by unknown values are left out; remote `code_src` is a problem here
    (check makes no network call: the program fetches sources, see `resolve_sources`).
    """
    from dh_kfp_pulumi.specs import parse_function, parse_workflow

    spec_data, _ = split_props(props, SPEC_FIELDS)
    problems: list[FieldProblem] = []
    complete = not is_unknown(spec_data)
    workflow = None
    try:
        workflow = parse_workflow(without_unknown(spec_data))
    except SpecError as exc:
        dropped = drop_unknown_problems(problems_of(exc), spec_data, [CODE_GROUP])
        problems += prefixed(dropped, prefix.rstrip("."))
    problems += _remote_source_problems(spec_data, prefix)
    functions_value = props.get("functions") or []
    functions: list[Any] = []
    if is_unknown(functions_value):
        complete = False
        functions_value = [] if functions_value is UNKNOWN else functions_value
    if not isinstance(functions_value, list):
        problems.append(
            FieldProblem(
                f"{prefix}functions", "must be a list of function specs", functions_value, True
            )
        )
        functions_value = []
    project = spec_data.get("project")
    for i, data in enumerate(functions_value):
        where = f"{prefix}functions[{i}]"
        if not isinstance(data, Mapping):
            if data is not UNKNOWN:
                problems.append(
                    FieldProblem(where, "must be a function spec (a mapping)", data, True)
                )
            continue
        data = dict(data)
        if data.get("project") is None and isinstance(project, str):
            data["project"] = project
        try:
            functions.append(parse_function(without_unknown(data)))
        except SpecError as exc:
            dropped = drop_unknown_problems(problems_of(exc), data, [CODE_GROUP])
            problems += prefixed(dropped, where)
        problems += _remote_source_problems(data, f"{where}.")
    if problems or workflow is None:
        return None, problems, complete
    return (workflow, functions), problems, complete


def _remote_source_problems(data: Mapping[str, Any], prefix: str) -> list[FieldProblem]:
    from dh_kfp_pulumi.specs.fields import code_src_scheme

    code_src = data.get("code_src")
    if not isinstance(code_src, str) or code_src_scheme(code_src) in (None, "file"):
        return []
    return [
        FieldProblem(
            f"{prefix}code_src",
            "a remote source is fetched when the program runs, not by the provider: pass "
            "the text in `code` (dh_kfp_pulumi.reconcile.resolve_sources does it)",
            code_src,
            True,
        )
    ]


def spec_for_task(props: Mapping[str, Any]) -> dict[str, Any]:
    """The workflow's props a Task with pod settings carries as `workflow_spec`.

    Its spec fields and functions (sources already resolved, so the task builds the same
    code offline), without null fields, outputs or `adopt`/`spec_hash`.
    """
    keys = (*SPEC_FIELDS, "functions")
    return {k: v for k, v in props.items() if k in keys and v is not None}


def build_specs(
    workflow: Any, functions: list[Any], task: Any = None, *, config: BackendConfig
) -> Any:
    """The build with the stack's build settings (default image, profiles, pull secrets),
    relative `code_src` paths from the program's directory; memoized by `build`."""
    from dh_kfp_pulumi.build import build_workflow_cached

    return build_workflow_cached(
        workflow,
        functions,
        task,
        base_dir=os.getcwd(),
        profiles=config.profiles or {},
        default_image=config.image,
        image_pull_secrets=tuple(config.image_pull_secrets or ()),
    )


def build(props: Mapping[str, Any], config: BackendConfig, task: Any = None) -> Any:
    """Build from checked props (raises SpecError/BuildError on bad ones)."""
    specs, problems, complete = parse_specs(props)
    if problems:
        raise SpecError(f"workflow {props.get('name')!r}", problems)
    if not complete or specs is None:
        raise SpecError(
            f"workflow {props.get('name')!r}",
            [FieldProblem("", "has unknown values; it cannot be built before they are known")],
        )
    return build_specs(*specs, task, config=config)


# ---- KFP side ----------------------------------------------------------------------------


def ensure_pipeline(
    backend: KfpBackend, display_name: str, description: str, mine: Mark
) -> tuple[Any, bool]:
    """(the pipeline with this display name, whether this call created it).

    An existing pipeline is taken only when its owner mark is `mine` (this resource's
    create that crashed before its state was written); any other is refused, naming
    who made it and how to take it over (`adopt`, or Terraform's `import`).
    """
    found = backend.find_pipeline(display_name)
    if found is None:
        try:
            return backend.create_pipeline(display_name, description), True
        except ApiError as exc:
            if exc.status != 409:  # 409: made by a concurrent create
                raise
            found = backend.find_pipeline(display_name)
            if found is None:
                raise
    refuse_foreign(found, mine, display_name)
    return found, False


def refuse_foreign(pipeline: Any, mine: Mark, display_name: str) -> None:
    """Raise unless the pipeline's owner mark is exactly this resource's."""
    mark = mark_of(pipeline.description or "")
    if mark == mine:
        return
    who = f"was made for {mark}" if mark is not None else "was not made by dh-kfp"
    raise SpecError(
        f"{mine.kind} {mine.project}/{mine.name}",
        [
            FieldProblem(
                "name",
                f"KFP already has a pipeline named {display_name!r} (id {pipeline.id}) that "
                f"{who}, not for this {mine.kind} of {mine.owner or 'this owner'}; "
                "nothing was created. To take it over, set `adopt` to its id (Terraform: "
                "`terraform import`); else rename this "
                f"{mine.kind} or its project",
                display_name,
                True,
            )
        ],
    )


def ensure_version(
    backend: KfpBackend, pipeline_id: str, result: Any, description: str
) -> tuple[Any, bool]:
    """(the version named by the build's hash, whether this call uploaded it).

    A pipeline deleted behind our back is named as such: KFP answers an upload to it with
    400 "Failed to create a pipeline version" (as for a bad spec), so a 400 (or a 404) is
    checked against the pipeline itself before the error is worded.
    """
    name = short_hash(result.spec_hash)
    try:
        found = backend.find_version(pipeline_id, name)
        if found is not None:
            return found, False
        try:
            return backend.upload_version(pipeline_id, name, result.yaml, description), True
        except ApiError as exc:
            if exc.status == 409:
                found = backend.find_version(pipeline_id, name)
                if found is not None:
                    return found, False
            raise
    except ApiError as exc:
        if exc.status in (400, 404) and _pipeline_gone(backend, pipeline_id):
            raise type(exc)(
                f"{exc} (the pipeline {pipeline_id} is gone: refresh the stack state, e.g. "
                "`pulumi refresh` or `terraform apply -refresh-only`, and deploy again)",
                status=exc.status,
                operation=exc.operation,
            ) from None
        raise


def _pipeline_gone(backend: KfpBackend, pipeline_id: str) -> bool:
    """True when KFP says the pipeline is not there (any other answer: not known to be)."""
    try:
        return get_or_none(backend.get_pipeline, pipeline_id) is None
    except ApiError:
        return False


def adopt_pipeline(backend: KfpBackend, adopt: str) -> Any:
    """The pipeline named by an `adopt` input (an id, else a display name)."""
    return adopted("workflow", "pipeline", adopt, backend.get_pipeline, backend.find_pipeline)


def _outputs(
    inputs: Mapping[str, Any], pipeline: Any, version: Any, result: Any, backend: KfpBackend
) -> dict[str, Any]:
    out = dict(inputs)
    embedded = inputs.get("embedded", True) is not False
    out.update(
        pipeline_id=pipeline.id,
        pipeline_name=pipeline.display_name,
        version_id=version.id,
        version_name=version.name,
        spec_hash=result.spec_hash,
        ir=result.yaml if embedded else None,
        url=backend.ui_url(f"pipelines/details/{pipeline.id}/version/{version.id}"),
    )
    return out


def create(inputs: Mapping[str, Any], backend: KfpBackend) -> tuple[str, dict[str, Any]]:
    """Find or create the pipeline, then find or upload the version of this spec.

    A retry after a crash converges (both are found by name); on failure, what this call
    created is deleted again before the error propagates.
    """
    return create_pipeline_version(inputs, backend, build(inputs, backend.config), KIND)


def create_pipeline_version(
    inputs: Mapping[str, Any], backend: KfpBackend, result: Any, kind: str
) -> tuple[str, dict[str, Any]]:
    """create for any kind that is one pipeline `<project>-<name>` with a version per hash."""
    project, name, owner = str(inputs["project"]), str(inputs["name"]), owner_text(inputs)
    display = pipeline_display_name(inputs)
    mark = marker(kind, project, name, owner)
    description = marked_description(inputs.get("description"), mark)
    with Undo() as undo:
        if inputs.get("adopt"):
            pipeline, created = adopt_pipeline(backend, str(inputs["adopt"])), False
        else:
            mine = Mark(kind, project, name, owner)
            pipeline, created = ensure_pipeline(backend, display, description, mine)
        if created:
            undo.push(
                f"delete pipeline {pipeline.id}", lambda: backend.delete_pipeline(pipeline.id)
            )
        version, uploaded = ensure_version(
            backend,
            pipeline.id,
            result,
            version_description(kind, project, name, result.spec_hash, owner),
        )
        if uploaded:
            undo.push(
                f"delete version {version.id}",
                lambda: backend.delete_version(pipeline.id, version.id),
            )
    return pipeline.id, _outputs(inputs, pipeline, version, result, backend)


def update(
    id: str, olds: Mapping[str, Any], news: Mapping[str, Any], backend: KfpBackend
) -> dict[str, Any]:
    """Full outputs. Same hash and a known version: no KFP call. New hash: a new version."""
    return update_pipeline_version(
        id, olds, news, backend, lambda: build(news, backend.config), KIND
    )


def update_pipeline_version(
    id: str,
    olds: Mapping[str, Any],
    news: Mapping[str, Any],
    backend: KfpBackend,
    builder: Callable[[], Any],
    kind: str,
) -> dict[str, Any]:
    """update for any kind that is one pipeline with a version per hash (see `update`)."""
    same = (
        olds.get("spec_hash")
        and olds.get("spec_hash") == news.get("spec_hash")
        and olds.get("version_id")
    )
    embedded = news.get("embedded", True) is not False
    if same and (not embedded or olds.get("ir")):
        out = {**olds, **news}
        if not embedded:
            out["ir"] = None
        return out
    result = builder()
    if same:  # only the IR output was missing
        return {**olds, **news, "ir": result.yaml}
    project, name = str(news["project"]), str(news["name"])
    pipeline = _existing_pipeline(backend, id, olds)
    description = version_description(kind, project, name, result.spec_hash, owner_text(news))
    version, _ = ensure_version(backend, id, result, description)
    return _outputs(news, pipeline, version, result, backend)


def _existing_pipeline(backend: KfpBackend, id: str, olds: Mapping[str, Any]) -> Any:
    return Pipeline(
        id=id,
        name=str(olds.get("pipeline_name") or ""),
        display_name=str(olds.get("pipeline_name") or ""),
        description="",
        created_at="",
    )


def read(
    id: str, state: Mapping[str, Any], backend: KfpBackend
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Live state in the inputs' shape: a deleted pipeline is gone (""), a deleted version
    empties version_id/version_name/spec_hash (so the next update uploads it again).

    With no state (an import) `id` may be a pipeline id or name: the outputs describe its
    newest version, and the inputs hold only what KFP knows (spec_hash from the version's
    description when we made it).
    """
    if not state:
        return _import(id, backend)
    pipeline = get_or_none(backend.get_pipeline, id)
    if pipeline is None:
        return "", {}, {}
    outputs = dict(state)
    outputs["pipeline_id"] = pipeline.id
    outputs["pipeline_name"] = pipeline.display_name
    version_id = state.get("version_id")
    gone = not version_id
    if version_id:
        version = get_or_none(backend.get_version, id, version_id)
        gone = version is None or (bool(version.pipeline_id) and version.pipeline_id != id)
    if gone:
        outputs.update(version_id="", version_name="", spec_hash="", ir=None, url="")
    return pipeline.id, outputs, only_inputs(outputs, INPUTS)


def _import(id: str, backend: KfpBackend) -> tuple[str, dict[str, Any], dict[str, Any]]:
    try:
        pipeline = adopt_pipeline(backend, id)
    except SpecError:
        return "", {}, {}
    except ApiError as exc:
        if exc.not_found:
            return "", {}, {}
        raise
    versions = sorted(backend.list_versions(pipeline.id), key=lambda v: v.created_at)
    outputs: dict[str, Any] = {
        "pipeline_id": pipeline.id,
        "pipeline_name": pipeline.display_name,
        "version_id": "",
        "version_name": "",
        "spec_hash": "",
        "ir": None,
        "url": "",
    }
    if versions:
        newest = versions[-1]
        outputs.update(
            version_id=newest.id,
            version_name=newest.name,
            spec_hash=hash_from_description(newest.description),
            url=backend.ui_url(f"pipelines/details/{pipeline.id}/version/{newest.id}"),
        )
        outputs.update(_identity_from_description(newest.description))
    return pipeline.id, outputs, only_inputs(outputs, INPUTS)


def _identity_from_description(description: str) -> dict[str, str]:
    """{'kind', 'project', 'name'} from our version marker `dh-kfp:workflow <project>/<name>`."""
    identity = identity_from_marker(description, KIND)
    return {"kind": "kfp", **identity} if identity else {}


def delete(id: str, state: Mapping[str, Any], backend: KfpBackend) -> None:
    """Delete every version, then the pipeline; already gone counts as deleted.

    A pipeline whose owner mark names another resource, stack or tool (one this
    resource adopted) is left in KFP, and the log says so: destroy never deletes what
    another owner made.
    """
    pipeline = get_or_none(backend.get_pipeline, id)
    if pipeline is None:
        return
    other = foreign_mark(pipeline.description or "", state)
    if other is not None:
        log.warning(
            "pipeline %s (%s) left in KFP: it was made for %s, not by this resource",
            pipeline.display_name, id, other,
        )
        return
    backend.delete_pipeline(id)

