"""Fires recurring runs: one thread that creates the runs their triggers call for.

Each recurring run keeps `last_tick`, the schedule time it has fired through (at creation: its
`start_time`, else its creation time). A tick is due when it is after `last_tick`, not after
now and not after `end_time`. With catch-up (the default) every due tick becomes a run, oldest
first, so ticks missed while the server was down are run after a restart; with `no_catchup`
only the latest due tick does. A run is only created while fewer than `max_concurrency` runs
of that recurring run are active; otherwise the tick waits, as on KFP. Creating the run and
advancing `last_tick` is one transaction: a crash never loses nor doubles a tick.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from dh_kfp_pulumi.server import api_runs, ir
from dh_kfp_pulumi.server.loop import Loop
from dh_kfp_pulumi.server.store import Store

log = logging.getLogger("dh_kfp_pulumi.server")

_MACRO = re.compile(r"\[\[(ScheduledTime|CurrentTime)\]\]")
_MAX_IDLE = 5.0


def _expand_macros(value: Any, scheduled: float, current: float) -> Any:
    """KFP's `[[ScheduledTime]]` / `[[CurrentTime]]` placeholders in string parameters."""
    if not isinstance(value, str):
        return value

    def stamp(match: re.Match) -> str:
        moment = scheduled if match.group(1) == "ScheduledTime" else current
        return datetime.fromtimestamp(int(moment), timezone.utc).strftime("%Y%m%d%H%M%S")

    return _MACRO.sub(stamp, value)


class Scheduler(Loop):
    def __init__(self, store: Store, on_run_created: Callable[[], None]):
        super().__init__("scheduler")
        self.store = store
        self.on_run_created = on_run_created
        # (id, trigger, last_tick) -> (schedule, end, next tick) of the last turn: a turn
        # comes after every recurring-run write, and parsing and iterating every enabled
        # cron again on each was most of the server's CPU while an `up` made hundreds
        self._ticks: dict[tuple[str, str, float], tuple[Any, Any, float]] = {}

    def _turn(self) -> float:
        return self.turn(time.time())

    def _idle(self) -> float:
        return _MAX_IDLE

    def turn(self, moment: float) -> float:
        """Fire what is due at `moment`; return how long to sleep until the next tick."""
        soonest = moment + _MAX_IDLE
        rows = self.store.all("SELECT * FROM recurring_runs WHERE mode = 'ENABLE'")
        previous, self._ticks = self._ticks, {}
        for row in rows:
            nxt = self._fire_due(row, moment, previous)
            if nxt is not None:
                soonest = min(soonest, nxt)
        return soonest - time.time()

    def _fire_due(self, row: Any, moment: float,
                  previous: dict[tuple[str, str, float], tuple[Any, Any, float]]
                  ) -> float | None:
        key = (row["id"], row["trigger"], row["last_tick"])
        known = previous.get(key)
        if known is not None:
            schedule, end, nxt = known
        else:
            trigger = json.loads(row["trigger"])
            schedule = api_runs.schedule_of(trigger)
            end = trigger.get("end_time") or None
            nxt = schedule.next_after(row["last_tick"])
        self._ticks[key] = (schedule, end, nxt)
        limit = min(moment, end) if end else moment
        last = row["last_tick"]
        while True:
            if last != row["last_tick"]:
                nxt = schedule.next_after(last)
            if end and nxt > end:
                return None  # the schedule is over
            if nxt > limit:
                return nxt
            if self.store.active_runs_of(row["id"]) >= row["max_concurrency"]:
                return None  # waits for a run to end (the executor wakes us)
            tick = nxt
            if row["no_catchup"]:
                tick = schedule.latest(last, limit) or nxt
            if not self._create_run(row, tick):
                return None
            last = tick
            self.on_run_created()

    def _create_run(self, row: Any, tick: float) -> bool:
        """One run for `tick`, and `last_tick` advanced, atomically (if the row still exists)."""
        spec = ir.from_wire(json.loads(row["spec_json"]), validate=False)
        config = json.loads(row["runtime_config"])
        if config.get("parameters"):
            current = time.time()
            config["parameters"] = {k: _expand_macros(v, tick, current)
                                    for k, v in config["parameters"].items()}
        name = f"{row['display_name']}-" + datetime.fromtimestamp(
            int(tick), timezone.utc).strftime("%Y%m%d%H%M%S")
        source = api_runs.Source(spec, row["pipeline_id"] if not row["spec_inline"] else "",
                             row["pipeline_version_id"] if not row["spec_inline"] else "")
        with self.store.write() as conn:
            current = conn.execute("SELECT last_tick, mode FROM recurring_runs WHERE id = ?",
                                   (row["id"],)).fetchone()
            if current is None or current["mode"] != "ENABLE" or current["last_tick"] >= tick:
                return False
            api_runs.insert_run(conn, experiment_id=row["experiment_id"], display_name=name,
                           description=row["description"], source=source,
                           runtime_config=config, service_account=row["service_account"],
                           scheduled_at=int(tick), recurring_run_id=row["id"])
            conn.execute("UPDATE recurring_runs SET last_tick = ? WHERE id = ?",
                         (tick, row["id"]))
        log.info("recurring run %s fired for %s", row["id"], tick)
        return True
