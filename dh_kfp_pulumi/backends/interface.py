"""`KfpBackend`: what `reconcile` may ask of KFP, as a Protocol.

`Backend` (client.py) is the implementation over kfp.Client; tests may pass any object
with these methods (a fake, or a recording wrapper) and the type checker holds both to it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from dh_kfp_pulumi.backends.config import BackendConfig
from dh_kfp_pulumi.backends.models import (
    Experiment,
    Pipeline,
    PipelineVersion,
    RecurringRun,
    Run,
)


class KfpBackend(Protocol):
    """KFP operations for one reconcile call; every failure raises a BackendError."""

    config: BackendConfig

    @property
    def host(self) -> str: ...

    def ui_url(self, fragment: str) -> str: ...

    def run_url(self, run_id: str) -> str: ...

    def healthz(self) -> dict[str, Any]: ...

    # -- pipelines and versions --

    def get_pipeline(self, pipeline_id: str) -> Pipeline: ...

    def find_pipeline(self, display_name: str) -> Pipeline | None: ...

    def list_pipelines(self, filter: str | None = None) -> list[Pipeline]: ...

    def create_pipeline(self, display_name: str, description: str = "") -> Pipeline: ...

    def delete_pipeline(self, pipeline_id: str) -> bool: ...

    def list_versions(
        self, pipeline_id: str, filter: str | None = None
    ) -> list[PipelineVersion]: ...

    def get_version(self, pipeline_id: str, version_id: str) -> PipelineVersion: ...

    def find_version(self, pipeline_id: str, name: str) -> PipelineVersion | None: ...

    def upload_version(
        self, pipeline_id: str, name: str, spec_yaml: str, description: str = ""
    ) -> PipelineVersion: ...

    def delete_version(self, pipeline_id: str, version_id: str) -> bool: ...

    # -- experiments and runs --

    def find_experiment(self, name: str) -> Experiment | None: ...

    def ensure_experiment(self, name: str, description: str = "") -> Experiment: ...

    def create_run(
        self,
        *,
        experiment_id: str,
        name: str,
        pipeline_id: str,
        version_id: str,
        parameters: Mapping[str, Any] | None = None,
        description: str = "",
    ) -> Run: ...

    def get_run(self, run_id: str) -> Run: ...

    def list_runs(
        self, *, experiment_id: str | None = None, filter: str | None = None, sort_by: str = ""
    ) -> list[Run]: ...

    def find_runs(self, name: str, experiment_id: str | None = None) -> list[Run]: ...

    def active_runs_of(self, recurring_run_id: str) -> list[Run]: ...

    def delete_run(self, run_id: str) -> bool: ...

    def terminate_run(self, run_id: str) -> None: ...

    def wait_run(
        self,
        run_id: str,
        *,
        timeout: float | None = None,
        poll: float = 0.25,
        max_poll: float = 2.0,
        progress: Callable[[Run], None] | None = None,
    ) -> Run: ...

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
    ) -> RecurringRun: ...

    def get_recurring_run(self, recurring_run_id: str) -> RecurringRun: ...

    def list_recurring_runs(
        self, *, experiment_id: str | None = None, filter: str | None = None
    ) -> list[RecurringRun]: ...

    def find_recurring_runs(
        self, name: str, experiment_id: str | None = None
    ) -> list[RecurringRun]: ...

    def enable_recurring_run(self, recurring_run_id: str) -> None: ...

    def disable_recurring_run(self, recurring_run_id: str) -> None: ...

    def delete_recurring_run(self, recurring_run_id: str) -> bool: ...
