"""`dh-kfp plan`: the parking example per stack, offline; problems and bad stacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from dh_kfp_pulumi.cli import main

REPO = Path(__file__).resolve().parents[2]
PARKING = REPO / "examples" / "parking"


def compiled_hash(out: Path, name: str) -> str:
    from dh_kfp_pulumi.build import spec_hash_of

    return spec_hash_of((out / f"{name}.yaml").read_text(encoding="utf-8"))


def test_plan_local_prints_every_resource_and_writes_the_ir(tmp_path, capsys):
    out = tmp_path / "ir"
    assert main(["plan", str(PARKING), "--stack", "local", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    digest = compiled_hash(out, "parking-workflow")
    assert "Workflow parking-workflow" in text and f"sha256:{digest}" in text
    assert f"version {digest[:16]}" in text
    assert "Task     parking-workflow-nightly" in text and "KFP cron '0 5 4 * * *'" in text
    assert "Task     parking-workflow-once" in text and "Run      parking-workflow-once" in text
    assert "1 workflow, 2 tasks, 1 run; 1 IR file(s) written; no problems" in text
    ir = next(yaml.safe_load_all((out / "parking-workflow.yaml").read_text()))
    assert ir["pipelineInfo"]["name"] == "parking-workflow"
    assert sorted(ir["root"]["dag"]["tasks"]) == ["download", "extract-parking"]


def test_plan_dev_compiles_the_tasks_own_versions_with_the_kubernetes_objects(tmp_path, capsys):
    out = tmp_path / "ir"
    assert main(["plan", str(PARKING), "-s", "dev", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "own version" in text and "KFP cron '0 0 */6 * * *'" in text
    assert "parking-credentials (kubernetes:core/v1:Secret)" in text
    assert "warning: parking:apiToken is not set" in text  # the program's own log
    _, platform = yaml.safe_load_all((out / "parking-workflow-nightly.yaml").read_text())
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert sorted(executors) == ["exec-download", "exec-extract-parking"]
    for executor in executors.values():
        assert executor["pvcMount"][0]["constant"].startswith("parking-data-")  # real name
        assert executor["secretAsVolume"][0]["secretName"].startswith("parking-credentials-")
        assert executor["tolerations"][0]["value"] == "dev"  # from the stack's profile
    workflow_docs = list(yaml.safe_load_all((out / "parking-workflow.yaml").read_text()))
    assert len(workflow_docs) == 2  # the workflow's own version: pod labels only


def test_plan_reports_check_problems_with_their_field(tmp_path, capsys):
    args = ["plan", str(PARKING), "-s", "prod", "--out", str(tmp_path), "-c", "parking:profile=gpu"]
    assert main(args) == 1
    text = capsys.readouterr().out
    assert "! profile: unknown profile; defined: standard (got 'gpu')" in text
    assert "2 problem(s)" in text


def test_plan_errors_name_the_stack_or_the_program(tmp_path, capsys):
    assert main(["plan", str(PARKING), "-s", "staging", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "stack 'staging' has no config file" in err and "stacks: dev, local, prod" in err

    program = tmp_path / "prog"
    program.mkdir()
    (tmp_path / "Pulumi.yaml").write_text("name: broken\nruntime: python\nmain: prog/\n")
    (tmp_path / "Pulumi.local.yaml").write_text("config: {}\n")
    (program / "__main__.py").write_text(
        "import dh_kfp_pulumi as dh\n"
        "project = dh.Project('broken')\n"
        "project.new_workflow(name='w', project='x', code='def h():\\n    pass\\n', handler='h')\n"
    )
    assert main(["plan", str(program), "--out", str(tmp_path / "ir")]) == 2
    err = capsys.readouterr().err
    assert "project: must not be set: it is set by the project 'broken'" in err


def test_plan_as_a_command(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "dh_kfp_pulumi", "plan", str(PARKING), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "parking-workflow.yaml").is_file()


SEED_TASK = REPO / "tests" / "fixtures" / "task-kfp-pipeline.json"


def entity_program(tmp_path: Path, entity: dict) -> Path:
    from kfp_kit import ADDER, PIPELINE

    program = tmp_path / "prog"
    program.mkdir()
    (tmp_path / "Pulumi.yaml").write_text("name: demo\nruntime: python\nmain: prog/\n")
    (tmp_path / "Pulumi.local.yaml").write_text(
        "config:\n  dh-kfp:profiles:\n    1xa100:\n      resources: {gpu_type: nvidia.com/gpu}\n"
    )
    (program / "pipe.py").write_text(PIPELINE)
    (program / "adder.py").write_text(ADDER)
    (program / "task.json").write_text(json.dumps(entity))
    (program / "__main__.py").write_text(
        "import dh_kfp_pulumi as dh\n"
        "project = dh.Project('demo')\n"
        "project.new_function(name='adder', kind='python', code_src='adder.py', handler='add')\n"
        "wf = project.new_workflow(name='wf', code_src='pipe.py', handler='pipe')\n"
        "wf.run(entity='task.json', name='seed')\n"
    )
    return program


def test_plan_refuses_the_seed_task_entity_naming_what_kfp_cannot_express(tmp_path, capsys):
    program = entity_program(tmp_path, json.loads(SEED_TASK.read_text()))
    assert main(["plan", str(program), "--out", str(tmp_path / "ir")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dh-kfp plan: invalid task entity task.json:\n")
    assert "spec.priority_class: KFP cannot express a pod's priority class" in err
    assert "spec.runtime_class: KFP cannot express a pod's runtime class" in err


def test_plan_warns_naming_the_task_entitys_platform_fields(tmp_path, capsys):
    entity = json.loads(SEED_TASK.read_text())
    del entity["spec"]["priority_class"], entity["spec"]["runtime_class"]
    program = entity_program(tmp_path, entity)
    assert main(["plan", str(program), "--out", str(tmp_path / "ir")]) == 0
    text = capsys.readouterr().out
    assert (
        "  program: warning: task entity task.json: 13 field(s) not carried over (DigitalHub's "
        "platform bookkeeping: ids, status, metadata, references to other entities): id, key, "
        "metadata.created, metadata.created_by, metadata.name, metadata.project, "
        "metadata.updated, metadata.updated_by, name, project, spec.workflow, status, user\n"
    ) in text
    assert "Task     demo-wf-seed" in text and "KFP cron '0 5 4 * * *'" in text
    _, platform = yaml.safe_load_all((tmp_path / "ir" / "demo-wf-seed.yaml").read_text())
    (executor,) = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"].values()
    assert executor["securityContext"] == {"runAsUser": "1000"}
