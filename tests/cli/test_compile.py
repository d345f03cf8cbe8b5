"""`dh-kfp compile`: flags, a spec file, errors; once as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dh_kfp_pulumi.build import build_workflow
from dh_kfp_pulumi.cli import main
from dh_kfp_pulumi.specs import parse_function, parse_workflow

PARKING = Path(__file__).resolve().parents[2] / "examples" / "parking"
FLAGS = [
    "compile",
    "--project",
    "parking",
    "--name",
    "workflow",
    "--workflow",
    "pipeline.py:myhandler",
    "--function",
    "downloader-funct=src/download.py:download",
    "--function",
    "extract-parkings=src/extract.py:extract",
    "--base-dir",
    str(PARKING),
]


def expected_hash(**extract_fields):
    fns = [
        parse_function(
            {
                "name": "downloader-funct",
                "kind": "python",
                "code_src": "src/download.py",
                "handler": "download",
            },
            project="parking",
        ),
        parse_function(
            {
                "name": "extract-parkings",
                "kind": "python",
                "code_src": "src/extract.py",
                "handler": "extract",
                **extract_fields,
            },
            project="parking",
        ),
    ]
    wf = parse_workflow(
        {"name": "workflow", "kind": "kfp", "code_src": "pipeline.py", "handler": "myhandler"},
        project="parking",
    )
    return build_workflow(wf, fns, base_dir=PARKING).spec_hash


def test_compile_with_flags_writes_the_yaml_and_prints_the_hash(tmp_path, capsys):
    out = tmp_path / "p.yaml"
    assert main([*FLAGS, "-o", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        f"wrote {out}",
        "pipeline parking-workflow: steps download, extract_parking; parameters url: STRING",
        f"sha256 {expected_hash()}",
    ]
    ir = yaml.safe_load(out.read_text())
    assert set(ir["root"]["dag"]["tasks"]) == {"download", "extract-parking"}


def test_default_output_name_and_stdout(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(FLAGS) == 0
    assert (tmp_path / "parking-workflow.yaml").is_file()
    capsys.readouterr()
    assert main([*FLAGS, "-o", "-"]) == 0
    captured = capsys.readouterr()
    assert captured.out == (tmp_path / "parking-workflow.yaml").read_text()
    assert f"sha256 {expected_hash()}" in captured.err


def test_function_options(tmp_path, capsys):
    args = [
        *FLAGS,
        "--requirements",
        "extract-parkings=pandas",
        "--function-image",
        "extract-parkings=python:3.12",
        "-o",
        str(tmp_path / "p.yaml"),
    ]
    assert main(args) == 0
    assert (
        f"sha256 {expected_hash(requirements=['pandas'], image='python:3.12')}"
        in capsys.readouterr().out
    )


def test_spec_file_is_relative_to_its_directory(tmp_path, capsys, monkeypatch):
    spec = {
        "project": "parking",
        "workflow": {"name": "workflow", "code_src": "pipeline.py", "handler": "myhandler"},
        "functions": [
            {
                "name": "downloader-funct",
                "kind": "python",
                "code_src": "src/download.py",
                "handler": "download",
            },
            {
                "name": "extract-parkings",
                "kind": "python",
                "code_src": "src/extract.py",
                "handler": "extract",
            },
        ],
    }
    spec_file = tmp_path / "project.json"
    # absolute code_src first: the sources are not beside this spec file
    for entry in [spec["workflow"], *spec["functions"]]:
        entry["code_src"] = str(PARKING / entry["code_src"])
    spec_file.write_text(json.dumps(spec))
    monkeypatch.chdir(tmp_path)
    assert main(["compile", "--spec", str(spec_file), "-o", "out.yaml"]) == 0
    assert (tmp_path / "out.yaml").is_file()
    # same pipeline, same hash as from flags (code_src is not part of the IR)
    assert f"sha256 {expected_hash()}" in capsys.readouterr().out

    # relative code_src: from the spec file's directory, not the current one
    yaml_spec = tmp_path / "sub" / "project.yaml"
    yaml_spec.parent.mkdir()
    (yaml_spec.parent / "flow.py").write_text((PARKING / "pipeline.py").read_text())
    spec["workflow"]["code_src"] = "flow.py"
    yaml_spec.write_text(yaml.safe_dump(spec))
    assert main(["compile", "--spec", str(yaml_spec), "-o", "-"]) == 0
    assert "# Name: parking-workflow" in capsys.readouterr().out


def test_task_settings_from_a_file(tmp_path, capsys):
    task = tmp_path / "task.yaml"
    task.write_text("envs:\n  - {name: MODE, value: fast}\n")
    assert main([*FLAGS, "--task", str(task), "-o", "-"]) == 0
    assert "name: MODE" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["compile", "--workflow", "p.py:h"], "project: required: --project NAME"),
        (["compile", "--project", "p"], "workflow: required: --workflow FILE:HANDLER"),
        (
            ["compile", "--project", "p", "--workflow", "pipeline.py"],
            "--workflow: must be FILE:HANDLER",
        ),
        ([*FLAGS, "--function", "oops"], "--function: must be NAME=VALUE (got 'oops')"),
        (
            [*FLAGS, "--requirements", "nope=pandas"],
            "--requirements: no function 'nope'; declared: ['downloader-funct', 'extract-parkings']",
        ),
        (
            FLAGS[:7] + ["--base-dir", str(PARKING)],
            "step 'download': function: is not a function of the project; known: []",
        ),
        (
            ["compile", "--spec", "/nonexistent/spec.yaml"],
            "--spec /nonexistent/spec.yaml: cannot read it",
        ),
    ],
)
def test_errors_are_one_clear_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("dh-kfp compile: ")
    assert message in err
    assert "Traceback" not in err


def test_unknown_spec_keys(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text("project: p\nworkflows: {}\n")
    assert main(["compile", "--spec", str(spec)]) == 2
    assert "unknown keys ['workflows']" in capsys.readouterr().err


def test_compile_as_a_subprocess(tmp_path):
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    out = subprocess.run(
        [sys.executable, "-m", "dh_kfp_pulumi", *FLAGS, "-o", str(tmp_path / "p.yaml")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith(f"sha256 {expected_hash()}")
    assert (
        (tmp_path / "p.yaml").read_text().startswith("# dh-kfp-pulumi: workflow handler myhandler")
    )


# ---- the seed's task entity, end to end ---------------------------------------------------

SEED_TASK = Path(__file__).resolve().parents[1] / "fixtures" / "task-kfp-pipeline.json"
SEED_IGNORED = (
    "id, key, metadata.created, metadata.created_by, metadata.name, metadata.project, "
    "metadata.updated, metadata.updated_by, name, project, spec.workflow, status, user"
)


def seed_spec(tmp_path: Path, entity: dict, *, inline: bool = False) -> Path:
    """A --spec of the parking project whose task is the entity (a file beside it, or inline)."""
    (tmp_path / "task.json").write_text(json.dumps(entity))
    spec = {
        "project": "parking",
        "workflow": {"name": "workflow", "code_src": str(PARKING / "pipeline.py"),
                     "handler": "myhandler"},
        "functions": [
            {"name": "downloader-funct", "kind": "python",
             "code_src": str(PARKING / "src" / "download.py"), "handler": "download"},
            {"name": "extract-parkings", "kind": "python",
             "code_src": str(PARKING / "src" / "extract.py"), "handler": "extract"},
        ],
        "task": entity if inline else "task.json",
        "profiles": {"1xa100": {"resources": {"gpu_type": "nvidia.com/gpu"}}},
    }  # fmt: skip
    path = tmp_path / "project.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_the_seed_task_entity_is_refused_naming_what_kfp_cannot_express(tmp_path, capsys):
    entity = json.loads(SEED_TASK.read_text())
    assert main(["compile", "--spec", str(seed_spec(tmp_path, entity)), "-o", "-"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err
    assert err.startswith("dh-kfp compile: invalid task entity (task task.json):\n")
    assert "  - spec.priority_class: KFP cannot express a pod's priority class" in err
    assert "  - spec.runtime_class: KFP cannot express a pod's runtime class" in err
    assert "PriorityClass with globalDefault: true" in err and "mutating admission policy" in err
    assert err.count("(got 'test')") == 2
    assert "Traceback" not in err


@pytest.mark.parametrize("inline", [False, True])
def test_the_seed_task_entity_reaches_the_ir_and_its_platform_fields_are_warned(
    tmp_path, capsys, inline
):
    entity = json.loads(SEED_TASK.read_text())
    del entity["spec"]["priority_class"], entity["spec"]["runtime_class"]
    spec = seed_spec(tmp_path, entity, inline=inline)
    assert main(["compile", "--spec", str(spec), "-o", str(tmp_path / "out.yaml")]) == 0
    err = capsys.readouterr().err
    where = "task" if inline else "task task.json"
    assert err == (
        f"dh-kfp compile: warning: task entity ({where}): 13 field(s) not carried over "
        "(DigitalHub's platform bookkeeping: ids, status, metadata, references to other "
        f"entities): {SEED_IGNORED}\n"
    )
    pipeline, platform = yaml.safe_load_all((tmp_path / "out.yaml").read_text())
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert sorted(executors) == ["exec-download", "exec-extract-parking"]
    for executor in executors.values():
        assert executor["securityContext"] == {"runAsUser": "1000"}  # spec.run_as_user
        assert executor["nodeSelector"] == {"labels": {"node1": "value1"}}
        assert executor["emptyDirMounts"] == [{"volumeName": "volume1", "mountPath": "/volume1"}]
        assert [m["mountPath"] for m in executor["pvcMount"]] == ["/volume2"]
        assert [s["secretName"] for s in executor["secretAsVolume"]] == ["secret-key"]
        assert "nodeAffinity" not in executor and "tolerations" not in executor  # {} and []
    for executor in pipeline["deploymentSpec"]["executors"].values():
        container = executor["container"]
        assert {"name": "USER", "value": "test"} in container["env"]
        accelerator = container["resources"]["accelerator"]
        assert (accelerator["resourceType"], accelerator["resourceCount"]) == (
            "nvidia.com/gpu",
            "1",
        )
        assert container["resources"]["resourceCpuLimit"] == "1"
        assert container["resources"]["resourceMemoryLimit"] == "1Gi"


def test_task_file_flag_takes_an_entity_too_and_plain_settings_warn_nothing(tmp_path, capsys):
    entity = json.loads(SEED_TASK.read_text())
    del entity["spec"]["priority_class"], entity["spec"]["runtime_class"], entity["spec"]["profile"]
    (tmp_path / "entity.json").write_text(json.dumps(entity))
    assert main([*FLAGS, "--task", str(tmp_path / "entity.json"), "-o", "-"]) == 0
    captured = capsys.readouterr()
    assert "runAsUser: '1000'" in captured.out
    assert f"warning: task entity (--task {tmp_path / 'entity.json'}): 13 field(s)" in captured.err
    (tmp_path / "plain.yaml").write_text("run_as_user: 1000\nrun_as_group: 1000\n")
    assert main([*FLAGS, "--task", str(tmp_path / "plain.yaml"), "-o", "-"]) == 0
    captured = capsys.readouterr()
    assert "runAsGroup: '1000'" in captured.out and "warning" not in captured.err


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ({"kind": "kfp", "spec": {}}, "task: kind: a task entity has kind 'kfp+pipeline'"),
        ({"priority_class": "high"}, "priority_class: KFP cannot express a pod's priority class"),
        ({"run_as_user": "root"}, "run_as_user: must be a whole number from 0 to 2147483647"),
        ("nope.json", "task "),
        ([1], "task: must be a mapping of pod settings, a task entity or a file path"),
    ],
)
def test_bad_tasks_in_the_spec_are_named(tmp_path, capsys, task, message):
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"task": task}))
    assert main([*FLAGS, "--spec", str(spec), "-o", "-"]) == 2
    err = capsys.readouterr().err
    assert message in err
    if task == "nope.json":
        assert f"task {tmp_path / 'nope.json'}: cannot read it" in err
