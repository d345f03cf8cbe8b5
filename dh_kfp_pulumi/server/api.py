"""The KFP v2beta1 operations: validation, storage and KFP's answers, one function per RPC.

Here: the handlers' shared parts, experiments, pipelines and their versions; runs and
recurring runs are `api_runs`.

Each handler takes the server context and a `Call` (path parameters, query, raw body) and
returns the JSON to send, or raises `ApiError`. Messages follow the real server's wording
where kfp.Client users are likely to read them (API-NOTES §5).
"""

from __future__ import annotations

import json
import sqlite3
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from dh_kfp_pulumi.server import filters, ir, wire
from dh_kfp_pulumi.server import store as db
from dh_kfp_pulumi.server.store import new_id
from dh_kfp_pulumi.server.wire import (
    ABORTED,
    ALREADY_EXISTS,
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
