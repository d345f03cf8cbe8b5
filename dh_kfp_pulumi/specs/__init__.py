"""Validated specs of the seed's objects: Function, Workflow, Task (with pod settings), Run.

Every parse_* raises `dh_kfp_pulumi.errors.SpecError` whose problems name the field
(`volumes[1].volume_type`), the bad value and what is valid.

The models are built when first asked for (`__getattr__`): a module that needs only a
light part (`specs.schedule`'s cron, a field check) does not pay for pydantic and the
models' class building (~0.1 s), which a Terraform plugin process answering from
remembered checks never needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dh_kfp_pulumi.lazy import names_from

if TYPE_CHECKING:
    from dh_kfp_pulumi.specs.dh_entity import ENTITY_KINDS, from_entity, ignored_warning
    from dh_kfp_pulumi.specs.entities import (
        CODE_FIELDS,
        EnvVar,
        FunctionSpec,
        RunSpec,
        TaskSpec,
        WorkflowSpec,
        parse_function,
        parse_run,
        parse_task,
        parse_workflow,
    )
    from dh_kfp_pulumi.specs.fields import parse_handler
    from dh_kfp_pulumi.specs.pod import PodSettings
    from dh_kfp_pulumi.specs.schedule import check_schedule, kfp_cron
    from dh_kfp_pulumi.specs.validation import parse_model, problems_from

_HOMES = {
    "ENTITY_KINDS": ".dh_entity",
    "from_entity": ".dh_entity",
    "ignored_warning": ".dh_entity",
    "CODE_FIELDS": ".entities",
    "EnvVar": ".entities",
    "FunctionSpec": ".entities",
    "RunSpec": ".entities",
    "TaskSpec": ".entities",
    "WorkflowSpec": ".entities",
    "parse_function": ".entities",
    "parse_run": ".entities",
    "parse_task": ".entities",
    "parse_workflow": ".entities",
    "parse_handler": ".fields",
    "PodSettings": ".pod",
    "check_schedule": ".schedule",
    "kfp_cron": ".schedule",
    "parse_model": ".validation",
    "problems_from": ".validation",
}

__all__ = [
    "CODE_FIELDS",
    "ENTITY_KINDS",
    "EnvVar",
    "FunctionSpec",
    "PodSettings",
    "RunSpec",
    "TaskSpec",
    "WorkflowSpec",
    "check_schedule",
    "from_entity",
    "ignored_warning",
    "kfp_cron",
    "parse_function",
    "parse_handler",
    "parse_model",
    "parse_run",
    "parse_task",
    "parse_workflow",
    "problems_from",
]


__getattr__ = names_from(__name__, _HOMES, globals())
