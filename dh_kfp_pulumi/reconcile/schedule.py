"""A task's recurring run: the schedule it wants, what KFP holds, and the steps between.

`desired_schedule` is the recurring run the task's props ask for; `observe` reads what
KFP holds for the task; `schedule_plan.plan` decides the steps; `run_steps` carries them
out. `update` runs the swap inside its undo and the sweep of retired ones after it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

from dh_kfp_pulumi.backends import ApiError, KfpBackend, RecurringRun
from dh_kfp_pulumi.naming import pipeline_name
from dh_kfp_pulumi.reconcile import schedule_plan as sp
from dh_kfp_pulumi.reconcile.common import (
    Undo,
    adopted,
    digest,
    get_or_none,
    marker,
    not_after,
    owner_text,
    plain_numbers,
    same_instant,
)

log = logging.getLogger("dh_kfp_pulumi.reconcile")

KIND = "task"


@dataclass(frozen=True)
class Desired:
    name: str
    description: str
    pipeline_id: str
    version_id: str
    cron: str
    parameters: dict[str, Any]
    enabled: bool
    max_concurrency: int
    no_catchup: bool
    start_time: str | None
    end_time: str | None


def desired_schedule(props: Mapping[str, Any], version_id: str) -> Desired:
    from dh_kfp_pulumi.specs import kfp_cron

    project, name = str(props["project"]), str(props["name"])
    functional = {
        "pipeline_id": str(props["pipeline_id"]),
        "version_id": version_id,
        "cron": kfp_cron(str(props["schedule"])),
        "parameters": plain_numbers(dict(props.get("inputs") or {})),
        "max_concurrency": int(props.get("max_concurrency") or 1),
        "no_catchup": props.get("catchup") is False,
        "start_time": props.get("start_time") or None,
        "end_time": props.get("end_time") or None,
    }
    return Desired(
        name=pipeline_name(project, name),
        description=f"{marker(KIND, project, name, owner_text(props))} key={digest(functional)}",
        enabled=props.get("enabled") is not False,
        **functional,
    )


def matches(live: RecurringRun, desired: Desired) -> bool:
    """Same schedule, version, parameters and options (display name and experiment are cosmetic)."""
    return (
        live.version_id == desired.version_id
        and live.cron == desired.cron
        and live.parameters == desired.parameters
        and live.max_concurrency == desired.max_concurrency
        and live.no_catchup == desired.no_catchup
        and same_start(live, desired.start_time)
        and same_instant(live.end_time, desired.end_time)
    )


def handed_over(live: RecurringRun) -> bool:
    """The recurring run's start time is not after its creation: a hand-over start.

    A move gives the new recurring run the second the old one stopped as its start time
    (see `_handover_start`): it only says which ticks before the creation it fires, so
    from then on it is the same schedule as one without a start time (or with an
    earlier one).
    """
    return not_after(live.start_time, live.created_at)


def same_start(live: RecurringRun, wanted: str | None) -> bool:
    """The live start time is the wanted one, or a hand-over start that stands for it."""
    if same_instant(live.start_time, wanted):
        return True
    return handed_over(live) and (not wanted or not_after(wanted, live.start_time))


def create_recurring_run(
    backend: KfpBackend,
    desired: Desired,
    experiment_id: str,
    *,
    enabled: bool,
    start_time: str | None = None,
) -> RecurringRun:
    return backend.create_recurring_run(
        experiment_id=experiment_id,
        name=desired.name,
        description=desired.description,
        pipeline_id=desired.pipeline_id,
        version_id=desired.version_id,
        cron=desired.cron,
        parameters=desired.parameters,
        enabled=enabled,
        max_concurrency=desired.max_concurrency,
        no_catchup=desired.no_catchup,
        start_time=start_time or desired.start_time,
        end_time=desired.end_time,
    )


def quietly(what: str, fn: Callable[[], Any]) -> None:
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - clean-up must not hide the original error
        log.warning("could not %s: %s", what, exc)


_CLOCK_SLACK = timedelta(minutes=5)


def now() -> datetime:
    return datetime.now(timezone.utc)


def handover_start(backend: KfpBackend, old_id: str, before: datetime, wanted: str | None) -> str:
    """The start time of a schedule taking over from `old_id`, just disabled: the second
    KFP stamped that disable with (its `updated_at`, KFP's clock, the one its scheduler
    fires by), else this machine's second before the disable call; a later wanted start
    time wins."""
    live = get_or_none(backend.get_recurring_run, old_id)
    moment = before
    stamp = parse_instant(live.updated_at) if live is not None else None
    if stamp is not None and before - _CLOCK_SLACK <= stamp <= now() + _CLOCK_SLACK:
        moment = stamp  # not a stale stamp from an older update of a server that keeps none
    text = moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # the second, down
    if wanted and not_after(text, wanted):
        return wanted
    return text


def parse_instant(text: str) -> datetime | None:
    """An RFC 3339 timestamp to the second (fraction dropped; no offset: UTC), else None."""
    found = re.fullmatch(
        r"(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d)(?:\.\d+)?([Zz]|[+-]\d\d:\d\d)?",
        (text or "").strip(),
    )
    if found is None:
        return None
    offset = found.group(3) or "Z"
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        return datetime.fromisoformat(f"{found.group(1)}T{found.group(2)}{offset}")
    except ValueError:
        return None


def get_recurring_run(backend: KfpBackend, recurring_run_id: str) -> RecurringRun | None:
    if not recurring_run_id:
        return None
    return get_or_none(backend.get_recurring_run, recurring_run_id)


def adopt_recurring_run(backend: KfpBackend, adopt: str) -> RecurringRun:
    def find(name: str) -> RecurringRun | None:
        return next(iter(backend.find_recurring_runs(name)), None)

    return adopted("task", "recurring run", adopt, backend.get_recurring_run, find)


class Experiment:
    """The task's experiment, looked up (or created) only when a schedule is created."""

    def __init__(self, backend: KfpBackend, project: str, known: str = ""):
        self._backend, self._project, self.id = backend, project, known

    def __call__(self) -> str:
        if not self.id:
            name = self._backend.config.experiment_for(self._project)
            self.id = self._backend.ensure_experiment(name).id
        return self.id


# ---- observe, then act --------------------------------------------------------------------


@dataclass
class Observation:
    """What `observe` saw: the planner's view, and the recurring runs behind it."""

    seen: sp.Observed
    live: dict[str, RecurringRun]


def observe(
    backend: KfpBackend,
    desired: Desired | None,
    current: RecurringRun | None,
    retired: Sequence[str],
    *,
    strays: Callable[[], list[RecurringRun]] | None = None,
) -> Observation:
    """What KFP holds for the task: its current recurring run (already read), the retired
    ones the state keeps and, when `strays` is given and the current one is not the wanted
    one, the recurring runs `strays()` lists that are exactly the wanted one."""
    live: dict[str, RecurringRun] = {}
    seen_current = None
    if current is not None:
        live[current.id] = current
        fits = desired is not None and matches(current, desired)
        seen_current = sp.Seen(current.id, current.enabled, fits)
    seen_retired: list[tuple[str, sp.Seen | None]] = []
    unreadable: set[str] = set()
    for rid in dict.fromkeys(retired):
        if not rid or rid in live:
            continue
        try:
            got = backend.get_recurring_run(rid)
        except ApiError as exc:
            if not exc.not_found:
                unreadable.add(rid)
            seen_retired.append((rid, None))
            continue
        live[rid] = got
        seen_retired.append((rid, sp.Seen(rid, got.enabled)))
    found: list[RecurringRun] = []
    if strays is not None and desired is not None and not (seen_current and seen_current.matches):
        found = [
            r
            for r in strays()
            if r.description == desired.description and r.id not in live and r.id not in retired
        ]
        live.update((r.id, r) for r in found)
    seen = sp.Observed(
        current=seen_current,
        retired=tuple(seen_retired),
        unreadable=frozenset(unreadable),
        strays=tuple(sp.Seen(r.id, r.enabled, True) for r in found),
    )
    return Observation(seen, live)


@dataclass
class Outcome:
    """What the steps left: the task's recurring run (None: no schedule) and the retired
    ones still waiting for their runs to end."""

    recurring_run: RecurringRun | None
    retired: list[str]


def run_steps(
    backend: KfpBackend,
    steps: Sequence[sp.Step],
    observation: Observation,
    desired: Desired | None,
    experiment: Callable[[], str],
    undo: Undo | None = None,
    target: RecurringRun | None = None,
) -> Outcome:
    """Carry out planned steps in order; a failed create enables again what it took over from."""
    experiment_id = experiment() if any(isinstance(s, sp.Create) for s in steps) else ""
    stopped: dict[str, datetime] = {}
    kept: set[str] = set()
    for step in steps:
        if isinstance(step, sp.Use):
            target = observation.live[step.id]
        elif isinstance(step, sp.Enable):
            backend.enable_recurring_run(step.id)
        elif isinstance(step, sp.Disable):
            stopped[step.id] = now()
            backend.disable_recurring_run(step.id)
        elif isinstance(step, sp.Create):
            assert desired is not None  # the planner creates only what is wanted
            target = _create(backend, step, desired, experiment_id, stopped.get(step.handover_from))
            if step.undoable and undo is not None:
                undo.push(f"delete recurring run {target.id}",
                          partial(backend.delete_recurring_run, target.id))  # fmt: skip
        elif isinstance(step, sp.Retire):
            if _retire(backend, step.id):
                kept.add(step.id)
        else:  # Keep
            kept.add(step.id)
    order = sp.retired_order(observation.seen)
    return Outcome(target, [rid for rid in order if rid in kept])


def _create(
    backend: KfpBackend,
    step: sp.Create,
    desired: Desired,
    experiment_id: str,
    stopped: datetime | None,
) -> RecurringRun:
    """The new recurring run; when it takes over from an enabled one (disabled at
    `stopped`), it starts at the second that one stopped.

    Created enabled rather than enabled later: an enable moves the embedded server's
    reference to the enable's own second (a tick between the two would be lost), while
    a start time means the same on KFP's ScheduledWorkflow controller and here.
    """
    try:
        start = desired.start_time
        if step.handover_from and stopped is not None:
            start = handover_start(backend, step.handover_from, stopped, desired.start_time)
            if desired.end_time and not_after(desired.end_time, start):
                start = desired.start_time  # its ticks are over: no start after its end
        return create_recurring_run(
            backend, desired, experiment_id, enabled=step.enabled, start_time=start
        )
    except Exception:
        if step.restore:
            quietly(f"re-enable recurring run {step.restore}",
                    partial(backend.enable_recurring_run, step.restore))  # fmt: skip
        raise


def _retire(backend: KfpBackend, recurring_run_id: str) -> bool:
    """Delete a disabled recurring run now if it has no active run; True: kept for later."""
    try:
        if backend.active_runs_of(recurring_run_id):
            return True
        backend.delete_recurring_run(recurring_run_id)
    except ApiError as exc:
        log.warning("recurring run %s kept disabled for now: %s", recurring_run_id, exc)
        return True
    return False


# ---- what a read sees ---------------------------------------------------------------------


def retired_now(backend: KfpBackend, retired: list[str]) -> tuple[list[str], list[str]]:
    """(still waiting for a run, ready to delete) of the retired ids still in KFP.

    The ready ones are what a refresh shows as pending clean-up: the next update
    deletes them, with no change of the inputs needed.
    """
    busy: list[str] = []
    ended: list[str] = []
    for rid in retired:
        if get_recurring_run(backend, rid) is None:
            continue  # deleted by hand: nothing left to clean up
        try:
            active = bool(backend.active_runs_of(rid))
        except ApiError as exc:
            log.warning("recurring run %s: could not list its runs: %s", rid, exc)
            active = True
        (busy if active else ended).append(rid)
    return busy, ended


def live_schedule(
    outputs: dict[str, Any],
    state: Mapping[str, Any],
    live: RecurringRun,
    defaults: Mapping[str, Any],
) -> None:
    from dh_kfp_pulumi.specs import kfp_cron

    schedule = state.get("schedule")
    try:
        sent = kfp_cron(str(schedule)) if schedule else ""
    except ValueError:
        sent = ""
    if live.cron:
        if sent != live.cron:
            outputs["schedule"] = live.cron
    elif live.interval_second:
        outputs["schedule"] = f"@every {live.interval_second}s"
    outputs["cron"] = live.cron
    # An option the user left unset stays unset while KFP holds its default: a fresh
    # deployment must not read back as drift.
    for key, value in (
        ("enabled", live.enabled),
        ("max_concurrency", live.max_concurrency),
        ("catchup", not live.no_catchup),
    ):
        wanted = state.get(key)
        if value != (defaults[key] if wanted is None else wanted):
            outputs[key] = value
    if not same_start(live, state.get("start_time")):
        outputs["start_time"] = live.start_time or None
    if not same_instant(state.get("end_time"), live.end_time):
        outputs["end_time"] = live.end_time or None
    if dict(state.get("inputs") or {}) != live.parameters:
        outputs["inputs"] = dict(live.parameters)
    if live.version_id != state.get("version_id"):
        if state.get("own_version"):
            outputs.update(version_id=live.version_id, version_name="", spec_hash="")
        else:
            outputs.update(version_id=live.version_id, workflow_version_id=live.version_id)
    outputs["recurring_run_name"] = live.name


def user_cron(cron: str) -> str:
    """KFP's seconds-first cron in the seed's 5-field form when its seconds are 0.

    `0 5 4 * * *` imports as `5 4 * * *`, the form users write (and the one `kfp_cron`
    turns back into the same KFP cron).
    """
    fields = cron.split()
    if len(fields) == 6 and fields[0] == "0":
        return " ".join(fields[1:])
    return cron
