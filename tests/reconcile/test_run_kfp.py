"""Run against the embedded KFP server: wait to SUCCEEDED, failure message, adoption, delete."""

from __future__ import annotations

from dataclasses import replace

import pytest
from kfp_kit import kfp_client, writes
from reconcile_kit import FAILING, run_props, task_props, workflow_props

from dh_kfp_pulumi.backends import Backend, RunFailed
from dh_kfp_pulumi.reconcile import run, task, workflow


@pytest.fixture(scope="module")
def wf(config):
    inputs, _ = workflow.check(workflow_props(name="runs"), config)
    pid, out = workflow.create(inputs, Backend(config))
    yield out
    workflow.delete(pid, out, Backend(config))


def checked(config, props):
    inputs, problems = run.check(props, config)
    assert problems == [], problems
    return inputs


def test_run_waits_to_succeeded_and_a_retry_adopts_it(config, kfp_server, wf):
    # numbers arrive from Pulumi as floats: 5.0 must reach an int parameter as 5
    inputs = checked(
        config, run_props(wf, inputs={"x": 5.0, "word": "n"}, wait=True, wait_timeout=120)
    )
    rid, out = run.create(inputs, Backend(config))
    assert rid == out["run_id"] and out["state"] == "SUCCEEDED" and out["error"] == ""
    assert out["run_name"] == "demo-once" and out["created_at"] and out["finished_at"]
    assert out["url"] == f"{kfp_server.url}/#/runs/details/{rid}"
    live = Backend(config).get_run(rid)
    assert live.parameters == {"x": 5, "word": "n"} and live.version_id == wf["version_id"]
    assert Backend(config).find_experiment("demo").id == out["experiment_id"]

    # a create retried after a crash finds the run by its marker: no second run
    before = writes(kfp_server.url)
    assert run.create(inputs, Backend(config))[0] == rid
    assert writes(kfp_server.url) == before
    assert [r.id for r in Backend(config).find_runs("demo-once")] == [rid]

    assert run.read(rid, out, Backend(config)) == (rid, out, {k: out[k] for k in inputs})
    # immutable: new inputs replace the run; wait/delete_on_destroy change in place
    assert run.plan(out, {**inputs, "inputs": {"x": 6, "word": "n"}}).replaces == ["inputs"]
    assert run.plan(out, {**inputs, "delete_on_destroy": True}).replaces == []
    assert (
        run.update(rid, out, {**inputs, "delete_on_destroy": True}, Backend(config))["state"]
        == "SUCCEEDED"
    )

    run.delete(rid, out, Backend(config))  # stays in KFP's history by default
    assert Backend(config).get_run(rid).id == rid
    run.delete(rid, {**out, "delete_on_destroy": True}, Backend(config))
    assert run.read(rid, out, Backend(config)) == ("", {}, {})


def test_no_wait_returns_at_once_and_read_follows(config, wf):
    inputs = checked(config, run_props(wf, name="nowait", inputs={"x": 1, "word": "a"}))
    rid, out = run.create(inputs, Backend(config))
    assert out["state"] in ("PENDING", "RUNNING", "SUCCEEDED") and out["run_id"] == rid
    Backend(config).wait_run(rid, timeout=120)
    _, live, _ = run.read(rid, out, Backend(config))
    assert live["state"] == "SUCCEEDED" and live["finished_at"]
    # turning `wait` on for a finished run needs no wait
    assert run.update(rid, live, {**inputs, "wait": True}, Backend(config))["state"] == "SUCCEEDED"
    run.delete(rid, {**live, "delete_on_destroy": True}, Backend(config))


def test_failed_run_names_the_step_and_a_retry_runs_again(config, kfp_server):
    w_inputs, _ = workflow.check(workflow_props(name="failing", code=FAILING), config)
    pid, w_out = workflow.create(w_inputs, Backend(config))
    inputs = checked(
        config,
        run_props(
            w_out, name="doomed", inputs={"x": 1, "word": "apples"}, wait=True, wait_timeout=120
        ),
    )
    with pytest.raises(RunFailed) as info:
        run.create(inputs, Backend(config))
    message = str(info.value)
    assert "FAILED" in message and "'add'" in message and "cannot add apples" in message
    assert info.value.run.state == "FAILED"
    first = info.value.run.id
    with pytest.raises(RunFailed) as again:  # a FAILED run is not adopted: a retry runs again
        run.create(inputs, Backend(config))
    assert again.value.run.id != first
    workflow.delete(pid, w_out, Backend(config))


def test_adopt_a_run_by_id(config, kfp_server, wf):
    made = kfp_client(kfp_server.url).run_pipeline(
        experiment_id=Backend(config).ensure_experiment("Default").id,
        job_name="by-hand",
        pipeline_id=wf["pipeline_id"],
        version_id=wf["version_id"],
        params={"x": 3},
    )
    inputs = checked(config, run_props(wf, name="adopted", adopt=made.run_id))
    rid, out = run.create(inputs, Backend(config))
    assert rid == made.run_id and out["run_name"] == "by-hand"
    with pytest.raises(Exception, match="adopt"):
        run.create(checked(config, run_props(wf, adopt="no-such-run")), Backend(config))
    Backend(config).wait_run(rid, timeout=120)


def test_stack_experiment_and_pipeline_root_reach_runs_and_schedules(
    config, kfp_server, wf, tmp_path
):
    root = str(tmp_path / "outputs")
    stack = replace(config, experiment="team-exp", pipeline_root=root)
    inputs = checked(stack, run_props(wf, name="rooted", inputs={"x": 1, "word": "r"}))
    rid, out = run.create(inputs, Backend(stack))
    experiment = Backend(stack).find_experiment("team-exp")
    assert experiment is not None and out["experiment_id"] == experiment.id
    client = kfp_client(kfp_server.url)
    assert client.get_run(rid).runtime_config.pipeline_root == root

    t_inputs, problems = task.check(task_props(wf, name="rooted"), stack)
    assert problems == []
    tid, t_out = task.create(t_inputs, Backend(stack))
    assert t_out["experiment_id"] == experiment.id
    live = client.get_recurring_run(t_out["recurring_run_id"])
    assert live.runtime_config.pipeline_root == root
    task.delete(tid, t_out, Backend(stack))
    Backend(stack).wait_run(rid, timeout=120)
