"""`dh-kfp up|preview|refresh|destroy|outputs` as a user meets them (issue 13): the same
`--stack` default as `dh-kfp plan`, `destroy` asking first on a terminal (`--yes` skips it),
`outputs` of a stack never deployed, and steps whose columns stay aligned whatever the names.

The program is the offline engine's `files` one (tests/engine/files_program: its resources
are files), copied with its stack renamed `local`."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dh_kfp_pulumi.cli import build_parser, main

FILES_PROGRAM = Path(__file__).resolve().parents[1] / "engine" / "files_program"
DH_KFP = Path(sys.executable).parent / "dh-kfp"


@pytest.fixture
def project(tmp_path) -> dict:
    where = tmp_path / "project"
    shutil.copytree(FILES_PROGRAM, where)
    stacks = where / "stacks"
    (stacks / "Pulumi.test.yaml").rename(stacks / "Pulumi.local.yaml")
    root = tmp_path / "root"
    root.mkdir()
    state = tmp_path / "state"
    return {"dir": where, "root": root, "state": state,
            "args": [str(where), "--state-dir", str(state), "-c", f"files:root={root}"]}


def spec(project: dict, *files: dict) -> None:
    (project["dir"] / "spec.json").write_text(json.dumps({"files": list(files)}))


@pytest.mark.parametrize("command", ["up", "preview", "refresh", "destroy"])
def test_deploy_commands_and_plan_have_the_same_stack_default(command):
    parser = build_parser()
    plan_default = parser.parse_args(["plan", "examples/parking"]).stack
    assert plan_default == "local"
    assert parser.parse_args([command]).stack == plan_default
    assert parser.parse_args(["outputs"]).stack == plan_default


def test_up_without_stack_deploys_the_local_stack(project, capsys):
    spec(project, {"name": "a", "path": "a.txt", "content": "hello"})
    assert main(["up", *project["args"]]) == 0
    out = capsys.readouterr().out
    assert "up files/local" in out and "1 created" in out
    assert (project["root"] / "a.txt").read_text() == "hello"


def test_outputs_of_a_stack_never_deployed_says_so_and_fails(project, capsys):
    where = ["--cwd", str(project["dir"]), "--state-dir", str(project["state"])]
    assert main(["outputs", "--stack", "prod", *where]) == 2
    err = capsys.readouterr().err
    assert "stack prod has never been deployed by dh-kfp's offline engine" in err
    assert "dh-kfp up --stack prod" in err
    spec(project, {"name": "a", "path": "a.txt", "content": "hello"})
    assert main(["up", *project["args"]]) == 0
    capsys.readouterr()
    assert main(["outputs", *where]) == 0
    assert "greeting" in capsys.readouterr().out
    assert main(["destroy", *project["args"], "--yes"]) == 0
    capsys.readouterr()
    assert main(["outputs", *where]) == 3  # deployed once, nothing left: said, not silent
    assert "stack local has no outputs (its last operation was destroy)" in \
        capsys.readouterr().err


def _on_a_terminal(args: list[str], answer: str | None) -> tuple[int, str]:
    """Run `dh-kfp ARGS` with a pseudo-terminal as stdin/stdout; answer its question."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([str(DH_KFP), *args], stdin=follower, stdout=follower,
                            stderr=follower, close_fds=True,
                            env={**os.environ, "PATH": f"{DH_KFP.parent}:{os.environ['PATH']}"})
    os.close(follower)
    seen = b""
    answered = False
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        if not ready:
            proc.kill()
            raise AssertionError(f"dh-kfp {args} said nothing for 120 s: {seen!r}")
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
        if answer is not None and not answered and b"[yes/no]" in seen:
            os.write(leader, answer.encode() + b"\n")
            answered = True
    os.close(leader)
    return proc.wait(timeout=120), seen.decode(errors="replace").replace("\r\n", "\n")


def test_destroy_asks_for_confirmation_on_a_terminal(project):
    spec(project, {"name": "a", "path": "a.txt", "content": "hello"})
    assert main(["up", *project["args"]]) == 0
    code, text = _on_a_terminal(["destroy", *project["args"]], "no")
    assert code == 1, text
    assert "deletes 1 resource: TextFile a." in text and "Do you want to perform this destroy? [yes/no]" in text
    assert "destroy canceled: nothing was deleted" in text
    assert (project["root"] / "a.txt").exists()
    code, text = _on_a_terminal(["destroy", *project["args"]], "yes")
    assert code == 0, text
    assert "1 deleted" in text and not (project["root"] / "a.txt").exists()


def test_destroy_yes_does_not_ask_on_a_terminal(project):
    spec(project, {"name": "a", "path": "a.txt", "content": "hello"})
    assert main(["up", *project["args"]]) == 0
    code, text = _on_a_terminal(["destroy", *project["args"], "--yes"], None)
    assert code == 0, text
    assert "[yes/no]" not in text and "1 deleted" in text


def test_long_resource_names_keep_the_columns_aligned(project, capsys):
    long = "a-resource-name-much-longer-than-any-column-width-" + "x" * 30
    spec(project, {"name": "a", "path": "a.txt", "content": "one"},
         {"name": long, "path": "b.txt", "content": "two"},
         {"name": "c", "path": "c.txt", "content": "three", "group": "g"})
    assert main(["up", *project["args"]]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines()
             if re.match(r"^ [+~-]", line)]
    assert len(lines) == 4  # a, the long one, the group, c
    assert any(line.endswith(long) for line in lines)
    assert len({line.index(" created") for line in lines}) == 1, "\n".join(lines)
