"""A task's props and its offline plan: its inputs and outputs, what a change of them
does (`plan`) and what an apply will give before it runs (`planned_outputs`, for engines
that hold the provider to a plan). No network; `task` re-exports all of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dh_kfp_pulumi.naming import pipeline_name
from dh_kfp_pulumi.reconcile.common import UNKNOWN, Fields, Plan, is_unknown, short_hash
from dh_kfp_pulumi.reconcile.spec_fields import POD_FIELDS, TASK_FIELDS

KIND = "task"
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
    "owner",
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
FIELDS = Fields(INPUTS, OUTPUTS, DEFAULTS, REPLACES)


def has_pod_settings(props: Mapping[str, Any]) -> bool:
    """True when any pod setting is given (then the task builds its own version)."""
    return any(props.get(k) not in (None, [], {}) for k in POD_FIELDS)



def plan(olds: Mapping[str, Any], news: Mapping[str, Any]) -> Plan:
    """Never a replacement: a new schedule, inputs or version is moved inside update.

    Retired recurring runs a `read` found ready for clean-up (their runs have ended) are
    a change too (`cleanup_recurring_run_ids`): the update deletes them.
    """
    out = FIELDS.plan(olds, news)
    if olds.get("cleanup_recurring_run_ids"):
        return Plan([*out.changes, "cleanup_recurring_run_ids"], out.replaces)
    return out


# Inputs that make a new recurring run when they change (the rest toggle or are cosmetic).
MOVING = ("pipeline_id", "schedule", "inputs", "max_concurrency", "catchup", "start_time",
          "end_time", "adopt")  # fmt: skip


def planned_outputs(olds: Mapping[str, Any] | None, news: Mapping[str, Any]) -> dict[str, Any]:
    """The outputs an apply of `news` will give, as far as they are known before it runs.

    See `workflow.planned_outputs`. The recurring run is promised to stay only when
    nothing but `enabled` (or a cosmetic field) changes and the version stays: then a
    Run or anything else using `version_id` is not planned to change.
    """
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


