"""The KFP v2beta1 operations: validation, storage and KFP's answers, one function per RPC.

Each handler takes the server context and a `Call` (path parameters, query, raw body) and
returns the JSON to send, or raises `ApiError`. Messages follow the real server's wording
where kfp.Client users are likely to read them (API-NOTES §5).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from dh_kfp_pulumi.server import cron, filters, ir, wire
from dh_kfp_pulumi.server import store as db
from dh_kfp_pulumi.server.store import new_id, now
from dh_kfp_pulumi.server.wire import (
    ABORTED,
    ALREADY_EXISTS,
    FAILED_PRECONDITION,
    INTERNAL,
    ApiError,
    invalid,
    not_found,
)

if TYPE_CHECKING:
    from dh_kfp_pulumi.server.context import ServerContext

DEFAULT_EXPERIMENT = "Default"
DEFAULT_EXPERIMENT_DESCRIPTION = "All runs created without specifying an experiment will be grouped here."
DEFAULT_SERVICE_ACCOUNT = "pipeline-runner"

EXPERIMENTS = filters.Resource("experiments", {
    "experiment_id": "id", "id": "id", "display_name": "name", "name": "name",
    "created_at": "created_at", "last_run_created_at": "last_run_created_at",
    "description": "description", "namespace": "namespace", "storage_state": "storage_state"})
PIPELINES = filters.Resource("pipelines", {
    "pipeline_id": "id", "id": "id", "display_name": "display_name", "name": "name",
    "created_at": "created_at", "description": "description", "namespace": "namespace"},
    tags_column="tags")
VERSIONS = filters.Resource("pipeline_versions", {
    "pipeline_version_id": "id", "id": "id", "display_name": "display_name", "name": "name",
    "created_at": "created_at", "status": "status", "description": "description",
    "pipeline_spec": "spec_json"})
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


@dataclass
class Call:
    params: dict[str, str]
    query: Any  # starlette QueryParams (a multi-dict)
    body: bytes = b""
    content_type: str = ""
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)

    def q(self, name: str) -> str:
        return self.query.get(name) or ""


def _list(ctx: ServerContext, call: Call, resource: filters.Resource, key: str, view: Any,
          extra_where: str = "1", extra_params: list[Any] | None = None) -> dict[str, Any]:
    query = filters.build_query(resource, filter_text=call.q("filter"), sort_by=call.q("sort_by"),
                                page_size=call.query.get("page_size"),
                                page_token=call.q("page_token"))
    rows, total, token = filters.select(ctx.store.conn(), query, extra_where=extra_where,
                                        extra_params=extra_params)
    return wire.message(**{key: [view(r) for r in rows]}, total_size=total, next_page_token=token)


def _is_unique_violation(exc: sqlite3.IntegrityError) -> bool:
    return "UNIQUE" in str(exc)


# --- healthz ----------------------------------------------------------------------------------

def healthz(ctx: ServerContext, call: Call) -> dict[str, Any]:
    from dh_kfp_pulumi import __version__
    return {"commit_sha": f"dh-kfp-embedded-{__version__}", "tag_name": "2.17.0",
            "multi_user": False, "pipeline_store": "database"}


# --- experiments ------------------------------------------------------------------------------

def ensure_default_experiment(ctx: ServerContext) -> str:
    row = ctx.store.get_experiment_by_name(DEFAULT_EXPERIMENT)
    if row is not None:
        return row["id"]
    ident = new_id()
    try:
        with ctx.store.write() as conn:
            db.insert_experiment(conn, ident, DEFAULT_EXPERIMENT, DEFAULT_EXPERIMENT_DESCRIPTION)
    except sqlite3.IntegrityError:
        made = ctx.store.get_experiment_by_name(DEFAULT_EXPERIMENT)
        assert made is not None  # the insert failed because it exists
        return str(made["id"])
    return ident


def create_experiment(ctx: ServerContext, call: Call) -> dict[str, Any]:
    body = wire.parse_body(call.body, "v2beta1Experiment")
    name = body.get("display_name", "")
    if not name.strip():
        raise invalid("Failed to create a new experiment: Invalid input error: Experiment name is "
                      "empty. Please specify a valid experiment name",
                      "Experiment name is empty. Please specify a valid experiment name")
    ident = new_id()
    try:
        with ctx.store.write() as conn:
            db.insert_experiment(conn, ident, name, body.get("description", ""))
    except sqlite3.IntegrityError:
        user = (f"Failed to create a new experiment. The name {name} already exists. Please "
                "specify a new name")
        raise ApiError(ALREADY_EXISTS, f"Failed to create a new experiment: Already exist error: "
                       f"{user}", user) from None
    return wire.experiment(ctx.store.get_experiment(ident))


def _found(row: Any, kind: str, ident: str, action: str) -> Any:
    """The row, or KFP's NotFound error for the `kind` named `ident`."""
    if row is None:
        raise not_found(kind, ident, action)
    return row


def _experiment(ctx: ServerContext, ident: str, action: str) -> Any:
    return _found(ctx.store.get_experiment(ident), "Experiment", ident, action)


def get_experiment(ctx: ServerContext, call: Call) -> dict[str, Any]:
    return wire.experiment(_experiment(ctx, call.params["experiment_id"],
                                       "Failed to get an experiment"))


def list_experiments(ctx: ServerContext, call: Call) -> dict[str, Any]:
    return _list(ctx, call, EXPERIMENTS, "experiments", wire.experiment)


def archive_experiment(ctx: ServerContext, call: Call) -> dict[str, Any]:
    ident = call.params["experiment_id"]
    _experiment(ctx, ident, "Failed to archive an experiment")
    with ctx.store.write() as conn:
        db.archive_experiment(conn, ident)
    ctx.scheduler.wake()
    return {}


def unarchive_experiment(ctx: ServerContext, call: Call) -> dict[str, Any]:
    ident = call.params["experiment_id"]
    _experiment(ctx, ident, "Failed to unarchive an experiment")
    with ctx.store.write() as conn:
        db.unarchive_experiment(conn, ident)
    return {}


def delete_experiment(ctx: ServerContext, call: Call) -> dict[str, Any]:
    """As KFP's: the Default experiment is refused (code 10, before the existence check);
    the experiment's runs and recurring runs are left in place (they keep its id)."""
    ident = call.params["experiment_id"]
    default = ctx.store.get_experiment_by_name(DEFAULT_EXPERIMENT)
    if default is not None and default["id"] == ident:
        user = f"Failed to delete experiment {ident}. The default experiment cannot be deleted"
        raise ApiError(ABORTED, f"Failed to delete experiment: BadRequestError: {user}: Invalid "
                       f"input error: Experiment id cannot be equal to the default id {ident}",
                       user)
    _experiment(ctx, ident, "Failed to delete an experiment")
    with ctx.store.write() as conn:
        db.delete_experiment(conn, ident)
    return {}


# --- pipelines --------------------------------------------------------------------------------

def _duplicate_pipeline(name: str, upload: bool) -> ApiError:
    user = f"Failed to create a pipeline. The name {name} already exist. Please specify a new name"
    if upload:
        return ApiError(ALREADY_EXISTS, f"Failed to create a pipeline and a pipeline version: "
                        f"Already exist error: {user}",
                        "Failed to create a pipeline and a pipeline version")
    return ApiError(ALREADY_EXISTS, f"Failed to create a pipeline: Already exist error: {user}",
                    user)


def _duplicate_version(name: str, upload: bool) -> ApiError:
    user = (f"Failed to create a pipeline version. The name {name} already exist. Please specify "
            "a new name")
    return ApiError(ALREADY_EXISTS, f"Failed to create a pipeline version: Already exist error: "
                    f"{user}", "Failed to create a pipeline version" if upload else user)


def _parse_tags(text: str) -> dict[str, str]:
    if not text:
        return {}
    try:
        tags = json.loads(text)
    except ValueError:
        tags = None
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise invalid(f"Invalid tags {text!r}: expected a JSON object of strings, e.g. "
                      '{"team": "data"}')
    return tags


def _insert_pipeline(conn: sqlite3.Connection, name: str, display_name: str, description: str,
                     tags: dict[str, str], upload: bool) -> str:
    ident = new_id()
    try:
        db.insert_pipeline(conn, ident, name, display_name, description, tags)
    except sqlite3.IntegrityError as exc:
        if _is_unique_violation(exc):
            raise _duplicate_pipeline(name, upload) from None
        raise
    return ident


def _insert_version(conn: sqlite3.Connection, pipeline_id: str, name: str, display_name: str,
                    description: str, spec: ir.Spec, raw: bytes, *, tags: dict[str, str],
                    package_url: str = "", code_source_url: str = "", upload: bool) -> str:
    ident = new_id()
    try:
        db.insert_version(conn, ident, pipeline_id, name, display_name, description, tags=tags,
                          code_source_url=code_source_url, package_url=package_url,
                          spec_raw=raw, spec_json=ir.dumps(spec.wire()))
    except sqlite3.IntegrityError as exc:
        if _is_unique_violation(exc):
            raise _duplicate_version(name, upload) from None
        raise
    return ident


def _upload_file(call: Call) -> tuple[str, bytes]:
    if "uploadfile" not in call.files:
        raise invalid("Failed to read pipeline from file: http: no such file (the multipart form "
                      "field must be named 'uploadfile')", "Failed to read pipeline from file")
    return call.files["uploadfile"]


def upload_pipeline(ctx: ServerContext, call: Call) -> dict[str, Any]:
    filename, data = _upload_file(call)
    spec = ir.read_file(filename, data)
    name = call.q("name") or call.q("display_name") or filename
    display_name = call.q("display_name") or name
    if not name.strip():
        raise invalid("Failed to create a pipeline and a pipeline version: pipeline name is empty")
    description, tags = call.q("description"), _parse_tags(call.q("tags"))
    with ctx.store.write() as conn:
        ident = _insert_pipeline(conn, name, display_name, description, tags, upload=True)
        _insert_version(conn, ident, name, display_name, description, spec, data, tags=tags,
                        upload=True)
    return wire.pipeline(ctx.store.get_pipeline(ident))


def upload_pipeline_version(ctx: ServerContext, call: Call) -> dict[str, Any]:
    filename, data = _upload_file(call)
    pipeline_id = call.q("pipelineid")
    if not pipeline_id:
        raise invalid("Failed to create a pipeline version: the query parameter 'pipelineid' is "
                      "missing", "Failed to create a pipeline version")
    if ctx.store.get_pipeline(pipeline_id) is None:
        # KFP looks the pipeline's namespace up first and answers any failure there as 400
        # with its generic message (not 404): callers must ask for the pipeline to tell why.
        raise invalid(f"Failed to create a pipeline version: Failed to get namespace from "
                      f"pipeline id {pipeline_id}: ResourceNotFoundError: Pipeline "
                      f"{pipeline_id} not found", "Failed to create a pipeline version")
    spec = ir.read_file(filename, data)
    name = call.q("name") or call.q("display_name") or filename
    display_name = call.q("display_name") or name
    with ctx.store.write() as conn:
        ident = _insert_version(conn, pipeline_id, name, display_name, call.q("description"), spec,
                                data, tags=_parse_tags(call.q("tags")), upload=True)
    return wire.pipeline_version(ctx.store.get_version(ident))


def _names(body: dict[str, Any], what: str) -> tuple[str, str]:
    name = body.get("name") or body.get("display_name") or ""
    display_name = body.get("display_name") or name
    if not name.strip():
        # KFP's words (pipeline_server.go); `name` falls back to `display_name` before.
        raise invalid(f"Failed to create a {what}: Invalid input error: name is required (set "
                      "'name' or 'display_name')", "name is required")
    return name, display_name


def create_pipeline(ctx: ServerContext, call: Call) -> dict[str, Any]:
    body = wire.parse_body(call.body, "v2beta1Pipeline")
    name, display_name = _names(body, "pipeline")
    with ctx.store.write() as conn:
        ident = _insert_pipeline(conn, name, display_name, body.get("description", ""),
                                 body.get("tags", {}), upload=False)
    return wire.pipeline(ctx.store.get_pipeline(ident))


def _version_spec(body: dict[str, Any]) -> tuple[ir.Spec, bytes, str]:
    """A version's spec from `pipeline_spec` or `package_url.pipeline_url` (file:// or http)."""
    url = body.get("package_url", {}).get("pipeline_url", "")
    if "pipeline_spec" in body:
        spec = ir.from_wire(body["pipeline_spec"])
        return spec, ir.dumps(body["pipeline_spec"]).encode(), url
    if not url:
        raise invalid("Failed to create a pipeline version: Invalid input error: a pipeline "
                      "version needs pipeline_spec or package_url.pipeline_url")
    return _fetch_spec(url) + (url,)


def _fetch_spec(url: str) -> tuple[ir.Spec, bytes]:
    parsed = urlparse(url)
    try:
        if parsed.scheme in ("", "file"):
            path = Path(parsed.path if parsed.scheme else url)
            if path.stat().st_size > ir.MAX_FILE_BYTES:
                raise invalid(f"File size too large: {url} exceeds 32 MiB")
            data = path.read_bytes()
        elif parsed.scheme in ("http", "https"):
            with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 (user's own URL)
                data = resp.read(ir.MAX_FILE_BYTES + 1)
        else:
            raise invalid(f"Invalid package_url.pipeline_url {url!r}: the embedded server reads "
                          "file://, http:// and https:// URLs")
    except OSError as exc:
        raise invalid(f"Failed to read pipeline spec from {url!r}: {exc}") from None
    return ir.read_file(parsed.path or url, data), data


def create_pipeline_and_version(ctx: ServerContext, call: Call) -> dict[str, Any]:
    body = wire.parse_body(call.body, "v2beta1CreatePipelineAndVersionRequest")
    pipe, version = body.get("pipeline") or {}, body.get("pipeline_version") or {}
    name, display_name = _names(pipe, "pipeline")
    spec, raw, url = _version_spec(version)
    v_name = version.get("name") or version.get("display_name") or name
    with ctx.store.write() as conn:
        ident = _insert_pipeline(conn, name, display_name, pipe.get("description", ""),
                                 pipe.get("tags", {}), upload=False)
        _insert_version(conn, ident, v_name, version.get("display_name") or v_name,
                        version.get("description", pipe.get("description", "")), spec, raw,
                        tags=version.get("tags", {}), package_url=url,
                        code_source_url=version.get("code_source_url", ""), upload=False)
    return wire.pipeline(ctx.store.get_pipeline(ident))


def _pipeline(ctx: ServerContext, ident: str, action: str) -> Any:
    return _found(ctx.store.get_pipeline(ident), "Pipeline", ident, action)


def get_pipeline(ctx: ServerContext, call: Call) -> dict[str, Any]:
    return wire.pipeline(_pipeline(ctx, call.params["pipeline_id"], "Failed to get a pipeline"))


def get_pipeline_by_name(ctx: ServerContext, call: Call) -> dict[str, Any]:
    name = call.params["name"]
    row = ctx.store.get_pipeline_by_name(name)
    return wire.pipeline(_found(row, "Pipeline", name, "Failed to get a pipeline by name"))


def list_pipelines(ctx: ServerContext, call: Call) -> dict[str, Any]:
    return _list(ctx, call, PIPELINES, "pipelines", wire.pipeline)


def delete_pipeline(ctx: ServerContext, call: Call) -> dict[str, Any]:
    ident = call.params["pipeline_id"]
    _pipeline(ctx, ident, "Failed to delete a pipeline")
    cascade = call.q("cascade").lower() == "true"
    with ctx.store.write() as conn:
        version = db.first_version_id(conn, ident)
        if version is not None and not cascade:
            user = (f"Failed to delete pipeline with id {ident} as it has existing pipeline "
                    f"versions (e.g. {version}). Set cascade=true to delete all versions")
            raise invalid(f"Failed to delete a pipeline: {user}", user)
        db.delete_pipeline(conn, ident)
    return {}


# --- pipeline versions ------------------------------------------------------------------------

def create_pipeline_version(ctx: ServerContext, call: Call) -> dict[str, Any]:
    pipeline_id = call.params["pipeline_id"]
    body = wire.parse_body(call.body, "v2beta1PipelineVersion")
    _pipeline(ctx, pipeline_id, "Failed to create a pipeline version")
    name, display_name = _names(body, "pipeline version")
    spec, raw, url = _version_spec(body)
    with ctx.store.write() as conn:
        ident = _insert_version(conn, pipeline_id, name, display_name,
                                body.get("description", ""), spec, raw,
                                tags=body.get("tags", {}), package_url=url,
                                code_source_url=body.get("code_source_url", ""), upload=False)
    return wire.pipeline_version(ctx.store.get_version(ident))


def _version(ctx: ServerContext, pipeline_id: str, ident: str, action: str) -> Any:
    row = ctx.store.get_version(ident)
    if row is None or row["pipeline_id"] != pipeline_id:
        raise not_found("PipelineVersion", ident, action)
    return row


def get_pipeline_version(ctx: ServerContext, call: Call) -> dict[str, Any]:
    return wire.pipeline_version(_version(ctx, call.params["pipeline_id"],
                                          call.params["pipeline_version_id"],
                                          "Failed to get a pipeline version"))


def list_pipeline_versions(ctx: ServerContext, call: Call) -> dict[str, Any]:
    return _list(ctx, call, VERSIONS, "pipeline_versions", wire.pipeline_version,
                 "pipeline_id = ?", [call.params["pipeline_id"]])


def delete_pipeline_version(ctx: ServerContext, call: Call) -> dict[str, Any]:
    row = _version(ctx, call.params["pipeline_id"], call.params["pipeline_version_id"],
                   "Failed to delete a pipeline version")
    with ctx.store.write() as conn:
        db.delete_version(conn, row["id"])
    return {}


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
