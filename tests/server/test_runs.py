"""Runs execute for real (kfp.local in worker processes) and report like KFP."""

import json
import os
from pathlib import Path

from kfp import compiler, dsl

SERVER_SETTINGS = {"max_concurrent_runs": 2}


@dsl.component(base_image="python:3.11")
def needs_marker(marker: str) -> str:
    import os

    if not os.path.exists(marker):
        raise ValueError("no marker yet")
    return "found"


@dsl.pipeline(name="flaky")
def flaky(marker: str = ""):
    needs_marker(marker=marker)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_two_step_pipeline_succeeds_and_a_failing_step_fails(client, server, pipelines, kit):
    exp = client.create_experiment("runs")
    ok = client.run_pipeline(exp.experiment_id, "ok", pipelines["two_step"], params={"n": 4})
    bad = client.run_pipeline(exp.experiment_id, "bad", pipelines["two_step"],
                              params={"fail": True})

    done = client.wait_for_run_completion(ok.run_id, timeout=90, sleep_duration=0.2)
    assert done.state == "SUCCEEDED", done.error
    assert [h.state for h in done.state_history] == ["PENDING", "RUNNING", "SUCCEEDED"]
    assert done.finished_at >= done.created_at and done.error is None
    tasks = {t.display_name: t for t in done.run_details.task_details}
    assert set(tasks) == {"make-text", "count-text"}
    assert all(t.state == "SUCCEEDED" for t in tasks.values())
    assert list(tasks["make-text"].outputs) == ["out"]

    status, detail, _ = kit.http("GET", f"{server.url}/dh-kfp/v1/runs/{ok.run_id}/tasks")
    assert status == 200
    by_name = {t["name"]: t for t in detail["tasks"]}
    assert by_name["count-text"]["parameters"] == {"Output": 4}
    assert by_name["make-text"]["parameters"] == {"Output": "made"}
    (artifact,) = by_name["make-text"]["artifacts"]["out"]
    assert artifact["artifact_id"] == tasks["make-text"].outputs["out"].artifact_ids[0]
    assert artifact["schema_title"] == "system.Dataset"
    assert Path(artifact["uri"]).read_text() == "xxxx"

    status, log, ctype = kit.http("GET", f"{server.url}/dh-kfp/v1/runs/{ok.run_id}/logs"
                                         "?task=make-text")
    assert status == 200 and ctype.startswith("text/plain")
    assert "making 4 characters" in log and "\x1b[" not in log
    _, whole, _ = kit.http("GET", f"{server.url}/dh-kfp/v1/runs/{ok.run_id}/logs")
    assert "===== task make-text" in whole and "counting" in whole

    failed = client.wait_for_run_completion(bad.run_id, timeout=90, sleep_duration=0.2)
    assert failed.state == "FAILED"
    assert failed.error.message == ("Task count-text failed: ValueError: the count step failed "
                                    "on purpose")
    states = {t.display_name: t.state for t in failed.run_details.task_details}
    assert states == {"make-text": "SUCCEEDED", "count-text": "FAILED"}
    failing = next(t for t in failed.run_details.task_details if t.state == "FAILED")
    assert "failed on purpose" in failing.error.message
    _, log, _ = kit.http("GET", f"{server.url}/dh-kfp/v1/runs/{bad.run_id}/logs?task=count-text")
    assert "Traceback" in log


def test_terminate_kills_the_worker_and_concurrency_is_bounded(client, server, pipelines, kit,
                                                               tmp_path):
    pid_files = [tmp_path / f"step-{i}.pid" for i in range(3)]
    runs = [client.run_pipeline(None, f"sleepy-{i}", pipelines["sleepy"],
                                params={"seconds": 120.0, "pid_file": str(pid_files[i])})
            for i in range(3)]
    kit.wait_for(lambda: pid_files[0].exists() and pid_files[1].exists(), timeout=60,
                 what="the first two steps to start")
    # Two slots: the third run waits.
    assert client.get_run(runs[2].run_id).state == "PENDING"
    _, info, _ = kit.http("GET", f"{server.url}/dh-kfp/v1/info")
    assert info["running_workers"] == 2

    step_pid = int(pid_files[0].read_text())
    assert _alive(step_pid)
    client.terminate_run(runs[0].run_id)
    assert client.get_run(runs[0].run_id).state in ("CANCELING", "CANCELED")
    canceled = kit.wait_state(client, runs[0].run_id, {"CANCELED"})
    assert [h.state for h in canceled.state_history][-2:] == ["CANCELING", "CANCELED"]
    assert {t.state for t in canceled.run_details.task_details} == {"CANCELED"}
    kit.wait_for(lambda: not _alive(step_pid), timeout=10, what="the step process to die")
    # The slot it freed goes to the waiting run.
    kit.wait_for(lambda: pid_files[2].exists(), timeout=60, what="the third run to start")
    for run in runs[1:]:
        client.terminate_run(run.run_id)
    for run in runs[1:]:
        kit.wait_state(client, run.run_id, {"CANCELED"})


def test_container_steps_without_docker_fail_clearly(client, pipelines):
    run = client.run_pipeline(None, "container", pipelines["container"])
    done = client.wait_for_run_completion(run.run_id, timeout=60, sleep_duration=0.2)
    assert done.state == "FAILED"
    assert "container steps (exec-shell-echo)" in done.error.message
    assert "Docker" in done.error.message and "real KFP" in done.error.message


def test_pod_settings_are_reported_not_applied(client, server, pipelines, kit):
    run = client.run_pipeline(None, "pods", pipelines["pod_settings"], params={"n": 1})
    done = client.wait_for_run_completion(run.run_id, timeout=60, sleep_duration=0.2)
    assert done.state == "SUCCEEDED", done.error
    running = next(h for h in done.state_history if h.state == "RUNNING")
    assert "cannot be applied" in running.error.message
    assert "exec-make-text: imagePullPolicy, nodeSelector" in running.error.message
    assert not running.error.code  # a note (code OK), not a failure
    _, detail, _ = kit.http("GET", f"{server.url}/dh-kfp/v1/runs/{run.run_id}/tasks")
    assert detail["notes"] and "nodeSelector" in detail["notes"][0]


def test_pipeline_root_from_runtime_config(client, pipelines, tmp_path, kit, server):
    root = tmp_path / "outputs"
    run = client.run_pipeline(None, "rooted", pipelines["two_step"], params={"n": 2},
                              pipeline_root=str(root))
    done = client.wait_for_run_completion(run.run_id, timeout=90, sleep_duration=0.2)
    assert done.state == "SUCCEEDED", done.error
    _, detail, _ = kit.http("GET", f"{server.url}/dh-kfp/v1/runs/{run.run_id}/tasks")
    uri = next(t for t in detail["tasks"] if t["name"] == "make-text")["artifacts"]["out"][0]["uri"]
    assert uri.startswith(str(root / run.run_id))


def test_retry_runs_a_failed_run_again_under_its_id(client, server, kit, tmp_path):
    """KFP's RetryRun (resource_manager.go): a Failed/Error workflow is resubmitted and the
    run goes back to a running state, same id; here the executor runs it again."""
    path = tmp_path / "flaky.yaml"
    compiler.Compiler().compile(flaky, str(path))
    marker = tmp_path / "marker"
    run = client.run_pipeline(None, "flaky", str(path), params={"marker": str(marker)})
    failed = client.wait_for_run_completion(run.run_id, timeout=90, sleep_duration=0.2)
    assert failed.state == "FAILED" and "no marker yet" in failed.error.message
    first_task = failed.run_details.task_details[0].task_id

    marker.write_text("now")
    status, body, _ = kit.http("POST", f"{server.url}/apis/v2beta1/runs/{run.run_id}:retry")
    assert (status, body) == (200, {})
    again = client.wait_for_run_completion(run.run_id, timeout=90, sleep_duration=0.2)
    assert again.state == "SUCCEEDED", again.error
    assert again.error is None and again.finished_at >= failed.finished_at
    assert [h.state for h in again.state_history] == [
        "PENDING", "RUNNING", "FAILED", "PENDING", "RUNNING", "SUCCEEDED"]
    (task,) = again.run_details.task_details  # the first attempt's task is replaced
    assert task.state == "SUCCEEDED" and task.task_id != first_task
    _, detail, _ = kit.http("GET", f"{server.url}/dh-kfp/v1/runs/{run.run_id}/tasks")
    assert detail["tasks"][0]["parameters"] == {"Output": "found"}

    # Only a failed or canceled run is retried (KFP: "Workflow must be Failed/Error to
    # retry", a BadRequestError: code 10, HTTP 409); an unknown one is 404.
    status, body, _ = kit.http("POST", f"{server.url}/apis/v2beta1/runs/{run.run_id}:retry")
    assert (status, body["code"]) == (409, 10), body
    assert body["details"][0]["message"] == "Workflow must be Failed/Error to retry"
    kit.validate_response("POST", f"/apis/v2beta1/runs/{run.run_id}:retry", status,
                          json.dumps(body))
    status, body, _ = kit.http("POST", f"{server.url}/apis/v2beta1/runs/nope:retry")
    assert (status, body["code"]) == (404, 5)


def test_retry_of_a_canceled_run_runs_it_again(client, server, pipelines, kit):
    run = client.run_pipeline(None, "sleepy-retried", pipelines["sleepy"],
                              params={"seconds": 4.0})
    kit.wait_state(client, run.run_id, {"RUNNING"})
    client.terminate_run(run.run_id)
    kit.wait_state(client, run.run_id, {"CANCELED"})
    client._run_api.run_service_retry_run(run.run_id)  # kfp.Client has no retry method
    done = client.wait_for_run_completion(run.run_id, timeout=90, sleep_duration=0.2)
    assert done.state == "SUCCEEDED", done.error
    assert [h.state for h in done.state_history][-4:] == [
        "CANCELED", "PENDING", "RUNNING", "SUCCEEDED"]
