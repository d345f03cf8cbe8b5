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
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from dh_kfp_pulumi.backends import BackendConfig, KfpBackend, RecurringRun
from dh_kfp_pulumi.errors import FieldProblem, SpecError
from dh_kfp_pulumi.reconcile import schedule as sched
from dh_kfp_pulumi.reconcile import schedule_end, schedule_plan
from dh_kfp_pulumi.reconcile import workflow as wf
from dh_kfp_pulumi.reconcile.common import (
    UNKNOWN,
    Undo,
    adopt_problems,
    drop_unknown_problems,
    foreign_mark,
    get_or_none,
    identity_from_marker,
    is_unknown,
    marker,
    only_inputs,
    owner_problems,
    owner_text,
    problems_of,
    require_text,
    run_inputs_problems,
    split_props,
    without_unknown,
)
from dh_kfp_pulumi.reconcile.task_plan import (  # noqa: F401 - the kind's names
    DEFAULTS,
    FIELDS,
    INPUTS,
    KIND,
    MOVING,
    OUTPUTS,
    POD_FIELDS,
    REPLACES,
    TASK_FIELDS,
    has_pod_settings,
    plan,
    planned_outputs,
)

log = logging.getLogger("dh_kfp_pulumi.reconcile")

# ---- plan & check (no network) -----------------------------------------------------------


def check(news: Mapping[str, Any], config: BackendConfig) -> tuple[dict[str, Any], list[FieldProblem]]:
    """Validate; with pod settings, build the task's own version and set `spec_hash`."""
    from dh_kfp_pulumi.specs import parse_task

    news, problems = FIELDS.start_check(news, required=("project", "name", "pipeline_id"))
    inputs = dict(news)
    own = has_pod_settings(news)
    if not own:
        require_text(news, "workflow_version_id", problems)
    problems += adopt_problems(news, "a recurring run id or name")
    problems += owner_problems(news)

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
    problems += run_inputs_problems(news)

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
        KIND, str(props["project"]), str(props["name"]), result.spec_hash, owner_text(props)
    )
    version, uploaded = wf.ensure_version(backend, pipeline_id, result, description)
    if uploaded:
        undo.push(
            f"delete version {version.id}",
            lambda: backend.delete_version(pipeline_id, version.id),
        )
    return _Version(version.id, version.name, True)


def _outputs(
    props: Mapping[str, Any],
    version: _Version,
    outcome: sched.Outcome,
    experiment: sched.Experiment,
    backend: KfpBackend,
) -> dict[str, Any]:
    recurring_run = outcome.recurring_run
    experiment_id = (
        recurring_run.experiment_id
        if recurring_run is not None and recurring_run.experiment_id
        else experiment.id
    )
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
        retired_recurring_run_ids=list(outcome.retired),
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
    experiment = sched.Experiment(backend, str(inputs["project"]))
    outcome = sched.Outcome(None, [])
    with Undo() as undo:
        version = _ensure_version(inputs, backend, undo)
        if inputs.get("schedule"):
            desired = sched.desired_schedule(inputs, version.id)
            live: RecurringRun | None
            if inputs.get("adopt"):
                live = sched.adopt_recurring_run(backend, str(inputs["adopt"]))
            else:
                live = next(
                    (
                        r
                        for r in backend.find_recurring_runs(desired.name, experiment())
                        if r.description == desired.description
                    ),
                    None,
                )
            seen = sched.observe(backend, desired, live, [])
            steps = schedule_plan.plan_swap(schedule_plan.Want(desired.enabled), seen.seen)
            outcome = sched.run_steps(backend, steps, seen, desired, experiment, undo)
    return uuid.uuid4().hex, _outputs(inputs, version, outcome, experiment, backend)


def update(
    id: str, olds: Mapping[str, Any], news: Mapping[str, Any], backend: KfpBackend
) -> dict[str, Any]:
    """Full outputs. Enabled/disabled toggles in place; any other schedule change moves
    it (`schedule_plan`); retired recurring runs are swept after the swap."""
    experiment = sched.Experiment(backend, str(news["project"]), str(olds.get("experiment_id") or ""))
    with Undo() as undo:
        version = _version_for_update(olds, news, backend, undo)
        current = sched.get_recurring_run(backend, str(olds.get("recurring_run_id") or ""))
        desired = sched.desired_schedule(news, version.id) if news.get("schedule") else None

        def strays() -> list[RecurringRun]:
            assert desired is not None
            return backend.find_recurring_runs(desired.name, experiment())

        seen = sched.observe(backend, desired, current, _leftovers(olds), strays=strays)
        want = schedule_plan.Want(desired.enabled) if desired is not None else None
        swap = schedule_plan.plan_swap(want, seen.seen)
        swapped = sched.run_steps(backend, swap, seen, desired, experiment, undo)
    sweep = schedule_plan.plan_sweep(seen.seen, schedule_plan.target_of(swap))
    swept = sched.run_steps(backend, sweep, seen, desired, experiment)
    kept = set(swapped.retired) | set(swept.retired)
    retired = [rid for rid in schedule_plan.retired_order(seen.seen) if rid in kept]
    return _outputs(news, version, sched.Outcome(swapped.recurring_run, retired), experiment, backend)


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
        live = sched.get_recurring_run(backend, rid)
        if live is None:
            return "", {}, {}
        sched.live_schedule(outputs, state, live, DEFAULTS)
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
    busy, ended = sched.retired_now(backend, _leftovers(state))
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


def _import(id: str, backend: KfpBackend) -> tuple[str, dict[str, Any], dict[str, Any]]:
    try:
        live = sched.adopt_recurring_run(backend, id)
    except SpecError:
        return "", {}, {}
    inputs: dict[str, Any] = {
        **identity_from_marker(live.description, KIND),
        "action": "pipeline",
        "pipeline_id": live.pipeline_id,
        "workflow_version_id": live.version_id,
        "schedule": sched.user_cron(live.cron) or f"@every {live.interval_second}s",
        "enabled": live.enabled,
        "max_concurrency": live.max_concurrency,
        "catchup": not live.no_catchup,
        "start_time": None if sched.handed_over(live) else live.start_time or None,
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
    live = [r for r in (sched.get_recurring_run(backend, rid) for rid in ids) if r is not None]
    for recurring_run in list(live):
        other = foreign_mark(recurring_run.description, state)
        if other is not None:
            log.warning(
                "recurring run %s (%s) left in KFP: it was made for %s, not by this resource",
                recurring_run.name, recurring_run.id, other,
            )
            live.remove(recurring_run)
            ids.remove(recurring_run.id)
    disabled: list[str] = []
    try:
        for recurring_run in live:
            if recurring_run.enabled:
                backend.disable_recurring_run(recurring_run.id)
                disabled.append(recurring_run.id)
        schedule_end.end_active_runs(backend, [r.id for r in live], _who(state))
    except Exception:
        for rid in disabled:
            sched.quietly(f"re-enable recurring run {rid}", partial(backend.enable_recurring_run, rid))
        raise
    deleted = set(ids)
    for rid in ids:
        backend.delete_recurring_run(rid)
    if state.get("own_version") and state.get("version_id") and state.get("pipeline_id"):
        _delete_own_version(state, backend, deleted)


def _who(state: Mapping[str, Any]) -> str:
    return f"task {state.get('project')}/{state.get('name')}"


def _delete_own_version(state: Mapping[str, Any], backend: KfpBackend, deleted: set[str]) -> None:
    pipeline_id, version_id = str(state["pipeline_id"]), str(state["version_id"])
    version = get_or_none(backend.get_version, pipeline_id, version_id)
    if version is None:
        return
    mine = marker(KIND, str(state.get("project")), str(state.get("name")), owner_text(state))
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
