"""The end of a task's schedules (its delete): the active runs of its disabled recurring
runs are waited for (`destroy_wait_timeout`) or, with `on_destroy_active_runs: cancel`,
canceled, each one named in the log; past the timeout the delete fails naming them."""

from __future__ import annotations

import logging
import time

from dh_kfp_pulumi.backends import ApiError, KfpBackend, Run
from dh_kfp_pulumi.errors import BackendError
from dh_kfp_pulumi.reconcile.common import get_or_none

log = logging.getLogger("dh_kfp_pulumi.reconcile")


def _active_runs(backend: KfpBackend, recurring_run_ids: list[str]) -> list[tuple[str, Run]]:
    return [(rid, run) for rid in recurring_run_ids for run in backend.active_runs_of(rid)]


def _run_names(active: list[tuple[str, Run]]) -> str:
    return "; ".join(
        f"{run.name!r} ({run.id}, {run.state}) of recurring run {rid}" for rid, run in active
    )


def end_active_runs(backend: KfpBackend, recurring_run_ids: list[str], who: str) -> None:
    """Wait for (or cancel) the active runs of these disabled recurring runs."""
    active = _active_runs(backend, recurring_run_ids)
    if not active:
        return
    config = backend.config
    if config.on_destroy_active_runs == "cancel":
        for rid, run in active:
            if _cancel(backend, run):
                log.warning(
                    "%s: canceled run %r (%s, was %s) of recurring run %s before deleting it "
                    "(on_destroy_active_runs: cancel)", who, run.name, run.id, run.state, rid,
                )  # fmt: skip
        return
    timeout = config.destroy_wait_timeout
    log.warning(
        "%s: its recurring runs are disabled; waiting up to %gs (destroy_wait_timeout) for "
        "their active runs to end before deleting them: %s", who, timeout, _run_names(active),
    )  # fmt: skip
    deadline = time.monotonic() + timeout
    pause = 0.5
    while True:
        if time.monotonic() >= deadline:
            raise BackendError(
                f"{who}: destroy_wait_timeout ({timeout:g}s) passed and runs of its recurring "
                f"runs are still going: {_run_names(active)}. Nothing was deleted: the "
                "recurring runs are as they were (enabled again if they were). Delete again "
                "once the runs have ended, give the setting destroy_wait_timeout more seconds "
                "(stack config dh-kfp:destroy_wait_timeout; the Terraform provider's "
                "destroy_wait_timeout), or set on_destroy_active_runs to 'cancel' to cancel "
                "such runs instead."
            )
        time.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
        pause = min(pause * 1.5, 5.0)
        still = _active_runs(backend, recurring_run_ids)
        for rid, run in active:
            if all(run.id != r.id for _, r in still):
                log.warning("%s: run %r (%s) of recurring run %s has ended", who, run.name,
                            run.id, rid)  # fmt: skip
        active = still
        if not active:
            return


def _cancel(backend: KfpBackend, run: Run) -> bool:
    """Terminate a run; False when it had ended (or gone) meanwhile."""
    try:
        backend.terminate_run(run.id)
    except ApiError as exc:
        now = get_or_none(backend.get_run, run.id)
        if now is None or now.terminal:
            return False
        raise exc from None
    return True
