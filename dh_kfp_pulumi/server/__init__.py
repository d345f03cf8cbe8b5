"""The embedded KFP server: KFP's v2beta1 REST API on loopback, backed by SQLite and kfp.local.

The real `kfp.Client` (2.17) works against it unchanged: `kfp.Client(host=info.url)`. It is
the default backend on one machine and the KFP of the tests; anything beyond one machine goes
to a real KFP. Nothing in the product may depend on what only this server offers.

Public API (stable; other areas use it)
---------------------------------------
`dh_kfp_pulumi.server.lifecycle`:

- `start(data_dir=None, *, port=0, host="127.0.0.1", **settings) -> ServerInfo(url, pid,
  data_dir)`: a background server; idempotent (returns the one already serving the dir).
- `stop(data_dir=None) -> bool`, `status(data_dir=None) -> ServerInfo | None`.
- `serve(data_dir=None, *, port=0, host="127.0.0.1", **settings)`: foreground, until SIGTERM.
- `running_server(data_dir, **settings)`: context manager yielding a ServerInfo (for tests;
  stops the server afterwards unless it was already running).
- settings: `max_concurrent_runs` (default 4; 0 holds runs PENDING, unexecuted),
  `pipeline_root` (default `<data_dir>/pipeline_root`), `log_level`.
- data dir: the argument, else `$DH_KFP_DATA_DIR`, else the user's data dir (platformdirs).
  A second server on the same data dir is refused (`ServerError`).

The command line is `dh-kfp server serve|start|stop|status [--data-dir D] [--port P] ...`.

Endpoints beyond KFP's (under `/dh-kfp/v1/`, never under `/apis/`)
-----------------------------------------------------------------
- `GET /dh-kfp/v1/stats`: `{"requests": {"<METHOD> <path template>": n}, "total": n,
  "writes": n}` counting the `/apis/...` requests since start (or reset); `writes` counts
  POST/PUT/PATCH/DELETE. For tests ("a second `up` makes zero KFP write calls").
  `POST /dh-kfp/v1/stats:reset` zeroes it.
- `GET /dh-kfp/v1/runs/{run_id}/logs[?task=<task id or name>]`: step logs as text/plain (all
  tasks, each under a header, then the run's own log; or one task's log).
- `GET /dh-kfp/v1/runs/{run_id}/tasks`: per task its state, error, output parameters (values)
  and output artifacts (URIs), and the run's notes (e.g. pod settings not applied locally).
- `GET /dh-kfp/v1/info`: version, data dir, settings.

Per-task state is also in KFP's own shape in `run_details.task_details` of `get_run` (state,
times, error, output artifact ids). A note such as "pod settings cannot be applied locally"
is the `error.message` (code 0: OK) of the RUNNING entry of the run's `state_history`.

Modules: `app` (routes), `api` (the KFP operations), `wire` (JSON conventions, request checks
against the official swagger in `swagger/`), `filters` (filter/sort/pagination), `store`
(SQLite), `ir` (pipeline specs), `executor` + `worker` (runs in worker processes with
kfp.local), `scheduler` + `cron` (recurring runs), `lifecycle` (start/stop/status/serve).
`web`: the read-only pages at `/` and `/runs/{run_id}` (KFP's `/#/runs/details/<id>` lands
there).
"""

from __future__ import annotations

from dh_kfp_pulumi.server.lifecycle import (
    ServerError,
    ServerInfo,
    resolve_data_dir,
    running_server,
    serve,
    start,
    status,
    stop,
)

__all__ = ["ServerError", "ServerInfo", "resolve_data_dir", "running_server", "serve", "start",
           "status", "stop"]
