"""The server's SQLite database (WAL): every KFP object and the state of every run.

Each write is one `BEGIN IMMEDIATE` transaction, so a `kill -9` at any moment leaves the last
committed state; readers never block writers. The server process and its run workers open the
same file (a worker records its tasks and its end). Rows are plain `sqlite3.Row`s; `wire.py`
and the handlers turn them into KFP's JSON. Pipeline specs are kept as uploaded (`spec_raw`)
next to their JSON form (`spec_json`). Times are epoch seconds (KFP stores seconds).

Read helpers (`get_*`, `list_*`) are the stable surface for other readers (the web page).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ACTIVE_STATES = ("PENDING", "RUNNING", "CANCELING")
TERMINAL_STATES = ("SUCCEEDED", "FAILED", "CANCELED", "SKIPPED")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  namespace TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  last_run_created_at INTEGER NOT NULL DEFAULT 0,
  storage_state TEXT NOT NULL DEFAULT 'AVAILABLE',
  UNIQUE (name, namespace)
);
CREATE TABLE IF NOT EXISTS pipelines (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  display_name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  namespace TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  tags TEXT NOT NULL DEFAULT '{}',
  UNIQUE (name, namespace)
);
CREATE TABLE IF NOT EXISTS pipeline_versions (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  pipeline_id TEXT NOT NULL REFERENCES pipelines(id),
  name TEXT NOT NULL,
  display_name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  status TEXT NOT NULL DEFAULT 'READY',
  tags TEXT NOT NULL DEFAULT '{}',
  code_source_url TEXT NOT NULL DEFAULT '',
  package_url TEXT NOT NULL DEFAULT '',
  spec_raw BLOB NOT NULL,
  spec_json TEXT NOT NULL,
  UNIQUE (pipeline_id, name)
);
CREATE TABLE IF NOT EXISTS runs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  experiment_id TEXT NOT NULL,
  display_name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  namespace TEXT NOT NULL DEFAULT '',
  pipeline_id TEXT NOT NULL DEFAULT '',
  pipeline_version_id TEXT NOT NULL DEFAULT '',
  spec_json TEXT NOT NULL,
  runtime_config TEXT NOT NULL DEFAULT '{}',
  service_account TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  scheduled_at INTEGER NOT NULL,
  finished_at INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL,
  error TEXT NOT NULL DEFAULT '',
  storage_state TEXT NOT NULL DEFAULT 'AVAILABLE',
  recurring_run_id TEXT NOT NULL DEFAULT '',
  state_history TEXT NOT NULL DEFAULT '[]',
  worker_pid INTEGER NOT NULL DEFAULT 0,
  notes TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS runs_state ON runs (state);
CREATE INDEX IF NOT EXISTS runs_recurring ON runs (recurring_run_id, state);
CREATE TABLE IF NOT EXISTS tasks (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id TEXT NOT NULL,
  task_id TEXT NOT NULL,
  name TEXT NOT NULL,
  display_name TEXT NOT NULL,
  parent_task_id TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL,
  create_time INTEGER NOT NULL,
  start_time INTEGER NOT NULL DEFAULT 0,
  end_time INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  outputs TEXT NOT NULL DEFAULT '{}',
  state_history TEXT NOT NULL DEFAULT '[]',
  log_path TEXT NOT NULL DEFAULT '',
  UNIQUE (run_id, task_id)
);
CREATE TABLE IF NOT EXISTS artifacts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id TEXT NOT NULL,
  task_id TEXT NOT NULL,
  output TEXT NOT NULL,
  name TEXT NOT NULL,
  uri TEXT NOT NULL,
  schema_title TEXT NOT NULL,
  metadata TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS artifacts_run ON artifacts (run_id, task_id);
CREATE TABLE IF NOT EXISTS recurring_runs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  display_name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  namespace TEXT NOT NULL DEFAULT '',
  experiment_id TEXT NOT NULL,
  pipeline_id TEXT NOT NULL DEFAULT '',
  pipeline_version_id TEXT NOT NULL DEFAULT '',
  spec_json TEXT NOT NULL,
  spec_inline INTEGER NOT NULL,
  runtime_config TEXT NOT NULL DEFAULT '{}',
  service_account TEXT NOT NULL DEFAULT '',
  max_concurrency INTEGER NOT NULL,
  trigger TEXT NOT NULL,
  mode TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  no_catchup INTEGER NOT NULL DEFAULT 0,
  last_tick REAL NOT NULL
);
"""


def new_id() -> str:
    return str(uuid.uuid4())


def now() -> int:
    return int(time.time())


class Store:
    """One database file; a connection per thread (sqlite3 connections are not shared)."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._local = threading.local()
        self.conn().executescript(_SCHEMA)  # idempotent: server and workers both open the file

    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                   check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One atomic write transaction, taken up front so that writers queue instead of fail."""
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def one(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        return self.conn().execute(sql, params).fetchone()

    def all(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        return self.conn().execute(sql, params).fetchall()

    # --- reads (stable for other readers) -----------------------------------------------------

    def get_experiment(self, ident: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM experiments WHERE id = ?", (ident,))

    def get_experiment_by_name(self, name: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM experiments WHERE name = ? AND namespace = ''", (name,))

    def get_pipeline(self, ident: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM pipelines WHERE id = ?", (ident,))

    def get_pipeline_by_name(self, name: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM pipelines WHERE name = ? AND namespace = ''", (name,))

    def get_version(self, ident: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM pipeline_versions WHERE id = ?", (ident,))

    def latest_version(self, pipeline_id: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM pipeline_versions WHERE pipeline_id = ? "
                        "ORDER BY created_at DESC, seq DESC LIMIT 1", (pipeline_id,))

    def get_run(self, ident: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM runs WHERE id = ?", (ident,))

    def get_tasks(self, run_id: str) -> list[sqlite3.Row]:
        return self.all("SELECT * FROM tasks WHERE run_id = ? ORDER BY seq", (run_id,))

    def get_artifacts(self, run_id: str) -> list[sqlite3.Row]:
        return self.all("SELECT * FROM artifacts WHERE run_id = ? ORDER BY id", (run_id,))

    def get_recurring_run(self, ident: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM recurring_runs WHERE id = ?", (ident,))

    def list_pipelines(self) -> list[sqlite3.Row]:
        return self.all("SELECT * FROM pipelines ORDER BY created_at, seq")

    def list_versions(self, pipeline_id: str) -> list[sqlite3.Row]:
        return self.all("SELECT * FROM pipeline_versions WHERE pipeline_id = ? "
                        "ORDER BY created_at, seq", (pipeline_id,))

    def list_recurring_runs(self) -> list[sqlite3.Row]:
        return self.all("SELECT * FROM recurring_runs ORDER BY created_at, seq")

    def recent_runs(self, limit: int = 50) -> list[sqlite3.Row]:
        return self.all("SELECT * FROM runs ORDER BY created_at DESC, seq DESC LIMIT ?", (limit,))

    def runs_in_states(self, states: tuple[str, ...]) -> list[sqlite3.Row]:
        marks = ", ".join("?" * len(states))
        return self.all(f"SELECT * FROM runs WHERE state IN ({marks}) ORDER BY created_at, seq",
                        states)

    def active_runs_of(self, recurring_run_id: str) -> int:
        marks = ", ".join("?" * len(ACTIVE_STATES))
        row = self.one(f"SELECT COUNT(*) FROM runs WHERE recurring_run_id = ? AND state IN "
                       f"({marks})", (recurring_run_id, *ACTIVE_STATES))
        assert row is not None  # COUNT(*) always answers one row
        return int(row[0])

    # --- run state (server and workers) -------------------------------------------------------

    def set_run_state(self, run_id: str, state: str, *, only_from: tuple[str, ...],
                      error: dict[str, Any] | None = None, note: str | None = None,
                      finished: bool = False, worker_pid: int | None = None) -> bool:
        """Move a run to `state` if it is in one of `only_from`; append to its history."""
        with self.write() as conn:
            row = conn.execute("SELECT state, state_history FROM runs WHERE id = ?",
                               (run_id,)).fetchone()
            if row is None or row["state"] not in only_from:
                return False
            history = json.loads(row["state_history"])
            entry: dict[str, Any] = {"update_time": now(), "state": state}
            if error is not None:
                entry["error"] = error
            elif note:
                entry["error"] = {"message": note}  # code 0 (OK): a note, not a failure
            history.append(entry)
            fields: dict[str, Any] = {"state": state, "state_history": json.dumps(history)}
            if error is not None:
                fields["error"] = json.dumps(error)
            if finished:
                fields["finished_at"] = now()
            if worker_pid is not None:
                fields["worker_pid"] = worker_pid
            sets = ", ".join(f"{k} = ?" for k in fields)
            conn.execute(f"UPDATE runs SET {sets} WHERE id = ?", (*fields.values(), run_id))
            return True

    def add_run_note(self, run_id: str, note: str) -> None:
        with self.write() as conn:
            row = conn.execute("SELECT notes FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is not None:
                notes = [*json.loads(row["notes"]), note]
                conn.execute("UPDATE runs SET notes = ? WHERE id = ?", (json.dumps(notes), run_id))

    def task_started(self, run_id: str, task_id: str, name: str, display_name: str,
                     parent_task_id: str, log_path: str) -> None:
        t = now()
        history = json.dumps([{"update_time": t, "state": "RUNNING"}])
        with self.write() as conn:
            conn.execute(
                "INSERT INTO tasks (run_id, task_id, name, display_name, parent_task_id, state, "
                "create_time, start_time, state_history, log_path) "
                "VALUES (?, ?, ?, ?, ?, 'RUNNING', ?, ?, ?, ?)",
                (run_id, task_id, name, display_name, parent_task_id, t, t, history, log_path))

    def task_finished(self, run_id: str, task_id: str, state: str, *,
                      parameters: dict[str, Any] | None = None,
                      artifacts: list[dict[str, Any]] | None = None,
                      error: dict[str, Any] | None = None) -> None:
        t = now()
        with self.write() as conn:
            row = conn.execute("SELECT state_history FROM tasks WHERE run_id = ? AND task_id = ?",
                               (run_id, task_id)).fetchone()
            if row is None:
                return
            history = json.loads(row["state_history"])
            entry: dict[str, Any] = {"update_time": t, "state": state}
            if error:
                entry["error"] = error
            history.append(entry)
            for art in artifacts or []:
                conn.execute(
                    "INSERT INTO artifacts (run_id, task_id, output, name, uri, schema_title, "
                    "metadata) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (run_id, task_id, art["output"], art["name"], art["uri"],
                     art["schema_title"], json.dumps(art.get("metadata") or {})))
            conn.execute(
                "UPDATE tasks SET state = ?, end_time = ?, error = ?, outputs = ?, "
                "state_history = ? WHERE run_id = ? AND task_id = ?",
                (state, t, json.dumps(error) if error else "",
                 json.dumps({"parameters": parameters or {}}), json.dumps(history),
                 run_id, task_id))

    def close_open_tasks(self, run_id: str, state: str, message: str) -> None:
        """Tasks still RUNNING when their run ends abruptly get the run's fate."""
        for task in self.all("SELECT task_id FROM tasks WHERE run_id = ? AND state = 'RUNNING'",
                             (run_id,)):
            self.task_finished(run_id, task["task_id"], state,
                               error={"code": 10 if state == "CANCELED" else 2, "message": message})
