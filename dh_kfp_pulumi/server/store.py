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

from dh_kfp_pulumi.server.schema import SCHEMA

ACTIVE_STATES = ("PENDING", "RUNNING", "CANCELING")
TERMINAL_STATES = ("SUCCEEDED", "FAILED", "CANCELED", "SKIPPED")


def new_id() -> str:
    return str(uuid.uuid4())


def now() -> int:
    return int(time.time())


class Store:
    """One database file; a connection per thread (sqlite3 connections are not shared)."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._local = threading.local()
        self.conn().executescript(SCHEMA)  # idempotent: server and workers both open the file

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

    def runs_in_states(self, states: tuple[str, ...], limit: int = -1) -> list[sqlite3.Row]:
        """Oldest first; at most `limit` (-1: all): the executor takes only the runs it has
        room for, not every PENDING run (with their specs) at each turn."""
        marks = ", ".join("?" * len(states))
        return self.all(f"SELECT * FROM runs WHERE state IN ({marks}) ORDER BY created_at, seq "
                        "LIMIT ?", (*states, limit))

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


# --- the API's writes, each inside the caller's `Store.write()` transaction ---------------------


def insert_experiment(conn: sqlite3.Connection, ident: str, name: str, description: str) -> None:
    """Raises sqlite3.IntegrityError when the name is taken."""
    conn.execute("INSERT INTO experiments (id, name, description, created_at) "
                 "VALUES (?, ?, ?, ?)", (ident, name, description, now()))


def archive_experiment(conn: sqlite3.Connection, ident: str) -> None:
    """The experiment and its runs archived, its enabled recurring runs disabled."""
    conn.execute("UPDATE experiments SET storage_state = 'ARCHIVED' WHERE id = ?", (ident,))
    conn.execute("UPDATE runs SET storage_state = 'ARCHIVED' WHERE experiment_id = ?", (ident,))
    conn.execute("UPDATE recurring_runs SET mode = 'DISABLE', updated_at = ? "
                 "WHERE experiment_id = ? AND mode = 'ENABLE'", (now(), ident))


def unarchive_experiment(conn: sqlite3.Connection, ident: str) -> None:
    conn.execute("UPDATE experiments SET storage_state = 'AVAILABLE' WHERE id = ?", (ident,))


def delete_experiment(conn: sqlite3.Connection, ident: str) -> None:
    conn.execute("DELETE FROM experiments WHERE id = ?", (ident,))


def insert_pipeline(conn: sqlite3.Connection, ident: str, name: str, display_name: str,
                    description: str, tags: dict[str, str]) -> None:
    """Raises sqlite3.IntegrityError when the name is taken."""
    conn.execute("INSERT INTO pipelines (id, name, display_name, description, created_at, "
                 "tags) VALUES (?, ?, ?, ?, ?, ?)",
                 (ident, name, display_name, description, now(), json.dumps(tags)))


def insert_version(conn: sqlite3.Connection, ident: str, pipeline_id: str, name: str,
                   display_name: str, description: str, *, tags: dict[str, str],
                   code_source_url: str, package_url: str, spec_raw: bytes,
                   spec_json: str) -> None:
    """Raises sqlite3.IntegrityError when the pipeline has a version of that name."""
    conn.execute(
        "INSERT INTO pipeline_versions (id, pipeline_id, name, display_name, description, "
        "created_at, tags, code_source_url, package_url, spec_raw, spec_json) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (ident, pipeline_id, name, display_name, description, now(), json.dumps(tags),
         code_source_url, package_url, spec_raw, spec_json))


def first_version_id(conn: sqlite3.Connection, pipeline_id: str) -> str | None:
    row = conn.execute("SELECT id FROM pipeline_versions WHERE pipeline_id = ? "
                       "ORDER BY seq LIMIT 1", (pipeline_id,)).fetchone()
    return None if row is None else str(row["id"])


def delete_pipeline(conn: sqlite3.Connection, ident: str) -> None:
    """The pipeline and its versions."""
    conn.execute("DELETE FROM pipeline_versions WHERE pipeline_id = ?", (ident,))
    conn.execute("DELETE FROM pipelines WHERE id = ?", (ident,))


def delete_version(conn: sqlite3.Connection, ident: str) -> None:
    conn.execute("DELETE FROM pipeline_versions WHERE id = ?", (ident,))


def insert_run(conn: sqlite3.Connection, ident: str, *, experiment_id: str, display_name: str,
               description: str, pipeline_id: str, version_id: str, spec_json: str,
               runtime_config: dict[str, Any], service_account: str,
               scheduled_at: int | None, recurring_run_id: str) -> None:
    """One PENDING run, and its experiment's last run time."""
    t = now()
    conn.execute(
        "INSERT INTO runs (id, experiment_id, display_name, description, pipeline_id, "
        "pipeline_version_id, spec_json, runtime_config, service_account, created_at, "
        "scheduled_at, state, recurring_run_id, state_history) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'PENDING', ?, ?)",
        (ident, experiment_id, display_name, description, pipeline_id, version_id, spec_json,
         json.dumps(runtime_config), service_account, t,
         t if scheduled_at is None else int(scheduled_at), recurring_run_id,
         json.dumps([{"update_time": t, "state": "PENDING"}])))
    conn.execute("UPDATE experiments SET last_run_created_at = ? WHERE id = ?", (t, experiment_id))


def delete_run(conn: sqlite3.Connection, ident: str) -> None:
    """The run with its tasks and artifacts."""
    conn.execute("DELETE FROM artifacts WHERE run_id = ?", (ident,))
    conn.execute("DELETE FROM tasks WHERE run_id = ?", (ident,))
    conn.execute("DELETE FROM runs WHERE id = ?", (ident,))


def set_run_storage(conn: sqlite3.Connection, ident: str, storage_state: str) -> None:
    conn.execute("UPDATE runs SET storage_state = ? WHERE id = ?", (storage_state, ident))


def run_state(conn: sqlite3.Connection, ident: str) -> sqlite3.Row | None:
    """The run's state and state history, read inside the transaction."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT state, state_history FROM runs WHERE id = ?", (ident,)).fetchone()
    return row


def reset_run(conn: sqlite3.Connection, ident: str, history: list[dict[str, Any]]) -> None:
    """The run back to PENDING, its tasks and artifacts gone (a retry)."""
    conn.execute("DELETE FROM artifacts WHERE run_id = ?", (ident,))
    conn.execute("DELETE FROM tasks WHERE run_id = ?", (ident,))
    conn.execute("UPDATE runs SET state = 'PENDING', finished_at = 0, error = '', "
                 "worker_pid = 0, state_history = ? WHERE id = ?", (json.dumps(history), ident))


def insert_recurring_run(conn: sqlite3.Connection, ident: str, *, display_name: str,
                         description: str, experiment_id: str, pipeline_id: str,
                         version_id: str, spec_json: str, spec_inline: bool,
                         runtime_config: dict[str, Any], service_account: str,
                         max_concurrency: int, trigger: dict[str, Any], mode: str,
                         no_catchup: bool, last_tick: int | None) -> None:
    t = now()
    conn.execute(
        "INSERT INTO recurring_runs (id, display_name, description, experiment_id, "
        "pipeline_id, pipeline_version_id, spec_json, spec_inline, runtime_config, "
        "service_account, max_concurrency, trigger, mode, created_at, updated_at, no_catchup, "
        "last_tick) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (ident, display_name, description, experiment_id, pipeline_id, version_id, spec_json,
         int(spec_inline), json.dumps(runtime_config), service_account, max_concurrency,
         json.dumps(trigger), mode, t, t, int(no_catchup), last_tick or t))


def enable_recurring_run(conn: sqlite3.Connection, ident: str) -> None:
    """Ticks that fell while it was disabled are not caught up: the reference moves to now."""
    t = now()
    conn.execute("UPDATE recurring_runs SET last_tick = MAX(last_tick, ?), mode = 'ENABLE', "
                 "updated_at = ? WHERE id = ? AND mode != 'ENABLE'", (t, t, ident))


def disable_recurring_run(conn: sqlite3.Connection, ident: str) -> None:
    conn.execute("UPDATE recurring_runs SET mode = 'DISABLE', updated_at = ? "
                 "WHERE id = ? AND mode != 'DISABLE'", (now(), ident))


def delete_recurring_run(conn: sqlite3.Connection, ident: str) -> list[str]:
    """Deletes it; the ids of the runs it started that are still going."""
    marks = ", ".join("?" * len(ACTIVE_STATES))
    conn.execute("DELETE FROM recurring_runs WHERE id = ?", (ident,))
    active = conn.execute(f"SELECT id FROM runs WHERE recurring_run_id = ? AND state IN "
                          f"({marks})", (ident, *ACTIVE_STATES)).fetchall()
    return [str(row["id"]) for row in active]
