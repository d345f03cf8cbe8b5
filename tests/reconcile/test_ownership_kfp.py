"""Owner marks: two stacks or tools never share a KFP object without an explicit adopt.

Each KFP object carries `dh-kfp:<kind> <project>/<name> owner=<engine>/<stack>`. A create
takes over an existing object only when its mark is the same resource's (a crash
recovery); anything else needs `adopt` (Terraform: `import`), and a delete leaves
alone what another owner made.
"""

from __future__ import annotations

import logging

import pytest
from kfp_kit import kfp_client, writes
from reconcile_kit import run_props, task_props, workflow_props

from dh_kfp_pulumi.backends import Backend
from dh_kfp_pulumi.errors import SpecError
from dh_kfp_pulumi.naming import mark_of
from dh_kfp_pulumi.reconcile import run, task, workflow
from dh_kfp_pulumi.reconcile.common import get_or_none

STACK_A, STACK_B, TOOL = "pulumi/dev", "pulumi/prod", "terraform/default"


def checked(module, config, props):
    inputs, problems = module.check(props, config)
    assert problems == [], problems
    return inputs


def pipelines(url: str) -> dict[str, str]:
    listed = kfp_client(url).list_pipelines(page_size=200).pipelines or []
    return {p.display_name: p.pipeline_id for p in listed}


def test_a_workflow_of_another_owner_is_refused_then_adopted_and_never_deleted(
    config, kfp_server, caplog
):
    backend = Backend(config)
    ours = checked(workflow, config, workflow_props(name="shared", owner=STACK_A))
    pid, out = workflow.create(ours, backend)
    assert mark_of(kfp_client(kfp_server.url).get_pipeline(pid).description).owner == STACK_A

    theirs = checked(workflow, config, workflow_props(name="shared", owner=TOOL))
    before = writes(kfp_server.url)
    with pytest.raises(SpecError) as refused:
        workflow.create(theirs, backend)
    message = str(refused.value)
    assert "demo-shared" in message and pid in message
    assert f"was made for workflow demo/shared of {STACK_A}" in message
    assert "set `adopt` to its id" in message and "terraform import" in message
    assert writes(kfp_server.url) == before, "a refused create wrote to KFP"

    # adopted on purpose: taken, and its destroy leaves the pipeline where it was
    taken_id, taken = workflow.create({**theirs, "adopt": pid}, backend)
    assert taken_id == pid
    with caplog.at_level(logging.WARNING, logger="dh_kfp_pulumi.reconcile"):
        workflow.delete(taken_id, taken, backend)
    assert pipelines(kfp_server.url).get("demo-shared") == pid
    assert f"left in KFP: it was made for workflow demo/shared of {STACK_A}" in caplog.text

    workflow.delete(pid, out, backend)  # its owner's destroy deletes it
    assert "demo-shared" not in pipelines(kfp_server.url)


def test_the_same_owner_takes_its_own_pipeline_back_after_a_crash(config, kfp_server):
    backend = Backend(config)
    inputs = checked(workflow, config, workflow_props(name="again", owner=STACK_A))
    pid, out = workflow.create(inputs, backend)
    before = writes(kfp_server.url)
    again_id, again = workflow.create(inputs, backend)  # as if the state was never written
    assert (again_id, again["version_id"]) == (pid, out["version_id"])
    assert writes(kfp_server.url) == before

    other_stack = checked(workflow, config, workflow_props(name="again", owner=STACK_B))
    with pytest.raises(SpecError, match=f"of {STACK_A}"):
        workflow.create(other_stack, backend)
    workflow.delete(pid, out, backend)


def test_a_hand_made_pipeline_needs_adopt(config, kfp_server):
    backend = Backend(config)
    made = backend.create_pipeline("demo-by-hand", "made in the KFP UI")
    inputs = checked(workflow, config, workflow_props(name="by-hand", owner=STACK_A))
    with pytest.raises(SpecError, match="was not made by dh-kfp"):
        workflow.create(inputs, backend)
    pid, out = workflow.create({**inputs, "adopt": "demo-by-hand"}, backend)
    assert pid == made.id
    workflow.delete(pid, out, backend)  # adopted on purpose and unmarked: the destroy deletes it
    assert "demo-by-hand" not in pipelines(kfp_server.url)


def test_a_pipeline_of_another_declaration_in_the_same_stack_is_not_taken(config, kfp_server):
    backend = Backend(config)
    # `demo` / `x-y` and `demo-x` / `y` both map to the KFP pipeline `demo-x-y`
    first = checked(workflow, config, workflow_props(name="x-y", owner=STACK_A))
    pid, out = workflow.create(first, backend)
    second = checked(workflow, config, workflow_props(project="demo-x", name="y", owner=STACK_A))
    with pytest.raises(SpecError, match="was made for workflow demo/x-y of pulumi/dev"):
        workflow.create(second, backend)
    workflow.delete(pid, out, backend)


def test_marks_written_before_owners_count_as_this_resources_on_delete_only(config, kfp_server):
    backend = Backend(config)
    old = backend.create_pipeline("demo-legacy", "dh-kfp:workflow demo/legacy")
    inputs = checked(workflow, config, workflow_props(name="legacy", owner=STACK_A))
    with pytest.raises(SpecError, match="an unrecorded owner"):
        workflow.create(inputs, backend)
    workflow.delete(old.id, {**inputs, "pipeline_id": old.id}, backend)
    assert "demo-legacy" not in pipelines(kfp_server.url)


@pytest.fixture(scope="module")
def shared_wf(config):
    inputs = checked(workflow, config, workflow_props(name="sched-owned", owner=STACK_A))
    pid, out = workflow.create(inputs, Backend(config))
    yield out
    workflow.delete(pid, out, Backend(config))


def test_schedules_of_two_owners_stay_apart(config, kfp_server, shared_wf, caplog):
    backend = Backend(config)
    a = checked(task, config, task_props(shared_wf, name="nightly", owner=STACK_A))
    a_id, a_out = task.create(a, backend)
    b = checked(task, config, task_props(shared_wf, name="nightly", owner=STACK_B))
    b_id, b_out = task.create(b, backend)
    assert b_out["recurring_run_id"] != a_out["recurring_run_id"], "B took A's schedule"
    assert task.create(a, backend)[1]["recurring_run_id"] == a_out["recurring_run_id"]

    # B adopts A's recurring run on purpose; B's destroy leaves it to A
    c_id, c_out = task.create({**b, "adopt": a_out["recurring_run_id"]}, backend)
    assert c_out["recurring_run_id"] == a_out["recurring_run_id"]
    with caplog.at_level(logging.WARNING, logger="dh_kfp_pulumi.reconcile"):
        task.delete(c_id, c_out, backend)
    left = get_or_none(backend.get_recurring_run, a_out["recurring_run_id"])
    assert left is not None and left.enabled, "B's destroy touched A's schedule"
    assert f"made for task demo/nightly of {STACK_A}" in caplog.text

    task.delete(b_id, b_out, backend)
    assert get_or_none(backend.get_recurring_run, b_out["recurring_run_id"]) is None
    task.delete(a_id, a_out, backend)
    assert get_or_none(backend.get_recurring_run, a_out["recurring_run_id"]) is None


def test_runs_of_two_owners_stay_apart(config, kfp_server, shared_wf):
    backend = Backend(config)
    a = checked(run, config, run_props(shared_wf, name="once", owner=STACK_A))
    a_id, _ = run.create(a, backend)
    b = checked(run, config, run_props(shared_wf, name="once", owner=STACK_B,
                                       delete_on_destroy=True))
    b_id, b_out = run.create(b, backend)
    assert b_id != a_id, "B took A's run"

    adopted_id, adopted = run.create({**b, "adopt": a_id}, backend)
    assert adopted_id == a_id
    run.delete(adopted_id, adopted, backend)  # delete_on_destroy, but A's run stays
    assert get_or_none(backend.get_run, a_id) is not None
    run.delete(b_id, b_out, backend)
    assert get_or_none(backend.get_run, b_id) is None


def test_owner_is_checked(config):
    _, problems = workflow.check(workflow_props(owner="no engine"), config)
    assert [(p.path, p.value) for p in problems] == [("owner", "no engine")]
    assert "<engine>/<stack>" in problems[0].message
