"""A schedule's edges through the real `terraform` / `tofu` CLI (issue 16), on the embedded
server: a retired schedule whose run ended shows in the next plan (refreshed first) as an
update whose apply deletes it; `destroy` warns which run it waits for, fails past
`destroy_wait_timeout` naming it (the task stays in state), and with
`on_destroy_active_runs = "cancel"` cancels it, naming it in a warning.
"""

from __future__ import annotations

import pytest
from kfp_kit import until
from tf_kit import Terraform

from dh_kfp_pulumi.backends import ApiError, Backend, BackendConfig

pytestmark = [pytest.mark.iac_cli, pytest.mark.slow]

MAIN_TF = """\
terraform {
  required_providers {
    dhkfp = { source = "dh-kfp.local/dh-kfp/dhkfp" }
  }
}

variable "kfp_host" { type = string }
variable "schedule" { type = string }
variable "wait_timeout" {
  type    = number
  default = null
}
variable "on_active" {
  type    = string
  default = null
}

provider "dhkfp" {
  host                   = var.kfp_host
  destroy_wait_timeout   = var.wait_timeout
  on_destroy_active_runs = var.on_active
}

resource "dhkfp_workflow" "wf" {
  project = "tfedges"
  name    = "wf"
  kind    = "kfp"
  code    = file("${path.module}/pipeline.py")
  handler = "pipe"

  function {
    name    = "sleeper"
    kind    = "python"
    code    = file("${path.module}/sleeper.py")
    handler = "nap"
  }
}

resource "dhkfp_task" "tick" {
  project             = dhkfp_workflow.wf.project
  name                = "tick"
  pipeline_id         = dhkfp_workflow.wf.pipeline_id
  workflow_version_id = dhkfp_workflow.wf.version_id
  schedule            = var.schedule
  catchup             = false
  inputs              = { x = 60 }
}
"""
PIPELINE = """\
from dh_kfp_pulumi.dsl import pipeline_context


def pipe(x: float = 1.0):
    with pipeline_context() as pc:
        pc.step(name="nap", function="sleeper", action="job", inputs={"x": x}, values=["y"])
"""
SLEEPER = "import time\n\n\ndef nap(x):\n    time.sleep(float(x))\n    return {'y': 'done'}\n"
BUSY, CALM = "* * * * * *", "0 5 4 * * *"



def test_cleanup_and_destroy_through_the_cli(tmp_path, terraform_bin, cli_config, kfp_server):
    work = tmp_path / "work"
    work.mkdir()
    (work / "main.tf").write_text(MAIN_TF)
    (work / "pipeline.py").write_text(PIPELINE)
    (work / "sleeper.py").write_text(SLEEPER)
    tf = Terraform(terraform_bin, work, cli_config, {"kfp_host": kfp_server.url, "schedule": BUSY})
    backend = Backend(BackendConfig(host=kfp_server.url))

    def schedule_id():
        return tf.state()["dhkfp_task.tick"]["recurring_run_id"]

    tf.apply()
    old = schedule_id()
    run = until("an active run", lambda: backend.active_runs_of(old))[0]
    tf.variables["schedule"] = CALM
    tf.apply()
    assert schedule_id() != old
    assert tf.state()["dhkfp_task.tick"]["retired_recurring_run_ids"] == [old]
    assert tf.plan_exit() == 0  # its run goes on: nothing to do yet

    backend.terminate_run(run.id)
    backend.wait_run(run.id, timeout=60)
    plan = tf.run("plan", "-input=false", "-no-color").stdout
    assert "cleanup_recurring_run_ids" in plan and "1 to change" in plan
    tf.apply()
    with pytest.raises(ApiError) as gone:
        backend.get_recurring_run(old)
    assert gone.value.not_found
    assert tf.plan_exit() == 0

    tf.variables["schedule"] = BUSY
    tf.apply()
    rid = schedule_id()
    run = until("an active run", lambda: backend.active_runs_of(rid))[0]
    tf.variables["wait_timeout"] = 1
    failed = tf.run("destroy", "-auto-approve", "-input=false", "-no-color", ok=(1,))
    said = " ".join((failed.stdout + failed.stderr).split())  # Terraform wraps long lines
    assert "waiting up to 1s (destroy_wait_timeout)" in said and run.id in said
    assert "destroy_wait_timeout (1s) passed" in said
    assert "dhkfp_task.tick" in tf.state()  # still there, and so is the schedule
    assert backend.get_recurring_run(rid).enabled and not backend.get_run(run.id).terminal

    tf.variables["on_active"] = "cancel"
    done = tf.run("destroy", "-auto-approve", "-input=false", "-no-color")
    said = " ".join((done.stdout + done.stderr).split())
    assert f"canceled run {run.name!r} ({run.id}" in said
    assert backend.wait_run(run.id, timeout=60).state == "CANCELED"
    with pytest.raises(ApiError):
        backend.get_recurring_run(rid)
