"""The schedule swap, decided: what the task wants and what KFP holds in, steps out.

Pure (no KFP, no clock): `plan(want, seen)` returns the steps that take the task's
recurring runs from what was seen to what is wanted; `reconcile/schedule.py` observes
KFP and runs them. KFP cannot update a recurring run, so a changed schedule, version or
inputs is a move: the old one is disabled before the new one is created, so at no point
are two of the task's recurring runs enabled, and the new one takes over at the second
the old one stopped (its hand-over start time, worked out when the step runs).

The steps are safe to cut short anywhere: the state still names the old recurring run,
and planning again from what KFP then holds finishes the job. A move cut short after
the create left a recurring run that is exactly the wanted one but is in no state: the
observer passes it as a `stray`, and the plan takes it instead of making another one.

Retired recurring runs (disabled ones whose runs had not ended) are swept after the
swap: deleted when their runs have ended, kept for a later update otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

# ---- what was seen and what is wanted -------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """A recurring run of the task as KFP has it."""

    id: str
    enabled: bool
    matches: bool = False  # the wanted schedule (version, cron, inputs, options)


@dataclass(frozen=True)
class Observed:
    """What KFP holds for one task.

    `current`: the recurring run the state names (None: none, or deleted in KFP).
    `retired`: the ids the state keeps for clean-up, each with what KFP holds (None: gone).
    `unreadable`: retired ids KFP would not answer for (kept for a later update).
    `strays`: recurring runs in no state that are exactly the wanted one (a cut-short move).
    """

    current: Seen | None = None
    retired: tuple[tuple[str, Seen | None], ...] = ()
    unreadable: frozenset[str] = frozenset()
    strays: tuple[Seen, ...] = ()


@dataclass(frozen=True)
class Want:
    """The task's schedule as the program declares it (None in `plan`: no schedule)."""

    enabled: bool


# ---- the steps --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Use:
    """The recurring run `id` already is the wanted one: it becomes the task's."""

    id: str


@dataclass(frozen=True)
class Enable:
    id: str


@dataclass(frozen=True)
class Disable:
    id: str


@dataclass(frozen=True)
class Create:
    """A new recurring run as wanted; it becomes the task's.

    `handover_from`: the enabled recurring run it takes over from (just disabled): the new
    one starts at the second that one stopped. `restore`: re-enable it if the create
    fails. `undoable`: delete it again if a later part of the same apply fails.
    """

    enabled: bool
    handover_from: str = ""
    restore: str = ""
    undoable: bool = False


@dataclass(frozen=True)
class Retire:
    """A disabled recurring run: deleted when it has no active run, else kept for later."""

    id: str


@dataclass(frozen=True)
class Keep:
    """Kept as retired with no call (KFP did not answer for it)."""

    id: str


Step = Use | Enable | Disable | Create | Retire | Keep


# ---- the planner ------------------------------------------------------------------------------


def plan(want: Want | None, seen: Observed) -> list[Step]:
    """The steps from `seen` to `want`: the swap first, then the sweep of retired ones."""
    swap = plan_swap(want, seen)
    return swap + plan_sweep(seen, target_of(swap))


def plan_swap(want: Want | None, seen: Observed) -> list[Step]:
    """The task's own recurring run: kept (toggled), taken from a stray, moved or retired."""
    current = seen.current
    if want is not None and current is not None and current.matches:
        return [Use(current.id), *_toggle(current, want)]
    if want is None:
        return _retire(current) if current is not None else []
    steps: list[Step] = []
    old = current
    if old is not None and old.enabled:
        steps.append(Disable(old.id))
    if seen.strays:
        stray = seen.strays[0]
        steps += [Use(stray.id), *_toggle(stray, want)]
        for extra in seen.strays[1:]:
            steps += _retire(extra)
    else:
        took_over = old.id if old is not None and old.enabled else ""
        steps.append(
            Create(
                enabled=want.enabled,
                handover_from=took_over if want.enabled else "",
                restore=took_over,
                undoable=old is None,
            )
        )
    if old is not None:
        steps.append(Retire(old.id))
    return steps


def plan_sweep(seen: Observed, target: str) -> list[Step]:
    """The retired recurring runs the state keeps: gone ones drop, the rest are retired."""
    steps: list[Step] = []
    done = {"", target, seen.current.id if seen.current is not None else ""}
    for rid, live in seen.retired:
        if rid in done:
            continue
        done.add(rid)
        if rid in seen.unreadable:
            steps.append(Keep(rid))
        elif live is not None:
            steps += _retire(live)
    return steps


def target_of(steps: list[Step]) -> str:
    """The id of the recurring run the steps make the task's ("" for a new one or none)."""
    return next((step.id for step in steps if isinstance(step, Use)), "")


def _toggle(live: Seen, want: Want) -> list[Step]:
    if live.enabled == want.enabled:
        return []
    return [Enable(live.id) if want.enabled else Disable(live.id)]


def _retire(live: Seen) -> list[Step]:
    return [*([Disable(live.id)] if live.enabled else []), Retire(live.id)]


def retired_order(seen: Observed) -> list[str]:
    """The order retired ids are reported in: the state's first, then the old current one."""
    ids = [rid for rid, _ in seen.retired]
    if seen.current is not None:
        ids.append(seen.current.id)
    ids += [s.id for s in seen.strays[1:]]
    return list(dict.fromkeys(ids))

