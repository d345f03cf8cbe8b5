"""What the backend returns and raises: plain frozen dataclasses and `BackendError`s.

`reconcile` and the adapters see only these, never a `kfp_server_api` model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dh_kfp_pulumi.errors import BackendError

TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "SKIPPED", "CANCELED"})
# States a run can still move out of; a recurring run with one of these is "busy".
ACTIVE_STATES = frozenset(
    {"PENDING", "RUNNING", "CANCELING", "PAUSED", "RUNTIME_STATE_UNSPECIFIED"}
)


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
