"""The parking scenario through the real Pulumi CLI (DESIGN.md, test layer 6): `pulumi up`,
a no-op up with zero KFP writes, a changed function, drift in `pulumi preview --refresh`
repaired by `pulumi up --refresh`, `pulumi destroy`, on a local file backend and the
embedded KFP server. Skipped, with the reason in pytest's summary, where `pulumi` is not on
PATH; test_parking_deploy.py runs the same scenario with the offline engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from kfp_kit import ENGINES_BIN, engine_bin  # noqa: E402
from parking_kit import (  # noqa: E402
    Kfp,
    change_function_code,
    check_destroyed,
    check_first_deployment,
    check_schedule,
    copy_project,
)

PULUMI = engine_bin("pulumi")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.pulumi_cli,
    pytest.mark.skipif(
        PULUMI is None,
        reason="pulumi CLI neither built (scripts/engines.sh) nor on PATH: the real-CLI "
               "scenario (pulumi up/preview --refresh/destroy) needs it; "
               "test_parking_deploy.py runs the same scenario with the offline engine"),
]


class Cli:
    """`pulumi` in the copied project, on a file backend and PULUMI_HOME of its own."""

    def __init__(self, project: Path, base: Path):
        self.project = project
        self.env = dict(os.environ)
        self.env.update({
            "PULUMI_HOME": str(base / "pulumi-home"),
            "PULUMI_CONFIG_PASSPHRASE": "test-only-passphrase",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            # The venv holds pulumi-kubernetes; the local stack never uses it: no download.
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            # The language host and plugin launchers beside the CLI, then this venv.
            "PATH": os.pathsep.join([str(ENGINES_BIN), str(Path(sys.executable).parent),
                                     os.environ.get("PATH", "")]),
        })
        self.backend = base / "backend"
        self.backend.mkdir()

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [PULUMI, *args, "--non-interactive", "--cwd", str(self.project)],
            env=self.env, capture_output=True, text=True, timeout=600)
        if check and proc.returncode != 0:
            pytest.fail(f"pulumi {' '.join(args)} exited {proc.returncode}:\n"
                        f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
        return proc

    def exports(self) -> dict:
        return json.loads(self("stack", "output", "--json", "--show-secrets", "-s",
                               "local").stdout)


def test_the_parking_scenario_through_the_pulumi_cli(tmp_path, kfp_server):
    kfp = Kfp(kfp_server.url)
    project = copy_project(tmp_path / "project")
    # Pulumi.yaml's runtime options name `.venv` beside it: this interpreter's venv.
    (project / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    pulumi = Cli(project, tmp_path)
    pulumi("login", f"file://{pulumi.backend}")
    pulumi("stack", "init", "local")
    pulumi("config", "set", "dh-kfp:host", kfp_server.url, "-s", "local")

    pulumi("up", "--yes", "-s", "local")
    first = pulumi.exports()
    check_first_deployment(kfp, first)

    kfp.reset_writes()
    pulumi("up", "--yes", "-s", "local")
    pulumi("preview", "--expect-no-changes", "-s", "local")
    assert kfp.writes() == {}

    change_function_code(project)
    pulumi("up", "--yes", "-s", "local")
    changed = pulumi.exports()
    assert changed["version_id"] != first["version_id"]
    assert sorted(v.pipeline_version_id for v in kfp.versions(changed["pipeline_id"])) == \
        sorted([first["version_id"], changed["version_id"]])
    check_schedule(kfp, changed)

    kfp.delete_recurring_run(changed["schedule_id"])
    kfp.delete_version(changed["pipeline_id"], changed["version_id"])
    kfp.reset_writes()
    plan = json.loads(pulumi("preview", "--refresh", "--json", "-s", "local").stdout)
    ops = {(step["op"], step["urn"].rsplit("::", 1)[-1]) for step in plan.get("steps", [])}
    assert ("update", "parking-workflow") in ops, ops
    assert ("create", "parking-workflow-nightly") in ops, ops
    assert kfp.writes() == {}

    pulumi("up", "--refresh", "--yes", "-s", "local")
    restored = pulumi.exports()
    assert restored["version_id"] in {v.pipeline_version_id
                                      for v in kfp.versions(restored["pipeline_id"])}
    check_schedule(kfp, restored)

    pulumi("destroy", "--yes", "-s", "local")
    check_destroyed(kfp)
