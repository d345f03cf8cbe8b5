"""One run, executed in its own process with kfp.local's pipeline orchestrator.

Started by the executor as `python -m dh_kfp_pulumi.server.worker <db> <run_id> <run_dir>
<pipeline_root>` in a new session (so the server can kill it and its steps as a group), with
its stdin a pipe from the server: when that pipe closes (the server stopped or was killed) the
worker kills its whole process group, so no step outlives the server. To take Python and kfp's
start-up off a run's critical path, the executor keeps one spare worker (`--spare <db>`) that
has done its imports and waits for a run on stdin; each worker still runs one run only.

kfp.local is driven as a library: `task_executor.execute_single_task` is wrapped to record each
task's start, end, outputs and log in the database, and `sys.stdout` routes what a task prints
(kfp.local streams step output through `print`) to that task's log file, per thread.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import traceback
import uuid
from pathlib import Path
from typing import Any, cast

from dh_kfp_pulumi.server import ir
from dh_kfp_pulumi.server.store import Store

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_EXCEPTION_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Warning)"
                             r"|[A-Za-z_][\w.]*\.[A-Za-z_]\w*)(: .*)?$")


class _StdoutRouter:
    """Sends writes to the calling thread's task log, else to the worker's own output."""

    def __init__(self, default: Any):
        self.default = default
        self.local = threading.local()

    def write(self, text: str) -> int:
        target = getattr(self.local, "sink", None) or self.default
        target.write(_ANSI.sub("", text))
        target.flush()
        return len(text)

    def flush(self) -> None:
        (getattr(self.local, "sink", None) or self.default).flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self.default.fileno()


def _watch_parent() -> None:
    """EOF on stdin means the server is gone: take the whole process group down."""
    try:
        while os.read(0, 1):  # the raw fd: no buffered-reader lock to trip over at exit
            pass
    except OSError:
        pass
    os.killpg(os.getpgrp(), signal.SIGKILL)


def failure_reason(log_text: str) -> str:
    """The exception line of a failed step's traceback (what a user needs first)."""
    lines = [_ANSI.sub("", line).strip() for line in log_text.splitlines()]
    lines = [line for line in lines if line]
    if any(line.startswith("Traceback") for line in lines):
        start = max(i for i, line in enumerate(lines) if line.startswith("Traceback"))
        for line in reversed(lines[start:]):
            if _EXCEPTION_LINE.match(line) and not line.startswith("File "):
                return line
    for line in reversed(lines):
        if "finished with status" not in line and not line.startswith("---"):
            return line[-500:]
    return "the step exited with a non-zero status"


def _docker_problem() -> str | None:
    """None when a Docker engine answers, else why not."""
    try:
        import docker
    except ImportError:
        return "the 'docker' Python package is not installed"
    try:
        docker.from_env(timeout=5).ping()
    except Exception as exc:  # any failure to reach the engine
        return f"no Docker engine answers ({type(exc).__name__}: {str(exc)[:200]})"
    return None


class _Recorder:
    def __init__(self, store: Store, run_id: str, run_dir: Path, router: _StdoutRouter):
        self.store, self.run_id, self.run_dir, self.router = store, run_id, run_dir, router
        self.failures: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def wrap(self, original: Any) -> Any:
        def execute_single_task(*args: Any, **kwargs: Any) -> Any:
            task_name = kwargs.get("task_name", args[0] if args else "task")
            task_spec = kwargs.get("task_spec", args[1] if len(args) > 1 else None)
            display = task_spec.task_info.name if task_spec is not None else ""
            task_id = str(uuid.uuid4())
            log_path = self.run_dir / "tasks" / f"{task_name}-{task_id[:8]}.log"
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self.store.task_started(self.run_id, task_id, task_name, display or task_name, "",
                                    str(log_path))
            with open(log_path, "a", encoding="utf-8") as sink:
                self.router.local.sink = sink
                try:
                    outputs, status = original(*args, **kwargs)
                except BaseException as exc:
                    sink.write(traceback.format_exc())
                    reason = f"{type(exc).__name__}: {exc}"
                    self._failed(task_id, task_name, reason)
                    raise
                finally:
                    self.router.local.sink = None
            if status.name == "SUCCESS":
                params, artifacts = _split_outputs(outputs)
                self.store.task_finished(self.run_id, task_id, "SUCCEEDED", parameters=params,
                                         artifacts=artifacts)
            else:
                reason = failure_reason(log_path.read_text(encoding="utf-8", errors="replace"))
                self._failed(task_id, task_name, reason)
            return outputs, status

        return execute_single_task

    def _failed(self, task_id: str, task_name: str, reason: str) -> None:
        with self.lock:
            self.failures.append((task_name, reason))
        self.store.task_finished(self.run_id, task_id, "FAILED",
                                 error={"code": 2, "message": f"Task {task_name} failed: {reason}"})


def _split_outputs(outputs: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from kfp import dsl

    params: dict[str, Any] = {}
    artifacts: list[dict[str, Any]] = []
    for key, value in outputs.items():
        items = value if isinstance(value, list) else [value]
        if items and all(isinstance(v, dsl.Artifact) for v in items):
            for art in items:
                artifacts.append({"output": key, "name": art.name, "uri": art.uri,
                                  "schema_title": art.schema_title,
                                  "metadata": json.loads(json.dumps(art.metadata, default=str))})
        else:
            params[key] = json.loads(json.dumps(value, default=str))
    return params, artifacts


def execute(store: Store, run_id: str, run_dir: Path, pipeline_root: Path) -> tuple[str, dict | None]:
    """Run the pipeline; returns the final state and the run's error (None on success)."""
    row = store.get_run(run_id)
    assert row is not None, f"run {run_id} is not in the store"  # the server made it first
    spec = ir.from_wire(json.loads(row["spec_json"]), validate=False)
    parameters = json.loads(row["runtime_config"]).get("parameters", {})

    containers = ir.container_executors(spec)
    runner_kind = "subprocess"
    if containers:
        problem = _docker_problem()
        if problem:
            return "FAILED", {"code": 9, "message": (
                f"This pipeline has container steps ({', '.join(containers)}), which need a Docker "
                f"engine on this machine, but {problem}. Start Docker, or run the pipeline on a "
                "real KFP.")}
        runner_kind = "docker"

    from google.protobuf import json_format
    from kfp import local
    from kfp.local import pipeline_orchestrator
    from kfp.local.orchestrator import task_executor
    from kfp.pipeline_spec import pipeline_spec_pb2

    router = cast(_StdoutRouter, sys.stdout)  # installed by main()
    recorder = _Recorder(store, run_id, run_dir, router)
    task_executor.execute_single_task = recorder.wrap(task_executor.execute_single_task)
    runner = local.DockerRunner() if runner_kind == "docker" else local.SubprocessRunner(use_venv=False)
    pipeline_root.mkdir(parents=True, exist_ok=True)
    local.init(runner=runner, pipeline_root=str(pipeline_root),
               workspace_root=str(run_dir / "workspace"), raise_on_error=True)
    proto = json_format.ParseDict(spec.pipeline_spec, pipeline_spec_pb2.PipelineSpec())
    try:
        pipeline_orchestrator.run_local_pipeline(proto, parameters)
    except Exception as exc:
        if recorder.failures:
            name, reason = recorder.failures[-1]
            return "FAILED", {"code": 2, "message": f"Task {name} failed: {reason}"}
        traceback.print_exc()
        return "FAILED", {"code": 2, "message": _ANSI.sub("", f"{type(exc).__name__}: {exc}")[:2000]}
    if recorder.failures:
        name, reason = recorder.failures[-1]
        return "FAILED", {"code": 2, "message": f"Task {name} failed: {reason}"}
    return "SUCCEEDED", None


def _await_assignment() -> list[str] | None:
    """A spare worker: import the heavy parts now, then wait for a run on stdin (one line,
    tab-separated: run id, run dir, pipeline root). None when the server goes away first."""
    import kfp.dsl  # noqa: F401
    import kfp.local.orchestrator.task_executor  # noqa: F401
    import kfp.local.pipeline_orchestrator  # noqa: F401
    from google.protobuf import json_format  # noqa: F401
    from kfp.pipeline_spec import pipeline_spec_pb2  # noqa: F401

    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(0, 4096)
        if not chunk:
            return None
        line += chunk
    fields = line.decode().rstrip("\n").split("\t")
    run_dir = fields[1]
    os.chdir(run_dir)
    log_fd = os.open(os.path.join(run_dir, "worker.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    return fields


def main(argv: list[str]) -> int:
    if argv[0] == "--spare":
        store = Store(argv[1])  # the database opened while waiting, off the run's path too
        assignment = _await_assignment()
        if assignment is None:
            return 0
        run_id, run_dir, pipeline_root = assignment
    else:
        db, run_id, run_dir, pipeline_root = argv
        store = Store(db)
    threading.Thread(target=_watch_parent, daemon=True, name="parent-watch").start()
    sys.stdout = _StdoutRouter(sys.stdout)
    try:
        state, error = execute(store, run_id, Path(run_dir), Path(pipeline_root))
    except Exception as exc:
        traceback.print_exc()
        state, error = "FAILED", {"code": 13, "message": f"The run's worker failed: "
                                                         f"{type(exc).__name__}: {exc}"[:2000]}
    store.set_run_state(run_id, state, only_from=("RUNNING",), error=error, finished=True)
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # nothing left to clean up; skip an interpreter shutdown racing the watcher
