"""The provider's schemas: the provider block, `dhkfp_workflow`, `dhkfp_task`, `dhkfp_run` and
the `dhkfp_pipeline` data source.

Attribute names are reconcile's prop names (one vocabulary for both engines, and the
paths of check problems point at attributes as they are), except the workflow's
functions, written as repeated `function { ... }` blocks. Every optional input is also
computed: when it is left out, the plan keeps what is deployed if that equals the
default (so a value filled in by a refresh or an import is no change), else plans the
default. Outputs are computed only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tf import types as t
from tf.schema import Attribute, Block, Schema

from dh_kfp_pulumi.terraform.wire import Dynamic, ListBlock, Typed

STR, NUM, BOOL, ANY = t.String(), t.Number(), t.Bool(), Dynamic()
STRS = t.List(t.String())
ENVS = Typed(["list", ["object", {"name": "string", "value": "string"}]])


def _in(name: str, type: Any, description: str, *, required: bool = False, **kw: Any) -> Attribute:
    if required:
        return Attribute(name, type, description=description, required=True, **kw)
    return Attribute(name, type, description=description, optional=True, computed=True, **kw)


def _out(name: str, type: Any, description: str) -> Attribute:
    return Attribute(name, type, description=description, computed=True)


def _plain(name: str, type: Any, description: str, *, required: bool = False) -> Attribute:
    """An attribute inside a nested block (blocks cannot be computed)."""
    if required:
        return Attribute(name, type, description=description, required=True)
    return Attribute(name, type, description=description, optional=True)


@dataclass(frozen=True)
class KindSchema:
    """A resource type's schema and how its attributes map to reconcile props."""

    kind: str  # reconcile.KINDS key
    schema: Schema
    blocks: dict[str, str]  # props key -> block type name
    json_attrs: tuple[str, ...] = ()  # attributes holding JSON text of a props value

    @property
    def inputs(self) -> list[str]:
        return [a.name for a in self.schema.attributes if a.optional or a.required]

    @property
    def outputs(self) -> list[str]:
        return [a.name for a in self.schema.attributes if not (a.optional or a.required)]

    @property
    def roots(self) -> dict[str, str]:
        """props key -> attribute or block name, for diagnostics' paths."""
        out = {name: name for name in self.inputs}
        out.update(self.blocks)
        return out


# ---- provider ----------------------------------------------------------------------------

PROVIDER = Schema(
    attributes=[
        Attribute(n, ty, description=d, optional=True, sensitive=n == "token")
        for n, ty, d in (
            ("host", STR, "KFP API URL (http:// or https://); unset: the embedded server"),
            ("namespace", STR, "the KFP namespace (multi-user KFP)"),
            ("experiment", STR, "experiment of runs and schedules (default: the project name)"),
            ("token", STR, "bearer token for KFP; sensitive, never stored in state"),
            ("verify_ssl", BOOL, "verify the KFP host's TLS certificate (default true)"),
            ("pipeline_root", STR, "pipeline root for run outputs"),
            ("data_dir", STR, "the embedded server's data directory (host unset)"),
            ("image", STR, "default step image; changes every build (and its hash)"),
            ("profiles", ANY, "named pod settings a task picks with `profile`"),
            ("image_pull_secrets", STRS, "image pull secrets of every step pod"),
            ("request_timeout", NUM, "seconds per KFP request (default 60)"),
            ("destroy_wait_timeout", NUM, "seconds a destroy waits for the runs of its "
             "recurring runs to end before failing (default 3600)"),
            ("on_destroy_active_runs", STR, "'wait' (default) or 'cancel': what a destroy "
             "does with runs its recurring runs still have going"),
            ("stack", STR, "whose KFP objects these are: every object made carries the owner "
             "mark terraform/<stack> (default 'default'; e.g. terraform.workspace)"),
        )
    ]
)

# ---- dhkfp_workflow ----------------------------------------------------------------------

_SOURCE = (
    ("code_src", "path of the source (relative to the working directory; use path.module "
     "in a module), http(s)://, s3://, zip+s3:// or zip+https://; read at each plan"),
    ("code", "the source text (e.g. file(...))"),
    ("base64", "the source, base64-encoded"),
    ("handler", "the function to run: 'function' or 'module:function'"),
)  # fmt: skip

FUNCTION = ListBlock(
    "function",
    Block(
        attributes=[
            _plain("name", STR, "the name steps call it by", required=True),
            _plain("kind", STR, "'python' or 'container'", required=True),
            _plain("description", STR, "free text"),
            _plain("labels", STRS, "pod labels of its steps ('key=value' or 'key')"),
            *(_plain(n, STR, d) for n, d in _SOURCE),
            _plain("lang", STR, "'python'"),
            _plain("image", STR, "the step image (required for 'container')"),
            _plain("tag", STR, "the image tag"),
            _plain("requirements", STRS, "pip requirements of a python step"),
            _plain("command", STRS, "container command"),
            _plain("args", STRS, "container arguments"),
            _plain("envs", ENVS, "container environment: [{ name = ..., value = ... }]"),
        ]
    ),
)

WORKFLOW = KindSchema(
    kind="workflow",
    blocks={"functions": "function"},
    schema=Schema(
        attributes=[
            _in("project", STR, "project name; the pipeline is `<project>-<name>`", required=True),
            _in("name", STR, "workflow name", required=True),
            _in("kind", STR, "'kfp'", required=True),
            *(_in(n, STR, d) for n, d in _SOURCE),
            _in("image", STR, "default image of the steps"),
            _in("tag", STR, "tag of that image"),
            _in("labels", STRS, "pod labels of every step ('key=value' or 'key')"),
            _in("description", STR, "the pipeline's description"),
            _in("embedded", BOOL, "DigitalHub's embedded flag (the IR is not kept in state)"),
            _in("lang", STR, "'python'"),
            _in("uuid", STR, "a UUID4 of the workflow (DigitalHub)"),
            _in("adopt", STR, "an existing pipeline (id or name) to take over on create"),
            _out("id", STR, "the pipeline id"),
            _out("spec_hash", STR, "sha256 of the compiled spec"),
            _out("pipeline_id", STR, "the KFP pipeline id"),
            _out("pipeline_name", STR, "the pipeline's display name"),
            _out("version_id", STR, "the pipeline version of this spec"),
            _out("version_name", STR, "its name: the first 16 hex chars of spec_hash"),
            _out("url", STR, "the version's page in the KFP UI"),
            _out("workflow_spec", STR, "JSON of the workflow for a dhkfp_task with pod settings"),
        ],
        block_types=[FUNCTION],
    ),
)

# ---- dhkfp_task --------------------------------------------------------------------------

_POD = (
    ("node_selector", ANY, "[{ key = ..., value = ... }]"),
    ("volumes", ANY, "[{ name, volume_type, mount_path, spec }]"),
    ("resources", ANY, "{ cpu = { requests, limits }, mem = ..., gpu = ..., gpu_type }"),
    ("affinity", ANY, "a Kubernetes affinity (camelCase fields)"),
    ("tolerations", ANY, "Kubernetes tolerations (camelCase fields)"),
    ("envs", ANY, "[{ name = ..., value = ... }]"),
    ("secrets", STRS, "Kubernetes secrets to expose to the steps"),
    ("profile", STR, "a profile of the provider's `profiles`"),
    ("caching", BOOL, "KFP step caching"),
    ("run_as_user", NUM, "the user id (0..2147483647) the steps' containers run as"),
    ("run_as_group", NUM, "the group id (0..2147483647) the steps' containers run as"),
    # seed fields KFP cannot express: accepted by the schema so that check refuses them by
    # name with what to do instead (not Terraform's bare "unexpected argument")
    ("priority_class", STR, "refused: KFP cannot set a pod's priority class (see the error)"),
    ("runtime_class", STR, "refused: KFP cannot set a pod's runtime class (see the error)"),
)

TASK = KindSchema(
    kind="task",
    blocks={},
    json_attrs=("workflow_spec",),
    schema=Schema(
        attributes=[
            _in("project", STR, "project name", required=True),
            _in("name", STR, "task name; the recurring run is `<project>-<name>`", required=True),
            _in("pipeline_id", STR, "the workflow's pipeline_id", required=True),
            _in("workflow_version_id", STR, "the workflow's version_id (run without pod settings)"),
            _in("workflow_spec", STR, "the workflow's workflow_spec (needed with pod settings)"),
            _in("action", STR, "'pipeline'"),
            *(_in(n, ty, d) for n, ty, d in _POD),
            _in("schedule", STR, "cron ('5 4 * * *'; KFP's 6-field form too) or @every/@daily"),
            _in("enabled", BOOL, "the schedule fires (default true)"),
            _in("max_concurrency", NUM, "runs at once, 1..10 (default 1)"),
            _in("catchup", BOOL, "run missed intervals (default true)"),
            _in("start_time", STR, "RFC 3339 start of the schedule"),
            _in("end_time", STR, "RFC 3339 end of the schedule"),
            _in("inputs", ANY, "pipeline parameters of the scheduled runs"),
            _in("adopt", STR, "an existing recurring run (id or name) to take over on create"),
            _out("id", STR, "the task's id"),
            _out("spec_hash", STR, "hash of the task's own build ('' without pod settings)"),
            _out("version_id", STR, "the pipeline version the task runs"),
            _out("version_name", STR, "its name when the task built it"),
            _out("own_version", BOOL, "the task built its own version (pod settings)"),
            _out("recurring_run_id", STR, "the KFP recurring run ('' without schedule)"),
            _out("recurring_run_name", STR, "its display name"),
            _out("cron", STR, "the cron as sent to KFP (seconds first)"),
            _out("experiment_id", STR, "the experiment of the recurring run"),
            _out("url", STR, "the recurring run's page in the KFP UI"),
            _out("retired_recurring_run_ids", STRS, "old schedules waiting for their runs"),
            _out("cleanup_recurring_run_ids", STRS, "old schedules whose runs have ended "
                 "(found by a refresh): the next apply deletes them"),
        ]
    ),
)

# ---- dhkfp_run ---------------------------------------------------------------------------

RUN = KindSchema(
    kind="run",
    blocks={},
    schema=Schema(
        attributes=[
            _in("project", STR, "project name", required=True),
            _in("name", STR, "run name; displayed as `<project>-<name>`", required=True),
            _in("pipeline_id", STR, "a workflow's pipeline_id", required=True),
            _in("version_id", STR, "a workflow's or task's version_id", required=True),
            _in("inputs", ANY, "pipeline parameters"),
            _in("wait", BOOL, "wait for a terminal state; fail on FAILED (default false)"),
            _in("wait_timeout", NUM, "seconds to wait (default 3600)"),
            _in("delete_on_destroy", BOOL, "delete the run on destroy (default: kept)"),
            _in("adopt", STR, "an existing run id to take over on create"),
            _out("id", STR, "the run id"),
            _out("run_id", STR, "the KFP run id"),
            _out("run_name", STR, "its display name"),
            _out("state", STR, "SUCCEEDED, FAILED, RUNNING, ... (as last read)"),
            _out("created_at", STR, "RFC 3339"),
            _out("finished_at", STR, "RFC 3339; '' while running"),
            _out("url", STR, "the run's page in the KFP UI"),
            _out("experiment_id", STR, "the run's experiment"),
            _out("error", STR, "why it failed ('' otherwise)"),
        ]
    ),
)

RESOURCES = {"dhkfp_workflow": WORKFLOW, "dhkfp_task": TASK, "dhkfp_run": RUN}

# ---- data source dhkfp_pipeline ----------------------------------------------------------

PIPELINE = Schema(
    attributes=[
        Attribute("name", STR, description="a pipeline's display name or id", required=True),
        *(
            _out(n, ty, d)
            for n, ty, d in (
                ("id", STR, "the pipeline id"),
                ("pipeline_id", STR, "the pipeline id"),
                ("pipeline_name", STR, "its display name"),
                ("project", STR, "its project (pipelines made by dh-kfp; else '')"),
                ("workflow", STR, "its workflow name (pipelines made by dh-kfp; else '')"),
                ("version_id", STR, "its newest version"),
                ("version_name", STR, "that version's name"),
                ("spec_hash", STR, "that version's spec hash (made by dh-kfp; else '')"),
                ("url", STR, "that version's page in the KFP UI"),
            )
        ),
    ]
)
