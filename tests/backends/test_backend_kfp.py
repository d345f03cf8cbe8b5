"""The backend against the embedded KFP server, through the real kfp.Client underneath."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "reconcile"))

from kfp_kit import stats  # noqa: E402
from reconcile_kit import workflow_props  # noqa: E402

from dh_kfp_pulumi import backends  # noqa: E402
from dh_kfp_pulumi.backends import ApiError, Backend, BackendConfig  # noqa: E402
from dh_kfp_pulumi.build import build_workflow  # noqa: E402
from dh_kfp_pulumi.specs import parse_function, parse_workflow  # noqa: E402

SLEEPER = """\
import time


def add(x, word):
    time.sleep(float(x))
    return {"y": word}
"""


def compiled(code=None, name="wf"):
    props = workflow_props(name=name) if code is None else workflow_props(name=name, code=code)
    wf = parse_workflow({k: v for k, v in props.items() if k != "functions"})
    fns = [parse_function({**f, "project": "demo"}) for f in props["functions"]]
    return build_workflow(wf, fns, default_image="python:3.11-slim")


def test_pipeline_create_has_no_version_and_versions_are_named(backend, kfp_server):
    pipeline = backend.create_pipeline("demo-named", "made by a test")
    assert pipeline.id and pipeline.display_name == "demo-named"
    assert backend.list_versions(pipeline.id) == []  # JSON create: no first version
    assert backend.find_pipeline("demo-named") == pipeline
    assert backend.find_pipeline("demo-nam") is None

    result = compiled()
    version = backend.upload_version(pipeline.id, "0123456789abcdef", result.yaml, "d")
    assert version.name == "0123456789abcdef" and version.pipeline_id == pipeline.id
    assert backend.find_version(pipeline.id, "0123456789abcdef").id == version.id
    assert backend.find_version(pipeline.id, "fedcba9876543210") is None
    full = backend.get_version(pipeline.id, version.id)
    assert full.description == "d" and full.spec is not None and full.created_at.endswith("Z")

    with pytest.raises(ApiError) as info:
        backend.upload_version(pipeline.id, "0123456789abcdef", result.yaml)
    assert info.value.status == 409

    assert backend.delete_pipeline(pipeline.id) is True  # versions first, then the pipeline
    assert backend.delete_pipeline(pipeline.id) is False  # NotFound counts as deleted
    assert backend.delete_version(pipeline.id, version.id) is False


def test_errors_carry_kfps_message_status_and_not_found(backend):
    with pytest.raises(ApiError) as info:
        backend.get_pipeline("no-such-pipeline")
    err = info.value
    assert err.status == 404 and err.not_found
    assert "no-such-pipeline" in str(err) and "HTTP 404" in str(err)
    assert "Traceback" not in str(err)

    backend.create_pipeline("demo-dup")
    with pytest.raises(ApiError) as info:
        backend.create_pipeline("demo-dup")
    assert info.value.status == 409 and not info.value.not_found


def test_upload_version_to_a_deleted_pipeline_is_kfps_400(backend):
    """KFP answers 400 "Failed to create a pipeline version" (not 404): the error says so
    and is not taken for NotFound (reconcile asks for the pipeline to tell it is gone)."""
    pipeline = backend.create_pipeline("demo-deleted")
    assert backend.delete_pipeline(pipeline.id) is True
    with pytest.raises(ApiError) as info:
        backend.upload_version(pipeline.id, "0123456789abcdef", compiled().yaml)
    err = info.value
    assert err.status == 400 and not err.not_found
    assert str(err) == (f"KFP upload version '0123456789abcdef' of pipeline {pipeline.id} "
                        "failed (HTTP 400): Failed to create a pipeline version")


def test_failed_steps_follow_kfps_task_details():
    """KFP's task details: a DAG task lists its children in `child_tasks` (by pod_name) and
    fails with them; only the leaf steps that failed are named."""
    import kfp_server_api as k

    def task(task_id, name, state, children=(), parent="", message=""):
        return k.V2beta1PipelineTaskDetail(
            task_id=task_id, display_name=name, state=state, parent_task_id=parent or None,
            error=k.GoogleRpcStatus(message=message) if message else None,
            child_tasks=[k.PipelineTaskDetailChildTask(pod_name=c) for c in children] or None)

    run = k.V2beta1Run(run_id="r", display_name="r", state="FAILED", run_details=k.V2beta1RunDetails(
        task_details=[
            task("1", "root", "FAILED", children=["wf-1-2", "wf-1-3"]),
            task("2", "make", "SUCCEEDED", parent="1"),
            task("3", "count", "FAILED", parent="1", message="ValueError: no"),
            # a sub-DAG known only by its child_tasks (its step carries no parent_task_id)
            task("4", "for-loop", "FAILED", children=["wf-1-5"]),
            task("5", "inner", "FAILED", message="boom"),
        ]))
    out = backends.convert.run(run)
    assert out.failed_steps == (("count", "ValueError: no"), ("inner", "boom"))
    assert out.failure_message() == "step 'count': ValueError: no; step 'inner': boom"


def test_lists_read_every_page(backend, monkeypatch):
    names = [f"demo-page-{i}" for i in range(5)]
    for name in names:
        backend.create_pipeline(name)
    monkeypatch.setattr(backends.client, "_PAGE_SIZE", 2)
    listed = [p.display_name for p in backend.list_pipelines()]
    assert set(names) <= set(listed)
    assert len(listed) == len(set(listed))
    # The filter goes again with each page token: KFP takes it only because it is the
    # token's own (another filter or sort with a token is a 400).
    substring = json.dumps({"predicates": [
        {"operation": "IS_SUBSTRING", "key": "display_name", "string_value": "demo-page-"}]})
    assert sorted(p.display_name for p in backend.list_pipelines(filter=substring)) == names


def test_ensure_experiment_writes_only_once(backend, kfp_server):
    first = backend.ensure_experiment("demo-exp", "for tests")
    before = stats(kfp_server.url)["writes"]
    again = Backend(backend.config).ensure_experiment("demo-exp")
    assert again == first
    assert stats(kfp_server.url)["writes"] == before


def test_run_wait_and_parameters(backend):
    pipeline = backend.create_pipeline("demo-run")
    version = backend.upload_version(pipeline.id, "v1", compiled().yaml)
    experiment = backend.ensure_experiment("demo-runs")
    run = backend.create_run(
        experiment_id=experiment.id,
        name="demo-run-1",
        description="marker",
        pipeline_id=pipeline.id,
        version_id=version.id,
        parameters={"x": 41, "word": "sum"},
    )
    assert run.state in backends.ACTIVE_STATES and run.finished_at == ""
    assert (run.pipeline_id, run.version_id) == (pipeline.id, version.id)
    done = backend.wait_run(run.id, timeout=120)
    assert done.state == "SUCCEEDED", done
    assert done.finished_at.endswith("Z") and done.parameters == {"x": 41, "word": "sum"}
    assert [r.id for r in backend.find_runs("demo-run-1", experiment.id)] == [run.id]
    assert backend.run_url(run.id) == f"{backend.host}/#/runs/details/{run.id}"


def test_wait_stops_on_canceled(backend):
    pipeline = backend.create_pipeline("demo-cancel")
    version = backend.upload_version(pipeline.id, "v1", compiled(SLEEPER).yaml)
    experiment = backend.ensure_experiment("demo-runs")
    run = backend.create_run(
        experiment_id=experiment.id,
        name="demo-cancel-1",
        pipeline_id=pipeline.id,
        version_id=version.id,
        parameters={"x": 60},
    )
    with pytest.raises(backends.BackendError, match="still"):
        backend.wait_run(run.id, timeout=0.5)
    backend.terminate_run(run.id)
    started = time.monotonic()
    done = backend.wait_run(run.id, timeout=60)
    assert done.state == "CANCELED" and time.monotonic() - started < 60
    # KFP refuses to terminate a finished run as invalid input (400, code 3).
    with pytest.raises(ApiError) as info:
        backend.terminate_run(run.id)
    assert info.value.status == 400 and not info.value.not_found
    assert f"Failed to terminate a run {run.id}. Row not found" in str(info.value)
    assert backend.delete_run(run.id) is True and backend.delete_run(run.id) is False


def test_recurring_run_round_trip(backend):
    pipeline = backend.create_pipeline("demo-schedule")
    version = backend.upload_version(pipeline.id, "v1", compiled().yaml)
    experiment = backend.ensure_experiment("demo-schedules")
    made = backend.create_recurring_run(
        experiment_id=experiment.id,
        name="demo-nightly",
        description="d",
        pipeline_id=pipeline.id,
        version_id=version.id,
        cron="0 5 4 * * *",
        parameters={"x": 1},
        enabled=False,
        max_concurrency=2,
        no_catchup=True,
        start_time="2030-01-01T00:00:00Z",
    )
    live = backend.get_recurring_run(made.id)
    assert live.cron == "0 5 4 * * *" and live.mode == "DISABLE" and not live.enabled
    assert live.max_concurrency == 2 and live.no_catchup is True  # int64 came as a string
    assert live.start_time == "2030-01-01T00:00:00Z" and live.end_time == ""
    assert (live.pipeline_id, live.version_id) == (pipeline.id, version.id)
    assert live.parameters == {"x": 1} and live.experiment_id == experiment.id

    backend.enable_recurring_run(made.id)
    assert backend.get_recurring_run(made.id).enabled
    backend.disable_recurring_run(made.id)
    assert not backend.get_recurring_run(made.id).enabled
    assert [r.id for r in backend.find_recurring_runs("demo-nightly")] == [made.id]
    assert backend.active_runs_of(made.id) == []

    assert backend.delete_recurring_run(made.id) is True
    assert backend.delete_recurring_run(made.id) is False
    with pytest.raises(ApiError) as info:
        backend.get_recurring_run(made.id)
    assert info.value.not_found


def test_bad_cron_is_kfps_message(backend):
    pipeline = backend.create_pipeline("demo-badcron")
    version = backend.upload_version(pipeline.id, "v1", compiled().yaml)
    experiment = backend.ensure_experiment("demo-schedules")
    with pytest.raises(ApiError) as info:
        backend.create_recurring_run(
            experiment_id=experiment.id,
            name="demo-bad",
            pipeline_id=pipeline.id,
            version_id=version.id,
            cron="1 * *",
        )
    assert info.value.status == 400 and "cron" in str(info.value).lower()


def test_no_host_starts_the_embedded_server_on_demand(tmp_path, monkeypatch):
    from dh_kfp_pulumi.server import lifecycle

    data_dir = tmp_path / "on-demand"
    backend = Backend(BackendConfig(data_dir=str(data_dir)))
    try:
        assert backend.healthz()["multi_user"] is False
        info = lifecycle.status(data_dir)
        assert info is not None and backend.host == info.url
        # a second backend finds the running server instead of starting another
        assert Backend(BackendConfig(data_dir=str(data_dir))).host == info.url
    finally:
        lifecycle.stop(data_dir)
