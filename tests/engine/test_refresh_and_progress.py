"""What a user of the `local` stack sees through the offline engine (issue 13), one
deployment shared by the tests, in order:

- `up` with `wait: false` while the server holds runs PENDING: `run_state` is PENDING;
- the server restarted on the data dir's kept port, the run ends; `dh-kfp refresh` updates
  the stack outputs (`run_state` SUCCEEDED), as `pulumi refresh --run-program` does;
- with the server stopped, an `up` that waits for a new run says it starts the embedded
  server on demand, and prints the run's progress (state changes, steps, elapsed time)."""

from __future__ import annotations

import io
import re
import shutil
import sys
import time
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).parent))

from parking_kit import Kfp, copy_project  # noqa: E402

from dh_kfp_pulumi import engine  # noqa: E402
from dh_kfp_pulumi.cli import main  # noqa: E402
from dh_kfp_pulumi.server import lifecycle  # noqa: E402

pytestmark = pytest.mark.slow


class Local:
    def __init__(self, base: Path):
        self.project = copy_project(base / "project")
        self.state_dir = base / "state"
        self.data_dir = base / "kfp-data"
        self.output = ""

    def __call__(self, operation: str, overrides: dict, **kwargs) -> engine.Result:
        out = io.StringIO()
        try:
            return getattr(engine, operation)(
                self.project, "local", state_dir=self.state_dir, out=out,
                config_overrides={"dh-kfp:data_dir": str(self.data_dir), **overrides}, **kwargs)
        finally:
            self.output = out.getvalue()

    def outputs(self, capsys, name: str) -> str:
        capsys.readouterr()
        code = main(["outputs", name, "--stack", "local", "--cwd", str(self.project),
                     "--state-dir", str(self.state_dir)])
        assert code == 0
        return capsys.readouterr().out.strip()


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    stack = Local(tmp_path_factory.mktemp("local-stack"))
    yield stack
    lifecycle.stop(stack.data_dir)


def test_refresh_updates_the_stack_outputs(local, capsys):
    first = lifecycle.start(local.data_dir, max_concurrent_runs=0)  # runs stay PENDING
    local.port = first.port
    result = local("up", {"parking:wait": "false"})
    assert result.exports["run_state"] == "PENDING"
    assert local.outputs(capsys, "run_state") == "PENDING"

    lifecycle.stop(local.data_dir)
    again = lifecycle.start(local.data_dir)  # runs execute now
    assert again.port == first.port and again.note == ""  # the kept port: run_url still good
    kfp = Kfp(again.url)
    run_id = result.exports["run_id"]
    for _ in range(600):
        if kfp.run(run_id).state in ("SUCCEEDED", "FAILED"):
            break
        time.sleep(0.2)
    assert kfp.run(run_id).state == "SUCCEEDED"

    refreshed = local("refresh", {"parking:wait": "false"})
    assert [s.name for s in refreshed.changed("refresh")] == ["parking-workflow-once"]
    assert "info: stack outputs updated: run_state" in local.output
    assert refreshed.exports["run_state"] == "SUCCEEDED"
    assert local.outputs(capsys, "run_state") == "SUCCEEDED"
    assert local.outputs(capsys, "run_url").startswith(first.url)


def test_up_says_it_starts_the_server_and_shows_the_runs_progress(local, tmp_path):
    lifecycle.stop(local.data_dir)
    other = tmp_path / "parkings.csv"  # another input: a new run, waited for
    shutil.copy(local.project / "examples" / "parking" / "data" / "parkings.csv", other)
    result = local("up", {"parking:wait": "true", "parking:url": other.as_uri()})
    assert result.exports["run_state"] == "SUCCEEDED"
    # the example's only platform setting is its `stack=local` pod label: no note about
    # pod settings that cannot be applied (nothing was dropped), on the page or the API
    url = lifecycle.status(local.data_dir).url
    details = requests.get(f"{url}/dh-kfp/v1/runs/{result.exports['run_id']}/tasks",
                           timeout=30).json()
    assert details["notes"] == []
    assert "pod settings" not in requests.get(result.exports["run_url"].replace("/#/runs/details/",
                                                                               "/runs/"),
                                              timeout=30).text
    out = local.output
    info = [line.strip()[len("info: "):] for line in out.splitlines()
            if line.strip().startswith("info: ")]
    assert info[0].startswith("no dh-kfp:host: starting the embedded KFP server on demand "
                              f"(data dir {local.data_dir.resolve()}")
    assert info[1].startswith(f"the embedded KFP server is up: http://127.0.0.1:{local.port} ")
    progress = [line for line in info if line.startswith("run parking-workflow-once")]
    assert re.fullmatch(r"run parking-workflow-once \([0-9a-f-]+\): waiting for it to end "
                        r"\(wait_timeout 3600s\): http://\S+/#/runs/details/[0-9a-f-]+",
                        progress[0]), progress
    changes = [re.fullmatch(r"run parking-workflow-once: (\w+) after (\d+)s(?:; steps: (.*))?",
                            line) for line in progress[1:]]
    assert all(changes), progress
    states = [m.group(1) for m in changes]
    assert states[-1] == "SUCCEEDED" and states.count("SUCCEEDED") == 1
    assert changes[-1].group(3) == "download SUCCEEDED, extract_parking SUCCEEDED"
    elapsed = [int(m.group(2)) for m in changes]
    assert elapsed == sorted(elapsed)
    # each line says something new: a change of the run's or a step's state
    seen = [(m.group(1), m.group(3)) for m in changes]
    assert len(set(seen)) == len(seen)
    # the progress comes before the step is reported done, as it happens
    done = out.index("parking-workflow-once")  # the first mention is the progress
    assert done < out.index(" replaced ")


def test_a_long_wait_says_it_is_still_waiting_at_growing_intervals():
    """Between changes, a line at 30 s, then 60 s and 120 s later, ... (at most 300 s apart)."""
    import logging
    from types import SimpleNamespace

    from dh_kfp_pulumi.reconcile.run import WaitProgress

    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    log = logging.getLogger("test.wait-progress")
    log.setLevel(logging.INFO)
    log.addHandler(Keep())
    now = [100.0]
    watch = WaitProgress("r", "id-1", "http://kfp/#/runs/details/id-1", 3600, clock=lambda: now[0],
                         log=log)
    running = SimpleNamespace(state="RUNNING", steps=(("a", "RUNNING"),))
    for t in range(100, 800, 5):  # a poll every 5 s, nothing changing for 700 s
        now[0] = float(t)
        watch(running)
    now[0] = 801.0
    watch(SimpleNamespace(state="SUCCEEDED", steps=(("a", "SUCCEEDED"),)))
    assert lines == [
        "run r (id-1): waiting for it to end (wait_timeout 3600s): http://kfp/#/runs/details/id-1",
        "run r: RUNNING after 0s; steps: a RUNNING",
        "run r: still RUNNING after 30s; steps: a RUNNING",
        "run r: still RUNNING after 1m30s; steps: a RUNNING",
        "run r: still RUNNING after 3m30s; steps: a RUNNING",
        "run r: still RUNNING after 7m30s; steps: a RUNNING",
        "run r: SUCCEEDED after 11m41s; steps: a SUCCEEDED",
    ]


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="Debian's chromium is not on PATH (scripts/test.sh installs it as "
                           "root: apt-get install chromium); the url outputs were not opened")
def test_the_url_outputs_open_the_pipeline_and_recurring_run_pages(local, tmp_path):
    """A Workflow's `url` opens its pipeline's page at its version, a Task's its recurring
    run's page, a Run's the run's page: in a browser, as a user clicks them."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
    from test_web import chromium

    state = engine.load_state(local.project, "local", local.state_dir)
    outputs = {r.name: r.outputs for r in state.resources if r.custom}
    workflow, nightly = outputs["parking-workflow"], outputs["parking-workflow-nightly"]
    dom = chromium(tmp_path, workflow["url"])
    assert "<h1>Pipeline parking-workflow</h1>" in dom, dom[:500]
    assert f'<tr id="version-{workflow["version_id"]}" class="shown">' in dom
    assert "comp-download" in dom  # the version's graph, drawn from its IR
    dom = chromium(tmp_path, nightly["url"])
    assert "<h1>Recurring run parking-workflow-nightly</h1>" in dom, dom[:500]
    assert "cron <code>0 5 4 * * *</code>" in dom
    run = [o for name, o in outputs.items() if "run_id" in o and o.get("run_id")][0]
    dom = chromium(tmp_path, run["url"])
    assert "<h1>Run parking-workflow-once</h1>" in dom and 'data-output="dataset"' in dom
