"""The field names reconcile keeps written out are the models' own, in order."""

from dh_kfp_pulumi.reconcile import spec_fields
from dh_kfp_pulumi.specs import TaskSpec, WorkflowSpec
from dh_kfp_pulumi.specs.pod import POD_FIELDS, PodSettings


def test_workflow_fields_are_the_models():
    assert tuple(WorkflowSpec.model_fields) == spec_fields.WORKFLOW_FIELDS


def test_task_fields_are_the_models():
    assert tuple(TaskSpec.model_fields) == spec_fields.TASK_FIELDS


def test_pod_fields_are_the_models():
    assert spec_fields.POD_FIELDS == tuple(PodSettings.model_fields) == POD_FIELDS
