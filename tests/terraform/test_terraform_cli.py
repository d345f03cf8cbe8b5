"""DESIGN.md layer 7: the real `terraform` CLI over the reconcile core, on the embedded server.

One server and one working directory for the parking example (examples/terraform/main.tf,
its sources copied so they can change), the tests in order: apply, a no-op plan with zero
KFP writes, a code change, drift repaired, a re-import of our own objects, destroy. Then
importing objects made by hand with kfp.Client, and invalid config stopped by
`terraform validate` / `plan` with reconcile's own messages.
"""

from __future__ import annotations

import json
import shutil

import pytest
from kfp_kit import kfp_client, writes
from tf_kit import EXAMPLES, Terraform, actions, change, drift

from dh_kfp_pulumi import reconcile
from dh_kfp_pulumi.backends import BackendConfig

pytestmark = [pytest.mark.iac_cli, pytest.mark.slow]

TOKEN = "tf-test-token-8d1f0c"  # passed as the provider's token; must never be written down


def pipelines(c):
    return c.list_pipelines(page_size=100).pipelines or []


def versions(c, pipeline_id):
    return c.list_pipeline_versions(pipeline_id, page_size=100).pipeline_versions or []


def recurring_runs(c):
    return c.list_recurring_runs(page_size=100).recurring_runs or []


@pytest.fixture(scope="module")
def parking(tmp_path_factory, terraform_bin, cli_config, kfp_server):
    """The example's working directory (main.tf as shipped) and a copy of its sources."""
    root = tmp_path_factory.mktemp("tf-parking")
    shutil.copytree(EXAMPLES / "parking", root / "parking")
    work = root / "work"
    work.mkdir()
    shutil.copy(EXAMPLES / "terraform" / "main.tf", work / "main.tf")
    variables = {
        "kfp_host": kfp_server.url,
        "kfp_token": TOKEN,
        "parking_dir": str(root / "parking"),
        "delete_runs_on_destroy": True,
    }
    return Terraform(terraform_bin, work, cli_config, variables)


def test_apply_creates_pipeline_version_schedule_and_a_run_that_succeeds(parking, kfp_server):
    parking.apply()
    state = parking.state()
    wf, task, run = (state[f"dhkfp_{k}"] for k in ("workflow.parking", "task.nightly", "run.once"))
    c = kfp_client(kfp_server.url)
    (pipeline,) = pipelines(c)
    assert pipeline.display_name == "parking-workflow" == wf["pipeline_name"]
    (version,) = versions(c, pipeline.pipeline_id)
    assert version.display_name == wf["version_name"] == wf["spec_hash"][:16]
    (schedule,) = recurring_runs(c)
    assert schedule.recurring_run_id == task["recurring_run_id"]
    assert schedule.trigger.cron_schedule.cron == "0 5 4 * * *" == task["cron"]
    assert schedule.pipeline_version_reference.pipeline_version_id == wf["version_id"]
    assert run["state"] == "SUCCEEDED" and run["version_id"] == wf["version_id"]
    assert c.get_run(run["run_id"]).state == "SUCCEEDED"


def test_a_second_plan_changes_nothing_and_writes_nothing(parking, kfp_server):
    before = writes(kfp_server.url)
    assert parking.plan_exit() == 0
    assert writes(kfp_server.url) == before


def test_changed_function_code_is_one_new_version_and_the_schedule_moves(parking, kfp_server):
    old = parking.state()
    source = parking.workdir.parent / "parking" / "src" / "extract.py"
    source.write_text(source.read_text() + "\n# counts free slots too\n")

    plan = parking.plan_json()
    assert actions(plan) == {
        "dhkfp_workflow.parking": ["update"],  # in place: a new version of the same pipeline
        "dhkfp_task.nightly": ["update"],  # the schedule moves to it
        "dhkfp_run.once": ["delete", "create"],  # a run is immutable
    }
    wf = change(plan, "dhkfp_workflow.parking")
    assert wf["after"]["spec_hash"] != wf["before"]["spec_hash"]
    assert wf["after"]["version_name"] == wf["after"]["spec_hash"][:16]
    assert (
        wf["after_unknown"].get("version_id")
        and wf["after"]["pipeline_id"] == old["dhkfp_workflow.parking"]["pipeline_id"]
    )
    assert change(plan, "dhkfp_task.nightly")["after_unknown"].get("recurring_run_id")
    assert change(plan, "dhkfp_run.once")["replace_paths"] == [["version_id"]]

    parking.apply("tfplan")
    new = parking.state()
    c = kfp_client(kfp_server.url)
    pid = new["dhkfp_workflow.parking"]["pipeline_id"]
    names = sorted(v.display_name for v in versions(c, pid))
    assert names == sorted([old["dhkfp_workflow.parking"]["version_name"],
                            new["dhkfp_workflow.parking"]["version_name"]])  # fmt: skip
    (schedule,) = recurring_runs(c)  # the old one retired, never two
    assert schedule.recurring_run_id == new["dhkfp_task.nightly"]["recurring_run_id"]
    assert schedule.recurring_run_id != old["dhkfp_task.nightly"]["recurring_run_id"]
    assert (
        schedule.pipeline_version_reference.pipeline_version_id
        == new["dhkfp_workflow.parking"]["version_id"]
    )
    assert new["dhkfp_run.once"]["state"] == "SUCCEEDED"
    assert parking.plan_exit() == 0


def test_deleted_schedule_and_version_show_as_drift_and_apply_restores_them(parking, kfp_server):
    state = parking.state()
    wf, task = state["dhkfp_workflow.parking"], state["dhkfp_task.nightly"]
    c = kfp_client(kfp_server.url)
    c.delete_recurring_run(task["recurring_run_id"])
    c.delete_pipeline_version(wf["pipeline_id"], wf["version_id"])

    plan = parking.plan_json()
    assert drift(plan) == {"dhkfp_task.nightly": ["delete"], "dhkfp_workflow.parking": ["update"]}
    drifted = next(d["change"] for d in plan["resource_drift"] if "workflow" in d["address"])
    assert drifted["after"]["version_id"] == "" and drifted["after"]["spec_hash"] == ""
    assert actions(plan)["dhkfp_task.nightly"] == ["create"]
    assert actions(plan)["dhkfp_workflow.parking"] == ["update"]

    parking.apply("tfplan")
    fixed = parking.state()
    assert fixed["dhkfp_workflow.parking"]["version_name"] == wf["version_name"]
    names = [v.display_name for v in versions(c, wf["pipeline_id"])]
    assert wf["version_name"] in names
    (schedule,) = recurring_runs(c)
    assert schedule.recurring_run_id == fixed["dhkfp_task.nightly"]["recurring_run_id"]
    assert parking.plan_exit() == 0


def test_reimporting_our_own_objects_records_the_config_and_writes_nothing(parking, kfp_server):
    state = parking.state()
    addresses = ("dhkfp_workflow.parking", "dhkfp_task.nightly", "dhkfp_run.once")
    parking.run("state", "rm", *addresses, variables=False)
    ids = ("parking-workflow", state[addresses[1]]["recurring_run_id"], state[addresses[2]]["id"])
    for address, id in zip(addresses, ids, strict=True):  # a pipeline by name, the others by id
        parking.run("import", "-no-color", "-input=false", address, id)
    imported = parking.state()
    assert imported["dhkfp_task.nightly"]["schedule"] == "5 4 * * *"  # as written in main.tf
    assert imported["dhkfp_task.nightly"]["name"] == "workflow-nightly"  # our marker in KFP
    assert imported["dhkfp_run.once"]["name"] == "workflow-once"

    plan = parking.plan_json()
    # KFP keeps the compiled IR, not the source, and nothing of a run's `wait` or
    # `delete_on_destroy`: the import cannot read them back, so the plan records them
    # (in place); everything KFP knows matches, nothing is replaced
    assert actions(plan) == {
        "dhkfp_workflow.parking": ["update"],
        "dhkfp_task.nightly": ["no-op"],
        "dhkfp_run.once": ["update"],
    }
    wf = change(plan, "dhkfp_workflow.parking")
    assert wf["after"]["version_id"] == wf["before"]["version_id"]  # same hash, same version
    before = writes(kfp_server.url)
    parking.apply("tfplan")
    assert writes(kfp_server.url) == before
    assert parking.plan_exit() == 0


def test_the_token_is_in_no_state_and_no_output(parking):
    assert TOKEN not in (parking.workdir / "terraform.tfstate").read_text()
    # `show -json` of a saved plan prints variables, sensitive ones too: Terraform's own
    # rule (plan files hold them in clear); every other command's output keeps it hidden
    leaks = [cmd for cmd, text in parking.transcript if TOKEN in text and cmd != "show"]
    assert leaks == [] and len(parking.transcript) > 10


def test_destroy_leaves_nothing_on_the_server(parking, kfp_server):
    parking.run("destroy", "-auto-approve", "-input=false", "-no-color")
    c = kfp_client(kfp_server.url)
    assert pipelines(c) == [] and recurring_runs(c) == []
    assert (c.list_runs(page_size=100).runs or []) == []  # delete_on_destroy: history too


# ---- import of objects made by hand ------------------------------------------------------

IMPORT_TF = """
terraform {
  required_providers {
    dhkfp = { source = "dh-kfp.local/dh-kfp/dhkfp" }
  }
}
variable "kfp_host" { type = string }
variable "src" { type = string }
provider "dhkfp" { host = var.kfp_host }

resource "dhkfp_workflow" "legacy" {
  project  = "legacy"
  name     = "pipeline"
  kind     = "kfp"
  code_src = "${var.src}/pipeline.py"
  handler  = "myhandler"
  function {
    name     = "downloader-funct"
    kind     = "python"
    code_src = "${var.src}/src/download.py"
    handler  = "download"
  }
  function {
    name     = "extract-parkings"
    kind     = "python"
    code_src = "${var.src}/src/extract.py"
    handler  = "extract"
  }
}

resource "dhkfp_task" "nightly" {
  project             = "legacy"
  name                = "nightly"
  pipeline_id         = dhkfp_workflow.legacy.pipeline_id
  workflow_version_id = dhkfp_workflow.legacy.version_id
  schedule            = "5 4 * * *"
  inputs              = { url = "${var.src}/data/parkings.csv" }
}

data "dhkfp_pipeline" "legacy" {
  name = "legacy-pipeline"
}

output "looked_up" {
  value = data.dhkfp_pipeline.legacy.pipeline_id
}
"""


def test_import_of_a_hand_made_pipeline_and_recurring_run(
    tmp_path, terraform_bin, cli_config, kfp_server
):
    src = str(EXAMPLES / "parking")
    props = reconcile.resolve_sources(
        {"project": "legacy", "name": "pipeline", "kind": "kfp", "code_src": "pipeline.py",
         "handler": "myhandler", "functions": [
             {"name": "downloader-funct", "kind": "python", "code_src": "src/download.py",
              "handler": "download"},
             {"name": "extract-parkings", "kind": "python", "code_src": "src/extract.py",
              "handler": "extract"}]},
        src,
    )  # fmt: skip
    package = tmp_path / "legacy.yaml"
    package.write_text(reconcile.workflow.build(props, BackendConfig()).yaml)
    c = kfp_client(kfp_server.url)
    made = c.upload_pipeline(str(package), pipeline_name="legacy-pipeline")
    (hand_version,) = versions(c, made.pipeline_id)
    experiment = c.create_experiment("legacy")
    schedule = c.create_recurring_run(
        experiment_id=experiment.experiment_id,
        job_name="legacy-nightly",
        cron_expression="0 5 4 * * *",
        pipeline_id=made.pipeline_id,
        version_id=hand_version.pipeline_version_id,
        params={"url": f"{src}/data/parkings.csv"},
    )

    work = tmp_path / "work"
    work.mkdir()
    (work / "main.tf").write_text(IMPORT_TF)
    tf = Terraform(terraform_bin, work, cli_config, {"kfp_host": kfp_server.url, "src": src})
    tf.run("import", "-no-color", "-input=false", "dhkfp_workflow.legacy", made.pipeline_id)
    tf.run("import", "-no-color", "-input=false", "dhkfp_task.nightly", schedule.recurring_run_id)

    plan = tf.plan_json()
    # in place only: the source is recorded and, this version not being ours, a version
    # named by our hash is added; the schedule moves to it (nothing replaced or destroyed)
    assert actions(plan) == {"dhkfp_workflow.legacy": ["update"], "dhkfp_task.nightly": ["update"]}
    assert plan["planned_values"]["outputs"]["looked_up"]["value"] == made.pipeline_id
    tf.apply("tfplan")
    assert tf.plan_exit() == 0
    state = tf.state()
    assert state["dhkfp_workflow.legacy"]["pipeline_id"] == made.pipeline_id
    assert len(versions(c, made.pipeline_id)) == 2  # the hand-made one is kept
    (live,) = recurring_runs(c)
    assert live.recurring_run_id == state["dhkfp_task.nightly"]["recurring_run_id"]

    tf.run("destroy", "-auto-approve", "-input=false", "-no-color")
    assert pipelines(c) == [] and recurring_runs(c) == []


# ---- invalid config ----------------------------------------------------------------------

BAD_TF = """
terraform {
  required_providers {
    dhkfp = { source = "dh-kfp.local/dh-kfp/dhkfp" }
  }
}
provider "dhkfp" { host = "http://127.0.0.1:9" }

resource "dhkfp_workflow" "unknown_function" {
  project = "bad"
  name    = "wf"
  kind    = "kfp"
  code    = "%(pipeline)s"
  handler = "pipe"
  function {
    name    = "adder"
    kind    = "python"
    code    = "def add(x):\\n    return x\\n"
    handler = "add"
  }
}

resource "dhkfp_task" "bad_schedule_and_volume" {
  project             = "bad"
  name                = "t"
  pipeline_id         = "p"
  workflow_version_id = "v"
  workflow_spec       = "%(spec)s"
  schedule            = "5 4 * *"
  volumes             = [{ name = "data", volume_type = "nfs", mount_path = "/data" }]
}
"""

BAD_PIPELINE = (
    "from dh_kfp_pulumi.dsl import pipeline_context\\n"
    "def pipe(x: int = 1):\\n"
    "    with pipeline_context() as pc:\\n"
    "        pc.step(name='s', function='subtract', action='job', inputs={'x': x})\\n"
)


def test_invalid_config_stops_validate_and_plan_with_reconciles_messages(
    tmp_path, terraform_bin, cli_config
):
    spec = json.dumps({"project": "bad", "name": "wf", "kind": "kfp", "code": "x", "handler": "x"})
    (tmp_path / "main.tf").write_text(
        BAD_TF % {"pipeline": BAD_PIPELINE, "spec": spec.replace('"', '\\"')}
    )
    tf = Terraform(terraform_bin, tmp_path, cli_config, {})

    # what reconcile's check (the Pulumi adapter's Check) says about the same props
    code = BAD_PIPELINE.encode().decode("unicode_escape")
    _, wf_problems = reconcile.workflow.check(
        {"project": "bad", "name": "wf", "kind": "kfp", "code": code, "handler": "pipe",
         "functions": [{"name": "adder", "kind": "python", "code": "def add(x):\n    return x\n",
                        "handler": "add"}]},
        BackendConfig(),
    )  # fmt: skip
    _, task_problems = reconcile.task.check(
        {"project": "bad", "name": "t", "pipeline_id": "p", "workflow_version_id": "v",
         "workflow_spec": json.loads(spec), "schedule": "5 4 * *",
         "volumes": [{"name": "data", "volume_type": "nfs", "mount_path": "/data"}]},
        BackendConfig(),
    )  # fmt: skip
    expected = {str(p) for p in (*wf_problems, *task_problems)}
    assert any("subtract" in e and "adder" in e for e in expected)
    assert any(e.startswith("schedule:") for e in expected)
    assert any(e.startswith("volumes[0].volume_type:") and "nfs" in e for e in expected)

    # validate leaves the build (and its problems) to the plan: it needs the provider's
    # build settings, and kfp, which validation never imports
    validated = json.loads(tf.run("validate", "-json", ok=(1,), variables=False).stdout)
    errors = {d["summary"]: d for d in validated["diagnostics"] if d["severity"] == "error"}
    assert set(errors) == {e for e in expected if "subtract" not in e}
    assert errors[next(e for e in expected if e.startswith("schedule:"))]["snippet"]["code"].strip()
    assert validated["valid"] is False

    planned = tf.run("plan", "-json", "-input=false", ok=(1,), variables=False)
    lines = [json.loads(line) for line in planned.stdout.splitlines() if line.strip()]
    plan_errors = {
        m["diagnostic"]["summary"]
        for m in lines
        if m.get("type") == "diagnostic" and m["diagnostic"]["severity"] == "error"
    }
    assert plan_errors == set(errors)  # validation's errors stop the plan before it builds
