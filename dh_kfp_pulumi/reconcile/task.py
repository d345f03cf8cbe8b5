"""Task (action `pipeline`) -> its own pipeline version (with pod settings) and a recurring run.

Props (inputs): `project`, `name` (the task's name; the recurring run is displayed as
`<project>-<name>`), `pipeline_id` (the workflow's pipeline), `workflow_version_id` (the
workflow's version, run when the task has no pod settings), `workflow_spec` (the
workflow's props, WorkflowSpec fields + `functions`; needed only with pod settings,
which make the task build a version of its own in the same pipeline), every TaskSpec
field (`action`, the pod settings `node_selector`, `volumes`, `resources`, `affinity`,
`tolerations`, `envs`, `secrets`, `profile`, ...; the schedule `schedule`, `enabled`,
`max_concurrency`, `catchup`, `start_time`, `end_time`), `inputs` (the scheduled runs'
pipeline parameters), `adopt` (an existing recurring run's id or name) and `spec_hash`
(set by check: the own build's hash, "" without pod settings).

Outputs: the inputs plus `version_id` (what the task runs), `version_name`,
`own_version` (built by this task), `recurring_run_id` ("" without schedule),
`recurring_run_name`, `cron` (as sent to KFP), `experiment_id`, `url`,
`retired_recurring_run_ids` (old schedules kept disabled until their runs finish) and
`cleanup_recurring_run_ids` (retired ones whose runs a `read` found ended: pending
clean-up, which makes `plan` report a change, so the next update deletes them).

The resource id is stable (not the recurring run's id): KFP cannot update a recurring
run, so a changed schedule, inputs or version moves to a new one inside `update`:
disable the old, create the new one starting where the old one stopped (a `start_time`
of the second the old was disabled: no tick lost, none fired twice), then delete the
old one unless it still has an active run (then it stays disabled, retired, and is
deleted by a later update or the delete). At no time are two of the task's schedules
enabled. `delete` never kills a run silently: it disables the schedules, then waits for
their active runs to end (stack setting `destroy_wait_timeout`) or, with
`on_destroy_active_runs: cancel`, cancels them and says which.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

from dh_kfp_pulumi.backends import ApiError, BackendConfig, KfpBackend
from dh_kfp_pulumi.errors import BackendError, FieldProblem, SpecError
from dh_kfp_pulumi.reconcile import workflow as wf
from dh_kfp_pulumi.reconcile.common import (
    UNKNOWN,
    Plan,
    Undo,
    adopted,
    digest,
    drop_unknown_problems,
    get_or_none,
    identity_from_marker,
    is_unknown,
    marker,
    not_after,
    only_inputs,
    plain_numbers,
    plan_props,
    problems_of,
    require_text,
    same_instant,
    short_hash,
    split_props,
    unknown_keys,
    without_outputs,
    without_unknown,
)
from dh_kfp_pulumi.specs import TaskSpec
from dh_kfp_pulumi.specs.pod import POD_FIELDS

log = logging.getLogger("dh_kfp_pulumi.reconcile")

KIND = "task"
TASK_FIELDS: tuple[str, ...] = tuple(TaskSpec.model_fields)
INPUTS: tuple[str, ...] = (
    "project",
    "name",
    "pipeline_id",
    "workflow_version_id",
    "workflow_spec",
    *TASK_FIELDS,
    "inputs",
    "adopt",
    "spec_hash",
)
OUTPUTS = (
    "version_id",
    "version_name",
    "own_version",
    "recurring_run_id",
    "recurring_run_name",
    "cron",
    "experiment_id",
    "url",
    "retired_recurring_run_ids",
    "cleanup_recurring_run_ids",
)
REPLACES: tuple[str, ...] = ()  # everything moves in place: the schedule dance is in update
DEFAULTS: dict[str, Any] = {
    "action": "pipeline",
    "enabled": True,
    "max_concurrency": 1,
    "catchup": True,
    "inputs": {},
}


def has_pod_settings(props: Mapping[str, Any]) -> bool:
    """True when any pod setting is given (then the task builds its own version)."""
    return any(props.get(k) not in (None, [], {}) for k in POD_FIELDS)


# ---- plan & check (no network) -----------------------------------------------------------


def plan(olds: Mapping[str, Any], news: Mapping[str, Any]) -> Plan:
    """Never a replacement: a new schedule, inputs or version is moved inside update.

    Retired recurring runs a `read` found ready for clean-up (their runs have ended) are
    a change too (`cleanup_recurring_run_ids`): the update deletes them.
    """
    out = plan_props(olds, news, inputs=INPUTS, defaults=DEFAULTS, replaces=REPLACES)
    if olds.get("cleanup_recurring_run_ids"):
        return Plan([*out.changes, "cleanup_recurring_run_ids"], out.replaces)
    return out


def check(news: Mapping[str, Any], config: BackendConfig) -> tuple[dict[str, Any], list[FieldProblem]]:
    """Validate; with pod settings, build the task's own version and set `spec_hash`."""
    from dh_kfp_pulumi.specs import parse_run, parse_task

    news = without_outputs(news, OUTPUTS)
    inputs = dict(news)
    problems: list[FieldProblem] = []
    unknown_keys(news, INPUTS, problems)
    for key in ("project", "name", "pipeline_id"):
        require_text(news, key, problems)
    own = has_pod_settings(news)
    if not own:
        require_text(news, "workflow_version_id", problems)
    adopt = news.get("adopt")
    if adopt is not None and not is_unknown(adopt) and (not isinstance(adopt, str) or not adopt):
        problems.append(FieldProblem("adopt", "must be a recurring run id or name", adopt, True))

    task_data, _ = split_props(news, TASK_FIELDS)
    task_data.setdefault("action", "pipeline")
    task_spec = None
    known = without_unknown(task_data)
    if task_data.get("schedule") is UNKNOWN:
        known["schedule"] = "@daily"  # a stand-in, so the schedule's options validate
    try:
        task_spec = parse_task(known)
    except SpecError as exc:
        problems += drop_unknown_problems(problems_of(exc), task_data)
    run_inputs = news.get("inputs")
    if not is_unknown(run_inputs):
        try:
            parse_run({"inputs": run_inputs if run_inputs is not None else {}})
        except SpecError as exc:
            problems += problems_of(exc)

    spec_hash: Any = ""
    if own:
        spec_hash, build_problems = _own_build_hash(news, task_spec, config, problems)
        problems += build_problems
    elif not problems:
        problems += _workflow_input_problems(news, config)
    inputs["spec_hash"] = "" if problems else spec_hash
    return inputs, problems


def _own_build_hash(
    news: Mapping[str, Any], task_spec: Any, config: BackendConfig, problems: list[FieldProblem]
) -> tuple[Any, list[FieldProblem]]:
    ws = news.get("workflow_spec")
    if (
        ws is UNKNOWN
        or is_unknown(news.get("inputs"))
        or is_unknown({k: news.get(k) for k in TASK_FIELDS})
    ):
        return UNKNOWN, []
    if not isinstance(ws, Mapping):
        return "", [
            FieldProblem(
                "workflow_spec",
                "required with pod settings: the workflow's props (code, handler, functions, "
                "...), from which the task builds its own version",
                ws,
                ws is not None,
            )
        ]
    specs, spec_problems, complete = wf.parse_specs(ws, prefix="workflow_spec.")
    if spec_problems:
        return "", spec_problems
    if not complete:
        return UNKNOWN, []
    if problems or task_spec is None or specs is None:
        return "", []
    try:
        result = wf.build_specs(*specs, task_spec, config=config)
    except Exception as exc:  # noqa: BLE001 - a build error is a check failure
        return "", wf.problems_of_build(exc)
    return result.spec_hash, _parameter_problems(news.get("inputs") or {}, result)


def _parameter_problems(inputs: Mapping[str, Any], result: Any) -> list[FieldProblem]:
    """The inputs against the compiled pipeline's parameters (its IR's root inputs)."""
    from dh_kfp_pulumi.build import input_problems, ir_parameters

    return input_problems(inputs, ir_parameters(result.yaml), unknown=is_unknown)


def _workflow_input_problems(news: Mapping[str, Any], config: BackendConfig) -> list[FieldProblem]:
    """Without pod settings, a given `workflow_spec` still tells the pipeline's parameters:
    its build (the workflow's own, memoized) checks the inputs; unknown values skip it."""
    ws, run_inputs = news.get("workflow_spec"), news.get("inputs")
    if not isinstance(ws, Mapping) or is_unknown(run_inputs):
        return []
    specs, spec_problems, complete = wf.parse_specs(ws, prefix="workflow_spec.")
    if spec_problems or not complete or specs is None:
        return spec_problems
    try:
        result = wf.build_specs(*specs, config=config)
    except Exception as exc:  # noqa: BLE001 - a build error is a check failure
        return wf.problems_of_build(exc, "workflow_spec")
    return _parameter_problems(run_inputs or {}, result)


# Inputs that make a new recurring run when they change (the rest toggle or are cosmetic).
MOVING = ("pipeline_id", "schedule", "inputs", "max_concurrency", "catchup", "start_time",
          "end_time", "adopt")  # fmt: skip


def planned_outputs(olds: Mapping[str, Any] | None, news: Mapping[str, Any]) -> dict[str, Any]:
    """The outputs an apply of `news` will give, as far as they are known before it runs.

    See `workflow.planned_outputs`. The recurring run is promised to stay only when
    nothing but `enabled` (or a cosmetic field) changes and the version stays: then a
    Run or anything else using `version_id` is not planned to change.
    """
    from dh_kfp_pulumi.build import pipeline_name
    from dh_kfp_pulumi.specs import kfp_cron

    olds = olds or {}
    pod = {k: news.get(k) for k in POD_FIELDS}
    own: Any = UNKNOWN if is_unknown(pod) else has_pod_settings(news)
    spec_hash = news.get("spec_hash")
    if own is UNKNOWN:
        version_id: Any = UNKNOWN
        version_name: Any = UNKNOWN
    elif not own:
        version_id, version_name = news.get("workflow_version_id"), ""
        if version_id is None:
            version_id = ""
    elif (
        olds.get("own_version")
        and olds.get("version_id")
        and not is_unknown([spec_hash, news.get("pipeline_id")])
        and olds.get("spec_hash") == spec_hash
        and olds.get("pipeline_id") == news.get("pipeline_id")
    ):
        version_id, version_name = olds["version_id"], olds.get("version_name") or ""
    else:
        version_id = UNKNOWN
        version_name = (
            short_hash(spec_hash) if isinstance(spec_hash, str) and spec_hash else UNKNOWN
        )
    out: dict[str, Any] = {
        "version_id": version_id,
        "version_name": version_name,
        "own_version": own,
        "experiment_id": olds.get("experiment_id") or UNKNOWN,
        "retired_recurring_run_ids": UNKNOWN,
        "cleanup_recurring_run_ids": [],  # an apply deletes them (or retires them again)
    }
    leftovers = bool(
        olds.get("retired_recurring_run_ids") or olds.get("cleanup_recurring_run_ids")
    )
    quiet = not olds.get("recurring_run_id") and not leftovers
    if olds and not plan(olds, news).changed:  # no update at all: what is kept stays kept
        out["retired_recurring_run_ids"] = list(olds.get("retired_recurring_run_ids") or [])
        # [] or, in a state older than this output, None: unchanged either way
        out["cleanup_recurring_run_ids"] = olds.get("cleanup_recurring_run_ids")
    schedule = news.get("schedule")
    if schedule is UNKNOWN:
        out.update(
            dict.fromkeys(("recurring_run_id", "recurring_run_name", "cron", "url"), UNKNOWN)
        )
        return out
    if not schedule:
        out.update(recurring_run_id="", recurring_run_name="", cron="", url="")
        out["experiment_id"] = olds.get("experiment_id") or ""
        if quiet:
            out["retired_recurring_run_ids"] = []
        return out
    out["cron"] = kfp_cron(str(schedule))
    changes = set(plan(olds, news).changes) if olds else set(MOVING)
    stays = (
        bool(olds.get("recurring_run_id"))
        and not changes & set(MOVING)
        and not is_unknown(version_id)
        and version_id == olds.get("version_id")
    )
    if stays:
        out.update(
            recurring_run_id=olds["recurring_run_id"],
            recurring_run_name=olds.get("recurring_run_name") or "",
            url=olds.get("url") or "",
        )
        if not leftovers:
            out["retired_recurring_run_ids"] = []
        return out
    named = not is_unknown([news.get("adopt"), news.get("project"), news.get("name")])
    named = named and not news.get("adopt")
    out.update(
        recurring_run_id=UNKNOWN,
        recurring_run_name=pipeline_name(str(news["project"]), str(news["name"]))
        if named
        else UNKNOWN,
        url=UNKNOWN,
    )
    if not olds and news.get("adopt") is None:
        out["retired_recurring_run_ids"] = []
    return out


# ---- the version the task runs -----------------------------------------------------------


@dataclass(frozen=True)
class _Version:
    id: str
    name: str
    own: bool


def _task_spec(props: Mapping[str, Any]) -> Any:
    from dh_kfp_pulumi.specs import parse_task

    data, _ = split_props(props, TASK_FIELDS)
    data.setdefault("action", "pipeline")
    return parse_task(data)


def _ensure_version(props: Mapping[str, Any], backend: KfpBackend, undo: Undo) -> _Version:
    if not has_pod_settings(props):
        return _Version(str(props.get("workflow_version_id") or ""), "", False)
    ws = props.get("workflow_spec")
    if not isinstance(ws, Mapping):
        raise SpecError(
            f"task {props.get('name')!r}",
            [FieldProblem("workflow_spec", "required with pod settings")],
        )
    result = wf.build(ws, backend.config, task=_task_spec(props))
    pipeline_id = str(props["pipeline_id"])
    description = wf.version_description(
        KIND, str(props["project"]), str(props["name"]), result.spec_hash
    )
    version, uploaded = wf.ensure_version(backend, pipeline_id, result, description)
    if uploaded:
        undo.push(
            f"delete version {version.id}",
            lambda: backend.delete_version(pipeline_id, version.id),
        )
    return _Version(version.id, version.name, True)


# ---- the recurring run -------------------------------------------------------------------


@dataclass(frozen=True)
class _Desired:
    name: str
    description: str
    pipeline_id: str
    version_id: str
    cron: str
    parameters: dict[str, Any]
    enabled: bool
    max_concurrency: int
    no_catchup: bool
    start_time: str | None
    end_time: str | None


def _desired(props: Mapping[str, Any], version_id: str) -> _Desired:
    from dh_kfp_pulumi.build import pipeline_name
    from dh_kfp_pulumi.specs import kfp_cron

    project, name = str(props["project"]), str(props["name"])
    functional = {
        "pipeline_id": str(props["pipeline_id"]),
        "version_id": version_id,
        "cron": kfp_cron(str(props["schedule"])),
        "parameters": plain_numbers(dict(props.get("inputs") or {})),
        "max_concurrency": int(props.get("max_concurrency") or 1),
        "no_catchup": props.get("catchup") is False,
        "start_time": props.get("start_time") or None,
        "end_time": props.get("end_time") or None,
    }
    return _Desired(
        name=pipeline_name(project, name),
        description=f"{marker(KIND, project, name)} key={digest(functional)}",
        enabled=props.get("enabled") is not False,
        **functional,
    )


def _matches(live: Any, desired: _Desired) -> bool:
    """Same schedule, version, parameters and options (display name and experiment are cosmetic)."""
    return (
        live.version_id == desired.version_id
        and live.cron == desired.cron
        and live.parameters == desired.parameters
        and live.max_concurrency == desired.max_concurrency
        and live.no_catchup == desired.no_catchup
        and _same_start(live, desired.start_time)
        and same_instant(live.end_time, desired.end_time)
    )


def _handed_over(live: Any) -> bool:
    """The recurring run's start time is not after its creation: a hand-over start.

    A move gives the new recurring run the second the old one stopped as its start time
    (see `_handover_start`): it only says which ticks before the creation it fires, so
    from then on it is the same schedule as one without a start time (or with an
    earlier one).
    """
    return not_after(live.start_time, live.created_at)


def _same_start(live: Any, wanted: str | None) -> bool:
    """The live start time is the wanted one, or a hand-over start that stands for it."""
    if same_instant(live.start_time, wanted):
        return True
    return _handed_over(live) and (not wanted or not_after(wanted, live.start_time))


def _create_recurring_run(
    backend: KfpBackend,
    desired: _Desired,
    experiment_id: str,
    *,
    enabled: bool,
    start_time: str | None = None,
) -> Any:
    return backend.create_recurring_run(
        experiment_id=experiment_id,
        name=desired.name,
        description=desired.description,
        pipeline_id=desired.pipeline_id,
        version_id=desired.version_id,
        cron=desired.cron,
        parameters=desired.parameters,
        enabled=enabled,
        max_concurrency=desired.max_concurrency,
        no_catchup=desired.no_catchup,
        start_time=start_time or desired.start_time,
        end_time=desired.end_time,
    )


def _quietly(what: str, fn: Callable[[], Any]) -> None:
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - clean-up must not hide the original error
        log.warning("could not %s: %s", what, exc)


def _move(backend: KfpBackend, old: Any, desired: _Desired, experiment_id: str) -> tuple[Any, list[str]]:
    """Replace `old` by a new recurring run: never two enabled, no run killed, no tick lost.

    The old one is disabled first; the new one is then created as wanted (enabled or
    not) and, when it takes over from an enabled one, starts at the second the old one
    was disabled: it fires the ticks after that second that have already passed (a tick
    falling between the two calls) and every later one, and none the old one fired.
    Created enabled rather than enabled later: an enable moves the embedded server's
    reference to the enable's own second (a tick between the two would be lost), while
    a start time means the same on KFP's ScheduledWorkflow controller and here. A failed
    create enables the old one again.
    """
    before = _now()
    if old.enabled:
        backend.disable_recurring_run(old.id)
    try:
        start = desired.start_time
        if old.enabled and desired.enabled:
            start = _handover_start(backend, old.id, before, desired.start_time)
            if desired.end_time and not_after(desired.end_time, start):
                start = desired.start_time  # its ticks are over: no start after its end
        new = _create_recurring_run(
            backend, desired, experiment_id, enabled=desired.enabled, start_time=start
        )
    except Exception:
        if old.enabled:
            _quietly(
                f"re-enable recurring run {old.id}", lambda: backend.enable_recurring_run(old.id)
            )
        raise
    return new, _retire(backend, old.id)


_CLOCK_SLACK = timedelta(minutes=5)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _handover_start(backend: KfpBackend, old_id: str, before: datetime, wanted: str | None) -> str:
    """The start time of a schedule taking over from `old_id`, just disabled: the second
    KFP stamped that disable with (its `updated_at`, KFP's clock, the one its scheduler
    fires by), else this machine's second before the disable call; a later wanted start
    time wins."""
    live = get_or_none(backend.get_recurring_run, old_id)
    moment = before
    stamp = _parse_instant(live.updated_at) if live is not None else None
    if stamp is not None and before - _CLOCK_SLACK <= stamp <= _now() + _CLOCK_SLACK:
        moment = stamp  # not a stale stamp from an older update of a server that keeps none
    text = moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # the second, down
    if wanted and not_after(text, wanted):
        return wanted
    return text


def _parse_instant(text: str) -> datetime | None:
    """An RFC 3339 timestamp to the second (fraction dropped; no offset: UTC), else None."""
    found = re.fullmatch(
        r"(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d)(?:\.\d+)?([Zz]|[+-]\d\d:\d\d)?",
        (text or "").strip(),
    )
    if found is None:
        return None
    offset = found.group(3) or "Z"
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        return datetime.fromisoformat(f"{found.group(1)}T{found.group(2)}{offset}")
    except ValueError:
        return None


def _retire(backend: KfpBackend, recurring_run_id: str) -> list[str]:
    """Delete a disabled recurring run now if it has no active run, else keep it for later."""
    try:
        if backend.active_runs_of(recurring_run_id):
            return [recurring_run_id]
        backend.delete_recurring_run(recurring_run_id)
    except ApiError as exc:
        log.warning("recurring run %s kept disabled for now: %s", recurring_run_id, exc)
        return [recurring_run_id]
    return []


def _sweep(backend: KfpBackend, retired: list[str], keep: str) -> list[str]:
    """Retired recurring runs still waiting for their runs to finish (the gone ones drop)."""
    out: list[str] = []
    for rid in dict.fromkeys(retired):
        if not rid or rid == keep:
            continue
        try:
            live = backend.get_recurring_run(rid)
        except ApiError as exc:
            if not exc.not_found:
                out.append(rid)
            continue
        if live.enabled:
            backend.disable_recurring_run(rid)
        out += _retire(backend, rid)
    return out


def _converge(
    backend: KfpBackend, live: Any, desired: _Desired, experiment_id: Callable[[], str]
) -> tuple[Any, list[str]]:
    """(the recurring run matching `desired`, ids retired on the way): toggle or move."""
    if _matches(live, desired):
        if live.enabled != desired.enabled:
            if desired.enabled:
                backend.enable_recurring_run(live.id)
            else:
                backend.disable_recurring_run(live.id)
        return live, []
    return _move(backend, live, desired, experiment_id())


def _get_or_none(backend: KfpBackend, recurring_run_id: str) -> Any:
    if not recurring_run_id:
        return None
    return get_or_none(backend.get_recurring_run, recurring_run_id)


def _adopt_recurring_run(backend: KfpBackend, adopt: str) -> Any:
    def find(name: str) -> Any:
        return next(iter(backend.find_recurring_runs(name)), None)

    return adopted("task", "recurring run", adopt, backend.get_recurring_run, find)


class _Experiment:
    """The task's experiment, looked up (or created) only when a schedule is created."""

    def __init__(self, backend: KfpBackend, project: str, known: str = ""):
        self._backend, self._project, self.id = backend, project, known

    def __call__(self) -> str:
        if not self.id:
            name = self._backend.config.experiment_for(self._project)
            self.id = self._backend.ensure_experiment(name).id
        return self.id


def _outputs(
    props: Mapping[str, Any],
    version: _Version,
    recurring_run: Any,
    experiment_id: str,
    retired: list[str],
    backend: KfpBackend,
) -> dict[str, Any]:
    out = dict(props)
    out.update(
        version_id=version.id,
        version_name=version.name,
        own_version=version.own,
        recurring_run_id=recurring_run.id if recurring_run is not None else "",
        recurring_run_name=recurring_run.name if recurring_run is not None else "",
        cron=recurring_run.cron if recurring_run is not None else "",
        experiment_id=experiment_id,
        url=backend.ui_url(f"recurringrun/details/{recurring_run.id}") if recurring_run else "",
        retired_recurring_run_ids=list(retired),
        cleanup_recurring_run_ids=[],
    )
    if not version.own:
        out["spec_hash"] = ""
    return out


# ---- create / update / read / delete -----------------------------------------------------


def create(inputs: Mapping[str, Any], backend: KfpBackend) -> tuple[str, dict[str, Any]]:
    """Own version (if any), then the recurring run: adopted (`adopt`, or one this task
    made before a crash, found by its marker), else created. Failure undoes this call's work.
    """
    experiment = _Experiment(backend, str(inputs["project"]))
    retired: list[str] = []
    recurring_run = None
    with Undo() as undo:
        version = _ensure_version(inputs, backend, undo)
        if inputs.get("schedule"):
            desired = _desired(inputs, version.id)
            if inputs.get("adopt"):
                live = _adopt_recurring_run(backend, str(inputs["adopt"]))
            else:
                live = next(
                    (
                        r
                        for r in backend.find_recurring_runs(desired.name, experiment())
                        if r.description == desired.description
                    ),
                    None,
                )
            recurring_run, retired = _create_or_converge(backend, live, desired, experiment, undo)
    outputs = _outputs(
        inputs, version, recurring_run, _experiment_of(recurring_run, experiment), retired, backend
    )
    return uuid.uuid4().hex, outputs


def _create_or_converge(
    backend: KfpBackend, live: Any, desired: Any, experiment: _Experiment, undo: Undo
) -> tuple[Any, list[str]]:
    """(the recurring run as `desired`, the ids it retired): a new one when none is live
    (deleted again if the apply fails later), else the live one converged."""
    if live is not None:
        return _converge(backend, live, desired, experiment)
    made = _create_recurring_run(backend, desired, experiment(), enabled=desired.enabled)
    undo.push(f"delete recurring run {made.id}", lambda: backend.delete_recurring_run(made.id))
    return made, []


def _experiment_of(recurring_run: Any, experiment: _Experiment) -> str:
    if recurring_run is not None and recurring_run.experiment_id:
        return recurring_run.experiment_id
    return experiment.id


def update(
    id: str, olds: Mapping[str, Any], news: Mapping[str, Any], backend: KfpBackend
) -> dict[str, Any]:
    """Full outputs. Enabled/disabled toggles in place; any other schedule change moves it."""
    experiment = _Experiment(backend, str(news["project"]), str(olds.get("experiment_id") or ""))
    retired = _leftovers(olds)
    recurring_run = None
    with Undo() as undo:
        version = _version_for_update(olds, news, backend, undo)
        current = _get_or_none(backend, str(olds.get("recurring_run_id") or ""))
        if news.get("schedule"):
            desired = _desired(news, version.id)
            recurring_run, more = _create_or_converge(backend, current, desired, experiment, undo)
            retired += more
        elif current is not None:
            if current.enabled:
                backend.disable_recurring_run(current.id)
            retired += _retire(backend, current.id)
    keep = recurring_run.id if recurring_run is not None else ""
    retired = _sweep(backend, retired, keep)
    return _outputs(
        news, version, recurring_run, _experiment_of(recurring_run, experiment), retired, backend
    )


def _version_for_update(
    olds: Mapping[str, Any], news: Mapping[str, Any], backend: KfpBackend, undo: Undo
) -> _Version:
    if (
        has_pod_settings(news)
        and olds.get("own_version")
        and olds.get("version_id")
        and olds.get("spec_hash")
        and olds.get("spec_hash") == news.get("spec_hash")
        and olds.get("pipeline_id") == news.get("pipeline_id")
    ):
        return _Version(str(olds["version_id"]), str(olds.get("version_name") or ""), True)
    return _ensure_version(news, backend, undo)


def read(
    id: str, state: Mapping[str, Any], backend: KfpBackend
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Live state in the inputs' shape.

    A deleted recurring run means the task is gone (""); a schedule changed or disabled
    in KFP shows in `schedule`/`enabled`/`inputs`/...; a deleted own version empties
    `version_id` and `spec_hash`. A task without schedule is gone with its pipeline.
    With no state (an import), `id` is a recurring run's id or name.
    """

    if not state:
        return _import(id, backend)
    outputs = dict(state)
    rid = str(state.get("recurring_run_id") or "")
    if rid:
        live = _get_or_none(backend, rid)
        if live is None:
            return "", {}, {}
        _live_schedule(outputs, state, live, backend)
    elif (
        state.get("pipeline_id")
        and not state.get("own_version")
        and get_or_none(backend.get_pipeline, str(state["pipeline_id"])) is None
    ):
        return "", {}, {}
    if state.get("own_version") and outputs.get("version_id"):
        version_id = str(outputs["version_id"])
        if get_or_none(backend.get_version, str(state["pipeline_id"]), version_id) is None:
            outputs.update(version_id="", version_name="", spec_hash="")
    busy, ended = _retired_now(backend, _leftovers(state))
    outputs["retired_recurring_run_ids"] = busy
    outputs["cleanup_recurring_run_ids"] = ended
    return id, outputs, only_inputs(outputs, INPUTS)


def _leftovers(state: Mapping[str, Any]) -> list[str]:
    """The ids of the task's old recurring runs still to delete (retired, pending clean-up)."""
    ids = [
        *(state.get("retired_recurring_run_ids") or []),
        *(state.get("cleanup_recurring_run_ids") or []),
    ]
    return [str(r) for r in dict.fromkeys(ids) if r]


def _retired_now(backend: KfpBackend, retired: list[str]) -> tuple[list[str], list[str]]:
    """(still waiting for a run, ready to delete) of the retired ids still in KFP.

    The ready ones are what a refresh shows as pending clean-up: the next update
    deletes them, with no change of the inputs needed.
    """
    busy: list[str] = []
    ended: list[str] = []
    for rid in retired:
        if _get_or_none(backend, rid) is None:
            continue  # deleted by hand: nothing left to clean up
        try:
            active = bool(backend.active_runs_of(rid))
        except ApiError as exc:
            log.warning("recurring run %s: could not list its runs: %s", rid, exc)
            active = True
        (busy if active else ended).append(rid)
    return busy, ended


def _live_schedule(
    outputs: dict[str, Any], state: Mapping[str, Any], live: Any, backend: KfpBackend
) -> None:
    from dh_kfp_pulumi.specs import kfp_cron

    schedule = state.get("schedule")
    try:
        sent = kfp_cron(str(schedule)) if schedule else ""
    except ValueError:
        sent = ""
    if live.cron:
        if sent != live.cron:
            outputs["schedule"] = live.cron
    elif live.interval_second:
        outputs["schedule"] = f"@every {live.interval_second}s"
    outputs["cron"] = live.cron
    # An option the user left unset stays unset while KFP holds its default: a fresh
    # deployment must not read back as drift.
    for key, value in (
        ("enabled", live.enabled),
        ("max_concurrency", live.max_concurrency),
        ("catchup", not live.no_catchup),
    ):
        wanted = state.get(key)
        if value != (DEFAULTS[key] if wanted is None else wanted):
            outputs[key] = value
    if not _same_start(live, state.get("start_time")):
        outputs["start_time"] = live.start_time or None
    if not same_instant(state.get("end_time"), live.end_time):
        outputs["end_time"] = live.end_time or None
    if dict(state.get("inputs") or {}) != live.parameters:
        outputs["inputs"] = dict(live.parameters)
    if live.version_id != state.get("version_id"):
        if state.get("own_version"):
            outputs.update(version_id=live.version_id, version_name="", spec_hash="")
        else:
            outputs.update(version_id=live.version_id, workflow_version_id=live.version_id)
    outputs["recurring_run_name"] = live.name


def _import(id: str, backend: KfpBackend) -> tuple[str, dict[str, Any], dict[str, Any]]:
    try:
        live = _adopt_recurring_run(backend, id)
    except SpecError:
        return "", {}, {}
    inputs: dict[str, Any] = {
        **identity_from_marker(live.description, KIND),
        "action": "pipeline",
        "pipeline_id": live.pipeline_id,
        "workflow_version_id": live.version_id,
        "schedule": _user_cron(live.cron) or f"@every {live.interval_second}s",
        "enabled": live.enabled,
        "max_concurrency": live.max_concurrency,
        "catchup": not live.no_catchup,
        "start_time": None if _handed_over(live) else live.start_time or None,
        "end_time": live.end_time or None,
        "inputs": dict(live.parameters),
        "spec_hash": "",
    }
    outputs = dict(inputs)
    outputs.update(
        version_id=live.version_id,
        version_name="",
        own_version=False,
        recurring_run_id=live.id,
        recurring_run_name=live.name,
        cron=live.cron,
        experiment_id=live.experiment_id,
        url=backend.ui_url(f"recurringrun/details/{live.id}"),
        retired_recurring_run_ids=[],
        cleanup_recurring_run_ids=[],
    )
    return live.id, outputs, inputs


def _user_cron(cron: str) -> str:
    """KFP's seconds-first cron in the seed's 5-field form when its seconds are 0.

    `0 5 4 * * *` imports as `5 4 * * *`, the form users write (and the one `kfp_cron`
    turns back into the same KFP cron).
    """
    fields = cron.split()
    if len(fields) == 6 and fields[0] == "0":
        return " ".join(fields[1:])
    return cron


def delete(id: str, state: Mapping[str, Any], backend: KfpBackend) -> None:
    """Delete the recurring run and the retired ones, then the task's own version unless
    another recurring run uses it (versions of the workflow are the workflow's).

    KFP cancels the active runs of a recurring run it deletes, so none is deleted while
    it has one: the schedules are disabled first (no new run starts), then, as the stack
    setting `on_destroy_active_runs` says, their active runs are waited for (`wait`, the
    default, at most `destroy_wait_timeout` seconds; past it the delete fails naming the
    runs, deletes nothing and enables again what it disabled) or canceled (`cancel`,
    each one logged). What it waits for and cancels goes to the log (warnings of
    `dh_kfp_pulumi.reconcile`, which each adapter shows).
    """
    current = state.get("recurring_run_id")
    ids = [str(r) for r in dict.fromkeys([current, *_leftovers(state)]) if r]
    live = [r for r in (_get_or_none(backend, rid) for rid in ids) if r is not None]
    disabled: list[str] = []
    try:
        for recurring_run in live:
            if recurring_run.enabled:
                backend.disable_recurring_run(recurring_run.id)
                disabled.append(recurring_run.id)
        _end_active_runs(backend, [r.id for r in live], _who(state))
    except Exception:
        for rid in disabled:
            _quietly(f"re-enable recurring run {rid}", partial(backend.enable_recurring_run, rid))
        raise
    deleted = set(ids)
    for rid in ids:
        backend.delete_recurring_run(rid)
    if state.get("own_version") and state.get("version_id") and state.get("pipeline_id"):
        _delete_own_version(state, backend, deleted)


def _who(state: Mapping[str, Any]) -> str:
    return f"task {state.get('project')}/{state.get('name')}"


def _active_runs(backend: KfpBackend, recurring_run_ids: list[str]) -> list[tuple[str, Any]]:
    return [(rid, run) for rid in recurring_run_ids for run in backend.active_runs_of(rid)]


def _run_names(active: list[tuple[str, Any]]) -> str:
    return "; ".join(
        f"{run.name!r} ({run.id}, {run.state}) of recurring run {rid}" for rid, run in active
    )


def _end_active_runs(backend: KfpBackend, recurring_run_ids: list[str], who: str) -> None:
    """Wait for (or cancel) the active runs of these disabled recurring runs."""
    active = _active_runs(backend, recurring_run_ids)
    if not active:
        return
    config = backend.config
    if config.on_destroy_active_runs == "cancel":
        for rid, run in active:
            if _cancel(backend, run):
                log.warning(
                    "%s: canceled run %r (%s, was %s) of recurring run %s before deleting it "
                    "(on_destroy_active_runs: cancel)", who, run.name, run.id, run.state, rid,
                )  # fmt: skip
        return
    timeout = config.destroy_wait_timeout
    log.warning(
        "%s: its recurring runs are disabled; waiting up to %gs (destroy_wait_timeout) for "
        "their active runs to end before deleting them: %s", who, timeout, _run_names(active),
    )  # fmt: skip
    deadline = time.monotonic() + timeout
    pause = 0.5
    while True:
        if time.monotonic() >= deadline:
            raise BackendError(
                f"{who}: destroy_wait_timeout ({timeout:g}s) passed and runs of its recurring "
                f"runs are still going: {_run_names(active)}. Nothing was deleted: the "
                "recurring runs are as they were (enabled again if they were). Delete again "
                "once the runs have ended, give the setting destroy_wait_timeout more seconds "
                "(stack config dh-kfp:destroy_wait_timeout; the Terraform provider's "
                "destroy_wait_timeout), or set on_destroy_active_runs to 'cancel' to cancel "
                "such runs instead."
            )
        time.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
        pause = min(pause * 1.5, 5.0)
        still = _active_runs(backend, recurring_run_ids)
        for rid, run in active:
            if all(run.id != r.id for _, r in still):
                log.warning("%s: run %r (%s) of recurring run %s has ended", who, run.name,
                            run.id, rid)  # fmt: skip
        active = still
        if not active:
            return


def _cancel(backend: KfpBackend, run: Any) -> bool:
    """Terminate a run; False when it had ended (or gone) meanwhile."""
    try:
        backend.terminate_run(run.id)
    except ApiError as exc:
        now = get_or_none(backend.get_run, run.id)
        if now is None or now.terminal:
            return False
        raise exc from None
    return True


def _delete_own_version(state: Mapping[str, Any], backend: KfpBackend, deleted: set[str]) -> None:
    pipeline_id, version_id = str(state["pipeline_id"]), str(state["version_id"])
    version = get_or_none(backend.get_version, pipeline_id, version_id)
    if version is None:
        return
    mine = marker(KIND, str(state.get("project")), str(state.get("name")))
    if not version.description.startswith(mine + " "):
        return  # the same content built by someone else (the workflow or another task)
    users = [
        r.id
        for r in backend.list_recurring_runs()
        if r.version_id == version_id and r.id not in deleted
    ]
    if users:
        log.info("version %s kept: recurring runs %s use it", version_id, ", ".join(users))
        return
    backend.delete_version(pipeline_id, version_id)
