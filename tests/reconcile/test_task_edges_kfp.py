"""A schedule's life at its edges, against the embedded KFP server (issue 16): retired
recurring runs cleaned up once their runs end, a delete that never kills a run silently,
and no tick lost when a schedule moves.

The sleeper step sleeps `x` seconds, so an every-second schedule keeps one run active
(`max_concurrency` 1) for as long as a test needs it; tests end such runs themselves.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import replace
from datetime import datetime

import pytest
from kfp_kit import kfp_client, until
from reconcile_kit import task_props, workflow_props

from dh_kfp_pulumi.backends import ApiError, Backend, BackendError
from dh_kfp_pulumi.reconcile import task, workflow

SLEEPER = "import time\n\ndef add(x, word):\n    time.sleep(float(x))\n    return {'y': word}\n"


@pytest.fixture(scope="module")
def wf(config):
    inputs, problems = workflow.check(workflow_props(name="edges", code=SLEEPER), config)
    assert problems == []
    pid, out = workflow.create(inputs, Backend(config))
    yield out
    workflow.delete(pid, out, Backend(config))


def checked(config, props):
    inputs, problems = task.check(props, config)
    assert problems == [], problems
    return inputs



def busy_task(config, wf, name, seconds):
    """A task firing every second whose runs sleep `seconds`, once it has an active run."""
    props = task_props(wf, name=name, schedule="* * * * * *", catchup=False,
                       inputs={"x": seconds})  # fmt: skip
    tid, out = task.create(checked(config, props), Backend(config))
    rid = out["recurring_run_id"]
    run = until("an active run", lambda: Backend(config).active_runs_of(rid))[0]
    return props, tid, out, run


def end_runs(backend, rid):
    for run in backend.active_runs_of(rid):
        backend.terminate_run(run.id)
        backend.wait_run(run.id, timeout=60)


def test_a_retired_schedule_shows_as_pending_cleanup_once_its_runs_end(config, wf):
    props, tid, out, run = busy_task(config, wf, "retire", 60)
    old = out["recurring_run_id"]
    calm = {**props, "schedule": "0 5 4 * * *"}
    out2 = task.update(tid, out, checked(config, calm), Backend(config))
    assert out2["retired_recurring_run_ids"] == [old] and out2["cleanup_recurring_run_ids"] == []
    news = checked(config, calm)

    # while its run goes on: kept, and no change to apply (no noise in every plan)
    _, live_out, _ = task.read(tid, out2, Backend(config))
    assert live_out["retired_recurring_run_ids"] == [old]
    assert live_out["cleanup_recurring_run_ids"] == []
    assert task.plan(live_out, news).changes == []

    # its run has ended: a read (refresh) reports it as pending clean-up, a change to apply
    backend = Backend(config)
    end_runs(backend, old)
    _, live_out, live_inputs = task.read(tid, live_out, Backend(config))
    assert live_out["cleanup_recurring_run_ids"] == [old]
    assert live_out["retired_recurring_run_ids"] == []
    assert task.plan(live_out, news).changes == ["cleanup_recurring_run_ids"]
    assert task.plan(live_inputs, news).changes == []  # the inputs themselves did not drift
    planned = task.planned_outputs(live_out, news)
    assert planned["cleanup_recurring_run_ids"] == []
    assert planned["recurring_run_id"] == out2["recurring_run_id"]  # the schedule stays

    # the next update (no input changed) deletes it; then nothing is pending
    out3 = task.update(tid, live_out, news, Backend(config))
    assert out3["retired_recurring_run_ids"] == [] and out3["cleanup_recurring_run_ids"] == []
    assert out3["recurring_run_id"] == out2["recurring_run_id"]
    with pytest.raises(ApiError) as gone:
        backend.get_recurring_run(old)
    assert gone.value.not_found
    _, final_out, _ = task.read(tid, out3, Backend(config))
    assert task.plan(final_out, news).changes == []
    task.delete(tid, out3, Backend(config))


def test_delete_waits_for_active_runs_then_deletes(config, wf, caplog):
    _, tid, out, run = busy_task(config, wf, "patient", 5)
    rid = out["recurring_run_id"]
    waiting = Backend(replace(config, destroy_wait_timeout=120))
    with caplog.at_level(logging.WARNING, logger="dh_kfp_pulumi.reconcile"):
        task.delete(tid, out, waiting)
    backend = Backend(config)
    assert backend.get_run(run.id).state == "SUCCEEDED"  # it ran to its end, not canceled
    with pytest.raises(ApiError):
        backend.get_recurring_run(rid)
    said = caplog.text
    assert "waiting up to 120s (destroy_wait_timeout)" in said
    assert run.id in said and repr(run.name) in said and f"recurring run {rid}" in said
    assert f"run {run.name!r} ({run.id}) of recurring run {rid} has ended" in said


def test_delete_past_the_timeout_fails_naming_runs_and_setting_and_changes_nothing(config, wf):
    _, tid, out, run = busy_task(config, wf, "stuck", 60)
    rid = out["recurring_run_id"]
    impatient = Backend(replace(config, destroy_wait_timeout=1))
    with pytest.raises(BackendError) as failed:
        task.delete(tid, out, impatient)
    message = str(failed.value)
    assert "destroy_wait_timeout (1s)" in message and "on_destroy_active_runs" in message
    assert run.id in message and repr(run.name) in message
    assert "dh-kfp:destroy_wait_timeout" in message
    backend = Backend(config)
    live = backend.get_recurring_run(rid)
    assert live.enabled  # as it was: enabled again
    assert backend.get_run(run.id).state in ("PENDING", "RUNNING")  # untouched
    task.delete(tid, out, Backend(replace(config, on_destroy_active_runs="cancel")))


def test_delete_with_cancel_cancels_and_names_every_run(config, wf, caplog):
    props, tid, out, run = busy_task(config, wf, "hasty", 60)
    old = out["recurring_run_id"]
    # a retired schedule with its own active run, and the current one with another
    calm = {**props, "schedule": "* * * * * *", "inputs": {"x": 61}}
    out2 = task.update(tid, out, checked(config, calm), Backend(config))
    assert out2["retired_recurring_run_ids"] == [old]
    new = out2["recurring_run_id"]
    second = until("a run of the new schedule", lambda: Backend(config).active_runs_of(new))[0]
    cancel = Backend(replace(config, on_destroy_active_runs="cancel"))
    with caplog.at_level(logging.WARNING, logger="dh_kfp_pulumi.reconcile"):
        task.delete(tid, out2, cancel)
    backend = Backend(config)
    for rid, r in ((old, run), (new, second)):
        assert f"canceled run {r.name!r} ({r.id}" in caplog.text
        assert f"of recurring run {rid}" in caplog.text
        assert backend.wait_run(r.id, timeout=60).state == "CANCELED"
        with pytest.raises(ApiError):
            backend.get_recurring_run(rid)


def _scheduled(url, rid):
    import json

    flt = json.dumps({"predicates": [{"operation": "EQUALS", "key": "recurring_run_id",
                                      "string_value": rid}]})  # fmt: skip
    runs = kfp_client(url).list_runs(filter=flt, page_size=200).runs or []
    return sorted(int(r.scheduled_at.timestamp()) for r in runs)


class HoldsATick(Backend):
    """Once the old schedule is disabled, lets a tick boundary pass before going on."""

    tick: int = 0

    def disable_recurring_run(self, rid):
        super().disable_recurring_run(rid)
        stamp = self.get_recurring_run(rid).updated_at  # the disable's second, KFP's clock
        disabled = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        self.tick = int(disabled) + 1  # the first tick after the disable
        while time.time() < self.tick + 0.5:  # the tick passes with neither schedule enabled
            time.sleep(0.05)


def test_no_tick_is_lost_when_a_tick_falls_between_disable_and_the_new_schedule(
    config, kfp_server, wf
):
    props = task_props(wf, name="ticks", schedule="* * * * * *", inputs={"x": 60})
    tid, out = task.create(checked(config, props), Backend(config))
    old = out["recurring_run_id"]
    until("a first tick", lambda: _scheduled(kfp_server.url, old))
    holding = HoldsATick(config)
    out2 = task.update(tid, out, checked(config, {**props, "inputs": {"x": 61}}), holding)
    new = out2["recurring_run_id"]
    # the held tick is the new schedule's first run; the old one never fired it
    first = until("the new schedule's first run", lambda: _scheduled(kfp_server.url, new))
    assert first[0] == holding.tick
    assert all(t < holding.tick for t in _scheduled(kfp_server.url, old))
    live = Backend(config).get_recurring_run(new)
    assert math.isclose(
        datetime.fromisoformat(live.start_time.replace("Z", "+00:00")).timestamp(),
        holding.tick - 1,
    )
    task.delete(tid, out2, Backend(replace(config, on_destroy_active_runs="cancel")))
    assert Backend(config).find_recurring_runs("demo-ticks") == []


def test_a_schedule_that_has_ended_moves_without_a_hand_over_start(config, wf):
    # its ticks are over: no hand-over start after its end time
    props = task_props(wf, name="over", end_time="2020-01-02T03:04:05Z", inputs={"x": 1})
    tid, out = task.create(checked(config, props), Backend(config))
    out2 = task.update(tid, out, checked(config, {**props, "inputs": {"x": 2}}), Backend(config))
    live = Backend(config).get_recurring_run(out2["recurring_run_id"])
    assert live.enabled and live.parameters == {"x": 2}
    assert (live.start_time, live.end_time) == ("", "2020-01-02T03:04:05Z")
    task.delete(tid, out2, Backend(config))
