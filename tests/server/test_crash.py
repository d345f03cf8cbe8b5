"""`kill -9` of the server mid-run and mid-schedule: after a restart nothing stored is lost, the
interrupted run is FAILED with a clear message, the step died with the server, and the schedule
fires again (catching up the ticks missed while the server was down)."""

import json
import os
import signal
import time
from datetime import datetime, timezone
from pathlib import Path

import kfp

from dh_kfp_pulumi.server import lifecycle


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (ProcessLookupError, OSError):
        return False


def _runs_of(client, recurring_run_id):
    flt = json.dumps({"predicates": [{"operation": "EQUALS", "key": "recurring_run_id",
                                      "string_value": recurring_run_id}]})
    return client.list_runs(filter=flt, page_size=200).runs or []


def _stored(client, pipeline_id):
    """What must survive, without the fields that move on their own (states, times of runs)."""
    return {
        "experiments": sorted((e.experiment_id, e.display_name, e.description,
                               str(e.created_at), e.storage_state)
                              for e in client.list_experiments(page_size=200).experiments),
        "pipelines": sorted(p.to_str() for p in client.list_pipelines(page_size=200).pipelines),
        "versions": sorted(v.to_str() for v in
                           client.list_pipeline_versions(pipeline_id, page_size=200).pipeline_versions),
        "recurring": sorted((r.recurring_run_id, r.display_name, r.trigger.to_str(),
                             r.max_concurrency, r.mode) for r in
                            client.list_recurring_runs(page_size=200).recurring_runs),
        "runs": sorted((r.run_id, r.display_name, r.pipeline_spec is None, str(r.created_at))
                       for r in client.list_runs(page_size=200).runs),
    }


def test_kill_9_mid_run_and_mid_schedule(tmp_path, pipelines, kit):
    data = tmp_path / "data"
    pid_file = tmp_path / "step.pid"
    info = lifecycle.start(data, max_concurrent_runs=1)
    try:
        client = kfp.Client(host=info.url)
        exp = client.create_experiment("crash")
        pipe = client.upload_pipeline(pipelines["two_step"], pipeline_name="crash-pipe")
        version = client.list_pipeline_versions(pipe.pipeline_id).pipeline_versions[0]
        slow = client.run_pipeline(exp.experiment_id, "slow", pipelines["sleepy"],
                                   params={"seconds": 120.0, "pid_file": str(pid_file)})
        kit.wait_for(pid_file.exists, timeout=60, what="the slow step to start")
        step_pid = int(pid_file.read_text())
        rec = client.create_recurring_run(
            exp.experiment_id, "crash-tick", cron_expression="* * * * * *", max_concurrency=2,
            pipeline_id=pipe.pipeline_id, version_id=version.pipeline_version_id,
            params={"n": 3})
        kit.wait_for(lambda: _runs_of(client, rec.recurring_run_id), timeout=10,
                     what="the schedule to fire")  # its runs wait: the one slot is taken
        assert client.get_run(slow.run_id).state == "RUNNING"
        before = _stored(client, pipe.pipeline_id)
    finally:
        os.kill(info.pid, signal.SIGKILL)
    killed_at = datetime.now(timezone.utc).replace(microsecond=0)
    kit.wait_for(lambda: lifecycle.status(data) is None, timeout=10, what="the lock to go")
    # The worker saw its server die and took its step down with it.
    kit.wait_for(lambda: not _alive(step_pid), timeout=10, what="the step to die")
    time.sleep(2.2)  # ticks pass while no server runs

    info = lifecycle.start(data, max_concurrent_runs=2)
    restarted_at = datetime.now(timezone.utc)
    try:
        client = kfp.Client(host=info.url)
        failed = client.get_run(slow.run_id)
        assert failed.state == "FAILED"
        assert "server stopped while this run was executing" in failed.error.message
        assert [h.state for h in failed.state_history] == ["PENDING", "RUNNING", "FAILED"]
        assert {t.state for t in failed.run_details.task_details} == {"FAILED"}
        after = _stored(client, pipe.pipeline_id)
        for key in ("experiments", "pipelines", "versions", "recurring"):
            assert after[key] == before[key], key
        assert set(before["runs"]) <= set(after["runs"])

        # The schedule fires again: first the ticks missed while down (catch-up) ...
        missed = kit.wait_for(
            lambda: [r for r in _runs_of(client, rec.recurring_run_id)
                     if killed_at < r.scheduled_at < restarted_at], timeout=30,
            what="a run for a tick missed during the downtime")
        assert missed
        # ... and its runs execute on the new server.
        kit.wait_for(lambda: [r for r in _runs_of(client, rec.recurring_run_id)
                              if r.state == "SUCCEEDED"], timeout=60, what="a scheduled run")
        ticks = [r.scheduled_at for r in _runs_of(client, rec.recurring_run_id)]
        assert len(ticks) == len(set(ticks))  # no tick fired twice across the crash
        client.disable_recurring_run(rec.recurring_run_id)
    finally:
        lifecycle.stop(data)
    assert lifecycle.status(data) is None
