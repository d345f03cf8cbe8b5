"""The real Pulumi CLI (.engines/bin/pulumi, built by scripts/engines.sh) in a project of the
test's own: a file backend, PULUMI_HOME and passphrase of its own, no update check and no
plugin download (the language host and plugin launchers sit beside the CLI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from kfp_kit import ENGINES_BIN, engine_bin

PULUMI = engine_bin("pulumi")
SKIP_REASON = ("pulumi CLI neither built (scripts/engines.sh) nor on PATH: the real-CLI "
               "scenarios need it; the offline engine's tests run the same scenarios")
VENV = Path(sys.prefix)


class Cli:
    """`pulumi` in one project directory; every command's output is kept in `transcript`."""

    def __init__(self, project: Path, base: Path, stack: str = "local"):
        self.project, self.stack = project, stack
        self.home = base / "pulumi-home"
        self.backend = base / "backend"
        self.backend.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ)
        self.env.update({
            "PULUMI_HOME": str(self.home),
            "PULUMI_CONFIG_PASSPHRASE": "test-only-passphrase",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_BACKEND_URL": f"file://{self.backend}",
            # The language host and plugin launchers beside the CLI, then this venv.
            "PATH": os.pathsep.join([str(ENGINES_BIN), str(VENV / "bin"),
                                     os.environ.get("PATH", "")]),
        })
        self.transcript: list[str] = []

    def __call__(self, *args: str, check: bool = True, stack: bool = True,
                 timeout: float = 900) -> subprocess.CompletedProcess:
        command = [PULUMI, *args, "--non-interactive", "--cwd", str(self.project)]
        if stack:
            command += ["-s", self.stack]
        proc = subprocess.run(command, env=self.env, capture_output=True, text=True,
                              timeout=timeout)
        self.transcript.append(proc.stdout + proc.stderr)
        if check and proc.returncode != 0:
            pytest.fail(f"pulumi {' '.join(args)} exited {proc.returncode}:\n"
                        f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
        return proc

    def popen(self, *args: str) -> subprocess.Popen:
        command = [PULUMI, *args, "--non-interactive", "--cwd", str(self.project),
                   "-s", self.stack]
        return subprocess.Popen(command, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def init(self, host: str) -> None:
        self("stack", "init", self.stack, stack=False)
        self("config", "set", "dh-kfp:host", host)

    def exports(self) -> dict[str, Any]:
        return json.loads(self("stack", "output", "--json", "--show-secrets").stdout)

    def preview_ops(self, *args: str) -> list[tuple[str, str]]:
        """(op, name) of each step `pulumi preview --json` plans, in its order."""
        plan = json.loads(self("preview", "--json", *args).stdout)
        return [(step["op"], step["urn"].rsplit("::", 1)[-1]) for step in plan.get("steps", [])]


PIPELINE = """\
from dh_kfp_pulumi.dsl import pipeline_context


def pipe(x: int = 1):
    with pipeline_context() as pc:
        pc.step(name="add", function="%(function)s", action="job", inputs={"x": x},
                values=["y"])
"""

ADDER = """\
def add(x):
    return {"y": int(x) + 1}
"""


def write_project(directory: Path, body: str, *, name: str = "cli", function: str = "adder",
                  ) -> Path:
    """A Pulumi project: Pulumi.yaml on this venv, a one-step pipeline, `adder`, and `body`
    as the program after `project = dh.Project(...)`."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "Pulumi.yaml").write_text(textwrap.dedent(f"""\
        name: {name}
        runtime:
          name: python
          options:
            toolchain: pip
            virtualenv: {VENV}
        """))
    (directory / "pipeline.py").write_text(PIPELINE % {"function": function})
    (directory / "adder.py").write_text(ADDER)
    (directory / "__main__.py").write_text(
        "import pulumi\n\nimport dh_kfp_pulumi as dh\n\n"
        f"project = dh.Project({name!r})\n"
        "project.new_function(name='adder', kind='python', code_src='adder.py', handler='add')\n"
        + textwrap.dedent(body))
    return directory
