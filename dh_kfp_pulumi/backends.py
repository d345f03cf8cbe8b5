"""The one module that talks to KFP: a small interface over `kfp.Client`.

Everything returned is a plain frozen dataclass (ids, names, states, ISO timestamps,
cron, parameters, version reference), so `reconcile` and the adapters never see a
`kfp_server_api` model, and everything raised is a `BackendError` carrying KFP's own
user-facing words, the HTTP status and whether the object was not found.

Rules this module keeps (see DESIGN.md and kfp-api/API-NOTES.md):

- No client on the module and none shared between threads: a `Backend` is cheap, made
  per operation from a `BackendConfig` (plain data, picklable), and creates its
  `kfp.Client` on first use. Pickling a Backend drops the client.
- The token lives only in `BackendConfig.token` (hidden from its repr) and in the
  client's headers; messages are built from KFP's response bodies, never from request
  objects, and scrubbed of the token anyway.
- Pipelines are created with the JSON `POST /pipelines` (no first version named like
  the pipeline, as `upload_pipeline` would make), versions are uploaded by name.
- Lists read every page; int64 fields (`max_concurrency`) come back as ints; the unset
  timestamp (1970-01-01) becomes "".
- `wait_run` stops on every terminal state, CANCELED included (kfp's
  `wait_for_run_completion` does not).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from dh_kfp_pulumi.errors import BackendError, FieldProblem, SpecError

__all__ = [
    "ACTIVE_STATES",
    "TERMINAL_STATES",
    "ApiError",
    "Backend",
    "BackendConfig",
    "BackendError",
    "Experiment",
    "Pipeline",
    "PipelineVersion",
    "RecurringRun",
    "Run",
    "RunFailed",
    "config_from_mapping",
]

NAMESPACE = "dh-kfp"
TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "SKIPPED", "CANCELED"})
# States a run can still move out of; a recurring run with one of these is "busy".
ACTIVE_STATES = frozenset(
    {"PENDING", "RUNNING", "CANCELING", "PAUSED", "RUNTIME_STATE_UNSPECIFIED"}
)
_PAGE_SIZE = 200  # KFP's maximum
_EQUALS = 1  # kfp.client.client._FILTER_OPERATIONS["EQUALS"], as kfp.Client sends it

warnings.filterwarnings(
    "ignore", message="This client only works with Kubeflow Pipeline", category=FutureWarning
)


# ---- configuration ----------------------------------------------------------------------


@dataclass(frozen=True)
class BackendConfig:
    """The `dh-kfp` stack config: where KFP is and what every build and run uses.

    `host` None means the embedded server, started on demand under `data_dir` (None: the
    server's default data dir). `image`, `profiles` and `image_pull_secrets` are build
    settings (they change the compiled IR); the rest are connection settings.
    """

    host: str | None = None
    namespace: str = ""
    experiment: str | None = None
    token: str | None = field(default=None, repr=False, compare=False)
    verify_ssl: bool = True
    pipeline_root: str | None = None
    data_dir: str | None = None
    image: str | None = None
    profiles: Mapping[str, Any] = field(default_factory=dict, hash=False)
    image_pull_secrets: tuple[str, ...] = ()
    request_timeout: float = 60.0
    # What a destroy (or a task removed from the program) does with the runs its
    # recurring runs still have going: wait for them (at most this long), or cancel them.
    destroy_wait_timeout: float = 3600.0
    on_destroy_active_runs: str = "wait"

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={'***' if name == 'token' and value else repr(value)}"
            for name, value in self.__dict__.items()
        )
        return f"BackendConfig({shown})"

    def experiment_for(self, project: str) -> str:
        """The experiment runs and schedules go to: config `experiment`, else the project name."""
        return self.experiment or project


_STR_KEYS = ("host", "namespace", "experiment", "token", "pipeline_root", "data_dir", "image")
_KEYS = (
    *_STR_KEYS,
    "verify_ssl",
    "profiles",
    "image_pull_secrets",
    "request_timeout",
    "destroy_wait_timeout",
    "on_destroy_active_runs",
)
ON_DESTROY_ACTIVE_RUNS = ("wait", "cancel")


def config_from_mapping(mapping: Mapping[str, Any] | None) -> BackendConfig:
    """A BackendConfig from stack config.

    Accepts Pulumi's whole namespaced config (`{"dh-kfp:host": ..., "aws:region": ...}`,
    values possibly JSON strings, as `configure` gets them) or plain keys (`{"host": ...}`,
    as Terraform's provider block gives them). Keys of other namespaces are ignored;
    an unknown `dh-kfp` key is an error (a typo would otherwise silently do nothing).
    """
    values: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    for raw_key, value in (mapping or {}).items():
        namespace, sep, key = str(raw_key).rpartition(":")
        if sep and namespace != NAMESPACE:
            continue
        shown = f"{NAMESPACE}:{key}"
        if key not in _KEYS:
            problems.append(
                FieldProblem(shown, f"unknown setting; valid: {', '.join(_KEYS)}", raw_key, True)
            )
            continue
        if value is None:
            continue
        try:
            values[key] = _config_value(key, value)
        except ValueError as exc:
            shown_value = "***" if key == "token" else value
            problems.append(FieldProblem(shown, str(exc), shown_value, True))
    if problems:
        raise SpecError("stack config", problems)
    if values.get("host") == "":
        values["host"] = None
    return BackendConfig(**values)


def _config_value(key: str, value: Any) -> Any:
    if key in _STR_KEYS:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if key == "host" and value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL of the KFP API")
        return value
    if key == "verify_ssl":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ValueError("must be true or false")
    if key == "request_timeout":
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            raise ValueError("must be a number of seconds") from None
        if seconds <= 0:
            raise ValueError("must be a positive number of seconds")
        return seconds
    if key == "destroy_wait_timeout":
        try:
            seconds = float(value) if not isinstance(value, bool) else float("nan")
        except (TypeError, ValueError):
            seconds = float("nan")
        if not seconds >= 0 or seconds == float("inf"):
            raise ValueError(
                "must be a number of seconds, 0 or more (how long a destroy waits for the "
                "runs of its recurring runs to end; default 3600)"
            )
        return seconds
    if key == "on_destroy_active_runs":
        text = value.strip().lower() if isinstance(value, str) else value
        if text not in ON_DESTROY_ACTIVE_RUNS:
            raise ValueError(
                "must be 'wait' (the default: a destroy waits for the runs of its recurring "
                "runs to end, up to destroy_wait_timeout) or 'cancel' (it cancels them)"
            )
        return text
    parsed = _maybe_json(value)
    if key == "profiles":
        if not isinstance(parsed, Mapping) or not all(
            isinstance(k, str) and isinstance(v, Mapping) for k, v in parsed.items()
        ):
            raise ValueError("must map profile names to pod settings, e.g. {'gpu': {...}}")
        return dict(parsed)
    # image_pull_secrets
    if isinstance(parsed, str):
        parsed = [parsed]
    if not isinstance(parsed, list) or not all(isinstance(s, str) for s in parsed):
        raise ValueError("must be a list of Kubernetes secret names")
    return tuple(parsed)


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            raise ValueError("is not valid JSON") from None
    return value


# ---- what the backend returns -----------------------------------------------------------


@dataclass(frozen=True)
class Pipeline:
    id: str
    name: str
    display_name: str
    description: str
    created_at: str


@dataclass(frozen=True)
class PipelineVersion:
    id: str
    pipeline_id: str
    name: str
    display_name: str
    description: str
    created_at: str
    spec: dict[str, Any] | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Experiment:
    id: str
    name: str


@dataclass(frozen=True)
class Run:
    id: str
    name: str
    description: str
    experiment_id: str
    state: str
    created_at: str
    finished_at: str
    pipeline_id: str
    version_id: str
    parameters: dict[str, Any]
    recurring_run_id: str
    error: str
    failed_steps: tuple[tuple[str, str], ...] = ()  # (step, message) of each failed step
    steps: tuple[tuple[str, str], ...] = ()  # (step, state) of each step KFP reports so far

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    def failure_message(self) -> str:
        """What went wrong, naming the failed step(s); '' when nothing is known."""
        if self.failed_steps:
            return "; ".join(
                f"step {step!r}: {msg}" if msg else f"step {step!r} failed"
                for step, msg in self.failed_steps
            )
        return self.error


@dataclass(frozen=True)
class RecurringRun:
    id: str
    name: str
    description: str
    experiment_id: str
    pipeline_id: str
    version_id: str
    parameters: dict[str, Any]
    cron: str  # "" for a periodic schedule
    interval_second: int  # 0 for a cron schedule
    start_time: str
    end_time: str
    max_concurrency: int
    no_catchup: bool
    mode: str  # ENABLE | DISABLE
    status: str
    created_at: str
    updated_at: str = ""  # KFP stamps it when the mode changes (and on other updates)

    @property
    def enabled(self) -> bool:
        return self.mode == "ENABLE"


class ApiError(BackendError):
    """A KFP call failed: KFP's message, the HTTP status (0: no answer), and not_found."""

    def __init__(self, message: str, *, status: int = 0, operation: str = ""):
        super().__init__(message)
        self.status = status
        self.operation = operation

    @property
    def not_found(self) -> bool:
        return self.status == 404


class RunFailed(BackendError):
    """A run that was waited on ended FAILED (or CANCELED); the message names the step."""

    def __init__(self, message: str, run: Run):
        super().__init__(message)
        self.run = run


# ---- the backend ------------------------------------------------------------------------


class Backend:
    """KFP operations for one reconcile call. Make one per operation; it is not shared."""

    def __init__(self, config: BackendConfig):
        self.config = config
        self._client: Any = None
        self._host: str | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config, "_client": None, "_host": None}

    def __repr__(self) -> str:
        return f"Backend(host={self.config.host or '<embedded>'!r})"

    # -- connection --

    @property
    def host(self) -> str:
        """The KFP API base URL; starts the embedded server when `host` is not configured."""
        if self._host is None:
            if self.config.host:
                self._host = self.config.host.rstrip("/")
            else:
                self._host = _embedded_server_url(self.config.data_dir)
        return self._host

    def _api(self) -> Any:
        if self._client is None:
            self._client = _make_client(self.host, self.config, self._translate)
        return self._client

    def _call(self, operation: str, fn: Callable[[Any], Any]) -> Any:
        client = self._api()
        try:
            return fn(client)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a BackendError
            raise self._translate(exc, operation) from None

    def _translate(self, exc: BaseException, operation: str) -> BackendError:
        if isinstance(exc, BackendError):
            return exc
        import kfp_server_api

        if isinstance(exc, kfp_server_api.ApiException):
            status = int(exc.status or 0)
            message = _kfp_message(exc.body) or (exc.reason or "no details")
            text = f"KFP {operation} failed (HTTP {status}): {message}"
        else:
            status = 0
            reason = getattr(exc, "reason", None) or exc
            text = f"KFP {operation} failed: cannot reach {self.host}: {reason}"
        return ApiError(self._scrub(text), status=status, operation=operation)

    def _scrub(self, text: str) -> str:
        token = self.config.token
        return text.replace(token, "***") if token else text

    def _kw(self) -> dict[str, Any]:
        return {"_request_timeout": self.config.request_timeout}

    def _ns(self) -> dict[str, Any]:
        return {"namespace": self.config.namespace} if self.config.namespace else {}

    def ui_url(self, fragment: str) -> str:
        """A link into KFP's UI (`<host>/#/runs/details/<id>`), as kfp.Client prints it."""
        return f"{self.host}/#/{fragment.lstrip('/')}"

    def run_url(self, run_id: str) -> str:
        return self.ui_url(f"runs/details/{run_id}")

    def healthz(self) -> dict[str, Any]:
        out = self._call(
            "health check", lambda c: c._healthz_api.healthz_service_get_healthz(**self._kw())
        )
        return {"multi_user": bool(out.multi_user), "pipeline_store": out.pipeline_store or ""}

    # -- pipelines --

    def get_pipeline(self, pipeline_id: str) -> Pipeline:
        out = self._call(
            f"get pipeline {pipeline_id}",
            lambda c: c._pipelines_api.pipeline_service_get_pipeline(pipeline_id, **self._kw()),
        )
        return _pipeline(out)

    def find_pipeline(self, display_name: str) -> Pipeline | None:
        """The pipeline with exactly this display name, or None."""
        found = [
            p
            for p in self.list_pipelines(filter=_name_filter(display_name))
            if p.display_name == display_name
        ]
        return found[0] if found else None

    def list_pipelines(self, filter: str | None = None) -> list[Pipeline]:
        def page(c: Any, token: str) -> Any:
            return c._pipelines_api.pipeline_service_list_pipelines(
                page_token=token, page_size=_PAGE_SIZE, filter=filter, **self._ns(), **self._kw()
            )

        return [_pipeline(p) for p in self._pages("list pipelines", page, "pipelines")]

    def create_pipeline(self, display_name: str, description: str = "") -> Pipeline:
        """A pipeline without versions (JSON create; `upload` would add a first version)."""
        import kfp_server_api

        body = kfp_server_api.V2beta1Pipeline(
            name=display_name,
            display_name=display_name,
            description=description or None,
            namespace=self.config.namespace or None,
        )
        out = self._call(
            f"create pipeline {display_name!r}",
            lambda c: c._pipelines_api.pipeline_service_create_pipeline(body, **self._kw()),
        )
        return _pipeline(out)

    def delete_pipeline(self, pipeline_id: str) -> bool:
        """Delete a pipeline and all its versions first (KFP refuses otherwise).

        Returns False when it was already gone (NotFound counts as deleted).
        """
        try:
            versions = self.list_versions(pipeline_id)
        except ApiError as exc:
            if exc.not_found:
                return False
            raise
        for version in versions:
            self.delete_version(pipeline_id, version.id)
        return self._delete(
            f"delete pipeline {pipeline_id}",
            lambda c: c._pipelines_api.pipeline_service_delete_pipeline(pipeline_id, **self._kw()),
        )

    # -- versions --

    def list_versions(self, pipeline_id: str, filter: str | None = None) -> list[PipelineVersion]:
        def page(c: Any, token: str) -> Any:
            return c._pipelines_api.pipeline_service_list_pipeline_versions(
                pipeline_id, page_token=token, page_size=_PAGE_SIZE, filter=filter, **self._kw()
            )

        return [
            _version(v)
            for v in self._pages(
                f"list versions of pipeline {pipeline_id}", page, "pipeline_versions"
            )
        ]

    def get_version(self, pipeline_id: str, version_id: str) -> PipelineVersion:
        out = self._call(
            f"get pipeline version {version_id}",
            lambda c: c._pipelines_api.pipeline_service_get_pipeline_version(
                pipeline_id, version_id, **self._kw()
            ),
        )
        return _version(out, with_spec=True)

    def find_version(self, pipeline_id: str, name: str) -> PipelineVersion | None:
        found = [
            v
            for v in self.list_versions(pipeline_id, filter=_name_filter(name))
            if name in (v.name, v.display_name)
        ]
        return found[0] if found else None

    def upload_version(
        self, pipeline_id: str, name: str, spec_yaml: str, description: str = ""
    ) -> PipelineVersion:
        """Upload compiled IR YAML as a new version named `name` of the pipeline."""
        with tempfile.TemporaryDirectory(prefix="dh-kfp-") as tmp:
            path = os.path.join(tmp, f"{_safe_file_name(name)}.yaml")
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(spec_yaml)
            out = self._call(
                f"upload version {name!r} of pipeline {pipeline_id}",
                lambda c: c._upload_api.upload_pipeline_version(
                    uploadfile=path,
                    name=name,
                    display_name=name,
                    pipelineid=pipeline_id,
                    description=description or None,
                    **self._kw(),
                ),
            )
        return _version(out)

    def delete_version(self, pipeline_id: str, version_id: str) -> bool:
        return self._delete(
            f"delete pipeline version {version_id}",
            lambda c: c._pipelines_api.pipeline_service_delete_pipeline_version(
                pipeline_id, version_id, **self._kw()
            ),
        )

    # -- experiments --

    def find_experiment(self, name: str) -> Experiment | None:
        def page(c: Any, token: str) -> Any:
            return c._experiment_api.experiment_service_list_experiments(
                page_token=token,
                page_size=_PAGE_SIZE,
                filter=_name_filter(name),
                **self._ns(),
                **self._kw(),
            )

        for e in self._pages(f"find experiment {name!r}", page, "experiments"):
            if e.display_name == name:
                return Experiment(e.experiment_id, e.display_name)
        return None

    def ensure_experiment(self, name: str, description: str = "") -> Experiment:
        """The experiment with this name, created when missing (no write when it exists)."""
        found = self.find_experiment(name)
        if found:
            return found
        import kfp_server_api

        body = kfp_server_api.V2beta1Experiment(
            display_name=name,
            description=description or None,
            namespace=self.config.namespace or None,
        )
        try:
            out = self._call(
                f"create experiment {name!r}",
                lambda c: c._experiment_api.experiment_service_create_experiment(
                    body, **self._kw()
                ),
            )
        except ApiError as exc:
            if exc.status == 409:  # made by someone else meanwhile
                found = self.find_experiment(name)
                if found:
                    return found
            raise
        return Experiment(out.experiment_id, out.display_name)

    # -- runs --

    def create_run(
        self,
        *,
        experiment_id: str,
        name: str,
        pipeline_id: str,
        version_id: str,
        parameters: Mapping[str, Any] | None = None,
        description: str = "",
    ) -> Run:
        import kfp_server_api

        body = kfp_server_api.V2beta1Run(
            **self._run_fields(experiment_id, name, description, pipeline_id, version_id, parameters)
        )
        out = self._call(
            f"create run {name!r}",
            lambda c: c._run_api.run_service_create_run(body, **self._kw()),
        )
        return _run(out)

    def get_run(self, run_id: str) -> Run:
        out = self._call(
            f"get run {run_id}", lambda c: c._run_api.run_service_get_run(run_id, **self._kw())
        )
        return _run(out)

    def list_runs(
        self,
        *,
        experiment_id: str | None = None,
        filter: str | None = None,
        sort_by: str = "",
    ) -> list[Run]:
        scope = {"experiment_id": experiment_id} if experiment_id else self._ns()

        def page(c: Any, token: str) -> Any:
            return c._run_api.run_service_list_runs(
                page_token=token,
                page_size=_PAGE_SIZE,
                sort_by=sort_by,
                filter=filter,
                **scope,
                **self._kw(),
            )

        return [_run(r) for r in self._pages("list runs", page, "runs")]

    def find_runs(self, name: str, experiment_id: str | None = None) -> list[Run]:
        """Runs with exactly this display name, newest first."""
        runs = self.list_runs(
            experiment_id=experiment_id, filter=_name_filter(name), sort_by="created_at desc"
        )
        return [r for r in runs if r.name == name]

    def active_runs_of(self, recurring_run_id: str) -> list[Run]:
        """The not-yet-finished runs a recurring run started."""
        runs = self.list_runs(filter=_filter("recurring_run_id", recurring_run_id))
        return [r for r in runs if r.recurring_run_id == recurring_run_id and not r.terminal]

    def delete_run(self, run_id: str) -> bool:
        return self._delete(
            f"delete run {run_id}",
            lambda c: c._run_api.run_service_delete_run(run_id, **self._kw()),
        )

    def terminate_run(self, run_id: str) -> None:
        self._call(
            f"terminate run {run_id}",
            lambda c: c._run_api.run_service_terminate_run(run_id, **self._kw()),
        )

    def wait_run(
        self,
        run_id: str,
        *,
        timeout: float | None = None,
        poll: float = 0.25,
        max_poll: float = 2.0,
        progress: Callable[[Run], None] | None = None,
    ) -> Run:
        """Poll until the run reaches a terminal state (CANCELED included); `progress` is
        called with each run read.

        Raises BackendError on timeout (the run goes on in KFP).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            run = self.get_run(run_id)
            if progress is not None:
                progress(run)
            if run.terminal:
                return run
            if deadline is not None and time.monotonic() >= deadline:
                raise BackendError(
                    f"run {run.name!r} ({run_id}) is still {run.state} after {timeout:g}s; "
                    f"it goes on in KFP: {self.run_url(run_id)}"
                )
            pause = poll if deadline is None else min(poll, max(deadline - time.monotonic(), 0))
            time.sleep(pause)
            poll = min(poll * 1.5, max_poll)

    # -- recurring runs --

    def create_recurring_run(
        self,
        *,
        experiment_id: str,
        name: str,
        pipeline_id: str,
        version_id: str,
        cron: str,
        parameters: Mapping[str, Any] | None = None,
        enabled: bool = True,
        max_concurrency: int = 1,
        no_catchup: bool = False,
        start_time: str | None = None,
        end_time: str | None = None,
        description: str = "",
    ) -> RecurringRun:
        """A cron recurring run of a version. `cron` is KFP's (seconds-first) form."""
        import kfp_server_api

        body = kfp_server_api.V2beta1RecurringRun(
            **self._run_fields(experiment_id, name, description, pipeline_id, version_id, parameters),
            max_concurrency=max_concurrency,
            trigger=kfp_server_api.V2beta1Trigger(
                cron_schedule=kfp_server_api.V2beta1CronSchedule(
                    cron=cron, start_time=start_time, end_time=end_time
                )
            ),
            mode="ENABLE" if enabled else "DISABLE",
            no_catchup=no_catchup or None,
        )
        out = self._call(
            f"create recurring run {name!r}",
            lambda c: c._recurring_run_api.recurring_run_service_create_recurring_run(
                body, **self._kw()
            ),
        )
        return _recurring_run(out)

    def get_recurring_run(self, recurring_run_id: str) -> RecurringRun:
        out = self._call(
            f"get recurring run {recurring_run_id}",
            lambda c: c._recurring_run_api.recurring_run_service_get_recurring_run(
                recurring_run_id, **self._kw()
            ),
        )
        return _recurring_run(out)

    def list_recurring_runs(
        self, *, experiment_id: str | None = None, filter: str | None = None
    ) -> list[RecurringRun]:
        scope = {"experiment_id": experiment_id} if experiment_id else self._ns()

        def page(c: Any, token: str) -> Any:
            return c._recurring_run_api.recurring_run_service_list_recurring_runs(
                page_token=token, page_size=_PAGE_SIZE, filter=filter, **scope, **self._kw()
            )

        return [
            _recurring_run(r) for r in self._pages("list recurring runs", page, "recurring_runs")
        ]

    def find_recurring_runs(
        self, name: str, experiment_id: str | None = None
    ) -> list[RecurringRun]:
        found = self.list_recurring_runs(experiment_id=experiment_id, filter=_name_filter(name))
        return [r for r in found if r.name == name]

    def enable_recurring_run(self, recurring_run_id: str) -> None:
        self._call(
            f"enable recurring run {recurring_run_id}",
            lambda c: c._recurring_run_api.recurring_run_service_enable_recurring_run(
                recurring_run_id, **self._kw()
            ),
        )

    def disable_recurring_run(self, recurring_run_id: str) -> None:
        self._call(
            f"disable recurring run {recurring_run_id}",
            lambda c: c._recurring_run_api.recurring_run_service_disable_recurring_run(
                recurring_run_id, **self._kw()
            ),
        )

    def delete_recurring_run(self, recurring_run_id: str) -> bool:
        return self._delete(
            f"delete recurring run {recurring_run_id}",
            lambda c: c._recurring_run_api.recurring_run_service_delete_recurring_run(
                recurring_run_id, **self._kw()
            ),
        )

    # -- helpers --

    def _run_fields(
        self,
        experiment_id: str,
        name: str,
        description: str,
        pipeline_id: str,
        version_id: str,
        parameters: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        """What a run and a recurring run are made of alike: where, what, with which inputs."""
        import kfp_server_api

        return {
            "experiment_id": experiment_id,
            "display_name": name,
            "description": description or None,
            "pipeline_version_reference": kfp_server_api.V2beta1PipelineVersionReference(
                pipeline_id=pipeline_id, pipeline_version_id=version_id
            ),
            "runtime_config": kfp_server_api.V2beta1RuntimeConfig(
                parameters=dict(parameters or {}), pipeline_root=self.config.pipeline_root or None
            ),
        }

    def _delete(self, operation: str, fn: Callable[[Any], Any]) -> bool:
        """True when deleted now, False when it was already gone."""
        try:
            self._call(operation, fn)
        except ApiError as exc:
            if exc.not_found:
                return False
            raise
        return True

    def _pages(
        self, operation: str, fetch: Callable[[Any, str], Any], attribute: str
    ) -> Iterator[Any]:
        token = ""
        seen: set[str] = set()
        while True:
            page = self._call(operation, lambda c, t=token: fetch(c, t))
            yield from getattr(page, attribute, None) or []
            token = page.next_page_token or ""
            if not token or token in seen:
                return
            seen.add(token)


def _make_client(host: str, config: BackendConfig, translate: Callable[..., BackendError]) -> Any:
    """A kfp.Client for `host` whose constructor health check fails fast and clearly.

    kfp.Client's own check retries 5 times with 5-second sleeps before raising a bare
    TimeoutError; ours makes one try and raises BackendError with KFP's message.
    """
    import kfp

    class FastClient(kfp.Client):
        def get_kfp_healthz(self, sleep_duration: int = 0) -> Any:  # noqa: ARG002
            try:
                return self._healthz_api.healthz_service_get_healthz(
                    _request_timeout=config.request_timeout
                )
            except Exception as exc:  # noqa: BLE001
                raise translate(exc, "health check") from None

    try:
        return FastClient(
            host=host,
            namespace=config.namespace or "kubeflow",  # "kubeflow" is kfp.Client's "not given"
            existing_token=config.token or None,
            verify_ssl=config.verify_ssl,
        )
    except BackendError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise translate(exc, "connect") from None


def _embedded_server_url(data_dir: str | None) -> str:
    """Start (or find) the embedded server and return its URL."""
    from dh_kfp_pulumi.server import lifecycle

    running = lifecycle.status(data_dir or None)
    if running is not None:
        return str(running.url).rstrip("/")
    directory = lifecycle.resolve_data_dir(data_dir or None)
    # Said before it happens (it takes a few seconds); the Pulumi adapter sends this
    # logger's records to pulumi.log, so `pulumi up` and `dh-kfp up` show it.
    progress = logging.getLogger("dh_kfp_pulumi.reconcile.progress")
    progress.info("no dh-kfp:host: starting the embedded KFP server on demand (data dir "
                  "%s; a few seconds)", directory)
    try:
        info = lifecycle.start(data_dir or None)
    except BackendError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise BackendError(
            "no KFP host is configured (dh-kfp:host), and the embedded server could not be "
            f"started: {exc}. Start it with `dh-kfp server start` or set dh-kfp:host."
        ) from None
    progress.info("the embedded KFP server is up: %s (pid %s; `dh-kfp server stop` stops it)",
                  info.url, info.pid)
    if info.note:
        progress.warning("embedded KFP server: %s", info.note)
    return str(info.url).rstrip("/")


# ---- conversions ------------------------------------------------------------------------


def _name_filter(name: str) -> str:
    return _filter("display_name", name)


def _filter(key: str, value: str) -> str:
    return json.dumps({"predicates": [{"operation": _EQUALS, "key": key, "stringValue": value}]})


def _safe_file_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) or "pipeline"


def _kfp_message(body: Any) -> str:
    """KFP's user-facing message from an error body (details[0].message, error_message...)."""
    if body is None:
        return ""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    text = str(body).strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:500]
    if not isinstance(data, dict):
        return text[:500]
    for detail in data.get("details") or []:
        if isinstance(detail, dict) and detail.get("message"):
            return str(detail["message"])
    for key in ("error_message", "message", "error"):
        if data.get(key):
            return str(data[key])
    return text[:500]


def iso(value: Any) -> str:
    """An RFC 3339 UTC string ('2026-01-02T03:04:05Z'); '' for unset (None or 1970-01-01)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        text = value
    elif isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        text = value.strftime("%Y-%m-%dT%H:%M:%S")
        if value.microsecond:
            text += f".{value.microsecond:06d}".rstrip("0")
        text += "Z"
    else:
        text = str(value)
    return "" if text.startswith("1970-01-01T00:00:00") else text


def _pipeline(p: Any) -> Pipeline:
    return Pipeline(
        id=p.pipeline_id or "",
        name=p.name or p.display_name or "",
        display_name=p.display_name or p.name or "",
        description=p.description or "",
        created_at=iso(p.created_at),
    )


def _version(v: Any, with_spec: bool = False) -> PipelineVersion:
    return PipelineVersion(
        id=v.pipeline_version_id or "",
        pipeline_id=v.pipeline_id or "",
        name=v.name or v.display_name or "",
        display_name=v.display_name or v.name or "",
        description=v.description or "",
        created_at=iso(v.created_at),
        spec=v.pipeline_spec if with_spec else None,
    )


def _reference(obj: Any) -> tuple[str, str]:
    ref = obj.pipeline_version_reference
    if ref is not None:
        return ref.pipeline_id or "", ref.pipeline_version_id or ""
    return "", obj.pipeline_version_id or ""


def _parameters(obj: Any) -> dict[str, Any]:
    config = obj.runtime_config
    return dict(config.parameters or {}) if config is not None else {}


def _run(r: Any) -> Run:
    pipeline_id, version_id = _reference(r)
    failed: list[tuple[str, str]] = []
    details = r.run_details
    tasks = (details.task_details if details is not None else None) or []
    parents = {t.parent_task_id for t in tasks if t.parent_task_id}
    steps: list[tuple[str, str]] = []
    for task in tasks:
        if task.child_tasks or task.task_id in parents:
            continue  # a DAG (root or sub-DAG): its steps tell
        steps.append((task.display_name or task.task_id or "?", task.state or ""))
        if task.state != "FAILED":
            continue
        message = task.error.message if task.error is not None else ""
        failed.append((task.display_name or task.task_id or "?", message or ""))
    error = r.error.message if r.error is not None and r.error.message else ""
    return Run(
        id=r.run_id or "",
        name=r.display_name or "",
        description=r.description or "",
        experiment_id=r.experiment_id or "",
        state=r.state or "RUNTIME_STATE_UNSPECIFIED",
        created_at=iso(r.created_at),
        finished_at=iso(r.finished_at),
        pipeline_id=pipeline_id,
        version_id=version_id,
        parameters=_parameters(r),
        recurring_run_id=r.recurring_run_id or "",
        error=error,
        failed_steps=tuple(failed),
        steps=tuple(steps),
    )


def _recurring_run(r: Any) -> RecurringRun:
    pipeline_id, version_id = _reference(r)
    trigger = r.trigger
    cron_schedule = trigger.cron_schedule if trigger is not None else None
    periodic = trigger.periodic_schedule if trigger is not None else None
    window = cron_schedule or periodic
    return RecurringRun(
        id=r.recurring_run_id or "",
        name=r.display_name or "",
        description=r.description or "",
        experiment_id=r.experiment_id or "",
        pipeline_id=pipeline_id,
        version_id=version_id,
        parameters=_parameters(r),
        cron=(cron_schedule.cron or "") if cron_schedule is not None else "",
        interval_second=int(periodic.interval_second or 0) if periodic is not None else 0,
        start_time=iso(window.start_time) if window is not None else "",
        end_time=iso(window.end_time) if window is not None else "",
        max_concurrency=int(r.max_concurrency or 1),
        no_catchup=bool(r.no_catchup),
        mode=r.mode or ("ENABLE" if r.status == "ENABLED" else "DISABLE"),
        status=r.status or "",
        created_at=iso(r.created_at),
        updated_at=iso(r.updated_at),
    )
