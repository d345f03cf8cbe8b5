"""Recurring runs fire from their triggers, in seconds of wall time.

Runs are held PENDING here (`max_concurrent_runs=0`), so a fired run stays active until the
test terminates it: that makes `max_concurrency` observable without executing anything.
Execution of scheduled runs is covered by test_crash.py.
"""

import json
import re
import time
from datetime import datetime, timedelta, timezone

SERVER_SETTINGS = {"max_concurrent_runs": 0}


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _runs_of(client, recurring_run_id):
    flt = json.dumps({"predicates": [{"operation": "EQUALS", "key": "recurring_run_id",
                                      "string_value": recurring_run_id}]})
    return client.list_runs(filter=flt, page_size=200).runs or []


def _terminate_all(client, runs, kit):
    for run in runs:
        if run.state in ("PENDING", "RUNNING"):
            client.terminate_run(run.run_id)
    for run in runs:
        kit.wait_state(client, run.run_id, {"CANCELED", "SUCCEEDED", "FAILED"})


def test_cron_fires_honours_max_concurrency_and_disable_enable(client, pipelines, kit):
    exp = client.create_experiment("every-second")
    rec = client.create_recurring_run(
        exp.experiment_id, "tick", cron_expression="* * * * * *", max_concurrency=2,
        pipeline_package_path=pipelines["sleepy"],
        params={"seconds": 1.0, "pid_file": "stamp-[[ScheduledTime]]"})
    fired = kit.wait_for(lambda: len(runs := _runs_of(client, rec.recurring_run_id)) >= 2 and runs,
                         timeout=10, what="two runs")
    assert all(r.recurring_run_id == rec.recurring_run_id for r in fired)
    assert all(r.experiment_id == exp.experiment_id for r in fired)
    first, second = sorted(fired, key=lambda r: r.scheduled_at)
    assert (second.scheduled_at - first.scheduled_at).total_seconds() == 1
    stamp = first.runtime_config.parameters["pid_file"]
    assert stamp == "stamp-" + first.scheduled_at.astimezone(timezone.utc).strftime("%Y%m%d%H%M%S")
    assert re.fullmatch(r"tick-\d{14}", first.display_name)

    # Two active runs: the schedule waits (two more ticks pass with nothing new).
    time.sleep(2.1)
    assert len(_runs_of(client, rec.recurring_run_id)) == 2
    # A slot frees up: the next (caught-up) tick fires at once.
    client.terminate_run(first.run_id)
    third = kit.wait_for(lambda: [r for r in _runs_of(client, rec.recurring_run_id)
                                  if r.run_id not in (first.run_id, second.run_id)],
                         timeout=10, what="a third run")
    assert third[0].scheduled_at > second.scheduled_at

    # Disabled: nothing fires, even with free slots.
    client.disable_recurring_run(rec.recurring_run_id)
    _terminate_all(client, _runs_of(client, rec.recurring_run_id), kit)
    count = len(_runs_of(client, rec.recurring_run_id))
    time.sleep(1.5)
    assert len(_runs_of(client, rec.recurring_run_id)) == count
    # Enabled again: it fires, and does not catch up the ticks of the disabled time.
    enabled_at = datetime.now(timezone.utc).replace(microsecond=0)
    client.enable_recurring_run(rec.recurring_run_id)
    new = kit.wait_for(lambda: [r for r in _runs_of(client, rec.recurring_run_id)
                                if r.state == "PENDING"], timeout=10, what="a run after enable")
    assert all(r.scheduled_at >= enabled_at for r in new)
    client.delete_recurring_run(rec.recurring_run_id)
    # As on KFP, deleting a recurring run stops the runs it started.
    for run in new:
        kit.wait_state(client, run.run_id, {"CANCELED"})


def test_catchup_versus_no_catchup_and_time_window(client, pipelines, kit):
    exp = client.create_experiment("catchup")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    common = dict(experiment_id=exp.experiment_id, max_concurrency=10,
                  pipeline_package_path=pipelines["sleepy"], params={"seconds": 1.0})
    catchup = client.create_recurring_run(job_name="catchup", interval_second=1,
                                          start_time=_iso(now - timedelta(seconds=60)), **common)
    latest = client.create_recurring_run(job_name="latest", cron_expression="* * * * * *",
                                         start_time=_iso(now - timedelta(seconds=60)),
                                         no_catchup=True, **common)
    window = client.create_recurring_run(job_name="window", cron_expression="*/2 * * * * *",
                                         start_time=_iso(now - timedelta(seconds=30)),
                                         end_time=_iso(now - timedelta(seconds=21)), **common)
    future = client.create_recurring_run(job_name="future", cron_expression="* * * * * *",
                                         start_time=_iso(now + timedelta(hours=1)), **common)

    backlog = kit.wait_for(lambda: len(r := _runs_of(client, catchup.recurring_run_id)) >= 10 and r,
                           timeout=10, what="ten caught-up runs")
    times = sorted(r.scheduled_at for r in backlog)
    assert times[0] == now - timedelta(seconds=59)  # the first missed tick, then one a second
    assert [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)] == [1.0] * 9

    only = kit.wait_for(lambda: _runs_of(client, latest.recurring_run_id), timeout=10,
                        what="the no_catchup run")
    assert only[0].scheduled_at >= now  # the latest tick, not the first missed one

    in_window = kit.wait_for(lambda: len(r := _runs_of(client, window.recurring_run_id)) >= 4
                             and r, timeout=10, what="the window's runs")
    time.sleep(0.5)
    in_window = _runs_of(client, window.recurring_run_id)
    expected = [now - timedelta(seconds=s) for s in range(30, 20, -1)
                if (now - timedelta(seconds=s)).second % 2 == 0 and s < 30]
    assert sorted(r.scheduled_at for r in in_window) == expected
    assert _runs_of(client, future.recurring_run_id) == []
    # no_catchup never went back for the missed ticks: every run it made is from now on.
    assert all(r.scheduled_at >= now for r in _runs_of(client, latest.recurring_run_id))
    for rec in (catchup, latest, window, future):
        client.delete_recurring_run(rec.recurring_run_id)
