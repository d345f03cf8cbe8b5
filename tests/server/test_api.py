"""Every kfp.Client method of the KFP API round-trips through the embedded server.

Runs are held PENDING here (`max_concurrent_runs=0`): these tests are about the API, not
execution (see test_runs.py). Every response kfp.Client receives is checked against the
swagger schema by the `swagger_checked` fixture of conftest.py.
"""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import kfp_server_api
import pytest
import yaml

SERVER_SETTINGS = {"max_concurrent_runs": 0}


def test_healthz_and_default_experiment(client):
    assert client.get_kfp_healthz().multi_user is False
    default = client.get_experiment(experiment_name="Default")
    assert default.description == (
        "All runs created without specifying an experiment will be grouped here."
    )
    assert default.storage_state == "AVAILABLE"


def test_experiments_round_trip(client, server, kit):
    exp = client.create_experiment("api-exp", description="first")
    assert (exp.display_name, exp.description, exp.storage_state) == (
        "api-exp",
        "first",
        "AVAILABLE",
    )
    # A second create with the same name finds the first (kfp.Client looks it up, no POST).
    again = client.create_experiment("api-exp")
    assert again.experiment_id == exp.experiment_id
    assert client.get_experiment(experiment_id=exp.experiment_id).display_name == "api-exp"
    assert client.get_experiment(experiment_name="api-exp").experiment_id == exp.experiment_id
    listed = client.list_experiments(page_size=100)
    assert exp.experiment_id in [e.experiment_id for e in listed.experiments]
    assert listed.total_size == len(listed.experiments)

    client.archive_experiment(exp.experiment_id)
    assert client.get_experiment(experiment_id=exp.experiment_id).storage_state == "ARCHIVED"
    client.unarchive_experiment(exp.experiment_id)
    assert client.get_experiment(experiment_id=exp.experiment_id).storage_state == "AVAILABLE"

    # Wire details: unset times are the epoch, zero values are left out.
    status, raw, _ = kit.http("GET", f"{server.url}/apis/v2beta1/experiments/{exp.experiment_id}")
    assert status == 200 and raw["last_run_created_at"] == "1970-01-01T00:00:00Z"
    assert "namespace" not in raw

    client.delete_experiment(exp.experiment_id)
    with pytest.raises(kfp_server_api.ApiException) as err:
        client.get_experiment(experiment_id=exp.experiment_id)
    assert err.value.status == 404
    with pytest.raises(ValueError, match="No experiment is found"):
        client.get_experiment(experiment_name="api-exp")


def test_pipelines_and_versions_round_trip(client, pipelines, server, kit):
    pipe = client.upload_pipeline(
        pipelines["two_step"], pipeline_name="api-pipe", description="adds things"
    )
    assert (pipe.name, pipe.display_name, pipe.description) == (
        "api-pipe",
        "api-pipe",
        "adds things",
    )
    assert client.get_pipeline(pipe.pipeline_id).name == "api-pipe"
    assert client.get_pipeline_id("api-pipe") == pipe.pipeline_id
    assert client.get_pipeline_id("no-such-pipeline") is None

    # Upload made a first version named like the pipeline, holding the IR.
    versions = client.list_pipeline_versions(pipe.pipeline_id)
    assert versions.total_size == 1 and versions.pipeline_versions[0].name == "api-pipe"
    first = versions.pipeline_versions[0]
    ir = yaml.safe_load(Path(pipelines["two_step"]).read_text())
    assert first.pipeline_spec == ir

    v2 = client.upload_pipeline_version(
        pipelines["two_step"], "v2", pipeline_id=pipe.pipeline_id, description="second"
    )
    assert (v2.name, v2.description, v2.pipeline_id) == ("v2", "second", pipe.pipeline_id)
    v3 = client.upload_pipeline_version(pipelines["two_step"], "v3", pipeline_name="api-pipe")
    got = client.get_pipeline_version(pipe.pipeline_id, v3.pipeline_version_id)
    assert got.name == "v3" and got.pipeline_spec["pipelineInfo"]["name"] == "two-step"

    newest_first = client.list_pipeline_versions(pipe.pipeline_id, sort_by="created_at desc")
    assert [v.name for v in newest_first.pipeline_versions][0] in ("v3", "v2", "api-pipe")
    by_name = client.list_pipeline_versions(pipe.pipeline_id, sort_by="name desc")
    assert [v.name for v in by_name.pipeline_versions] == ["v3", "v2", "api-pipe"]

    # Delete is refused while versions exist (KFP: 400, no cascade from kfp.Client).
    with pytest.raises(kfp_server_api.ApiException) as err:
        client.delete_pipeline(pipe.pipeline_id)
    assert err.value.status == 400 and "existing pipeline versions" in err.value.body
    for version in client.list_pipeline_versions(pipe.pipeline_id).pipeline_versions:
        client.delete_pipeline_version(pipe.pipeline_id, version.pipeline_version_id)
    assert client.list_pipeline_versions(pipe.pipeline_id).pipeline_versions is None
    client.delete_pipeline(pipe.pipeline_id)
    with pytest.raises(kfp_server_api.ApiException) as err:
        client.get_pipeline(pipe.pipeline_id)
    assert err.value.status == 404


def test_platform_spec_is_kept_and_returned_like_kfp(client, pipelines):
    pipe = client.upload_pipeline(pipelines["pod_settings"], pipeline_name="api-pod")
    version = client.list_pipeline_versions(pipe.pipeline_id).pipeline_versions[0]
    docs = list(yaml.safe_load_all(Path(pipelines["pod_settings"]).read_text()))
    assert version.pipeline_spec == {"pipeline_spec": docs[0], "platform_spec": docs[1]}


def test_json_create_endpoints(server, kit, pipelines):
    ir = yaml.safe_load(Path(pipelines["two_step"]).read_text())
    url = f"{server.url}/apis/v2beta1/pipelines"
    status, pipe, _ = kit.http("POST", url, {"display_name": "json-pipe", "description": "d"})
    assert status == 200 and pipe["name"] == "json-pipe"
    kit.validate_response("POST", "/apis/v2beta1/pipelines", status, json.dumps(pipe))
    status, version, _ = kit.http(
        "POST", f"{url}/{pipe['pipeline_id']}/versions", {"displayName": "jv1", "pipelineSpec": ir}
    )
    assert status == 200 and version["pipeline_spec"] == ir
    status, both, _ = kit.http(
        "POST",
        f"{url}/create",
        {
            "pipeline": {"name": "json-both"},
            "pipeline_version": {
                "package_url": {"pipeline_url": f"file://{pipelines['two_step']}"}
            },
        },
    )
    assert status == 200, both
    status, named, _ = kit.http("GET", f"{url}/names/json-both")
    assert status == 200 and named["pipeline_id"] == both["pipeline_id"]
    status, listed, _ = kit.http("GET", f"{url}/{both['pipeline_id']}/versions")
    assert [v["name"] for v in listed["pipeline_versions"]] == ["json-both"]
    # KFP's cascade delete (kfp.Client never sends it).
    status, _, _ = kit.http("DELETE", f"{url}/{both['pipeline_id']}?cascade=true")
    assert status == 200


def test_runs_round_trip(client, pipelines, server, kit):
    exp = client.create_experiment("api-runs")
    inline = client.run_pipeline(
        exp.experiment_id, "inline-run", pipelines["two_step"], params={"n": 5}
    )
    assert inline.state == "PENDING" and inline.finished_at.year == 1970
    assert inline.pipeline_spec["pipelineInfo"]["name"] == "two-step"
    assert inline.runtime_config.parameters == {"n": 5}

    pipe = client.upload_pipeline(pipelines["two_step"], pipeline_name="api-run-pipe")
    version = client.list_pipeline_versions(pipe.pipeline_id).pipeline_versions[0]
    by_ref = client.run_pipeline(
        exp.experiment_id,
        "ref-run",
        pipeline_id=pipe.pipeline_id,
        version_id=version.pipeline_version_id,
        params={"fail": True},
    )
    assert by_ref.pipeline_version_reference.pipeline_version_id == version.pipeline_version_id
    assert by_ref.pipeline_spec is None

    result = client.create_run_from_pipeline_package(
        pipelines["two_step"], {"n": 1}, run_name="pkg-run", experiment_name="api-runs"
    )
    got = client.get_run(result.run_id)
    assert (got.display_name, got.experiment_id, got.state) == (
        "pkg-run",
        exp.experiment_id,
        "PENDING",
    )
    assert got.state_history[0].state == "PENDING"
    assert client.get_experiment(experiment_id=exp.experiment_id).last_run_created_at.year > 1970

    listed = client.list_runs(experiment_id=exp.experiment_id, page_size=50)
    assert {r.display_name for r in listed.runs} == {"inline-run", "ref-run", "pkg-run"}
    assert listed.total_size == 3

    # No experiment: the Default one.
    default_run = client.run_pipeline(None, "default-exp-run", pipelines["two_step"])
    default = client.get_experiment(experiment_name="Default")
    assert client.get_run(default_run.run_id).experiment_id == default.experiment_id

    client.archive_run(inline.run_id)
    assert client.get_run(inline.run_id).storage_state == "ARCHIVED"
    client.unarchive_run(inline.run_id)
    assert client.get_run(inline.run_id).storage_state == "AVAILABLE"

    # Terminate: PENDING -> CANCELING -> CANCELED.
    client.terminate_run(by_ref.run_id)
    done = kit.wait_state(client, by_ref.run_id, {"CANCELED"})
    assert [h.state for h in done.state_history][-2:] == ["CANCELING", "CANCELED"]
    assert done.finished_at.year > 1970
    with pytest.raises(kfp_server_api.ApiException) as err:
        client.terminate_run(by_ref.run_id)
    assert err.value.status == 400

    client.delete_run(result.run_id)
    with pytest.raises(kfp_server_api.ApiException) as err:
        client.get_run(result.run_id)
    assert err.value.status == 404


def test_list_filters_sorting_and_pages(client, pipelines, server, kit):
    exp = client.create_experiment("api-pages")
    ids = [
        client.run_pipeline(exp.experiment_id, f"page-{i}", pipelines["two_step"]).run_id
        for i in range(5)
    ]
    first = client.list_runs(experiment_id=exp.experiment_id, page_size=2)
    assert first.total_size == 5 and len(first.runs) == 2 and first.next_page_token
    seen = [r.run_id for r in first.runs]
    token = first.next_page_token
    while token:
        page = client.list_runs(experiment_id=exp.experiment_id, page_size=2, page_token=token)
        seen += [r.run_id for r in page.runs]
        token = page.next_page_token
    assert seen == ids  # default order: created_at ascending, no duplicates

    desc = client.list_runs(experiment_id=exp.experiment_id, sort_by="name desc", page_size=10)
    assert [r.display_name for r in desc.runs] == [f"page-{i}" for i in range(4, -1, -1)]

    # Filters: named and numeric operations, camelCase and snake_case value keys.
    named = json.dumps(
        {"predicates": [{"operation": "EQUALS", "key": "display_name", "string_value": "page-3"}]}
    )
    numeric = json.dumps({"predicates": [{"operation": 1, "key": "name", "stringValue": "page-3"}]})
    for text in (named, numeric):
        runs = client.list_runs(experiment_id=exp.experiment_id, filter=text).runs
        assert [r.run_id for r in runs] == [ids[3]]
    within = json.dumps(
        {
            "predicates": [
                {"operation": "IN", "key": "run_id", "stringValues": {"values": ids[:2]}},
                {"operation": "IS_SUBSTRING", "key": "display_name", "string_value": "page"},
                {
                    "operation": "GREATER_THAN_EQUALS",
                    "key": "created_at",
                    "timestamp_value": "2000-01-01T00:00:00Z",
                },
            ]
        }
    )
    assert {r.run_id for r in client.list_runs(filter=within).runs} == set(ids[:2])
    nothing = json.dumps(
        {
            "predicates": [
                {"operation": "EQUALS", "key": "state", "string_value": "SUCCEEDED"},
                {"operation": "EQUALS", "key": "experiment_id", "string_value": exp.experiment_id},
            ]
        }
    )
    assert client.list_runs(filter=nothing).runs is None

    # An empty list is `{}` on the wire.
    status, raw, _ = kit.http(
        "GET", f"{server.url}/apis/v2beta1/runs?filter=" + urllib.parse.quote(nothing)
    )
    assert (status, raw) == (200, {})
    pipes = client.list_pipelines(
        filter=json.dumps(
            {
                "predicates": [
                    {"operation": "EQUALS", "key": "display_name", "stringValue": "none-such"}
                ]
            }
        )
    )
    assert pipes.pipelines is None and pipes.total_size is None


def test_recurring_runs_round_trip(client, pipelines):
    exp = client.create_experiment("api-schedules")
    pipe = client.upload_pipeline(pipelines["two_step"], pipeline_name="api-sched-pipe")
    version = client.list_pipeline_versions(pipe.pipeline_id).pipeline_versions[0]
    cron = client.create_recurring_run(
        exp.experiment_id,
        "nightly",
        description="d",
        cron_expression="0 5 4 * * *",
        start_time="2030-01-01T00:00:00Z",
        max_concurrency=2,
        no_catchup=True,
        pipeline_id=pipe.pipeline_id,
        version_id=version.pipeline_version_id,
        params={"n": 7},
    )
    assert cron.trigger.cron_schedule.cron == "0 5 4 * * *"
    assert cron.trigger.cron_schedule.start_time.year == 2030
    assert (cron.max_concurrency, cron.mode, cron.status, cron.no_catchup) == (
        "2",
        "ENABLE",
        "ENABLED",
        True,
    )
    assert cron.pipeline_version_reference.pipeline_id == pipe.pipeline_id
    periodic = client.create_recurring_run(
        exp.experiment_id,
        "hourly",
        interval_second=3600,
        pipeline_package_path=pipelines["two_step"],
        enabled=False,
        start_time="2030-01-01T00:00:00Z",
    )
    assert periodic.trigger.periodic_schedule.interval_second == "3600"
    assert (periodic.mode, periodic.status) == ("DISABLE", "DISABLED")

    got = client.get_recurring_run(cron.recurring_run_id)
    assert got.runtime_config.parameters == {"n": 7}
    listed = client.list_recurring_runs(experiment_id=exp.experiment_id)
    assert {r.display_name for r in listed.recurring_runs} == {"nightly", "hourly"}
    assert listed.total_size == 2

    client.disable_recurring_run(cron.recurring_run_id)
    assert client.get_recurring_run(cron.recurring_run_id).status == "DISABLED"
    client.enable_recurring_run(cron.recurring_run_id)
    assert client.get_recurring_run(cron.recurring_run_id).mode == "ENABLE"

    for item in (cron, periodic):
        client.delete_recurring_run(item.recurring_run_id)
    assert client.list_recurring_runs(experiment_id=exp.experiment_id).recurring_runs is None
    with pytest.raises(kfp_server_api.ApiException) as err:
        client.get_recurring_run(cron.recurring_run_id)
    assert err.value.status == 404


def test_stats_count_requests_and_writes(client, server, kit):
    kit.http("POST", f"{server.url}/dh-kfp/v1/stats:reset")
    client.list_pipelines()
    client.get_experiment(experiment_name="Default")
    client.create_experiment("stats-exp")
    _, stats, _ = kit.http("GET", f"{server.url}/dh-kfp/v1/stats")
    assert stats["requests"]["GET /apis/v2beta1/pipelines"] == 1
    assert stats["requests"]["POST /apis/v2beta1/experiments"] == 1
    assert stats["writes"] == 1
    client.create_experiment("stats-exp")  # exists: kfp.Client only looks it up
    _, after, _ = kit.http("GET", f"{server.url}/dh-kfp/v1/stats")
    assert after["writes"] == 1 and after["total"] == stats["total"] + 1
