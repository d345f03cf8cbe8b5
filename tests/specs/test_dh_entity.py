"""DigitalHub entity JSON (fixtures from the reference runtime) mapped to our specs."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from dh_kfp_pulumi.errors import SpecError
from dh_kfp_pulumi.specs import RunSpec, TaskSpec, WorkflowSpec, from_entity, ignored_warning

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_workflow_entity():
    entity = load("workflow-kfp.json")
    spec, ignored = from_entity(entity)
    assert isinstance(spec, WorkflowSpec)
    assert (spec.project, spec.name, spec.kind) == ("demo-etl", "workflow1", "kfp")
    assert spec.embedded is False  # metadata.embedded
    assert spec.base64 == entity["spec"]["source"]["base64"]
    assert spec.code_src is None and spec.source_origin == "main.py"  # text inline, file named
    assert (spec.handler, spec.lang, spec.image, spec.tag) == (
        "pipeline",
        "python",
        "debian",
        "1.22.4",
    )
    assert spec.image_ref() == "debian:1.22.4"
    assert "def pipeline(url)" in base64.b64decode(spec.base64).decode()
    assert ignored == sorted(ignored)
    for platform_only in ("id", "key", "status", "user", "metadata.version", "metadata.created"):
        assert platform_only in ignored
    for mapped in ("project", "name", "kind", "spec.image", "spec.source", "metadata.embedded"):
        assert mapped not in ignored


SEED_TASK_FIELDS_TO_THE_IR = (
    "node_selector",
    "volumes",
    "resources",
    "affinity",
    "tolerations",
    "envs",
    "secrets",
    "profile",
    "schedule",
    "run_as_user",
)
SEED_TASK_FIELDS_REFUSED = ("priority_class", "runtime_class")
SEED_TASK_IGNORED = [
    "id",
    "key",
    "metadata.created",
    "metadata.created_by",
    "metadata.name",
    "metadata.project",
    "metadata.updated",
    "metadata.updated_by",
    "name",
    "project",
    "spec.workflow",
    "status",
    "user",
]


def test_every_seed_task_field_is_mapped_refused_or_ignored():
    """The seed fixture's spec, field by field: nothing falls between the three lists."""
    spec = load("task-kfp-pipeline.json")["spec"]
    assert set(spec) == {
        *SEED_TASK_FIELDS_TO_THE_IR,
        *SEED_TASK_FIELDS_REFUSED,
        *(p.removeprefix("spec.") for p in SEED_TASK_IGNORED if p.startswith("spec.")),
    }


def test_seed_task_entity_is_refused_naming_what_kfp_cannot_express():
    with pytest.raises(SpecError) as exc:
        from_entity(load("task-kfp-pipeline.json"))
    assert exc.value.subject == "task entity"
    found = {p.path: p for p in exc.value.problems}
    assert set(found) == {"spec.priority_class", "spec.runtime_class"}
    for path, what in (("spec.priority_class", "priority"), ("spec.runtime_class", "runtime")):
        assert found[path].value == "test"
        assert f"KFP cannot express a pod's {what} class" in found[path].message
        assert "mutating admission policy" in found[path].message
    assert "PriorityClass with globalDefault: true" in found["spec.priority_class"].message


def test_seed_task_entity_without_the_refused_fields_maps_every_other_field():
    entity = load("task-kfp-pipeline.json")
    for field in SEED_TASK_FIELDS_REFUSED:
        del entity["spec"][field]
    spec, ignored = from_entity(entity)
    assert isinstance(spec, TaskSpec)
    assert spec.action == "pipeline"
    assert spec.schedule == "5 4 * * *" and spec.kfp_cron() == "0 5 4 * * *"
    assert spec.profile == "1xa100"
    assert spec.secrets == ["secret-key"]
    assert spec.run_as_user == 1000 and spec.run_as_group is None
    dumped = spec.model_dump(mode="json")
    for field in ("node_selector", "volumes", "resources", "affinity", "tolerations", "envs"):
        assert dumped[field] is not None, field
    assert len(dumped["volumes"]) == 2 and len(dumped["node_selector"]) == 1
    assert ignored == SEED_TASK_IGNORED  # every field, sorted; "metadata" itself is not one
    warning = ignored_warning(ignored, "task entity task-kfp-pipeline.json")
    assert warning.startswith("task entity task-kfp-pipeline.json: 13 field(s) not carried over")
    assert warning.endswith(": " + ", ".join(SEED_TASK_IGNORED))


def test_no_ignored_fields_no_warning():
    assert ignored_warning([], "task entity") is None


def test_entity_run_as_user_is_checked_at_its_entity_path():
    entity = load("task-kfp-pipeline.json")
    for field in SEED_TASK_FIELDS_REFUSED:
        del entity["spec"][field]
    entity["spec"]["run_as_user"] = "1000"
    with pytest.raises(SpecError) as exc:
        from_entity(entity)
    (problem,) = exc.value.problems
    assert (problem.path, problem.value) == ("spec.run_as_user", "1000")
    assert "whole number from 0 to 2147483647" in problem.message


def test_run_entity():
    spec, ignored = from_entity(load("run-kfp-pipeline.json"))
    assert isinstance(spec, RunSpec)
    assert spec.inputs == {
        "di": "store://demo-etl/dataitem/dataitem/dataitem1:fd83dqa7vnh-73e45-m3pqawew"
    }
    # the run repeats its task's settings and its workflow's source: read those from their entities
    for elsewhere in (
        "spec.task",
        "spec.workflow",
        "spec.source",
        "spec.parameters",
        "spec.local_execution",
        "spec.profile",
    ):
        assert elsewhere in ignored
    assert "spec.inputs" not in ignored


def test_workflow_entity_with_source_only_becomes_code_src():
    entity = load("workflow-kfp.json")
    del entity["spec"]["source"]["base64"]
    spec, _ = from_entity(entity)
    assert spec.code_src == "main.py" and spec.source_origin is None


def test_entity_errors_use_entity_paths():
    entity = load("task-kfp-pipeline.json")
    entity["spec"]["schedule"] = "0 4 L * *"
    entity["spec"]["volumes"][1] = "nope"
    with pytest.raises(SpecError) as exc:
        from_entity(entity)
    paths = {p.path for p in exc.value.problems}
    assert {"spec.schedule", "spec.volumes[1]"} <= paths
    workflow = load("workflow-kfp.json")
    workflow["spec"]["source"]["lang"] = "R"
    del workflow["project"], workflow["metadata"]["project"]
    with pytest.raises(SpecError) as exc:
        from_entity(workflow)
    found = {p.path: str(p) for p in exc.value.problems}
    assert "must be 'python'" in found["spec.source.lang"] and "'R'" in found["spec.source.lang"]
    assert found["project"] == "project: required"


def test_unknown_entity_kind():
    with pytest.raises(SpecError) as exc:
        from_entity({"kind": "python+job"})
    msg = str(exc.value)
    assert "'kfp', 'kfp+pipeline', 'kfp+pipeline:run'" in msg and "'python+job'" in msg
