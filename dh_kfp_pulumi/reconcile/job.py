"""Function job -> a one-step pipeline `<project>-<name>` running one function alone.

The seed's `function.run(action="job", inputs=...)`: like a Workflow (one KFP pipeline,
one version per compiled spec, same outputs), built with `build_function_job` instead
of a pipeline handler. A Run of its `pipeline_id`/`version_id` then runs it; the job's
`inputs` are the pipeline's parameters (their values the defaults), so a Run may pass
other values.

Props (inputs): `project`, `name` (the pipeline is `<project>-<name>`), `function` (a
FunctionSpec dict), the step's `inputs`, `parameters`, `outputs` and `values`, any pod
setting of a Task (`node_selector`, `volumes`, `resources`, ..., `profile`), `embedded`,
`adopt` and `spec_hash` (set by check). Outputs: as a Workflow's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dh_kfp_pulumi.backends import BackendConfig, KfpBackend
from dh_kfp_pulumi.errors import FieldProblem, SpecError
from dh_kfp_pulumi.reconcile import workflow as wf
from dh_kfp_pulumi.reconcile.common import (
    UNKNOWN,
    Fields,
    Plan,
    check_type,
    drop_unknown_problems,
    is_unknown,
    owner_problems,
    prefixed,
    problems_of,
    without_unknown,
)
from dh_kfp_pulumi.reconcile.spec_fields import POD_FIELDS

KIND = "job"
STEP_FIELDS = ("inputs", "parameters", "outputs", "values")
INPUTS: tuple[str, ...] = (
    "project",
    "name",
    "function",
    *STEP_FIELDS,
    *POD_FIELDS,
    "embedded",
    "adopt",
    "spec_hash",
    "owner",
)
OUTPUTS = wf.OUTPUTS
REPLACES = ("project", "name")
DEFAULTS: dict[str, Any] = {"embedded": True, "inputs": {}, "parameters": {}, "outputs": {}}
FIELDS = Fields(INPUTS, OUTPUTS, DEFAULTS, REPLACES, replace_only_if_set=REPLACES)


def plan(olds: Mapping[str, Any], news: Mapping[str, Any]) -> Plan:
    """project/name replace (a new pipeline); anything else makes a new version in place."""
    return FIELDS.plan(olds, news)


def check(news: Mapping[str, Any], config: BackendConfig) -> tuple[dict[str, Any], list[FieldProblem]]:
    news, problems = FIELDS.start_check(news, required=("project", "name"))
    inputs = dict(news)
    for key in ("inputs", "parameters", "outputs"):
        check_type(news, key, Mapping, "a mapping of names", problems)
    check_type(news, "values", list, "a list of output parameter names", problems)
    check_type(news, "embedded", bool, "true or false", problems)
    check_type(news, "adopt", str, "a pipeline id or name", problems)
    problems += owner_problems(news)
    function, function_problems = _function(news)
    problems += function_problems
    from pydantic import ValidationError

    from dh_kfp_pulumi.specs import PodSettings, problems_from

    settings = None
    pod = {k: news.get(k) for k in POD_FIELDS if news.get(k) is not None}
    try:
        settings = PodSettings.model_validate(without_unknown(pod)) if pod else None
    except ValidationError as exc:
        problems += drop_unknown_problems(problems_from(exc, PodSettings), pod)
    if problems:
        inputs["spec_hash"] = ""
        return inputs, problems
    if function is None or is_unknown({k: news.get(k) for k in (*STEP_FIELDS, *POD_FIELDS)}):
        inputs["spec_hash"] = UNKNOWN
        return inputs, problems
    try:
        result = _build(news, function, settings, config)
    except Exception as exc:  # noqa: BLE001 - a build error is a check failure
        inputs["spec_hash"] = ""
        return inputs, wf.problems_of_build(exc)
    inputs["spec_hash"] = result.spec_hash
    return inputs, problems


def _function(props: Mapping[str, Any]) -> tuple[Any, list[FieldProblem]]:
    """(FunctionSpec or None when unknown, problems)."""
    from dh_kfp_pulumi.specs import parse_function

    data = props.get("function")
    if data is UNKNOWN:
        return None, []
    if not isinstance(data, Mapping):
        return None, [
            FieldProblem("function", "required: the function spec to run", data, data is not None)
        ]
    data = dict(data)
    if data.get("project") is None and isinstance(props.get("project"), str):
        data["project"] = props["project"]
    problems = wf._remote_source_problems(data, "function.")
    try:
        spec = parse_function(without_unknown(data))
    except SpecError as exc:
        dropped = drop_unknown_problems(problems_of(exc), data, [wf.CODE_GROUP])
        return None, problems + prefixed(dropped, "function")
    return (None if is_unknown(data) else spec), problems


def _build(props: Mapping[str, Any], function: Any, settings: Any, config: BackendConfig) -> Any:
    import os

    from dh_kfp_pulumi.build import build_function_job

    return build_function_job(
        function,
        inputs=dict(props.get("inputs") or {}),
        parameters=dict(props.get("parameters") or {}),
        outputs=dict(props.get("outputs") or {}),
        values=list(props.get("values") or []),
        task=settings,
        base_dir=os.getcwd(),
        profiles=getattr(config, "profiles", None) or {},
        default_image=getattr(config, "image", None),
        image_pull_secrets=tuple(getattr(config, "image_pull_secrets", ()) or ()),
    )


def build(props: Mapping[str, Any], config: BackendConfig) -> Any:
    """Build from checked props (raises SpecError/BuildError on bad ones)."""
    from dh_kfp_pulumi.specs import PodSettings

    function, problems = _function(props)
    pod = {k: props.get(k) for k in POD_FIELDS if props.get(k) is not None}
    if problems or function is None:
        raise SpecError(
            f"job {props.get('name')!r}", problems or [FieldProblem("function", "unknown")]
        )
    return _build(props, function, PodSettings.model_validate(pod) if pod else None, config)


def create(inputs: Mapping[str, Any], backend: KfpBackend) -> tuple[str, dict[str, Any]]:
    return wf.create_pipeline_version(inputs, backend, build(inputs, backend.config), KIND)


def update(
    id: str, olds: Mapping[str, Any], news: Mapping[str, Any], backend: KfpBackend
) -> dict[str, Any]:
    return wf.update_pipeline_version(
        id, olds, news, backend, lambda: build(news, backend.config), KIND
    )


def read(
    id: str, state: Mapping[str, Any], backend: KfpBackend
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    rid, outputs, _ = wf.read(id, state, backend)
    return rid, outputs, {k: v for k, v in outputs.items() if k in INPUTS}


def delete(id: str, state: Mapping[str, Any], backend: KfpBackend) -> None:
    wf.delete(id, state, backend)
