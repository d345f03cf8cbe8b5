"""Runs PENDING runs in worker processes, at most `max_concurrent_runs` at a time.

One thread in the server owns the workers: it launches PENDING runs (oldest first), reaps
finished workers, and stops the workers of CANCELING runs (SIGKILL to the worker's process
group, which holds its steps too). A worker writes its own tasks and final state; what a dead
worker could not write (it crashed, it was killed) is written here. `recover()` runs once at
start-up: a run found RUNNING was cut off by the previous server's death and becomes FAILED.
One spare worker, already started, waits for the next run (see worker.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dh_kfp_pulumi.server import ir
from dh_kfp_pulumi.server.loop import Loop
from dh_kfp_pulumi.server.store import Store, now
from dh_kfp_pulumi.server.wire import ts

log = logging.getLogger("dh_kfp_pulumi.server")

_WORKER_MODULE = "dh_kfp_pulumi.server.worker"


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _is_our_worker(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return _WORKER_MODULE.encode() in cmdline


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    # kfp.local's steps run `python3 -m pip install kfp==...`: this interpreter's bin first
    # makes that the already-satisfied local install (no network).
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Executor(Loop):
    def __init__(self, store: Store, data_dir: Path, *, max_concurrent_runs: int,
                 pipeline_root: Path, on_run_end: Callable[[], None] = lambda: None):
        super().__init__("executor")
        self.store = store
        self.data_dir = data_dir
        self.max_concurrent_runs = max(0, max_concurrent_runs)  # 0: hold runs PENDING
        self.pipeline_root = pipeline_root
        self.on_run_end = on_run_end
        self._procs: dict[str, subprocess.Popen] = {}
        self._spare: subprocess.Popen | None = None  # a started worker waiting for a run
        self._lock = threading.Lock()

    def run_dir(self, run_id: str) -> Path:
        return self.data_dir / "runs" / run_id

    # --- lifecycle ----------------------------------------------------------------------------

    def recover(self) -> None:
        """Settle the runs the previous server left in flight (it died or was killed)."""
        for row in self.store.runs_in_states(("RUNNING", "CANCELING")):
            if row["worker_pid"] and _is_our_worker(row["worker_pid"]):
                _kill_group(row["worker_pid"])
            if row["state"] == "CANCELING":
                self._settle(row["id"], "CANCELED", "The run was canceled.")
                continue
            message = (f"The dh-kfp server stopped while this run was executing (it was killed or "
                       f"crashed); the run was marked FAILED when the server restarted at "
                       f"{ts(now())}. Create a new run to execute the pipeline again.")
            self._settle(row["id"], "FAILED", message)

    def stop(self) -> None:
        """Server shutdown: stop the loop, kill every worker, record why their runs ended."""
        super().stop()
        with self._lock:
            procs = dict(self._procs)
            self._procs.clear()
        if self._spare is not None:
            _kill_group(self._spare.pid)
            self._spare.wait()
            self._spare = None
        for run_id, proc in procs.items():
            _kill_group(proc.pid)
            proc.wait()
            self._settle(run_id, "FAILED", "The dh-kfp server was stopped while this run was "
                                           "executing; the run did not complete.")

    def forget(self, run_id: str) -> None:
        """The run is being deleted: stop its worker without recording anything."""
        with self._lock:
            proc = self._procs.pop(run_id, None)
        if proc is not None:
            _kill_group(proc.pid)
            proc.wait()

    def running(self) -> int:
        with self._lock:
            return len(self._procs)

    # --- the loop -----------------------------------------------------------------------------

    def _turn(self) -> float:
        self._reap()
        self._cancel()
        self._launch()
        self._keep_spare()
        return self._idle()

    def _idle(self) -> float:
        return 0.25 if self._procs else 2.0

    def _reap(self) -> None:
        with self._lock:
            done = {rid: p for rid, p in self._procs.items() if p.poll() is not None}
            for rid in done:
                del self._procs[rid]
        for run_id, proc in done.items():
            row = self.store.get_run(run_id)
            if row is None:
                continue
            if row["state"] == "CANCELING":
                self._settle(run_id, "CANCELED", "The run was canceled.")
            elif row["state"] == "RUNNING":  # the worker died before writing its end
                self._settle(run_id, "FAILED", (
                    f"The run's worker process ended unexpectedly (exit status "
                    f"{proc.returncode}); see GET /dh-kfp/v1/runs/{run_id}/logs"))
        if done:
            self.on_run_end()

    def _cancel(self) -> None:
        for row in self.store.runs_in_states(("CANCELING",)):
            with self._lock:
                proc = self._procs.pop(row["id"], None)
            if proc is not None:
                _kill_group(proc.pid)
                proc.wait()
            self._settle(row["id"], "CANCELED", "The run was canceled.")
            self.on_run_end()

    def _launch(self) -> None:
        free = self.max_concurrent_runs - self.running()
        if free <= 0:
            return
        for row in self.store.runs_in_states(("PENDING",), limit=free):
            self._start_worker(row)

    def _start_worker(self, row: Any) -> None:
        run_id = row["id"]
        spec = ir.from_wire(json.loads(row["spec_json"]), validate=False)
        notes = self._notes(row, spec)
        if not self.store.set_run_state(run_id, "RUNNING", only_from=("PENDING",),
                                        note=" ".join(notes) or None):
            return
        for note in notes:
            self.store.add_run_note(run_id, note)
        run_dir = self.run_dir(run_id)
        run_dir.mkdir(parents=True, exist_ok=True)
        root = str(self._pipeline_root(row))
        proc = self._take_spare(f"{run_id}\t{run_dir}\t{root}\n")
        try:
            if proc is None:
                with open(run_dir / "worker.log", "ab") as out:
                    proc = subprocess.Popen(
                        [sys.executable, "-m", _WORKER_MODULE, self.store.path, run_id,
                         str(run_dir), root],
                        stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, cwd=run_dir,
                        env=_worker_env(), start_new_session=True)
        except OSError as exc:
            self.store.set_run_state(run_id, "FAILED", only_from=("RUNNING",), finished=True,
                                     error={"code": 13, "message": f"Could not start the run's "
                                                                   f"worker process: {exc}"})
            return
        with self._lock:
            self._procs[run_id] = proc
        threading.Thread(target=self._wake_on_exit, args=(proc,), daemon=True,
                         name=f"dh-kfp-wait-{proc.pid}").start()
        with self.store.write() as conn:
            conn.execute("UPDATE runs SET worker_pid = ? WHERE id = ?", (proc.pid, run_id))

    def _wake_on_exit(self, proc: subprocess.Popen) -> None:
        """The loop's next turn as soon as a worker ends: its slot goes to the next PENDING
        run (and the spare is made) without waiting for the loop's 0.25 s poll."""
        proc.wait()
        self.wake()

    def _take_spare(self, assignment: str) -> subprocess.Popen | None:
        """Hand a run to the spare worker; None if there is no live spare to take it."""
        spare, self._spare = self._spare, None
        if spare is None or spare.poll() is not None:
            return None
        assert spare.stdin is not None  # spares are started with stdin=PIPE
        try:
            spare.stdin.write(assignment.encode())
            spare.stdin.flush()
        except OSError:
            _kill_group(spare.pid)
            spare.wait()
            return None
        return spare

    def _keep_spare(self) -> None:
        """Start a spare worker when none is waiting, and only while no run executes: its
        start-up (~0.5 s of CPU importing kfp) would otherwise compete with the steps of
        the run that just took the last spare (a two-step run took 1.2-1.3x as long as on
        kfp.local; a busy server's runs start cold, at the same cost in CPU)."""
        if self.max_concurrent_runs == 0 or self._stopping.is_set() or self.running():
            return
        if self._spare is not None and self._spare.poll() is None:
            return
        with open(self.data_dir / "spare-worker.log", "wb") as out:
            self._spare = subprocess.Popen(
                [sys.executable, "-m", _WORKER_MODULE, "--spare", self.store.path],
                stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, cwd=self.data_dir,
                env=_worker_env(), start_new_session=True)

    def _pipeline_root(self, row: Any) -> Path:
        config = json.loads(row["runtime_config"])
        root = config.get("pipeline_root", "")
        if root.startswith("file://"):
            root = root[len("file://"):]
        base = Path(root) if root and os.path.isabs(root) else self.pipeline_root
        return base / row["id"]

    def _notes(self, row: Any, spec: ir.Spec) -> list[str]:
        notes = []
        settings = ir.platform_notes(spec)
        if settings:
            notes.append("Kubernetes pod settings of the platform spec cannot be applied by the "
                         "embedded server; the run executes without them: "
                         + "; ".join(settings) + ".")
        root = json.loads(row["runtime_config"]).get("pipeline_root", "")
        if root and not (root.startswith("file://") or os.path.isabs(root)):
            notes.append(f"pipeline_root {root!r} is not a local path; outputs are written under "
                         f"{self.pipeline_root / row['id']} instead.")
        return notes

    def _settle(self, run_id: str, state: str, message: str) -> None:
        code = 1 if state == "CANCELED" else 2
        error = None if state == "CANCELED" else {"code": code, "message": message}
        self.store.close_open_tasks(run_id, state, message)
        self.store.set_run_state(run_id, state, only_from=("PENDING", "RUNNING", "CANCELING"),
                                 error=error, note=message if error is None else None,
                                 finished=True)
