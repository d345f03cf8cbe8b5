"""Task against the embedded KFP server: the schedule, its moves without two enabled, drift."""

from __future__ import annotations

import time

import pytest
from kfp_kit import kfp_client, writes
from reconcile_kit import task_props, with_settings, workflow_props

from dh_kfp_pulumi.backends import ApiError, Backend
from dh_kfp_pulumi.reconcile import task, workflow
from dh_kfp_pulumi.reconcile.common import get_or_none

SLEEPER = "import time\n\ndef add(x, word):\n    time.sleep(float(x))\n    return {'y': word}\n"


class CheckingBackend(Backend):
    """Asserts after every recurring-run write that at most one of `name`'s is enabled."""

    def __init__(self, config, name):
        super().__init__(config)
        self.name, self.calls = name, []

    def _check(self, call):
        self.calls.append(call)
        enabled = [r.id for r in self.find_recurring_runs(self.name) if r.enabled]
        assert len(enabled) <= 1, f"two enabled schedules after {self.calls}"

    def create_recurring_run(self, **kw):
        made = super().create_recurring_run(**kw)
        self._check(("create", "enabled" if kw.get("enabled", True) else "disabled"))
        return made

    def enable_recurring_run(self, rid):
        super().enable_recurring_run(rid)
        self._check(("enable", rid))

    def disable_recurring_run(self, rid):
        super().disable_recurring_run(rid)
        self._check(("disable", rid))


@pytest.fixture(scope="module")
def wf(config):
    inputs, problems = workflow.check(workflow_props(name="sched"), config)
    assert problems == []
    pid, out = workflow.create(inputs, Backend(config))
    yield out
    workflow.delete(pid, out, Backend(config))


def checked(config, props):
    inputs, problems = task.check(props, config)
    assert problems == [], problems
    return inputs


def test_schedule_create_move_toggle_drift_delete(config, kfp_server, wf):
    inputs = checked(config, task_props(wf, name="nightly"))
    tid, out = task.create(inputs, Backend(config))
    rid = out["recurring_run_id"]
    live = Backend(config).get_recurring_run(rid)
    assert out["cron"] == live.cron == "0 5 4 * * *"  # the seed's 04:05 daily, seconds first
    assert live.enabled and live.parameters == {"x": 2} and live.name == "demo-nightly"
    assert (live.pipeline_id, live.version_id) == (wf["pipeline_id"], wf["version_id"])
    assert out["version_id"] == wf["version_id"] and out["own_version"] is False
    assert out["experiment_id"] == live.experiment_id
    assert Backend(config).find_experiment("demo").id == live.experiment_id  # default: project
    assert out["retired_recurring_run_ids"] == []
    # read right after create: options left unset at KFP's defaults are not drift
    _, fresh_out, fresh_inputs = task.read(tid, out, Backend(config))
    assert fresh_inputs == {k: v for k, v in out.items() if k in task.INPUTS}
    assert task.plan(fresh_out, inputs).changes == []

    # a retried create adopts the schedule it made (found by its marker), writing nothing
    before = writes(kfp_server.url)
    assert task.create(inputs, Backend(config))[1]["recurring_run_id"] == rid
    assert writes(kfp_server.url) == before

    # a new cron moves the schedule: old disabled, new one created enabled from the second
    # the old one stopped (its hand-over start time), old deleted
    moved = checked(config, task_props(wf, name="nightly", schedule="0 6 * * *"))
    plan = task.plan(out, moved)
    assert plan.changes == ["schedule"] and plan.replaces == []
    checking = CheckingBackend(config, "demo-nightly")
    out2 = task.update(tid, out, moved, checking)
    assert checking.calls == [("disable", rid), ("create", "enabled")]
    rid2 = out2["recurring_run_id"]
    assert rid2 != rid and out2["cron"] == "0 0 6 * * *" and out2["retired_recurring_run_ids"] == []
    with pytest.raises(ApiError):
        Backend(config).get_recurring_run(rid)  # idle: deleted at once
    new = Backend(config).get_recurring_run(rid2)
    assert new.enabled and new.start_time and new.start_time <= new.created_at
    # the hand-over start time is no drift: the same schedule as the one without it
    _, moved_out, moved_inputs = task.read(tid, out2, Backend(config))
    assert moved_inputs.get("start_time") is None and task.plan(moved_out, moved).changes == []

    # drift: disabled in the KFP UI; read shows it, the update enables it again in place
    kfp_client(kfp_server.url).disable_recurring_run(rid2)
    _, live_out, live_inputs = task.read(tid, out2, Backend(config))
    assert live_inputs["enabled"] is False and live_out["recurring_run_id"] == rid2
    assert task.plan(live_out, moved).changes == ["enabled"]
    out2 = task.update(tid, live_out, moved, CheckingBackend(config, "demo-nightly"))
    assert out2["recurring_run_id"] == rid2 and Backend(config).get_recurring_run(rid2).enabled

    # enabled toggles in place
    off = checked(config, task_props(wf, name="nightly", schedule="0 6 * * *", enabled=False))
    out3 = task.update(tid, out2, off, CheckingBackend(config, "demo-nightly"))
    assert out3["recurring_run_id"] == rid2 and not Backend(config).get_recurring_run(rid2).enabled

    # drift: enabled in the KFP UI, shown by read in the inputs' shape
    kfp_client(kfp_server.url).enable_recurring_run(rid2)
    rid_read, live_out, live_inputs = task.read(tid, out3, Backend(config))
    assert rid_read == tid and live_inputs["enabled"] is True
    assert live_inputs["schedule"] == "0 6 * * *"  # the live cron is what we sent: kept as written
    assert task.plan(live_out, off).changes == ["enabled"]
    repaired = task.update(tid, live_out, off, Backend(config))
    assert (
        repaired["recurring_run_id"] == rid2 and not Backend(config).get_recurring_run(rid2).enabled
    )

    # new inputs move it too
    more = checked(
        config, task_props(wf, name="nightly", schedule="0 6 * * *", enabled=False, inputs={"x": 3})
    )
    out4 = task.update(tid, repaired, more, CheckingBackend(config, "demo-nightly"))
    assert out4["recurring_run_id"] != rid2
    assert Backend(config).get_recurring_run(out4["recurring_run_id"]).parameters == {"x": 3}

    task.delete(tid, out4, Backend(config))
    assert Backend(config).find_recurring_runs("demo-nightly") == []
    task.delete(tid, out4, Backend(config))  # already gone: fine


def test_read_drift_of_a_deleted_schedule_and_a_changed_cron(config, kfp_server, wf):
    inputs = checked(config, task_props(wf, name="drifty"))
    tid, out = task.create(inputs, Backend(config))
    # a live schedule that differs from state (e.g. recreated by hand): read shows its cron
    changed = {**out, "schedule": "0 7 * * *"}
    _, _, live_inputs = task.read(tid, changed, Backend(config))
    assert live_inputs["schedule"] == "0 5 4 * * *"  # the live KFP cron
    kfp_client(kfp_server.url).delete_recurring_run(out["recurring_run_id"])
    assert task.read(tid, out, Backend(config)) == ("", {}, {})
    # updating a task whose schedule vanished creates a new one
    again = task.update(tid, out, inputs, Backend(config))
    assert again["recurring_run_id"] not in ("", out["recurring_run_id"])
    task.delete(tid, again, Backend(config))


def test_removing_and_adding_the_schedule(config, wf):
    inputs = checked(config, task_props(wf, name="later", schedule=None))
    tid, out = task.create(inputs, Backend(config))
    assert out["recurring_run_id"] == "" and out["version_id"] == wf["version_id"]
    assert task.read(tid, out, Backend(config))[0] == tid
    scheduled = checked(config, task_props(wf, name="later"))
    out2 = task.update(tid, out, scheduled, Backend(config))
    assert out2["recurring_run_id"]
    out3 = task.update(tid, out2, inputs, Backend(config))
    assert out3["recurring_run_id"] == "" and out3["retired_recurring_run_ids"] == []
    with pytest.raises(ApiError):
        Backend(config).get_recurring_run(out2["recurring_run_id"])


def test_adopt_and_import_a_recurring_run(config, kfp_server, wf):
    backend = Backend(config)
    experiment = backend.ensure_experiment("Default")
    made = backend.create_recurring_run(
        experiment_id=experiment.id,
        name="hand-made",
        pipeline_id=wf["pipeline_id"],
        version_id=wf["version_id"],
        cron="0 5 4 * * *",
        parameters={"x": 2},
    )
    inputs = checked(config, task_props(wf, name="adopter", adopt="hand-made"))
    tid, out = task.create(inputs, Backend(config))
    assert out["recurring_run_id"] == made.id  # same settings: adopted in place

    rid, imported, imported_inputs = task.read(made.id, {}, Backend(config))
    assert rid == made.id and imported["recurring_run_id"] == made.id
    assert imported_inputs["schedule"] == "5 4 * * *" and imported_inputs["inputs"] == {"x": 2}
    assert imported_inputs["workflow_version_id"] == wf["version_id"]
    assert task.read("no-such-schedule", {}, Backend(config)) == ("", {}, {})

    with pytest.raises(Exception, match="adopt"):
        task.create(checked(config, task_props(wf, name="x", adopt="nope")), Backend(config))
    task.delete(tid, out, Backend(config))


def test_pod_settings_make_an_own_version(config, kfp_server, wf):
    props = with_settings(task_props(wf, name="ssd"), wf)
    inputs = checked(config, props)
    tid, out = task.create(inputs, Backend(config))
    assert out["own_version"] is True and out["version_id"] != wf["version_id"]
    assert out["version_name"] == inputs["spec_hash"][:16]
    version = Backend(config).get_version(wf["pipeline_id"], out["version_id"])
    assert version.description.startswith("dh-kfp:task demo/ssd ")
    assert "platform_spec" in version.spec  # the pod settings reach KFP's platform config
    live = Backend(config).get_recurring_run(out["recurring_run_id"])
    assert live.version_id == out["version_id"]

    # the own version deleted in KFP: drift, and the update rebuilds and moves the schedule
    kfp_client(kfp_server.url).delete_pipeline_version(wf["pipeline_id"], out["version_id"])
    _, live_out, live_inputs = task.read(tid, out, Backend(config))
    assert live_inputs["spec_hash"] == "" and live_out["version_id"] == ""
    assert task.plan(live_out, inputs).changes == ["spec_hash"]
    fixed = task.update(tid, live_out, inputs, Backend(config))
    assert fixed["version_name"] == out["version_name"] and fixed["version_id"]
    assert (
        Backend(config).get_recurring_run(fixed["recurring_run_id"]).version_id
        == fixed["version_id"]
    )

    task.delete(tid, fixed, Backend(config))
    with pytest.raises(ApiError):
        Backend(config).get_version(wf["pipeline_id"], fixed["version_id"])
    Backend(config).get_version(wf["pipeline_id"], wf["version_id"])  # the workflow's stays


class BadSchedule(Backend):
    """Sends KFP a cron it refuses, so the create fails after the own version was uploaded."""

    def create_recurring_run(self, **kw):
        return super().create_recurring_run(**{**kw, "cron": "1 * *"})


def test_failed_create_removes_the_version_it_uploaded(config, wf):
    props = with_settings(
        task_props(wf, name="broken"),
        wf,
        tolerations=[{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
    )
    inputs = checked(config, props)
    with pytest.raises(ApiError) as info:
        task.create(inputs, BadSchedule(config))
    assert info.value.status == 400
    name = inputs["spec_hash"][:16]
    assert Backend(config).find_version(wf["pipeline_id"], name) is None


def test_busy_schedule_is_retired_then_deleted(config, kfp_server):
    w_inputs, _ = workflow.check(workflow_props(name="busy", code=SLEEPER), config)
    pid, w_out = workflow.create(w_inputs, Backend(config))
    every_second = task_props(
        w_out, name="busy", schedule="* * * * * *", catchup=False, inputs={"x": 60}
    )
    tid, out = task.create(checked(config, every_second), Backend(config))
    old = out["recurring_run_id"]
    backend = Backend(config)
    deadline = time.monotonic() + 30
    while not backend.active_runs_of(old):
        assert time.monotonic() < deadline, "the schedule never started a run"
        time.sleep(0.2)

    calm = checked(config, {**every_second, "schedule": "0 5 4 * * *"})
    checking = CheckingBackend(config, "demo-busy")
    out2 = task.update(tid, out, calm, checking)
    assert out2["retired_recurring_run_ids"] == [old]  # its run goes on: kept, disabled
    assert not backend.get_recurring_run(old).enabled
    assert backend.get_recurring_run(out2["recurring_run_id"]).enabled

    # a later update with the run still going keeps it; once it has finished, it is deleted
    off = checked(config, {**every_second, "schedule": "0 5 4 * * *", "enabled": False})
    out3 = task.update(tid, out2, off, Backend(config))
    assert out3["retired_recurring_run_ids"] == [old]
    for run in backend.active_runs_of(old):
        backend.terminate_run(run.id)
        backend.wait_run(run.id, timeout=60)
    on = checked(config, {**every_second, "schedule": "0 5 4 * * *"})
    out4 = task.update(tid, out3, on, Backend(config))
    assert out4["retired_recurring_run_ids"] == []
    with pytest.raises(ApiError):
        backend.get_recurring_run(old)
    task.delete(tid, out4, Backend(config))
    workflow.delete(pid, w_out, Backend(config))


def test_schedule_options_reach_kfp_and_read_back_without_drift(config, kfp_server, wf):
    options = {
        "enabled": False,
        "max_concurrency": 3,
        "catchup": False,
        "start_time": "2031-01-02T03:04:05Z",
        "end_time": "2032-01-02T03:04:05+00:00",  # the same instant as KFP's Z form
    }
    inputs = checked(config, task_props(wf, name="options", **options))
    tid, out = task.create(inputs, Backend(config))
    live = Backend(config).get_recurring_run(out["recurring_run_id"])
    assert (live.enabled, live.max_concurrency, live.no_catchup) == (False, 3, True)
    assert live.start_time == "2031-01-02T03:04:05Z" and live.end_time == "2032-01-02T03:04:05Z"
    _, live_out, live_inputs = task.read(tid, out, Backend(config))
    assert {k: live_inputs[k] for k in options} == options
    assert task.plan(live_out, inputs).changes == []
    task.delete(tid, out, Backend(config))


class RefusesCreate(Backend):
    """KFP refuses the schedule a move makes (the old one has just been disabled)."""

    def create_recurring_run(self, **kw):
        raise ApiError("create refused", status=500, operation="create")


def test_a_failed_move_restores_the_old_schedule(config, wf):
    inputs = checked(config, task_props(wf, name="unmoved"))
    tid, out = task.create(inputs, Backend(config))
    old = out["recurring_run_id"]
    moved = checked(config, task_props(wf, name="unmoved", schedule="0 6 * * *"))
    with pytest.raises(ApiError, match="create refused"):
        task.update(tid, out, moved, RefusesCreate(config))
    left = Backend(config).find_recurring_runs("demo-unmoved")
    assert [(r.id, r.enabled, r.cron) for r in left] == [(old, True, "0 5 4 * * *")]
    task.delete(tid, out, Backend(config))


def test_an_own_version_is_deleted_by_the_task_that_made_it_when_nothing_uses_it(config, wf):
    def made(name, **extra):
        props = with_settings(task_props(wf, name=name, **extra), wf)
        return task.create(checked(config, props), Backend(config))

    def exists(version_id):
        return get_or_none(Backend(config).get_version, wf["pipeline_id"], version_id) is not None

    a_id, a = made("own-a", schedule=None)
    c_id, c = made("own-c", schedule=None)
    assert c["version_id"] == a["version_id"]  # the same build: found, not uploaded again
    task.delete(c_id, c, Backend(config))
    assert exists(a["version_id"])  # made by own-a: not own-c's to delete
    b_id, b = made("own-b")
    assert b["version_id"] == a["version_id"]
    task.delete(a_id, a, Backend(config))
    assert exists(a["version_id"])  # own-b's schedule still runs it
    task.delete(b_id, b, Backend(config))
    Backend(config).delete_version(wf["pipeline_id"], a["version_id"])
