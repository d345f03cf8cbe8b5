"""Refresh reads in batches: one list per project or experiment answers a burst of gets."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from kfp_kit import stats

sys.path.insert(0, str(Path(__file__).parents[1] / "reconcile"))
from reconcile_kit import workflow_props  # noqa: E402

from dh_kfp_pulumi.backends import ApiError, Backend, BackendConfig  # noqa: E402
from dh_kfp_pulumi.backends.snapshot import MAX_AGE, SnapshotBackend, Snapshots  # noqa: E402


def compiled_yaml() -> str:
    from dh_kfp_pulumi.reconcile import workflow

    return workflow.build(workflow_props(), BackendConfig(image="python:3.11-slim")).yaml


def gets_and_lists(url: str) -> tuple[int, int]:
    requests = stats(url)["requests"]
    gets = sum(n for k, n in requests.items() if k.startswith("GET") and k.endswith("}"))
    lists = sum(n for k, n in requests.items() if k.startswith("GET") and not k.endswith("}"))
    return gets, lists


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_of_pipeline_reads_is_one_list(kfp_server):
    config = BackendConfig(host=kfp_server.url)
    backend = Backend(config)
    made = [backend.create_pipeline(f"snap-p{i}", "d") for i in range(5)]
    other = backend.create_pipeline("elsewhere-p", "d")
    snapshots = Snapshots()
    before = gets_and_lists(kfp_server.url)

    def reader() -> SnapshotBackend:
        return SnapshotBackend(config, project="snap", experiment_id=None, snapshots=snapshots)

    seen = [reader().get_pipeline(p.id) for p in made]
    assert seen == [backend.get_pipeline(p.id) for p in made]  # the same answer as a get
    after = gets_and_lists(kfp_server.url)
    assert (after[0] - before[0], after[1] - before[1]) == (len(made), 1)  # 5 gets above
    assert snapshots.lists == 1

    # outside the scope: KFP's own get; deleted since: gone, as a get says
    assert reader().get_pipeline(other.id) == other
    backend.delete_pipeline(made[0].id)
    snapshots.forget()
    with pytest.raises(ApiError) as gone:
        reader().get_pipeline(made[0].id)
    assert gone.value.not_found
    for p in [*made[1:], other]:
        backend.delete_pipeline(p.id)


def test_a_snapshot_ends_with_a_write_or_its_age(kfp_server):
    config = BackendConfig(host=kfp_server.url)
    backend = Backend(config)
    pipeline = backend.create_pipeline("aged-p", "d")
    clock = Clock()
    snapshots = Snapshots(clock)
    reader = SnapshotBackend(config, project="aged", experiment_id=None, snapshots=snapshots)
    reader.get_pipeline(pipeline.id)
    reader.get_pipeline(pipeline.id)
    assert snapshots.lists == 1
    clock.now += MAX_AGE + 1
    reader.get_pipeline(pipeline.id)
    assert snapshots.lists == 2
    snapshots.forget()
    reader.get_pipeline(pipeline.id)
    assert snapshots.lists == 3
    backend.delete_pipeline(pipeline.id)


def test_concurrent_reads_of_one_scope_wait_for_one_list(kfp_server):
    config = BackendConfig(host=kfp_server.url)
    backend = Backend(config)
    made = [backend.create_pipeline(f"para-p{i}", "d") for i in range(8)]
    snapshots = Snapshots()
    results: list[str] = []

    def read(pid: str) -> None:
        got = SnapshotBackend(config, project="para", experiment_id=None, snapshots=snapshots)
        results.append(got.get_pipeline(pid).id)

    threads = [threading.Thread(target=read, args=(p.id,)) for p in made]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == sorted(p.id for p in made) and snapshots.lists == 1
    for p in made:
        backend.delete_pipeline(p.id)


def test_recurring_runs_are_listed_once_per_experiment(kfp_server):
    config = BackendConfig(host=kfp_server.url)
    backend = Backend(config)
    pipeline = backend.create_pipeline("rr-snap", "d")
    version = backend.upload_version(pipeline.id, "v1", compiled_yaml(), "d")
    experiment = backend.ensure_experiment("rr-snap")
    made = [
        backend.create_recurring_run(
            experiment_id=experiment.id, name=f"rr-{i}", description="d",
            pipeline_id=pipeline.id, version_id=version.id, cron="0 0 1 1 * *",
            parameters={"x": 1}, enabled=False, max_concurrency=1, no_catchup=True,
            start_time=None, end_time=None,
        )
        for i in range(4)
    ]
    snapshots = Snapshots()
    reader = SnapshotBackend(config, project=None, experiment_id=experiment.id,
                             snapshots=snapshots)
    assert [reader.get_recurring_run(r.id) for r in made] == [
        backend.get_recurring_run(r.id) for r in made
    ]
    assert snapshots.lists == 1
    for r in made:
        backend.delete_recurring_run(r.id)
    backend.delete_pipeline(pipeline.id)
