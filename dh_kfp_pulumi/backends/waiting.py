"""Waiting for a run to end: polled with a growing pause, bounded by a timeout."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from dh_kfp_pulumi.backends.models import Run
from dh_kfp_pulumi.errors import BackendError

if TYPE_CHECKING:
    from dh_kfp_pulumi.backends.client import Backend


def wait_run(
    backend: Backend,
    run_id: str,
    *,
    timeout: float | None = None,
    poll: float = 0.25,
    max_poll: float = 2.0,
    progress: Callable[[Run], None] | None = None,
) -> Run:
    """The run once terminal; `progress` sees each read. A timeout raises BackendError and
    leaves the run going in KFP."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        run = backend.get_run(run_id)
        if progress is not None:
            progress(run)
        if run.terminal:
            return run
        if deadline is not None and time.monotonic() >= deadline:
            raise BackendError(
                f"run {run.name!r} ({run_id}) is still {run.state} after {timeout:g}s; "
                f"it goes on in KFP: {backend.run_url(run_id)}"
            )
        pause = poll if deadline is None else min(poll, max(deadline - time.monotonic(), 0))
        time.sleep(pause)
        poll = min(poll * 1.5, max_poll)
