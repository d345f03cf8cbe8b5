"""The KFP v2beta1 operations on runs and recurring runs (and our observation endpoints
of a run's tasks and logs), as `api` does for the other objects: validation, storage (in
`store`) and KFP's answers, one function per RPC."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dh_kfp_pulumi.server import cron, filters, ir, wire
from dh_kfp_pulumi.server import store as db
from dh_kfp_pulumi.server.api import (
    DEFAULT_SERVICE_ACCOUNT,
    Call,
    _experiment,
    _found,
    _list,
    _pipeline,
    ensure_default_experiment,
)
from dh_kfp_pulumi.server.store import new_id, now
from dh_kfp_pulumi.server.wire import (
    ABORTED,
    FAILED_PRECONDITION,
    INTERNAL,
    ApiError,
    invalid,
    not_found,
)

if TYPE_CHECKING:
    from dh_kfp_pulumi.server.context import ServerContext

RUNS = filters.Resource("runs", {
    "run_id": "id", "id": "id", "display_name": "display_name", "name": "display_name",
    "created_at": "created_at", "finished_at": "finished_at", "description": "description",
    "scheduled_at": "scheduled_at", "storage_state": "storage_state", "status": "state",
    "state": "state", "namespace": "namespace", "experiment_id": "experiment_id",
    "state_history": "state_history", "runtime_details": "state_history",
    "recurring_run_id": "recurring_run_id"})
RECURRING_RUNS = filters.Resource("recurring_runs", {
    "recurring_run_id": "id", "id": "id", "display_name": "display_name",
    "name": "display_name", "created_at": "created_at", "updated_at": "updated_at",
    "description": "description"})


# --- runs -------------------------------------------------------------------------------------

@dataclass
class Source:
    """A run's pipeline: its spec, and the stored version it came from (empty when inline)."""

    spec: ir.Spec
    pipeline_id: str = ""
    version_id: str = ""


def _resolve_source(ctx: ServerContext, body: dict[str, Any], what: str) -> Source:
    """A run's (or recurring run's) pipeline: inline spec xor a reference to a stored version."""
    ref = body.get("pipeline_version_reference")
    if body.get("pipeline_version_id") and not ref:
        version = ctx.store.get_version(body["pipeline_version_id"])
        ref = {"pipeline_id": version["pipeline_id"] if version else "",
               "pipeline_version_id": body["pipeline_version_id"]}
    if "pipeline_spec" in body and ref:
        raise invalid(f"Failed to create a {what}: Invalid input error: pipeline_spec and "
                      "pipeline_version_reference cannot both be set")
    if "pipeline_spec" in body:
        return Source(ir.from_wire(body["pipeline_spec"]))
    if not ref:
        raise invalid(f"Failed to create a {what}: Invalid input error: set either pipeline_spec "
                      "or pipeline_version_reference")
    pipeline_id, version_id = ref.get("pipeline_id", ""), ref.get("pipeline_version_id", "")
    action = f"Failed to create a {what}"
    if version_id:
        version = ctx.store.get_version(version_id)
        if version is None or (pipeline_id and version["pipeline_id"] != pipeline_id):
            raise not_found("PipelineVersion", version_id, action)
    elif pipeline_id:
        _pipeline(ctx, pipeline_id, action)
        version = ctx.store.latest_version(pipeline_id)
        if version is None:
            raise ApiError(FAILED_PRECONDITION, f"{action}: pipeline {pipeline_id} has no version",
                           f"Pipeline {pipeline_id} has no version")
    else:
        raise invalid(f"{action}: Invalid input error: pipeline_version_reference.pipeline_id is "
                      "empty")
    spec = ir.from_wire(json.loads(version["spec_json"]), validate=False)
    return Source(spec, version["pipeline_id"], version["id"])


def _run_experiment(ctx: ServerContext, ident: str, what: str) -> str:
    if not ident:
        return ensure_default_experiment(ctx)
    row = _experiment(ctx, ident, f"Failed to create a {what}")
    if row["storage_state"] == "ARCHIVED":
        user = f"Experiment {ident} is archived: unarchive it first"
        raise ApiError(FAILED_PRECONDITION, f"Failed to create a {what}: {user}", user)
    return ident


def _runtime_config(body: dict[str, Any], spec: ir.Spec) -> dict[str, Any]:
    config = body.get("runtime_config") or {}
    parameters = config.get("parameters") or {}
    ir.check_parameters(spec, parameters)
    return {k: v for k, v in (("parameters", parameters),
                              ("pipeline_root", config.get("pipeline_root", ""))) if v}


def insert_run(conn: sqlite3.Connection, *, experiment_id: str, display_name: str,
               description: str, source: Source, runtime_config: dict[str, Any],
               service_account: str, scheduled_at: int | None = None,
               recurring_run_id: str = "") -> str:
    """One PENDING run (the API and the scheduler both create runs through here)."""
    ident = new_id()
    db.insert_run(conn, ident, experiment_id=experiment_id, display_name=display_name,
                  description=description, pipeline_id=source.pipeline_id,
                  version_id=source.version_id, spec_json=ir.dumps(source.spec.wire()),
                  runtime_config=runtime_config,
                  service_account=service_account or DEFAULT_SERVICE_ACCOUNT,
                  scheduled_at=scheduled_at, recurring_run_id=recurring_run_id)
    return ident


def create_run(ctx: ServerContext, call: Call) -> dict[str, Any]:
    body = wire.parse_body(call.body, "v2beta1Run")
    display_name = body.get("display_name", "")
    if not display_name:  # KFP refuses only the empty name (run_server.go createRun)
        raise invalid("Failed to create a run: Invalid input error: The run name is empty. Please "
                      "specify a valid name", "The run name is empty. Please specify a valid name")
    source = _resolve_source(ctx, body, "run")
    runtime_config = _runtime_config(body, source.spec)
    experiment_id = _run_experiment(ctx, body.get("experiment_id") or call.q("experiment_id"),
                                    "run")
    with ctx.store.write() as conn:
        ident = insert_run(conn, experiment_id=experiment_id, display_name=display_name,
                           description=body.get("description", ""), source=source,
                           runtime_config=runtime_config,
                           service_account=body.get("service_account", ""))
    ctx.executor.wake()
    return wire.run(ctx.store.get_run(ident))


def _run(ctx: ServerContext, ident: str, action: str) -> Any:
    return _found(ctx.store.get_run(ident), "Run", ident, action)


def run_view(ctx: ServerContext, row: Any) -> dict[str, Any]:
    return wire.run(row, ctx.store.get_tasks(row["id"]), ctx.store.get_artifacts(row["id"]))


def get_run(ctx: ServerContext, call: Call) -> dict[str, Any]:
    return run_view(ctx, _run(ctx, call.params["run_id"], "Failed to get a run"))


def list_runs(ctx: ServerContext, call: Call) -> dict[str, Any]:
    experiment_id = call.q("experiment_id")
    where, params = ("experiment_id = ?", [experiment_id]) if experiment_id else ("1", [])
    return _list(ctx, call, RUNS, "runs", lambda r: run_view(ctx, r), where, params)


def terminate_run(ctx: ServerContext, call: Call) -> dict[str, Any]:
    ident = call.params["run_id"]
    _run(ctx, ident, "Failed to terminate a run")
    if not ctx.store.set_run_state(ident, "CANCELING",
                                   only_from=("PENDING", "RUNNING", "PAUSED",
                                              "RUNTIME_STATE_UNSPECIFIED")):
        # KFP's run store refuses it as invalid input (code 3), not as a failed precondition.
        user = f"Failed to terminate a run {ident}. Row not found"
        raise invalid(f"Failed to terminate a run: Failed to terminate run {ident}: Invalid input "
                      f"error: {user}", user)
    ctx.executor.wake()
    return {}


def delete_run(ctx: ServerContext, call: Call) -> dict[str, Any]:
    ident = call.params["run_id"]
    _run(ctx, ident, "Failed to delete a run")
    ctx.executor.forget(ident)
    with ctx.store.write() as conn:
        db.delete_run(conn, ident)
    shutil.rmtree(ctx.run_dir(ident), ignore_errors=True)
    return {}


def archive_run(ctx: ServerContext, call: Call) -> dict[str, Any]:
    ident = call.params["run_id"]
    _run(ctx, ident, "Failed to archive a run")
    with ctx.store.write() as conn:
        db.set_run_storage(conn, ident, "ARCHIVED")
    return {}


def unarchive_run(ctx: ServerContext, call: Call) -> dict[str, Any]:
    ident = call.params["run_id"]
    row = _run(ctx, ident, "Failed to unarchive a run")
    experiment = ctx.store.get_experiment(row["experiment_id"])
    if experiment is not None and experiment["storage_state"] == "ARCHIVED":
        user = (f"Failed to unarchive run {ident}: its experiment {row['experiment_id']} is "
                "archived; unarchive the experiment first")
        raise ApiError(FAILED_PRECONDITION, f"Failed to unarchive a run: {user}", user)
    with ctx.store.write() as conn:
        db.set_run_storage(conn, ident, "AVAILABLE")
    return {}


RETRYABLE_STATES = ("FAILED", "CANCELED")  # KFP: an Argo workflow in phase Failed or Error


def retry_run(ctx: ServerContext, call: Call) -> dict[str, Any]:
    """KFP retries a failed (or terminated) run under the same id; here the run goes back to
    PENDING and the executor runs it again from its first step (KFP keeps the steps that
    succeeded: the embedded server has no per-step cache to resume from)."""
    ident = call.params["run_id"]
    _run(ctx, ident, "Failed to retry a run")
    t = now()
    with ctx.store.write() as conn:
        row = db.run_state(conn, ident)
        if row is None or row["state"] not in RETRYABLE_STATES:
            user = "Workflow must be Failed/Error to retry"
            raise ApiError(ABORTED, f"Failed to retry a run: Failed to retry run {ident}: "
                           f"BadRequestError: {user}: workflow cannot be retried", user)
        history = [*json.loads(row["state_history"]), {"update_time": t, "state": "PENDING"}]
        db.reset_run(conn, ident, history)
    ctx.executor.wake()
    return {}


# --- recurring runs ---------------------------------------------------------------------------

def _trigger(body: dict[str, Any]) -> dict[str, Any]:
    trigger = body.get("trigger") or {}
    cron_schedule, periodic = trigger.get("cron_schedule"), trigger.get("periodic_schedule")
    if cron_schedule is not None and periodic is not None:
        raise invalid("Failed to create a recurring run: Invalid input error: trigger has both "
                      "cron_schedule and periodic_schedule; set one")
    if cron_schedule is None and periodic is None:
        raise invalid("Failed to create a recurring run: Invalid input error: a trigger with "
                      "cron_schedule or periodic_schedule is required")
    chosen: dict[str, Any] = cron_schedule if cron_schedule is not None else periodic or {}
    out = {"start_time": chosen.get("start_time"), "end_time": chosen.get("end_time"),
           "cron": None, "interval_second": None}
    if cron_schedule is not None:
        cron.parse(cron_schedule.get("cron", ""))
        out["cron"] = cron_schedule.get("cron", "")
    else:
        interval = chosen.get("interval_second", 0)
        if interval < 1:
            user = (f"Found invalid period schedule interval {interval}. Set at interval to "
                    "least 1 second")
            raise invalid(f"Failed to create a recurring run: Invalid input error: {user}", user)
        out["interval_second"] = interval
    # No check that end_time follows start_time: KFP has none (such a schedule never fires).
    return out


def schedule_of(trigger: dict[str, Any]) -> cron.Schedule:
    if trigger.get("cron") is not None:
        return cron.parse(trigger["cron"])
    return cron.Schedule(every=int(trigger["interval_second"]))


def create_recurring_run(ctx: ServerContext, call: Call) -> dict[str, Any]:
    body = wire.parse_body(call.body, "v2beta1RecurringRun")
    display_name = body.get("display_name", "")
    if not display_name:
        # KFP's converter refuses it as an internal error (500 "Internal Server Error").
        raise ApiError(INTERNAL, "Failed to create a recurring run due to conversion error: "
                       "InternalServerError: Failed to convert a API recurring run to its "
                       "internal representation: Invalid input error: Recurring run's name "
                       "cannot be empty", "Internal Server Error")
    max_concurrency = body.get("max_concurrency", 0)
    if not 1 <= max_concurrency <= 10:
        user = (f"Max concurrency of a recurring run must be at least 1 and at most 10. "
                f"Received {max_concurrency}")
        raise invalid(f"Failed to create a recurring run: Invalid input error: {user}", user)
    trigger = _trigger(body)
    source = _resolve_source(ctx, body, "recurring run")
    runtime_config = _runtime_config(body, source.spec)
    experiment_id = _run_experiment(ctx, body.get("experiment_id", ""), "recurring run")
    ident = new_id()
    mode = "ENABLE" if body.get("mode") == "ENABLE" else "DISABLE"
    with ctx.store.write() as conn:
        db.insert_recurring_run(
            conn, ident, display_name=display_name, description=body.get("description", ""),
            experiment_id=experiment_id, pipeline_id=source.pipeline_id,
            version_id=source.version_id, spec_json=ir.dumps(source.spec.wire()),
            spec_inline="pipeline_spec" in body, runtime_config=runtime_config,
            service_account=body.get("service_account") or DEFAULT_SERVICE_ACCOUNT,
            max_concurrency=max_concurrency, trigger=trigger, mode=mode,
            no_catchup=bool(body.get("no_catchup")), last_tick=trigger["start_time"])
    ctx.scheduler.wake()
    return wire.recurring_run(ctx.store.get_recurring_run(ident))


def _recurring_run(ctx: ServerContext, ident: str, action: str) -> Any:
    return _found(ctx.store.get_recurring_run(ident), "RecurringRun", ident, action)


def get_recurring_run(ctx: ServerContext, call: Call) -> dict[str, Any]:
    return wire.recurring_run(_recurring_run(ctx, call.params["recurring_run_id"],
                                             "Failed to get a recurring run"))


def list_recurring_runs(ctx: ServerContext, call: Call) -> dict[str, Any]:
    experiment_id = call.q("experiment_id")
    where, params = ("experiment_id = ?", [experiment_id]) if experiment_id else ("1", [])
    return _list(ctx, call, RECURRING_RUNS, "recurringRuns", wire.recurring_run, where, params)


def enable_recurring_run(ctx: ServerContext, call: Call) -> dict[str, Any]:
    ident = call.params["recurring_run_id"]
    _recurring_run(ctx, ident, "Failed to enable a recurring run")
    with ctx.store.write() as conn:
        db.enable_recurring_run(conn, ident)
    ctx.scheduler.wake()
    return {}


def disable_recurring_run(ctx: ServerContext, call: Call) -> dict[str, Any]:
    ident = call.params["recurring_run_id"]
    _recurring_run(ctx, ident, "Failed to disable a recurring run")
    with ctx.store.write() as conn:
        db.disable_recurring_run(conn, ident)
    return {}


def _delete_recurring_run(ctx: ServerContext, ident: str) -> None:
    # As on KFP (kubeflow/pipelines#7421), the runs it started and that are still going stop.
    with ctx.store.write() as conn:
        active = db.delete_recurring_run(conn, ident)
    for run_id in active:
        ctx.store.set_run_state(run_id, "CANCELING", only_from=("PENDING", "RUNNING"),
                                note="its recurring run was deleted")
    ctx.executor.wake()


def delete_recurring_run(ctx: ServerContext, call: Call) -> dict[str, Any]:
    ident = call.params["recurring_run_id"]
    _recurring_run(ctx, ident, "Failed to delete a recurring run")
    _delete_recurring_run(ctx, ident)
    return {}


# --- beyond KFP: observation endpoints (documented in the package docstring) ------------------

def run_tasks(ctx: ServerContext, call: Call) -> dict[str, Any]:
    row = _run(ctx, call.params["run_id"], "Failed to get the tasks of a run")
    artifacts = ctx.store.get_artifacts(row["id"])
    tasks = []
    for task in ctx.store.get_tasks(row["id"]):
        arts: dict[str, list[dict[str, Any]]] = {}
        for art in artifacts:
            if art["task_id"] == task["task_id"]:
                arts.setdefault(art["output"], []).append({
                    "artifact_id": str(art["id"]), "name": art["name"], "uri": art["uri"],
                    "schema_title": art["schema_title"], "metadata": json.loads(art["metadata"])})
        tasks.append({
            "task_id": task["task_id"], "name": task["name"],
            "display_name": task["display_name"], "state": task["state"],
            "start_time": wire.ts(task["start_time"]), "end_time": wire.ts(task["end_time"]),
            "error": json.loads(task["error"]) if task["error"] else None,
            "parameters": json.loads(task["outputs"]).get("parameters", {}),
            "artifacts": arts,
            "log": f"/dh-kfp/v1/runs/{row['id']}/logs?task={task['task_id']}"})
    return {"run_id": row["id"], "state": row["state"], "notes": json.loads(row["notes"]),
            "tasks": tasks}


def run_logs(ctx: ServerContext, call: Call) -> str:
    row = _run(ctx, call.params["run_id"], "Failed to get the logs of a run")
    wanted = call.q("task")
    tasks = [t for t in ctx.store.get_tasks(row["id"])
             if not wanted or wanted in (t["task_id"], t["name"], t["display_name"])]
    if wanted and not tasks:
        raise not_found("Task", wanted, f"Failed to get the logs of run {row['id']}")
    parts = []
    for task in tasks:
        text = _read_text(task["log_path"])
        parts.append(text if wanted else f"===== task {task['name']} ({task['state']}) =====\n{text}")
    if not wanted:
        worker_log = _read_text(os.path.join(ctx.run_dir(row["id"]), "worker.log"))
        if worker_log:
            parts.append(f"===== run {row['id']} ({row['state']}) =====\n{worker_log}")
    return "\n".join(parts)


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
