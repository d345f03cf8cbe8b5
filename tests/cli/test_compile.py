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
