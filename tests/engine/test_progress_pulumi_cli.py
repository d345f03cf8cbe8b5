"""Under the real Pulumi CLI (issue 13): `pulumi up` shows that the provider starts the
embedded server on demand and the progress of a run it waits for (through pulumi.log from
the dynamic provider), and `pulumi refresh --run-program` brings a run's end into the stack
outputs, as `dh-kfp refresh` does."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from pulumi_cli_kit import PULUMI, SKIP_REASON, Cli, write_project  # noqa: E402

from dh_kfp_pulumi.server import lifecycle  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.pulumi_cli,
              pytest.mark.skipif(PULUMI is None, reason=SKIP_REASON)]

BODY = """\
config = pulumi.Config()
workflow = project.new_workflow(name="wf", kind="kfp", code_src="pipeline.py", handler="pipe")
once = workflow.run(action="pipeline", name="once", inputs={"x": config.get_int("x") or 1},
                    wait=config.get_bool("wait") or False)
pulumi.export("run_state", once.state)
"""


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    base = tmp_path_factory.mktemp("progress-cli")
    project = write_project(base / "project", BODY, name="progress")
    cli = Cli(project, base)
    cli.data_dir = base / "kfp-data"
    cli("stack", "init", cli.stack, stack=False)
    cli("config", "set", "dh-kfp:data_dir", str(cli.data_dir))
    yield cli
    lifecycle.stop(cli.data_dir)


def test_pulumi_up_shows_the_server_started_on_demand_and_the_runs_progress(cli):
    assert lifecycle.status(cli.data_dir) is None
    cli("config", "set", "wait", "true")
    out = cli("up", "--yes").stdout
    assert cli.exports()["run_state"] == "SUCCEEDED"
    assert "no dh-kfp:host: starting the embedded KFP server on demand" in out, out
    assert "the embedded KFP server is up: http://127.0.0.1:" in out, out
    assert re.search(r"run progress-wf-once \([0-9a-f-]+\): waiting for it to end", out), out
    assert re.search(r"run progress-wf-once: SUCCEEDED after \d+s; steps: add SUCCEEDED", out), out
    assert out.index("starting the embedded KFP server") < out.index("waiting for it to end")


def test_pulumi_refresh_run_program_updates_run_state(cli):
    lifecycle.stop(cli.data_dir)
    lifecycle.start(cli.data_dir, max_concurrent_runs=0)  # the new run stays PENDING
    cli("config", "set", "wait", "false")
    cli("config", "set", "x", "2")  # new inputs: a new run
    cli("up", "--yes")
    assert cli.exports()["run_state"] == "PENDING"
    lifecycle.stop(cli.data_dir)
    info = lifecycle.start(cli.data_dir)  # on the kept port: the stored run_url stays good
    import kfp

    client = kfp.Client(host=info.url)
    waiting = [r.run_id for r in client.list_runs(page_size=50).runs or []
               if r.display_name == "progress-wf-once" and r.state in ("PENDING", "RUNNING")]
    assert len(waiting) == 1, "the PENDING run is gone"
    for _ in range(600):
        if client.get_run(waiting[0]).state in ("SUCCEEDED", "FAILED"):
            break
        time.sleep(0.2)
    assert client.get_run(waiting[0]).state == "SUCCEEDED"
    cli("refresh", "--yes", "--run-program")
    assert cli.exports()["run_state"] == "SUCCEEDED"
