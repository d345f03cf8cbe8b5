"""A schedule's edges through the real Pulumi CLI (issue 16), on a file backend and the
embedded KFP server: `pulumi refresh` shows a retired schedule whose run ended as drift and
`pulumi up` (program unchanged) deletes it; `pulumi destroy` prints the run it waits for
and fails past `dh-kfp:destroy_wait_timeout`, then with `dh-kfp:on_destroy_active_runs:
cancel` cancels it and prints it. The program is test_schedule_edges_deploy.py's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from test_pulumi_cli import PULUMI, Cli  # noqa: E402
from test_schedule_edges_deploy import PIPELINE, PROGRAM, SLEEPER, until  # noqa: E402

from dh_kfp_pulumi.backends import ApiError, Backend, BackendConfig  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.pulumi_cli,
    pytest.mark.skipif(PULUMI is None, reason="pulumi CLI neither built (scripts/engines.sh) "
                       "nor on PATH; test_schedule_edges_deploy.py covers the same with the "
                       "offline engine"),  # fmt: skip
]


def test_cleanup_and_destroy_through_the_pulumi_cli(tmp_path, kfp_server):
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text(
        "name: edges\nruntime:\n  name: python\n  options:\n    toolchain: pip\n"
        "    virtualenv: .venv\n"
    )
    (project / "__main__.py").write_text(PROGRAM)
    (project / "pipeline.py").write_text(PIPELINE)
    (project / "sleeper.py").write_text(SLEEPER)
    (project / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    pulumi = Cli(project, tmp_path)
    backend = Backend(BackendConfig(host=kfp_server.url))

    def config(**values):
        for key, value in values.items():
            pulumi("config", "set", key, value, "-s", "test")

    def schedule_id():
        out = pulumi("stack", "output", "--json", "-s", "test").stdout
        return json.loads(out)["schedule_id"]

    pulumi("login", f"file://{pulumi.backend}")
    pulumi("stack", "init", "test")
    config(**{"dh-kfp:host": kfp_server.url, "edges:schedule": "* * * * * *",
              "edges:seconds": "60"})  # fmt: skip
    pulumi("up", "--yes", "-s", "test")
    old = schedule_id()
    run = until("an active run", lambda: backend.active_runs_of(old))[0]

    # moved while its run goes on: retired; once the run has ended, refresh shows it
    config(**{"edges:schedule": "0 5 4 * * *"})
    pulumi("up", "--yes", "-s", "test")
    assert schedule_id() != old and not backend.get_recurring_run(old).enabled
    backend.terminate_run(run.id)
    backend.wait_run(run.id, timeout=60)
    plan = json.loads(pulumi("preview", "--refresh", "--json", "-s", "test").stdout)
    ops = {(s["op"], s["urn"].rsplit("::", 1)[-1]) for s in plan.get("steps", [])}
    assert ("update", "edges-wf-tick") in ops, ops
    pulumi("up", "--yes", "-s", "test")  # no refresh: the preview's was in memory only
    assert backend.get_recurring_run(old)
    pulumi("refresh", "--yes", "-s", "test")
    pulumi("up", "--yes", "-s", "test")
    with pytest.raises(ApiError) as gone:
        backend.get_recurring_run(old)
    assert gone.value.not_found
    pulumi("preview", "--refresh", "--expect-no-changes", "-s", "test")

    # destroy with a run going: waits, says so, fails past the timeout; then cancels
    config(**{"edges:schedule": "* * * * * *"})
    pulumi("up", "--yes", "-s", "test")
    rid = schedule_id()
    run = until("an active run", lambda: backend.active_runs_of(rid))[0]
    # Pulumi keeps the provider's config in the state: a destroy uses what the last up set
    config(**{"dh-kfp:destroy_wait_timeout": "1"})
    pulumi("up", "--yes", "-s", "test")
    assert schedule_id() == rid  # a provider setting changes no resource
    failed = pulumi("destroy", "--yes", "-s", "test", check=False)
    said = failed.stdout + failed.stderr
    assert failed.returncode != 0, said
    assert "waiting up to 1s (destroy_wait_timeout)" in said and run.id in said
    assert "destroy_wait_timeout (1s) passed" in said
    assert backend.get_recurring_run(rid).enabled and not backend.get_run(run.id).terminal
    config(**{"dh-kfp:on_destroy_active_runs": "cancel"})
    pulumi("up", "--yes", "-s", "test")
    done = pulumi("destroy", "--yes", "-s", "test")
    assert f"canceled run {run.name!r} ({run.id}" in done.stdout + done.stderr
    assert backend.wait_run(run.id, timeout=60).state == "CANCELED"
    with pytest.raises(ApiError):
        backend.get_recurring_run(rid)
