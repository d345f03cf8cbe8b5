"""The Terraform adapter at a schedule's edges (issue 16), in-process on the embedded KFP
server: the plugin calls as Terraform makes them (plan, apply, read), without the CLI.

- a refresh (ReadResource) reports a retired recurring run whose runs ended as pending
  clean-up, the plan is an update, and the apply deletes it;
- a destroy (ApplyResourceChange to null) waits for the schedule's active run, fails past
  `destroy_wait_timeout` naming the run and the setting (the object stays, and in state),
  and with `on_destroy_active_runs = "cancel"` cancels it, naming it in a warning.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest
from kfp_kit import until

pytest.importorskip("tf", reason="the `tf` framework (extra `terraform`) is not installed")

sys.path.insert(0, str(Path(__file__).parent))

from test_provider_units import decode, encode, full, plan, servicer  # noqa: E402
from tf.gen import tfplugin_pb2 as pb  # noqa: E402

from dh_kfp_pulumi.backends import ApiError, Backend, BackendConfig  # noqa: E402
from dh_kfp_pulumi.reconcile import workflow  # noqa: E402

PIPELINE = """\
from dh_kfp_pulumi.dsl import pipeline_context


def pipe(x: float = 1.0):
    with pipeline_context() as pc:
        pc.step(name="nap", function="sleeper", action="job", inputs={"x": x}, values=["y"])
"""
SLEEPER = "import time\n\ndef nap(x):\n    time.sleep(float(x))\n    return {'y': 'done'}\n"
TASK = "dhkfp_task"


@pytest.fixture(scope="module")
def config(kfp_server):
    return BackendConfig(host=kfp_server.url, image="python:3.11-slim")


@pytest.fixture(scope="module")
def wf(config):
    props = {"project": "tf", "name": "edges", "kind": "kfp", "code": PIPELINE, "handler": "pipe",
             "functions": [{"name": "sleeper", "kind": "python", "code": SLEEPER,
                            "handler": "nap"}]}  # fmt: skip
    inputs, problems = workflow.check(props, config)
    assert problems == []
    pid, out = workflow.create(inputs, Backend(config))
    yield out
    workflow.delete(pid, out, Backend(config))



def task_config(wf, name, **extra):
    values = dict(project="tf", name=name, pipeline_id=wf["pipeline_id"],
                  workflow_version_id=wf["version_id"], schedule="* * * * * *", catchup=False,
                  inputs={"x": 60})  # fmt: skip
    values.update(extra)
    return full(TASK, **values)


def apply(s, prior, planned):
    request = pb.ApplyResourceChange.Request(
        type_name=TASK, prior_state=encode(TASK, prior), planned_state=encode(TASK, planned)
    )
    response = s.ApplyResourceChange(request, None)
    state = decode(TASK, response.new_state) if response.new_state.msgpack else None
    return state, list(response.diagnostics)


def deployed(config, wf, name):
    """A busy task made through plan and apply, once its schedule has an active run."""
    s = servicer(config)
    cfg = task_config(wf, name)
    planned, _, diags = plan(TASK, cfg, s=s)
    assert diags == []
    state, diags = apply(s, None, planned)
    assert diags == [] and state["recurring_run_id"]
    rid = state["recurring_run_id"]
    run = until("an active run", lambda: Backend(config).active_runs_of(rid))[0]
    return cfg, state, run


def by_severity(diags, severity):
    return [d.summary for d in diags if d.severity == severity]


def test_refresh_reports_a_retired_schedule_pending_cleanup_and_the_apply_deletes_it(config, wf):
    s = servicer(config)
    cfg, state, run = deployed(config, wf, "retire")
    old = state["recurring_run_id"]
    calm = dict(cfg, schedule="0 5 4 * * *")
    planned, _, _ = plan(TASK, calm, state, s=s)
    state, diags = apply(s, state, planned)
    assert diags == [] and state["retired_recurring_run_ids"] == [old]

    backend = Backend(config)
    backend.terminate_run(run.id)
    backend.wait_run(run.id, timeout=60)
    read = s.ReadResource(pb.ReadResource.Request(type_name=TASK, current_state=encode(TASK, state)),
                          None)  # fmt: skip
    assert list(read.diagnostics) == []
    refreshed = decode(TASK, read.new_state)
    assert refreshed["cleanup_recurring_run_ids"] == [old]
    assert refreshed["retired_recurring_run_ids"] == []

    planned, replaces, diags = plan(TASK, calm, refreshed, s=s)
    assert diags == [] and replaces == [] and planned != refreshed  # an update to apply
    assert planned["cleanup_recurring_run_ids"] == []
    state, diags = apply(s, refreshed, planned)
    assert diags == [] and state["cleanup_recurring_run_ids"] == []
    assert state["retired_recurring_run_ids"] == []
    with pytest.raises(ApiError) as gone:
        backend.get_recurring_run(old)
    assert gone.value.not_found
    assert plan(TASK, calm, state, s=s)[0] == state  # then nothing left to do
    apply(s, state, None)


def test_destroy_fails_past_the_timeout_naming_the_run_and_cancels_when_told(config, wf):
    cfg, state, run = deployed(config, wf, "destroy")
    rid = state["recurring_run_id"]

    impatient = servicer(replace(config, destroy_wait_timeout=1))
    kept, diags = apply(impatient, state, None)
    assert kept == state  # Terraform keeps it in state
    (error,) = by_severity(diags, pb.Diagnostic.ERROR)
    assert error.startswith("cannot delete dhkfp_task: task tf/destroy: destroy_wait_timeout (1s)")
    assert run.id in error and repr(run.name) in error and "on_destroy_active_runs" in error
    (waiting,) = by_severity(diags, pb.Diagnostic.WARNING)
    assert "waiting up to 1s (destroy_wait_timeout)" in waiting and run.id in waiting
    backend = Backend(config)
    assert backend.get_recurring_run(rid).enabled  # as it was
    assert not backend.get_run(run.id).terminal  # untouched

    hasty = servicer(replace(config, on_destroy_active_runs="cancel"))
    gone, diags = apply(hasty, state, None)
    assert gone is None and by_severity(diags, pb.Diagnostic.ERROR) == []
    canceled = [w for w in by_severity(diags, pb.Diagnostic.WARNING) if "canceled run" in w]
    assert len(canceled) == len(set(canceled)) >= 1
    assert any(run.id in w and f"recurring run {rid}" in w for w in canceled)
    assert backend.wait_run(run.id, timeout=60).state == "CANCELED"
    with pytest.raises(ApiError):
        backend.get_recurring_run(rid)
