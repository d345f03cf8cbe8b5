"""Conversions between KFP's API models and ours, and KFP's filter and error formats."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from dh_kfp_pulumi.backends.models import Pipeline, PipelineVersion, RecurringRun, Run

_EQUALS = 1  # kfp.client.client._FILTER_OPERATIONS["EQUALS"], as kfp.Client sends it


def name_filter(name: str) -> str:
    return equals_filter("display_name", name)


def equals_filter(key: str, value: str) -> str:
    return json.dumps({"predicates": [{"operation": _EQUALS, "key": key, "stringValue": value}]})


def safe_file_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) or "pipeline"


def kfp_message(body: Any) -> str:
    """KFP's user-facing message from an error body (details[0].message, error_message...)."""
    if body is None:
        return ""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    text = str(body).strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:500]
    if not isinstance(data, dict):
        return text[:500]
    for detail in data.get("details") or []:
        if isinstance(detail, dict) and detail.get("message"):
            return str(detail["message"])
    for key in ("error_message", "message", "error"):
        if data.get(key):
            return str(data[key])
    return text[:500]


def iso(value: Any) -> str:
    """An RFC 3339 UTC string ('2026-01-02T03:04:05Z'); '' for unset (None or 1970-01-01)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        text = value
    elif isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        text = value.strftime("%Y-%m-%dT%H:%M:%S")
        if value.microsecond:
            text += f".{value.microsecond:06d}".rstrip("0")
        text += "Z"
    else:
        text = str(value)
    return "" if text.startswith("1970-01-01T00:00:00") else text


def pipeline(p: Any) -> Pipeline:
    return Pipeline(
        id=p.pipeline_id or "",
        name=p.name or p.display_name or "",
        display_name=p.display_name or p.name or "",
        description=p.description or "",
        created_at=iso(p.created_at),
    )


def version(v: Any, with_spec: bool = False) -> PipelineVersion:
    return PipelineVersion(
        id=v.pipeline_version_id or "",
        pipeline_id=v.pipeline_id or "",
        name=v.name or v.display_name or "",
        display_name=v.display_name or v.name or "",
        description=v.description or "",
        created_at=iso(v.created_at),
        spec=v.pipeline_spec if with_spec else None,
    )


def _reference(obj: Any) -> tuple[str, str]:
    ref = obj.pipeline_version_reference
    if ref is not None:
        return ref.pipeline_id or "", ref.pipeline_version_id or ""
    return "", obj.pipeline_version_id or ""


def _parameters(obj: Any) -> dict[str, Any]:
    config = obj.runtime_config
    return dict(config.parameters or {}) if config is not None else {}


def run(r: Any) -> Run:
    pipeline_id, version_id = _reference(r)
    failed: list[tuple[str, str]] = []
    details = r.run_details
    tasks = (details.task_details if details is not None else None) or []
    parents = {t.parent_task_id for t in tasks if t.parent_task_id}
    steps: list[tuple[str, str]] = []
    for task in tasks:
        if task.child_tasks or task.task_id in parents:
            continue  # a DAG (root or sub-DAG): its steps tell
        steps.append((task.display_name or task.task_id or "?", task.state or ""))
        if task.state != "FAILED":
            continue
        message = task.error.message if task.error is not None else ""
        failed.append((task.display_name or task.task_id or "?", message or ""))
    error = r.error.message if r.error is not None and r.error.message else ""
    return Run(
        id=r.run_id or "",
        name=r.display_name or "",
        description=r.description or "",
        experiment_id=r.experiment_id or "",
        state=r.state or "RUNTIME_STATE_UNSPECIFIED",
        created_at=iso(r.created_at),
        finished_at=iso(r.finished_at),
        pipeline_id=pipeline_id,
        version_id=version_id,
        parameters=_parameters(r),
        recurring_run_id=r.recurring_run_id or "",
        error=error,
        failed_steps=tuple(failed),
        steps=tuple(steps),
    )


def recurring_run(r: Any) -> RecurringRun:
    pipeline_id, version_id = _reference(r)
    trigger = r.trigger
    cron_schedule = trigger.cron_schedule if trigger is not None else None
    periodic = trigger.periodic_schedule if trigger is not None else None
    window = cron_schedule or periodic
    return RecurringRun(
        id=r.recurring_run_id or "",
        name=r.display_name or "",
        description=r.description or "",
        experiment_id=r.experiment_id or "",
        pipeline_id=pipeline_id,
        version_id=version_id,
        parameters=_parameters(r),
        cron=(cron_schedule.cron or "") if cron_schedule is not None else "",
        interval_second=int(periodic.interval_second or 0) if periodic is not None else 0,
        start_time=iso(window.start_time) if window is not None else "",
        end_time=iso(window.end_time) if window is not None else "",
        max_concurrency=int(r.max_concurrency or 1),
        no_catchup=bool(r.no_catchup),
        mode=r.mode or ("ENABLE" if r.status == "ENABLED" else "DISABLE"),
        status=r.status or "",
        created_at=iso(r.created_at),
        updated_at=iso(r.updated_at),
    )


# ---- our requests as KFP's models ---------------------------------------------------


@dataclass(frozen=True)
class RunFields:
    """What a run and a recurring run are made of alike: where, what, with which inputs."""

    experiment_id: str
    name: str
    description: str
    pipeline_id: str
    version_id: str
    parameters: Mapping[str, Any]
    pipeline_root: str


def _run_fields(what: RunFields) -> dict[str, Any]:
    import kfp_server_api

    return {
        "experiment_id": what.experiment_id,
        "display_name": what.name,
        "description": what.description or None,
        "pipeline_version_reference": kfp_server_api.V2beta1PipelineVersionReference(
            pipeline_id=what.pipeline_id, pipeline_version_id=what.version_id
        ),
        "runtime_config": kfp_server_api.V2beta1RuntimeConfig(
            parameters=dict(what.parameters), pipeline_root=what.pipeline_root or None
        ),
    }


def pipeline_body(display_name: str, description: str, namespace: str) -> Any:
    import kfp_server_api

    return kfp_server_api.V2beta1Pipeline(
        name=display_name,
        display_name=display_name,
        description=description or None,
        namespace=namespace or None,
    )


def experiment_body(name: str, description: str, namespace: str) -> Any:
    import kfp_server_api

    return kfp_server_api.V2beta1Experiment(
        display_name=name, description=description or None, namespace=namespace or None
    )


def run_body(what: RunFields) -> Any:
    import kfp_server_api

    return kfp_server_api.V2beta1Run(**_run_fields(what))


def recurring_run_body(
    what: RunFields,
    *,
    cron: str,
    start_time: str | None,
    end_time: str | None,
    enabled: bool,
    max_concurrency: int,
    no_catchup: bool,
) -> Any:
    """A cron recurring run (`cron` in KFP's seconds-first form)."""
    import kfp_server_api

    return kfp_server_api.V2beta1RecurringRun(
        **_run_fields(what),
        max_concurrency=max_concurrency,
        trigger=kfp_server_api.V2beta1Trigger(
            cron_schedule=kfp_server_api.V2beta1CronSchedule(
                cron=cron, start_time=start_time, end_time=end_time
            )
        ),
        mode="ENABLE" if enabled else "DISABLE",
        no_catchup=no_catchup or None,
    )
