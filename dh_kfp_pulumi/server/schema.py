"""The embedded server's SQLite schema: KFP's objects and the state of every run."""

SCHEMA = """
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
