"""What every route handler gets: the server's store, data dir, executor, scheduler and
request counts. Its own module so that the routes (`api`, `web`) and the app that serves
them (`app`) all name it without importing each other."""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dh_kfp_pulumi.server.store import Store

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class Stats:
    """Requests seen under /apis/, by "METHOD /path/{template}", and the write calls among them."""

    requests: collections.Counter = field(default_factory=collections.Counter)
    writes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, method: str, template: str) -> None:
        with self.lock:
            self.requests[f"{method} {template}"] += 1
            if method in WRITE_METHODS:
                self.writes += 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"requests": dict(sorted(self.requests.items())),
                    "total": sum(self.requests.values()), "writes": self.writes}

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.writes = 0


@dataclass
class ServerContext:
    store: Store
    data_dir: Path
    executor: Any  # executor.Executor
    scheduler: Any  # scheduler.Scheduler
    stats: Stats = field(default_factory=Stats)
    faults: Any = None  # faults.Faults when DH_KFP_SERVER_FAULTS=1 (tests only)

    def run_dir(self, run_id: str) -> Path:
        return self.data_dir / "runs" / run_id
