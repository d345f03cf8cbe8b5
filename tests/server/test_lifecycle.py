"""`dh-kfp server start|status|stop|serve`: idempotent start, one server per data dir."""

import json
import os
import subprocess
import sys
import urllib.request

import pytest

from dh_kfp_pulumi.server import lifecycle


def _cli(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dh_kfp_pulumi", "server", *args],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_cli_lifecycle(tmp_path):
    data = str(tmp_path / "data")
    started = _cli("start", "--data-dir", data)
    assert started.returncode == 0, started.stderr
    url = started.stdout.split()[0]
    assert url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(f"{url}/apis/v2beta1/healthz", timeout=10) as resp:
        assert json.load(resp)["multi_user"] is False
    try:
        again = _cli("start", "--data-dir", data)
        assert again.returncode == 0  # the same server, said to be running already
        assert again.stdout == (f"already running: {started.stdout.strip()}; "
                                "`dh-kfp server stop` stops it\n")

        status = _cli("status", "--data-dir", data)
        assert status.returncode == 0 and url in status.stdout
        # The data dir can also come from the environment.
        status = _cli("status", env={lifecycle.ENV_DATA_DIR: data})
        assert status.returncode == 0 and url in status.stdout

        second = _cli("serve", "--data-dir", data)
        assert second.returncode == 2
        assert "already serves data dir" in second.stderr and url in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        stopped = _cli("stop", "--data-dir", data)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    status = _cli("status", "--data-dir", data)
    assert status.returncode == 3 and "not running" in status.stdout
    assert _cli("stop", "--data-dir", data).stdout.startswith("no server runs")


def test_running_server_reuses_a_running_one(tmp_path):
    data = tmp_path / "data"
    outer = lifecycle.start(data, max_concurrent_runs=0)
    try:
        with lifecycle.running_server(data) as inner:
            assert inner == outer
        assert lifecycle.status(data) == outer  # not stopped: it was running before
        with pytest.raises(lifecycle.ServerError, match="already serves"):
            lifecycle.serve(data)
    finally:
        assert lifecycle.stop(data)
    assert lifecycle.status(data) is None
    assert not (data / "server.json").exists()
    with lifecycle.running_server(data) as info:
        assert lifecycle.status(data) == info
    assert lifecycle.status(data) is None


def test_bad_settings_are_refused(tmp_path):
    with pytest.raises(lifecycle.ServerError, match="unknown server setting"):
        lifecycle.start(tmp_path, max_runs=3)


def test_stop_ends_running_runs_with_a_message(tmp_path, pipelines, kit):
    import kfp

    data, pid_file = tmp_path / "data", tmp_path / "step.pid"
    with lifecycle.running_server(data, max_concurrent_runs=1) as info:
        client = kfp.Client(host=info.url)
        run = client.run_pipeline(None, "cut-short", pipelines["sleepy"],
                                  params={"seconds": 120.0, "pid_file": str(pid_file)})
        kit.wait_for(pid_file.exists, timeout=60, what="the step to start")
    step_pid = int(pid_file.read_text())
    kit.wait_for(lambda: not os.path.exists(f"/proc/{step_pid}"), timeout=10,
                 what="the step to stop with the server")
    with lifecycle.running_server(data, max_concurrent_runs=0) as info:
        done = kfp.Client(host=info.url).get_run(run.run_id)
    assert done.state == "FAILED"
    assert "server was stopped while this run was executing" in done.error.message
