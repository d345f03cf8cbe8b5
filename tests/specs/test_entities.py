"""Function, Workflow, Task and Run specs: the seed's rules, and errors that name field and value."""

from __future__ import annotations

import pytest

from dh_kfp_pulumi.errors import SpecError
from dh_kfp_pulumi.specs import (
    FunctionSpec,
    PodSettings,
    RunSpec,
    TaskSpec,
    WorkflowSpec,
    parse_function,
    parse_run,
    parse_task,
    parse_workflow,
)

UUID4 = "77fcf9d1-3fb6-4117-9cba-e500f1223e59"
WORKFLOW = {"name": "workflow", "kind": "kfp", "code_src": "pipeline.py", "handler": "myhandler"}
PY_FUNCTION = {
    "name": "downloader-funct",
    "kind": "python",
    "code_src": "src/download.py",
    "handler": "download",
}


def problems(exc: pytest.ExceptionInfo[SpecError]) -> dict[str, str]:
    return {p.path: str(p) for p in exc.value.problems}


def test_seed_workflow_in_both_forms():
    from_project = parse_workflow(WORKFLOW, project="parking")
    from_library = parse_workflow({**WORKFLOW, "project": "parking"})
    assert from_project == from_library
    assert from_project.project == "parking"
    assert from_project.embedded is True
    assert from_project.labels == []


def test_every_seed_workflow_field_is_accepted_and_round_trips_as_json():
    data = {
        **WORKFLOW,
        "project": "parking",
        "uuid": UUID4,
        "description": "nightly parking import",
        "labels": ["team=data", "nightly"],
        "embedded": False,
        "lang": "python",
        "image": "python",
        "tag": "3.11-slim",
    }
    spec = parse_workflow(data)
    dumped = spec.model_dump(mode="json")
    assert WorkflowSpec.model_validate(dumped) == spec
    assert spec.image_ref() == "python:3.11-slim"
    assert spec.pod_labels() == {"team": "data", "nightly": ""}


def test_models_are_frozen():
    spec = parse_workflow(WORKFLOW, project="p")
    with pytest.raises(Exception, match="frozen"):
        spec.name = "other"  # type: ignore[misc]


def test_project_required_in_library_form():
    with pytest.raises(SpecError) as exc:
        parse_workflow(WORKFLOW)
    assert "dh.new_workflow(project=" in problems(exc)["project"]
    assert "invalid workflow 'workflow'" in str(exc.value)


def test_project_forbidden_in_project_form():
    with pytest.raises(SpecError) as exc:
        parse_function({**PY_FUNCTION, "project": "other"}, project="parking")
    msg = problems(exc)["project"]
    assert "set by the project 'parking'" in msg and "'other'" in msg


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("kind", "kfpp", "must be 'kfp'"),
        ("lang", "java", "must be 'python'"),
        ("uuid", "1234", "UUID4"),
        ("uuid", "77fcf9d1-3fb6-1117-9cba-e500f1223e59", "UUID4"),  # a version-1 UUID
        ("name", "-bad", "starting with a letter or digit"),
        ("name", "bad name", "letters, digits, '-' or '_'"),
        ("name", "", "letters, digits"),
        ("handler", "a:b:c", "'module:function'"),
        ("handler", "pkg.:main", "'module:function'"),
        ("code_src", "gs://bucket/key.py", "unsupported scheme 'gs://'"),
        ("code_src", "s3://bucket-only", "bucket and key"),
        ("labels", ["ok", "not a label"], "Kubernetes pod label"),
        ("tag", "bad tag", "image tag"),
    ],
)
def test_workflow_bad_field(field, value, expected):
    with pytest.raises(SpecError) as exc:
        parse_workflow({**WORKFLOW, field: value}, project="p")
    found = problems(exc)
    path = "labels[1]" if field == "labels" else field
    assert path in found, found
    assert expected in found[path]
    shown = value[1] if field == "labels" else value
    assert repr(shown) in found[path]


def test_unknown_field_lists_known_fields():
    with pytest.raises(SpecError) as exc:
        parse_workflow({**WORKFLOW, "scheduel": "5 4 * * *"}, project="p")
    msg = problems(exc)["scheduel"]
    assert "unknown field" in msg and "code_src" in msg and "handler" in msg
    assert "'5 4 * * *'" in msg


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ({}, "none is set"),
        ({"code_src": "a.py", "code": "def f(): pass"}, "both code_src and code are set"),
        ({"code": "x", "base64": "eA==", "code_src": "a.py"}, "are all set"),
    ],
)
def test_workflow_needs_exactly_one_code_field(code, expected):
    data = {"name": "w", "kind": "kfp", "handler": "main", **code}
    with pytest.raises(SpecError) as exc:
        parse_workflow(data, project="p")
    text = str(exc.value)
    assert "exactly one of code_src, code, base64" in text and expected in text


def test_workflow_needs_a_handler():
    with pytest.raises(SpecError) as exc:
        parse_workflow({"name": "w", "kind": "kfp", "code": "def main(): pass"}, project="p")
    assert "required" in problems(exc)["handler"]


def test_empty_code_is_an_error():
    with pytest.raises(SpecError) as exc:
        parse_workflow({"name": "w", "kind": "kfp", "code": "  ", "handler": "main"}, project="p")
    assert "must not be empty" in problems(exc)["code"]


def test_source_origin_only_with_inline_text():
    ok = parse_workflow(
        {
            "name": "w",
            "kind": "kfp",
            "code": "def main(): pass",
            "handler": "main",
            "source_origin": "pipeline.py",
        },
        project="p",
    )
    assert ok.source_origin == "pipeline.py"
    with pytest.raises(SpecError) as exc:
        parse_workflow({**WORKFLOW, "source_origin": "x.py"}, project="p")
    assert "only goes with code or base64" in problems(exc)["source_origin"]


def test_tag_rules():
    with pytest.raises(SpecError) as exc:
        parse_workflow({**WORKFLOW, "tag": "1.0"}, project="p")
    assert "needs image" in problems(exc)["tag"]
    with pytest.raises(SpecError) as exc:
        parse_workflow({**WORKFLOW, "image": "python:3.11", "tag": "1.0"}, project="p")
    assert "already names a tag" in problems(exc)["tag"]
    spec = parse_workflow(
        {**WORKFLOW, "image": "localhost:5000/team/app", "tag": "1.0"}, project="p"
    )
    assert spec.image_ref() == "localhost:5000/team/app:1.0"


def test_python_function():
    spec = parse_function(
        {**PY_FUNCTION, "requirements": ["pandas>=2", "requests"]}, project="parking"
    )
    assert isinstance(spec, FunctionSpec)
    assert spec.kind == "python" and spec.requirements == ["pandas>=2", "requests"]
    assert FunctionSpec.model_validate(spec.model_dump(mode="json")) == spec


def test_python_function_rules():
    with pytest.raises(SpecError) as exc:
        parse_function(
            {"name": "f", "kind": "python", "command": ["x"], "requirements": ["ok", "no good!"]},
            project="p",
        )
    found = problems(exc)
    assert "requirements[1]" in found and "PEP 508" in found["requirements[1]"]
    with pytest.raises(SpecError) as exc:
        parse_function({"name": "f", "kind": "python", "command": ["x"]}, project="p")
    found = problems(exc)
    assert "exactly one of code_src, code, base64" in found["code_src"]
    assert "required for kind 'python'" in found["handler"]
    assert "only for kind 'container'" in found["command"]


def test_container_function_splits_a_command_string():
    spec = parse_function(
        {
            "name": "to-db",
            "kind": "container",
            "image": "postgres:16",
            "command": "psql -c 'select 1'",
            "args": ["--quiet"],
            "envs": [{"name": "PGHOST", "value": "db"}],
        },
        project="p",
    )
    assert spec.command == ["psql", "-c", "select 1"]
    assert spec.envs[0].name == "PGHOST"
    assert FunctionSpec.model_validate(spec.model_dump(mode="json")) == spec


def test_container_function_forbids_code_and_needs_image():
    with pytest.raises(SpecError) as exc:
        parse_function(
            {"name": "c", "kind": "container", "code": "print(1)", "handler": "main"}, project="p"
        )
    found = problems(exc)
    assert "required for kind 'container'" in found["image"]
    assert "not allowed for kind 'container'" in found["code"] and "'print(1)'" in found["code"]
    assert "not allowed for kind 'container'" in found["handler"]


def test_function_kind_and_env_errors():
    with pytest.raises(SpecError) as exc:
        parse_function({"name": "f", "kind": "spark"}, project="p")
    assert "must be 'python' or 'container'" in problems(exc)["kind"]
    with pytest.raises(SpecError) as exc:
        parse_function(
            {
                "name": "c",
                "kind": "container",
                "image": "a",
                "envs": [{"name": "1X", "value": "v"}, {"name": "Y"}],
            },
            project="p",
        )
    found = problems(exc)
    assert "environment variable name" in found["envs[0].name"] and "'1X'" in found["envs[0].name"]
    assert found["envs[1].value"] == "envs[1].value: required"


def test_task_defaults_and_pod_settings():
    task = parse_task({"action": "pipeline", "schedule": "5 4 * * *", "secrets": ["s"]})
    assert isinstance(task, TaskSpec) and isinstance(task, PodSettings)
    assert (task.enabled, task.max_concurrency, task.catchup) == (True, 1, True)
    assert task.kfp_cron() == "0 5 4 * * *"
    assert parse_task({"action": "pipeline"}).kfp_cron() is None
    assert TaskSpec.model_validate(task.model_dump(mode="json")) == task


@pytest.mark.parametrize(
    ("data", "path", "expected"),
    [
        ({"action": "job"}, "action", "must be 'pipeline'"),
        ({}, "action", "required"),
        ({"action": "pipeline", "schedule": "5 4 * *"}, "schedule", "4 fields instead of 5 or 6"),
        (
            {"action": "pipeline", "schedule": "0 4 L * *"},
            "schedule",
            "'L', 'W' and '#' are not supported",
        ),
        (
            {"action": "pipeline", "schedule": "5 4 * * *", "max_concurrency": 11},
            "max_concurrency",
            "between 1 and 10",
        ),
        (
            {"action": "pipeline", "schedule": "5 4 * * *", "max_concurrency": 0},
            "max_concurrency",
            "between 1 and 10",
        ),
        (
            {"action": "pipeline", "schedule": "@daily", "start_time": "2026-01-01"},
            "start_time",
            "RFC 3339",
        ),
        (
            {
                "action": "pipeline",
                "schedule": "@daily",
                "start_time": "2026-02-01T00:00:00Z",
                "end_time": "2026-01-01T00:00:00+01:00",
            },
            "end_time",
            "must be after start_time",
        ),
        (
            {"action": "pipeline", "max_concurrency": 3},
            "max_concurrency",
            "only applies to a scheduled task",
        ),
        ({"action": "pipeline", "enabled": False}, "enabled", "only applies to a scheduled task"),
    ],
)
def test_task_bad_input(data, path, expected):
    with pytest.raises(SpecError) as exc:
        parse_task(data)
    found = problems(exc)
    assert path in found, found
    assert expected in found[path]
    if path in data:
        assert repr(data[path]) in found[path]


def test_task_schedule_error_lists_the_valid_forms():
    with pytest.raises(SpecError) as exc:
        parse_task({"action": "pipeline", "schedule": "every day"})
    msg = problems(exc)["schedule"]
    assert (
        "'every day'" in msg
        and "5-field cron" in msg
        and "6-field KFP cron" in msg
        and "@every" in msg
    )


def test_task_window_and_options():
    task = parse_task(
        {
            "action": "pipeline",
            "schedule": "0 */15 * * * *",
            "enabled": False,
            "max_concurrency": 10,
            "catchup": False,
            "start_time": "2026-01-01T00:00:00Z",
            "end_time": "2026-12-31T23:59:59.123456789+01:00",
        }
    )
    assert task.kfp_cron() == "0 */15 * * * *"


def test_run_inputs():
    run = parse_run(
        {"inputs": {"url": "https://example.org/p.csv", "limit": 3, "opts": {"a": [1, None]}}}
    )
    assert isinstance(run, RunSpec) and run.inputs["limit"] == 3
    assert parse_run({}).inputs == {}
    with pytest.raises(SpecError) as exc:
        parse_run({"inputs": {"not an identifier": 1}})
    assert "pipeline parameter name" in problems(exc)["inputs['not an identifier']"]
    with pytest.raises(SpecError) as exc:
        parse_run({"inputs": {"x": object()}})
    assert "inputs.x" in problems(exc)


def test_not_a_mapping():
    with pytest.raises(SpecError) as exc:
        parse_task(["action", "pipeline"])  # type: ignore[arg-type]
    assert "must be a mapping" in str(exc.value)


def test_messages_carry_no_pydantic_boilerplate():
    with pytest.raises(SpecError) as exc:
        parse_workflow(
            {"name": 3, "kind": "x", "labels": "a", "embedded": "maybe", "handler": "1x"}
        )
    text = str(exc.value)
    for noise in (
        "For further information",
        "errors.pydantic.dev",
        "Value error,",
        "Input should be",
        "type=",
    ):
        assert noise not in text, text
    assert "name: must be a valid string (got 3)" in text
