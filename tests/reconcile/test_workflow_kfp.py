"""Workflow against the embedded KFP server: create, no-op, new version, drift, adopt, delete."""

from __future__ import annotations

import pytest
from kfp_kit import kfp_client, writes
from reconcile_kit import workflow_props

from dh_kfp_pulumi.backends import ApiError, Backend
from dh_kfp_pulumi.reconcile import workflow
from dh_kfp_pulumi.reconcile.common import short_hash

NEW_CODE = "def add(x, word):\n    return {'y': word * int(x)}\n"


def checked(config, **kw):
    inputs, problems = workflow.check(workflow_props(**kw), config)
    assert problems == []
    return inputs


def versions(url, pipeline_id):
    listed = kfp_client(url).list_pipeline_versions(pipeline_id, page_size=100)
    return sorted(v.display_name for v in listed.pipeline_versions or [])


def test_create_noop_new_version_delete(config, kfp_server):
    inputs = checked(config, name="life")
    pid, out = workflow.create(inputs, Backend(config))
    assert pid == out["pipeline_id"] and out["pipeline_name"] == "demo-life"
    assert out["version_name"] == short_hash(inputs["spec_hash"]) == inputs["spec_hash"][:16]
    assert out["spec_hash"] == inputs["spec_hash"] and out["ir"].startswith("# dh-kfp-pulumi")
    assert out["url"].endswith(f"#/pipelines/details/{pid}/version/{out['version_id']}")
    assert set(out) >= set(inputs)  # outputs are a superset of inputs
    client = kfp_client(kfp_server.url)
    assert client.get_pipeline(pid).display_name == "demo-life"
    assert versions(kfp_server.url, pid) == [out["version_name"]]

    # no change: nothing to do, and even a forced update or a retried create makes no write
    again = checked(config, name="life")
    assert workflow.plan(out, again).changes == []
    before = writes(kfp_server.url)
    assert workflow.update(pid, out, again, Backend(config)) == out
    assert workflow.create(again, Backend(config)) == (pid, out)
    assert writes(kfp_server.url) == before

    # code change: one new version, the old one kept
    changed = checked(config, name="life", code=NEW_CODE)
    plan = workflow.plan(out, changed)
    assert plan.changes == ["functions", "spec_hash"] and plan.replaces == []
    out2 = workflow.update(pid, out, changed, Backend(config))
    assert out2["pipeline_id"] == pid and out2["version_id"] != out["version_id"]
    assert out2["functions"] == changed["functions"]
    assert versions(kfp_server.url, pid) == sorted([out["version_name"], out2["version_name"]])
    assert writes(kfp_server.url) == before + 1

    workflow.delete(pid, out2, Backend(config))
    with pytest.raises(ApiError):
        Backend(config).get_pipeline(pid)
    workflow.delete(pid, out2, Backend(config))  # already gone: fine
    assert workflow.read(pid, out2, Backend(config)) == ("", {}, {})


def test_read_shows_a_deleted_version_and_update_restores_it(config, kfp_server):
    inputs = checked(config, name="drift")
    pid, out = workflow.create(inputs, Backend(config))
    assert workflow.read(pid, out, Backend(config)) == (pid, out, {k: out[k] for k in inputs})

    kfp_client(kfp_server.url).delete_pipeline_version(pid, out["version_id"])
    rid, live, live_inputs = workflow.read(pid, out, Backend(config))
    assert rid == pid and live["version_id"] == "" and live_inputs["spec_hash"] == ""
    plan = workflow.plan(live, inputs)
    assert plan.changes == ["spec_hash"] and plan.replaces == []
    fixed = workflow.update(pid, live, inputs, Backend(config))
    assert fixed["version_name"] == out["version_name"] and fixed["version_id"] != out["version_id"]
    assert workflow.read(pid, fixed, Backend(config))[1]["version_id"] == fixed["version_id"]

    client = kfp_client(kfp_server.url)
    client.delete_pipeline_version(pid, fixed["version_id"])
    client.delete_pipeline(pid)
    assert workflow.read(pid, fixed, Backend(config)) == ("", {}, {})


def test_adopt_an_existing_pipeline_and_import(config, kfp_server, tmp_path):
    spec = tmp_path / "legacy.yaml"
    spec.write_text(workflow.build(checked(config, name="legacy"), config).yaml)
    legacy = kfp_client(kfp_server.url).upload_pipeline(str(spec), pipeline_name="legacy-pipeline")

    inputs = checked(config, name="adopter", adopt="legacy-pipeline")
    pid, out = workflow.create(inputs, Backend(config))
    assert pid == legacy.pipeline_id and out["pipeline_name"] == "legacy-pipeline"
    # upload made a first version named like the pipeline; ours is named by the hash
    assert versions(kfp_server.url, pid) == sorted(["legacy-pipeline", out["version_name"]])

    with pytest.raises(Exception, match="adopt"):
        workflow.create(checked(config, name="x", adopt="no-such-pipeline"), Backend(config))

    # import by name (no state): the newest version, its full hash from our description
    rid, imported, imported_inputs = workflow.read("legacy-pipeline", {}, Backend(config))
    assert rid == pid and imported["version_id"] == out["version_id"]
    assert imported_inputs == {
        "spec_hash": out["spec_hash"],
        "kind": "kfp",
        "project": "demo",
        "name": "adopter",
    }
    plan = workflow.plan(imported, {**inputs, "adopt": None})
    assert plan.replaces == [] and "spec_hash" not in plan.changes
    assert workflow.read("nothing-like-it", {}, Backend(config)) == ("", {}, {})
    workflow.delete(pid, out, Backend(config))


class BrokenUpload(Backend):
    """A backend whose version upload is refused by the server (a spec KFP cannot read)."""

    def upload_version(self, pipeline_id, name, spec_yaml, description=""):
        return super().upload_version(pipeline_id, name, "pipelineInfo: [", description)


def test_failed_create_leaves_nothing_behind(config, kfp_server):
    inputs = checked(config, name="broken")
    with pytest.raises(ApiError) as info:
        workflow.create(inputs, BrokenUpload(config))
    assert info.value.status == 400
    assert Backend(config).find_pipeline("demo-broken") is None
    # a retry with a working backend converges
    pid, out = workflow.create(inputs, Backend(config))
    assert out["pipeline_name"] == "demo-broken"
    workflow.delete(pid, out, Backend(config))


def test_not_embedded_keeps_no_ir(config):
    inputs = checked(config, name="lean", embedded=False)
    pid, out = workflow.create(inputs, Backend(config))
    assert out["ir"] is None and out["version_id"]
    embedded = checked(config, name="lean", embedded=True)
    assert workflow.plan(out, embedded).changes == ["embedded"]
    out2 = workflow.update(pid, out, embedded, Backend(config))
    assert out2["ir"] and out2["version_id"] == out["version_id"]
    workflow.delete(pid, out2, Backend(config))


def test_concurrent_creates_of_one_workflow_converge(config, kfp_server):
    """Four threads (as the Pulumi provider server runs them) race to create the same workflow."""
    from concurrent.futures import ThreadPoolExecutor

    inputs = checked(config, name="race")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: workflow.create(inputs, Backend(config)), range(4)))
    assert len({pid for pid, _ in results}) == 1
    assert len({out["version_id"] for _, out in results}) == 1
    pid = results[0][0]
    assert [p.id for p in Backend(config).list_pipelines() if p.display_name == "demo-race"] == [
        pid
    ]
    assert versions(kfp_server.url, pid) == [results[0][1]["version_name"]]
    workflow.delete(pid, results[0][1], Backend(config))


def test_description_is_the_pipelines_with_the_owner_mark_after_it(config, kfp_server):
    inputs = checked(config, name="described", description="Parking lots, nightly.")
    pid, out = workflow.create(inputs, Backend(config))
    assert kfp_client(kfp_server.url).get_pipeline(pid).description == (
        "Parking lots, nightly.\n\ndh-kfp:workflow demo/described"
    )
    workflow.delete(pid, out, Backend(config))


def test_read_counts_a_version_of_another_pipeline_as_gone(config, kfp_server):
    """A KFP that looks a version up by its id alone may answer for another pipeline's."""
    inputs = checked(config, name="mine")
    pid, out = workflow.create(inputs, Backend(config))
    other_pid, other = workflow.create(checked(config, name="theirs"), Backend(config))

    class IgnoresPipelineId(Backend):
        def get_version(self, pipeline_id, version_id):
            return super().get_version(other_pid, version_id)

    state = {**out, "version_id": other["version_id"]}
    _, live, live_inputs = workflow.read(pid, state, IgnoresPipelineId(config))
    assert live["version_id"] == "" and live_inputs["spec_hash"] == ""
    for i, o in ((pid, out), (other_pid, other)):
        workflow.delete(i, o, Backend(config))


def test_update_of_a_pipeline_deleted_in_kfp_says_it_is_gone_and_a_refresh_recreates_it(
    config, kfp_server
):
    """KFP answers an upload_version to a deleted pipeline with 400 (not 404): the update
    still names the pipeline as gone; a refresh (read) drops it and create makes it anew."""
    inputs = checked(config, name="vanished")
    pid, out = workflow.create(inputs, Backend(config))
    client = kfp_client(kfp_server.url)
    client.delete_pipeline_version(pid, out["version_id"])
    client.delete_pipeline(pid)

    changed = checked(config, name="vanished", code=NEW_CODE)
    with pytest.raises(ApiError) as info:
        workflow.update(pid, out, changed, Backend(config))
    assert info.value.status == 400
    assert "Failed to create a pipeline version" in str(info.value)
    assert f"the pipeline {pid} is gone: refresh the stack state" in str(info.value)

    assert workflow.read(pid, out, Backend(config)) == ("", {}, {})
    new_pid, new_out = workflow.create(changed, Backend(config))
    assert new_pid != pid and versions(kfp_server.url, new_pid) == [new_out["version_name"]]
    workflow.delete(new_pid, new_out, Backend(config))


class _RefusesUploads:
    """A backend whose upload_version answers 400, and whose pipeline is there or not."""

    def __init__(self, pipeline: str):
        self.pipeline = pipeline  # "there", "gone", or "unreachable"

    def find_version(self, pipeline_id, name):
        return None

    def upload_version(self, pipeline_id, name, spec_yaml, description=""):
        raise ApiError("KFP upload version failed (HTTP 400): Invalid pipeline spec",
                       status=400, operation="upload version")

    def get_pipeline(self, pipeline_id):
        if self.pipeline == "gone":
            raise ApiError("KFP get pipeline failed (HTTP 404): Pipeline p not found", status=404)
        if self.pipeline == "unreachable":
            raise ApiError("KFP get pipeline failed (HTTP 503): Service unavailable", status=503)
        return object()


@pytest.mark.parametrize(("pipeline", "gone"), [("there", False), ("gone", True),
                                                 ("unreachable", False)])
def test_a_400_on_upload_is_gone_only_when_kfp_says_the_pipeline_is(pipeline, gone):
    from types import SimpleNamespace

    result = SimpleNamespace(spec_hash="ab" * 32, yaml="{}")
    with pytest.raises(ApiError) as info:
        workflow.ensure_version(_RefusesUploads(pipeline), "p", result, "d")
    assert info.value.status == 400 and "Invalid pipeline spec" in str(info.value)
    assert ("the pipeline p is gone" in str(info.value)) is gone
