"""plan and check of every kind: no network (the config points at a closed port)."""

from __future__ import annotations

import copy

import pytest
from reconcile_kit import run_props, task_props, with_settings, workflow_props

from dh_kfp_pulumi.reconcile import UNKNOWN, run, task, workflow


def paths(problems):
    return [p.path for p in problems]


# ---- workflow ----------------------------------------------------------------------------


def test_workflow_check_computes_a_stable_hash(offline_config):
    inputs, problems = workflow.check(workflow_props(), offline_config)
    assert problems == []
    assert len(inputs["spec_hash"]) == 64
    again, _ = workflow.check(workflow_props(), offline_config)
    assert again["spec_hash"] == inputs["spec_hash"]
    changed, _ = workflow.check(
        workflow_props(code="def add(x, word):\n    return {'y': word}\n"), offline_config
    )
    assert changed["spec_hash"] != inputs["spec_hash"]


def test_workflow_builds_once_for_check_and_apply(offline_config, monkeypatch):
    """check and create/update build the same inline props: one compile, not two."""
    import dh_kfp_pulumi.build as build_module

    calls = []
    real = build_module.build_workflow
    monkeypatch.setattr(
        build_module, "build_workflow", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    props = workflow_props(name="memo", code="def add(x, word):\n    return {'y': 'memo'}\n")
    inputs, problems = workflow.check(props, offline_config)
    assert problems == [] and len(calls) == 1
    assert workflow.build(inputs, offline_config).spec_hash == inputs["spec_hash"]
    assert len(calls) == 1
    other = dict(props, image="python:3.12-slim")
    assert workflow.check(other, offline_config)[0]["spec_hash"] != inputs["spec_hash"]
    assert len(calls) == 2


def test_workflow_check_hash_follows_the_default_image(offline_config):
    from dataclasses import replace

    a, _ = workflow.check(workflow_props(), offline_config)
    b, _ = workflow.check(workflow_props(), replace(offline_config, image="python:3.12-slim"))
    assert a["spec_hash"] != b["spec_hash"]


def test_workflow_check_names_bad_fields(offline_config):
    props = workflow_props(kind="argo", labels="x", colour="red")
    props["functions"][0]["kind"] = "java"
    inputs, problems = workflow.check(props, offline_config)
    assert set(paths(problems)) >= {"kind", "labels", "colour", "functions[0].kind"}
    kind = next(p for p in problems if p.path == "kind")
    assert "kfp" in kind.message and kind.value == "argo"
    assert inputs["spec_hash"] == ""


def test_workflow_check_unknown_function_lists_known_ones(offline_config):
    props = workflow_props()
    props["functions"][0]["name"] = "subtract"
    _, problems = workflow.check(props, offline_config)
    assert len(problems) == 1
    assert "adder" in problems[0].message and "subtract" in problems[0].message


def test_workflow_check_remote_source_is_not_fetched(offline_config):
    props = workflow_props()
    del props["code"]
    props["code_src"] = "https://example.invalid/pipeline.py"
    _, problems = workflow.check(props, offline_config)
    assert paths(problems) == ["code_src"]
    assert "resolve_sources" in problems[0].message


def test_workflow_check_with_unknown_code_leaves_the_hash_unknown(offline_config):
    props = workflow_props(code=UNKNOWN)
    props["code"] = UNKNOWN
    inputs, problems = workflow.check(props, offline_config)
    assert problems == []
    assert inputs["spec_hash"] is UNKNOWN


def test_workflow_plan(offline_config):
    olds, _ = workflow.check(workflow_props(), offline_config)
    olds = {**olds, "pipeline_id": "p", "version_id": "v", "ir": "..."}  # outputs
    same, _ = workflow.check(workflow_props(), offline_config)
    assert workflow.plan(olds, same).changes == []

    code, _ = workflow.check(
        workflow_props(code="def add(x, word):\n    return {'y': 'z'}\n"), offline_config
    )
    p = workflow.plan(olds, code)
    assert p.changes == ["functions", "spec_hash"] and p.replaces == []

    renamed = {**same, "name": "other"}
    p = workflow.plan(olds, renamed)
    assert p.replaces == ["name"] and not p.delete_before_replace

    unknown = {**same, "spec_hash": UNKNOWN}
    assert workflow.plan(olds, unknown).changes == ["spec_hash"]

    # defaults: embedded True and labels [] equal an absent key
    assert workflow.plan(olds, {**same, "embedded": True, "labels": []}).changes == []


def test_workflow_plan_after_import_takes_identity_from_config():
    imported = {"pipeline_id": "p", "version_id": "v", "spec_hash": ""}
    p = workflow.plan(imported, {"project": "demo", "name": "wf", "spec_hash": "abc"})
    assert set(p.changes) == {"project", "name", "spec_hash"} and p.replaces == []


# ---- task --------------------------------------------------------------------------------


def test_task_check_plain(offline_config):
    inputs, problems = task.check(task_props(), offline_config)
    assert problems == []
    assert inputs["spec_hash"] == ""


def test_task_check_names_bad_fields(offline_config):
    props = task_props(schedule="5 4 * *", max_concurrency=11, inputs={"not valid": 1})
    del props["workflow_version_id"]
    _, problems = task.check(props, offline_config)
    got = paths(problems)
    assert "schedule" in got and "max_concurrency" in got and "workflow_version_id" in got
    assert any(p.startswith("inputs") for p in got)
    schedule = next(p for p in problems if p.path == "schedule")
    assert "5-field cron" in schedule.message


def test_task_check_options_need_a_schedule(offline_config):
    _, problems = task.check(task_props(schedule=None, enabled=False), offline_config)
    assert paths(problems) == ["enabled"]


def test_task_check_with_an_unknown_schedule_still_checks_its_options(offline_config):
    inputs, problems = task.check(task_props(schedule=UNKNOWN, enabled=False), offline_config)
    assert problems == [] and inputs["schedule"] is UNKNOWN
    _, problems = task.check(task_props(schedule=UNKNOWN, max_concurrency=0), offline_config)
    assert paths(problems) == ["max_concurrency"]


def test_task_check_unknown_ids_are_fine(offline_config):
    props = task_props(pipeline_id=UNKNOWN, workflow_version_id=UNKNOWN)
    inputs, problems = task.check(props, offline_config)
    assert problems == [] and inputs["spec_hash"] == ""


def test_task_with_pod_settings_builds_its_own_version(offline_config):
    wf_inputs, _ = workflow.check(workflow_props(), offline_config)
    props = with_settings(task_props(), wf_inputs)
    inputs, problems = task.check(props, offline_config)
    assert problems == []
    assert len(inputs["spec_hash"]) == 64 and inputs["spec_hash"] != wf_inputs["spec_hash"]

    other = with_settings(task_props(), wf_inputs, node_selector=[{"key": "disk", "value": "hdd"}])
    assert task.check(other, offline_config)[0]["spec_hash"] != inputs["spec_hash"]

    bad_input = with_settings(task_props(inputs={"y": 1}), wf_inputs)
    _, problems = task.check(bad_input, offline_config)
    assert paths(problems) == ["inputs.y"] and "word (str), x (int)" in problems[0].message

    missing = task_props(node_selector=[{"key": "disk", "value": "ssd"}])
    _, problems = task.check(missing, offline_config)
    assert paths(problems) == ["workflow_spec"]

    bad_volume = with_settings(
        task_props(), wf_inputs, volumes=[{"name": "v", "volume_type": "nfs", "mount_path": "/v"}]
    )
    _, problems = task.check(bad_volume, offline_config)
    assert problems and problems[0].path.startswith("volumes[0]")


def test_task_plan_never_replaces():
    olds = {**task_props(), "spec_hash": "", "recurring_run_id": "r1", "version_id": "v-1"}
    news = {**task_props(), "spec_hash": ""}
    assert task.plan(olds, news).changes == []
    p = task.plan(olds, {**news, "schedule": "0 6 * * *"})
    assert p.changes == ["schedule"] and p.replaces == []
    p = task.plan(olds, {**news, "workflow_version_id": UNKNOWN, "enabled": False})
    assert p.changes == ["enabled", "workflow_version_id"] and p.replaces == []
    assert task.plan(olds, {**news, "enabled": True, "catchup": True}).changes == []


# ---- run ---------------------------------------------------------------------------------


def test_run_check(offline_config):
    inputs, problems = run.check(run_props(wait=True, wait_timeout=30), offline_config)
    assert problems == [] and inputs == run_props(wait=True, wait_timeout=30)
    _, problems = run.check(
        run_props(wait="yes", wait_timeout=-1, version_id="", extra=1), offline_config
    )
    assert set(paths(problems)) == {"wait", "wait_timeout", "version_id", "extra"}
    _, problems = run.check(run_props(version_id=UNKNOWN), offline_config)
    assert problems == []


@pytest.mark.parametrize(
    ("change", "replaces"),
    [
        ({"inputs": {"x": 6}}, ["inputs"]),
        ({"version_id": "v-2"}, ["version_id"]),
        ({"version_id": UNKNOWN}, ["version_id"]),
        ({"name": "twice"}, ["name"]),
        ({"wait": True}, []),
        ({"delete_on_destroy": True, "wait_timeout": 10}, []),
    ],
)
def test_run_plan(change, replaces):
    olds = {**run_props(), "run_id": "r", "state": "SUCCEEDED"}
    news = copy.deepcopy(run_props())
    news.update(change)
    p = run.plan(olds, news)
    assert p.changes == sorted(change) and p.replaces == replaces
    assert not p.delete_before_replace


def test_run_plan_no_change():
    olds = {**run_props(), "run_id": "r", "state": "RUNNING"}
    assert run.plan(olds, {**run_props(), "wait": False}).changes == []


def test_plans_do_not_tell_5_from_5_point_0():
    olds = {**run_props(inputs={"x": 5}), "run_id": "r"}
    assert run.plan(olds, run_props(inputs={"x": 5.0})).changes == []
    olds = {**task_props(max_concurrency=2), "recurring_run_id": "r"}
    assert task.plan(olds, task_props(max_concurrency=2.0)).changes == []


@pytest.mark.parametrize("kind", [workflow, task, run])
def test_outputs_seeded_as_none_are_not_inputs(kind, offline_config):
    props = {"workflow": workflow_props(), "task": task_props(), "run": run_props()}[kind.KIND]
    seeded = {**props, **dict.fromkeys(kind.OUTPUTS)}
    inputs, problems = kind.check(seeded, offline_config)
    assert problems == [] and not set(kind.OUTPUTS) & set(inputs)
    olds = {**inputs, **{k: "x" for k in kind.OUTPUTS}}
    olds.pop("cleanup_recurring_run_ids", None)  # a task's pending clean-up: a change by design
    assert kind.plan(olds, seeded | {"spec_hash": inputs.get("spec_hash")}).changes == []


def test_a_task_setting_priority_or_runtime_class_is_refused_by_name(offline_config):
    from dh_kfp_pulumi.specs.pod import INEXPRESSIBLE

    props = {"project": "demo", "name": "t", "pipeline_id": "p", "workflow_version_id": "v",
             "priority_class": "high", "runtime_class": "gvisor"}
    _, problems = task.check(props, offline_config)
    assert {(p.path, p.message, p.value) for p in problems} == {
        ("priority_class", INEXPRESSIBLE["priority_class"], "high"),
        ("runtime_class", INEXPRESSIBLE["runtime_class"], "gvisor"),
    }
    assert all("unknown field" not in p.message for p in problems)
