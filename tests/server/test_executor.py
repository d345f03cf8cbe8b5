"""The executor's scheduling choices that make a run through the server cost little more than
on kfp.local (issue 12 item 5): the spare worker is not started while a run executes (its
start-up would compete with the run's steps), and a worker's exit wakes the loop at once."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from dh_kfp_pulumi.server import executor as executor_module
from dh_kfp_pulumi.server.executor import Executor
from dh_kfp_pulumi.server.store import Store


def make(tmp_path, monkeypatch) -> tuple[Executor, list[list[str]]]:
    started: list[list[str]] = []

    class Recorded:
        def __init__(self, args, **kwargs):
            started.append(list(args))
            self.pid, self.returncode = 0, None

        def poll(self):
            return self.returncode

    monkeypatch.setattr(executor_module.subprocess, "Popen", Recorded)
    store = Store(tmp_path / "server.db")
    return Executor(store, tmp_path, max_concurrent_runs=2, pipeline_root=tmp_path), started


def test_the_spare_waits_until_no_run_executes(tmp_path, monkeypatch):
    executor, started = make(tmp_path, monkeypatch)
    executor._procs["run-1"] = executor_module.subprocess.Popen(["worker"])  # a run in flight
    started.clear()
    executor._keep_spare()
    assert started == [] and executor._spare is None

    executor._procs.clear()  # the run ended
    executor._keep_spare()
    assert len(started) == 1 and "--spare" in started[0]
    executor._keep_spare()  # one spare only
    assert len(started) == 1


def test_a_workers_exit_wakes_the_loop_at_once(tmp_path):
    executor = Executor(Store(tmp_path / "server.db"), tmp_path, max_concurrent_runs=1,
                        pipeline_root=tmp_path)  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    waiter = threading.Thread(target=executor._wake_on_exit, args=(proc,))
    waiter.start()
    assert not executor._wake.wait(0.05)  # still running: no wake yet
    start = time.monotonic()
    assert executor._wake.wait(5)
    waiter.join(5)
    assert proc.returncode == 0 and time.monotonic() - start < 2


def test_a_turn_reads_only_the_pending_runs_it_has_room_for(tmp_path, monkeypatch):
    """With a backlog, each turn used to load every PENDING run with its spec (8.9 ms a turn
    at 1,000 runs); now the oldest `free` ones only (0.7 ms)."""
    executor, _ = make(tmp_path, monkeypatch)
    store = executor.store
    columns = store.all("PRAGMA table_info(runs)")  # (cid, name, type, notnull, default, pk)
    with store.write() as conn:
        for i in range(6):
            values = {c[1]: 0 if c[2].upper().startswith("INT") else "" for c in columns
                      if c[3] and c[4] is None and c[1] != "seq"}  # fmt: skip
            values.update(id=f"run-{i}", state="PENDING", created_at=100 - i, scheduled_at=0)
            conn.execute(f"INSERT INTO runs ({', '.join(values)}) VALUES "
                         f"({', '.join('?' * len(values))})", tuple(values.values()))  # fmt: skip
    taken = []
    monkeypatch.setattr(executor, "_start_worker", lambda row: taken.append(row["id"]))
    executor._launch()
    assert taken == ["run-5", "run-4"]  # max_concurrent_runs=2, oldest first
    assert [r["id"] for r in store.runs_in_states(("PENDING",))] == [f"run-{i}" for i in
                                                                    range(5, -1, -1)]
