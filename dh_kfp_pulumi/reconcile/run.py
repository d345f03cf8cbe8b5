"""Run -> one KFP run of a pipeline version with `inputs` as its pipeline parameters.

Props (inputs): `project`, `name` (the run is displayed as `<project>-<name>`),
`pipeline_id` and `version_id` (a Task's or Workflow's outputs), `inputs` (pipeline
parameters), `wait` (default false: block until a terminal state and fail on FAILED or
CANCELED), `wait_timeout` (seconds, default 3600), `delete_on_destroy` (default false:
runs stay in KFP's history) and `adopt` (an existing run's id).

Outputs: the inputs plus `run_id` (also the resource id), `run_name`, `state`,
`created_at`, `finished_at` (ISO; "" while running), `url` (the run's page in the UI),
`experiment_id` and `error` (the failed step's message, "" otherwise).

Runs are immutable: a change of project, name, version or inputs replaces the run.
Each run's description carries a marker with a key of its version and inputs, so a
create retried after a crash adopts the run it already started instead of running
twice (a FAILED or CANCELED one is not adopted: a retry runs again).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from dh_kfp_pulumi.backends import ApiError, BackendConfig, KfpBackend, RunFailed
from dh_kfp_pulumi.errors import FieldProblem
from dh_kfp_pulumi.reconcile.common import (
    Fields,
    Plan,
    adopted,
    check_type,
    digest,
    foreign_mark,
    get_or_none,
    identity_from_marker,
    is_unknown,
    log,
    marker,
    only_inputs,
    owner_problems,
    owner_text,
    plain_numbers,
    run_inputs_problems,
)

KIND = "run"
progress_log = logging.getLogger("dh_kfp_pulumi.reconcile.progress")
DEFAULT_WAIT_TIMEOUT = 3600.0
INPUTS: tuple[str, ...] = (
    "project",
    "name",
    "pipeline_id",
    "version_id",
    "inputs",
    "wait",
    "wait_timeout",
    "delete_on_destroy",
    "adopt",
    "owner",
)
OUTPUTS = (
    "run_id",
    "run_name",
    "state",
    "created_at",
    "finished_at",
    "url",
    "experiment_id",
    "error",
)
REPLACES = ("project", "name", "pipeline_id", "version_id", "inputs", "adopt")
DEFAULTS: dict[str, Any] = {
    "inputs": {},
    "wait": False,
    "wait_timeout": DEFAULT_WAIT_TIMEOUT,
    "delete_on_destroy": False,
}
FIELDS = Fields(INPUTS, OUTPUTS, DEFAULTS, REPLACES, replace_only_if_set=("project", "name"))
NOT_ADOPTED = frozenset({"FAILED", "CANCELED", "CANCELING"})


def plan(olds: Mapping[str, Any], news: Mapping[str, Any]) -> Plan:
    """Inputs, version or name changed: replace (a new run; the old one stays in history).

    wait, wait_timeout and delete_on_destroy change in place. An imported run whose
    project/name KFP could not tell (not made by this project) takes them from config
    without being replaced.
    """
    return FIELDS.plan(olds, news)


def planned_outputs(olds: Mapping[str, Any] | None, news: Mapping[str, Any]) -> dict[str, Any]:
    """The outputs an apply of `news` will give, as far as they are known before it runs.

    See `workflow.planned_outputs`. A create knows only the run's display name; an
    update (wait, wait_timeout, delete_on_destroy) keeps the run, and a `wait` turned on
    for a run not yet SUCCEEDED may change its state.
    """
    from dh_kfp_pulumi.reconcile.common import UNKNOWN

    if not olds:
        out: dict[str, Any] = dict.fromkeys(OUTPUTS, UNKNOWN)
        if news.get("adopt") is None and not is_unknown([news.get("project"), news.get("name")]):
            out["run_name"] = _display_name(news)
        return out
    out = {k: olds.get(k) for k in OUTPUTS}
    wait = news.get("wait")
    if (wait is UNKNOWN or wait) and olds.get("state") not in ("SUCCEEDED", "SKIPPED"):
        out.update(state=UNKNOWN, finished_at=UNKNOWN, error=UNKNOWN)
    return out


def check(news: Mapping[str, Any], config: BackendConfig) -> tuple[dict[str, Any], list[FieldProblem]]:
    news, problems = FIELDS.start_check(
        news, required=("project", "name", "pipeline_id", "version_id")
    )
    check_type(news, "wait", bool, "true or false", problems)
    check_type(news, "delete_on_destroy", bool, "true or false", problems)
    check_type(news, "adopt", str, "a run id", problems)
    problems += owner_problems(news)
    timeout = news.get("wait_timeout")
    if (
        timeout is not None
        and not is_unknown(timeout)
        and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0)
    ):
        problems.append(
            FieldProblem("wait_timeout", "must be a positive number of seconds", timeout, True)
        )
    problems += run_inputs_problems(news)
    return dict(news), problems


def _display_name(props: Mapping[str, Any]) -> str:
    from dh_kfp_pulumi.naming import pipeline_name

    return pipeline_name(str(props["project"]), str(props["name"]))


def _description(props: Mapping[str, Any]) -> str:
    key = digest(
        {
            "pipeline_id": props.get("pipeline_id"),
            "version_id": props.get("version_id"),
            "inputs": dict(props.get("inputs") or {}),
        }
    )
    mark = marker(KIND, str(props["project"]), str(props["name"]), owner_text(props))
    return f"{mark} key={key}"


def _outputs(props: Mapping[str, Any], run: Any, backend: KfpBackend) -> dict[str, Any]:
    out = dict(props)
    out.update(
        run_id=run.id,
        run_name=run.name,
        state=run.state,
        created_at=run.created_at,
        finished_at=run.finished_at,
        url=backend.run_url(run.id),
        experiment_id=run.experiment_id,
        error=run.failure_message() if run.state in ("FAILED", "CANCELED") else "",
    )
    return out


def _wait(props: Mapping[str, Any], run: Any, backend: KfpBackend) -> Any:
    timeout = props.get("wait_timeout") or DEFAULT_WAIT_TIMEOUT
    progress = WaitProgress(run.name or run.id, run.id, backend.run_url(run.id), float(timeout))
    run = backend.wait_run(run.id, timeout=float(timeout), progress=progress)
    if run.state in ("FAILED", "CANCELED"):
        why = run.failure_message() or "KFP gave no reason"
        raise RunFailed(
            f"run {run.name!r} ({run.id}) {run.state}: {why}. See {backend.run_url(run.id)}", run
        )
    return run


class WaitProgress:
    """What a wait for a run tells the user as it goes, on reconcile's progress logger
    (INFO; the Pulumi adapter sends it to pulumi.log): the run's state and its steps' at
    each change, with the time waited, and a line now and then while nothing changes."""

    def __init__(self, name: str, run_id: str, url: str, timeout: float,
                 clock: Any = time.monotonic, log: logging.Logger | None = None):
        self.name, self.run_id, self.url, self.timeout = name, run_id, url, timeout
        self.clock = clock
        self.log = log or progress_log
        self.started = clock()
        self.last: tuple[str, tuple[tuple[str, str], ...]] | None = None
        self.last_said = self.started
        self.quiet_for = 30.0  # then 60, 120, ... up to 300 s between "still" lines

    def __call__(self, run: Any) -> None:
        now = self.clock()
        elapsed = now - self.started
        seen = (run.state, tuple(run.steps))
        if self.last is None:
            self.log.info("run %s (%s): waiting for it to end (wait_timeout %gs): %s",
                          self.name, self.run_id, self.timeout, self.url)
        if seen != self.last:
            self.log.info("run %s: %s after %s%s", self.name, run.state, _seconds(elapsed),
                          _steps_text(run.steps))
            self.last, self.last_said = seen, now
        elif now - self.last_said >= self.quiet_for:
            self.log.info("run %s: still %s after %s%s", self.name, run.state,
                          _seconds(elapsed), _steps_text(run.steps))
            self.last_said = now
            self.quiet_for = min(self.quiet_for * 2, 300.0)


def _seconds(elapsed: float) -> str:
    whole = int(elapsed)
    return f"{whole // 60}m{whole % 60:02d}s" if whole >= 60 else f"{whole}s"


def _steps_text(steps: Any) -> str:
    if not steps:
        return ""
    return "; steps: " + ", ".join(f"{name} {state}" for name, state in steps)


def create(inputs: Mapping[str, Any], backend: KfpBackend) -> tuple[str, dict[str, Any]]:
    """Start the run (or adopt the one a crashed attempt started); with `wait`, wait for it."""
    if inputs.get("adopt"):
        run = adopted("run", "run", str(inputs["adopt"]), backend.get_run)
    else:
        name = backend.config.experiment_for(str(inputs["project"]))
        experiment = backend.ensure_experiment(name)
        display, description = _display_name(inputs), _description(inputs)
        run = next(
            (
                r
                for r in backend.find_runs(display, experiment.id)
                if r.description == description and r.state not in NOT_ADOPTED
            ),
            None,
        )
        if run is None:
            run = backend.create_run(
                experiment_id=experiment.id,
                name=display,
                description=description,
                pipeline_id=str(inputs["pipeline_id"]),
                version_id=str(inputs["version_id"]),
                parameters=plain_numbers(dict(inputs.get("inputs") or {})),
            )
    if inputs.get("wait"):
        run = _wait(inputs, run, backend)
    return run.id, _outputs(inputs, run, backend)


def update(
    id: str, olds: Mapping[str, Any], news: Mapping[str, Any], backend: KfpBackend
) -> dict[str, Any]:
    """Only wait/wait_timeout/delete_on_destroy change in place; `wait` turned on waits."""
    out = {**olds, **news}
    if news.get("wait") and olds.get("state") not in ("SUCCEEDED", "SKIPPED"):
        run = _wait(news, backend.get_run(id), backend)
        out = _outputs({**olds, **news}, run, backend)
    return out


def read(
    id: str, state: Mapping[str, Any], backend: KfpBackend
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The run's live state; a deleted run is gone (""). Its version and parameters are
    the inputs' live values (a run never changes them, so there is no drift but a delete).
    With no state (an import), project and name come from our marker when we made it."""
    run = get_or_none(backend.get_run, id)
    if run is None:
        return "", {}, {}
    base: dict[str, Any] = dict(state) if state else identity_from_marker(run.description, KIND)
    if run.pipeline_id:
        base["pipeline_id"] = run.pipeline_id
    if run.version_id:
        base["version_id"] = run.version_id
    if dict(state.get("inputs") or {}) != run.parameters:
        base["inputs"] = dict(run.parameters)
    outputs = _outputs(base, run, backend)
    return run.id, outputs, only_inputs(outputs, INPUTS)


def delete(id: str, state: Mapping[str, Any], backend: KfpBackend) -> None:
    """Runs stay in KFP's history unless `delete_on_destroy` (then stopped and deleted)."""
    if not state.get("delete_on_destroy"):
        return
    run = get_or_none(backend.get_run, id)
    if run is None:
        return
    other = foreign_mark(run.description or "", state)
    if other is not None:
        log.warning("run %s left in KFP: it was made for %s, not by this resource", id, other)
        return
    if not run.terminal:
        # it may have finished meanwhile; the delete below is what matters
        with contextlib.suppress(ApiError):
            backend.terminate_run(id)
    backend.delete_run(id)
