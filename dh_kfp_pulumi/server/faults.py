"""Test-only fault injection: make the Nth call of a route fail, lag, or lose its answer.

Enabled only when the server starts with `DH_KFP_SERVER_FAULTS=1` (the fault-matrix tests
do; users never need it). Then `/dh-kfp/v1/faults` takes a list of faults (POST replaces
it, DELETE clears it and the call log) and shows them with the calls seen so far (GET):

    {"route": "POST /apis/v2beta1/pipelines/upload", "nth": 1, "times": 1,
     "status": 503}            # answer this status; the call is not carried out
     "after_commit": true}     # carry the call out, then drop the connection mid-answer
     "delay": 2.5}             # wait this long, then carry it out and answer

`route` is "METHOD template" as `/dh-kfp/v1/stats` counts it; `nth` is 1-based over the
calls of that route since the list was set; `times` consecutive calls fire (default 1).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from dh_kfp_pulumi.server.wire import ApiError, invalid

ENV = "DH_KFP_SERVER_FAULTS"
# KFP's gRPC code for each status a fault may answer (grpc-gateway's mapping, reversed)
_CODES = {400: 3, 404: 5, 409: 6, 429: 8, 500: 13, 502: 14, 503: 14, 504: 4}


@dataclass(frozen=True)
class Fault:
    route: str
    nth: int = 1
    times: int = 1
    status: int | None = None
    after_commit: bool = False
    delay: float = 0.0

    def error(self) -> ApiError:
        """The KFP-shaped error of a `status` fault (sent with that status)."""
        code = _CODES.get(self.status or 500, 13)
        text = f"injected fault: HTTP {self.status} on call {self.nth} of {self.route}"
        return ApiError(code, text, text)


@dataclass
class Faults:
    faults: list[Fault] = field(default_factory=list)
    seen: dict[str, int] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, items: list[dict[str, Any]]) -> None:
        parsed = []
        for i, item in enumerate(items):
            unknown = set(item) - {"route", "nth", "times", "status", "after_commit", "delay"}
            if unknown or not isinstance(item.get("route"), str):
                raise invalid(f"faults[{i}]: needs a route ('METHOD /template') and only "
                              f"nth, times, status, after_commit, delay (got {sorted(item)})")
            parsed.append(Fault(**item))
        with self.lock:
            self.faults, self.seen, self.calls = parsed, {}, []

    def clear(self) -> None:
        self.set([])

    def on_call(self, route: str) -> Fault | None:
        """Count a call of `route`; the fault that fires on it, if any."""
        with self.lock:
            self.calls.append(route)
            n = self.seen[route] = self.seen.get(route, 0) + 1
            for fault in self.faults:
                if fault.route == route and fault.nth <= n < fault.nth + fault.times:
                    return fault
        return None

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"faults": [vars(f) for f in self.faults], "calls": list(self.calls)}
