"""A schedule's life at its edges through the offline engine (the Pulumi adapter's provider
server, driven as Pulumi drives it) on the embedded KFP server (issue 16):

- `refresh` shows a retired recurring run whose runs have ended as drift (pending clean-up)
  and the next `up`, with the program unchanged, deletes it;
- `destroy`, and an `up` whose program no longer declares the task, never kill a run
  silently: past `dh-kfp:destroy_wait_timeout` it fails naming
  the run and the setting, deleting nothing; with `dh-kfp:on_destroy_active_runs: cancel`
  it cancels the run and prints its name; a bad setting fails naming key, value and choices.

The program: one workflow whose step sleeps `edges:seconds`, on the schedule `edges:schedule`.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from kfp_kit import until

from dh_kfp_pulumi import engine
from dh_kfp_pulumi.backends import ApiError, Backend, BackendConfig
from dh_kfp_pulumi.errors import DhKfpError

pytestmark = pytest.mark.slow

PROGRAM = '''\
import pulumi

import dh_kfp_pulumi as dh

config = pulumi.Config("edges")
project = dh.Project("edges")
project.new_function(name="sleeper", kind="python", code_src="sleeper.py", handler="nap")
workflow = project.new_workflow(name="wf", kind="kfp", code_src="pipeline.py", handler="pipe")
if config.get("scheduled") != "false":
    task = workflow.run(action="pipeline", name="tick", schedule=config.require("schedule"),
                        catchup=False, inputs={"x": float(config.require("seconds"))})
    pulumi.export("schedule_id", task.recurring_run_id)
'''
PIPELINE = '''\
from dh_kfp_pulumi.dsl import pipeline_context


def pipe(x: float = 1.0):
    with pipeline_context() as pc:
        pc.step(name="nap", function="sleeper", action="job", inputs={"x": x}, values=["y"])
'''
SLEEPER = "import time\n\n\ndef nap(x):\n    time.sleep(float(x))\n    return {'y': 'done'}\n"
BUSY = {"edges:schedule": "* * * * * *", "edges:seconds": "60"}
CALM = {"edges:schedule": "0 5 4 * * *", "edges:seconds": "60"}


class Stack:
    def __init__(self, base: Path, url: str):
        self.dir = base / "project"
        self.dir.mkdir(parents=True)
        (self.dir / "Pulumi.yaml").write_text("name: edges\nruntime: python\n")
        (self.dir / "Pulumi.test.yaml").write_text("config: {}\n")
        (self.dir / "__main__.py").write_text(PROGRAM)
        (self.dir / "pipeline.py").write_text(PIPELINE)
        (self.dir / "sleeper.py").write_text(SLEEPER)
        self.state_dir = base / "state"
        self.url = url
        self.output = ""

    def __call__(self, operation: str, settings: dict, **kwargs) -> engine.Result:
        out = io.StringIO()
        try:
            return getattr(engine, operation)(
                self.dir, "test", state_dir=self.state_dir, out=out,
                config_overrides={"dh-kfp:host": self.url, **settings}, **kwargs)
        finally:
            self.output = out.getvalue()



def task_ops(result):
    """What the deployment did (or would do) to the Task, its refresh left out."""
    return [s.op for s in result.steps if s.type.endswith("Task") and s.phase != "refresh"]


@pytest.fixture(scope="module")
def backend(kfp_server):
    return Backend(BackendConfig(host=kfp_server.url))


@pytest.fixture(scope="module")
def stack(tmp_path_factory, kfp_server):
    return Stack(tmp_path_factory.mktemp("edges"), kfp_server.url)


def test_refresh_shows_pending_cleanup_and_the_next_up_deletes_it(stack, backend):
    old = stack("up", BUSY).exports["schedule_id"]
    run = until("an active run", lambda: backend.active_runs_of(old))[0]
    new = stack("up", CALM).exports["schedule_id"]
    assert new != old and not backend.get_recurring_run(old).enabled  # retired: its run goes on
    refreshed = stack("refresh", CALM)
    assert not [s for s in refreshed.steps if s.op == "update"]  # still busy: no drift

    backend.terminate_run(run.id)
    backend.wait_run(run.id, timeout=60)
    preview = stack("preview", CALM, refresh=True)
    assert task_ops(preview) == ["update"]
    refreshed = stack("refresh", CALM)
    (drift,) = [s for s in refreshed.steps if s.op == "update"]
    assert "cleanup_recurring_run_ids" in drift.keys and "1 drifted" in stack.output
    assert backend.get_recurring_run(old)  # a refresh only reports it

    up = stack("up", CALM)
    assert task_ops(up) == ["update"]
    with pytest.raises(ApiError) as gone:
        backend.get_recurring_run(old)
    assert gone.value.not_found and backend.get_recurring_run(new).enabled
    again = stack("up", CALM, refresh=True)
    assert task_ops(again) == ["same"]


def test_destroy_fails_past_its_timeout_then_cancels_when_told(stack, backend):
    rid = stack("up", BUSY).exports["schedule_id"]
    run = until("an active run", lambda: backend.active_runs_of(rid))[0]

    with pytest.raises(DhKfpError, match="dh-kfp:on_destroy_active_runs"):
        stack("destroy", {**BUSY, "dh-kfp:on_destroy_active_runs": "kill"})
    assert "'kill'" in stack.output and "'cancel'" in stack.output

    with pytest.raises(DhKfpError) as failed:
        stack("destroy", {**BUSY, "dh-kfp:destroy_wait_timeout": "1"})
    message = str(failed.value)
    assert "destroy_wait_timeout (1s)" in message and run.id in message
    assert "waiting up to 1s (destroy_wait_timeout)" in stack.output  # printed while it waits
    assert run.id in stack.output
    assert backend.get_recurring_run(rid).enabled and not backend.get_run(run.id).terminal
    assert stack("up", BUSY).exports["schedule_id"] == rid  # still deployed, nothing to do

    stack("destroy", {**BUSY, "dh-kfp:on_destroy_active_runs": "cancel"})
    assert f"canceled run {run.name!r} ({run.id}" in stack.output
    assert backend.wait_run(run.id, timeout=60).state == "CANCELED"
    with pytest.raises(ApiError):
        backend.get_recurring_run(rid)


def test_a_task_removed_from_the_program_waits_for_its_runs_too(stack, backend):
    rid = stack("up", BUSY).exports["schedule_id"]
    run = until("an active run", lambda: backend.active_runs_of(rid))[0]
    removed = {**BUSY, "edges:scheduled": "false"}

    with pytest.raises(DhKfpError) as failed:
        stack("up", {**removed, "dh-kfp:destroy_wait_timeout": "0"})
    assert "destroy_wait_timeout (0s)" in str(failed.value) and run.id in str(failed.value)
    assert backend.get_recurring_run(rid).enabled and not backend.get_run(run.id).terminal

    stack("up", {**removed, "dh-kfp:on_destroy_active_runs": "cancel"})
    assert f"canceled run {run.name!r} ({run.id}" in stack.output
    assert backend.wait_run(run.id, timeout=60).state == "CANCELED"
    with pytest.raises(ApiError):
        backend.get_recurring_run(rid)
    stack("destroy", removed)
