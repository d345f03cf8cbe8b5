"""The seed's example task, deployed to the embedded server: its own version, its schedule, a run.

The server cannot apply Kubernetes pod settings on one machine; the run still executes and
its details say the settings were not applied.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import kfp
import pytest
import yaml

from dh_kfp_pulumi.backends import Backend, BackendConfig
from dh_kfp_pulumi.reconcile import resolve_sources, run, task, workflow

REPO = Path(__file__).resolve().parents[2]
PARKING = REPO / "examples" / "parking"
SEED = json.loads((Path(__file__).parent / "fixtures" / "seed_task_settings.json").read_text())
PROFILES = {"1xa100": {"resources": {"gpu_type": "nvidia.com/gpu"}}}


@pytest.fixture(scope="module")
def config(kfp_server):
    return BackendConfig(host=kfp_server.url, profiles=PROFILES)


@pytest.fixture(autouse=True)
def _quiet_kfp_client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        yield


def checked(kind, props, config):
    inputs, problems = kind.check(props, config)
    assert problems == [], problems
    return inputs


def test_seed_task_deploys_schedules_and_runs_without_pod_settings(config):
    functions = [
        {"name": "downloader-funct", "kind": "python", "code_src": "src/download.py",
         "handler": "download"},
        {"name": "extract-parkings", "kind": "python", "code_src": "src/extract.py",
         "handler": "extract"},
    ]  # fmt: skip
    wf_props = resolve_sources(
        {"project": "parking", "name": "workflow", "kind": "kfp", "code_src": "pipeline.py",
         "handler": "myhandler", "functions": functions},
        PARKING,
    )  # fmt: skip
    backend = Backend(config)
    wf_id, wf = workflow.create(checked(workflow, wf_props, config), backend)

    task_props = {
        "project": "parking", "name": "seed", "action": "pipeline", "schedule": "5 4 * * *",
        "pipeline_id": wf["pipeline_id"], "workflow_version_id": wf["version_id"],
        "workflow_spec": workflow.spec_for_task(wf), **SEED,
        "inputs": {"url": str(PARKING / "data" / "parkings.csv")},
    }  # fmt: skip
    task_id, scheduled = task.create(checked(task, task_props, config), backend)
    assert scheduled["own_version"] is True and scheduled["version_id"] != wf["version_id"]
    assert scheduled["cron"] == "0 5 4 * * *"  # 04:05 daily, as KFP reads crons

    # the version KFP stores carries the seed's settings as platform config
    version = backend.get_version(wf["pipeline_id"], scheduled["version_id"])
    executors = version.spec["platform_spec"]["platforms"]["kubernetes"]["deploymentSpec"][
        "executors"
    ]
    assert len(executors) == 2
    for ex in executors.values():
        assert ex["nodeSelector"] == {"labels": {"node1": "value1"}}
        assert [m["mountPath"] for m in ex["pvcMount"]] == ["/volume2"]
        assert [s["secretName"] for s in ex["secretAsVolume"]] == ["secret-key"]
    assert "nvidia.com/gpu" in yaml.safe_dump(version.spec["pipeline_spec"])  # from the profile

    run_props = {
        "project": "parking", "name": "seed-once", "pipeline_id": wf["pipeline_id"],
        "version_id": scheduled["version_id"], "inputs": task_props["inputs"], "wait": True,
        "wait_timeout": 120,
    }  # fmt: skip
    run_id, done = run.create(checked(run, run_props, config), backend)
    assert done["state"] == "SUCCEEDED", done

    # the run's details say what could not be applied here
    client = kfp.Client(host=config.host)
    live = client.get_run(run_id)
    notes = [h.error.message for h in live.state_history or [] if h.error and h.error.message]
    assert any("pod settings" in note.lower() for note in notes), notes

    run.delete(run_id, done, backend)
    task.delete(task_id, scheduled, backend)
    workflow.delete(wf_id, wf, backend)
    assert client.list_pipelines().pipelines is None
