"""Validated specs of the seed's objects: Function, Workflow, Task (with pod settings), Run.

Every parse_* raises `dh_kfp_pulumi.errors.SpecError` whose problems name the field
(`volumes[1].volume_type`), the bad value and what is valid.
"""

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
