"""A Terraform refresh reads in batches (issue 12, item 3), in-process on the embedded KFP
server: the ReadResource calls of one plugin process answer their pipeline gets from one
list of the project's pipelines, a write through the provider ends that snapshot, and
each provider (each plugin process) has its own.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from kfp_kit import ADDER, PIPELINE, stats

pytest.importorskip("tf", reason="the `tf` framework (extra `terraform`) is not installed")

sys.path.insert(0, str(Path(__file__).parent))

from test_provider_units import decode, encode, full, plan, servicer  # noqa: E402
from tf.gen import tfplugin_pb2 as pb  # noqa: E402

from dh_kfp_pulumi.backends import Backend, BackendConfig  # noqa: E402

WORKFLOW = "dhkfp_workflow"
N = 4


def gets_and_lists(url: str) -> tuple[int, int]:
    requests = {k: n for k, n in stats(url)["requests"].items() if "healthz" not in k}
    gets = sum(n for k, n in requests.items() if k.startswith("GET") and k.endswith("}"))
    lists = sum(n for k, n in requests.items() if k.startswith("GET") and not k.endswith("}"))
    return gets, lists


def workflow_config(name: str) -> dict:
    fn = {"name": "adder", "kind": "python", "code": ADDER, "handler": "add", "code_src": None,
          "base64": None, "image": None, "tag": None, "lang": None, "description": None}
    return full(WORKFLOW, project="batch", name=name, kind="kfp", code=PIPELINE,
                handler="pipe", function=[fn])  # fmt: skip


def apply(s, prior, planned):
    request = pb.ApplyResourceChange.Request(
        type_name=WORKFLOW, prior_state=encode(WORKFLOW, prior),
        planned_state=encode(WORKFLOW, planned),
    )  # fmt: skip
    response = s.ApplyResourceChange(request, None)
    assert [d.summary for d in response.diagnostics] == []
    return decode(WORKFLOW, response.new_state) if response.new_state.msgpack else None


def read(s, state):
    request = pb.ReadResource.Request(type_name=WORKFLOW, current_state=encode(WORKFLOW, state))
    response = s.ReadResource(request, None)
    assert [d.summary for d in response.diagnostics] == []
    return decode(WORKFLOW, response.new_state) if response.new_state.msgpack else None


@pytest.fixture(scope="module")
def config(kfp_server):
    return BackendConfig(host=kfp_server.url, image="python:3.11-slim")


@pytest.fixture(scope="module")
def states(config):
    s = servicer(config)
    made = []
    for i in range(N):
        planned, _, diags = plan(WORKFLOW, workflow_config(f"wf{i}"), s=s)
        assert diags == []
        made.append(apply(s, None, planned))
    yield made
    for state in made:
        if Backend(config).find_pipeline(state["pipeline_name"]) is not None:
            apply(servicer(config), state, None)


def test_one_list_answers_a_refresh_of_every_pipeline(kfp_server, config, states):
    s = servicer(config)
    before = gets_and_lists(kfp_server.url)
    with ThreadPoolExecutor(4) as pool:  # Terraform reads on several threads at once
        refreshed = list(pool.map(lambda state: read(s, state), states))
    after = gets_and_lists(kfp_server.url)
    assert refreshed == states  # nothing drifted: the same state back
    assert s.app.snapshots.lists == 1
    # each read: its version by id (a get); the pipelines: one list, no get each
    assert (after[0] - before[0], after[1] - before[1]) == (N, 1)
    # another provider (the next command's plugin process) lists again
    other = servicer(config)
    read(other, states[0])
    assert other.app.snapshots.lists == 1 and s.app.snapshots.lists == 1


def test_a_write_through_the_provider_ends_its_snapshot(config, states):
    s = servicer(config)
    assert read(s, states[0]) == states[0]
    gone = states[-1]
    assert apply(s, gone, None) is None  # a destroy: the provider's own write
    assert read(s, gone) is None  # listed again: gone, so Terraform plans to make it again
    assert s.app.snapshots.lists == 2
