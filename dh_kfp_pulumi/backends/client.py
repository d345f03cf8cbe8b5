"""`Backend`: the KFP operations over a `kfp.Client`, made per operation, never shared."""

from __future__ import annotations

import dataclasses
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from dh_kfp_pulumi.backends import connect, convert, paging, waiting
from dh_kfp_pulumi.backends.config import BackendConfig
from dh_kfp_pulumi.backends.models import (
    ApiError,
    Experiment,
    Pipeline,
    PipelineVersion,
    RecurringRun,
    Run,
)
from dh_kfp_pulumi.errors import BackendError

_PAGE_SIZE = 200  # KFP's maximum

warnings.filterwarnings(
    "ignore", message="This client only works with Kubeflow Pipeline", category=FutureWarning
)


class Backend:
    """KFP operations for one reconcile call. Make one per operation; it is not shared."""

    def __init__(self, config: BackendConfig):
        self.config = config
        self._client: connect.KfpApis | None = None
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
                self._host = connect.embedded_server_url(self.config.data_dir)
                token = None if self.config.token else \
                    connect.embedded_server_token(self.config.data_dir)
                if token:  # the local server listens beyond loopback: its own token
                    self.config = dataclasses.replace(self.config, token=token)
        return self._host

    def _api(self) -> connect.KfpApis:
        if self._client is None:
            self._client = connect.make_client(self.host, self.config, self._translate)
        return self._client

    def _call(self, operation: str, fn: Callable[[connect.KfpApis], Any]) -> Any:
        client = self._api()
        try:
            return fn(client)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a BackendError
            raise self._translate(exc, operation) from None

    def _translate(self, exc: BaseException, operation: str) -> BackendError:
        return connect.translate(exc, operation, self.host, self.config.token)

    def _kw(self) -> dict[str, Any]:
        return {"_request_timeout": connect.request_timeout(self.config)}

    def _ns(self) -> dict[str, Any]:
        return {"namespace": self.config.namespace} if self.config.namespace else {}

    def _scope(self, experiment_id: str | None) -> dict[str, Any]:
        """A list's scope: the experiment when given, else the namespace."""
        return {"experiment_id": experiment_id} if experiment_id else self._ns()

    def ui_url(self, fragment: str) -> str:
        """A link into KFP's UI (`<host>/#/runs/details/<id>`), as kfp.Client prints it."""
        from dh_kfp_pulumi import redact

        return f"{redact.url(self.host)}/#/{fragment.lstrip('/')}"

    def run_url(self, run_id: str) -> str:
        return self.ui_url(f"runs/details/{run_id}")

    def healthz(self) -> dict[str, Any]:
        out = self._call(
            "health check", lambda c: c.healthz.healthz_service_get_healthz(**self._kw())
        )
        return {"multi_user": bool(out.multi_user), "pipeline_store": out.pipeline_store or ""}

    # -- pipelines --

    def get_pipeline(self, pipeline_id: str) -> Pipeline:
        out = self._call(
            f"get pipeline {pipeline_id}",
            lambda c: c.pipelines.pipeline_service_get_pipeline(pipeline_id, **self._kw()),
        )
        return convert.pipeline(out)

    def find_pipeline(self, display_name: str) -> Pipeline | None:
        """The pipeline with exactly this display name, or None."""
        found = [
            p
            for p in self.list_pipelines(filter=convert.name_filter(display_name))
            if p.display_name == display_name
        ]
        return found[0] if found else None

    def list_pipelines(self, filter: str | None = None) -> list[Pipeline]:
        def page(c: connect.KfpApis, token: str) -> Any:
            return c.pipelines.pipeline_service_list_pipelines(
                page_token=token, page_size=_PAGE_SIZE, filter=filter, **self._ns(), **self._kw()
            )

        return [convert.pipeline(p) for p in self._pages("list pipelines", page, "pipelines")]

    def create_pipeline(self, display_name: str, description: str = "") -> Pipeline:
        """A pipeline without versions (JSON create; `upload` would add a first version)."""
        body = convert.pipeline_body(display_name, description, self.config.namespace)
        out = self._call(
            f"create pipeline {display_name!r}",
            lambda c: c.pipelines.pipeline_service_create_pipeline(body, **self._kw()),
        )
        return convert.pipeline(out)

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
            lambda c: c.pipelines.pipeline_service_delete_pipeline(pipeline_id, **self._kw()),
        )

    # -- versions --

    def list_versions(self, pipeline_id: str, filter: str | None = None) -> list[PipelineVersion]:
        def page(c: connect.KfpApis, token: str) -> Any:
            return c.pipelines.pipeline_service_list_pipeline_versions(
                pipeline_id, page_token=token, page_size=_PAGE_SIZE, filter=filter, **self._kw()
            )

        return [
            convert.version(v)
            for v in self._pages(
                f"list versions of pipeline {pipeline_id}", page, "pipeline_versions"
            )
        ]

    def get_version(self, pipeline_id: str, version_id: str) -> PipelineVersion:
        out = self._call(
            f"get pipeline version {version_id}",
            lambda c: c.pipelines.pipeline_service_get_pipeline_version(
                pipeline_id, version_id, **self._kw()
            ),
        )
        return convert.version(out, with_spec=True)

    def find_version(self, pipeline_id: str, name: str) -> PipelineVersion | None:
        found = [
            v
            for v in self.list_versions(pipeline_id, filter=convert.name_filter(name))
            if name in (v.name, v.display_name)
        ]
        return found[0] if found else None

    def upload_version(
        self, pipeline_id: str, name: str, spec_yaml: str, description: str = ""
    ) -> PipelineVersion:
        """Upload compiled IR YAML as a new version named `name` of the pipeline."""
        with tempfile.TemporaryDirectory(prefix="dh-kfp-") as tmp:
            path = os.path.join(tmp, f"{convert.safe_file_name(name)}.yaml")
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(spec_yaml)
            out = self._call(
                f"upload version {name!r} of pipeline {pipeline_id}",
                lambda c: c.upload.upload_pipeline_version(
                    uploadfile=path,
                    name=name,
                    display_name=name,
                    pipelineid=pipeline_id,
                    description=description or None,
                    **self._kw(),
                ),
            )
        return convert.version(out)

    def delete_version(self, pipeline_id: str, version_id: str) -> bool:
        return self._delete(
            f"delete pipeline version {version_id}",
            lambda c: c.pipelines.pipeline_service_delete_pipeline_version(
                pipeline_id, version_id, **self._kw()
            ),
        )

    # -- experiments --

    def find_experiment(self, name: str) -> Experiment | None:
        def page(c: connect.KfpApis, token: str) -> Any:
            return c.experiments.experiment_service_list_experiments(
                page_token=token,
                page_size=_PAGE_SIZE,
                filter=convert.name_filter(name),
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
        body = convert.experiment_body(name, description, self.config.namespace)
        try:
            out = self._call(
                f"create experiment {name!r}",
                lambda c: c.experiments.experiment_service_create_experiment(
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
        what = convert.RunFields(
            experiment_id, name, description, pipeline_id, version_id, parameters or {},
            self.config.pipeline_root or "",
        )  # fmt: skip
        body = convert.run_body(what)
        out = self._call(
            f"create run {name!r}",
            lambda c: c.runs.run_service_create_run(body, **self._kw()),
        )
        return convert.run(out)

    def get_run(self, run_id: str) -> Run:
        out = self._call(
            f"get run {run_id}", lambda c: c.runs.run_service_get_run(run_id, **self._kw())
        )
        return convert.run(out)

    def list_runs(
        self,
        *,
        experiment_id: str | None = None,
        filter: str | None = None,
        sort_by: str = "",
    ) -> list[Run]:
        scope = self._scope(experiment_id)

        def page(c: connect.KfpApis, token: str) -> Any:
            return c.runs.run_service_list_runs(
                page_token=token,
                page_size=_PAGE_SIZE,
                sort_by=sort_by,
                filter=filter,
                **scope,
                **self._kw(),
            )

        return [convert.run(r) for r in self._pages("list runs", page, "runs")]

    def find_runs(self, name: str, experiment_id: str | None = None) -> list[Run]:
        """Runs with exactly this display name, newest first."""
        runs = self.list_runs(
            experiment_id=experiment_id, filter=convert.name_filter(name), sort_by="created_at desc"
        )
        return [r for r in runs if r.name == name]

    def active_runs_of(self, recurring_run_id: str) -> list[Run]:
        """The not-yet-finished runs a recurring run started."""
        runs = self.list_runs(filter=convert.equals_filter("recurring_run_id", recurring_run_id))
        return [r for r in runs if r.recurring_run_id == recurring_run_id and not r.terminal]

    def delete_run(self, run_id: str) -> bool:
        return self._delete(
            f"delete run {run_id}",
            lambda c: c.runs.run_service_delete_run(run_id, **self._kw()),
        )

    def terminate_run(self, run_id: str) -> None:
        self._call(
            f"terminate run {run_id}",
            lambda c: c.runs.run_service_terminate_run(run_id, **self._kw()),
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
        called with each run read. Raises BackendError on timeout (the run goes on in KFP)."""
        return waiting.wait_run(self, run_id, timeout=timeout, poll=poll, max_poll=max_poll,
                                progress=progress)

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
        what = convert.RunFields(
            experiment_id, name, description, pipeline_id, version_id, parameters or {},
            self.config.pipeline_root or "",
        )  # fmt: skip
        body = convert.recurring_run_body(
            what,
            cron=cron,
            start_time=start_time,
            end_time=end_time,
            enabled=enabled,
            max_concurrency=max_concurrency,
            no_catchup=no_catchup,
        )
        out = self._call(
            f"create recurring run {name!r}",
            lambda c: c.recurring_runs.recurring_run_service_create_recurring_run(
                body, **self._kw()
            ),
        )
        return convert.recurring_run(out)

    def get_recurring_run(self, recurring_run_id: str) -> RecurringRun:
        out = self._call(
            f"get recurring run {recurring_run_id}",
            lambda c: c.recurring_runs.recurring_run_service_get_recurring_run(
                recurring_run_id, **self._kw()
            ),
        )
        return convert.recurring_run(out)

    def list_recurring_runs(
        self, *, experiment_id: str | None = None, filter: str | None = None
    ) -> list[RecurringRun]:
        scope = self._scope(experiment_id)

        def page(c: connect.KfpApis, token: str) -> Any:
            return c.recurring_runs.recurring_run_service_list_recurring_runs(
                page_token=token, page_size=_PAGE_SIZE, filter=filter, **scope, **self._kw()
            )

        return [
            convert.recurring_run(r) for r in self._pages("list recurring runs", page, "recurring_runs")
        ]

    def find_recurring_runs(
        self, name: str, experiment_id: str | None = None
    ) -> list[RecurringRun]:
        found = self.list_recurring_runs(experiment_id=experiment_id, filter=convert.name_filter(name))
        return [r for r in found if r.name == name]

    def enable_recurring_run(self, recurring_run_id: str) -> None:
        self._call(
            f"enable recurring run {recurring_run_id}",
            lambda c: c.recurring_runs.recurring_run_service_enable_recurring_run(
                recurring_run_id, **self._kw()
            ),
        )

    def disable_recurring_run(self, recurring_run_id: str) -> None:
        self._call(
            f"disable recurring run {recurring_run_id}",
            lambda c: c.recurring_runs.recurring_run_service_disable_recurring_run(
                recurring_run_id, **self._kw()
            ),
        )

    def delete_recurring_run(self, recurring_run_id: str) -> bool:
        return self._delete(
            f"delete recurring run {recurring_run_id}",
            lambda c: c.recurring_runs.recurring_run_service_delete_recurring_run(
                recurring_run_id, **self._kw()
            ),
        )

    # -- helpers --

    def _delete(self, operation: str, fn: Callable[[connect.KfpApis], Any]) -> bool:
        """True when deleted now, False when it was already gone."""
        try:
            self._call(operation, fn)
        except ApiError as exc:
            if exc.not_found:
                return False
            raise
        return True

    def _pages(
        self, operation: str, fetch: Callable[[connect.KfpApis, str], Any], attribute: str
    ) -> Iterator[Any]:
        return paging.pages(self._call, operation, fetch, attribute)
