"""Owner marks across tools and stacks (issue 11 item 3), with the real CLIs on one KFP.

A Pulumi stack `a` (the real Pulumi CLI) makes the pipeline `shared-wf`. Then:
- stack `b` of the same program is refused at its create, naming `pulumi/a`, and writes
  nothing; its destroy leaves `a`'s objects alone;
- a Terraform configuration declaring the same workflow is refused at apply, naming
  `pulumi/a` and `terraform import`; after an explicit import, its destroy leaves the
  pipeline in KFP (once, this deleted the Pulumi stack's pipeline);
- `a`'s own destroy deletes it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from kfp_kit import kfp_client, writes
from tf_kit import Terraform

sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))
from pulumi_cli_kit import ADDER, PIPELINE, PULUMI, Cli, write_project  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.iac_cli,
    pytest.mark.pulumi_cli,
    pytest.mark.skipif(PULUMI is None, reason="pulumi CLI neither built (scripts/engines.sh) "
                       "nor on PATH: the ownership scenario needs both CLIs"),
]

MAIN_TF = """\
terraform {
  required_providers {
    dhkfp = { source = "dh-kfp.local/dh-kfp/dhkfp" }
  }
}

variable "kfp_host" { type = string }

provider "dhkfp" {
  host  = var.kfp_host
  stack = "ci"
}

resource "dhkfp_workflow" "wf" {
  project = "shared"
  name    = "wf"
  kind    = "kfp"
  code    = file("${path.module}/pipeline.py")
  handler = "pipe"

  function {
    name    = "adder"
    kind    = "python"
    code    = file("${path.module}/adder.py")
    handler = "add"
  }
}
"""

PROGRAM = """\
project.new_workflow(name="wf", kind="kfp", code_src="pipeline.py", handler="pipe")
"""


def pipeline(url: str):
    listed = kfp_client(url).list_pipelines(page_size=100).pipelines or []
    return next((p for p in listed if p.display_name == "shared-wf"), None)


def test_pulumi_stacks_and_terraform_never_share_a_pipeline(
    tmp_path, terraform_bin, cli_config, kfp_server
):
    url = kfp_server.url
    project = write_project(tmp_path / "project", PROGRAM, name="shared")
    stack_a, stack_b = Cli(project, tmp_path, "a"), Cli(project, tmp_path, "b")
    stack_a.init(url)
    stack_a("up", "--yes")
    made = pipeline(url)
    assert made is not None and made.description.endswith("owner=pulumi/a")

    stack_b.init(url)
    before = writes(url)
    refused = stack_b("up", "--yes", check=False)
    out = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert "KFP already has a pipeline named 'shared-wf'" in out
    assert "was made for workflow shared/wf of pulumi/a" in out and "`adopt`" in out
    assert writes(url) == before, "stack b wrote to KFP"
    stack_b("destroy", "--yes")
    assert pipeline(url).pipeline_id == made.pipeline_id

    work = tmp_path / "tf"
    work.mkdir()
    (work / "main.tf").write_text(MAIN_TF)
    (work / "pipeline.py").write_text(PIPELINE % {"function": "adder"})
    (work / "adder.py").write_text(ADDER)
    tf = Terraform(terraform_bin, work, cli_config, {"kfp_host": url})
    before = writes(url)
    applied = tf.run("apply", "-auto-approve", "-input=false", "-no-color", ok=(1,))
    said = " ".join((applied.stdout + applied.stderr).split())
    assert "was made for workflow shared/wf of pulumi/a, not for this workflow of terraform/ci" \
        in said
    assert "terraform import" in said
    assert writes(url) == before, "terraform wrote to KFP"

    # taken over on purpose, then destroyed: the pipeline stays the Pulumi stack's
    tf.run("import", "-input=false", "-no-color", "dhkfp_workflow.wf", made.pipeline_id)
    tf.run("destroy", "-auto-approve", "-input=false", "-no-color")
    assert pipeline(url) is not None, "terraform destroy deleted the Pulumi stack's pipeline"
    assert tf.state() == {}

    stack_a("destroy", "--yes")
    assert pipeline(url) is None
