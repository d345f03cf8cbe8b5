"""The schedule planner on a table of cases, and cut short after every step: planning again
from what KFP then holds (the state unchanged, as after a crash) converges, and at no
point are two of the task's recurring runs enabled. No server: KFP is a dict here."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest

from dh_kfp_pulumi.reconcile.schedule_plan import (
    Create,
    Disable,
    Enable,
    Keep,
    Observed,
    Retire,
    Seen,
    Use,
    Want,
    plan,
    plan_swap,
    plan_sweep,
    retired_order,
    target_of,
)

A, B = "A", "B"  # two schedules (version, cron, inputs, options): the wanted one is B


@dataclass
class Live:
    key: str  # which schedule it is
    enabled: bool
    busy: bool = False  # has an active run (a retire keeps it)


@dataclass
class Kfp:
    """The task's recurring runs in KFP; `unreadable` ones answer with an error."""

    runs: dict[str, Live]
    unreadable: set[str] = field(default_factory=set)
    made: itertools.count = field(default_factory=lambda: itertools.count(1))

    def enabled(self) -> list[str]:
        return [rid for rid, r in self.runs.items() if r.enabled]


@dataclass(frozen=True)
class State:
    current: str = ""
    retired: tuple[str, ...] = ()


def observe(kfp: Kfp, state: State, want: str | None, enabled: bool = True) -> Observed:
    """What reconcile.schedule.observe sees (strays: exactly the wanted one, in no state)."""
    live = kfp.runs.get(state.current)
    current = Seen(state.current, live.enabled, live.key == want) if live else None
    retired = []
    for rid in dict.fromkeys(state.retired):
        if rid == state.current:
            continue
        r = kfp.runs.get(rid)
        retired.append((rid, Seen(rid, r.enabled) if r and rid not in kfp.unreadable else None))
    strays: tuple[Seen, ...] = ()
    if want is not None and not (current and current.matches):
        known = {state.current, *state.retired}
        strays = tuple(
            Seen(rid, r.enabled, True)
            for rid, r in kfp.runs.items()
            if r.key == want and rid not in known
        )
    return Observed(current, tuple(retired), frozenset(kfp.unreadable & set(state.retired)), strays)


def execute(kfp: Kfp, steps, want: str | None, seen: Observed) -> State:
    """Run the steps as reconcile.schedule.run_steps does. Nothing is enabled while another
    of the task's is (one enabled by hand in KFP is disabled, never joined). Returns the
    state the update writes."""
    target, kept = "", set()
    limit = max(1, len(kfp.enabled()))
    for step in steps:
        if isinstance(step, Enable) or (isinstance(step, Create) and step.enabled):
            assert kfp.enabled() == [], f"{step} while {kfp.enabled()} enabled"
        if isinstance(step, Use):
            target = step.id
        elif isinstance(step, Enable | Disable):
            kfp.runs[step.id].enabled = isinstance(step, Enable)
        elif isinstance(step, Create):
            target = f"new{next(kfp.made)}"
            kfp.runs[target] = Live(want, step.enabled)
        elif isinstance(step, Retire):
            if kfp.runs[step.id].busy:
                kept.add(step.id)
            else:
                del kfp.runs[step.id]
        elif isinstance(step, Keep):
            kept.add(step.id)
        assert len(kfp.enabled()) <= limit, f"more enabled after {step}: {kfp.runs}"
    return State(target, tuple(rid for rid in retired_order(seen) if rid in kept))


def converged(kfp: Kfp, state: State, want: str | None, enabled: bool) -> None:
    if want is None:
        assert state.current == ""
    else:
        live = kfp.runs[state.current]
        assert (live.key, live.enabled) == (want, enabled)
    for rid, r in kfp.runs.items():
        if rid != state.current and rid not in kfp.unreadable:
            assert rid in state.retired and r.busy and not r.enabled, (rid, kfp.runs, state)
    # planned again, nothing changes: only the busy retired ones are looked at again
    before = {rid: (r.key, r.enabled) for rid, r in kfp.runs.items()}
    again = observe(kfp, state, want, enabled)
    steps = plan(Want(enabled) if want else None, again)
    assert all(isinstance(s, Use | Keep | Retire) for s in steps), steps
    assert execute(kfp, steps, want, again) == state
    assert {rid: (r.key, r.enabled) for rid, r in kfp.runs.items()} == before


CASES = {
    # name: (KFP's runs, state, wanted schedule, enabled, the planned steps)
    "first schedule": ({}, State(), B, True, [Create(True, undoable=True)]),
    "first schedule, disabled": ({}, State(), B, False, [Create(False, undoable=True)]),
    "unchanged": ({"o": Live(B, True)}, State("o"), B, True, [Use("o")]),
    "toggle off": ({"o": Live(B, True)}, State("o"), B, False, [Use("o"), Disable("o")]),
    "toggle on": ({"o": Live(B, False)}, State("o"), B, True, [Use("o"), Enable("o")]),
    "move": (
        {"o": Live(A, True)}, State("o"), B, True,
        [Disable("o"), Create(True, handover_from="o", restore="o"), Retire("o")],
    ),
    "move, old one busy": (
        {"o": Live(A, True, busy=True)}, State("o"), B, True,
        [Disable("o"), Create(True, handover_from="o", restore="o"), Retire("o")],
    ),
    "move from a disabled one": (
        {"o": Live(A, False)}, State("o"), B, True, [Create(True), Retire("o")],
    ),
    "move to a disabled one": (
        {"o": Live(A, True)}, State("o"), B, False,
        [Disable("o"), Create(False, restore="o"), Retire("o")],
    ),
    "schedule removed": ({"o": Live(A, True)}, State("o"), None, True, [Disable("o"), Retire("o")]),
    "schedule removed, busy": (
        {"o": Live(A, True, busy=True)}, State("o"), None, True, [Disable("o"), Retire("o")],
    ),
    "schedule removed, deleted in KFP": ({}, State("o"), None, True, []),
    "deleted in KFP": ({}, State("o"), B, True, [Create(True, undoable=True)]),
    "sweep: idle, busy, gone, unreadable, enabled by hand": (
        {
            "o": Live(B, True),
            "r1": Live(A, False),
            "r2": Live(A, False, busy=True),
            "r4": Live(A, False, busy=True),
            "r5": Live(A, True, busy=True),
        },
        State("o", ("r1", "r2", "r3", "r4", "r5")), B, True,
        [Use("o"), Retire("r1"), Retire("r2"), Keep("r4"), Disable("r5"), Retire("r5")],
    ),
    "move and sweep": (
        {"o": Live(A, True, busy=True), "r1": Live(A, False)}, State("o", ("r1",)), B, True,
        [Disable("o"), Create(True, handover_from="o", restore="o"), Retire("o"), Retire("r1")],
    ),
    "a move cut short after its create (a stray)": (
        {"o": Live(A, False), "s": Live(B, True)}, State("o"), B, True, [Use("s"), Retire("o")],
    ),
    "two strays": (
        {"s1": Live(B, False), "s2": Live(B, False)}, State(), B, True,
        [Use("s1"), Enable("s1"), Retire("s2")],
    ),
}


def _unreadable(name: str) -> set[str]:
    return {"r4"} if name.startswith("sweep") else set()


@pytest.mark.parametrize("name", list(CASES))
def test_plan_of_each_case(name):
    runs, state, want, enabled, expected = CASES[name]
    kfp = Kfp({k: Live(v.key, v.enabled, v.busy) for k, v in runs.items()}, _unreadable(name))
    seen = observe(kfp, state, want, enabled)
    steps = plan(Want(enabled) if want else None, seen)
    assert steps == expected
    swap = plan_swap(Want(enabled) if want else None, seen)
    assert steps == swap + plan_sweep(seen, target_of(swap))
    after = execute(kfp, steps, want, seen)
    converged(kfp, after, want, enabled)


@pytest.mark.parametrize("name", list(CASES))
def test_cut_short_after_every_step_then_planned_again_converges(name):
    runs, state, want, enabled, planned = CASES[name]
    for cut in range(len(planned) + 1):
        kfp = Kfp({k: Live(v.key, v.enabled, v.busy) for k, v in runs.items()}, _unreadable(name))
        seen = observe(kfp, state, want, enabled)
        steps = plan(Want(enabled) if want else None, seen)
        execute(kfp, steps[:cut], want, seen)  # then the process dies: the state is unchanged
        again = observe(kfp, state, want, enabled)
        after = execute(kfp, plan(Want(enabled) if want else None, again), want, again)
        converged(kfp, after, want, enabled)


def test_the_hand_over_is_only_from_a_schedule_that_was_running():
    seen = Observed(current=Seen("o", enabled=True))
    assert plan_swap(Want(False), seen) == [Disable("o"), Create(False, restore="o"), Retire("o")]
    seen = Observed(current=Seen("o", enabled=False))
    assert plan_swap(Want(True), seen) == [Create(True), Retire("o")]


def test_retired_ids_are_reported_state_first_then_the_old_schedule():
    seen = Observed(current=Seen("o", True), retired=(("r1", None), ("r2", None)))
    assert retired_order(seen) == ["r1", "r2", "o"]
