"""Refresh reads in batches: one list answers the `get`s of a whole refresh.

Pulumi and Terraform read each resource of a refresh through a call of its own, and
the reads of one refresh arrive in a burst at one provider process. `SnapshotBackend`
answers `get_pipeline` from one list of the project's pipelines (display names
containing `<project>-`) and `get_recurring_run` from one list of the experiment's
recurring runs, where it would otherwise make a request per object. What a list did not
hold falls back to KFP's own `get`, so a deleted object still reads as gone and an
object outside the scope is still found.

A snapshot answers only for the burst it was taken in: any write in the process
(`SNAPSHOTS.forget()`, called by the adapters before create, update and delete) and an
age of `MAX_AGE` seconds end it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from dh_kfp_pulumi.backends.client import Backend
from dh_kfp_pulumi.backends.config import BackendConfig
from dh_kfp_pulumi.backends.models import Pipeline, RecurringRun

MAX_AGE = 30.0  # seconds: longer than a refresh's burst of reads, shorter than a human's edit


class Snapshots:
    """Objects listed once per KFP and scope, kept until a write or MAX_AGE."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._taken: dict[Hashable, tuple[float, Mapping[str, Any]]] = {}
        self._loading: dict[Hashable, threading.Lock] = {}
        self.lists = 0  # lists made (for tests and benchmarks)

    def get(self, key: Hashable, load: Callable[[], Mapping[str, Any]]) -> Mapping[str, Any]:
        """The snapshot of `key`, listed now (once, whatever the threads) if there is none."""
        with self._lock:
            found = self._fresh(key)
            if found is not None:
                return found
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:  # concurrent reads of one scope wait for the one list
            with self._lock:
                found = self._fresh(key)
                if found is not None:
                    return found
            objects = load()
            with self._lock:
                self.lists += 1
                self._taken[key] = (self._clock(), objects)
            return objects

    def _fresh(self, key: Hashable) -> Mapping[str, Any] | None:
        entry = self._taken.get(key)
        if entry is None or self._clock() - entry[0] > MAX_AGE:
            return None
        return entry[1]

    def forget(self) -> None:
        """End every snapshot: the process is about to write to KFP."""
        with self._lock:
            self._taken.clear()


SNAPSHOTS = Snapshots()


def _substring_filter(key: str, value: str) -> str:
    return json.dumps(
        {"predicates": [{"operation": "IS_SUBSTRING", "key": key, "stringValue": value}]}
    )


class SnapshotBackend(Backend):
    """A Backend for `read`: pipelines and recurring runs come from snapshots.

    `project` scopes the pipelines listed, `experiment_id` the recurring runs; without
    one, those gets go to KFP one by one as in `Backend`.
    """

    def __init__(
        self,
        config: BackendConfig,
        *,
        project: str | None,
        experiment_id: str | None,
        snapshots: Snapshots = SNAPSHOTS,
    ) -> None:
        super().__init__(config)
        self._project = project or None
        self._experiment_id = experiment_id or None
        self._snapshots = snapshots

    def _where(self) -> tuple[Any, ...]:
        c = self.config
        return (c.host, c.data_dir, c.namespace, c.token)

    def get_pipeline(self, pipeline_id: str) -> Pipeline:
        if self._project is not None:
            prefix = f"{self._project}-"
            snapshot = self._snapshots.get(
                (*self._where(), "pipelines", prefix),
                lambda: {
                    p.id: p
                    for p in self.list_pipelines(filter=_substring_filter("display_name", prefix))
                },
            )
            if pipeline_id in snapshot:
                return snapshot[pipeline_id]
        return super().get_pipeline(pipeline_id)

    def get_recurring_run(self, recurring_run_id: str) -> RecurringRun:
        if self._experiment_id is not None:
            experiment_id = self._experiment_id
            snapshot = self._snapshots.get(
                (*self._where(), "recurring runs", experiment_id),
                lambda: {r.id: r for r in self.list_recurring_runs(experiment_id=experiment_id)},
            )
            if recurring_run_id in snapshot:
                return snapshot[recurring_run_id]
        return super().get_recurring_run(recurring_run_id)
