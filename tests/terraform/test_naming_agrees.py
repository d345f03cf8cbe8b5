"""One naming across front-ends (issue 13): the Terraform example (examples/terraform/main.tf)
declares what the Pulumi example's `local` stack declares, so KFP gets the same names (the
schedule `parking-workflow-nightly`, the run `parking-workflow-once`) and the same pipeline
version (spec hash) from either. main.tf is read as written (no Terraform CLI needed); the
workflow's hash is computed by the core, as the Terraform provider does at plan time."""

from __future__ import annotations

import re
from pathlib import Path

from dh_kfp_pulumi.backends import config_from_mapping
from dh_kfp_pulumi.build import pipeline_name
from dh_kfp_pulumi.cli.plan import plan_program
from dh_kfp_pulumi.reconcile import resolve_sources, workflow

REPO = Path(__file__).resolve().parents[2]
PARKING = REPO / "examples" / "parking"
MAIN_TF = REPO / "examples" / "terraform" / "main.tf"


def resources(text: str) -> dict[str, str]:
    """`type.name` -> the block's body (top-level blocks end with a `}` alone on a line)."""
    return {f"{kind}.{name}": body for kind, name, body in
            re.findall(r'^resource "(\w+)" "(\w+)" \{\n(.*?)^\}', text, re.M | re.S)}


def attribute(body: str, key: str) -> str:
    """The first `key = "..."` at the block's own indentation (two spaces)."""
    found = re.search(rf'^  {key}\s*=\s*"([^"]*)"', body, re.M)
    assert found, f"no {key} in {body[:200]}"
    return found.group(1)


def variable_default(text: str, name: str) -> str:
    found = re.search(rf'^variable "{name}" \{{.*?^\s*default\s*=\s*"([^"]*)"', text, re.M | re.S)
    assert found, f"no default for var.{name}"
    return found.group(1)


def test_the_terraform_example_gets_the_pulumi_examples_kfp_names_and_hash():
    text = MAIN_TF.read_text()
    blocks = resources(text)
    plan = plan_program(PARKING, stack="local")
    declared = {(d.kind, d.name): d.inputs for d in plan.declared}

    # The schedule and the run: `<project>-<name>` in KFP, whichever front-end made them.
    pulumi_task = declared[("task", "parking-workflow-nightly")]
    pulumi_run = declared[("run", "parking-workflow-once")]
    tf_task, tf_run = blocks["dhkfp_task.nightly"], blocks["dhkfp_run.once"]
    assert pipeline_name("parking", attribute(tf_task, "name")) == \
        pipeline_name(pulumi_task["project"], pulumi_task["name"]) == "parking-workflow-nightly"
    assert pipeline_name("parking", attribute(tf_run, "name")) == \
        pipeline_name(pulumi_run["project"], pulumi_run["name"]) == "parking-workflow-once"
    assert attribute(tf_task, "schedule") == pulumi_task["schedule"]

    # The workflow: the same pipeline, and the same version (spec hash).
    body = blocks["dhkfp_workflow.parking"]
    src = str(PARKING)
    stack = variable_default(text, "stack")
    labels = re.search(r'^  labels\s*=\s*\[(.*?)\]', body, re.M).group(1)
    functions = [
        {"name": name, "kind": kind, "code_src": code_src.replace("${local.src}", src),
         "handler": handler}
        for name, kind, code_src, handler in re.findall(
            r'function \{\s*name\s*=\s*"([^"]+)"\s*kind\s*=\s*"([^"]+)"\s*'
            r'code_src\s*=\s*"([^"]+)"\s*handler\s*=\s*"([^"]+)"', body)]
    props = {
        "project": attribute(body, "project"), "name": attribute(body, "name"),
        "kind": attribute(body, "kind"),
        "code_src": attribute(body, "code_src").replace("${local.src}", src),
        "handler": attribute(body, "handler"),
        "labels": [v.replace("${var.stack}", stack) for v in re.findall(r'"([^"]*)"', labels)],
        "functions": functions,
    }
    inputs, problems = workflow.check(resolve_sources(props, REPO),
                                      config_from_mapping({}))
    assert problems == []
    pulumi_workflow = declared[("workflow", "parking-workflow")]
    assert pipeline_name(props["project"], props["name"]) == "parking-workflow"
    assert [f["name"] for f in functions] == [f["name"] for f in pulumi_workflow["functions"]]
    assert inputs["spec_hash"] == pulumi_workflow["spec_hash"]
