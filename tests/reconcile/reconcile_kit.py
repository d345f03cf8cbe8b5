"""Props of a small workflow, task and run, shared by the reconcile tests."""

from __future__ import annotations

import copy
from typing import Any

from kfp_kit import ADDER, PIPELINE

FAILING = """\
def add(x, word):
    raise RuntimeError(f"cannot add {word}")
"""


def workflow_props(
    project: str = "demo", name: str = "wf", code: str = ADDER, **extra: Any
) -> dict[str, Any]:
    props: dict[str, Any] = {
        "project": project,
        "name": name,
        "kind": "kfp",
        "code": PIPELINE,
        "handler": "pipe",
        "functions": [
            {"name": "adder", "kind": "python", "code": code, "handler": "add"},
        ],
    }
    props.update(extra)
    return props


def task_props(workflow: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A task: `pipeline_id`/`workflow_version_id` are filled from a workflow's outputs."""
    props: dict[str, Any] = {
        "project": (workflow or {}).get("project", "demo"),
        "name": "nightly",
        "action": "pipeline",
        "pipeline_id": (workflow or {}).get("pipeline_id", "p-1"),
        "workflow_version_id": (workflow or {}).get("version_id", "v-1"),
        "schedule": "5 4 * * *",
        "inputs": {"x": 2},
    }
    props.update(extra)
    return props


def with_settings(
    props: dict[str, Any], workflow: dict[str, Any], **settings: Any
) -> dict[str, Any]:
    """A task with pod settings: it carries the workflow's props to build its own version."""
    out = copy.deepcopy(props)
    out["workflow_spec"] = {k: v for k, v in workflow.items() if k in WORKFLOW_INPUT_KEYS}
    out.update(settings or {"node_selector": [{"key": "disk", "value": "ssd"}]})
    return out


WORKFLOW_INPUT_KEYS = (
    "project", "name", "kind", "code", "handler", "functions", "image", "tag", "labels",
    "description", "embedded",
)  # fmt: skip


def run_props(source: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "project": (source or {}).get("project", "demo"),
        "name": "once",
        "pipeline_id": (source or {}).get("pipeline_id", "p-1"),
        "version_id": (source or {}).get("version_id", "v-1"),
        "inputs": {"x": 5},
    }
    props.update(extra)
    return props

