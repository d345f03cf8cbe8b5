"""What a plan-first engine (Terraform) needs from the core, found by driving it with one.

- `planned_outputs`: every value promised before an apply is the value the apply gives
  (Terraform fails an apply whose result differs from a known planned value, and plans a
  dependent Run's replacement when a Task's `version_id` is left unknown).
- imports (`read` with no state) recover what KFP knows: the identity from our marker,
  a schedule in the form users write; an imported run is not replaced for its name.
- `resolve_sources` copes with unknown values and names the failing `code_src`.
"""

from __future__ import annotations

import pytest
from kfp_kit import ADDER
from reconcile_kit import run_props, task_props, with_settings, workflow_props

from dh_kfp_pulumi.backends import Backend
from dh_kfp_pulumi.errors import SpecError
from dh_kfp_pulumi.reconcile import UNKNOWN, resolve_sources, run, task, workflow


def checked(kind, props, config):
    inputs, problems = kind.check(props, config)
    assert problems == [], problems
    return inputs


def assert_promise_kept(planned, outputs):
    assert set(planned) <= set(outputs)
    broken = {
        k: (v, outputs[k]) for k, v in planned.items() if v is not UNKNOWN and outputs[k] != v
    }
    assert not broken, f"planned != applied: {broken}"


# ---- offline -----------------------------------------------------------------------------


def test_workflow_planned_outputs_offline(offline_config):
    news = checked(workflow, workflow_props(), offline_config)
    created = workflow.planned_outputs(None, news)
    assert (
        created["pipeline_name"] == "demo-wf" and created["version_name"] == news["spec_hash"][:16]
    )
    assert created["pipeline_id"] is UNKNOWN and created["version_id"] is UNKNOWN
    olds = {**news, "pipeline_id": "p", "pipeline_name": "demo-wf", "version_id": "v",
            "version_name": news["spec_hash"][:16], "ir": "yaml", "url": "u"}  # fmt: skip
    assert workflow.planned_outputs(olds, news) == {k: olds[k] for k in workflow.OUTPUTS}
    not_embedded = workflow.planned_outputs(olds, {**news, "embedded": False})
    assert not_embedded["ir"] is None and not_embedded["version_id"] == "v"
    code = checked(workflow, workflow_props(code=ADDER + "\n# v2\n"), offline_config)
    moved = workflow.planned_outputs(olds, code)
    assert moved["pipeline_id"] == "p" and moved["version_id"] is UNKNOWN
    assert moved["version_name"] == code["spec_hash"][:16]
    drifted = workflow.planned_outputs({**olds, "version_id": "", "spec_hash": ""}, news)
    assert drifted["version_id"] is UNKNOWN
    unknown = workflow.planned_outputs(olds, {**news, "spec_hash": UNKNOWN})
    assert unknown["version_name"] is UNKNOWN and unknown["version_id"] is UNKNOWN


def test_task_planned_outputs_offline(offline_config):
    news = checked(task, task_props(), offline_config)
    created = task.planned_outputs(None, news)
    assert created["version_id"] == "v-1" and created["own_version"] is False
    assert created["cron"] == "0 5 4 * * *" and created["recurring_run_name"] == "demo-nightly"
    assert created["recurring_run_id"] is UNKNOWN and created["retired_recurring_run_ids"] == []
    olds = {**news, **created, "recurring_run_id": "r", "url": "u", "experiment_id": "e"}
    toggled = task.planned_outputs(olds, {**news, "enabled": False})
    assert toggled["recurring_run_id"] == "r" and toggled["experiment_id"] == "e"
    moved = task.planned_outputs(olds, {**news, "schedule": "6 4 * * *"})
    assert moved["recurring_run_id"] is UNKNOWN and moved["cron"] == "0 6 4 * * *"
    new_version = task.planned_outputs(olds, {**news, "workflow_version_id": UNKNOWN})
    assert new_version["version_id"] is UNKNOWN and new_version["recurring_run_id"] is UNKNOWN
    unscheduled = task.planned_outputs(olds, {**news, "schedule": None})
    assert (
        unscheduled["recurring_run_id"] == ""
        and unscheduled["retired_recurring_run_ids"] is UNKNOWN
    )
    unknown_pod = task.planned_outputs(None, {**news, "node_selector": UNKNOWN})
    assert unknown_pod["own_version"] is UNKNOWN and unknown_pod["version_id"] is UNKNOWN


def test_run_planned_outputs_and_import_plan(offline_config):
    news = checked(run, run_props(), offline_config)
    created = run.planned_outputs(None, news)
    assert created["run_name"] == "demo-once" and created["run_id"] is UNKNOWN
    olds = {**news, "run_id": "r", "state": "RUNNING", "run_name": "demo-once"}
    waiting = run.planned_outputs(olds, {**news, "wait": True})
    assert waiting["run_id"] == "r" and waiting["state"] is UNKNOWN
    # an imported run (no project/name known) takes them from config, no replacement
    imported = {k: v for k, v in olds.items() if k not in ("project", "name")}
    p = run.plan(imported, news)
    assert set(p.changes) == {"project", "name"} and p.replaces == []
    assert run.plan(olds, {**news, "name": "other"}).replaces == ["name"]


def test_resolve_sources_unknowns_errors_and_local_only(tmp_path):
    (tmp_path / "pipe.py").write_text("def pipe():\n    pass\n")
    props = workflow_props(code=None)
    del props["code"]
    props["code_src"] = "pipe.py"
    props["functions"][0] = {"name": "adder", "kind": "python", "code_src": UNKNOWN,
                             "handler": "add"}  # fmt: skip
    out = resolve_sources(props, tmp_path)
    assert out["code"].startswith("def pipe") and out["code_src"] is None
    assert out["functions"][0]["code_src"] is UNKNOWN  # left for check (and the engine)

    props["functions"][0]["code_src"] = "missing.py"
    with pytest.raises(SpecError) as err:
        resolve_sources(props, tmp_path)
    assert [p.path for p in err.value.problems] == ["functions[0].code_src"]
    assert "missing.py" in str(err.value)

    props["functions"][0]["code_src"] = "https://example.invalid/add.py"
    local = resolve_sources(props, tmp_path, local_only=True)
    assert local["functions"][0]["code_src"] is UNKNOWN  # no network: unknown until plan

    props["kind"] = "argo"  # an invalid spec is left for check to report
    assert resolve_sources(props, tmp_path, local_only=True)["code_src"] == "pipe.py"


def test_spec_for_task_is_the_workflow_part_of_the_props(offline_config):
    news = checked(workflow, workflow_props(image="python:3.11"), offline_config)
    spec = workflow.spec_for_task({**news, "pipeline_id": "p", "adopt": None})
    assert set(spec) == {"project", "name", "kind", "code", "handler", "functions", "image"}
    inputs, problems = task.check(
        {**task_props(), "workflow_spec": spec, "node_selector": [{"key": "a", "value": "b"}]},
        offline_config,
    )
    assert problems == [] and len(inputs["spec_hash"]) == 64


# ---- against the embedded server ---------------------------------------------------------


def test_promised_outputs_are_what_create_and_update_give(config):
    backend = Backend(config)
    news = checked(workflow, workflow_props(name="promises"), config)
    planned = workflow.planned_outputs(None, news)
    pid, wf_out = workflow.create(news, backend)
    assert_promise_kept(planned, wf_out)
    code = checked(workflow, workflow_props(name="promises", code=ADDER + "# v2\n"), config)
    planned = workflow.planned_outputs(wf_out, code)
    wf_out2 = workflow.update(pid, wf_out, code, backend)
    assert_promise_kept(planned, wf_out2)

    t_news = checked(task, task_props(wf_out, name="promised"), config)
    planned = task.planned_outputs(None, t_news)
    tid, t_out = task.create(t_news, backend)
    assert_promise_kept(planned, t_out)
    for change in (
        {"enabled": False},
        {"enabled": True, "schedule": "7 4 * * *"},
        {"workflow_version_id": wf_out2["version_id"]},
        {"schedule": None},
    ):
        t_news = checked(task, {**{k: t_news[k] for k in t_news if k != "spec_hash"}, **change},
                         config)  # fmt: skip
        planned = task.planned_outputs(t_out, t_news)
        t_out = task.update(tid, t_out, t_news, backend)
        assert_promise_kept(planned, t_out)
    own = checked(task, with_settings(task_props(wf_out2, name="own"), wf_out2), config)
    planned = task.planned_outputs(None, own)
    oid, own_out = task.create(own, backend)
    assert_promise_kept(planned, own_out)

    r_news = checked(run, run_props(wf_out2, name="promised"), config)
    planned = run.planned_outputs(None, r_news)
    rid, r_out = run.create(r_news, backend)
    assert_promise_kept(planned, r_out)
    waited = {**r_news, "wait": True, "wait_timeout": 120}
    planned = run.planned_outputs(r_out, waited)
    r_out = run.update(rid, r_out, waited, backend)
    assert_promise_kept(planned, r_out)

    for kind, i, o in ((task, oid, own_out), (task, tid, t_out), (workflow, pid, wf_out2)):
        kind.delete(i, o, backend)


def test_imports_recover_identity_and_the_users_cron(config):
    backend = Backend(config)
    news = checked(workflow, workflow_props(name="importable"), config)
    pid, wf_out = workflow.create(news, backend)
    t_news = checked(task, task_props(wf_out, name="imported"), config)
    tid, t_out = task.create(t_news, backend)
    r_news = checked(run, run_props(wf_out, name="imported"), config)
    rid, r_out = run.create(r_news, backend)

    got, _, t_inputs = task.read(t_out["recurring_run_id"], {}, backend)
    assert got == t_out["recurring_run_id"]
    assert (t_inputs["project"], t_inputs["name"]) == ("demo", "imported")
    assert t_inputs["schedule"] == "5 4 * * *"  # as written, not KFP's `0 5 4 * * *`
    assert task.plan(t_inputs, t_news).changes == []  # the config it was made from: no change

    got, _, r_inputs = run.read(rid, {}, backend)
    assert (got, r_inputs["project"], r_inputs["name"]) == (rid, "demo", "imported")
    assert run.plan(r_inputs, r_news).changes == []

    task.delete(tid, t_out, backend)
    workflow.delete(pid, wf_out, backend)
