"""Layer 3: each dynamic provider driven through the real provider server.

`python -m pulumi.dynamic` runs as the Pulumi engine starts it; the test plays the
engine's side of the gRPC protocol (Configure, Check, Diff, Create, Read, Update,
Delete) with properties serialized by the SDK's own `rpc` helpers and the provider
pickled by `serialize_provider`, as `pulumi.dynamic.Resource` does. KFP effects are
checked with kfp.Client against the embedded server.
"""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest
from kfp_kit import ADDER, PIPELINE
from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.output import Unknown
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2
from resources_kit import TOKEN, deserialize, serialize

from dh_kfp_pulumi.reconcile.workflow import spec_for_task
from dh_kfp_pulumi.resources.providers import (
    JobProvider,
    RunProvider,
    TaskProvider,
    WorkflowProvider,
)

PROJECT = "proto"
SEEN: list[bytes] = []  # every response's bytes: the token must be in none


class Driver:
    """The engine's side of the protocol for one resource."""

    def __init__(self, stub: Any, provider: Any, kind: str, name: str):
        self.stub = stub
        self.provider_key = serialize_provider(provider)
        self.urn = f"urn:pulumi:test::{PROJECT}::pulumi-python:dynamic/dh-kfp:{kind}::{name}"

    def _props(self, props: dict[str, Any]) -> Any:
        return serialize({**props, "__provider": self.provider_key})

    def _seen(self, response: Any) -> Any:
        SEEN.append(response.SerializeToString())
        return response

    def check(self, news: dict[str, Any], olds: dict[str, Any] | None = None):
        response = self._seen(
            self.stub.Check(
                provider_pb2.CheckRequest(
                    urn=self.urn, olds=self._props(olds or {}), news=self._props(news)
                )
            )
        )
        return deserialize(response.inputs), {f.property: f.reason for f in response.failures}

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> Any:
        return self._seen(
            self.stub.Diff(
                provider_pb2.DiffRequest(
                    id=id_, urn=self.urn, olds=self._props(olds), news=self._props(news)
                )
            )
        )

    def create(self, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        response = self._seen(
            self.stub.Create(
                provider_pb2.CreateRequest(urn=self.urn, properties=self._props(props))
            )
        )
        return response.id, deserialize(response.properties)

    def read(self, id_: str, outputs: dict[str, Any], inputs: dict[str, Any]):
        response = self._seen(
            self.stub.Read(
                provider_pb2.ReadRequest(
                    id=id_,
                    urn=self.urn,
                    properties=self._props(outputs),
                    inputs=self._props(inputs),
                )
            )
        )
        return response.id, deserialize(response.properties), deserialize(response.inputs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        response = self._seen(
            self.stub.Update(
                provider_pb2.UpdateRequest(
                    id=id_, urn=self.urn, olds=self._props(olds), news=self._props(news)
                )
            )
        )
        return deserialize(response.properties)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        self._seen(
            self.stub.Delete(
                provider_pb2.DeleteRequest(id=id_, urn=self.urn, properties=self._props(props))
            )
        )


def strip(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if k != "__provider"}


def workflow_props(code: str = ADDER, **extra: Any) -> dict[str, Any]:
    return {
        "project": PROJECT,
        "name": "wf",
        "kind": "kfp",
        "code": PIPELINE,
        "handler": "pipe",
        "functions": [{"name": "adder", "kind": "python", "code": code, "handler": "add"}],
        **extra,
    }


@pytest.fixture(scope="module")
def stub(provider_server, kfp_server):
    """The provider server, configured with the whole stack config as the engine sends it."""
    config = {
        "dh-kfp:host": kfp_server.url,
        "dh-kfp:token": TOKEN,
        "dh-kfp:image": "python:3.11-slim",
        "dh-kfp:profiles": '{"small": {"resources": {"cpu": "500m"}}}',
        "aws:region": "eu-south-1",  # other namespaces are not ours
    }
    provider_server.stub.Configure(
        provider_pb2.ConfigureRequest(args=serialize(config), variables=config)
    )
    return provider_server.stub


@pytest.fixture(scope="module")
def created_workflow(stub):
    """A workflow checked and created through the server: (driver, id, inputs, outputs)."""
    wf = Driver(stub, WorkflowProvider(), "Workflow", "proto-wf")
    inputs, failures = wf.check(workflow_props())
    assert failures == {}
    id_, outputs = wf.create(strip(inputs))
    return wf, id_, strip(inputs), strip(outputs)


# ---- workflow ----------------------------------------------------------------------------


def test_workflow_check_validates_and_hashes_offline(stub):
    wf = Driver(stub, WorkflowProvider(), "Workflow", "proto-wf")
    inputs, failures = wf.check(workflow_props())
    assert failures == {}
    assert len(inputs["spec_hash"]) == 64 and inputs["code"] == PIPELINE

    bad = workflow_props(handler="no such")
    bad["functions"][0]["kind"] = "java"
    _, failures = wf.check(bad)
    assert set(failures) == {"handler", "functions[0].kind"}
    assert (
        "'python'" in failures["functions[0].kind"]
        and "got 'java'" in failures["functions[0].kind"]
    )

    # a remote source is the program's to fetch, never the provider's
    _, failures = wf.check({**workflow_props(), "code": None, "code_src": "https://x.invalid/p.py"})
    assert "fetched when the program runs" in failures["code_src"]


def test_workflow_check_and_diff_with_unknowns_as_in_a_preview(stub, created_workflow):
    wf, id_, inputs, outputs = created_workflow
    preview = workflow_props(code=rpc.UNKNOWN)  # a function's code from another resource
    checked, failures = wf.check(preview)
    assert failures == {}
    assert isinstance(checked["spec_hash"], Unknown)  # sent back as the wire's unknown
    diff = wf.diff(id_, outputs, {**inputs, "functions": rpc.UNKNOWN, "spec_hash": rpc.UNKNOWN})
    assert diff.changes == provider_pb2.DiffResponse.DIFF_SOME and list(diff.replaces) == []


def test_workflow_create_read_diff_update_delete(stub, created_workflow, kfp_client):
    wf, id_, inputs, outputs = created_workflow
    assert id_ == outputs["pipeline_id"]
    assert outputs["version_name"] == inputs["spec_hash"][:16]
    assert outputs["ir"].startswith("# dh-kfp-pulumi") and outputs["url"].startswith("http://127")
    versions = kfp_client.list_pipeline_versions(id_).pipeline_versions
    assert [v.display_name for v in versions] == [outputs["version_name"]]
    assert kfp_client.get_pipeline(id_).display_name == f"{PROJECT}-wf"

    # no change: DIFF_NONE; a new name: replace
    assert wf.diff(id_, outputs, inputs).changes == provider_pb2.DiffResponse.DIFF_NONE
    renamed, _ = wf.check(workflow_props(name="wf2"))
    diff = wf.diff(id_, outputs, strip(renamed))
    assert diff.changes == provider_pb2.DiffResponse.DIFF_SOME and list(diff.replaces) == ["name"]

    # read: live state as outputs and as inputs
    rid, live, live_inputs = wf.read(id_, outputs, inputs)
    assert rid == id_ and live["version_id"] == outputs["version_id"]
    assert live_inputs["spec_hash"] == inputs["spec_hash"] and "pipeline_id" not in live_inputs

    # changed code: an update in place, a new version, full outputs
    news, _ = wf.check(workflow_props(code=ADDER.replace("+ 1", "+ 2")))
    news = strip(news)
    diff = wf.diff(id_, outputs, news)
    assert diff.changes == provider_pb2.DiffResponse.DIFF_SOME and list(diff.replaces) == []
    updated = strip(wf.update(id_, outputs, news))
    assert updated["pipeline_id"] == id_ and updated["version_id"] != outputs["version_id"]
    assert updated["spec_hash"] == news["spec_hash"] and updated["ir"]
    names = {v.display_name for v in kfp_client.list_pipeline_versions(id_).pipeline_versions}
    assert names == {outputs["version_name"], updated["version_name"]}  # old versions kept

    # drift: the newest version deleted in KFP shows on read, in outputs and inputs
    kfp_client.delete_pipeline_version(id_, updated["version_id"])
    rid, live, live_inputs = wf.read(id_, updated, news)
    assert rid == id_ and live["version_id"] == "" and live_inputs["spec_hash"] == ""
    assert wf.diff(id_, live, news).changes == provider_pb2.DiffResponse.DIFF_SOME
    repaired = strip(wf.update(id_, strip(live), news))
    assert repaired["version_name"] == updated["version_name"] and repaired["version_id"]

    # delete: versions then the pipeline; a read after is gone ("")
    wf.delete(id_, repaired)
    rid, live, _ = wf.read(id_, repaired, news)
    assert rid == "" and strip(live) == {}


# ---- task --------------------------------------------------------------------------------


def test_task_schedule_create_update_read_delete(stub, kfp_client):
    wf = Driver(stub, WorkflowProvider(), "Workflow", "proto-sched")
    w_inputs, _ = wf.check(workflow_props(name="sched"))
    wid, w_out = wf.create(strip(w_inputs))
    w_out = strip(w_out)

    task = Driver(stub, TaskProvider(), "Task", "proto-sched-nightly")
    props = {
        "project": PROJECT,
        "name": "sched-nightly",
        "action": "pipeline",
        "pipeline_id": wid,
        "workflow_version_id": w_out["version_id"],
        "schedule": "5 4 * * *",
        "inputs": {"x": 2},
    }
    # preview: the workflow does not exist yet
    _, failures = task.check(
        {**props, "pipeline_id": rpc.UNKNOWN, "workflow_version_id": rpc.UNKNOWN}
    )
    assert failures == {}
    _, failures = task.check(
        {**props, "volumes": [{"name": "data", "volume_type": "nfs", "mount_path": "/d"}]}
    )
    assert "persistent_volume_claim" in failures["volumes[0].volume_type"]
    assert "workflow_spec" in failures  # pod settings build from the workflow's props
    _, failures = task.check(
        {**props, "profile": "big", "workflow_spec": workflow_props(name="sched")}
    )
    assert failures == {"profile": "unknown profile; defined: small (got 'big')"}

    inputs, failures = task.check(props)
    assert failures == {}
    tid, out = task.create(strip(inputs))
    out = strip(out)
    live = kfp_client.get_recurring_run(out["recurring_run_id"])
    assert live.trigger.cron_schedule.cron == "0 5 4 * * *"  # the seed's 04:05, seconds first
    assert live.pipeline_version_reference.pipeline_version_id == w_out["version_id"]

    # a new schedule moves the recurring run inside update (the id stays)
    news, _ = task.check({**props, "schedule": "0 6 * * *"})
    news = strip(news)
    diff = task.diff(tid, out, news)
    assert diff.changes == provider_pb2.DiffResponse.DIFF_SOME and list(diff.replaces) == []
    moved = strip(task.update(tid, out, news))
    assert moved["recurring_run_id"] != out["recurring_run_id"] and moved["cron"] == "0 0 6 * * *"

    # drift: disabled in the KFP UI shows as enabled=false on read
    kfp_client.disable_recurring_run(moved["recurring_run_id"])
    rid, live, live_inputs = task.read(tid, moved, news)
    assert rid == tid and live_inputs["enabled"] is False
    assert task.diff(tid, live, news).changes == provider_pb2.DiffResponse.DIFF_SOME

    task.delete(tid, moved)
    rid, _, _ = task.read(tid, moved, news)
    assert rid == ""
    wf.delete(wid, w_out)


# ---- run ---------------------------------------------------------------------------------


def test_run_create_read_replace_and_failure_message(stub, kfp_client):
    wf = Driver(stub, WorkflowProvider(), "Workflow", "proto-runs")
    w_inputs, _ = wf.check(workflow_props(name="runs"))
    wid, w_out = wf.create(strip(w_inputs))

    run = Driver(stub, RunProvider(), "Run", "proto-runs-once")
    props = {
        "project": PROJECT,
        "name": "runs-once",
        "pipeline_id": wid,
        "version_id": w_out["version_id"],
        "inputs": {"x": 3, "word": "w"},
    }
    _, failures = run.check({**props, "wait": "yes", "wait_timeout": -1})
    assert set(failures) == {"wait", "wait_timeout"}
    inputs, failures = run.check(props)
    assert failures == {}
    rid, out = run.create(strip(inputs))
    out = strip(out)
    got = kfp_client.get_run(rid)
    assert got.display_name == f"{PROJECT}-runs-once"
    assert got.runtime_config.parameters == {"x": 3, "word": "w"}

    changed = {**strip(inputs), "inputs": {"x": 4, "word": "w"}}
    diff = run.diff(rid, out, changed)
    assert list(diff.replaces) == ["inputs"]  # runs are immutable

    read_id, live, live_inputs = run.read(rid, out, strip(inputs))
    assert read_id == rid and live_inputs["inputs"] == {"x": 3, "word": "w"}

    # a KFP error reaches the engine with KFP's words, never the token
    with pytest.raises(grpc.RpcError) as caught:
        run.create({**strip(inputs), "name": "runs-bad", "version_id": "no-such-version"})
    details = caught.value.details().strip()
    assert details.splitlines()[-1] == (
        "dh_kfp_pulumi.resources.providers.DeploymentError: KFP create run 'proto-runs-bad' "
        "failed (HTTP 404): PipelineVersion no-such-version not found"
    )
    assert "dh_kfp_pulumi/backends/" not in details and TOKEN not in details

    run.delete(rid, out)  # runs stay in KFP's history by default
    assert kfp_client.get_run(rid).run_id == rid
    wf.delete(wid, strip(w_out))


# ---- job, and a task with pod settings ------------------------------------------------------


def test_a_function_job_runs_and_a_task_with_pod_settings_owns_a_version(stub, kfp_client):
    job = Driver(stub, JobProvider(), "Job", "proto-adder-job")
    props = {
        "project": PROJECT,
        "name": "adder-job",
        "function": {"name": "adder", "kind": "python", "code": ADDER, "handler": "add"},
        "inputs": {"x": 1, "word": "w"},
        "values": ["y"],
    }
    _, failures = job.check({**props, "function": {**props["function"], "handler": None}})
    assert "function.handler" in failures
    inputs, failures = job.check(props)
    assert failures == {}
    jid, j_out = job.create(strip(inputs))
    j_out = strip(j_out)
    assert kfp_client.get_pipeline(jid).display_name == f"{PROJECT}-adder-job"

    # a task with pod settings builds its own version in the workflow's pipeline
    wf = Driver(stub, WorkflowProvider(), "Workflow", "proto-pods")
    w_inputs, _ = wf.check(workflow_props(name="pods"))
    wid, w_out = wf.create(strip(w_inputs))
    w_out = strip(w_out)
    task = Driver(stub, TaskProvider(), "Task", "proto-pods-run")
    t_inputs, failures = task.check(
        {
            "project": PROJECT,
            "name": "pods-run",
            "action": "pipeline",
            "pipeline_id": wid,
            "workflow_version_id": w_out["version_id"],
            "workflow_spec": spec_for_task(strip(w_inputs)),
            "profile": "small",
            "node_selector": [{"key": "disk", "value": "ssd"}],
        }
    )
    assert failures == {} and t_inputs["spec_hash"] != w_inputs["spec_hash"]
    tid, t_out = task.create(strip(t_inputs))
    t_out = strip(t_out)
    assert t_out["own_version"] is True and t_out["version_id"] != w_out["version_id"]
    names = {v.display_name for v in kfp_client.list_pipeline_versions(wid).pipeline_versions}
    assert names == {w_out["version_name"], t_out["version_name"]}

    # the job's run, waited for through the protocol: SUCCEEDED, with KFP's timestamps
    run = Driver(stub, RunProvider(), "Run", "proto-adder-job-run")
    r_inputs, _ = run.check(
        {
            "project": PROJECT,
            "name": "adder-job-run",
            "pipeline_id": jid,
            "version_id": j_out["version_id"],
            "inputs": {"x": 41, "word": "answer"},
            "wait": True,
            "wait_timeout": 120,
        }
    )
    rid, r_out = run.create(strip(r_inputs))
    assert r_out["state"] == "SUCCEEDED" and r_out["finished_at"] and r_out["error"] == ""
    assert kfp_client.get_run(rid).state == "SUCCEEDED"

    task.delete(tid, t_out)  # its own version goes with it
    names = {v.display_name for v in kfp_client.list_pipeline_versions(wid).pipeline_versions}
    assert names == {w_out["version_name"]}
    job.delete(jid, j_out)
    wf.delete(wid, w_out)
    assert kfp_client.get_pipeline_id(f"{PROJECT}-adder-job") is None


# ---- the rules ---------------------------------------------------------------------------


def test_a_secret_input_is_a_check_failure(stub):
    run = Driver(stub, RunProvider(), "Run", "proto-secret")
    secret = {rpc._special_sig_key: rpc._special_secret_sig, "value": "pw-1"}
    _, failures = run.check(
        {
            "project": PROJECT,
            "name": "secret",
            "pipeline_id": "p",
            "version_id": "v",
            "inputs": {"password": secret},
        }
    )
    # the SDK marks the containing value secret (it pushes secretness up one level)
    assert list(failures) == ["inputs"]
    assert "cannot be a resource input" in failures["inputs"] and "pw-1" not in failures["inputs"]


def test_checks_run_on_four_threads_at_once(stub):
    wf = Driver(stub, WorkflowProvider(), "Workflow", "proto-threads")
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: wf.check(workflow_props(name=f"t{i % 2}")), range(8)))
    assert all(failures == {} for _, failures in results)
    hashes: dict[str, set[str]] = {}
    for inputs, _ in results:
        hashes.setdefault(inputs["name"], set()).add(inputs["spec_hash"])
    assert sorted(hashes) == ["t0", "t1"] and all(len(h) == 1 for h in hashes.values())
    assert hashes["t0"] != hashes["t1"]  # the pipeline name is in the IR


def test_the_token_is_never_pickled_nor_sent_back(stub):
    provider = WorkflowProvider()
    provider.configure(
        ConfigureRequest(Config({"dh-kfp:token": TOKEN, "dh-kfp:host": "http://h"}, "p"))
    )
    assert provider._config().token == TOKEN
    pickled = base64.b64decode(serialize_provider(provider))
    assert TOKEN.encode() not in pickled and b"http://h" not in pickled
    assert serialize_provider(provider) == serialize_provider(WorkflowProvider())
    assert SEEN and not any(TOKEN.encode() in response for response in SEEN)
