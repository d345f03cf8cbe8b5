"""The field names of the spec models, written out.

A plan, a read and the props of a kind need only these names, not the models: written
here, they keep pydantic (and the models' 0.1 s of class building) out of processes that
never check, such as Terraform's plugin answering a plan from remembered checks
(`terraform/checks.py`). tests/reconcile/test_spec_fields.py holds them equal to the
models' fields, in order.
"""

from __future__ import annotations

# specs.WorkflowSpec.model_fields
WORKFLOW_FIELDS: tuple[str, ...] = (
    "project", "name", "uuid", "description", "labels", "embedded", "code_src", "code",
    "base64", "source_origin", "handler", "lang", "image", "tag", "kind",
)  # fmt: skip

# specs.pod.PodSettings.model_fields (specs.pod.POD_FIELDS)
POD_FIELDS: tuple[str, ...] = (
    "node_selector", "volumes", "resources", "affinity", "tolerations", "envs", "secrets",
    "profile", "caching", "run_as_user", "run_as_group",
)  # fmt: skip

# specs.TaskSpec.model_fields: the pod settings, then the task's own
TASK_FIELDS: tuple[str, ...] = (
    *POD_FIELDS,
    "action", "schedule", "enabled", "max_concurrency", "catchup", "start_time", "end_time",
)  # fmt: skip
